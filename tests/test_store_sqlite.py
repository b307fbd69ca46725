"""What only the SQLite store promises: its connection settings, and hot-path reads that do not
grow with the delivery backlog.

SQLite keeps no statistics unless ANALYZE runs, so its planner guesses; a guess that searches the
outbox by status reads every queued row of every record. A target that is down for a day leaves
such a backlog, and every decision would then pay for all of it. These tests count the SQLite
virtual machine's instructions (a progress handler), not seconds: the count is deterministic.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.domain.model import PUBLISHED
from gateway.domain.plan import Delivery
from gateway.store.database import SqliteDatabase, Tx
from gateway.store.migrate import migrate
from gateway.store.repo import Repo
from tests.conftest import T0

CC, GS = "creditchina_gansu", "gsxt_gansu"
_STEP = 100  # the progress handler runs every _STEP VM instructions


def _queue(tx: Tx, start: int, count: int) -> None:
    """Pending deliveries to both systems for records rec_{start} … rec_{start + count - 1}."""
    deliveries = [
        (Delivery(record_id=f"rec_{n:08d}", system=system, state=PUBLISHED, version=1, decided_at=T0), None)
        for n in range(start, start + count)
        for system in (CC, GS)
    ]
    repo = Repo(tx)
    repo.lock_records(d.record_id for d, _ in deliveries)
    repo.insert_pending(deliveries, T0)


def _steps(conn: sqlite3.Connection, work: Callable[[], Any]) -> int:
    counted = 0

    def tick() -> int:
        nonlocal counted
        counted += 1
        return 0  # 0: go on

    conn.set_progress_handler(tick, _STEP)
    try:
        work()
    finally:
        conn.set_progress_handler(None, _STEP)
    return counted * _STEP


async def test_reading_a_batchs_links_and_queue_does_not_scan_the_backlog(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "gw.db")
    await migrate(db)
    batch = [f"rec_{n:08d}" for n in range(32)]

    def cost(tx: Tx) -> int:
        conn = tx._conn
        return _steps(conn, lambda: Repo(tx).links_of(batch, lock_queue=True))

    try:
        await db.run(lambda tx: _queue(tx, 0, 32))  # the batch's own records have queued rows
        small = await db.run(cost)
        await db.run(lambda tx: _queue(tx, 1000, 5000))  # 10,000 more queued rows of other records
        large = await db.run(cost)
        links, pending = await db.run(lambda tx: Repo(tx).links_of(batch, lock_queue=True))
    finally:
        await db.close()
    assert len(pending) == 64 and all(link[CC].queued and link[GS].queued for link in links.values())
    # Searching by status reads the 10,000 rows (over 100,000 instructions); by record, the same few.
    assert large < small * 1.5, (small, large)


async def test_connection_is_durable_and_checkpoints_in_large_steps(tmp_path: Path) -> None:
    """WAL with synchronous=FULL: a commit (an acknowledged repair) survives a power loss; foreign
    keys enforced; the WAL checkpointed every 10,000 pages (gateway/store/database.py says why)."""
    db = SqliteDatabase(tmp_path / "gw.db")

    def settings(tx: Tx) -> tuple[Any, ...]:
        return tuple(
            tx.scalar(f"PRAGMA {name}")
            for name in ("journal_mode", "synchronous", "foreign_keys", "wal_autocheckpoint")
        )

    try:
        found = await db.run(settings, write=False)
    finally:
        await db.close()
    assert found == ("wal", 2, 1, 10000)  # synchronous: 2 is FULL
