"""Seeding a gateway store directly (no HTTP): synthetic records published on both systems.

Each record goes through the real inbound pipeline (`apply_event`) twice, as the two change feeds
would report it: GSXT shows it first (a mirror: provisional), then 信用中国, its owner, confirms it.
GSXT is then known to show the owner's state, so no delivery is queued: the store looks like a
gateway in steady state, and a repair writes exactly what it writes in production (the record, its
audit row, the repair and its progress rows, one delivery per system, the idempotency row).

Records go in chunks of `chunk` per transaction; on PostgreSQL several chunks run at once on the
pool's connections (the work is round-trip bound there).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bench.records import SyntheticPenalty
from gateway.domain.model import PUBLISHED
from gateway.domain.plan import Observation, Policy
from gateway.store.database import Database, Tx
from gateway.sync.ingest import apply_event

CREDITCHINA, GSXT = "creditchina_gansu", "gsxt_gansu"
SEEDED_AT = datetime(2025, 12, 1, tzinfo=UTC)  # before any decision a benchmark sends


def _seed_chunk(tx: Tx, start: int, stop: int, policy: Policy) -> None:
    for index in range(start, stop):
        facts = SyntheticPenalty(index).facts()
        for source in (GSXT, CREDITCHINA):
            event = Observation(
                source=source,
                facts=facts,
                target=PUBLISHED,
                changed_at=SEEDED_AT,
                source_version="000001",
                native_id=f"{source}-{index}",
            )
            apply_event(tx, event, source=source, change_key=f"seed-{index}", policy=policy, now=SEEDED_AT)


async def seed_records(db: Database, policy: Policy, count: int, *, chunk: int = 1000) -> None:
    parallel = 1 if db.is_single_node else 4
    pending = [(start, min(count, start + chunk)) for start in range(0, count, chunk)]
    slots = asyncio.Semaphore(parallel)

    async def one(start: int, stop: int) -> None:
        async with slots:
            await db.run(lambda tx: _seed_chunk(tx, start, stop, policy))

    await asyncio.gather(*(one(start, stop) for start, stop in pending))
