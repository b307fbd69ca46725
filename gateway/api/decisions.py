"""Applying owners' decisions (POST /v1/repairs): many in one batch, or one at a time.

One at a time (`decide` inside `idempotency.idempotent_unit`) costs about twenty statements per
decision, each a Python call into the driver and, on PostgreSQL, a network round trip. That is
the reference path, and the path anything unusual takes.

In a batch (`apply_batch`, fed by a `Bulk`, gateway/store/bulk.py), the decisions that arrived together are read
with one statement per table: stored keys, the records (locked in id order), their links and queued
deliveries. Each decision is then planned by the same pure `plan()`, in arrival order, and the
writes go out as one `executemany` per table (docs/adr/0008-decisions-in-batches.md). The rows
written are the ones the single path writes; tests/test_decision_batches.py compares the two.

The batch leaves a decision to the single path, which runs after the batch has committed, when:
- it repeats a decision already in force (it answers with that earlier repair, read from the store);
- another decision in the same batch already changed its record;
- the batch as a whole failed (a lost race with another replica, a deadlock). The batch is then
  rolled back whole and each of its decisions runs alone, so each caller hears its own outcome.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from gateway.api.auth import require_record
from gateway.api.errors import ApiError
from gateway.api.idempotency import StoredResponse, answer_stored, dump_response, idempotent_unit
from gateway.api.models import RepairAccepted, TargetStatus
from gateway.api.views import repair_links
from gateway.clients import Grant
from gateway.domain import uscc
from gateway.domain.categories import Category
from gateway.domain.model import CanonicalRecord
from gateway.domain.plan import (
    Action,
    AuditEntry,
    Decision,
    DecisionRefused,
    Delivery,
    Outcome,
    Plan,
    Policy,
    action_fits,
    actions_for,
    plan,
)
from gateway.domain.workdays import Deadline
from gateway.store.bulk import ALONE, Bulk
from gateway.store.database import Row, Tx
from gateway.store.group import GroupCommitter
from gateway.store.repo import Repo, TargetProgress, coalesce
from gateway.sync.ingest import apply_event, report_estimated

# DecisionRefused codes → (status, field): a missing record is 404; a decision that conflicts
# with the record's current state is 409 (the client must look at the record before deciding again).
_REFUSED = {
    "record_not_found": (404, "record"),
    "invalid_transition": (409, "action"),
    "stale_decision": (409, "decided_at"),
    "decided_in_owner_system": (409, "record"),
    "owner_decides_in_its_own_system": (409, "record"),  # the owner takes no writes (ADR 0028)
    "action_not_for_category": (422, "action"),
}


def new_repair_id() -> str:
    """Random, not derived from the record and version: a repeated decision gets its own page."""
    return "rep_" + secrets.token_hex(12)


def refused(exc: DecisionRefused) -> ApiError:
    status, field_name = _REFUSED.get(exc.code, (409, None))
    return ApiError(status, exc.code, exc.message, field=field_name)


@dataclass(frozen=True, kw_only=True)
class DecisionRequest:
    """One accepted-for-processing POST /v1/repairs: the decision and what answers it."""

    client: str
    key: str  # Idempotency-Key
    fingerprint: str  # request_hash of the request
    decision: Decision
    subject_code: str | None
    source: str  # the client's system, which is not sent its own decision back
    grant: Grant  # what the client may decide (its authorities and categories)
    policy: Policy
    now: datetime
    repair_id: str = field(default_factory=new_repair_id)


def unfit_action(category: Category, action: Action) -> ApiError | None:
    """422 on `action` when it does not apply to records of `category` (issue 10 item 6)."""
    if action_fits(category, action):
        return None
    allowed = ", ".join(a.value for a in actions_for(category))
    return ApiError(
        422,
        "action_not_for_category",
        f"{action.value} does not apply to {category.value} records (allowed: {allowed})",
        field="action",
    )


def checked_record(
    record: CanonicalRecord | None, decision: Decision, subject_code: str | None, grant: Grant
) -> CanonicalRecord:
    if record is None:
        raise ApiError(404, "record_not_found", f"no record {decision.record_id}", field="record")
    require_record(grant, record.facts)  # 谁认定、谁修复: before anything is written
    if subject_code is not None and uscc.normalise(record.facts.subject_code or "") != subject_code:
        # Say that it differs, never what the record's subject is.
        raise ApiError(422, "subject_mismatch", "the record belongs to another subject", field="subject_code")
    unfit = unfit_action(record.facts.category, decision.action)
    if unfit is not None:
        raise unfit
    return record


def accepted(
    repair_id: str, record_id: str, action: str, outcome: str, version: int | None, targets: dict[str, str]
) -> RepairAccepted:
    return RepairAccepted(
        repair_id=repair_id,
        record_id=record_id,
        action=action,
        outcome=outcome,
        version=version,
        targets=[TargetStatus.model_validate({"system": s, "status": status}) for s, status in sorted(targets.items())],
        links=repair_links(repair_id, record_id),
    )


# ---- one at a time --------------------------------------------------------------------------


def decide(tx: Tx, request: DecisionRequest) -> RepairAccepted:
    """Apply one decision inside the caller's unit; every refusal raises, so nothing is written."""
    repo = Repo(tx)
    decision = request.decision
    record = checked_record(
        repo.load_record(decision.record_id, lock=True), decision, request.subject_code, request.grant
    )
    try:
        result = apply_event(
            tx,
            decision,
            source=request.source,
            change_key=None,
            policy=request.policy,
            now=request.now,
            repair_id=request.repair_id,
            locked=record,
        )
    except DecisionRefused as exc:
        raise refused(exc) from exc
    found = repo.get_repair(result.repair_id) if result.repair_id else None
    if result.record_id is None or found is None:
        raise RuntimeError(f"decision on {decision.record_id} produced no repair row")  # a bug, not a 4xx
    repair, targets = found
    return accepted(
        repair["repair_id"],
        result.record_id,
        decision.action.value,
        result.outcome,
        result.version,
        {t["target"]: t["status"] for t in targets},
    )


def decide_alone(request: DecisionRequest) -> Callable[[Tx], StoredResponse]:
    """`decide` as the idempotent unit of one request."""
    return idempotent_unit(
        client=request.client,
        key=request.key,
        fingerprint=request.fingerprint,
        now=request.now,
        work=lambda tx, _: (202, decide(tx, request)),
    )


# ---- in a batch -----------------------------------------------------------------------------

# What the batch says of each request: its answer, its error, or ALONE (run it by itself).
BatchResult = StoredResponse | BaseException | None


def apply_batch(tx: Tx, requests: list[DecisionRequest]) -> list[BatchResult]:
    repo = Repo(tx)
    results: list[BatchResult] = [ALONE] * len(requests)
    stored = repo.idempotent_of([(r.client, r.key) for r in requests])
    todo: list[int] = []
    for index, request in enumerate(requests):
        row = stored.get((request.client, request.key))
        if row is None:
            todo.append(index)
            continue
        try:
            results[index] = answer_stored(row, request.fingerprint)
        except ApiError as exc:
            results[index] = exc

    record_ids = sorted({requests[i].decision.record_id for i in todo})
    records = repo.load_records(record_ids, lock=True)
    links, pending = repo.links_of(record_ids, lock_queue=True)
    writes = _BatchWrites(pending)
    for index in todo:
        request = requests[index]
        record_id = request.decision.record_id
        if record_id in writes.changed:
            continue  # ALONE: after this batch, against the state it wrote
        try:
            record = checked_record(records.get(record_id), request.decision, request.subject_code, request.grant)
            result = plan(request.decision, record, links.get(record_id, {}), request.policy)
        except DecisionRefused as exc:
            results[index] = refused(exc)
            continue
        except ApiError as exc:
            results[index] = exc
            continue
        if result.outcome is not Outcome.CHANGED or result.record is None:
            continue  # ALONE: a repeat answers with the earlier repair, which the single path finds
        results[index] = writes.add(request, result)
    writes.flush(repo)
    return results


class _BatchWrites:
    """The rows a batch of changed decisions writes, table by table, in the single path's order."""

    def __init__(self, pending: dict[tuple[str, str], Row]) -> None:
        self._pending = pending  # pending outbox rows by (record, target), as read under lock
        self.changed: set[str] = set()
        self.states: list[CanonicalRecord] = []
        self.audits: list[tuple[str, AuditEntry]] = []
        self.repairs: list[tuple[Any, ...]] = []
        self.replaced: list[tuple[int, Delivery, str | None]] = []
        self.inserted: list[tuple[Delivery, str | None]] = []
        self.waiting: list[tuple[str, str, str]] = []  # (repair, target, record): on the new outbox row
        self.progress: list[tuple[str, str, str, int | None]] = []  # (repair, target, status, outbox id)
        self.deadlines: list[tuple[str, date, bool]] = []
        self.estimated: list[tuple[Deadline, str, str]] = []
        self.responses: list[tuple[str, str, str, int, str, datetime]] = []

    def add(self, request: DecisionRequest, result: Plan) -> StoredResponse:
        record = result.record
        assert record is not None
        record_id, repair_id, decision = record.record_id, request.repair_id, request.decision
        self.changed.add(record_id)
        self.states.append(record)
        self.audits.extend((record_id, entry) for entry in result.audit)
        self.repairs.append(
            (
                repair_id,
                record_id,
                decision.action.value,
                request.source,
                decision.decided_by,
                decision.decided_at,
                request.now,
                record.state.version,
                result.outcome.value,
            )
        )
        targets: dict[str, str] = {}
        delivered = {d.system for d in result.deliveries}
        for system in request.policy.decision_targets(record.facts):
            if system not in delivered and system != request.source:
                self.progress.append((repair_id, system, TargetProgress.IN_SYNC, None))
                targets[system] = TargetProgress.IN_SYNC
        for delivery in result.deliveries:
            self._enqueue(delivery, repair_id)
            targets[delivery.system] = TargetProgress.PENDING
        sla = request.policy.sla
        if sla is not None and targets:
            deadline = sla.deadline(decision.decided_at)
            self.deadlines.append((repair_id, deadline.due, deadline.estimated))
            self.estimated.append((deadline, repair_id, record_id))
        body = dump_response(
            accepted(repair_id, record_id, decision.action.value, result.outcome.value, record.state.version, targets)
        )
        self.responses.append((request.client, request.key, request.fingerprint, 202, body, request.now))
        return StoredResponse(status=202, body=body, replayed=False)

    def _enqueue(self, delivery: Delivery, repair_id: str) -> None:
        """Repo.enqueue for a batch: replace a pending row of an older version, else add one."""
        queued = coalesce(self._pending.get((delivery.record_id, delivery.system)), delivery, repair_id)
        if queued.keep is not None:
            self.progress.append((repair_id, delivery.system, TargetProgress.PENDING, queued.keep))
            return
        if queued.supersedes is not None:
            self.progress.append((queued.supersedes, delivery.system, TargetProgress.SUPERSEDED, None))
        if queued.replace is not None:
            self.replaced.append((queued.replace, delivery, repair_id))
        else:
            self.inserted.append((delivery, repair_id))
        self.waiting.append((repair_id, delivery.system, delivery.record_id))

    def flush(self, repo: Repo) -> None:
        if not self.responses:
            return
        now = max(response[5] for response in self.responses)  # the batch is written after its last acceptance
        repo.save_states(self.states, now)
        repo.add_audits(self.audits, now)
        repo.create_repairs(self.repairs)
        repo.replace_pending(self.replaced, now)
        repo.insert_pending(self.inserted, now)
        repo.set_targets_pending(self.waiting, now)
        repo.set_targets_progress(self.progress, now)
        repo.set_deadlines(self.deadlines)
        repo.save_idempotents(self.responses)
        for deadline, repair_id, record_id in self.estimated:
            report_estimated(deadline, repair_id=repair_id, record_id=record_id)


def decision_bulk(committer: GroupCommitter, *, max_batch: int) -> Bulk[DecisionRequest, StoredResponse]:
    """Where POST /v1/repairs hands its decisions: batched by `apply_batch`, else `decide_alone`."""
    return Bulk(committer, apply_batch, decide_alone, max_batch=max_batch, name="decisions")
