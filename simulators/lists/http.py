"""An HTTP list authority: its register, transport faults and the shared admin API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web

from simulators.admin import Stats
from simulators.assembly import Handler, assemble
from simulators.clock import Clock
from simulators.faults import FaultState
from simulators.lists.base import ListBook, ListDialect, list_admin_routes


class HttpListSimulator:
    """Base of the court, tax and emergency simulators; subclasses add the native routes."""

    expiry_reason = ""

    def __init__(self, dialect: ListDialect, clock: Clock, fault_seed: int) -> None:
        self.clock = clock
        self.stats = Stats()
        self.faults = FaultState(fault_seed)
        self.book = ListBook(dialect, clock, self.stats)

    def reset(self) -> None:
        """Back to the seed records; faults, counters and any session state cleared."""
        self.book.reset()
        self.faults.clear()
        self.stats.clear()
        self.on_reset()

    def on_reset(self) -> None:
        """Subclasses forget their own state here (tokens, …)."""

    def faults_json(self) -> dict[str, Any]:
        return self.stats.to_json(self.faults)

    async def busy_response(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def operation_of(self, request: web.Request) -> str:
        return request.path


S = TypeVar("S", bound=HttpListSimulator)


def build_app(
    simulator: S,
    key: web.AppKey[S],
    *,
    post: Mapping[str, Handler] | None = None,
    get: Mapping[str, Handler] | None = None,
) -> web.Application:
    admin_post, admin_get = list_admin_routes(simulator)
    simulator.reset()
    return assemble(simulator, key, post={**(post or {}), **admin_post}, get={**(get or {}), **admin_get})
