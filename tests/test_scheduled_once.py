"""Scheduled jobs (the expiry sweep, the reminders) run once per schedule, not once per replica
(issue 14 item 5): the replica that claims the slot runs it (gateway/schedule.py), the others skip;
a holder that died mid-run is replaced once its lease lapses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from gateway.runtime import SLOT_LEASE, Runtime
from gateway.schedule import claim_slot, slot_of, slots_of
from gateway.settings import Settings
from gateway.store.database import open_database
from gateway.store.migrate import migrate
from tests.conftest import T0


async def test_two_replicas_run_a_slot_once_and_a_dead_holders_slot_again(database_url: str) -> None:
    clock = {"now": T0}
    first_db, second_db = open_database(database_url), open_database(database_url)  # two replicas' pools
    await migrate(first_db)
    replicas = [
        Runtime(Settings(database_url=database_url), db, connectors={}, clock=lambda: clock["now"])
        for db in (first_db, second_db)
    ]
    runs: list[int] = []

    def sweep_of(replica: int) -> Callable[[], Coroutine[Any, Any, None]]:
        async def sweep() -> None:
            runs.append(replica)
            await asyncio.sleep(0)  # the other replica looks while this one runs

        return sweep

    try:
        ran = await asyncio.gather(*(r.run_slot("sweep", 3600, sweep_of(n)) for n, r in enumerate(replicas)))
        assert sorted(ran) == [False, True] and len(runs) == 1  # once, by whichever claimed it

        clock["now"] = T0 + timedelta(minutes=30)  # the same hour: done already
        assert not any(await asyncio.gather(*(r.run_slot("sweep", 3600, sweep_of(n)) for n, r in enumerate(replicas))))
        assert len(runs) == 1

        clock["now"] = T0 + timedelta(hours=1)  # the next hour: once again
        assert sum(await asyncio.gather(*(r.run_slot("sweep", 3600, sweep_of(n)) for n, r in enumerate(replicas)))) == 1
        assert len(runs) == 2

        # A replica on another host claimed the next slot and died before finishing it.
        clock["now"] = T0 + timedelta(hours=2)
        slot = slot_of(clock["now"], 3600)
        await first_db.run(
            lambda tx: claim_slot(
                tx,
                job="sweep",
                slot=slot,
                owner="gone-host:1:x",
                lease_until=clock["now"] + SLOT_LEASE,
                now=clock["now"],
            )
        )
        assert not await replicas[0].run_slot("sweep", 3600, sweep_of(0))  # its lease still runs
        clock["now"] += SLOT_LEASE + timedelta(seconds=1)
        assert await replicas[1].run_slot("sweep", 3600, sweep_of(1))  # taken over and run
        rows = await first_db.run(lambda tx: slots_of(tx, "sweep"), write=False)
        assert (rows[0].slot, rows[0].claims, rows[0].outcome) == (slot, 2, "done")
        assert len(runs) == 3
    finally:
        for replica in replicas:
            await replica.db.close()
