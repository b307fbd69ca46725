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
            "CREDITGW_RECONCILE_CATCH_UP_S": "3600",  # the minute may be over before both listen
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


async def test_a_night_is_run_only_when_due_or_unfinished(tmp_path: Path) -> None:
    """One replica's view (SQLite, the simulators over HTTP): a night long past that nobody ran is
    left alone; a night another replica claimed and never finished is taken over and completed."""
    from gateway.reconcile.nightly import nightly_from
    from gateway.runtime import policy_from
    from gateway.schedule import claim_slot, daily_slot, parse_daily_time
    from gateway.settings import load_settings
    from gateway.sync.connectors import build_connectors

    sims = await start_simulators(systems={name: SYSTEMS[name] for name in (CC, GS)})
    db = open_database(f"sqlite:///{tmp_path / 'gw.db'}")
    await migrate(db)
    settings = load_settings(reconcile_at="02:30", reconcile_lease_s=30)
    connectors = build_connectors(settings, dict(sims.urls))
    at = parse_daily_time("02:30")
    night = now_utc().astimezone(BEIJING).replace(hour=2, minute=30, second=0, microsecond=0)
    clock_at = night + timedelta(hours=3)
    nightly = nightly_from(
        settings, db, connectors, policy_from(settings, set(connectors)), owner="replica-b", clock=lambda: clock_at
    )
    stop = asyncio.Event()
    try:
        assert not await nightly.tick(stop)  # three hours late, nobody ran it: not started now
        assert await db.run(lambda tx: rs.list_runs(tx), write=False) == []
        slot, _ = daily_slot(clock_at, at)
        # Another replica claimed the night two hours ago and died (its lease ran out long since).
        await db.run(
            lambda tx: claim_slot(
                tx, job=JOB, slot=slot, owner="replica-a", lease_until=night + timedelta(minutes=1), now=night
            )
        )
        assert await nightly.tick(stop)
        (row,) = await db.run(lambda tx: slots_of(tx, JOB), write=False)
        runs = await db.run(lambda tx: rs.list_runs(tx), write=False)
    finally:
        for connector in connectors.values():
            await connector.adapter.close()
        await db.close()
        await sims.close()
    assert row.owner == "replica-b" and row.claims == 2 and row.finished_at is not None
    assert len(runs) == 1 and runs[0].status is rs.RunStatus.SUCCEEDED and runs[0].origin == "schedule"
