"""The closed-loop load generator against a real server on 127.0.0.1: a finite supply of requests
that runs out during the warm-up (a busy machine) ends the load cleanly, and `warmup_requests`
opens the window before the supply is gone, however slow or fast the machine is."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bench.load import Request, RequestFactory, closed_loop


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    async def accept(_request: web.Request) -> web.Response:
        return web.Response(status=202, text="{}")

    app = web.Application()
    app.router.add_post("/v1/repairs", accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _supply(count: int) -> RequestFactory:
    def make(number: int) -> Request | None:
        if number >= count:
            return None
        return Request(path="/v1/repairs", body=b"{}", headers={"Content-Type": "application/json"})

    return make


async def test_requests_running_out_during_the_warm_up_end_the_load_without_error(base_url: str) -> None:
    # The warm-up is far longer than three requests take: the window never opens (the old code
    # closed it anyway and raised KeyError: 'client').
    result = await closed_loop(base_url, _supply(3), label="t", concurrency=2, seconds=1.0, warmup_s=60.0)
    assert result.exhausted and result.sent == 3
    assert result.completed == 0 and result.seconds == 0.0 and result.client_cpu_s == 0.0
    assert sum(result.statuses.values()) == 3


async def test_warmup_requests_open_the_window_before_the_supply_is_gone(base_url: str) -> None:
    result = await closed_loop(
        base_url, _supply(10), label="t", concurrency=1, seconds=60.0, warmup_s=60.0, warmup_requests=2
    )
    assert result.exhausted and result.sent == 10
    # One worker: requests 3…10 start after the window opened and complete inside it.
    assert result.completed >= 8 and result.errors == 0
    assert result.seconds > 0.0
