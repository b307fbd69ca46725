"""`creditgw demo`: embedded SQLite + in-process simulators. Seeds, repairs on both sides, waits
until every system agrees, prints what happened. Exit 0 only if everything converged."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from adapters.base import NativeChange
from gateway.domain.agreement import Disagreement, disagreements
from gateway.domain.model import CanonicalRecord, TargetState
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.database import Row, Tx
from gateway.store.repo import Repo, record_from_row
from mappings.registry import MAPPINGS

DEMO_DB = Path("var/demo.db")
_REMOVAL_FOR_CAUSE = {"1": "1", "2": "2", "3": "3", "4": "5"}  # 移出原因 that pairs with each 列入原因


@dataclass
class Scenario:
    name: str
    started_on: str
    record_id: str = ""
    expected: str = ""
    repair_id: str | None = None
    seen: dict[str, str] = field(default_factory=dict)
    latency_s: dict[str, float] = field(default_factory=dict)


async def run_demo(settings: Settings, *, as_json: bool, timeout_s: float, fresh: bool) -> int:
    from simulators import start_simulators

    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    demo_settings = settings.model_copy(
        update={
            "database_url": f"sqlite:///{DEMO_DB}",
            "poll_interval_s": 0.2,
            "dispatch_idle_s": 0.05,
            "retry_base_s": 0.2,
            "reaper_interval_s": 1.0,
        }
    )
    started = time.monotonic()
    sims = await start_simulators()
    runtime = await Runtime.open(demo_settings, urls=dict(sims.urls))
    runner, api_url = await _start_api(runtime)
    try:
        async with aiohttp.ClientSession() as http:
            runtime.start()
            _say(as_json, f"simulators: {json.dumps(sims.urls)}")
            _say(as_json, f"gateway API: {api_url} (SQLite at {DEMO_DB})")
            await _wait_for_sync(runtime, timeout_s)
            initial = await _count_records(runtime)
            _say(as_json, f"initial sync: {initial} records known across both systems")
            scenarios = await _perform_repairs(http, sims.urls, api_url, runtime)
            for scenario in scenarios:
                _say(as_json, f"  started: {scenario.name} ({scenario.started_on})")
            remaining = await _wait_until_agreed(http, runtime, sims.urls, timeout_s)
            await _fill_outcomes(http, runtime, sims.urls, scenarios)
            converged = not remaining and all(set(s.seen.values()) == {s.expected} for s in scenarios if s.expected)
            summary = {
                "converged": converged,
                "records": await _count_records(runtime),
                "disagreements": [d.label for d in remaining],
                "scenarios": [s.__dict__ for s in scenarios],
                "seconds": round(time.monotonic() - started, 2),
            }
            _print_summary(summary, as_json)
            return 0 if converged else 1
    finally:
        await runner.cleanup()
        await runtime.close()
        await sims.close()


def _say(as_json: bool, line: str) -> None:
    if not as_json:
        print(line, flush=True)


async def _start_api(runtime: Runtime) -> tuple[web.AppRunner, str]:
    from gateway.api.app import create_app

    runner = web.AppRunner(create_app(runtime), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def _count_records(runtime: Runtime) -> int:
    return await runtime.db.run(lambda tx: Repo(tx).count("records"), write=False)


async def _outbox_busy(runtime: Runtime) -> int:
    def _busy(tx: Any) -> int:
        return int(tx.scalar("SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'in_flight')") or 0)

    return await runtime.db.run(_busy, write=False)


async def _wait_for_sync(runtime: Runtime, timeout_s: float) -> None:
    """Read both feeds to their end, then let the dispatcher drain."""
    deadline = time.monotonic() + timeout_s
    for poller in runtime.pollers.values():
        await poller.poll_once()
    while await _outbox_busy(runtime) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def _admin_records(http: aiohttp.ClientSession, url: str, **params: str) -> list[dict[str, Any]]:
    async with http.get(f"{url}/admin/records", params=params) as resp:
        resp.raise_for_status()
        body = await resp.json()
    return list(body["records"])


async def _admin_repair(http: aiohttp.ClientSession, url: str, payload: Mapping[str, Any]) -> None:
    async with http.post(f"{url}/admin/repair", json=payload) as resp:
        if resp.status >= 400:
            raise RuntimeError(f"simulator refused repair {payload}: {await resp.text()}")


def _views(rows_by_system: Mapping[str, list[dict[str, Any]]]) -> dict[str, dict[str, TargetState]]:
    """What each system shows, mapped to canonical records through the gateway's own mappings."""
    now = datetime.now(UTC)
    views: dict[str, dict[str, TargetState]] = {}
    for system, rows in rows_by_system.items():
        mapping = MAPPINGS[system]
        view: dict[str, TargetState] = {}
        for row in rows:
            kind = str(row.get("ROWTYPE") or row.get("table") or "")
            change = NativeChange(
                change_key="demo", source_version="", changed_at=now, kind=kind, native_id=None, row=row
            )
            observation = mapping.to_observation(change)
            if observation is not None:
                view[observation.facts.record_id] = observation.target
        views[system] = view
    return views


async def _system_views(http: aiohttp.ClientSession, urls: Mapping[str, str]) -> dict[str, dict[str, TargetState]]:
    rows = {system: await _admin_records(http, url) for system, url in urls.items()}
    return _views(rows)


async def _records(runtime: Runtime) -> list[CanonicalRecord]:
    rows = await runtime.db.run(lambda tx: tx.all("SELECT * FROM records"), write=False)
    return [record_from_row(r) for r in rows]


async def _wait_until_agreed(
    http: aiohttp.ClientSession, runtime: Runtime, urls: Mapping[str, str], timeout_s: float
) -> list[Disagreement]:
    deadline = time.monotonic() + timeout_s
    while True:
        for poller in runtime.pollers.values():
            await poller.poll_once()
        busy = await _outbox_busy(runtime)
        records = await _records(runtime)
        publishers = {r.record_id: runtime.policy.publishers(r.facts) for r in records}
        remaining = disagreements(records, await _system_views(http, urls), publishers)
        if (not remaining and not busy) or time.monotonic() > deadline:
            return remaining
        await asyncio.sleep(0.2)


async def _perform_repairs(
    http: aiohttp.ClientSession, urls: Mapping[str, str], api_url: str, runtime: Runtime
) -> list[Scenario]:
    cc, gs = urls["creditchina_gansu"], urls["gsxt_gansu"]
    gs_rows = await _admin_records(http, gs, published="1")
    cc_rows = await _admin_records(http, cc, published="1")
    punish = [r for r in gs_rows if r.get("table") == "punish"]
    anomalies = [r for r in gs_rows if r.get("table") == "opanomaly"]
    other_keys = {(r["judAuthCode"], r["penDecNo"]) for r in gs_rows if r.get("table") == "otherpunish"}
    cc_other = [r for r in cc_rows if r.get("ROWTYPE") == "CF" and (r.get("CF_CFJGDM"), r.get("CF_WSH")) in other_keys]
    scenarios: list[Scenario] = []

    # 1. SAMR repairs a market-regulation penalty on GSXT → 信用中国 stops publishing it.
    target = punish[0]
    await _admin_repair(
        http, gs, {"table": "punish", "penDecNo": target["penDecNo"], "judAuthCode": target["judAuthCode"]}
    )
    scenarios.append(
        _scenario("GSXT repairs a market-regulation penalty", "gsxt_gansu", "stopped:repaired", target, "punish")
    )

    # 2. SAMR removes an enterprise from the 经营异常名录 → 信用中国 stops publishing it.
    entry = anomalies[0]
    await _admin_repair(
        http,
        gs,
        {
            "table": "opanomaly",
            "penDecNo": entry["penDecNo"],
            "decOrgCode": entry["decOrgCode"],
            "remExcpres": _REMOVAL_FOR_CAUSE[str(entry["speCause"])],
        },
    )
    scenarios.append(
        _scenario("GSXT removes an 经营异常名录 entry", "gsxt_gansu", "stopped:removed", entry, "opanomaly")
    )

    # 3. 信用中国（甘肃） repairs a non-market-regulation penalty → GSXT stops showing it.
    row = cc_other[0]
    await _admin_repair(http, cc, {"CF_WSH": row["CF_WSH"], "CF_CFJGDM": row["CF_CFJGDM"], "ZZYY": "01"})
    scenarios.append(
        _scenario(
            "信用中国（甘肃） repairs another department's penalty",
            "creditchina_gansu",
            "stopped:repaired",
            row,
            "CF",
        )
    )

    # 4. The deciding authority sends its decision through the gateway's API → both systems.
    api_row = cc_other[1]
    api_scenario = _scenario(
        "Authority decides a repair through POST /v1/repairs", "api", "stopped:repaired", api_row, "CF"
    )
    body = {
        "record": {"record_id": api_scenario.record_id},
        "action": "repair",
        "decided_at": datetime.now(UTC).isoformat(),
        "decided_by": str(api_row.get("CF_CFJG") or "authority"),
    }
    async with http.post(
        f"{api_url}/v1/repairs", json=body, headers={"Idempotency-Key": f"demo-{api_scenario.record_id}"}
    ) as resp:
        answer = await resp.json()
        if resp.status != 202:
            raise RuntimeError(f"API refused the demo repair: {answer}")
    api_scenario.repair_id = answer["repair_id"]
    scenarios.append(api_scenario)

    # 5. 多头修复: 信用中国 stops a SAMR penalty it does not own → audited and set back.
    rogue = next(r for r in cc_rows if r.get("ROWTYPE") == "CF" and r.get("CF_WSH") == punish[1]["penDecNo"])
    await _admin_repair(http, cc, {"CF_WSH": rogue["CF_WSH"], "CF_CFJGDM": rogue["CF_CFJGDM"], "ZZYY": "01"})
    scenarios.append(
        _scenario(
            "信用中国 repairs a SAMR penalty it does not own (set back)",
            "creditchina_gansu",
            "published",
            rogue,
            "CF",
        )
    )
    runtime.dispatcher.wake()
    return scenarios


def _scenario(name: str, started_on: str, expected: str, row: Mapping[str, Any], kind: str) -> Scenario:
    system = "gsxt_gansu" if kind in ("punish", "otherpunish", "opanomaly") else "creditchina_gansu"
    change = NativeChange(
        change_key="demo", source_version="", changed_at=datetime.now(UTC), kind=kind, native_id=None, row=row
    )
    observation = MAPPINGS[system].to_observation(change)
    assert observation is not None
    return Scenario(name=name, started_on=started_on, record_id=observation.facts.record_id, expected=expected)


async def _fill_outcomes(
    http: aiohttp.ClientSession, runtime: Runtime, urls: Mapping[str, str], scenarios: list[Scenario]
) -> None:
    views = await _system_views(http, urls)
    for scenario in scenarios:

        def _read(tx: Tx, s: Scenario = scenario) -> tuple[CanonicalRecord | None, list[Row], Any]:
            repo = Repo(tx)
            repairs = repo.repairs_of_record(s.record_id)
            repair_id = s.repair_id or (repairs[-1]["repair_id"] if repairs else "")
            return repo.load_record(s.record_id), repairs, repo.get_repair(repair_id)

        record, repairs, found_repair = await runtime.db.run(_read, write=False)
        if record is None:
            continue
        for system in runtime.policy.publishers(record.facts):
            found = views.get(system, {}).get(scenario.record_id)
            scenario.seen[system] = found.label if found else "missing"
        if repairs:
            scenario.repair_id = scenario.repair_id or repairs[-1]["repair_id"]
            if found_repair is not None:
                head, targets = found_repair
                for target in targets:
                    if target["delivered_at"] is not None:
                        scenario.latency_s[target["target"]] = round(
                            (target["delivered_at"] - head["accepted_at"]).total_seconds(), 3
                        )


def _print_summary(summary: Mapping[str, Any], as_json: bool) -> None:
    if not as_json:
        print()
        print("repair scenario                                               expected           per system")
        for s in summary["scenarios"]:
            seen = ", ".join(f"{k}={v}" for k, v in sorted(s["seen"].items()))
            latency = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(s["latency_s"].items()))
            print(f"  {s['name']:<60} {s['expected']:<18} {seen}")
            if latency:
                print(f"  {'':<60} {'delivered after':<18} {latency}")
        print()
        state = "CONVERGED: every system agrees" if summary["converged"] else "NOT CONVERGED"
        print(f"{state} ({summary['records']} records, {summary['seconds']} s)")
        for line in summary["disagreements"]:
            print(f"  disagreement: {line}")
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, default=str), flush=True)
