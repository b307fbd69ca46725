"""The sync SLA: every repair's targets are due N working days after the decision (domain.md §10).

Pure deadline arithmetic on the Chinese working-day calendar, then the deadline as the gateway
stores it (repair_targets), shows it (GET /v1/repairs/{id}) and measures it (metrics), on SQLite
and PostgreSQL."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from gateway.calendar_data import load_calendar, package_arrangements
from gateway.contract import NativeWrite, WriteResult
from gateway.domain.model import PUBLISHED
from gateway.domain.plan import Action, Decision, Observation
from gateway.domain.sla import BEIJING, SyncSla, beijing_date, missed, standing, start_of_beijing_day
from gateway.domain.workdays import WorkdayCalendar
from gateway.observability import REGISTRY
from gateway.runtime import Runtime, policy_from
from gateway.settings import Settings
from gateway.store.database import Tx, open_database
from gateway.store.migrate import migrate
from gateway.store.repo import Repo
from gateway.sync.connectors import Connector
from gateway.sync.ingest import apply_event
from tests.conftest import T0, penalty_facts
from tests.test_api_harness import CC, GS, LEASE, open_harness, repair_body

PACKAGE = WorkdayCalendar(package_arrangements())
SLA = SyncSla(calendar=PACKAGE)


def bj(year: int, month: int, day: int, hour: int = 10) -> datetime:
    """A moment in Beijing time."""
    return datetime(year, month, day, hour, tzinfo=BEIJING)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---- pure: deadlines on the working-day calendar --------------------------------------------------


def test_deadline_across_national_day_2026_ends_on_the_make_up_saturday() -> None:
    deadline = SLA.deadline(bj(2026, 9, 30))
    # 10-01…10-07 are holidays; day 1 is Thu 10-08, day 2 Fri 10-09, day 3 the make-up Saturday.
    assert deadline.due == date(2026, 10, 10) and deadline.due.weekday() == 5
    assert deadline.estimated is False and deadline.working_days == 3


def test_a_friday_decision_is_due_on_wednesday() -> None:
    assert SLA.deadline(bj(2026, 5, 15, 18)).due == date(2026, 5, 20)


def test_the_start_day_is_the_decision_day_in_beijing_time() -> None:
    # Thursday 23:00 in Beijing: the start day is Thursday, due Tuesday.
    assert SLA.deadline(datetime(2026, 5, 14, 15, 0, tzinfo=UTC)).due == date(2026, 5, 19)
    # Thursday 17:00 UTC is already Friday 01:00 in Beijing: due Wednesday.
    assert SLA.deadline(datetime(2026, 5, 14, 17, 0, tzinfo=UTC)).due == date(2026, 5, 20)
    assert beijing_date(datetime(2026, 5, 14, 17, 0)) == date(2026, 5, 15)  # naive is UTC
    assert start_of_beijing_day(date(2026, 3, 16)) == datetime(2026, 3, 15, 16, 0, tzinfo=UTC)


def test_a_deadline_in_a_year_without_calendar_data_is_estimated() -> None:
    assert not PACKAGE.covers(2027), "the package now ships 2027: move this test to the next uncovered year"
    deadline = SLA.deadline(bj(2026, 12, 29))
    # Mon–Fri taken as working days in 2027: 12-30, 12-31, 2027-01-01 (really New Year's Day).
    assert deadline.due == date(2027, 1, 1)
    assert deadline.estimated is True and deadline.uncovered_years == (2027,)
    assert SLA.deadline(bj(2026, 12, 28)).estimated is False  # due 12-31: 2027 never counted


def test_the_operator_supplies_the_missing_year_in_settings() -> None:
    settings = Settings.model_validate(
        {"workday_calendar": {2027: {"holidays": ["2027-01-01", "2027-01-02", "2027-01-03"]}}}
    )
    deadline = SyncSla(calendar=load_calendar(settings)).deadline(bj(2026, 12, 29))
    assert deadline.due == date(2027, 1, 4) and deadline.estimated is False


def test_the_number_of_working_days_is_a_setting() -> None:
    assert SyncSla(calendar=PACKAGE, working_days=5).deadline(bj(2026, 5, 15)).due == date(2026, 5, 22)
    assert Settings().sync_deadline_working_days == 3  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        SyncSla(calendar=PACKAGE, working_days=-1)


def test_standing_met_missed_and_overdue() -> None:
    due = date(2026, 10, 10)
    in_time, late = bj(2026, 10, 10, 23), bj(2026, 10, 11, 0)
    assert missed(due, in_time) is False and missed(due, late) is True
    delivered = standing(due, delivered_at=in_time, in_sync=False, outstanding=False, now=late)
    assert (delivered.met, delivered.overdue) == (True, False)
    delivered_late = standing(due, delivered_at=late, in_sync=False, outstanding=False, now=late)
    assert (delivered_late.met, delivered_late.overdue) == (False, False)
    pending = standing(due, delivered_at=None, in_sync=False, outstanding=True, now=in_time)
    assert (pending.met, pending.overdue) == (None, False)
    overdue = standing(due, delivered_at=None, in_sync=False, outstanding=True, now=late)
    assert (overdue.met, overdue.overdue) == (False, True)
    in_sync = standing(due, delivered_at=None, in_sync=True, outstanding=False, now=late)
    assert (in_sync.met, in_sync.overdue) == (True, False)
    superseded = standing(due, delivered_at=None, in_sync=False, outstanding=False, now=late)
    assert (superseded.met, superseded.overdue) == (None, False)
    assert standing(None, delivered_at=None, in_sync=False, outstanding=True, now=late).met is None


@pytest.mark.parametrize("path", [Path("gateway/domain/sla.py"), Path("gateway/domain/expiry.py")])
def test_sla_and_expiry_are_pure(path: Path) -> None:
    banned = {"aiohttp", "sqlite3", "psycopg", "asyncio", "socket", "pydantic", "chinese_calendar", "os", "time"}
    banned_modules = ("gateway.settings", "gateway.store", "gateway.api", "gateway.sync", "gateway.observability")
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in banned and not name.startswith(banned_modules), f"{path} imports {name}"
        if isinstance(node, ast.Attribute) and node.attr in {"today", "now", "utcnow"}:
            raise AssertionError(f"{path} reads a clock ({node.attr})")


# ---- stored, shown and measured (SQLite and PostgreSQL) -----------------------------------------


async def _deliver(runtime: Runtime, target: str, at: datetime) -> None:
    """What a dispatcher does when `target` acknowledges; other claimed rows go back to pending."""

    def _work(tx: Tx) -> None:
        repo = Repo(tx)
        for item in repo.claim(at, 50, "worker-1", at + LEASE):
            if item.target == target:
                assert repo.complete(item, "worker-1", None, at)
            else:
                assert repo.reschedule(item, "worker-1", at, "not now", at)

    await runtime.db.run(_work)


def _targets(progress: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["system"]: t for t in progress["targets"]}


async def test_progress_shows_deadline_met_missed_and_overdue(database_url: str) -> None:
    async with open_harness(database_url) as h:
        h.runtime.policy = replace(h.runtime.policy, sla=SLA)
        record_id = await h.seed()
        await _deliver(h.runtime, GS, T0)  # the seed's own fan-out, no repair
        response = await h.post_repair(repair_body(record_id))  # decided 2026-05-01 18:00 Beijing
        assert response.status == 202, await response.text()
        repair_id = (await response.json())["repair_id"]

        async def progress() -> dict[str, dict[str, Any]]:
            got = await h.client.get(f"/v1/repairs/{repair_id}")
            assert got.status == 200
            return _targets(await got.json())

        # Labour Day 05-01…05-05: day 1 is Wed 05-06, due Fri 05-08 (the end of that day).
        shown = await progress()
        assert set(shown) == {CC, GS}
        for target in shown.values():
            assert target["deadline"] == "2026-05-08"
            assert (target["deadline_estimated"], target["deadline_met"], target["overdue"]) == (False, None, False)

        await _deliver(h.runtime, CC, bj(2026, 5, 8, 23))  # the last hour of the last working day
        h.runtime.clock = lambda: bj(2026, 5, 9, 9)  # Saturday: the deadline has passed
        shown = await progress()
        assert (shown[CC]["status"], shown[CC]["deadline_met"], shown[CC]["overdue"]) == ("delivered", True, False)
        assert shown[GS]["status"] in ("pending", "in_flight", "retrying")
        assert (shown[GS]["deadline_met"], shown[GS]["overdue"]) == (False, True)

        await _deliver(h.runtime, GS, bj(2026, 5, 9, 10))
        shown = await progress()
        assert (shown[GS]["status"], shown[GS]["deadline_met"], shown[GS]["overdue"]) == ("delivered", False, False)


async def test_a_deadline_in_an_uncovered_year_is_estimated_counted_and_logged(database_url: str) -> None:
    async with open_harness(database_url) as h:
        h.runtime.policy = replace(h.runtime.policy, sla=SLA)
        h.runtime.clock = lambda: bj(2026, 12, 29, 12)
        record_id = await h.seed()
        before = metric("creditgw_sla_deadline_estimated_total")
        with capture_logs() as logs:
            response = await h.post_repair(repair_body(record_id, decided_at=bj(2026, 12, 29).isoformat()))
        assert response.status == 202, await response.text()
        assert metric("creditgw_sla_deadline_estimated_total") == before + 1
        gaps = [e for e in logs if e["event"] == "sla_calendar_gap"]
        assert len(gaps) == 1 and gaps[0]["log_level"] == "warning"
        assert gaps[0]["year"] == 2027 and gaps[0]["years"] == [2027] and gaps[0]["due"] == "2027-01-01"

        got = await h.client.get(f"/v1/repairs/{(await response.json())['repair_id']}")
        for target in (await got.json())["targets"]:
            assert (target["deadline"], target["deadline_estimated"]) == ("2027-01-01", True)


async def test_repairs_without_an_sla_have_no_deadline(database_url: str) -> None:
    async with open_harness(database_url) as h:  # the harness policy has no SLA
        record_id = await h.seed()
        response = await h.post_repair(repair_body(record_id))
        got = await h.client.get(f"/v1/repairs/{(await response.json())['repair_id']}")
        for target in (await got.json())["targets"]:
            assert target["deadline"] is None and target["deadline_met"] is None and target["overdue"] is False


class _Adapter:
    """A target that acknowledges every write."""

    max_rows_per_write = 1

    async def write(self, write: NativeWrite) -> WriteResult:
        return WriteResult(native_id=f"n-{write.business_key}")

    async def close(self) -> None:
        return None


class _Mapping:
    def to_write(self, facts: Any, state: Any, *, idempotency_key: str, decided_at: datetime) -> NativeWrite:
        return NativeWrite(kind="row", row={}, business_key=facts.document_number, idempotency_key=idempotency_key)


@pytest.fixture
async def clocked(database_url: str) -> AsyncIterator[tuple[Runtime, Callable[[datetime], None]]]:
    """A Runtime whose dispatcher delivers to fake targets, on a clock the test sets."""
    now = [T0]
    db = open_database(database_url)
    await migrate(db)
    connectors: dict[str, Any] = {s: Connector(s, _Adapter(), _Mapping()) for s in (CC, GS)}  # type: ignore[arg-type]
    runtime = Runtime(Settings(database_url=database_url, systems=[CC, GS]), db, connectors, clock=lambda: now[0])

    def set_clock(at: datetime) -> None:
        now[0] = at

    try:
        yield runtime, set_clock
    finally:
        await runtime.close()


async def _decide(runtime: Runtime, action: Action, at: datetime, record_id: str) -> str:
    decision = Decision(record_id=record_id, action=action, decided_at=at, decided_by="兰州市生态环境局")
    policy = runtime.policy
    result = await runtime.db.run(
        lambda tx: apply_event(tx, decision, source="client", change_key=None, policy=policy, now=at)
    )
    assert result.repair_id is not None
    return result.repair_id


async def test_deliveries_after_the_deadline_are_counted_per_target(
    clocked: tuple[Runtime, Callable[[datetime], None]],
) -> None:
    runtime, set_clock = clocked
    assert runtime.policy.sla is not None and runtime.policy.sla.working_days == 3
    facts = penalty_facts()
    seed = Observation(source=CC, facts=facts, target=PUBLISHED, changed_at=T0, source_version="1")
    policy = runtime.policy
    await runtime.db.run(lambda tx: apply_event(tx, seed, source=CC, change_key="s-1", policy=policy, now=T0))
    assert await runtime.dispatcher.run_once() == 1  # the seed's fan-out to GSXT: no repair, no deadline
    before = {t: metric("creditgw_sync_deadline_missed_total", target=t) for t in (CC, GS)}

    # Decided Monday 05-11: due Thursday 05-14. Delivered Friday: late on both targets.
    await _decide(runtime, Action.REPAIR, bj(2026, 5, 11), facts.record_id)
    set_clock(bj(2026, 5, 15, 9))
    with capture_logs() as logs:
        assert await runtime.dispatcher.run_once() == 2
    for target in (CC, GS):
        assert metric("creditgw_sync_deadline_missed_total", target=target) == before[target] + 1
    assert sorted(e["target"] for e in logs if e["event"] == "sync_deadline_missed") == [CC, GS]

    # Revoked the same Friday and delivered at once: in time, nothing counted.
    await _decide(runtime, Action.REVOKE_REPAIR, bj(2026, 5, 15, 10), facts.record_id)
    set_clock(bj(2026, 5, 15, 11))
    assert await runtime.dispatcher.run_once() == 2
    for target in (CC, GS):
        assert metric("creditgw_sync_deadline_missed_total", target=target) == before[target] + 1


async def test_undelivered_targets_past_their_deadline_are_a_gauge(
    clocked: tuple[Runtime, Callable[[datetime], None]],
) -> None:
    runtime, set_clock = clocked
    facts = penalty_facts()
    seed = Observation(source=CC, facts=facts, target=PUBLISHED, changed_at=T0, source_version="1")
    policy = runtime.policy
    await runtime.db.run(lambda tx: apply_event(tx, seed, source=CC, change_key="s-1", policy=policy, now=T0))
    await runtime.dispatcher.run_once()
    await _decide(runtime, Action.REPAIR, bj(2026, 5, 11), facts.record_id)

    set_clock(bj(2026, 5, 14, 23))  # the last hour in time
    await runtime.refresh_gauges()
    assert metric("creditgw_sync_overdue_targets", target=CC) == 0
    set_clock(bj(2026, 5, 15, 0))
    await runtime.refresh_gauges()
    assert metric("creditgw_sync_overdue_targets", target=CC) == 1
    assert metric("creditgw_sync_overdue_targets", target=GS) == 1
    await runtime.dispatcher.run_once()
    await runtime.refresh_gauges()
    assert metric("creditgw_sync_overdue_targets", target=CC) == 0


async def test_deadlines_are_stored_on_every_target_row(database_url: str) -> None:
    db = open_database(database_url)
    await migrate(db)
    try:
        facts = penalty_facts()
        policy = policy_from(Settings(database_url=database_url), {CC, GS}, SLA)
        seed = Observation(source=CC, facts=facts, target=PUBLISHED, changed_at=T0, source_version="1")
        await db.run(lambda tx: apply_event(tx, seed, source=CC, change_key="s-1", policy=policy, now=T0))
        decision = Decision(record_id=facts.record_id, action=Action.REPAIR, decided_at=bj(2026, 9, 30), decided_by="x")
        at = bj(2026, 9, 30, 11)
        result = await db.run(
            lambda tx: apply_event(tx, decision, source="client", change_key=None, policy=policy, now=at)
        )
        rows = await db.run(
            lambda tx: tx.all(
                "SELECT target, status, due_on, due_estimated FROM repair_targets WHERE repair_id = ? ORDER BY target",
                (result.repair_id,),
            ),
            write=False,
        )
        assert [(r["target"], str(r["due_on"]), r["due_estimated"]) for r in rows] == [
            (CC, "2026-10-10", 0),
            (GS, "2026-10-10", 0),
        ]
        due = await db.run(lambda tx: Repo(tx).target_due_on(str(result.repair_id), GS), write=False)
        assert due == date(2026, 10, 10)
        overdue = await db.run(lambda tx: Repo(tx).overdue_targets(date(2026, 10, 11)), write=False)
        assert sorted((r["target"], int(r["n"])) for r in overdue) == [(CC, 1), (GS, 1)]
        assert await db.run(lambda tx: Repo(tx).overdue_targets(date(2026, 10, 10)), write=False) == []
    finally:
        await db.close()
