"""The Chromium harness (tests/browser.py) itself: it reads tables and links, and it does see console
errors, uncaught exceptions, failed sub-resources and CSP violations — so a report page test that
finds none means there were none. Served by a real aiohttp server on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer

from tests.browser import chromium

pytestmark = pytest.mark.chromium

_CLEAN = """<!doctype html><html><head><meta charset="utf-8"><title>干净</title>
<link rel="icon" href="data:,"></head><body>
<table id="t"><caption>两行</caption><thead><tr><th>a</th><th>b</th></tr></thead>
<tbody><tr><td>1</td><td><a href="/x?y=1">甲</a></td></tr><tr><td>2</td><td>乙</td></tr></tbody></table>
</body></html>"""

_NOISY = """<!doctype html><html><head><meta charset="utf-8"><title>noisy</title>
<link rel="icon" href="data:,"></head><body>
<img src="/missing.png">
<script>console.error("said so"); throw new Error("boom");</script>
</body></html>"""

_BLOCKED = """<!doctype html><html><head><meta charset="utf-8"><title>csp</title>
<link rel="icon" href="data:,"></head><body><script>document.title = "ran";</script></body></html>"""


def _app() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        pages = {"clean": _CLEAN, "noisy": _NOISY, "blocked": _BLOCKED}
        if name not in pages:
            raise web.HTTPNotFound()
        body = pages[name]
        headers = {"Content-Security-Policy": "default-src 'none'"} if name == "blocked" else {}
        return web.Response(text=body, content_type="text/html", headers=headers)

    app = web.Application()
    app.router.add_get("/{name}", page)
    return app


@pytest.fixture
async def server() -> AsyncIterator[BaseTestServer]:
    async with TestServer(_app(), host="127.0.0.1") as test_server:
        yield test_server


async def test_reads_tables_and_links_of_a_clean_page(server: BaseTestServer) -> None:
    async with chromium() as tab:
        page = await tab.open(str(server.make_url("/clean")))
    assert page.status == 200
    assert page.errors == []
    assert page.title == "干净"
    table = page.table("t")
    assert table.caption == "两行"
    assert table.head == ["a", "b"]
    assert table.rows == [["1", "甲"], ["2", "乙"]]
    assert table.links == [[str(server.make_url("/x?y=1"))], []]


async def test_sees_console_errors_exceptions_failed_loads_and_csp_violations(server: BaseTestServer) -> None:
    async with chromium() as tab:
        noisy = await tab.open(str(server.make_url("/noisy")))
        blocked = await tab.open(str(server.make_url("/blocked")))
        clean = await tab.open(str(server.make_url("/clean")))  # errors are per page, not carried over
    text = "\n".join(noisy.errors)
    assert "console.error: said so" in text
    assert "boom" in text
    assert "404" in text  # the missing image
    assert blocked.title == "csp"  # the inline script did not run …
    assert any("Content Security Policy" in e for e in blocked.errors), blocked.errors  # … and said why
    assert blocked.content_security_policy == "default-src 'none'"
    assert clean.errors == []
