"""POST /v1/repairs — an owner's decision — GET /v1/repairs — find repairs by filters — and
GET /v1/repairs/{id} — its progress (进度查询)."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timedelta
from functools import partial

import structlog
from aiohttp import web

from gateway.api.auth import CLIENT, RIDERS, require_record
from gateway.api.decisions import DecisionRequest, unfit_action
from gateway.api.errors import ApiError, json_response
from gateway.api.idempotency import counted, idempotency_key, request_hash
from gateway.api.inputs import as_object, parse_body, parse_query, read_json
from gateway.api.keys import DECISIONS, IN_FLIGHT, RUNTIME
from gateway.api.models import RepairListItem, RepairPage, RepairQuery, RepairRequest, RepairTargetStatus
from gateway.api.views import repair_progress, repair_summary
from gateway.domain.model import CanonicalRecord
from gateway.domain.plan import Action, Decision
from gateway.observability import get_logger
from gateway.store.database import Row, Tx, from_db_ts
from gateway.store.repo import Repo

log = get_logger("creditgw.api.repairs")

# A decision dated in the future would make every later real decision "stale" (plan() refuses
# decisions older than the current state), locking the record; allow only clock skew.
MAX_CLOCK_SKEW = timedelta(minutes=5)

_REPAIR_ID = re.compile(r"^rep_[0-9a-f]{24}$")


async def submit_repair(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    client = request[CLIENT]
    key = idempotency_key(request)
    payload = as_object(await read_json(request, max_bytes=runtime.settings.max_body_bytes))
    body = parse_body(RepairRequest, payload)
    now = runtime.clock()
    if body.decided_at > now + MAX_CLOCK_SKEW:
        raise ApiError(422, "decided_at_in_future", "decided_at is in the future", field="decided_at")
    action = Action(body.action)
    # Named by its identity, the record's category is known before any lookup (by record_id, the
    # same check runs on the record itself: decisions.checked_record).
    unfit = unfit_action(body.record.category, action) if body.record.category is not None else None
    if unfit is not None:
        raise unfit
    record_id = body.record.resolve()
    structlog.contextvars.bind_contextvars(record_id=record_id)
    decision = Decision(
        record_id=record_id,
        action=action,
        decided_at=body.decided_at,
        decided_by=body.decided_by,
        note=body.note,
    )
    submitted = DecisionRequest(
        client=client.client_id,
        key=key,
        fingerprint=request_hash(request.method, request.path, payload),
        decision=decision,
        subject_code=body.subject_code,
        source=client.source,
        grant=client,
        policy=runtime.policy,
        now=now,
        riders=request.get(RIDERS),
    )
    with request.app[IN_FLIGHT].hold(client.client_id, key):
        stored = await counted(request.app[DECISIONS].submit(submitted))
    if submitted.riders is not None:
        submitted.riders.written = True  # the unit that answered wrote them (decisions.apply_batch)
    if not stored.replayed:
        runtime.dispatcher.wake()  # deliveries are queued: do not wait for the idle poll
    # Said once, on the request's own log line (observe.py), rather than on a second line.
    structlog.contextvars.bind_contextvars(action=body.action, replayed=stored.replayed)
    return stored.response()


def _read_repair(tx: Tx, *, repair_id: str) -> tuple[Row, list[Row], CanonicalRecord | None] | None:
    repo = Repo(tx)
    found = repo.get_repair(repair_id)
    if found is None:
        return None
    repair, targets = found
    return repair, targets, repo.load_record(repair["record_id"])


def _cursor(row: Row) -> str:
    accepted_at = from_db_ts(row["accepted_at"])
    assert accepted_at is not None
    raw = f"{accepted_at.isoformat()}|{row['repair_id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    """The position a `next_after` cursor names; 422 on `after` for anything else."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, repair_id = raw.partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not _REPAIR_ID.match(repair_id):
            raise ValueError(raw)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApiError(422, "invalid_parameter", "not a cursor this API returned (next_after)", field="after") from None
    return moment, repair_id


async def list_repairs(request: web.Request) -> web.Response:
    """Repairs by record, action, source, target, progress status and acceptance time, oldest
    first, keyset-paged by (accepted_at, repair_id)."""
    query = parse_query(request, RepairQuery)
    after = _after(query.after)
    grant = request[CLIENT]

    def read(tx: Tx) -> tuple[list[Row], dict[str, list[Row]]]:
        repo = Repo(tx)
        rows = repo.find_repairs(
            record_id=query.record_id,
            action=query.action,
            source=query.source,
            target=query.target.value if query.target else None,
            status=query.status,
            accepted_since=query.accepted_since,
            visible=grant.visible(),  # 谁认定: a client lists only repairs of its authorities' records
            after=after,
            limit=query.limit,
        )
        return rows, repo.target_statuses([row["repair_id"] for row in rows])

    rows, targets = await request.app[RUNTIME].db.run(read, write=False)
    items = [
        RepairListItem(
            **repair_summary(row).model_dump(),
            record_id=row["record_id"],
            targets=[
                RepairTargetStatus(system=t["target"], status=t["status"]) for t in targets.get(row["repair_id"], [])
            ],
        )
        for row in rows
    ]
    page = RepairPage(items=items, next_after=_cursor(rows[-1]) if len(rows) == query.limit else None)
    return json_response(page.model_dump(mode="json", by_alias=True))


async def get_repair(request: web.Request) -> web.Response:
    repair_id = request.match_info["id"]
    found = None
    if _REPAIR_ID.match(repair_id):
        found = await request.app[RUNTIME].db.run(partial(_read_repair, repair_id=repair_id), write=False)
    if found is None:
        raise ApiError(404, "repair_not_found", f"no repair {repair_id}", field="id")
    repair, targets, record = found
    if record is not None:
        require_record(request[CLIENT], record.facts)
    structlog.contextvars.bind_contextvars(record_id=repair["record_id"])
    progress = repair_progress(repair, targets, now=request.app[RUNTIME].clock())
    return json_response(progress.model_dump(mode="json", by_alias=True))
