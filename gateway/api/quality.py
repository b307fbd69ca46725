"""Data-collection quality per department and category (seed 任务五; gateway/quality.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from gateway.api.auth import CLIENT
from gateway.api.errors import json_response
from gateway.api.inputs import parse_query
from gateway.api.keys import RUNTIME
from gateway.api.models import CollectionQualityQuery, CollectionQualityReport
from gateway.calendar_data import load_calendar
from gateway.domain.workdays import WorkdayCalendar
from gateway.quality import build_report, publish_metrics, to_csv

if TYPE_CHECKING:
    from gateway.runtime import Runtime

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def calendar_of(runtime: Runtime) -> WorkdayCalendar:
    sla = runtime.policy.sla
    return sla.calendar if sla is not None else load_calendar(runtime.settings)


async def get_collection_quality(request: web.Request) -> web.Response:
    """Computed on request over the records this client may see (its authorities and categories);
    the metrics are refreshed only from a report over every record."""
    query = parse_query(request, CollectionQualityQuery)
    runtime = request.app[RUNTIME]
    grant = request[CLIENT]
    visible = grant.visible()
    calendar = calendar_of(runtime)
    now = runtime.clock()
    category = query.category.value if query.category is not None else None
    report = await runtime.db.run(
        lambda tx: build_report(tx, calendar=calendar, now=now, visible=visible, category=category), write=False
    )
    if visible == (None, None) and category is None:
        publish_metrics(report)
    if query.format == "csv":
        return web.Response(
            body=to_csv(report).encode("utf-8"),
            headers={
                "Content-Type": CSV_CONTENT_TYPE,
                "Content-Disposition": f'attachment; filename="collection-quality-{report.as_of.isoformat()}.csv"',
            },
        )
    return json_response(CollectionQualityReport.model_validate(report.as_json()).model_dump(mode="json"))
