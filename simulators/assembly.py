"""Assemble a simulator's aiohttp application: admin error shape, fault injection on the system's
own routes, the fault admin routes. Every simulator is built the same way; only its routes differ."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

from aiohttp import web

from simulators.admin import Stats, add_fault_routes, admin_error_middleware
from simulators.faults import FaultHooks, FaultState, fault_middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaultableSimulator(Protocol):
    @property
    def faults(self) -> FaultState: ...

    @property
    def stats(self) -> Stats: ...

    async def busy_response(self, request: web.Request) -> web.StreamResponse: ...

    async def operation_of(self, request: web.Request) -> str: ...


S = TypeVar("S", bound=FaultableSimulator)


def assemble(
    simulator: S,
    key: web.AppKey[S],
    *,
    post: Mapping[str, Handler] | None = None,
    get: Mapping[str, Handler] | None = None,
) -> web.Application:
    hooks = FaultHooks(
        busy_response=simulator.busy_response,
        operation=simulator.operation_of,
        on_fault=simulator.stats.request,
    )
    app = web.Application(middlewares=[admin_error_middleware, fault_middleware(simulator.faults, hooks)])
    app[key] = simulator
    for path, handler in (post or {}).items():
        app.router.add_post(path, handler)
    for path, handler in (get or {}).items():
        app.router.add_get(path, handler)
    add_fault_routes(app, simulator.faults)
    return app
