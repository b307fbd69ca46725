"""Dead letters: list, show, replay (DESIGN.md §4: per target, resumable, with a loop guard)."""

from __future__ import annotations

from datetime import datetime

import structlog
from aiohttp import web

from gateway.api.auth import CLIENT
from gateway.api.errors import ApiError, json_response
from gateway.api.idempotency import idempotency_key, request_hash, run_idempotent
from gateway.api.inputs import as_object, has_body, parse_body, parse_query, path_id, read_json
from gateway.api.keys import IN_FLIGHT, RUNTIME
from gateway.api.models import DeadLetterPage, DeadLetterQuery, ReplayOptions, ReplayQuery, ReplayReportView
from gateway.api.views import dead_letter_detail, dead_letter_view
from gateway.store.database import Tx
from gateway.store.repo import OutboxItem, OutboxStatus, Repo
from gateway.sync.dlq import ReplayReport, replay_one


def _not_found(item_id: int) -> ApiError:
    return ApiError(404, "dead_letter_not_found", f"no dead letter {item_id}", field="id")


def _dead(item: OutboxItem | None) -> OutboxItem | None:
    return item if item is not None and item.status == OutboxStatus.DEAD else None


async def list_dead_letters(request: web.Request) -> web.Response:
    query = parse_query(request, DeadLetterQuery)
    target = query.target.value if query.target is not None else None
    items = await request.app[RUNTIME].db.run(
        lambda tx: Repo(tx).list_outbox(
            status=OutboxStatus.DEAD, target=target, after_id=query.after_id, limit=query.limit
        ),
        write=False,
    )
    page = DeadLetterPage(
        items=[dead_letter_view(item) for item in items],
        next_after_id=items[-1].id if len(items) == query.limit else None,
    )
    return json_response(page.model_dump(mode="json", by_alias=True))


async def get_dead_letter(request: web.Request) -> web.Response:
    item_id = path_id(request)
    item = _dead(await request.app[RUNTIME].db.run(lambda tx: Repo(tx).get_outbox(item_id), write=False))
    if item is None:
        raise _not_found(item_id)
    structlog.contextvars.bind_contextvars(record_id=item.record_id)
    return json_response(dead_letter_detail(item).model_dump(mode="json", by_alias=True))


async def _options(request: web.Request, max_bytes: int) -> ReplayOptions:
    """Options from the query (`?dry_run=true`) or from a JSON body — one or the other."""
    query = parse_query(request, ReplayQuery)
    if not has_body(request):
        return ReplayOptions(dry_run=query.dry_run, force=query.force)
    if request.query:
        name = next(iter(request.query))
        raise ApiError(
            422, "invalid_parameter", "give replay options in the query or in the body, not both", field=name
        )
    return parse_body(ReplayOptions, as_object(await read_json(request, max_bytes=max_bytes)))


async def replay_dead_letter(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    client = request[CLIENT]
    key = idempotency_key(request)
    item_id = path_id(request)
    options = await _options(request, runtime.settings.max_body_bytes)
    max_replays = runtime.settings.max_replays

    def work(tx: Tx, now: datetime) -> tuple[int, ReplayReportView]:
        if _dead(Repo(tx).get_outbox(item_id)) is None:
            raise _not_found(item_id)  # unknown, or no longer dead (already replayed or superseded)
        # The one-dead-letter step of dlq.replay(): replay() commits each item on its own, but
        # here the verdict and the stored response must commit together in this unit.
        verdict = replay_one(
            tx, item_id, dry_run=options.dry_run, force=options.force, max_replays=max_replays, now=now
        )
        report = ReplayReport(dry_run=options.dry_run, last_id=item_id)
        getattr(report, verdict).append(item_id)
        return 200, ReplayReportView.model_validate(report.as_json())

    stored = await run_idempotent(
        runtime.committer,
        request.app[IN_FLIGHT],
        client=client.client_id,
        key=key,
        # The effective options, so `?dry_run=true` and `{"dry_run": true}` are the same request.
        fingerprint=request_hash(request.method, request.path, options.model_dump()),
        now=runtime.clock(),
        work=work,
    )
    if not stored.replayed and not options.dry_run:
        runtime.dispatcher.wake()
    return stored.response()
