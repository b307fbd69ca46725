"""SMS repair reminders (gateway/reminders.py) against the simulated SMS service, on SQLite and
PostgreSQL: one text per record and milestone across runs, restarts and a crash between send and
mark (a lease taken over); who gets none; the lead-days window; faults, retries, dead letters and
their replay; the serve schedule and its dispatcher. A reminder is an outbox row to `sms`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.domain.plan import Observation, Policy
from gateway.domain.rules import minimum_ends_on
from gateway.observability import REGISTRY
from gateway.reminders import (
    MILESTONE_PREFIX,
    ReminderReport,
    Skip,
    message_id_of,
    milestone_of,
    reminder_due,
    reminder_text,
)
from gateway.runtime import Runtime, build_sms
from gateway.settings import Settings
from gateway.store.database import Row, open_database
from gateway.store.migrate import migrate
from gateway.store.repo import SMS_TARGET, Repo
from gateway.sync.dlq import replay
from gateway.sync.ingest import apply_event
from simulators.runner import start_simulators
from simulators.sms import create_app
from tests.conftest import penalty_facts

SUBJECT = "91620102MA72ABCD94"  # penalty_facts()' subject
OTHER_SUBJECT = "91620100MA7ABCDE6X"
DECIDED = date(2025, 11, 30)  # Order 58: may apply from 2026-03-01 (domain.md §10)
APPLY_FROM = date(2026, 3, 1)
IN_WINDOW = date(2026, 2, 25)
NO_DELIVERIES = Policy(enabled_systems=frozenset())


class Clock:
    """The runtime's clock, moved by hand (next_attempt_at is compared with it)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 2, 25, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def penalty(document_number: str = "兰环罚〔2025〕12号", *, decided: date = DECIDED, **changes: Any) -> RecordFacts:
    return replace(penalty_facts(document_number=document_number), decision_date=decided, **changes)


@dataclass
class Env:
    database_url: str
    sms_url: str
    http: aiohttp.ClientSession
    clock: Clock
    runtime: Runtime | None = None

    async def open(self, **settings: Any) -> Runtime:
        """A runtime on the test database (a new one each call: a restart)."""
        if self.runtime is not None:
            await self.runtime.close()
        values: dict[str, Any] = {"database_url": self.database_url, "retry_base_s": 1.0, "retry_max_s": 60.0}
        values.update(settings)
        config = Settings(**values)
        db = open_database(self.database_url)
        await migrate(db)
        self.runtime = Runtime(
            config, db, connectors={}, clock=self.clock, sms=build_sms(config, {"sms": self.sms_url})
        )
        return self.runtime

    async def seed(self, facts: RecordFacts, target: TargetState = PUBLISHED, version: str = "000001") -> str:
        """The record as its owner's feed reports it."""
        assert self.runtime is not None
        owner = facts.owner.value
        event = Observation(source=owner, facts=facts, target=target, changed_at=self.clock(), source_version=version)
        key = f"{facts.record_id}:{version}"
        await self.runtime.db.run(
            lambda tx: apply_event(tx, event, source=owner, change_key=key, policy=NO_DELIVERIES, now=self.clock())
        )
        return facts.record_id

    async def remind(self, today: date = IN_WINDOW, **kwargs: Any) -> ReminderReport:
        assert self.runtime is not None
        return await self.runtime.remind(today=today, **kwargs)

    async def rows(self, record_id: str) -> list[Row]:
        assert self.runtime is not None
        return await self.runtime.db.run(lambda tx: Repo(tx).reminders_of_record(record_id), write=False)

    async def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, f"{self.sms_url}{path}", **kwargs) as response:
            return await response.json()

    async def messages(self, uscc: str | None = None) -> list[dict[str, Any]]:
        params = {"uscc": uscc} if uscc else {}
        return list((await self.admin("GET", "/admin/messages", params=params))["messages"])


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Env]:
    async with start_simulators(systems={"sms": create_app}) as sims, aiohttp.ClientSession() as http:
        found = Env(database_url, sims.urls["sms"], http, Clock())
        contacts = [{"uscc": SUBJECT, "mobile": "17012345678", "name": "甘肃示例科技有限公司"}]
        await found.admin("POST", "/admin/contacts", json={"contacts": contacts})
        await found.open()
        try:
            yield found
        finally:
            if found.runtime is not None:
                await found.runtime.close()


def _sent(outcome: str = "sent") -> float:
    return REGISTRY.get_sample_value("creditgw_reminders_total", {"outcome": outcome}) or 0.0


async def test_one_text_per_record_and_milestone_across_runs_and_restarts(env: Env) -> None:
    assert minimum_ends_on(penalty(), penalty().owner) == APPLY_FROM  # the engine says so, too
    record_id = await env.seed(penalty())
    sent_before = _sent()

    first = await env.remind()
    second = await env.remind()
    await env.open()  # a restart: a new runtime on the same database
    third = await env.remind()

    assert (first.scheduled, first.sent) == (1, 1)
    assert (second.due, second.scheduled, second.sent) == (1, 0, 0)
    assert (third.due, third.scheduled, third.sent) == (1, 0, 0)
    assert _sent() - sent_before == 1
    [text] = await env.messages(SUBJECT)
    milestone = f"{MILESTONE_PREFIX}2026-03-01"
    assert text["messageId"] == message_id_of(record_id, milestone)
    content = text["content"]
    for part in (
        "兰州市生态环境局",
        "兰环罚〔2025〕12号",
        "2026年2月28日届满",
        "自2026年3月1日起",
        "credit.gansu.gov.cn",
    ):
        assert part in content, part
    [row] = await env.rows(record_id)
    assert (row["milestone"], row["status"], row["attempts"], row["msg_id"]) == (milestone, "sent", 1, text["msgId"])
    assert row["due_on"] == "2026-03-01" and row["channel"] == "sms" and row["sent_at"] is not None


async def test_a_crash_between_send_and_mark_resends_under_the_same_message_id(env: Env) -> None:
    """Reminders are outbox rows (migration 0012): a worker that dies after sending leaves its row
    in flight under a lease; nobody else sends it until the lease ends, then it is taken over and
    sent again, and the SMS service answers the repeated messageId without a second text."""
    record_id = await env.seed(penalty())
    await env.remind()
    [sent] = await env.rows(record_id)
    # The crash: the text went out but the completion was never recorded.
    assert env.runtime is not None
    lease_until = env.clock() + timedelta(minutes=1)
    await env.runtime.db.run(
        lambda tx: tx.execute(
            "UPDATE outbox SET status = 'in_flight', lease_owner = 'crashed', lease_expires_at = ?, finished_at = NULL"
            " WHERE id = ?",
            (lease_until, sent["outbox_id"]),
        )
    )
    await env.runtime.db.run(
        lambda tx: tx.execute("UPDATE reminders SET msg_id = NULL, sent_at = NULL WHERE record_id = ?", (record_id,))
    )
    await env.open()  # the crashed process is gone; a new one runs
    held = await env.remind()
    assert held.sent == 0 and (await env.rows(record_id))[0]["status"] == "pending"  # its lease still holds
    env.clock.advance(minutes=2)
    runtime = await env.open()
    assert await runtime.reap() == 1  # the lease ended: back to pending
    report = await env.remind()

    assert report.sent == 1  # resent ...
    assert len(await env.messages()) == 1  # ... but nobody got a second text
    stats = await env.admin("GET", "/admin/stats")
    assert stats["requests"]["sms/send"] == {"0": 1, "replay": 1}
    [row] = await env.rows(record_id)
    assert (row["status"], row["msg_id"], row["message_id"]) == ("sent", sent["msg_id"], sent["message_id"])
    assert row["attempts"] == 2


async def test_a_failing_reminder_is_retried_dead_lettered_replayed_and_sent_once(env: Env) -> None:
    """The outbox's surfaces serve reminders: retries, a dead letter listed with the others, and
    a replay (`creditgw dlq replay --target sms`) that sends it once."""
    await env.open(reminder_max_attempts=2)
    record_id = await env.seed(penalty())
    await env.admin("POST", "/admin/faults", json={"error_rate": 1.0, "error_status": 503})
    assert (await env.remind()).retry == 1
    env.clock.advance(hours=1)
    assert (await env.remind()).dead == 1
    [row] = await env.rows(record_id)
    assert row["status"] == "dead" and row["outbox_status"] == "dead"
    runtime = env.runtime
    assert runtime is not None
    dead = await runtime.db.run(
        lambda tx: Repo(tx).list_outbox(status="dead", target=SMS_TARGET, after_id=0, limit=10), write=False
    )
    assert [item.id for item in dead] == [row["outbox_id"]]

    await env.admin("DELETE", "/admin/faults")
    replayed = await replay(runtime.committer, now=env.clock(), target=SMS_TARGET)
    assert replayed.replayed == [row["outbox_id"]]
    report = await env.remind()
    assert report.sent == 1
    again = await replay(runtime.committer, now=env.clock(), target=SMS_TARGET)
    assert again.replayed == []  # nothing dead any more
    assert (await env.remind()).sent == 0
    [text] = await env.messages(SUBJECT)
    assert text["messageId"] == row["message_id"]
    stats = await env.admin("GET", "/admin/stats")
    assert stats["requests"]["sms/send"]["0"] == 1  # one text accepted, whatever failed before
    [row] = await env.rows(record_id)
    assert row["status"] == "sent" and row["msg_id"] == text["msgId"]


async def test_serve_sends_reminders_through_its_dispatcher(env: Env) -> None:
    """Under `serve` the run only queues; the dispatcher's sms lane sends."""
    await env.seed(penalty())
    assert env.runtime is not None
    env.runtime.start(dispatch=True, poll=False)
    try:
        report = await env.remind()
        assert (report.scheduled, report.sent) == (1, 0)  # queued; the lane sends it
        for _ in range(200):
            if await env.messages():
                break
            await asyncio.sleep(0.05)
    finally:
        await env.runtime.stop()
    assert len(await env.messages(SUBJECT)) == 1


async def test_two_replicas_running_at_once_text_once(env: Env) -> None:
    record_id = await env.seed(penalty())
    assert env.runtime is not None
    config = env.runtime.settings
    other_db = open_database(env.database_url)
    other = Runtime(config, other_db, connectors={}, clock=env.clock, sms=build_sms(config, {"sms": env.sms_url}))
    try:
        reports = await asyncio.gather(env.remind(), other.remind(today=IN_WINDOW))
    finally:
        await other.close()
    assert sum(r.scheduled for r in reports) == 1  # the primary key lets one insert win
    assert len(await env.messages()) == 1  # both may send; the messageId makes it one text
    [row] = await env.rows(record_id)
    assert row["status"] == "sent"


async def test_no_reminder_for_what_can_never_be_repaired_early_stopped_or_unaddressable(env: Env) -> None:
    samr = AuthorityDomain.MARKET_REGULATION
    records = {
        "stopped": await env.seed(penalty("兰环罚〔2025〕13号"), stopped(StopReason.REPAIRED)),
        "warning_only": await env.seed(penalty("兰环罚〔2025〕14号", penalty_kinds=("警告",))),
        "heavy_gsxt": await env.seed(
            penalty(
                "兰市监罚〔2025〕15号",
                authority_name="兰州市市场监督管理局",
                authority_domain=samr,
                penalty_kinds=("吊销许可证件",),
                publication_date=date(2025, 8, 24),  # 6 months on: 2026-02-25, were it repairable early
            )
        ),
        "order_36_without_tier": await env.seed(penalty("兰环罚〔2026〕16号", decided=date(2026, 4, 1))),
        "natural_person": await env.seed(
            penalty(
                "兰环罚〔2025〕17号", subject_type=SubjectType.NATURAL_PERSON, subject_code=None, subject_name="张**"
            )
        ),
    }
    report = await env.remind()
    assert report.due == 0 and report.sent == 0
    assert report.scanned == 4  # the stopped record is not even read: the scan reads published records
    assert report.skipped == {"not_applicable": 3, "no_recipient": 1}
    for record_id in records.values():
        assert await env.rows(record_id) == []
    assert await env.messages() == []


@pytest.mark.parametrize(
    ("days_before", "reminded"),
    [(8, False), (7, True), (0, True), (-1, False)],
    ids=["day-before-window", "first-day-of-window", "first-day-may-apply", "day-after"],
)
def test_the_lead_days_window(days_before: int, reminded: bool) -> None:
    today = date(2026, 2, 20)
    # A decision whose minimum period (Order 58, 3 months) lets the subject apply `days_before` days after today.
    apply_from = today + timedelta(days=days_before)
    last_day = apply_from - timedelta(days=1)  # all four fall in February 2026: decided in November 2025
    facts = penalty(decided=date(2025, 11, last_day.day))
    assert minimum_ends_on(facts, facts.owner) == apply_from  # checked against the engine
    record = _published(facts)
    outcome = reminder_due(record, today=today, lead_days=7)
    if reminded:
        assert not isinstance(outcome, Skip) and outcome.apply_from == apply_from
        assert outcome.milestone == milestone_of(apply_from)
    else:
        assert outcome is Skip.OUTSIDE_WINDOW


async def test_the_window_on_the_database(env: Env) -> None:
    day_before = await env.seed(penalty("兰环罚〔2025〕20号", decided=date(2025, 11, 30)))  # may apply 2026-03-01
    first_day = await env.seed(penalty("兰环罚〔2025〕21号", decided=date(2025, 11, 27)))  # may apply 2026-02-28
    today = date(2026, 2, 21)  # 2026-02-28 − 7 days: first day of the window for one, the day before for the other
    report = await env.remind(today)
    assert (report.due, report.sent) == (1, 1)
    assert await env.rows(day_before) == [] and len(await env.rows(first_day)) == 1
    assert (await env.remind(today + timedelta(days=1))).sent == 1  # the other's window opens a day later
    assert len(await env.messages()) == 2


async def test_faults_are_retried_and_still_one_text_each(env: Env) -> None:
    ids = [await env.seed(penalty(f"兰环罚〔2025〕{30 + i}号")) for i in range(4)]
    await env.admin(
        "POST",
        "/admin/faults",
        json={"error_rate": 0.35, "error_status": 503, "rate_limit_rate": 0.25, "retry_after_s": 1, "seed": 5},
    )
    report = await env.remind()
    for _ in range(5):  # what failed even after the in-call retries goes again on a later run
        if report.retry == 0:
            break
        env.clock.advance(hours=1)
        report = await env.remind()
    faults = (await env.admin("GET", "/admin/stats"))["faults_injected"]
    assert sum(faults.values()) > 0, "no fault was injected: the test proves nothing"
    assert len(await env.messages()) == 4
    for record_id in ids:
        [row] = await env.rows(record_id)
        assert row["status"] == "sent"


async def test_an_unavailable_service_leaves_the_reminder_pending_then_dead(env: Env) -> None:
    await env.open(reminder_max_attempts=2)
    record_id = await env.seed(penalty())
    await env.admin("POST", "/admin/faults", json={"error_rate": 1.0, "error_status": 503})

    first = await env.remind()
    [row] = await env.rows(record_id)
    assert first.retry == 1 and row["status"] == "pending" and row["attempts"] == 1
    assert "HTTP 503" in row["last_error"] and row["next_attempt_at"] > env.clock()
    assert (await env.remind()).retry == 0  # not due again yet
    env.clock.advance(hours=1)
    second = await env.remind()
    [row] = await env.rows(record_id)
    assert second.dead == 1 and row["status"] == "dead" and row["attempts"] == 2

    await env.admin("DELETE", "/admin/faults")
    env.clock.advance(hours=1)
    assert (await env.remind()).sent == 0  # dead stays dead: no second chance, no second text
    assert await env.messages() == []


async def test_a_subject_without_a_registered_number_is_dead_at_once(env: Env) -> None:
    record_id = await env.seed(penalty(subject_code=OTHER_SUBJECT))
    dead_before = _sent("dead")
    report = await env.remind()
    [row] = await env.rows(record_id)
    assert report.dead == 1 and row["status"] == "dead" and row["attempts"] == 1
    assert "3001" in row["last_error"] and OTHER_SUBJECT not in row["last_error"]
    assert _sent("dead") - dead_before == 1


async def test_a_reminder_whose_record_stopped_meanwhile_is_cancelled(env: Env) -> None:
    facts = penalty()
    record_id = await env.seed(facts)
    await env.admin("POST", "/admin/faults", json={"error_rate": 1.0})
    await env.remind()  # scheduled, the send failed: pending
    await env.admin("DELETE", "/admin/faults")
    await env.seed(facts, stopped(StopReason.REPAIRED), version="000002")  # repaired before we could text
    env.clock.advance(hours=1)
    report = await env.remind()
    [row] = await env.rows(record_id)
    assert report.cancelled == 1 and (row["status"], row["last_error"]) == ("cancelled", "record_stopped")
    assert await env.messages() == []


async def test_a_dry_run_writes_and_sends_nothing(env: Env) -> None:
    record_id = await env.seed(penalty())
    seen: list[dict[str, Any]] = []
    report = await env.remind(dry_run=True, on_candidate=seen.append)
    assert report.dry_run and report.due == 1 and report.scheduled == 0 and report.sent == 0
    [candidate] = seen
    assert candidate["record_id"] == record_id and candidate["action"] == "schedule_and_send"
    assert candidate["apply_from"] == "2026-03-01" and "兰环罚〔2025〕12号" in candidate["text"]
    assert SUBJECT not in str(candidate)
    assert await env.rows(record_id) == [] and await env.messages() == []


async def test_serve_runs_the_job_on_its_schedule(env: Env) -> None:
    await env.open(reminder_interval_s=3600.0)
    await env.seed(penalty())
    assert env.runtime is not None
    env.runtime.start(dispatch=False, poll=False, remind=True)  # today from the clock: 2026-02-25 in Beijing
    try:
        for _ in range(100):
            if await env.messages():
                break
            await asyncio.sleep(0.05)
    finally:
        await env.runtime.stop()
    assert len(await env.messages(SUBJECT)) == 1
    assert (REGISTRY.get_sample_value("creditgw_reminders_last_run_timestamp_seconds") or 0) > 0


def _published(facts: RecordFacts) -> Any:
    from gateway.domain.model import CanonicalRecord, PublicityState

    state = PublicityState(target=PUBLISHED, version=1, decided_by="test", decided_at=datetime(2025, 12, 1, tzinfo=UTC))
    return CanonicalRecord(record_id=facts.record_id, facts=facts, state=state)


def test_the_text_names_the_record_the_date_and_where_to_apply() -> None:
    samr = replace(
        penalty(
            "兰市监罚〔2025〕5号",
            authority_name="兰州市市场监督管理局",
            authority_domain=AuthorityDomain.MARKET_REGULATION,
            legal_basis="《中华人民共和国价格法》第四十二条",  # no sector statute: the 6-month minimum
        ),
        publication_date=date(2025, 9, 1),
        fine_wan_yuan=Decimal("10"),
    )
    work_safety = RecordFacts(
        category=Category.WORK_SAFETY,
        authority_name="甘肃省应急管理厅",
        authority_code="11620000MB0000000X",
        document_number="甘应急失信〔2025〕3号",
        authority_domain=AuthorityDomain.OTHER,
        subject_name="甘肃示例科技有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code=SUBJECT,
        decision_date=date(2025, 11, 30),
    )
    cases = [
        (penalty(), "“信用中国（甘肃）”网站（credit.gansu.gov.cn）", "处罚决定书文号：兰环罚〔2025〕12号"),
        (samr, "国家企业信用信息公示系统（甘肃）", "处罚决定书文号：兰市监罚〔2025〕5号"),
        (work_safety, "作出列入决定的应急管理部门", "决定书文号：甘应急失信〔2025〕3号"),
    ]
    for facts, site, document in cases:
        apply_from = minimum_ends_on(facts, facts.owner)
        assert apply_from is not None, facts.category
        text = reminder_text(facts, apply_from)
        assert site in text and document in text and facts.authority_name in text
        assert f"自{apply_from.year}年{apply_from.month}月{apply_from.day}日起" in text
        assert "\n" not in text and len(text) <= 500


async def test_migration_0012_moves_pending_and_dead_reminders_into_the_outbox(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reminders written before migration 0012 (their sending state in the reminders table) keep
    their status: pending and dead ones become outbox rows to `sms` (of two pending milestones of a
    record, the later; the other is cancelled), sent and cancelled ones stay in the ledger."""
    from gateway.store import migrate as migrations

    every = migrations.available
    monkeypatch.setattr(migrations, "available", lambda dialect: [m for m in every(dialect) if m.version < 12])
    db = open_database(database_url)
    try:
        await migrate(db)
        ids = [penalty(f"兰环罚〔2025〕{40 + n}号").record_id for n in range(4)]
        at = datetime(2026, 2, 20, 1, 0, tzinfo=UTC)
        for n in range(4):
            facts = penalty(f"兰环罚〔2025〕{40 + n}号")
            event = Observation(
                source=facts.owner.value, facts=facts, target=PUBLISHED, changed_at=at, source_version="1"
            )
            await db.run(
                lambda tx, e=event: apply_event(
                    tx, e, source=e.source, change_key=e.facts.record_id, policy=NO_DELIVERIES, now=at
                )
            )
        old = [
            (ids[0], "minimum_period_end:2026-02-28", "pending", None, None),
            (ids[0], "minimum_period_end:2026-03-01", "pending", None, "HTTP 503"),
            (ids[1], "minimum_period_end:2026-03-01", "dead", None, "3001 the recipient has no registered contact"),
            (ids[2], "minimum_period_end:2026-03-01", "sent", "SMS0000000007", None),
            (ids[3], "minimum_period_end:2026-03-01", "cancelled", None, "record_stopped"),
        ]

        def write_old(tx: Any) -> None:
            for record_id, milestone, status, msg_id, error in old:
                tx.execute(
                    "INSERT INTO reminders (record_id, milestone, due_on, channel, message_id, status, attempts,"
                    " next_attempt_at, msg_id, last_error, created_at, updated_at, sent_at)"
                    " VALUES (?, ?, ?, 'sms', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record_id,
                        milestone,
                        milestone.removeprefix(MILESTONE_PREFIX),
                        message_id_of(record_id, milestone),
                        status,
                        1 if error else 0,
                        at,
                        msg_id,
                        error,
                        at,
                        at,
                        at if msg_id else None,
                    ),
                )

        await db.run(write_old)
        monkeypatch.setattr(migrations, "available", every)
        assert 12 in await migrate(db)

        def read(tx: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            repo = Repo(tx)
            rows = [
                (r["record_id"], r["milestone"], r["status"], r["msg_id"], r["last_error"])
                for record_id in ids
                for r in repo.reminders_of_record(record_id)
            ]
            outbox = [
                (item.record_id, item.target, item.status, item.idempotency_key, item.attempts, item.last_error)
                for status in ("pending", "dead")
                for item in repo.list_outbox(status=status, target=SMS_TARGET)
            ]
            return rows, outbox

        rows, outbox = await db.run(read, write=False)
    finally:
        await db.close()
    assert rows == [
        (ids[0], "minimum_period_end:2026-02-28", "cancelled", None, "milestone_changed"),
        (ids[0], "minimum_period_end:2026-03-01", "pending", None, "HTTP 503"),
        (ids[1], "minimum_period_end:2026-03-01", "dead", None, "3001 the recipient has no registered contact"),
        (ids[2], "minimum_period_end:2026-03-01", "sent", "SMS0000000007", None),
        (ids[3], "minimum_period_end:2026-03-01", "cancelled", None, "record_stopped"),
    ]
    assert outbox == [
        (ids[0], "sms", "pending", message_id_of(ids[0], "minimum_period_end:2026-03-01"), 1, "HTTP 503"),
        (ids[1], "sms", "dead", message_id_of(ids[1], "minimum_period_end:2026-03-01"), 1, rows[2][4]),
    ]
