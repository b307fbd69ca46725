"""Refusing work the gateway should not start: shed before anything is read or written.

/v1/ writes are refused 503 + Retry-After while the gateway drains (SIGTERM), while the database
does not answer, and while the backlog or the commit queue is past its bound (settings
`overload_*`); reads only while the database does not answer. A store failure that says the
database is gone (StoreUnavailable) becomes the same 503 wherever it happens, and marks the
database down at once. Requests being served are counted so that a drain can wait for them.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.api.errors import ApiError, Handler
from gateway.api.keys import DECISIONS, RUNTIME
from gateway.observability import SHED
from gateway.pressure import DATABASE_UNAVAILABLE, Refusal
from gateway.store.database import StoreUnavailable

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Serving:
    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def idle(self) -> None:
        await self._idle.wait()


# The requests this process is serving now, for the drain to wait on.
SERVING = web.AppKey[Serving]("serving")


def refused(refusal: Refusal, retry_after_s: int, *, draining: bool) -> ApiError:
    SHED.labels(refusal.code).inc()
    headers = {"Retry-After": str(retry_after_s)}
    if draining:
        headers["Connection"] = "close"  # a kept-alive client reconnects, to another replica
    return ApiError(503, refusal.code, refusal.message, headers=headers)


@web.middleware
async def pressure_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    runtime = request.app[RUNTIME]
    pressure = runtime.pressure
    retry_after = runtime.settings.overload_retry_after_s
    queued = runtime.committer.queued + request.app[DECISIONS].queued
    refusal = pressure.refusal(write=request.method in WRITES, commit_queue=queued)
    if refusal is not None:
        raise refused(refusal, retry_after, draining=pressure.draining)
    serving = request.app[SERVING]
    serving.enter()
    try:
        return await handler(request)
    except StoreUnavailable:
        pressure.database_up = False  # until the pressure check reads it again
        unavailable = Refusal(DATABASE_UNAVAILABLE, "the database does not answer: retry later")
        raise refused(unavailable, retry_after, draining=pressure.draining) from None
    finally:
        serving.leave()
