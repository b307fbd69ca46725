"""Start every simulated system on loopback, in-process (tests, demo, `serve --simulate`)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from simulators import civil_affairs, court, creditchina_gansu, emergency, gsxt_gansu, hrss, sms, statistics, tax

AppFactory = Callable[[Any], web.Application]

# name -> app factory (called with that system's config, or None for defaults).
# New systems go at the end: `--base-port` gives ports in this order (deploy/compose.yaml relies on it).
SYSTEMS: dict[str, AppFactory] = {
    "creditchina_gansu": creditchina_gansu.create_app,
    "gsxt_gansu": gsxt_gansu.create_app,
    "sms": sms.create_app,  # 全省信用修复协同系统 SMS service (reminders), not a record system
    # The six list authorities (docs/protocols.md §6-§11).
    "court": court.create_app,  # JSON, bearer token
    "tax": tax.create_app,  # SOAP, WS-Security
    "hrss": hrss.create_app,  # 前置库 on MariaDB; this port serves only the admin API
    "emergency": emergency.create_app,  # JSON, HMAC-signed GET
    "statistics": statistics.create_app,  # .xlsx drops; this port serves only the admin API
    "civil_affairs": civil_affairs.create_app,  # GB18030 CSV drops; this port serves only the admin API
}


@dataclass
class SimulatorSet:
    """Running simulators: `urls` and `apps` by system name."""

    urls: dict[str, str]
    apps: dict[str, web.Application]
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)

    async def close(self) -> None:
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()

    async def __aenter__(self) -> SimulatorSet:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class _Starting:
    """What `start_simulators` returns: await it, or use it as `async with`."""

    def __init__(self, start: Callable[[], Any]) -> None:
        self._start = start
        self._set: SimulatorSet | None = None

    def __await__(self) -> Generator[Any, None, SimulatorSet]:
        return self._start().__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> SimulatorSet:
        self._set = await self._start()
        return self._set

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._set is not None:
            await self._set.close()


def start_simulators(
    host: str = "127.0.0.1",
    *,
    base_port: int = 0,
    systems: Mapping[str, AppFactory] | None = None,
    configs: Mapping[str, Any] | None = None,
    shutdown_timeout: float = 1.0,
) -> _Starting:
    """Start each system on its own port: `base_port + i` in registry order, or OS-chosen when 0.

    `sims = await start_simulators()` or `async with start_simulators() as sims:`.
    `configs` maps a system name to its config object (e.g. `CreditChinaConfig(clock=...)`).
    """
    chosen = dict(SYSTEMS if systems is None else systems)
    given = dict(configs or {})
    unknown = set(given) - set(chosen)
    if unknown:
        raise ValueError(f"configs for unknown systems: {sorted(unknown)}")

    async def start() -> SimulatorSet:
        started = SimulatorSet(urls={}, apps={})
        try:
            for index, (name, factory) in enumerate(chosen.items()):
                app = factory(given.get(name))
                # A short shutdown: a simulator has nothing worth waiting for (hung faults included).
                runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout)
                await runner.setup()
                started._runners.append(runner)
                site = web.TCPSite(runner, host, base_port + index if base_port else 0)
                await site.start()
                port = runner.addresses[0][1]
                started.urls[name] = f"http://{_url_host(host)}:{port}"
                started.apps[name] = app
        except BaseException:
            await started.close()
            raise
        return started

    return _Starting(start)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
