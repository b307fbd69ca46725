"""Repair reminders by SMS (信用修复短信提醒, seed §(六)): the 全省信用修复协同系统 texts subjects that
are about to become eligible to apply for repair.

One reminder per record and milestone, ever. The milestone is `minimum_period_end:<date>`, the date
being the first day the subject may apply under its record OWNER's rules (谁认定、谁修复:
`minimum_ends_on(facts, owner)`), so a record whose dates change (a corrected decision date) gets a
reminder for its new date, and nothing else ever gets a second one. A record is reminded when

- it is published (a stopped record needs no repair),
- its subject has a 统一社会信用代码 (the SMS service finds the number by it; natural persons have none),
- it can be repaired early at all (not a warning-only or 轻微 item that is never published, not a heavy
  or light GSXT penalty that never stops early, not missing what the rules need: `minimum_ends_on`
  returns None for all of these), and
- today (Beijing) lies in [first day it may apply − `reminder_lead_days`, first day it may apply].
  The window is lead_days + 1 days wide, so a missed daily run is caught up by the next one; records
  already past their date are not reminded (a first deployment must not text every old record).

How "never twice" survives restarts, crashes and replicas (STYLE.md §3, §9):

1. Scan: published records are read in record_id pages (keyset pagination, constant memory); each
   page's due reminders are inserted into the `reminders` ledger in one small transaction with ON
   CONFLICT DO NOTHING on (record_id, milestone), and each new one is queued as an outbox row to
   the target `sms` (migration 0012, docs/adr/0029-one-plan-writer.md). A second run, another
   replica or a restart inserts nothing new.
2. Send: the dispatcher's `sms` lane claims the rows with a lease, like any delivery. Each is
   re-checked against its record when it is built (still published, same milestone, else it is
   done without a text: `cancelled`, with the reason). The SMS carries `messageId` = a hash of
   (record_id, milestone): a row whose worker died after sending is taken over when its lease
   ends and sent again, and the SMS service answers the repeated messageId with its first answer
   without texting anyone again.
3. Failures: short retries happen in the call (adapters.sms); a failed call returns the row to
   pending with the next attempt from the retry policy (`reminder_max_attempts`), and then — or at
   once for a permanent refusal such as "no registered number" — it is a dead letter, listed and
   replayed with `creditgw dlq` like every other delivery.

`serve` runs the job on its schedule and sends through its dispatcher; `creditgw remind` (cron,
without `serve`) schedules and then drains the `sms` lane itself.

Metrics: `creditgw_reminders_total{outcome}` (scheduled; and sent, retry, dead, cancelled as counted
by the runs that drain the lane — under `serve`, `creditgw_deliveries_total{target="sms"}`), the
time of the last finished run. Logs carry record ids and message ids, never the USCC or the text.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

from adapters.sms import SmsAdapter, SmsMessage
from gateway.contract import ChangePage, NativeChange, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.beijing import beijing_date
from gateway.domain.categories import CATEGORY_LABELS, Category, SubjectType
from gateway.domain.model import CanonicalRecord, Publicity, RecordFacts, TargetState
from gateway.domain.plan import Observation
from gateway.domain.retry import IgnorableError, RetryPolicy
from gateway.domain.rules import RuleOverrides, minimum_ends_on
from gateway.notice import route_for
from gateway.observability import REMINDER_LAST_RUN, REMINDERS, get_logger
from gateway.settings import Settings
from gateway.store.database import Database, Row, Tx, now_utc
from gateway.store.group import GroupCommitter
from gateway.store.repo import SMS_TARGET, OutboxItem, Repo
from gateway.sync.connectors import Connector
from gateway.sync.dispatcher import Dispatcher
from gateway.templating import site_label, text_environment

log = get_logger("creditgw.reminders")

T = TypeVar("T")
Writer = Callable[[Callable[[Tx], T]], Awaitable[T]]

CHANNEL = "sms"
MILESTONE_PREFIX = "minimum_period_end:"
ERROR_LIMIT = 500


class ReminderStatus(StrEnum):
    PENDING = "pending"  # to be sent (again) from next_attempt_at
    SENT = "sent"  # accepted by the SMS service
    DEAD = "dead"  # refused for good, or out of attempts: last_error says why
    CANCELLED = "cancelled"  # nothing to send any more (record stopped, dates changed): never sent


class Skip(StrEnum):
    """Why a published record gets no reminder today."""

    STOPPED = "stopped"
    NO_RECIPIENT = "no_recipient"  # no 统一社会信用代码 (natural persons)
    NOT_APPLICABLE = "not_applicable"  # never repairable early, or dates not computable
    OUTSIDE_WINDOW = "outside_window"


@dataclass(frozen=True, kw_only=True)
class Due:
    """A reminder a record is due for."""

    record_id: str
    milestone: str
    apply_from: date  # the first day the subject may apply (minimum period's first_day_after)
    message_id: str

    @property
    def last_day(self) -> date:
        return self.apply_from - timedelta(days=1)


@dataclass(frozen=True, kw_only=True)
class ReminderText:
    """The values of the SMS template (`templates/reminder_sms.txt.j2`)."""

    subject_name: str
    addressee: str
    category_label: str
    authority_name: str
    document_label: str
    document_number: str
    waiting_label: str
    last_day: date
    apply_from: date
    site: str


def milestone_of(apply_from: date) -> str:
    return f"{MILESTONE_PREFIX}{apply_from.isoformat()}"


def message_id_of(record_id: str, milestone: str) -> str:
    """The SMS messageId of a reminder: deterministic, so a resend after a crash is recognised."""
    return "rem_" + hashlib.sha256(f"{record_id}|{milestone}".encode()).hexdigest()[:40]


def reminder_due(
    record: CanonicalRecord, *, today: date, lead_days: int, overrides: RuleOverrides | None = None
) -> Due | Skip:
    """Whether `record` is due for a reminder on `today` (see the module docstring). Pure."""
    if record.state.target.status is not Publicity.PUBLISHED:
        return Skip.STOPPED
    facts = record.facts
    if not facts.subject_code:
        return Skip.NO_RECIPIENT
    apply_from = minimum_ends_on(facts, facts.owner, overrides=overrides)
    if apply_from is None:
        return Skip.NOT_APPLICABLE
    if not apply_from - timedelta(days=lead_days) <= today <= apply_from:
        return Skip.OUTSIDE_WINDOW
    milestone = milestone_of(apply_from)
    return Due(
        record_id=record.record_id,
        milestone=milestone,
        apply_from=apply_from,
        message_id=message_id_of(record.record_id, milestone),
    )


_DOCUMENT_LABELS = {Category.ADMIN_PENALTY: "处罚决定书文号：", Category.COURT_DISHONEST: "案号："}


def reminder_text(facts: RecordFacts, apply_from: date, *, overrides: RuleOverrides | None = None) -> str:
    """The SMS: the record (category, authority, document number), the first day the subject may
    apply, and where (the first channel of the record's repair route in the guidance data)."""
    route = route_for(facts, overrides=overrides)
    site = site_label(route.where_to_apply[0]) if route is not None and route.where_to_apply else "信用中国（甘肃）网站"
    penalty = facts.category is Category.ADMIN_PENALTY
    values = ReminderText(
        subject_name=facts.subject_name,
        addressee="您" if facts.subject_type is SubjectType.NATURAL_PERSON else "贵单位",
        category_label=CATEGORY_LABELS[facts.category],
        authority_name=facts.authority_name,
        document_label=_DOCUMENT_LABELS.get(facts.category, "决定书文号："),
        document_number=facts.document_number,
        waiting_label="最短公示期" if penalty else "申请提前移出的等待期",
        last_day=apply_from - timedelta(days=1),
        apply_from=apply_from,
        site=site,
    )
    return text_environment().get_template("reminder_sms.txt.j2").render(r=values).strip()


@dataclass
class ReminderReport:
    today: date
    dry_run: bool
    scanned: int = 0  # published records read
    due: int = 0  # in the window today
    scheduled: int = 0  # new reminders (ledger row and outbox row)
    sent: int = 0  # outcomes of the sends made by this run (a drain of the sms lane)
    retry: int = 0
    dead: int = 0
    cancelled: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "due": self.due,
            "scheduled": self.scheduled,
            "sent": self.sent,
            "retry": self.retry,
            "dead": self.dead,
            "cancelled": self.cancelled,
            "skipped": dict(sorted(self.skipped.items())),
        }


class Cancelled(IgnorableError):
    """A queued reminder with nothing to send any more: done without a text, the reason kept."""


class SmsTarget(SystemAdapter):
    """The SMS service as a delivery target: one text per outbox row, no feed."""

    system = SMS_TARGET

    def __init__(self, sms: SmsAdapter) -> None:
        self.sms = sms

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        return ChangePage(changes=[], cursor=cursor or "", has_more=False)  # it reports nothing back

    async def write(self, write: NativeWrite) -> WriteResult:
        message = SmsMessage(message_id=write.idempotency_key, uscc=write.row["uscc"], content=write.row["content"])
        receipt = await self.sms.send(message)
        return WriteResult(native_id=receipt.msg_id)

    async def close(self) -> None:
        await self.sms.close()


class _NoMapping:
    """The SMS target maps no feed and builds its writes from the record (`ReminderWrites`)."""

    system = SMS_TARGET

    def to_observation(self, change: NativeChange) -> Observation | None:
        return None

    def to_write(
        self, facts: RecordFacts, target: TargetState, *, idempotency_key: str, decided_at: datetime | None = None
    ) -> NativeWrite:
        raise ValueError("SMS reminders are built from their record (gateway.reminders.ReminderWrites)")


class ReminderWrites:
    """The text of a queued reminder, built when it is sent, from its record as it is then."""

    def __init__(self, overrides: RuleOverrides | None) -> None:
        self._overrides = overrides

    def __call__(self, item: OutboxItem, record: CanonicalRecord) -> NativeWrite:
        facts, why_not = still_due(record, item.idempotency_key, self._overrides)
        if facts is None:
            raise Cancelled(why_not)
        apply_from = minimum_ends_on(facts, facts.owner, overrides=self._overrides)
        assert apply_from is not None and facts.subject_code is not None  # checked by still_due
        text = reminder_text(facts, apply_from, overrides=self._overrides)
        return NativeWrite(
            kind="reminder",
            row={"uscc": facts.subject_code, "content": text},
            business_key=item.idempotency_key,
            idempotency_key=item.idempotency_key,
        )


def still_due(
    record: CanonicalRecord | None, message_id: str, overrides: RuleOverrides | None
) -> tuple[RecordFacts | None, str]:
    """The record's facts when a queued reminder is still worth sending, else why not."""
    if record is None:
        return None, "record_missing"
    if record.state.target.status is not Publicity.PUBLISHED:
        return None, "record_stopped"
    facts = record.facts
    if not facts.subject_code:
        return None, "no_recipient"
    apply_from = minimum_ends_on(facts, facts.owner, overrides=overrides)
    if apply_from is None:
        return None, "not_applicable"
    if message_id_of(record.record_id, milestone_of(apply_from)) != message_id:
        return None, "milestone_changed"
    return facts, ""


def sms_connector(sms: SmsAdapter, settings: Settings) -> Connector:
    """The dispatcher's `sms` lane: reminders sent as deliveries."""
    return Connector(
        SMS_TARGET,
        SmsTarget(sms),
        _NoMapping(),
        build_write=ReminderWrites(settings.rules.overrides()),
    )


def reminder_retry(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.reminder_max_attempts, base_delay=settings.retry_base_s, max_delay=settings.retry_max_s
    )


class ReminderJob:
    """One run: scan published records and queue what is due; with `drain`, send what is queued
    through a dispatcher of the `sms` lane alone (`creditgw remind`, no `serve` running).

    `write` runs a unit of work in a write transaction (the runtime's group committer); reads go
    to the database.
    """

    def __init__(
        self,
        db: Database,
        committer: GroupCommitter,
        sms: SmsAdapter,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = now_utc,
        owner: str = "reminders",
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.committer = committer
        self.sms = sms
        self.settings = settings
        self.clock = clock
        self.owner = owner
        self._overrides = settings.rules.overrides()
        self._rng = rng or random.Random()

    async def run(
        self,
        *,
        today: date | None = None,
        dry_run: bool = False,
        drain: bool = True,
        on_candidate: Callable[[dict[str, Any]], None] | None = None,
    ) -> ReminderReport:
        """`today` defaults to today in Beijing; `dry_run` writes and sends nothing and reports each
        reminder it would schedule or send to `on_candidate`."""
        now = self.clock()
        report = ReminderReport(today=today or beijing_date(now), dry_run=dry_run)
        await self._scan(report, now, on_candidate)
        if dry_run:
            await self._preview_queued(on_candidate)
        elif drain:
            await self._drain(report, now)
        if not dry_run:
            REMINDER_LAST_RUN.set(now.timestamp())
        log.info("reminders_run_finished", **report.as_json())
        return report

    # ---- 1. scan: queue what is due ----------------------------------------------------------

    async def _scan(
        self, report: ReminderReport, now: datetime, on_candidate: Callable[[dict[str, Any]], None] | None
    ) -> None:
        batch = self.settings.reminder_batch
        after = ""
        while True:
            page = await self.db.run(partial(_published_page, after=after, limit=batch), write=False)
            if not page:
                return
            after = page[-1].record_id
            due: list[tuple[CanonicalRecord, Due]] = []
            for record in page:
                report.scanned += 1
                outcome = reminder_due(
                    record, today=report.today, lead_days=self.settings.reminder_lead_days, overrides=self._overrides
                )
                if isinstance(outcome, Skip):
                    report.skipped[outcome.value] += 1
                else:
                    due.append((record, outcome))
            report.due += len(due)
            if due and report.dry_run:
                await self._preview(due, on_candidate)
            elif due:
                created = await self.committer.submit(partial(_schedule, due=due, now=now))
                report.scheduled += created
                if created:
                    REMINDERS.labels("scheduled").inc(created)
            if len(page) < batch:
                return

    async def _preview(
        self, due: list[tuple[CanonicalRecord, Due]], on_candidate: Callable[[dict[str, Any]], None] | None
    ) -> None:
        """Dry run: what the scan would schedule (reminders already queued are reported after)."""
        for record, d in due:
            row = await self.db.run(partial(_get_reminder, record_id=d.record_id, milestone=d.milestone), write=False)
            if row is not None and row["status"] == "pending":
                continue
            if on_candidate is not None:
                on_candidate(
                    {
                        **_describe(d.record_id, d.milestone, d.message_id, d.apply_from),
                        "action": "schedule_and_send" if row is None else f"none ({row['status']})",
                        "text": reminder_text(record.facts, d.apply_from, overrides=self._overrides),
                    }
                )

    async def _preview_queued(self, on_candidate: Callable[[dict[str, Any]], None] | None) -> None:
        """Dry run: what sending the queued reminders would do."""
        after = ("", "")
        while True:
            rows = await self.db.run(
                partial(_queued_page, after=after, limit=self.settings.reminder_batch), write=False
            )
            if not rows:
                return
            after = (rows[-1]["record_id"], rows[-1]["milestone"])
            ids = sorted({row["record_id"] for row in rows})
            records = await self.db.run(partial(_records, record_ids=ids), write=False)
            for row in rows:
                if on_candidate is not None:
                    on_candidate(self._describe_queued(row, records.get(row["record_id"])))

    def _describe_queued(self, row: Row, record: CanonicalRecord | None) -> dict[str, Any]:
        record_id, milestone = row["record_id"], row["milestone"]
        facts, why_not = still_due(record, row["message_id"], self._overrides)
        if facts is None:
            return {**_describe(record_id, milestone, row["message_id"]), "action": f"cancel ({why_not})"}
        apply_from = date.fromisoformat(milestone.removeprefix(MILESTONE_PREFIX))
        attempts = int(row["attempts"])
        return {
            **_describe(record_id, milestone, row["message_id"], apply_from),
            "action": "send" if attempts == 0 else f"resend (attempt {attempts + 1})",
            "text": reminder_text(facts, apply_from, overrides=self._overrides),
        }

    # ---- 2. send what is queued (without `serve`) ----------------------------------------------

    async def _drain(self, report: ReminderReport, now: datetime) -> None:
        """Send the due reminders through a dispatcher of the sms lane alone: claims with a lease,
        retries, dead letters, as `serve`'s dispatcher would."""
        outcomes: Counter[str] = Counter()
        dispatcher = Dispatcher(
            self.committer,
            {SMS_TARGET: sms_connector(self.sms, self.settings)},
            owner=self.owner,
            retry=reminder_retry(self.settings),
            lease_s=self.settings.lease_s,
            batch=self.settings.dispatch_batch,
            concurrency=self.settings.dispatch_concurrency,
            clock=self.clock,
            rng=self._rng,
            on_outcome=lambda _, outcome: outcomes.update([_OUTCOMES[outcome]]),
        )
        while await dispatcher.run_once(SMS_TARGET):
            pass  # until nothing queued is due now (a retry waits for a later run)
        report.sent, report.retry = outcomes["sent"], outcomes["retry"]
        report.dead, report.cancelled = outcomes["dead"], outcomes["cancelled"]
        for outcome, count in outcomes.items():
            REMINDERS.labels(outcome).inc(count)


# A delivery's outcome (gateway.sync.dispatcher) as a reminder's.
_OUTCOMES = {"delivered": "sent", "ignored": "cancelled", "retry": "retry", "dead": "dead"}


def _published_page(tx: Tx, *, after: str, limit: int) -> list[CanonicalRecord]:
    return Repo(tx).published_after(after, limit)


def _schedule(tx: Tx, *, due: list[tuple[CanonicalRecord, Due]], now: datetime) -> int:
    return Repo(tx).schedule_reminders(
        [(record, d.milestone, d.apply_from.isoformat(), d.message_id) for record, d in due], now
    )


def _records(tx: Tx, *, record_ids: list[str]) -> dict[str, CanonicalRecord]:
    return Repo(tx).load_records(record_ids)


def _get_reminder(tx: Tx, *, record_id: str, milestone: str) -> Row | None:
    return Repo(tx).get_reminder(record_id, milestone)


def _queued_page(tx: Tx, *, after: tuple[str, str], limit: int) -> list[Row]:
    return Repo(tx).queued_reminders_page(after, limit)


def _describe(record_id: str, milestone: str, message_id: str, apply_from: date | None = None) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "milestone": milestone,
        "message_id": message_id,
        "apply_from": apply_from.isoformat() if apply_from else None,
    }
