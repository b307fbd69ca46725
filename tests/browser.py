"""A real headless Chromium for tests, driven over the Chrome DevTools Protocol (CDP).

Debian's `chromium` (`CREDITGW_TEST_CHROMIUM`, default /usr/bin/chromium) runs with
`--headless=new`, a throw-away profile and `--remote-debugging-port=0`; the port it picked is read
from the profile's `DevToolsActivePort` file. The page target is driven with aiohttp's websocket
client (no Selenium, no Playwright): navigate, wait for the load event, read the DOM's tables with
one `Runtime.evaluate`, and collect every console error, uncaught exception and browser log error
(a Content-Security-Policy violation or a failed sub-resource is one of those).

Every wait is on a condition (a file appearing, a CDP event arriving) with a generous deadline, so
a slow machine makes the test slower, never red.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = os.environ.get("CREDITGW_TEST_CHROMIUM", "/usr/bin/chromium")
DEADLINE_S = 120.0  # for each wait: starting the browser, a command's answer, a page's load


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


class BrowserError(RuntimeError):
    """The browser did not start, a CDP command failed, or a wait ran past its deadline."""


@dataclass(frozen=True)
class Table:
    id: str
    caption: str
    head: list[str]
    rows: list[list[str]]
    links: list[list[str]]  # per row, the hrefs (resolved) of its links


@dataclass
class Page:
    """What one navigation produced."""

    url: str
    status: int | None
    title: str
    tables: list[Table]
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, log errors
    content_security_policy: str | None = None

    def table(self, table_id: str) -> Table:
        for table in self.tables:
            if table.id == table_id:
                return table
        raise AssertionError(f"no table #{table_id} on {self.url}; tables: {[t.id for t in self.tables]}")


# Read in the page: every table with its caption, header cells, body rows and the rows' links.
_READ_TABLES = """
JSON.stringify({
  title: document.title,
  tables: Array.from(document.querySelectorAll('table')).map(t => ({
    id: t.id || '',
    caption: t.caption ? t.caption.textContent.trim() : '',
    head: Array.from(t.querySelectorAll('thead th')).map(c => c.textContent.trim()),
    rows: Array.from(t.querySelectorAll('tbody tr')).map(r =>
      Array.from(r.querySelectorAll('td,th')).map(c => c.textContent.trim())),
    links: Array.from(t.querySelectorAll('tbody tr')).map(r =>
      Array.from(r.querySelectorAll('a[href]')).map(a => a.href)),
  })),
})
"""


class Tab:
    """One page target over its CDP websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.errors: list[str] = []
        self.responses: dict[str, tuple[int, dict[str, str]]] = {}  # url → (status, headers)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
                continue
            self._collect(data)
            await self._events.put(data)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserError("the browser closed the DevTools connection"))

    def _collect(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            self.errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text", "")
            self.errors.append(f"exception: {description}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.responseReceived":
            response = params.get("response", {})
            headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
            self.responses[response.get("url", "")] = (int(response.get("status", 0)), headers)

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self._ws.send_str(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        try:
            answer = await asyncio.wait_for(future, DEADLINE_S)
        except TimeoutError:
            raise BrowserError(f"no answer to {method} within {DEADLINE_S} s") from None
        if "error" in answer:
            raise BrowserError(f"{method} failed: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def _wait_for(self, method: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        until = loop.time() + DEADLINE_S
        while True:
            left = until - loop.time()
            if left <= 0:
                raise BrowserError(f"no {method} within {DEADLINE_S} s")
            try:
                event = await asyncio.wait_for(self._events.get(), left)
            except TimeoutError:
                continue
            if event.get("method") == method:
                return event

    async def open(self, url: str) -> Page:
        """Navigate to `url`, wait for its load event, read its tables; errors are those of this page."""
        self.errors = []
        while not self._events.empty():  # events of an earlier page
            self._events.get_nowait()
        navigated = await self.send("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise BrowserError(f"navigating to {url} failed: {navigated['errorText']}")
        await self._wait_for("Page.loadEventFired")
        evaluated = await self.send("Runtime.evaluate", {"expression": _READ_TABLES, "returnByValue": True})
        if "exceptionDetails" in evaluated:
            raise BrowserError(f"reading the page failed: {evaluated['exceptionDetails']}")
        data = json.loads(evaluated["result"]["value"])
        status, headers = self.responses.get(url, (None, {}))
        return Page(
            url=url,
            status=status,
            title=data["title"],
            tables=[Table(**table) for table in data["tables"]],
            errors=list(self.errors),
            content_security_policy=headers.get("content-security-policy"),
        )

    async def close(self) -> None:
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """The port Chromium chose, from the first line of DevToolsActivePort once it is written."""
    marker = profile / "DevToolsActivePort"
    loop = asyncio.get_running_loop()
    until = loop.time() + DEADLINE_S
    while loop.time() < until:
        if process.poll() is not None:
            raise BrowserError(f"{CHROMIUM} exited with {process.returncode} before listening")
        if marker.is_file():
            first = marker.read_text().splitlines()[:1]
            if first and first[0].isdigit():
                return int(first[0])
        await asyncio.sleep(0.05)  # polling a file for a condition, with the deadline above
    raise BrowserError(f"{CHROMIUM} did not open its DevTools port within {DEADLINE_S} s")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Tab]:
    """A fresh headless Chromium with one tab, stopped (and its profile removed) on exit."""
    if not chromium_available():
        raise BrowserError(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    profile = Path(tempfile.mkdtemp(prefix="creditgw-chromium-"))
    command = [
        CHROMIUM,
        "--headless=new",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        "--password-store=basic",
        "--use-mock-keychain",
        *(["--no-sandbox"] if os.geteuid() == 0 else []),  # Chromium's sandbox refuses to run as root
        "about:blank",
    ]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    session: aiohttp.ClientSession | None = None
    tab: Tab | None = None
    try:
        port = await _devtools_port(profile, process)
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE_S))
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            async with session.put(f"http://127.0.0.1:{port}/json/new?about:blank") as response:
                pages = [await response.json()]
        ws = await session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0, heartbeat=None)
        tab = Tab(ws)
        for domain in ("Page", "Runtime", "Log", "Network"):
            await tab.send(f"{domain}.enable")
        yield tab
    finally:
        if tab is not None:
            await tab.close()
        if session is not None:
            await session.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, DEADLINE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait)
        shutil.rmtree(profile, ignore_errors=True)
