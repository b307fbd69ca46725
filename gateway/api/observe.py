"""Request id, structured request log and latency histogram for every request.

The histogram is labelled by route *template* (`/v1/records/{id}`), never the raw path: a label
per record id would grow without bound and put subject identifiers into the metrics.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from aiohttp import web

from gateway.api.errors import Handler
from gateway.observability import HTTP_REQUESTS, get_logger

log = get_logger("creditgw.api.http")

REQUEST_ID_HEADER = "X-Request-Id"
# Echo a caller's id only when it is harmless in a log line and a header.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    return incoming if incoming is not None and _REQUEST_ID.match(incoming) else uuid.uuid4().hex


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = _request_id(request)
    route = route_template(request)
    method = request.method if request.method in _METHODS else "OTHER"
    # aiohttp serves keep-alive requests of one connection in one task: start from a clean context.
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    try:
        response = await handler(request)
        elapsed = time.perf_counter() - started
        response.headers[REQUEST_ID_HEADER] = request_id
        HTTP_REQUESTS.labels(route, method, f"{response.status // 100}xx").observe(elapsed)
        # Probes and scrapes come every few seconds: keep them out of the info log.
        emit = log.info if route.startswith("/v1/") or response.status >= 400 else log.debug
        emit(
            "http_request",
            method=method,
            route=route,
            status=response.status,
            duration_ms=round(elapsed * 1000, 2),
        )
        return response
    finally:
        structlog.contextvars.clear_contextvars()
