"""Fault injection shared by the simulators (docs/protocols.md §3, "Faults").

Transport faults (latency, 5xx, 429, reset, hang, busy) live in one aiohttp middleware; the paging
faults (duplicate pages, out-of-order items) and `reject_keys` are applied by each system's own
handlers through `FaultState`, because only they know what a page or a business key is.
Every probability is drawn from one seeded RNG, so a fault configuration replays identically for
the same sequence of requests. `/admin/*` is never faulted.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

DEFAULT_FAULT_SEED = 20240524
ADMIN_PREFIX = "/admin/"  # never faulted

T = TypeVar("T")

_RATES = ("error_rate", "rate_limit_rate", "reset_rate", "hang_rate", "busy_rate")
_PAGE_RATES = ("duplicate_pages", "out_of_order")


class FaultConfigError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True, kw_only=True)
class FaultConfig:
    """One fault configuration; every knob off by default."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    rate_limit_rate: float = 0.0
    retry_after_s: int = 1
    reset_rate: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 30.0
    busy_rate: float = 0.0
    reject_keys: tuple[str, ...] = field(default_factory=tuple)
    duplicate_pages: float = 0.0  # probability that a page is served twice (true = 1.0)
    out_of_order: float = 0.0  # probability that a page's items are shuffled (true = 1.0)
    seed: int = DEFAULT_FAULT_SEED

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Validate an admin body; unknown knobs are refused rather than silently ignored."""
        known = {f.name for f in fields(cls)}
        for name in data:
            if name not in known:
                raise FaultConfigError(name, f"unknown fault knob {name!r}")
        values: dict[str, Any] = {}
        for name in _RATES + _PAGE_RATES:
            if name in data:
                values[name] = _probability(name, data[name])
        for name in ("latency_ms", "hang_s"):
            if name in data:
                values[name] = _non_negative(name, data[name])
        if "retry_after_s" in data:
            values["retry_after_s"] = int(_non_negative("retry_after_s", data["retry_after_s"]))
        if "error_status" in data:
            status = data["error_status"]
            if not isinstance(status, int) or isinstance(status, bool) or not 500 <= status <= 599:
                raise FaultConfigError("error_status", "error_status must be an integer 500-599")
            values["error_status"] = status
        if "reject_keys" in data:
            keys = data["reject_keys"]
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise FaultConfigError("reject_keys", "reject_keys must be a list of strings")
            values["reject_keys"] = tuple(keys)
        if "seed" in data:
            seed = data["seed"]
            if not isinstance(seed, int) or isinstance(seed, bool):
                raise FaultConfigError("seed", "seed must be an integer")
            values["seed"] = seed
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["reject_keys"] = list(self.reject_keys)
        return body


class FaultState:
    """The live configuration, its RNG and how many faults were injected."""

    def __init__(self, seed: int = DEFAULT_FAULT_SEED) -> None:
        self.config = FaultConfig(seed=seed)
        self._default_seed = seed
        self._rng = random.Random(seed)
        self.injected: Counter[str] = Counter()

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)

    def clear(self) -> None:
        self.configure(FaultConfig(seed=self._default_seed))
        self.injected.clear()

    def fires(self, probability: float) -> bool:
        # Certain and impossible outcomes do not consume randomness, so adding a knob set to 0 or 1
        # does not change the sequence drawn for the others.
        if probability <= 0.0:
            return False
        if probability >= 1.0:
            return True
        return self._rng.random() < probability

    def rejects(self, business_key: str) -> bool:
        if business_key in self.config.reject_keys:
            self.injected["reject_key"] += 1
            return True
        return False

    def duplicate_page(self) -> bool:
        if self.fires(self.config.duplicate_pages):
            self.injected["duplicate_page"] += 1
            return True
        return False

    def maybe_shuffle(self, items: Sequence[T]) -> list[T]:
        shuffled = list(items)
        if len(shuffled) > 1 and self.fires(self.config.out_of_order):
            self.injected["out_of_order"] += 1
            self._rng.shuffle(shuffled)
        return shuffled


@dataclass(frozen=True, kw_only=True)
class FaultHooks:
    """What the middleware needs from a system: its busy answer and how to name an operation."""

    busy_response: Callable[[web.Request], Awaitable[web.StreamResponse]]
    operation: Callable[[web.Request], Awaitable[str]]
    on_fault: Callable[[str, str], None]  # (operation, outcome) for the stats


def fault_middleware(state: FaultState, hooks: FaultHooks) -> Middleware:
    @web.middleware
    async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        config = state.config
        if config.latency_ms > 0:
            await asyncio.sleep(config.latency_ms / 1000)

        if state.fires(config.reset_rate):
            await _count(state, hooks, request, "reset")
            return _reset_connection(request)
        if state.fires(config.hang_rate):
            await _count(state, hooks, request, "hang")
            if not await _hang(request, config.hang_s):
                return web.Response(status=504)  # the client has gone; nothing will be written
        if state.fires(config.error_rate):
            await _count(state, hooks, request, f"http_{config.error_status}")
            return web.Response(status=config.error_status, text="simulated server error\n")
        if state.fires(config.rate_limit_rate):
            await _count(state, hooks, request, "http_429")
            return web.Response(
                status=429,
                headers={"Retry-After": str(config.retry_after_s)},
                text="too many requests\n",
            )
        if state.fires(config.busy_rate):
            await _count(state, hooks, request, "busy")
            return await hooks.busy_response(request)
        return await handler(request)

    return inject_faults


async def _count(state: FaultState, hooks: FaultHooks, request: web.Request, kind: str) -> None:
    state.injected[kind] += 1
    hooks.on_fault(await hooks.operation(request), f"fault_{kind}")


def _reset_connection(request: web.Request) -> web.StreamResponse:
    """Drop the connection with a TCP RST; the returned response can never be written."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER with a zero timeout turns close() into an RST, as a crashing peer would.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    # aiohttp treats the failed write of this response as a premature client disconnection.
    return web.Response(status=500)


async def _hang(request: web.Request, seconds: float) -> bool:
    """Wait `seconds` before answering; False as soon as the client gives up (nothing to answer)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            return False
        await asyncio.sleep(min(0.05, remaining))
    return True


def _probability(name: str, value: Any) -> float:
    if isinstance(value, bool):  # `"duplicate_pages": true` reads naturally for the page faults
        return 1.0 if value else 0.0
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise FaultConfigError(name, f"{name} must be a probability between 0 and 1")
    return float(value)


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultConfigError(name, f"{name} must be a non-negative number")
    return float(value)
