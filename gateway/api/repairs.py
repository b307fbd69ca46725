"""POST /v1/repairs — an owner's decision — and GET /v1/repairs/{id} — its progress (进度查询)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

import structlog
from aiohttp import web

from gateway.api.auth import CLIENT
from gateway.api.errors import ApiError, json_response
from gateway.api.idempotency import idempotency_key, request_hash, run_idempotent
from gateway.api.inputs import as_object, parse_body, read_json
from gateway.api.keys import IN_FLIGHT, RUNTIME
from gateway.api.models import RepairAccepted, RepairRequest, TargetStatus
from gateway.api.views import repair_links, repair_progress
from gateway.domain import uscc
from gateway.domain.plan import Action, Decision, DecisionRefused, Policy
from gateway.observability import get_logger
from gateway.store.database import Tx
from gateway.store.repo import Repo
from gateway.sync.ingest import apply_event

log = get_logger("creditgw.api.repairs")

# A decision dated in the future would make every later real decision "stale" (plan() refuses
# decisions older than the current state), locking the record; allow only clock skew.
MAX_CLOCK_SKEW = timedelta(minutes=5)

_REPAIR_ID = re.compile(r"^rep_[0-9a-f]{24}$")

# DecisionRefused codes → (status, field): a missing record is 404; a decision that conflicts
# with the record's current state is 409 (the client must look at the record before deciding again).
_REFUSED = {
    "record_not_found": (404, "record"),
    "invalid_transition": (409, "action"),
    "stale_decision": (409, "decided_at"),
    "decided_in_owner_system": (409, "record"),
}


def new_repair_id() -> str:
    """Random, not derived from the record and version: a repeated decision gets its own page."""
    return "rep_" + secrets.token_hex(12)


def refused(exc: DecisionRefused) -> ApiError:
    status, field = _REFUSED.get(exc.code, (409, None))
    return ApiError(status, exc.code, exc.message, field=field)


def decide(
    tx: Tx, decision: Decision, *, subject_code: str | None, source: str, policy: Policy, now: datetime
) -> RepairAccepted:
    """Apply one decision inside the caller's unit; every refusal raises, so nothing is written."""
    repo = Repo(tx)
    record = repo.load_record(decision.record_id, lock=True)
    if record is None:
        raise ApiError(404, "record_not_found", f"no record {decision.record_id}", field="record")
    if subject_code is not None and uscc.normalise(record.facts.subject_code or "") != subject_code:
        # Say that it differs, never what the record's subject is.
        raise ApiError(422, "subject_mismatch", "the record belongs to another subject", field="subject_code")
    result = apply_event(
        tx, decision, source=source, change_key=None, policy=policy, now=now, repair_id=new_repair_id(), locked=record
    )
    found = repo.get_repair(result.repair_id) if result.repair_id else None
    if result.record_id is None or found is None:
        raise RuntimeError(f"decision on {decision.record_id} produced no repair row")  # a bug, not a 4xx
    _, targets = found
    return RepairAccepted(
        repair_id=found[0]["repair_id"],
        record_id=result.record_id,
        action=decision.action.value,
        outcome=result.outcome,
        version=result.version,
        targets=[TargetStatus(system=t["target"], status=t["status"]) for t in targets],
        links=repair_links(found[0]["repair_id"], result.record_id),
    )


async def submit_repair(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    client = request[CLIENT]
    key = idempotency_key(request)
    payload = as_object(await read_json(request, max_bytes=runtime.settings.max_body_bytes))
    body = parse_body(RepairRequest, payload)
    now = runtime.clock()
    if body.decided_at > now + MAX_CLOCK_SKEW:
        raise ApiError(422, "decided_at_in_future", "decided_at is in the future", field="decided_at")
    record_id = body.record.resolve()
    structlog.contextvars.bind_contextvars(record_id=record_id)
    decision = Decision(
        record_id=record_id,
        action=Action(body.action),
        decided_at=body.decided_at,
        decided_by=body.decided_by,
        note=body.note,
    )
    policy = runtime.policy

    def work(tx: Tx, at: datetime) -> tuple[int, RepairAccepted]:
        accepted = decide(tx, decision, subject_code=body.subject_code, source=client.source, policy=policy, now=at)
        return 202, accepted

    try:
        stored = await run_idempotent(
            runtime.committer,
            request.app[IN_FLIGHT],
            client=client.client_id,
            key=key,
            fingerprint=request_hash(request.method, request.path, payload),
            now=now,
            work=work,
        )
    except DecisionRefused as exc:
        raise refused(exc) from exc
    if stored.replayed:
        log.info("repair_replayed")
    else:
        runtime.dispatcher.wake()  # deliveries are queued: do not wait for the idle poll
        log.info("repair_accepted", action=body.action)
    return stored.response()


async def get_repair(request: web.Request) -> web.Response:
    repair_id = request.match_info["id"]
    found = None
    if _REPAIR_ID.match(repair_id):
        found = await request.app[RUNTIME].db.run(lambda tx: Repo(tx).get_repair(repair_id), write=False)
    if found is None:
        raise ApiError(404, "repair_not_found", f"no repair {repair_id}", field="id")
    repair, targets = found
    structlog.contextvars.bind_contextvars(record_id=repair["record_id"])
    progress = repair_progress(repair, targets, now=request.app[RUNTIME].clock())
    return json_response(progress.model_dump(mode="json", by_alias=True))
