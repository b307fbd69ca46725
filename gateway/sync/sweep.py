"""The expiry sweep: publicity stops everywhere when the maximum period ends (DESIGN.md §6).

`serve` runs it every `sweep_interval_s` (Runtime.sweep); `creditgw sweep` runs it once for cron.
Per page of published records (keyset by record_id, `sweep_batch` at a time, never all in memory):

1. read the page in a read-only transaction and judge each record in pure code
   (gateway/domain/expiry.py): the owner's rules give the first day publicity has stopped by itself
   (谁认定); a record whose day cannot be computed is skipped and counted with the reason;
2. apply an `Action.EXPIRE` decision to every record whose day has come, through the ordinary
   one plan writer (gateway/sync/plan_writer.py) in one group-committed unit per page: the new state, the audit
   trail, the repair's progress rows (with their sync deadline) and the outbox deliveries commit
   together, and the dispatcher delivers them like any other decision (reason `expired`).

Records whose owner takes no writes (the list authorities) are skipped and counted
(`owner_signals_expiry`): their feeds signal expiry, and the mirrors follow that signal (ADR 0028).

A published record that its owner's rules do not publish at all (警告 only, Order 36 轻微) is
stopped the same way on the day the sweep finds it, and counted apart (`withheld`, by reason). A
mirror's published copy of a record only the mirror's rules withhold is stopped on that mirror
alone (`plan.withhold_copy`), and counted the same way.

Idempotent: the decision is deterministic (docs/adr/0007-expiry-by-the-owners-rules.md), so a second
run, also after a restart, finds the records stopped, and `plan()` answers UNCHANGED if two replicas
race on one. `--dry-run` reads and plans but writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

from gateway.domain.categories import Category
from gateway.domain.expiry import PROVISIONAL, SWEEP_ACTOR, Expiry, expiry_decision, expiry_of
from gateway.domain.model import CanonicalRecord
from gateway.domain.plan import Decision, DecisionRefused, Outcome, Policy, plan, withhold_copy
from gateway.domain.rules import Rulebook, RuleOverrides, apply_overrides, awaiting_tier, withheld_reason
from gateway.domain.rules.data import RULEBOOK
from gateway.observability import (
    RECORDS_AWAITING_CLASSIFICATION,
    SWEEP_EXPIRED,
    SWEEP_LAST_SUCCESS,
    SWEEP_UNEVALUABLE,
    SWEEP_WITHHELD,
    get_logger,
)
from gateway.store.database import Tx
from gateway.store.group import GroupCommitter
from gateway.store.repo import Repo, TargetProgress
from gateway.sync.plan_writer import PlanWriter

log = get_logger("creditgw.sweep")

OWNER_SIGNALS_EXPIRY = "owner_signals_expiry"  # skipped: the owner takes no writes and ends its own lists
SWEEP_SOURCE = SWEEP_ACTOR  # the repairs' `source`: the gateway itself, on the law's behalf


@dataclass
class SweepReport:
    """What one run did (a dry run: what it would do). Printed by `creditgw sweep` as JSON."""

    today: date
    dry_run: bool
    scanned: int = 0  # published records read
    not_due: int = 0  # their maximum period is still running
    expired: int = 0  # stopped now (dry run: would be)
    withheld: Counter[str] = field(default_factory=Counter)  # stopped as never publishable, by reason
    awaiting_classification: int = 0  # published records whose rules need an Order 36 tier first
    unchanged: int = 0  # already stopped when the decision applied (a concurrent run)
    skipped: Counter[str] = field(default_factory=Counter)  # no computable expiry day, by reason
    refused: Counter[str] = field(default_factory=Counter)  # the record changed meanwhile, by code
    deliveries: Counter[str] = field(default_factory=Counter)  # queued (dry run: would be), by target
    pages: int = 0
    last_record_id: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "not_due": self.not_due,
            "expired": self.expired,
            "withheld": dict(sorted(self.withheld.items())),
            "awaiting_classification": self.awaiting_classification,
            "unchanged": self.unchanged,
            "skipped": dict(sorted(self.skipped.items())),
            "refused": dict(sorted(self.refused.items())),
            "deliveries": dict(sorted(self.deliveries.items())),
            "pages": self.pages,
            "last_record_id": self.last_record_id,
        }


@dataclass
class _Applied:
    expired: list[str] = field(default_factory=list)
    unchanged: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    deliveries: Counter[str] = field(default_factory=Counter)
    targets: dict[str, list[str]] = field(default_factory=dict)  # record_id → systems it is sent to

    def add(self, record_id: str, targets: list[str]) -> None:
        self.expired.append(record_id)
        self.targets[record_id] = sorted(targets)
        self.deliveries.update(targets)


def expired_line(record: CanonicalRecord, expiry: Expiry, targets: Sequence[str]) -> dict[str, Any]:
    """One stopped (dry run: to be stopped) record, as `creditgw sweep --dry-run` lists it."""
    facts = record.facts
    return {
        "record_id": record.record_id,
        "category": facts.category.value,
        "document_number": facts.document_number,
        "authority_name": facts.authority_name,
        "owner": expiry.system,
        "last_day": expiry.last_day.isoformat() if expiry.last_day else None,
        "targets": list(targets),
    }


async def sweep(
    committer: GroupCommitter,
    *,
    policy: Policy,
    today: date,
    now: datetime,
    overrides: RuleOverrides | None = None,
    rulebook: Rulebook | None = None,
    batch: int = 500,
    dry_run: bool = False,
    on_expired: Callable[[dict[str, Any]], None] | None = None,
) -> SweepReport:
    """Stop every published record whose owner's maximum period ended before `today` (Beijing date).

    `now` stamps the rows written (accepted_at, outbox times); decisions carry their own
    deterministic `decided_at`. Returns the report; metrics are updated unless `dry_run`.
    `on_expired` is called with each record stopped (dry run: that would be), see expired_line().
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    book = apply_overrides(rulebook or RULEBOOK, overrides)  # once per run, not once per record
    report = SweepReport(today=today, dry_run=dry_run)
    after = ""
    while True:
        page = await committer.db.run(partial(_published_after, after=after, limit=batch), write=False)
        if not page:
            break
        report.pages += 1
        report.scanned += len(page)
        after = report.last_record_id = page[-1].record_id
        due: list[tuple[Decision, Expiry]] = []
        copies: list[tuple[str, str, str]] = []  # (record, mirror, reason): a copy its rules withhold
        records = {record.record_id: record for record in page}
        for record in page:
            if record.state.authoritative:
                copies.extend(_withheld_copies(record, policy, book))
            if record.facts.severity is None and record.facts.category is Category.ADMIN_PENALTY:
                report.awaiting_classification += bool(awaiting_tier(record.facts, rulebook=book))
            if not policy.takes_writes(str(record.facts.owner)):
                # A list authority signals its own expiries (court 期限届满, hrss YCLX 01, …) and may
                # have extended the period: its feed stops the mirrors, never our count (ADR 0028).
                report.skipped[OWNER_SIGNALS_EXPIRY] += 1
                continue
            expiry = expiry_of(record.facts, rulebook=book)
            if expiry.skip_reason is not None and expiry.withheld is None:
                report.skipped[expiry.skip_reason] += 1
                continue
            decision = expiry_decision(record, expiry, today)
            if decision is None:
                report.not_due += 1
            elif not record.state.authoritative:
                report.skipped[PROVISIONAL] += 1  # its owner has not spoken: nothing to enforce yet
            else:
                due.append((decision, expiry))
        if due:
            decisions = [d for d, _ in due]
            if dry_run:
                applied = await committer.db.run(partial(_preview, decisions=decisions, policy=policy), write=False)
            else:
                applied = await committer.submit(partial(_apply, decisions=decisions, policy=policy, now=now))
                _log_expired(applied, due)
            reasons = {e.record_id: e.withheld for _, e in due if e.withheld is not None}
            report.withheld.update(reasons[r] for r in applied.expired if r in reasons)
            report.expired += sum(1 for r in applied.expired if r not in reasons)
            if on_expired is not None:
                expiries = {expiry.record_id: expiry for _, expiry in due}
                for record_id in applied.expired:
                    on_expired(expired_line(records[record_id], expiries[record_id], applied.targets[record_id]))
            report.unchanged += applied.unchanged
            report.refused.update(applied.refused)
            report.deliveries.update(applied.deliveries)
        if copies:
            unit = partial(_stop_copies, copies=copies, today=today, now=now, dry_run=dry_run)
            stopped_copies = await (committer.db.run(unit, write=False) if dry_run else committer.submit(unit))
            for record_id, system, reason in stopped_copies:
                report.withheld[reason] += 1
                report.deliveries[system] += 1
                if not dry_run:
                    log.info("copy_withheld", record_id=record_id, system=system, reason=reason)
        if len(page) < batch:
            break
    if not dry_run:
        _observe(report)
    log.info("expiry_sweep_finished", **report.as_json())
    return report


def _withheld_copies(record: CanonicalRecord, policy: Policy, book: Rulebook) -> list[tuple[str, str, str]]:
    """The mirrors whose rules withhold a record its owner's rules publish (the owner's own
    withholding is an EXPIRE decision, expiry_decision)."""
    facts = record.facts
    if withheld_reason(facts, facts.owner, rulebook=book) is not None:
        return []
    out = []
    for system in policy.mirrors(facts):
        reason = withheld_reason(facts, system, rulebook=book)
        if reason is not None:
            out.append((record.record_id, system, str(reason.code)))
    return out


def _stop_copies(
    tx: Tx, *, copies: Sequence[tuple[str, str, str]], today: date, now: datetime, dry_run: bool
) -> list[tuple[str, str, str]]:
    """Stop each withheld copy a mirror is known to show; the copies stopped (dry run: would be).
    Copy by copy (a writer's batch of one each): a record withheld by two mirrors is planned the
    second time against the first stop's result."""
    repo = Repo(tx)
    done = []
    for record_id, system, reason in copies:
        if dry_run:
            record, links = repo.load_record(record_id), repo.load_links(record_id)
        else:
            writer = PlanWriter(tx)
            writer.read([record_id])
            record, links = writer.record(record_id), writer.links(record_id)
        if record is None:
            continue
        planned = withhold_copy(record, links, system, actor=SWEEP_ACTOR, reason=reason, on=today)
        if planned is None:
            continue
        if not dry_run:
            writer.add(None, planned, source=SWEEP_SOURCE, policy=None, now=now)
            writer.flush()
        done.append((record_id, system, reason))
    return done


def _published_after(tx: Tx, *, after: str, limit: int) -> list[CanonicalRecord]:
    return Repo(tx).published_after(after, limit)


def _apply(tx: Tx, *, decisions: Sequence[Decision], policy: Policy, now: datetime) -> _Applied:
    """One unit per page, one writer flush: a refused decision writes nothing and skips one record."""
    writer = PlanWriter(tx)
    writer.read(decision.record_id for decision in decisions)
    out = _Applied()
    added: list[tuple[str, int]] = []
    for decision in decisions:
        try:
            planned = writer.plan(decision, policy)
        except DecisionRefused as exc:
            out.refused[exc.code] += 1
            continue
        added.append((decision.record_id, writer.add(decision, planned, source=SWEEP_SOURCE, policy=policy, now=now)))
    written = writer.flush()
    for record_id, position in added:
        result = written[position]
        if result.outcome != Outcome.CHANGED.value:
            out.unchanged += 1
            continue
        targets = result.targets or {}
        out.add(record_id, [t for t, status in sorted(targets.items()) if status == TargetProgress.PENDING])
    return out


def _preview(tx: Tx, *, decisions: Sequence[Decision], policy: Policy) -> _Applied:
    """The dry run: plan each decision on the stored state, write nothing."""
    repo = Repo(tx)
    out = _Applied()
    for decision in decisions:
        try:
            planned = plan(decision, repo.load_record(decision.record_id), repo.load_links(decision.record_id), policy)
        except DecisionRefused as exc:
            out.refused[exc.code] += 1
            continue
        if planned.outcome is not Outcome.CHANGED:
            out.unchanged += 1
            continue
        out.add(decision.record_id, [d.system for d in planned.deliveries])
    return out


def _log_expired(applied: _Applied, due: Sequence[tuple[Decision, Expiry]]) -> None:
    by_id = {expiry.record_id: (decision, expiry) for decision, expiry in due}
    for record_id in applied.expired:
        decision, expiry = by_id[record_id]
        if expiry.withheld is not None:
            log.info("record_withheld", record_id=record_id, owner=expiry.system, reason=expiry.withheld)
            continue
        log.info(
            "record_expired",
            record_id=record_id,
            owner=expiry.system,
            last_day=expiry.last_day.isoformat() if expiry.last_day else None,
            decided_at=decision.decided_at.isoformat(),
        )


def _observe(report: SweepReport) -> None:
    SWEEP_EXPIRED.inc(report.expired)
    for reason, count in report.withheld.items():
        SWEEP_WITHHELD.labels(reason).inc(count)
    SWEEP_UNEVALUABLE.clear()  # reasons of earlier runs that no longer occur drop out
    for reason, count in report.skipped.items():
        SWEEP_UNEVALUABLE.labels(reason).set(count)
    RECORDS_AWAITING_CLASSIFICATION.set(report.awaiting_classification)
    SWEEP_LAST_SUCCESS.set_to_current_time()


__all__ = ["SWEEP_SOURCE", "SweepReport", "sweep"]
