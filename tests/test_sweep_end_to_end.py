"""The expiry sweep against the simulated systems over loopback HTTP, on SQLite and PostgreSQL: an
expired 信用中国-owned penalty ends up stopped:expired on both systems; an expired GSXT-owned one
is written to 信用中国 only, and GSXT's own stop (公示期满) later reads as already in sync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from gateway.demo import wait_until_agreed
from gateway.domain.expiry import expiry_of
from gateway.runtime import Runtime
from gateway.sandbox import Sandbox, record_id_of
from gateway.store.repo import OutboxStatus, Repo
from simulators import SYSTEMS, start_simulators
from tests.test_sync_end_to_end import fast_settings

CC, GS = "creditchina_gansu", "gsxt_gansu"
EXPIRED = "stopped:expired"


@dataclass
class World:
    runtime: Runtime
    sandbox: Sandbox
    http: aiohttp.ClientSession
    urls: dict[str, str]

    async def load(self, system: str, body: dict[str, Any]) -> None:
        async with self.http.post(f"{self.urls[system]}/admin/load", json=body) as resp:
            assert resp.status == 200, await resp.text()

    async def shown(self, record_id: str) -> dict[str, str]:
        return {
            system: view[record_id].label for system, view in (await self.sandbox.views()).items() if record_id in view
        }

    async def outbox(self, record_id: str) -> list[tuple[str, str, str]]:
        rows = await self.runtime.db.run(
            lambda tx: tx.all(
                "SELECT target, state_status, state_reason FROM outbox WHERE record_id = ? ORDER BY id", (record_id,)
            ),
            write=False,
        )
        return [(r["target"], r["state_status"], r["state_reason"] or "") for r in rows]

    async def version(self, record_id: str) -> int:
        record = await self.runtime.db.run(lambda tx: Repo(tx).load_record(record_id), write=False)
        assert record is not None
        return record.state.version


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    sims = await start_simulators(systems={s: SYSTEMS[s] for s in (CC, GS)})
    urls = {s: sims.urls[s] for s in (CC, GS)}
    runtime = await Runtime.open(fast_settings(database_url), urls=urls)
    http = aiohttp.ClientSession()
    try:
        yield World(runtime, Sandbox(http, urls), http, urls)
    finally:
        await http.close()
        await runtime.close()
        await sims.close()


async def _age(world: World) -> tuple[str, str, dict[str, Any]]:
    """Backdate two seeded penalties past their maximum period, before the gateway reads anything:
    a 信用中国-owned one that GSXT also shows (Order 58: 3 years from the decision) and a
    GSXT-owned one (SAMR: 3 years from publication)."""
    gs_rows = await world.sandbox.records(GS)
    cc_rows = await world.sandbox.records(CC)
    on_gsxt = {(r["judAuthCode"], r["penDecNo"]) for r in gs_rows if r["table"] == "otherpunish"}
    other = next(r for r in cc_rows if r.get("ROWTYPE") == "CF" and (r.get("CF_CFJGDM"), r.get("CF_WSH")) in on_gsxt)
    aged = {**other, "CF_JDRQ": "2023/06/08", "CF_YXQ": "2024/06/08", "CF_GSJZQ": "2026/06/08"}
    await world.load(CC, {"rows": [aged]})
    punish = next(r for r in gs_rows if r["table"] == "punish" and "没收违法所得" in r["penType"])
    old = {
        "penDecNo": punish["penDecNo"],
        "judAuthCode": punish["judAuthCode"],
        "penDecIssDate": "2023-02-20",
        "pubDate": "2023-02-23",
        "updateTime": "2023-02-23 10:00:00",
    }
    await world.load(GS, {"table": "punish", "records": [old]})
    cc_id, gs_id = record_id_of(CC, aged), record_id_of(GS, {**punish, **old})
    assert cc_id is not None and gs_id is not None
    return cc_id, gs_id, {**punish, **old}


async def test_expired_records_are_stopped_on_both_systems(world: World) -> None:
    cc_id, gs_id, gs_row = await _age(world)
    runtime = world.runtime
    runtime.start()  # dispatch and poll; the sweep is run by hand below
    for poller in runtime.pollers.values():
        await poller.poll_once()
    assert await wait_until_agreed(runtime, world.sandbox, 30, poll=False) == []
    for record_id in (cc_id, gs_id):
        stored = await runtime.db.run(lambda tx, r=record_id: Repo(tx).load_record(r), write=False)
        assert stored is not None and expiry_of(stored.facts).first_day_after is not None

    report = await runtime.sweep()  # today in Beijing
    assert report.expired >= 2 and report.refused == {}

    async def stopped_as_expected() -> bool:
        shown_cc, shown_gs = await world.shown(cc_id), await world.shown(gs_id)
        return shown_cc == {CC: EXPIRED, GS: EXPIRED} and shown_gs.get(CC) == EXPIRED

    await eventually(stopped_as_expected)
    assert await world.shown(gs_id) == {CC: EXPIRED, GS: "published"}  # GSXT takes no writes to its own
    assert [o for o in await world.outbox(cc_id) if o[2] == "expired"] == [
        (CC, "stopped", "expired"),
        (GS, "stopped", "expired"),
    ]
    assert [o for o in await world.outbox(gs_id) if o[2] == "expired"] == [(CC, "stopped", "expired")]

    # GSXT stops its own record at 公示期满: its feed then equals the canonical state.
    version = await world.version(gs_id)
    stop = {**gs_row, "pubFlag": "0", "stopType": "2", "stopDate": "2026-02-24", "updateTime": "2026-02-24 00:05:00"}
    await world.load(GS, {"table": "punish", "records": [{k: v for k, v in stop.items() if k != "table"}]})
    await runtime.pollers[GS].poll_once()
    assert await world.shown(gs_id) == {CC: EXPIRED, GS: EXPIRED}
    assert await world.version(gs_id) == version

    # Every feed has echoed the stops back; a second sweep sends nothing.
    for poller in runtime.pollers.values():
        await poller.poll_once()
    outbox = await runtime.db.run(lambda tx: Repo(tx).count("outbox"), write=False)
    again = await runtime.sweep()
    assert (again.expired, dict(again.deliveries)) == (0, {})
    assert await runtime.db.run(lambda tx: Repo(tx).count("outbox"), write=False) == outbox
    dead = await runtime.db.run(lambda tx: Repo(tx).list_outbox(status=OutboxStatus.DEAD), write=False)
    assert dead == []
