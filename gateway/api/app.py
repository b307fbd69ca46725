"""The aiohttp application of the system-to-system API.

The caller owns the runtime (database, committer, dispatcher): `serve` opens it, starts its
loops and closes it in its own cleanup context; the app only borrows it under a typed key. So
tests and the demo can wrap one runtime in an app without the app closing it under them.
"""

from __future__ import annotations

from aiohttp import web

from gateway.api.auth import (
    GATEKEEPER,
    PRESIGNED_ROUTES,
    RIDING_ROUTES,
    ROUTE_SCOPES,
    Gatekeeper,
    auth_middleware,
    close_gatekeeper,
)
from gateway.api.decisions import decision_bulk
from gateway.api.errors import error_middleware
from gateway.api.idempotency import InFlight
from gateway.api.keys import DECISIONS, IN_FLIGHT, OPENAPI_DOCUMENT, RUNTIME
from gateway.api.observe import observe_middleware
from gateway.api.openapi import load_document
from gateway.api.pressure import SERVING, Serving, pressure_middleware
from gateway.api.routes import ROUTES
from gateway.runtime import Runtime


def create_app(runtime: Runtime) -> web.Application:
    app = web.Application(
        # Outermost first: observe sees the final status of every request (errors included);
        # errors turn anything below into the JSON error shape, authentication failures too;
        # auth checks signature, rate and the route's scope before any handler runs.
        # pressure sheds before auth spends any work (overload, drain, a database that is away).
        middlewares=[observe_middleware, error_middleware, pressure_middleware, auth_middleware],
        # aiohttp refuses larger bodies itself (413) even when they arrive chunked.
        client_max_size=runtime.settings.max_body_bytes,
    )
    app[RUNTIME] = runtime
    app[IN_FLIGHT] = InFlight()
    app[SERVING] = Serving()
    app[DECISIONS] = decision_bulk(runtime.committer, max_batch=runtime.settings.group_commit_max)
    app[GATEKEEPER] = Gatekeeper(runtime)
    app.on_cleanup.append(close_gatekeeper)
    app[ROUTE_SCOPES] = {route.operation_id: route.scope.value for route in ROUTES}
    app[PRESIGNED_ROUTES] = frozenset(route.operation_id for route in ROUTES if route.presigned)
    app[RIDING_ROUTES] = frozenset(route.operation_id for route in ROUTES if route.riders)
    app[OPENAPI_DOCUMENT] = load_document()
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler, name=route.operation_id)
    return app
