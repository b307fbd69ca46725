"""Quarantined inbound changes: list and show (issue 10 item 9); `creditgw quarantine retry` applies them."""

from __future__ import annotations

from aiohttp import web

from gateway.api.errors import ApiError, json_response
from gateway.api.inputs import parse_query, path_id
from gateway.api.keys import RUNTIME
from gateway.api.models import QuarantineDetail, QuarantinePage, QuarantineQuery, QuarantineView
from gateway.quarantine import view
from gateway.store.repo import Repo


async def list_quarantine(request: web.Request) -> web.Response:
    query = parse_query(request, QuarantineQuery)
    rows = await request.app[RUNTIME].db.run(
        lambda tx: Repo(tx).list_quarantine(
            status=query.status,
            system=query.system.value if query.system is not None else None,
            reason=query.reason,
            after_id=query.after_id,
            limit=query.limit,
        ),
        write=False,
    )
    page = QuarantinePage(
        items=[QuarantineView.model_validate(view(row)) for row in rows],
        next_after_id=int(rows[-1]["id"]) if len(rows) == query.limit else None,
    )
    return json_response(page.model_dump(mode="json"))


async def get_quarantined(request: web.Request) -> web.Response:
    item_id = path_id(request)
    row = await request.app[RUNTIME].db.run(lambda tx: Repo(tx).get_quarantine(item_id), write=False)
    if row is None:
        raise ApiError(404, "quarantine_not_found", f"no quarantined change {item_id}", field="id")
    return json_response(QuarantineDetail.model_validate(view(row, full=True)).model_dump(mode="json"))
