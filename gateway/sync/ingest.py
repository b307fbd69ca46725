"""Inbound pipeline: one change in, one transaction out.

The inbox row, the new state, the audit trail, the repair's progress rows and the deliveries it
causes commit together (DESIGN.md §4), so a crash leaves either all of it or none of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.model import CanonicalRecord, Publicity, StopReason, TargetState
from gateway.domain.plan import Action, Decision, Event, Observation, Outcome, Plan, Policy, plan
from gateway.domain.sla import SyncSla
from gateway.domain.workdays import Deadline
from gateway.observability import SLA_DEADLINE_ESTIMATED, get_logger
from gateway.store.database import Tx
from gateway.store.repo import Repo, TargetProgress

log = get_logger("creditgw.ingest")


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    outcome: str  # an Outcome value, or "duplicate"
    record_id: str | None
    version: int | None = None
    repair_id: str | None = None
    deliveries: int = 0

    @property
    def duplicate(self) -> bool:
        return self.outcome == "duplicate"


def action_between(before: TargetState | None, after: TargetState) -> str:
    """Name a state change the way a repair's progress page shows it."""
    if after.status is Publicity.PUBLISHED:
        return Action.REVOKE_REPAIR.value if before and before.status is Publicity.STOPPED else "publish"
    return {
        StopReason.REPAIRED: Action.REPAIR,
        StopReason.EXPIRED: Action.EXPIRE,
        StopReason.WITHDRAWN: Action.WITHDRAW,
        StopReason.REMOVED: Action.REMOVE,
    }[after.reason or StopReason.REPAIRED].value


def change_repair_id(record_id: str, version: int) -> str:
    """Deterministic id of the repair that a system's own change started."""
    return "rep_" + hashlib.sha256(f"{record_id}|{version}".encode()).hexdigest()[:24]


def apply_event(
    tx: Tx,
    event: Event,
    *,
    source: str,
    change_key: str | None,
    policy: Policy,
    now: datetime,
    repair_id: str | None = None,
    locked: CanonicalRecord | None = None,
) -> ApplyResult:
    """Plan and persist one event. Raises DecisionRefused (nothing written) for a refused decision.

    `locked`: the record as the caller already loaded under its lock in this transaction, so it
    is not read twice."""
    repo = Repo(tx)
    record_id = event.record_id if isinstance(event, Decision) else event.facts.record_id
    # The record's lock first, before anything of it is read (docs/adr/0012-a-lock-row-per-record.md).
    repo.lock_records([record_id])
    if change_key is not None and not repo.claim_inbox(source, change_key, now):
        return ApplyResult(outcome="duplicate", record_id=None)
    current = locked if locked is not None and locked.record_id == record_id else repo.load_record(record_id)
    links = repo.load_links(record_id)
    result = plan(event, current, links, policy)
    persist(repo, result, current, now=now)

    state_moved = result.outcome is Outcome.CHANGED and (
        current is None or result.record is None or current.state.target != result.record.state.target
    )
    # Every decision gets a repair row (its progress page); a system's own change gets one when
    # it moved the state, so a repair started on GSXT can be followed just like one from the API.
    # A decision repeating one already in force answers with the progress of that earlier repair.
    repeat_of = None
    if isinstance(event, Decision) and result.outcome is Outcome.UNCHANGED and result.record is not None:
        repeat_of = repo.repair_for_version(record_id, result.record.state.version)
    decided_at: datetime | None = None  # set when this event starts a new repair
    if repeat_of is not None:
        repair_id = repeat_of
    elif result.record is not None and (isinstance(event, Decision) or state_moved):
        record = result.record
        if repair_id is None:
            repair_id = change_repair_id(record_id, record.state.version)
        action = (
            event.action.value
            if isinstance(event, Decision)
            else action_between(current.state.target if current else None, record.state.target)
        )
        decided_at = event.decided_at if isinstance(event, Decision) else record.state.decided_at
        repo.create_repair(
            repair_id=repair_id,
            record_id=record_id,
            action=action,
            source=source,
            decided_by=event.decided_by if isinstance(event, Decision) else record.state.decided_by,
            decided_at=decided_at,
            version=record.state.version,
            outcome=result.outcome.value,
            now=now,
        )
        delivered = {d.system for d in result.deliveries}
        # A decision never goes to an owner that decides only in itself (plan.Policy.decision_targets).
        facts = record.facts
        shown_by = policy.decision_targets(facts) if isinstance(event, Decision) else policy.publishers(facts)
        for target in shown_by:
            if target not in delivered and target != source:
                repo.set_target_progress(repair_id, target, TargetProgress.IN_SYNC, now, None)
    else:
        repair_id = None

    for delivery in result.deliveries:
        outbox_id = repo.enqueue(delivery, repair_id, now)
        if repair_id is not None:
            repo.set_target_progress(repair_id, delivery.system, TargetProgress.PENDING, now, outbox_id)
    if repair_id is not None and decided_at is not None and policy.sla is not None:
        _set_deadline(repo, policy.sla, repair_id, record_id, decided_at)
    if change_key is not None:
        repo.set_inbox_outcome(source, change_key, record_id, result.outcome.value)
    return ApplyResult(
        outcome=result.outcome.value,
        record_id=record_id,
        version=result.record.state.version if result.record else None,
        repair_id=repair_id,
        deliveries=len(result.deliveries),
    )


def apply_reports(
    tx: Tx, reports: Sequence[tuple[str, Observation]], *, source: str, policy: Policy, now: datetime
) -> list[str | None]:
    """Several reports of one feed recorded with one statement per table, for the two commonest
    kinds (ADR 0008), `reports` being (change key, observation):
    - quiet reports change nothing but what the gateway knows the system shows: a system echoing a
      state the gateway wrote, or confirming one it already shows;
    - first sightings name a record the gateway does not know yet (at go-live, every record a feed
      holds): the record, its link, its audit row and its deliveries to the mirrors are written.

    Per report, in order: its outcome, or None where it does more (a change, a set-back, an audited
    stale report) or names a record already reported earlier in `reports`: that one goes through
    `apply_event` on its own, after this unit. The rows written are those `apply_event` writes for
    such a report (tests/test_page_ingest.py compares the two)."""
    repo = Repo(tx)
    record_ids = sorted({observation.facts.record_id for _, observation in reports})
    records = repo.load_records(record_ids, lock=True)
    links, _ = repo.links_of(record_ids)
    results: list[str | None] = [None] * len(reports)
    planned: list[tuple[int, str, str, Plan]] = []
    reported: set[str] = set()
    for index, (change_key, observation) in enumerate(reports):
        record_id = observation.facts.record_id
        if record_id in reported:
            continue  # alone, after the report before it
        reported.add(record_id)
        current = records.get(record_id)
        result = plan(observation, current, links.get(record_id, {}), policy)
        if _quiet(result) or (current is None and result.outcome in _FIRST_SIGHT):
            planned.append((index, change_key, record_id, result))
    new = repo.record_inbox(source, [(key, record_id, r.outcome.value) for _, key, record_id, r in planned], now)
    # In record id order, as the records were locked: two replicas creating the same records
    # wait on each other in one order, never in a cycle.
    written = sorted(((rid, r) for _, key, rid, r in planned if key in new), key=lambda item: item[0])
    repo.insert_records([r.record for _, r in written if r.changed and r.record is not None], now)
    repo.save_seen_many([(record_id, r.seen) for record_id, r in written if r.seen is not None], now)
    repo.add_audits([(record_id, entry) for record_id, r in written for entry in r.audit], now)
    # A first sighting starts no repair (apply_event: only a change of state does), so its
    # deliveries wait on no progress row, and no pending delivery of a new record can exist.
    repo.insert_pending([(delivery, None) for _, r in written for delivery in r.deliveries], now)
    for index, key, _, result in planned:
        results[index] = result.outcome.value if key in new else "duplicate"
    return results


def _quiet(result: Plan) -> bool:
    return (
        result.outcome in _QUIET
        and not result.changed
        and not result.audit
        and not result.deliveries
        and result.seen is not None
    )


_QUIET = frozenset({Outcome.UNCHANGED, Outcome.ECHO})
_FIRST_SIGHT = frozenset({Outcome.CREATED, Outcome.PROVISIONAL})


def _set_deadline(repo: Repo, sla: SyncSla, repair_id: str, record_id: str, decided_at: datetime) -> None:
    """The sync SLA: every target row of the new repair is due N working days after the decision."""
    deadline = sla.deadline(decided_at)
    if repo.set_target_deadlines(repair_id, deadline.due, deadline.estimated):
        report_estimated(deadline, repair_id=repair_id, record_id=record_id)


def report_estimated(deadline: Deadline, *, repair_id: str, record_id: str) -> None:
    """A year without calendar data is never taken silently as all workdays: the deadline is marked
    estimated, counted and logged, so that an operator supplies that year's arrangement."""
    if not deadline.estimated:
        return
    SLA_DEADLINE_ESTIMATED.inc()
    log.warning(
        "sla_calendar_gap",
        year=deadline.uncovered_years[0],
        years=list(deadline.uncovered_years),
        repair_id=repair_id,
        record_id=record_id,
        due=deadline.due.isoformat(),
        hint="supply the year's holiday arrangement: CREDITGW_WORKDAY_CALENDAR__<year>__HOLIDAYS / __WORKDAYS"
        " or CREDITGW_WORKDAY_CALENDAR_FILE",
    )


def persist(repo: Repo, result: Plan, current: CanonicalRecord | None, *, now: datetime) -> None:
    """The record, link and audit rows of a plan (its deliveries are the caller's to enqueue)."""
    record = result.record
    if record is None:
        return
    if result.changed:
        if current is not None and record.facts is current.facts:
            repo.save_state(record, now)  # most changes move only the state: skip the facts
        else:
            repo.save_record(record, now, created=current is None)
    if result.seen is not None:
        repo.save_seen(record.record_id, result.seen, now)
    if result.audit:
        repo.add_audit(record.record_id, result.audit, now)
