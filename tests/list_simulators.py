"""Helpers for the list-authority simulator tests: one simulator on loopback, its admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import aiohttp

from simulators.clock import BEIJING, ManualClock
from simulators.runner import start_simulators

START = datetime(2026, 11, 26, 9, 0, tzinfo=BEIJING)


class Sim:
    def __init__(self, http: aiohttp.ClientSession, url: str, clock: ManualClock, app: Any) -> None:
        self.http = http
        self.url = url
        self.clock = clock
        self.app = app

    async def admin(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        async with self.http.request(method, f"{self.url}{path}", **kwargs) as response:
            body = await response.json()
            assert response.status == expect, body
            return body

    async def records(self, *, published: bool = False) -> list[dict[str, Any]]:
        params = {"published": "1"} if published else {}
        return list((await self.admin("GET", "/admin/records", params=params))["records"])

    async def stats(self) -> dict[str, Any]:
        return dict(await self.admin("GET", "/admin/stats"))


@asynccontextmanager
async def running(
    name: str, factory: Callable[[Any], Any], make_config: Callable[[ManualClock], Any]
) -> AsyncIterator[Sim]:
    clock = ManualClock(START)
    config = make_config(clock)
    async with (
        start_simulators(systems={name: factory}, configs={name: config}) as sims,
        aiohttp.ClientSession() as http,
    ):
        yield Sim(http, sims.urls[name], clock, sims.apps[name])
