"""Applying owners' decisions (POST /v1/repairs): many in one batch, or one at a time.

This module checks decisions and builds their answers; what a decision writes is written by the
one plan writer (gateway/sync/plan_writer.py, docs/adr/0029-one-plan-writer.md), which reads the
records of all decisions that arrived together (`apply_batch`, fed by a `Bulk`,
gateway/store/bulk.py) under their locks, plans each with the pure `plan()` in arrival order and
writes one statement per table. One decision alone (`decide`) is a batch of one.

The batch leaves a decision to the single path, which runs after the batch has committed, when:
- it repeats a decision already in force (it answers with that earlier repair, read from the store);
- another decision in the same batch already changed its record;
- the batch as a whole failed (a lost race with another replica, a deadlock). The batch is then
  rolled back whole and each of its decisions runs alone, so each caller hears its own outcome.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from gateway.api import riders
from gateway.api.auth import require_record
from gateway.api.errors import ApiError
from gateway.api.idempotency import StoredResponse, answer_stored, dump_response, idempotent_unit
from gateway.api.models import RepairAccepted, TargetStatus
from gateway.api.riders import Riders
from gateway.api.views import repair_links
from gateway.clients import Grant
from gateway.domain import uscc
from gateway.domain.categories import Category
from gateway.domain.model import CanonicalRecord
from gateway.domain.plan import Action, Decision, DecisionRefused, Outcome, Policy, action_fits, actions_for
from gateway.store.bulk import ALONE, Bulk
from gateway.store.database import Tx, now_utc
from gateway.store.group import GroupCommitter
from gateway.store.repo import Repo
from gateway.sync.plan_writer import ApplyResult, PlanWriter

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
    # Its nonce and audit row, written with its answer (gateway/api/riders.py); None in tests
    # and internal callers that have no signed request.
    riders: Riders | None = None
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


# ---- one at a time ----------------------------------------------------------------------


def decide(tx: Tx, request: DecisionRequest) -> RepairAccepted:
    """Apply one decision inside the caller's unit (a `PlanWriter` batch of one); every refusal
    raises, so nothing is written."""
    writer = PlanWriter(tx)
    written = _plan_all(writer, [request], repeats=True)[0]
    if isinstance(written, BaseException):
        raise written
    assert written is not None
    if written.record_id is None or written.repair_id is None:
        raise RuntimeError(f"decision on {request.decision.record_id} produced no repair")  # a bug, not a 4xx
    targets = written.targets
    if targets is None:  # a repeat: the earlier repair's progress, as stored
        found = Repo(tx).get_repair(written.repair_id)
        if found is None:
            raise RuntimeError(f"decision on {request.decision.record_id} names no stored repair")
        targets = {t["target"]: t["status"] for t in found[1]}
    return _accepted(request, written, targets)


def decide_alone(request: DecisionRequest) -> Callable[[Tx], StoredResponse]:
    """`decide` as the idempotent unit of one request."""
    return idempotent_unit(
        client=request.client,
        key=request.key,
        fingerprint=request.fingerprint,
        now=request.now,
        work=lambda tx, _: (202, decide(tx, request)),
        rider=request.riders,
    )


# ---- in a batch -----------------------------------------------------------------------------

# What the batch says of each request: its answer, its error, or ALONE (run it by itself).
BatchResult = StoredResponse | BaseException | None


def apply_batch(tx: Tx, requests: list[DecisionRequest]) -> list[BatchResult]:
    """Decisions that arrived together: used nonces and stored keys read with one statement each,
    every decision planned and written by one `PlanWriter` flush, every answer, nonce and audit
    row stored with one statement each."""
    repo = Repo(tx)
    results: list[BatchResult] = [ALONE] * len(requests)
    replays = riders.replayed(tx, [r.riders for r in requests])
    for index, request in enumerate(requests):
        if replays[index]:
            results[index] = riders.NonceReplayed(request.client)
    fresh = [index for index in range(len(requests)) if not replays[index]]
    stored = repo.idempotent_of([(requests[i].client, requests[i].key) for i in fresh])
    todo: list[int] = []
    for index in fresh:
        request = requests[index]
        row = stored.get((request.client, request.key))
        if row is None:
            todo.append(index)
            continue
        try:
            results[index] = answer_stored(row, request.fingerprint)
        except ApiError as exc:
            results[index] = exc
    writer = PlanWriter(tx)
    written = _plan_all(writer, [requests[i] for i in todo], repeats=False)
    responses: list[tuple[str, str, str, int, str, datetime]] = []
    for index, outcome in zip(todo, written, strict=True):
        if outcome is None or isinstance(outcome, BaseException):
            results[index] = outcome
            continue
        request = requests[index]
        assert outcome.targets is not None  # a new repair: a repeat was left to the single path
        body = dump_response(_accepted(request, outcome, outcome.targets))
        responses.append((request.client, request.key, request.fingerprint, 202, body, request.now))
        results[index] = StoredResponse(status=202, body=body, replayed=False)
    repo.save_idempotents(responses)
    answered = [
        (rider, result.status)
        for rider, result in zip((r.riders for r in requests), results, strict=True)
        if rider is not None and isinstance(result, StoredResponse)
    ]
    riders.write(tx, answered, max((r.now for r in requests), default=None) or now_utc())
    return results


def _plan_all(
    writer: PlanWriter, requests: list[DecisionRequest], *, repeats: bool
) -> list[ApplyResult | BaseException | None]:
    """Check, plan and write `requests` in one flush; per request its result, its refusal, or None
    (ALONE) where the batch leaves it to the single path, which runs after the batch has committed:
    a decision whose record an earlier one of the batch changed (it must be planned against that),
    and, unless `repeats`, one repeating a decision already in force (its answer is the earlier
    repair's progress, read from the store)."""
    writer.read(r.decision.record_id for r in requests)
    out: list[ApplyResult | BaseException | None] = [None] * len(requests)
    added: list[tuple[int, int]] = []
    for index, request in enumerate(requests):
        record_id = request.decision.record_id
        if record_id in writer.touched:
            continue
        try:
            checked_record(writer.record(record_id), request.decision, request.subject_code, request.grant)
            result = writer.plan(request.decision, request.policy)
        except DecisionRefused as exc:
            out[index] = refused(exc)
            continue
        except ApiError as exc:
            out[index] = exc
            continue
        if not repeats and (result.outcome is not Outcome.CHANGED or result.record is None):
            continue
        position = writer.add(
            request.decision,
            result,
            source=request.source,
            policy=request.policy,
            now=request.now,
            repair_id=request.repair_id,
        )
        added.append((index, position))
    written = writer.flush()
    for index, position in added:
        out[index] = written[position]
    return out


def _accepted(request: DecisionRequest, written: ApplyResult, targets: Mapping[str, str]) -> RepairAccepted:
    assert written.record_id is not None and written.repair_id is not None
    return accepted(
        written.repair_id,
        written.record_id,
        request.decision.action.value,
        written.outcome,
        written.version,
        dict(targets),
    )


def decision_bulk(committer: GroupCommitter, *, max_batch: int) -> Bulk[DecisionRequest, StoredResponse]:
    """Where POST /v1/repairs hands its decisions: batched by `apply_batch`, else `decide_alone`."""
    return Bulk(committer, apply_batch, decide_alone, max_batch=max_batch, name="decisions")
