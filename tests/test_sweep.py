"""The expiry sweep: publicity stops everywhere when the owner's maximum period ends.

Pure judgement (gateway/domain/expiry.py), the plan rule for self-deciding owners, then the sweep
on SQLite and PostgreSQL through the ordinary outbox: the boundary day, idempotent reruns (also
after a restart), GSXT-owned records, dry runs, skipped records, pagination, and the CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.domain.categories import AuthorityDomain
from gateway.domain.expiry import NO_MAXIMUM, PROVISIONAL, SWEEP_ACTOR, expiry_decision, expiry_of
from gateway.domain.model import PUBLISHED, CanonicalRecord, PublicityState, RecordFacts, StopReason, stopped
from gateway.domain.plan import Action, Decision, DecisionRefused, Observation, Outcome, Policy, plan
from gateway.domain.sla import BEIJING
from gateway.observability import REGISTRY
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.database import Tx, open_database
from gateway.store.migrate import migrate
from gateway.store.repo import Repo
from gateway.sync.ingest import apply_event
from tests.conftest import T0, penalty_facts
from tests.test_cli import creditgw

CC, GS = "creditchina_gansu", "gsxt_gansu"
LEASE = timedelta(seconds=30)
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # the runtime's clock: stamps rows, never dates decisions
SEEN = datetime(2025, 1, 2, 2, 0, tzinfo=UTC)  # when the owners' feeds first reported the records
TABLES = ("records", "links", "inbox", "outbox", "repairs", "repair_targets", "audit")


def cc_owned(document_number: str = "兰环罚〔2023〕5号", decided: date = date(2023, 3, 15)) -> RecordFacts:
    """Order 58 (信用中国): 3 years from the decision: last day 2026-03-15, stopped from 2026-03-16."""
    return replace(penalty_facts(document_number=document_number), decision_date=decided)


def gsxt_owned(document_number: str = "兰市监罚〔2025〕7号") -> RecordFacts:
    """A SAMR 通报批评 on GSXT: 3 months from publication 2025-03-05: stopped from 2025-06-06."""
    facts = penalty_facts(
        document_number=document_number,
        authority_name="兰州市市场监督管理局",
        authority_code="11620100MB0000001X",
        domain=AuthorityDomain.MARKET_REGULATION,
    )
    return replace(
        facts, decision_date=date(2025, 3, 1), publication_date=date(2025, 3, 5), penalty_kinds=("通报批评",)
    )


def record(facts: RecordFacts, *, decided_at: datetime = SEEN, authoritative: bool = True) -> CanonicalRecord:
    state = PublicityState(
        target=PUBLISHED, version=1, decided_by=CC, decided_at=decided_at, authoritative=authoritative
    )
    return CanonicalRecord(record_id=facts.record_id, facts=facts, state=state)


# ---- pure ---------------------------------------------------------------------------------------


def test_the_owners_rules_give_the_first_day_after() -> None:
    expiry = expiry_of(cc_owned())
    assert (expiry.system, expiry.first_day_after, expiry.last_day) == (CC, date(2026, 3, 16), date(2026, 3, 15))
    gsxt = expiry_of(gsxt_owned())
    assert (gsxt.system, gsxt.first_day_after) == (GS, date(2025, 6, 6))  # GSXT's clock: publication


def test_boundary_the_day_before_nothing_on_the_day_expired() -> None:
    rec = record(cc_owned())
    expiry = expiry_of(rec.facts)
    assert expiry_decision(rec, expiry, date(2026, 3, 15)) is None
    decision = expiry_decision(rec, expiry, date(2026, 3, 16))
    assert decision is not None and decision.action is Action.EXPIRE and decision.decided_by == SWEEP_ACTOR
    assert decision.decided_at == datetime(2026, 3, 16, tzinfo=BEIJING)  # 00:00 Beijing of the first day after
    assert expiry_decision(rec, expiry, date(2027, 1, 1)) == decision  # deterministic, whenever it runs


def test_a_record_first_seen_after_its_expiry_is_decided_at_its_own_time() -> None:
    seen = datetime(2026, 6, 1, 3, tzinfo=UTC)
    decision = expiry_decision(record(cc_owned(), decided_at=seen), expiry_of(cc_owned()), date(2026, 6, 1))
    assert decision is not None and decision.decided_at == seen  # never older than the state it changes


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (penalty_facts(), "severity_missing"),  # Order 36 needs the tier, never guessed
        (replace(penalty_facts(), decision_date=None), "decision_date_missing"),
        (replace(gsxt_owned(), publication_date=None), "publication_date_missing"),
        (replace(gsxt_owned(), penalty_kinds=("罚款",)), "fine_amount_missing"),
        (replace(gsxt_owned(), penalty_kinds=("限制从业",)), "maximum_depends_on_restriction_length"),
    ],
)
def test_what_cannot_be_evaluated_says_why(facts: RecordFacts, reason: str) -> None:
    expiry = expiry_of(facts)
    assert expiry.first_day_after is None and expiry.skip_reason == reason
    assert expiry_decision(record(facts), expiry, date(2099, 1, 1)) is None
    assert reason != NO_MAXIMUM


def test_plan_lets_the_law_expire_a_self_deciding_owners_record_and_tells_only_the_mirrors() -> None:
    policy = Policy(enabled_systems=frozenset({CC, GS}), self_deciding_owners=frozenset({GS}))
    rec = record(gsxt_owned())
    expire = Decision(record_id=rec.record_id, action=Action.EXPIRE, decided_at=T0, decided_by=SWEEP_ACTOR)
    planned = plan(expire, rec, {}, policy)
    assert planned.outcome is Outcome.CHANGED and planned.record is not None
    assert planned.record.state.target == stopped(StopReason.EXPIRED)
    assert [d.system for d in planned.deliveries] == [CC]  # GSXT takes no writes: it stops its own
    for action in (Action.REPAIR, Action.WITHDRAW, Action.REVOKE_REPAIR):  # the actions a penalty has
        with pytest.raises(DecisionRefused) as refused:
            plan(replace(expire, action=action), rec, {}, policy)
        assert refused.value.code == "decided_in_owner_system"
    # Not self-deciding: the owner hears the decision like every publisher (ADR 0005).
    open_policy = replace(policy, self_deciding_owners=frozenset())
    assert [d.system for d in plan(expire, rec, {}, open_policy).deliveries] == [GS, CC]


# ---- the sweep on both databases --------------------------------------------------------------


async def _runtime(database_url: str, **settings: Any) -> Runtime:
    db = open_database(database_url)
    await migrate(db)
    runtime = Runtime(Settings(database_url=database_url, systems=[CC, GS], **settings), db, {}, clock=lambda: NOW)
    # No connectors (nothing is sent here), but both systems enabled as in production.
    runtime.policy = replace(runtime.policy, enabled_systems=frozenset({CC, GS}))
    return runtime


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    rt = await _runtime(database_url)
    try:
        yield rt
    finally:
        await rt.close()


async def seed(runtime: Runtime, facts: RecordFacts, *, source: str | None = None, key: str | None = None) -> str:
    """The record as a system's feed reports it (its owner by default), and its fan-out delivered."""
    source = source or str(facts.owner)
    event = Observation(source=source, facts=facts, target=PUBLISHED, changed_at=SEEN, source_version="000001")
    policy = runtime.policy
    await runtime.db.run(
        lambda tx: apply_event(tx, event, source=source, change_key=key or facts.record_id, policy=policy, now=SEEN)
    )
    await deliver_all(runtime)
    return facts.record_id


async def deliver_all(runtime: Runtime, at: datetime = SEEN) -> int:
    def _work(tx: Tx) -> int:
        repo = Repo(tx)
        items = repo.claim(at + timedelta(days=3650), 1000, "worker-1", at + timedelta(days=3650) + LEASE)
        for item in items:
            assert repo.complete(item, "worker-1", None, at)
        return len(items)

    return await runtime.db.run(_work)


async def expired_deliveries(runtime: Runtime) -> list[tuple[str, str, int]]:
    rows = await runtime.db.run(
        lambda tx: tx.all(
            "SELECT record_id, target, version FROM outbox WHERE state_reason = 'expired' ORDER BY record_id, target"
        ),
        write=False,
    )
    return [(r["record_id"], r["target"], int(r["version"])) for r in rows]


async def snapshot(runtime: Runtime) -> dict[str, Any]:
    def _read(tx: Tx) -> dict[str, Any]:
        repo = Repo(tx)
        return {
            "counts": {t: repo.count(t) for t in TABLES},
            "records": tx.all("SELECT record_id, status, reason, version, decided_at FROM records ORDER BY record_id"),
            "outbox": tx.all("SELECT id, status, version, state_reason FROM outbox ORDER BY id"),
        }

    return await runtime.db.run(_read, write=False)


async def test_nothing_the_day_before_and_expired_everywhere_on_the_first_day_after(runtime: Runtime) -> None:
    record_id = await seed(runtime, cc_owned())

    before = await runtime.sweep(today=date(2026, 3, 15))
    assert (before.scanned, before.not_due, before.expired) == (1, 1, 0)
    assert await expired_deliveries(runtime) == []

    report = await runtime.sweep(today=date(2026, 3, 16))
    assert (report.expired, report.not_due, dict(report.deliveries)) == (1, 0, {CC: 1, GS: 1})
    # The owner hears it too (the decision came from the gateway, not from its feed), then the mirror.
    assert await expired_deliveries(runtime) == [(record_id, CC, 2), (record_id, GS, 2)]
    stored = await runtime.db.run(lambda tx: Repo(tx).load_record(record_id), write=False)
    assert stored is not None and stored.state.target == stopped(StopReason.EXPIRED)
    assert stored.state.decided_by == SWEEP_ACTOR
    assert stored.state.decided_at == datetime(2026, 3, 16, tzinfo=BEIJING)
    repairs = await runtime.db.run(lambda tx: Repo(tx).repairs_of_record(record_id), write=False)
    assert [(r["action"], r["source"], r["outcome"]) for r in repairs] == [("expire", SWEEP_ACTOR, "changed")]
    audit = await runtime.db.run(lambda tx: Repo(tx).audit_of(record_id), write=False)
    assert audit[0]["kind"] == "state_changed" and "2026-03-15" in json.loads(audit[0]["detail"])["note"]


async def test_a_second_run_changes_nothing(runtime: Runtime) -> None:
    await seed(runtime, cc_owned())
    first = await runtime.sweep(today=date(2026, 11, 26))
    assert first.expired == 1
    after_first = await snapshot(runtime)
    await deliver_all(runtime, NOW)  # delivered or not, a rerun must not send again
    delivered = await snapshot(runtime)
    second = await runtime.sweep(today=date(2026, 11, 26))
    assert (second.scanned, second.expired, dict(second.deliveries)) == (0, 0, {})
    assert await snapshot(runtime) == delivered
    assert after_first["counts"]["outbox"] == delivered["counts"]["outbox"]


async def test_a_restart_between_two_runs_changes_nothing(database_url: str) -> None:
    first = await _runtime(database_url)
    try:
        record_id = await seed(first, cc_owned())
        assert (await first.sweep(today=date(2026, 3, 20))).expired == 1
    finally:
        await first.close()
    second = await _runtime(database_url)  # a new process on the same SQLite file / PostgreSQL schema
    try:
        before = await snapshot(second)
        report = await second.sweep(today=date(2026, 3, 20))
        assert (report.expired, report.scanned) == (0, 0)
        assert await snapshot(second) == before
        assert await expired_deliveries(second) == [(record_id, CC, 2), (record_id, GS, 2)]
    finally:
        await second.close()


async def test_two_racing_decisions_leave_one_delivery_per_target(runtime: Runtime) -> None:
    """Two replicas judged the same page: the second decision finds the record stopped."""
    record_id = await seed(runtime, cc_owned())
    rec = await runtime.db.run(lambda tx: Repo(tx).load_record(record_id), write=False)
    assert rec is not None
    decision = expiry_decision(rec, expiry_of(rec.facts), date(2026, 3, 16))
    assert decision is not None
    policy = runtime.policy
    for _ in range(2):
        await runtime.db.run(
            lambda tx: apply_event(tx, decision, source=SWEEP_ACTOR, change_key=None, policy=policy, now=NOW)
        )
    assert len(await expired_deliveries(runtime)) == 2


async def test_a_gsxt_owned_record_is_expired_on_creditchina_only(runtime: Runtime) -> None:
    assert GS in runtime.policy.self_deciding_owners  # the default setting
    record_id = await seed(runtime, gsxt_owned())
    report = await runtime.sweep(today=date(2025, 6, 6))
    assert (report.expired, dict(report.deliveries)) == (1, {CC: 1})
    assert await expired_deliveries(runtime) == [(record_id, CC, 2)]
    repairs = await runtime.db.run(lambda tx: Repo(tx).repairs_of_record(record_id), write=False)
    found = await runtime.db.run(lambda tx: Repo(tx).get_repair(repairs[0]["repair_id"]), write=False)
    assert found is not None and [t["target"] for t in found[1]] == [CC]  # GSXT is no target of it

    # GSXT stops the record itself at 公示期满; its feed then equals the canonical state.
    await deliver_all(runtime, NOW)
    own_stop = Observation(
        source=GS,
        facts=gsxt_owned(),
        target=stopped(StopReason.EXPIRED),
        changed_at=datetime(2025, 6, 6, 1, tzinfo=UTC),
        source_version="000002",
    )
    policy = runtime.policy
    result = await runtime.db.run(
        lambda tx: apply_event(tx, own_stop, source=GS, change_key="gs-2", policy=policy, now=NOW)
    )
    assert (result.outcome, result.deliveries) == (Outcome.UNCHANGED.value, 0)
    assert (await runtime.sweep(today=date(2025, 6, 6))).scanned == 0


async def test_a_record_the_owner_already_stopped_is_left_alone(runtime: Runtime) -> None:
    facts = gsxt_owned()
    await seed(runtime, facts)
    own_stop = Observation(
        source=GS, facts=facts, target=stopped(StopReason.EXPIRED), changed_at=NOW, source_version="000002"
    )
    policy = runtime.policy
    await runtime.db.run(lambda tx: apply_event(tx, own_stop, source=GS, change_key="gs-2", policy=policy, now=NOW))
    before = await snapshot(runtime)
    report = await runtime.sweep(today=date(2026, 11, 26))
    assert (report.scanned, report.expired) == (0, 0)
    assert await snapshot(runtime) == before


async def test_a_dry_run_changes_nothing_and_reports_what_would_happen(runtime: Runtime) -> None:
    await seed(runtime, cc_owned())
    await seed(runtime, gsxt_owned())
    before = await snapshot(runtime)
    report = await runtime.sweep(today=date(2026, 11, 26), dry_run=True)
    assert report.dry_run is True
    assert (report.scanned, report.expired, dict(report.deliveries)) == (2, 2, {CC: 2, GS: 1})
    assert await snapshot(runtime) == before


async def test_unevaluable_records_are_skipped_counted_and_exported(runtime: Runtime) -> None:
    await seed(runtime, penalty_facts(document_number="兰环罚〔2026〕1号"))  # Order 36 without a tier
    await seed(runtime, replace(gsxt_owned("兰市监罚〔2025〕8号"), publication_date=None))
    await seed(runtime, cc_owned("兰环罚〔2023〕6号"), source=GS, key="gs-only")  # only a mirror reported it
    report = await runtime.sweep(today=date(2026, 11, 26))
    assert report.expired == 0 and report.scanned == 3
    assert dict(report.skipped) == {"severity_missing": 1, "publication_date_missing": 1, PROVISIONAL: 1}
    gauge = "creditgw_sweep_unevaluable_records"
    assert REGISTRY.get_sample_value(gauge, {"reason": "severity_missing"}) == 1
    assert REGISTRY.get_sample_value(gauge, {"reason": PROVISIONAL}) == 1
    assert report.as_json()["skipped"] == {"provisional": 1, "publication_date_missing": 1, "severity_missing": 1}


async def test_pages_are_read_by_record_id_and_all_expired(database_url: str) -> None:
    runtime = await _runtime(database_url, sweep_batch=2)
    try:
        ids = sorted([await seed(runtime, cc_owned(f"兰环罚〔2023〕{n}号")) for n in range(10, 15)])
        before = REGISTRY.get_sample_value("creditgw_sweep_expired_total") or 0
        report = await runtime.sweep(today=date(2026, 11, 26))
        assert (report.pages, report.scanned, report.expired) == (3, 5, 5)
        assert report.last_record_id == ids[-1]
        assert REGISTRY.get_sample_value("creditgw_sweep_expired_total") == before + 5
        assert (REGISTRY.get_sample_value("creditgw_sweep_last_success_timestamp_seconds") or 0) > 0
    finally:
        await runtime.close()


async def test_serve_schedules_the_sweep(database_url: str) -> None:
    runtime = await _runtime(database_url, sweep_interval_s=3600)
    try:
        await seed(runtime, cc_owned())
        runtime.start(dispatch=False, poll=False, sweep=True)
        for _ in range(100):
            if await expired_deliveries(runtime):
                break
            await asyncio.sleep(0.05)
        assert len(await expired_deliveries(runtime)) == 2
        assert "sweep" in {t.get_name() for t in runtime._tasks}
    finally:
        await runtime.close()


async def test_the_runtime_does_not_sweep_unless_asked(database_url: str) -> None:
    runtime = await _runtime(database_url)
    try:
        runtime.start(dispatch=True, poll=False)
        assert "sweep" not in {t.get_name() for t in runtime._tasks}
    finally:
        await runtime.close()


# ---- creditgw sweep ---------------------------------------------------------------------------


def test_cli_sweep_prints_a_json_summary(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"

    async def _seed() -> None:
        rt = await _runtime(url)
        try:
            await seed(rt, cc_owned())
        finally:
            await rt.close()

    asyncio.run(_seed())
    env = {"CREDITGW_DATABASE_URL": url}
    dry = creditgw("sweep", "--dry-run", "--today", "2026-03-15", cwd=tmp_path, env=env)
    assert dry.returncode == 0, dry.stderr[-2000:]
    summary = json.loads(dry.stdout.strip().splitlines()[-1])
    assert summary["dry_run"] is True and summary["today"] == "2026-03-15"
    assert (summary["scanned"], summary["not_due"], summary["expired"]) == (1, 1, 0)

    real = creditgw("sweep", "--today", "2026-03-16", cwd=tmp_path, env=env)
    assert real.returncode == 0, real.stderr[-2000:]
    summary = json.loads(real.stdout.strip().splitlines()[-1])
    assert summary["dry_run"] is False and summary["expired"] == 1
    assert summary["deliveries"] == {CC: 1, GS: 1} and summary["skipped"] == {} and summary["refused"] == {}
    again = creditgw("sweep", cwd=tmp_path, env=env)  # today (Beijing): nothing left to do
    assert json.loads(again.stdout.strip().splitlines()[-1])["scanned"] == 0


def test_cli_sweep_dry_run_lists_the_records_it_would_stop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    due, later = cc_owned(), cc_owned("兰环罚〔2024〕9号", date(2024, 6, 1))

    async def _seed() -> None:
        rt = await _runtime(url)
        try:
            await seed(rt, due)
            await seed(rt, later)
        finally:
            await rt.close()

    asyncio.run(_seed())
    dry = creditgw("sweep", "--dry-run", "--today", "2026-03-16", cwd=tmp_path, env={"CREDITGW_DATABASE_URL": url})
    assert dry.returncode == 0, dry.stderr[-2000:]
    *lines, last = dry.stdout.strip().splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "record_id": due.record_id,
            "category": "admin_penalty",
            "document_number": "兰环罚〔2023〕5号",
            "authority_name": "兰州市生态环境局",
            "owner": CC,
            "last_day": "2026-03-15",
            "targets": [CC, GS],
        }
    ]
    assert "兰环罚〔2023〕5号" in dry.stdout  # Chinese as UTF-8, not \\u escapes
    assert json.loads(last)["expired"] == 1 and json.loads(last)["not_due"] == 1


def test_cli_sweep_refuses_a_future_day_without_dry_run(tmp_path: Path) -> None:
    env = {"CREDITGW_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"}
    result = creditgw("sweep", "--today", "2099-01-01", cwd=tmp_path, env=env)
    assert result.returncode == 2 and json.loads(result.stdout)["code"] == "today_in_future"
    bad = creditgw("sweep", "--today", "2026-13-01", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "not a date" in bad.stderr
