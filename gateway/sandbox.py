"""Client of the simulators' admin API (docs/protocols.md §3), for the demo, the end-to-end tests
and the benchmarks: read what each system shows, act as its operator, inject faults.

What a system shows is mapped through the gateway's own mappings, so a comparison with the
canonical state (gateway.domain.agreement) tests the mappings too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from gateway.contract import NativeChange, UnmappableRow
from gateway.domain.model import TargetState
from gateway.settings import Settings
from gateway.sync.connectors import MAPPINGS, SPECS

# 移出原因 that pairs with each 列入原因 on the 经营异常名录 (domain.md §3.1).
REMOVAL_FOR_CAUSE = {"1": "1", "2": "2", "3": "3", "4": "5"}


def row_kind(system: str, row: Mapping[str, Any]) -> str:
    """The row's kind, from the member its connector names (信用中国 ROWTYPE, GSXT table)."""
    return str(row.get(SPECS[system].kind_field) or "")


def simulator_configs(settings: Settings) -> dict[str, Any]:
    """Configs for `serve --simulate`: the file-drop departments upload into the drop directories
    the gateway's adapters read (CREDITGW_STATISTICS__DROP_DIR, CREDITGW_CIVIL_AFFAIRS__DROP_DIR)."""
    from simulators.civil_affairs import CivilAffairsConfig
    from simulators.statistics import StatisticsConfig

    return {
        "statistics": StatisticsConfig(drop_dir=settings.statistics.drop_dir),
        "civil_affairs": CivilAffairsConfig(drop_dir=settings.civil_affairs.drop_dir),
    }


def record_id_of(system: str, row: Mapping[str, Any]) -> str | None:
    observation = MAPPINGS[system].to_observation(_as_change(system, row))
    return observation.facts.record_id if observation else None


def _as_change(system: str, row: Mapping[str, Any]) -> NativeChange:
    return NativeChange(
        change_key="sandbox",
        source_version="",
        changed_at=datetime.now(UTC),
        kind=row_kind(system, row),
        native_id=None,
        row=row,
    )


class SimulatorUnavailable(RuntimeError):
    """A simulator that could not start its backing service (the 前置库 without MariaDB)."""


async def simulated_frontdb(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """Where a simulated 前置库 keeps its table (`GET /admin/info`: host, port, user, database,
    table), for the sandbox to configure the adapter with; RuntimeError when MariaDB is missing.
    The adapter itself is configured by settings and never asks the simulator."""
    async with http.get(f"{url}/admin/info") as resp:
        info = dict(await resp.json())
    if resp.status != 200 or not info.get("available"):
        raise RuntimeError(f"the simulated 前置库 at {url} has no database: {info.get('error') or info}")
    return {name: info[name] for name in ("host", "port", "user", "database", "table")}


class Sandbox:
    def __init__(self, http: aiohttp.ClientSession, urls: Mapping[str, str]) -> None:
        self.http = http
        self.urls = dict(urls)

    async def _json(self, method: str, system: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, f"{self.urls[system]}{path}", **kwargs) as resp:
            body = await resp.json()
            if resp.status == 503 and isinstance(body, dict) and body.get("code") == "database_unavailable":
                raise SimulatorUnavailable(f"{system}: {body.get('message')}")
            if resp.status >= 400:
                raise RuntimeError(f"{system} {method} {path} → {resp.status}: {body}")
            return body

    async def records(self, system: str, *, published: bool = False) -> list[dict[str, Any]]:
        params = {"published": "1"} if published else {}
        body = await self._json("GET", system, "/admin/records", params=params)
        return list(body["records"])

    async def repair(self, system: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Act as the system's own operator (repair, removal, or restore)."""
        return dict(await self._json("POST", system, "/admin/repair", json=dict(payload)))

    async def remove_entry(self, system: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """A list authority's own removal (`POST /admin/remove`, docs/protocols.md §6); None when
        its rules refuse it yet (409 too_early)."""
        async with self.http.post(f"{self.urls[system]}/admin/remove", json=dict(payload)) as resp:
            body = await resp.json()
            if resp.status == 409 and body.get("code") == "too_early":
                return None
            if resp.status >= 400:
                raise RuntimeError(f"{system} POST /admin/remove → {resp.status}: {body}")
            return dict(body)

    async def upload(self, system: str) -> dict[str, Any]:
        """A file-drop department uploads its snapshot now (`POST /admin/upload`)."""
        return dict(await self._json("POST", system, "/admin/upload"))

    async def set_faults(self, system: str, **faults: Any) -> None:
        await self._json("POST", system, "/admin/faults", json=faults)

    async def clear_faults(self, system: str) -> None:
        await self._json("DELETE", system, "/admin/faults")

    async def stats(self, system: str) -> dict[str, Any]:
        return dict(await self._json("GET", system, "/admin/stats"))

    async def views(self) -> dict[str, dict[str, TargetState]]:
        """record_id → shown state, per system (rows no mapping can read are left out)."""
        views: dict[str, dict[str, TargetState]] = {}
        for system in self.urls:
            if system not in MAPPINGS:
                continue  # not a record system (e.g. the SMS service of the reminders)
            view: dict[str, TargetState] = {}
            try:
                rows = await self.records(system)
            except SimulatorUnavailable:
                continue  # the 前置库 simulator without MariaDB: it shows nothing, and nothing reads it
            for row in rows:
                try:
                    observation = MAPPINGS[system].to_observation(_as_change(system, row))
                except UnmappableRow:
                    continue  # no record to the gateway either: it keeps such a row in quarantine
                if observation is not None:
                    view[observation.facts.record_id] = observation.target
            views[system] = view
        return views
