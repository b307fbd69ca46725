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
   page's due reminders are inserted in one small transaction with ON CONFLICT DO NOTHING on
   (record_id, milestone). A second run, another replica or a restart inserts nothing new.
2. Send: pending rows are read in key order; each is re-checked against its record (still published,
   same milestone, else `cancelled`), sent, and marked in its own small transaction. The SMS carries
   `messageId` = a hash of (record_id, milestone): after a crash between send and mark the row is
   still pending and is sent again on the next run, and the SMS service answers the repeated
   messageId with its first answer without texting anyone again.
3. Failures: short retries happen in the call (adapters.sms); a failed call leaves the row pending
   with `next_attempt_at` from the retry policy (RetryPolicy/decide, as for deliveries), and after
   `reminder_max_attempts` failed runs — or at once for a permanent refusal such as "no registered
   number" — the row is `dead` with its last error.

Metrics: `creditgw_reminders_total{outcome}` (scheduled, sent, retry, dead, cancelled) and the time of
the last finished run. Logs carry record ids and message ids, never the USCC or the text.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

from adapters.sms import SmsAdapter, SmsMessage
from gateway.domain.beijing import beijing_date
from gateway.domain.categories import CATEGORY_LABELS, Category, SubjectType
from gateway.domain.model import CanonicalRecord, Publicity, RecordFacts
from gateway.domain.retry import DeliveryError, FailureKind, RetryPolicy, Verdict, decide
from gateway.domain.rules import RuleOverrides, minimum_ends_on
from gateway.notice import route_for
from gateway.observability import REMINDER_LAST_RUN, REMINDERS, get_logger
from gateway.settings import Settings
from gateway.store.database import Database, Row, Tx, now_utc
from gateway.store.repo import Repo
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
    scheduled: int = 0  # new reminder rows
    sent: int = 0
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


class ReminderJob:
    """One run: scan published records, schedule what is due, send what is pending.

    `write` runs a unit of work in a write transaction (the runtime's group committer, or the
    database directly for the CLI); reads go to the database.
    """

    def __init__(
        self,
        db: Database,
        sms: SmsAdapter,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = now_utc,
        write: Writer[Any] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.sms = sms
        self.settings = settings
        self.clock = clock
        self._write: Writer[Any] = write or db.run
        self._overrides = settings.rules.overrides()
        self._policy = RetryPolicy(
            max_attempts=settings.reminder_max_attempts,
            base_delay=settings.retry_base_s,
            max_delay=settings.retry_max_s,
        )
        self._rng = rng or random.Random()

    async def run(
        self,
        *,
        today: date | None = None,
        dry_run: bool = False,
        on_candidate: Callable[[dict[str, Any]], None] | None = None,
    ) -> ReminderReport:
        """`today` defaults to today in Beijing; `dry_run` writes and sends nothing and reports each
        reminder it would schedule or send to `on_candidate`."""
        now = self.clock()
        report = ReminderReport(today=today or beijing_date(now), dry_run=dry_run)
        await self._scan(report, now, on_candidate)
        await self._send_pending(report, now, on_candidate)
        if not dry_run:
            REMINDER_LAST_RUN.set(now.timestamp())
        log.info("reminders_run_finished", **report.as_json())
        return report

    # ---- 1. scan: schedule what is due -------------------------------------------------------

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
                created = await self._write(partial(_schedule, due=due, now=now))
                report.scheduled += created
                if created:
                    REMINDERS.labels("scheduled").inc(created)
            if len(page) < batch:
                return

    async def _preview(
        self, due: list[tuple[CanonicalRecord, Due]], on_candidate: Callable[[dict[str, Any]], None] | None
    ) -> None:
        """Dry run: what the scan would schedule (rows already pending are reported by the send step)."""
        for record, d in due:
            row = await self.db.run(partial(_get_reminder, record_id=d.record_id, milestone=d.milestone), write=False)
            if row is not None and row["status"] == ReminderStatus.PENDING:
                continue
            if on_candidate is not None:
                on_candidate(
                    {
                        **_describe(d.record_id, d.milestone, d.message_id, d.apply_from),
                        "action": "schedule_and_send" if row is None else f"none ({row['status']})",
                        "text": reminder_text(record.facts, d.apply_from, overrides=self._overrides),
                    }
                )

    # ---- 2. send what is pending -------------------------------------------------------------

    async def _send_pending(
        self, report: ReminderReport, now: datetime, on_candidate: Callable[[dict[str, Any]], None] | None
    ) -> None:
        batch = self.settings.reminder_batch
        after = ("", "")
        while True:
            rows = await self.db.run(partial(_pending_page, after=after, now=now, limit=batch), write=False)
            if not rows:
                return
            after = (rows[-1]["record_id"], rows[-1]["milestone"])
            for row in rows:
                await self._attempt(row, report, now, on_candidate)
            if len(rows) < batch:
                return

    async def _attempt(
        self,
        row: Row,
        report: ReminderReport,
        now: datetime,
        on_candidate: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        record_id, milestone = row["record_id"], row["milestone"]
        facts, why_not = self._still_due(row)
        if facts is None:
            report.cancelled += 1
            if report.dry_run:
                if on_candidate is not None:
                    on_candidate(
                        {**_describe(record_id, milestone, row["message_id"]), "action": f"cancel ({why_not})"}
                    )
                return
            await self._write(lambda tx: Repo(tx).cancel_reminder(record_id, milestone, why_not, now))
            REMINDERS.labels("cancelled").inc()
            log.info("reminder_cancelled", record_id=record_id, milestone=milestone, reason=why_not)
            return
        apply_from = date.fromisoformat(milestone.removeprefix(MILESTONE_PREFIX))
        text = reminder_text(facts, apply_from, overrides=self._overrides)
        assert facts.subject_code is not None  # checked by _still_due
        message = SmsMessage(message_id=row["message_id"], uscc=facts.subject_code, content=text)
        if report.dry_run:
            if on_candidate is not None:
                action = "send" if int(row["attempts"]) == 0 else f"resend (attempt {int(row['attempts']) + 1})"
                on_candidate(
                    {**_describe(record_id, milestone, message.message_id, apply_from), "action": action, "text": text}
                )
            return
        try:
            receipt = await self.sms.send(message)
        except DeliveryError as exc:
            await self._failed(row, exc.kind, exc.message, exc.retry_after, report, now)
            return
        except Exception as exc:  # a defect must not stop the run: count it as a transient failure
            log.exception("reminder_send_crashed", record_id=record_id, milestone=milestone)
            await self._failed(row, FailureKind.RETRYABLE, f"{type(exc).__name__}: {exc}", None, report, now)
            return
        await self._write(lambda tx: Repo(tx).mark_reminder_sent(record_id, milestone, receipt.msg_id, now))
        report.sent += 1
        REMINDERS.labels("sent").inc()
        log.info(
            "reminder_sent",
            record_id=record_id,
            milestone=milestone,
            message_id=message.message_id,
            msg_id=receipt.msg_id,
        )

    def _still_due(self, row: Row) -> tuple[RecordFacts | None, str]:
        """The record's facts when the pending reminder is still worth sending, else why not."""
        if row["record_facts"] is None:
            return None, "record_missing"
        if row["record_status"] != Publicity.PUBLISHED.value:
            return None, "record_stopped"
        facts = RecordFacts.from_json(json.loads(row["record_facts"]))
        if not facts.subject_code:
            return None, "no_recipient"
        apply_from = minimum_ends_on(facts, facts.owner, overrides=self._overrides)
        if apply_from is None:
            return None, "not_applicable"
        if milestone_of(apply_from) != row["milestone"]:
            return None, "milestone_changed"
        return facts, ""

    async def _failed(
        self,
        row: Row,
        kind: FailureKind,
        message: str,
        retry_after: float | None,
        report: ReminderReport,
        now: datetime,
    ) -> None:
        record_id, milestone = row["record_id"], row["milestone"]
        attempts = int(row["attempts"]) + 1
        decision = decide(kind, attempts=attempts, now=now, policy=self._policy, rng=self._rng, retry_after=retry_after)
        if decision.verdict is Verdict.DONE:  # ignorable: nothing left to do
            await self._write(lambda tx: Repo(tx).mark_reminder_sent(record_id, milestone, "", now))
            report.sent += 1
            REMINDERS.labels("sent").inc()
            return
        dead = decision.verdict is Verdict.DEAD
        status = ReminderStatus.DEAD if dead else ReminderStatus.PENDING
        next_at = decision.next_attempt_at or now
        error = message[:ERROR_LIMIT]
        await self._write(
            lambda tx: Repo(tx).mark_reminder_failed(
                record_id, milestone, status=status.value, error=error, next_attempt_at=next_at, now=now
            )
        )
        outcome = "dead" if dead else "retry"
        if dead:
            report.dead += 1
        else:
            report.retry += 1
        REMINDERS.labels(outcome).inc()
        log.warning(
            "reminder_failed",
            record_id=record_id,
            milestone=milestone,
            attempts=attempts,
            failure=kind.value,
            outcome=outcome,
            next_attempt_at=None if dead else next_at.isoformat(),
        )


def _published_page(tx: Tx, *, after: str, limit: int) -> list[CanonicalRecord]:
    return Repo(tx).published_after(after, limit)


def _schedule(tx: Tx, *, due: list[tuple[CanonicalRecord, Due]], now: datetime) -> int:
    repo = Repo(tx)
    return sum(
        repo.schedule_reminder(d.record_id, d.milestone, d.apply_from.isoformat(), CHANNEL, d.message_id, now)
        for _, d in due
    )


def _get_reminder(tx: Tx, *, record_id: str, milestone: str) -> Row | None:
    return Repo(tx).get_reminder(record_id, milestone)


def _pending_page(tx: Tx, *, after: tuple[str, str], now: datetime, limit: int) -> list[Row]:
    return Repo(tx).pending_reminders_page(after, now, limit)


def _describe(record_id: str, milestone: str, message_id: str, apply_from: date | None = None) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "milestone": milestone,
        "message_id": message_id,
        "apply_from": apply_from.isoformat() if apply_from else None,
    }
