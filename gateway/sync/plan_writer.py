"""The one writer of a plan's result (docs/adr/0029-one-plan-writer.md).

Every path that plans a record — a feed's change (alone or a page of them), an owner's decision
from the API (alone or in a batch), the expiry sweep, a quarantined change retried — reads and
writes through a `PlanWriter`:

1. `read(record_ids)`: the records' lock rows first, in record-id order (ADR 0012), then the
   records, their links, our writes they may echo and their queued deliveries, one statement per
   table, whatever the number of records.
2. `plan(event, policy)` plans one event against what was read, with the pure `plan()`;
   `add(...)` collects the rows its result writes, table by table. A record takes at most one
   result per flush: a second event of it must be planned against the first one's result, so the
   caller runs it after the flush (in its own writer).
3. `flush()` writes every table with one statement (the inbox first, so that a change already
   stored writes nothing else) and says, per added result, what was written.

A single change is a batch of one: there is no second code path whose rows must be kept equal to
these, and no test comparing two.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.domain.model import CanonicalRecord, LinkState, Publicity, StopReason, TargetState
from gateway.domain.plan import Action, AuditEntry, Decision, Delivery, Event, Outcome, Plan, Policy, SeenUpdate, plan
from gateway.domain.workdays import Deadline
from gateway.observability import SLA_DEADLINE_ESTIMATED, get_logger
from gateway.store.database import Row, Tx
from gateway.store.repo import Repo, TargetProgress, coalesce

log = get_logger("creditgw.ingest")


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    outcome: str  # an Outcome value, or "duplicate"
    record_id: str | None
    version: int | None = None
    repair_id: str | None = None
    deliveries: int = 0
    # The progress this write gave each target of a repair it started (None: it started none, or
    # it continued an earlier repair, whose progress is in the store).
    targets: Mapping[str, str] | None = None

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


# A progress row before its outbox id is known: (repair, target, status, outbox id or the
# (record, target) of a row this flush inserts, deadline).
_Progress = tuple[str, str, str, "int | tuple[str, str] | None", "Deadline | None"]


@dataclass(kw_only=True)
class _Item:
    """One added result: what it answers and the rows it writes."""

    record_id: str
    result: Plan
    current: CanonicalRecord | None
    source: str
    change_key: str | None
    now: datetime
    repair: tuple[Any, ...] | None = None  # a repairs row it starts
    repair_id: str | None = None
    new_repair: bool = False
    replaced: list[tuple[int, Delivery, str | None]] = field(default_factory=list)
    inserted: list[tuple[Delivery, str | None]] = field(default_factory=list)
    progress: list[_Progress] = field(default_factory=list)
    deadline: Deadline | None = None
    targets: dict[str, str] = field(default_factory=dict)


class PlanWriter:
    """Reads records under their locks, collects planned results, writes them table by table."""

    def __init__(self, tx: Tx) -> None:
        self.repo = Repo(tx)
        self._read: set[str] = set()
        self._records: dict[str, CanonicalRecord] = {}
        self._links: dict[str, dict[str, LinkState]] = {}
        self._pending: dict[tuple[str, str], Row] = {}  # pending outbox rows, locked on PostgreSQL
        self._items: list[_Item] = []
        self.touched: set[str] = set()  # records with a result added since the last flush

    # ---- 1. read ---------------------------------------------------------------------------

    def read(self, record_ids: Iterable[str]) -> None:
        """Lock (first, in record-id order) and read what planning these records needs."""
        wanted = sorted(set(record_ids) - self._read)
        if not wanted:
            return
        self.repo.lock_records(wanted)
        self._records.update(self.repo.load_records(wanted))
        # The pending rows are locked too, so that no dispatcher claims one between this read and
        # its coalescing (a claimed row is then a delivery in flight: a new row queues behind it).
        links, pending = self.repo.links_of(wanted, lock_queue=True)
        self._links.update(links)
        self._pending.update(pending)
        self._read.update(wanted)

    def record(self, record_id: str) -> CanonicalRecord | None:
        self._require_read(record_id)
        return self._records.get(record_id)

    def links(self, record_id: str) -> dict[str, LinkState]:
        self._require_read(record_id)
        return self._links.get(record_id, {})

    def plan(self, event: Event, policy: Policy) -> Plan:
        """`plan()` against what was read. Raises DecisionRefused (nothing collected)."""
        record_id = _record_id(event)
        return plan(event, self.record(record_id), self.links(record_id), policy)

    # ---- 2. collect ------------------------------------------------------------------------

    def add(
        self,
        event: Event | None,
        result: Plan,
        *,
        source: str,
        policy: Policy | None,
        now: datetime,
        change_key: str | None = None,
        repair_id: str | None = None,
    ) -> int:
        """Collect what `result` (planned from `event` against what was read; None: a plan of the
        gateway's own, such as a withheld copy) writes; returns its index in `flush()`'s answer.

        A decision starts a repair (its progress page), as does a system's own change that moved
        the state; a decision repeating one already in force continues the earlier repair."""
        record_id = result.record.record_id if result.record is not None else _record_id(event)
        if event is not None and _record_id(event) != record_id:
            raise ValueError(f"a plan of {record_id} added for an event of {_record_id(event)}")
        self._require_read(record_id)
        if record_id in self.touched:
            raise ValueError(f"{record_id} already has a result in this flush: plan it again after it")
        self.touched.add(record_id)
        current = self._records.get(record_id)
        item = _Item(
            record_id=record_id,
            result=result,
            current=current,
            source=source,
            change_key=change_key,
            now=now,
        )
        record = result.record
        state_moved = result.outcome is Outcome.CHANGED and (
            current is None or record is None or current.state.target != record.state.target
        )
        repeat_of = None
        if isinstance(event, Decision) and result.outcome is Outcome.UNCHANGED and record is not None:
            repeat_of = self.repo.repair_for_version(record_id, record.state.version)
        if repeat_of is not None:
            item.repair_id = repeat_of
        elif event is not None and record is not None and (isinstance(event, Decision) or state_moved):
            assert policy is not None
            item.repair_id = repair_id or change_repair_id(record_id, record.state.version)
            item.new_repair = True
            decision = event if isinstance(event, Decision) else None
            action = (
                decision.action.value
                if decision is not None
                else action_between(current.state.target if current else None, record.state.target)
            )
            decided_at = decision.decided_at if decision is not None else record.state.decided_at
            item.repair = (
                item.repair_id,
                record_id,
                action,
                source,
                decision.decided_by if decision is not None else record.state.decided_by,
                decided_at,
                now,
                record.state.version,
                result.outcome.value,
            )
            if policy.sla is not None:
                item.deadline = policy.sla.deadline(decided_at)
            delivered = {d.system for d in result.deliveries}
            # A decision never goes to an owner that decides only in itself (plan.Policy.decision_targets).
            shown_by = (
                policy.decision_targets(record.facts) if decision is not None else policy.publishers(record.facts)
            )
            for target in shown_by:
                if target not in delivered and target != source:
                    self._progress(item, target, TargetProgress.IN_SYNC, None)
        for delivery in result.deliveries:
            self._enqueue(item, delivery)
        self._items.append(item)
        return len(self._items) - 1

    def _progress(self, item: _Item, target: str, status: str, outbox: int | tuple[str, str] | None) -> None:
        assert item.repair_id is not None
        deadline = item.deadline if item.new_repair else None
        item.progress.append((item.repair_id, target, status, outbox, deadline))
        item.targets[target] = status

    def _enqueue(self, item: _Item, delivery: Delivery) -> None:
        """Only the newest state of a (record, target) is pending: replace a pending row of an
        older version, keep one of this version or newer, else add a row."""
        repair_id = item.repair_id
        queued = coalesce(self._pending.get((delivery.record_id, delivery.system)), delivery, repair_id)
        if queued.supersedes is not None:
            item.progress.append((queued.supersedes, delivery.system, TargetProgress.SUPERSEDED, None, None))
        outbox: int | tuple[str, str]
        if queued.keep is not None:
            outbox = queued.keep
        elif queued.replace is not None:
            item.replaced.append((queued.replace, delivery, repair_id))
            outbox = queued.replace
        else:
            item.inserted.append((delivery, repair_id))
            outbox = (delivery.record_id, delivery.system)
        if repair_id is not None:
            self._progress(item, delivery.system, TargetProgress.PENDING, outbox)

    # ---- 3. write --------------------------------------------------------------------------

    def flush(self) -> list[ApplyResult]:
        """Write every collected result, one statement per table; one answer per `add`, in order.
        The writer can then be used again (its reads are kept; records written are read anew)."""
        items, self._items = self._items, []
        self._read -= self.touched  # what was written must be read again before it is planned again
        self.touched = set()
        if not items:
            return []
        repo = self.repo
        now = max(item.now for item in items)  # a batch is written after its last acceptance
        keyed = [item for item in items if item.change_key is not None]
        new_keys: set[str] = set()
        if keyed:
            sources = {item.source for item in keyed}
            if len(sources) != 1:
                raise ValueError(f"changes of several systems in one flush: {sorted(sources)}")
            new_keys = repo.record_inbox(
                keyed[0].source, [(i.change_key or "", i.record_id, i.result.outcome.value) for i in keyed], now
            )
        # In record-id order, as the records were locked: two replicas creating the same records
        # wait on each other in one order, never in a cycle.
        written = sorted(
            (item for item in items if item.change_key is None or item.change_key in new_keys),
            key=lambda item: item.record_id,
        )
        created: list[CanonicalRecord] = []
        states: list[CanonicalRecord] = []
        updated: list[CanonicalRecord] = []
        seen: list[tuple[str, SeenUpdate]] = []
        audits: list[tuple[str, AuditEntry]] = []
        for item in written:
            result, record = item.result, item.result.record
            if record is None:
                continue
            if result.changed:
                if item.current is None:
                    created.append(record)
                elif record.facts is item.current.facts:
                    states.append(record)  # most changes move only the state: skip the facts
                else:
                    updated.append(record)
            if result.seen is not None:
                seen.append((record.record_id, result.seen))
            audits.extend((record.record_id, entry) for entry in result.audit)
        repo.insert_records(created, now)
        repo.save_states(states, now)
        repo.save_records(updated, now)
        repo.save_seen_many(seen, now)
        repo.add_audits(audits, now)
        repo.create_repairs([item.repair for item in written if item.repair is not None])
        repo.replace_pending([row for item in written for row in item.replaced], now)
        ids = repo.insert_pending([row for item in written for row in item.inserted], now)
        repo.write_progress(
            [
                (repair_id, target, status, ids[outbox] if isinstance(outbox, tuple) else outbox, deadline)
                for item in written
                for repair_id, target, status, outbox, deadline in item.progress
            ],
            now,
        )
        for item in written:
            if item.deadline is not None and item.new_repair and item.progress:
                assert item.repair_id is not None
                report_estimated(item.deadline, repair_id=item.repair_id, record_id=item.record_id)
        return [_answer(item, item in written) for item in items]

    def _require_read(self, record_id: str) -> None:
        if record_id not in self._read:
            raise RuntimeError(f"{record_id} planned without being read under its lock (PlanWriter.read)")


def _answer(item: _Item, written: bool) -> ApplyResult:
    if not written:
        return ApplyResult(outcome="duplicate", record_id=None)
    record = item.result.record
    return ApplyResult(
        outcome=item.result.outcome.value,
        record_id=item.record_id,
        version=record.state.version if record is not None else None,
        repair_id=item.repair_id,
        deliveries=len(item.result.deliveries),
        targets=dict(item.targets) if item.new_repair else None,
    )


def _record_id(event: Event | None) -> str:
    if event is None:
        raise ValueError("a plan without a record needs its event")
    return event.record_id if isinstance(event, Decision) else event.facts.record_id


def apply_event(
    tx: Tx,
    event: Event,
    *,
    source: str,
    change_key: str | None,
    policy: Policy,
    now: datetime,
    repair_id: str | None = None,
) -> ApplyResult:
    """Plan and write one event: a `PlanWriter` batch of one. Raises DecisionRefused (nothing
    written) for a refused decision."""
    writer = PlanWriter(tx)
    writer.read([_record_id(event)])
    result = writer.plan(event, policy)
    writer.add(event, result, source=source, policy=policy, now=now, change_key=change_key, repair_id=repair_id)
    return writer.flush()[0]


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


__all__ = ["ApplyResult", "PlanWriter", "action_between", "apply_event", "change_repair_id", "report_estimated"]
