"""The nightly reconciliation in `serve`: two replicas on one PostgreSQL database run it once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bench.end_to_end import serve_argv
from bench.processes import free_port, spawn
from gateway.clients import new_key
from gateway.domain.beijing import BEIJING
from gateway.reconcile.nightly import JOB
from gateway.schedule import slots_of
from gateway.store import reconciliations as rs
from gateway.store.database import Database, now_utc, open_database
from gateway.store.migrate import migrate
from simulators import SYSTEMS, start_simulators
from tests.conftest import _drop_pg_schema, _fresh_pg_schema
from tests.reconcile_world import CC, GS, seed_every_kind

DEADLINE_S = 240.0


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    schema, url = await _fresh_pg_schema()
    try:
        yield url
    finally:
        _drop_pg_schema(schema)


async def _until(what: str, check: object, *, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        await asyncio.sleep(0.2)


def _slot_lines(log: str) -> list[dict[str, object]]:
    lines = []
    for line in log.splitlines():
        if '"nightly_slot"' in line:
            lines.append(json.loads(line))
    return lines


@pytest.mark.postgres
async def test_two_replicas_run_the_nightly_reconciliation_once(pg_url: str, tmp_path: Path) -> None:
    sims = await start_simulators(systems={name: SYSTEMS[name] for name in (CC, GS)})
    db: Database = open_database(pg_url)
    await migrate(db)
    try:
        urls = dict(sims.urls)
        expected = await seed_every_kind(urls)
        # The night's time is the current minute (Beijing): both replicas find the slot due at start.
        at = now_utc().astimezone(BEIJING) - timedelta(seconds=1)
        env = {
            "CREDITGW_DATABASE_URL": pg_url,
            "CREDITGW_CREDITCHINA_GANSU__URL": urls[CC],
            "CREDITGW_GSXT_GANSU__URL": urls[GS],
            "CREDITGW_SECRETS_KEY": new_key(),
            "CREDITGW_RECONCILE_AT": at.strftime("%H:%M"),
            "CREDITGW_RECONCILE_LEASE_S": "30",
            "CREDITGW_LOG_FORMAT": "json",
            # The feeds would heal what the reconciliation must find: this test is about the schedule.
            "CREDITGW_POLL_INTERVAL_S": "3600",
        }
        async with (
            spawn("serve-a", serve_argv(free_port()), log_dir=tmp_path, env=env) as a,
            spawn("serve-b", serve_argv(free_port()), log_dir=tmp_path, env=env) as b,
        ):
            await a.wait_for(r"creditgw listening on", timeout_s=DEADLINE_S)
            await b.wait_for(r"creditgw listening on", timeout_s=DEADLINE_S)

            async def both_looked_and_done() -> bool:
                looked = _slot_lines(a.log_text()) and _slot_lines(b.log_text())
                slots = await db.run(lambda tx: slots_of(tx, JOB), write=False)
                return bool(looked) and bool(slots) and slots[0].finished_at is not None

            await _until("both replicas to look at the slot and one to finish it", both_looked_and_done)
            claimed = [line["claimed"] for line in _slot_lines(a.log_text()) + _slot_lines(b.log_text())]
            runs = await db.run(lambda tx: rs.list_runs(tx), write=False)
            (slot,) = await db.run(lambda tx: slots_of(tx, JOB), write=False)
    finally:
        await db.close()
        await sims.close()
    assert claimed.count(True) == 1, claimed
    assert len(runs) == 1 and runs[0].origin == "schedule" and runs[0].status is rs.RunStatus.SUCCEEDED, runs
    assert slot.claims == 1 and slot.outcome == f"succeeded {runs[0].run_id}"
    assert runs[0].findings == len(expected)
