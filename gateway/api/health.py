"""Probes, metrics and the API's own description."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.errors import ApiError, json_response
from gateway.api.keys import OPENAPI_DOCUMENT, RUNTIME
from gateway.api.models import Liveness, Readiness
from gateway.observability import REGISTRY, get_logger
from gateway.pressure import SHUTTING_DOWN
from gateway.store.migrate import available, schema_version

log = get_logger("creditgw.api.health")

# A probe that hangs is worse than one that fails: the orchestrator's own timeout is usually 1–5 s.
READY_TIMEOUT_S = 2.0


async def livez(request: web.Request) -> web.Response:
    """The process is up and its event loop answers; says nothing about the database."""
    return json_response(Liveness(status="ok").model_dump(mode="json"))


async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: the database answers and its schema is at least what this code expects."""
    runtime = request.app[RUNTIME]
    if runtime.pressure.draining:  # at once on SIGTERM: load balancers stop sending here
        raise ApiError(503, SHUTTING_DOWN, "the gateway is shutting down")
    db = runtime.db
    try:
        version = await asyncio.wait_for(schema_version(db), timeout=READY_TIMEOUT_S)
    except Exception as exc:
        log.warning("readiness_failed", error=type(exc).__name__)
        raise ApiError(503, "database_unavailable", "the database does not answer") from exc
    expected = max((m.version for m in available(db.dialect.name)), default=0)
    if version < expected:
        raise ApiError(
            503,
            "schema_not_migrated",
            f"database schema is at version {version}, this build needs {expected}: run `creditgw migrate`",
        )
    return json_response(Readiness(status="ready", database=db.dialect.name, schema_version=version).model_dump())


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi_document(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_DOCUMENT])
