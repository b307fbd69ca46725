"""Read-only look into a running gateway's store from the benchmark process (SQLite in WAL mode
and PostgreSQL both allow a reader beside the writer): which records exist, whether the outbox
is drained, and each repair's accepted_at and delivered_at per target — the source of the
accept→delivered figures (both times come from the gateway's own clock)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.store.database import Database, Tx, open_database

_CHUNK = 500  # ids per IN list


@dataclass(frozen=True, kw_only=True)
class RepairTiming:
    repair_id: str
    record_id: str
    accepted_at: datetime
    targets: int
    delivered: int  # targets whose delivery succeeded
    last_delivered_at: datetime | None

    @property
    def complete(self) -> bool:
        return self.targets > 0 and self.delivered == self.targets

    @property
    def latency_s(self) -> float | None:
        """accept → delivered to every target, when it was."""
        if not self.complete or self.last_delivered_at is None:
            return None
        return (self.last_delivered_at - self.accepted_at).total_seconds()


def _chunks(ids: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _marks(ids: Sequence[Any]) -> str:
    return ", ".join("?" for _ in ids)


class StoreProbe:
    def __init__(self, database_url: str) -> None:
        self.db: Database = open_database(database_url, pool_size=1)

    async def close(self) -> None:
        await self.db.close()

    async def records_present(self, record_ids: Sequence[str]) -> int:
        def count(tx: Tx) -> int:
            return sum(
                int(tx.scalar(f"SELECT COUNT(*) FROM records WHERE record_id IN ({_marks(c)})", tuple(c)) or 0)
                for c in _chunks(record_ids)
            )

        return await self.db.run(count, write=False)

    async def open_deliveries(self) -> int:
        """Outbox rows still to deliver (pending or in flight)."""
        return int(
            await self.db.run(
                lambda tx: tx.scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'in_flight')"),
                write=False,
            )
            or 0
        )

    async def leased_by_process(self, pid: int) -> list[int]:
        """Outbox ids in flight under a lease of the `serve` process `pid` (lease owners are
        `host:pid:instance`, gateway/runtime.py)."""
        rows = await self.db.run(
            lambda tx: tx.all(
                "SELECT id FROM outbox WHERE status = 'in_flight' AND lease_owner LIKE ?", (f"%:{pid}:%",)
            ),
            write=False,
        )
        return [int(row["id"]) for row in rows]

    async def unfinished(self, ids: Sequence[int]) -> int:
        """How many of these outbox rows are still pending or in flight."""

        def count(tx: Tx) -> int:
            return sum(
                int(
                    tx.scalar(
                        "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'in_flight')"
                        f" AND id IN ({_marks(chunk)})",
                        tuple(chunk),
                    )
                    or 0
                )
                for chunk in _chunks(ids)
            )

        return await self.db.run(count, write=False)

    async def cursors(self) -> dict[tuple[str, str], str]:
        """Every feed's stored cursor: (system, feed) → position."""
        rows = await self.db.run(lambda tx: tx.all("SELECT system, feed, position FROM cursors"), write=False)
        return {(row["system"], row["feed"]): row["position"] for row in rows}

    async def dead_letters(self) -> int:
        return int(
            await self.db.run(lambda tx: tx.scalar("SELECT COUNT(*) FROM outbox WHERE status = 'dead'"), write=False)
            or 0
        )

    async def repair_timings(self, record_ids: Sequence[str], *, source: str) -> list[RepairTiming]:
        """The repairs of these records decided through the API by `source` (e.g. "api:bench")."""

        def read(tx: Tx) -> list[RepairTiming]:
            out: list[RepairTiming] = []
            for chunk in _chunks(record_ids):
                rows = tx.all(
                    "SELECT r.repair_id, r.record_id, r.accepted_at, COUNT(t.target) AS targets,"
                    " SUM(CASE WHEN t.status = 'delivered' THEN 1 ELSE 0 END) AS delivered,"
                    " MAX(t.delivered_at) AS last_delivered_at"
                    " FROM repairs r LEFT JOIN repair_targets t ON t.repair_id = r.repair_id"
                    f" WHERE r.source = ? AND r.record_id IN ({_marks(chunk)})"
                    " GROUP BY r.repair_id, r.record_id, r.accepted_at",
                    (source, *chunk),
                )
                out.extend(
                    RepairTiming(
                        repair_id=row["repair_id"],
                        record_id=row["record_id"],
                        accepted_at=row["accepted_at"],
                        targets=int(row["targets"] or 0),
                        delivered=int(row["delivered"] or 0),
                        last_delivered_at=row["last_delivered_at"],
                    )
                    for row in rows
                )
            return out

        return await self.db.run(read, write=False)
