"""HTTP load generators: closed loop (C workers, each sends its next request when the last one
answered) and open loop (requests started at a fixed rate, whatever the answers do).

Requests come from a factory called with 0, 1, 2, …; it returns None when it has no more (every
request of a benchmark repairs a different record, so the supply is finite): the load then ends
early and says so (`exhausted`). Only requests that complete inside the measured window count;
the warm-up before it opens connections and warms caches. Every answer must carry the expected
status; anything else (or a transport error) counts as an error, with a few samples kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp

from bench.processes import CpuMeter, cpu_seconds
from bench.stats import Summary, rounded
from gateway.signing import Credentials, sign_headers

_ERROR_SAMPLES = 5
_CLIENT, _SERVER = "client", "server"


@dataclass(frozen=True, kw_only=True)
class Request:
    path: str
    body: bytes
    headers: Mapping[str, str]


RequestFactory = Callable[[int], Request | None]


@dataclass(kw_only=True)
class LoadResult:
    label: str
    seconds: float  # length of the measured window (shorter when the requests ran out)
    latencies_s: list[float] = field(default_factory=list)  # of the good answers in the window
    errors: int = 0  # in the window
    statuses: Counter[str] = field(default_factory=Counter)  # every answer, warm-up included
    error_samples: list[str] = field(default_factory=list)
    sent: int = 0  # requests started, warm-up included
    exhausted: bool = False
    client_cpu_s: float = 0.0  # this process's CPU time during the window
    server_cpu_s: float | None = None  # the server's, when its pid was given
    other_cpu_s: dict[str, float] = field(default_factory=dict)  # of the `also_cpu` processes

    @property
    def completed(self) -> int:
        return len(self.latencies_s)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    @property
    def latency(self) -> Summary:
        return Summary.of(self.latencies_s)

    def cpu_share(self, seconds: float | None) -> float | None:
        """CPU time as a share of one core over the window."""
        return None if seconds is None or self.seconds <= 0 else seconds / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "rps": rounded(self.rate, 1),
            "completed": self.completed,
            "errors": self.errors,
            "window_s": rounded(self.seconds, 2),
            "records_ran_out": self.exhausted,
            "latency": self.latency.as_json("ms"),
            "client_cpu": _share(self.cpu_share(self.client_cpu_s)),
            "server_cpu": _share(self.cpu_share(self.server_cpu_s)),
            "statuses": dict(self.statuses),
            "error_samples": self.error_samples,
        }


def _share(value: float | None) -> float | None:
    return None if value is None else rounded(value, 2)


class _Window:
    """The measured window and what happened in it."""

    def __init__(
        self, result: LoadResult, expect: int, server_pid: int | None, also_cpu: Mapping[str, Callable[[], float]]
    ) -> None:
        self.result = result
        self.expect = expect
        # One meter for every process measured over the window: this one (the client), the
        # server when its pid is known, and any other (`also_cpu`, e.g. the database's).
        server = {_SERVER: partial(cpu_seconds, server_pid)} if server_pid else {}
        self._cpu = CpuMeter({_CLIENT: cpu_seconds, **server, **also_cpu})
        self.start = float("inf")
        self.end = float("inf")
        self.last_completion = 0.0

    @property
    def opened(self) -> bool:
        return self.start != float("inf")

    def open(self) -> None:
        if self.opened:
            return
        self.start = time.perf_counter()
        self._cpu.start()

    def close(self, now: float) -> None:
        if not self.opened:  # the requests ran out during the warm-up: nothing was measured
            self.end = self.start
            return
        self.end = min(self.end, now)
        spent = self._cpu.stop()
        self.result.client_cpu_s = spent.pop(_CLIENT)
        server = spent.pop(_SERVER, math.nan)
        self.result.server_cpu_s = None if math.isnan(server) else server  # none given, or it exited
        self.result.other_cpu_s = spent

    def record(self, started: float, status: int | None, detail: bytes) -> None:
        finished = time.perf_counter()
        result = self.result
        result.statuses[str(status) if status is not None else "transport_error"] += 1
        if not self.start <= finished <= self.end:
            return
        self.last_completion = finished
        if status == self.expect:
            result.latencies_s.append(finished - started)
            return
        result.errors += 1
        if len(result.error_samples) < _ERROR_SAMPLES:
            result.error_samples.append(f"{status}: {detail[:300].decode('utf-8', errors='replace')}")


async def _send(
    session: aiohttp.ClientSession, base_url: str, request: Request, credentials: Credentials | None
) -> tuple[int | None, bytes]:
    """(status, body), or (None, what went wrong) when there was no answer. With `credentials`
    the request is signed here, just before it is sent (docs/signing.md): the signing is the
    client's CPU, and its timestamp is fresh however long the request waited for a slot."""
    headers = request.headers
    if credentials is not None:
        headers = {**headers, **sign_headers(credentials, "POST", request.path, request.body)}
    try:
        async with session.post(base_url + request.path, data=request.body, headers=headers) as resp:
            return resp.status, await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return None, f"{type(exc).__name__}: {exc}".encode()


def _session(connections: int, timeout_s: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s))


async def closed_loop(
    base_url: str,
    factory: RequestFactory,
    *,
    label: str,
    concurrency: int,
    seconds: float,
    warmup_s: float = 1.0,
    expect: int = 202,
    server_pid: int | None = None,
    also_cpu: Mapping[str, Callable[[], float]] | None = None,
    timeout_s: float = 30.0,
    on_tick: Callable[[float], None] | None = None,
    credentials: Credentials | None = None,
    warmup_requests: int | None = None,
) -> LoadResult:
    """`concurrency` workers send back to back for `warmup_s` then `seconds`. `on_tick(elapsed)` is
    called about every 100 ms of the window (e.g. to sample memory at a point of the run).
    `also_cpu`: other processes whose CPU time over the window to measure (e.g. the database's).
    `warmup_requests`: the warm-up also ends once this many requests were started, so a finite
    supply is never used up before the window opens, however fast or slow the machine is."""
    result = LoadResult(label=label, seconds=seconds)
    window = _Window(result, expect, server_pid, also_cpu or {})
    numbers = itertools.count()
    stop = asyncio.Event()
    warmed = asyncio.Event()

    async def worker(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            request = factory(next(numbers))
            if request is None:
                result.exhausted = True
                stop.set()
                return
            result.sent += 1
            if warmup_requests is not None and result.sent >= warmup_requests:
                warmed.set()
            started = time.perf_counter()
            status, detail = await _send(session, base_url, request, credentials)
            window.record(started, status, detail)

    async def clock() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(warmed.wait(), timeout=warmup_s)
        window.open()
        deadline = window.start + seconds
        while not stop.is_set() and (now := time.perf_counter()) < deadline:
            if on_tick is not None:
                on_tick(now - window.start)
            await asyncio.sleep(min(0.1, deadline - now))
        window.close(time.perf_counter())
        stop.set()

    async with _session(concurrency, timeout_s) as session:
        workers = [asyncio.create_task(worker(session)) for _ in range(concurrency)]
        ticker = asyncio.create_task(clock())
        await stop.wait()
        if not ticker.done():  # the requests ran out before the window closed
            ticker.cancel()
            window.close(window.last_completion or time.perf_counter())
        await asyncio.gather(*workers)
    result.seconds = max(0.0, window.end - window.start) if window.opened else 0.0
    return result


async def open_loop(
    base_url: str,
    factory: RequestFactory,
    *,
    label: str,
    rate: float,
    seconds: float,
    expect: int = 202,
    max_in_flight: int = 256,
    server_pid: int | None = None,
    timeout_s: float = 30.0,
    credentials: Credentials | None = None,
) -> LoadResult:
    """Start request i at i / rate seconds for `seconds` (no warm-up: the arrival pattern is the
    point). A start that finds `max_in_flight` requests outstanding waits for a slot, and its
    latency counts from when it was due, so a server falling behind shows in the figures."""
    result = LoadResult(label=label, seconds=seconds)
    window = _Window(result, expect, server_pid, {})
    slots = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task[None]] = set()

    async def one(request: Request, due: float) -> None:
        try:
            status, detail = await _send(session, base_url, request, credentials)
            window.record(due, status, detail)
        finally:
            slots.release()

    async with _session(max_in_flight, timeout_s) as session:
        window.open()
        for number in itertools.count():
            due = window.start + number / rate
            if due >= window.start + seconds:
                break
            request = factory(number)
            if request is None:
                result.exhausted = True
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            result.sent += 1
            task = asyncio.create_task(one(request, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        # Completions after the last start still count: the window closes when all have answered.
        if tasks:
            await asyncio.gather(*list(tasks))
        window.close(time.perf_counter())
    result.seconds = seconds if not result.exhausted else max(0.0, window.end - window.start)
    return result
