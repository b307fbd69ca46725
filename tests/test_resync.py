"""`creditgw resync --system S --since T` as an operator runs it, against the simulated systems
on 127.0.0.1 (SQLite and PostgreSQL): a change stamped behind the poll cursor is picked up, and
re-reading what is in sync changes nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.runtime import Runtime
from gateway.sandbox import Sandbox, record_id_of
from gateway.store.database import now_utc
from gateway.store.repo import Repo
from gateway.sync.poller import FEED
from simulators import start_simulators
from tests.test_cli import creditgw
from tests.test_sweep import snapshot
from tests.test_sync_end_to_end import CC, GS, fast_settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class World:
    runtime: Runtime
    sandbox: Sandbox
    urls: dict[str, str]
    database_url: str


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    sims = await start_simulators()
    runtime = await Runtime.open(fast_settings(database_url), urls=dict(sims.urls))
    http = aiohttp.ClientSession()
    try:
        yield World(runtime, Sandbox(http, sims.urls), dict(sims.urls), database_url)
    finally:
        await http.close()
        await runtime.close()
        await sims.close()


async def _resync(world: World, system: str, since: str) -> dict[str, Any]:
    """The real command in a child process; the simulators keep answering in this event loop."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CREDITGW_DATABASE_URL": world.database_url,
        "CREDITGW_CREDITCHINA_GANSU__URL": world.urls[CC],
        "CREDITGW_GSXT_GANSU__URL": world.urls[GS],
        "CREDITGW_LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "resync",
        "--system",
        system,
        "--since",
        since,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()[-3000:]
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert isinstance(summary, dict)
    return summary


async def _state(runtime: Runtime, record_id: str) -> str:
    record = await runtime.db.run(lambda tx: Repo(tx).load_record(record_id), write=False)
    assert record is not None
    return record.state.target.label


async def test_resync_picks_up_a_change_behind_the_cursor_and_a_second_run_changes_nothing(world: World) -> None:
    runtime = world.runtime
    for poller in runtime.pollers.values():  # the whole seed, read as `serve` would
        await poller.poll_once()
    gs_rows = await world.sandbox.records(GS, published=True)
    on_gsxt = {(r["judAuthCode"], r["penDecNo"]) for r in gs_rows if r["table"] == "otherpunish"}
    row = next(
        r
        for r in await world.sandbox.records(CC, published=True)
        if r.get("ROWTYPE") == "CF" and (r.get("CF_CFJGDM"), r.get("CF_WSH")) in on_gsxt
    )
    record_id = record_id_of(CC, row)
    assert record_id is not None and await _state(runtime, record_id) == "published"

    # 信用中国 stamps the repair behind where the gateway's cursor stands: polling never sees it.
    await runtime.db.run(lambda tx: Repo(tx).set_cursor(CC, FEED, "2099/01/01 00:00:00", now_utc()))
    await world.sandbox.repair(CC, {"CF_WSH": row["CF_WSH"], "CF_CFJGDM": row["CF_CFJGDM"], "ZZYY": "01"})
    await runtime.pollers[CC].poll_once()
    assert await _state(runtime, record_id) == "published"

    [repaired] = [r for r in await world.sandbox.records(CC) if r.get("CF_WSH") == row["CF_WSH"]]
    stamp = str(repaired["SJC"])  # yyyy/MM/dd HH:mm:ss, Beijing time
    since = stamp.replace("/", "-").replace(" ", "T") + "+08:00"

    first = await _resync(world, CC, since)
    assert first["system"] == CC and first["outcomes"].get("changed", 0) >= 1, first
    assert await _state(runtime, record_id) == "stopped:repaired"
    queued = await runtime.db.run(lambda tx: Repo(tx).list_outbox(status="pending", target=GS, limit=1000), write=False)
    assert record_id in {item.record_id for item in queued}  # GSXT gets the repair from `serve`
    assert await runtime.db.run(lambda tx: Repo(tx).get_cursor(CC, FEED), write=False) == "2099/01/01 00:00:00"

    # Idempotent: everything re-read is in sync now.
    before = await snapshot(runtime)
    second = await _resync(world, CC, since)
    assert set(second["outcomes"]) <= {"duplicate", "before_since"}, second
    assert second["changes"] == first["changes"]
    assert await snapshot(runtime) == before

    # GSXT's cursor is opaque: its whole feed is read and what precedes `since` skipped.
    everything = await _resync(world, GS, "2000-01-01")
    assert everything["changes"] > 0
    assert set(everything["outcomes"]) <= {"duplicate", "untracked"}, everything
    assert await snapshot(runtime) == before


def test_resync_refuses_an_unknown_system_and_a_time_without_zone(tmp_path: Path) -> None:
    env = {"CREDITGW_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return creditgw("resync", *args, cwd=tmp_path, env=env)

    unknown = run("--system", "nowhere", "--since", "2026-11-01")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr and "CREDITGW_SYSTEMS" in unknown.stderr
    naive = run("--system", CC, "--since", "2026-11-01T08:00:00")
    assert naive.returncode == 2 and "time zone" in naive.stderr
