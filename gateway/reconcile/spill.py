"""An external sort for full listings: rows go to a temporary SQLite file, come back in key order.

Systems list in their own order (信用中国 by row ID, GSXT by business key), the diff needs identity
key order (docs/adr/0019). Sorting in memory would grow with the listing; here each row is one
INSERT into an on-disk table and the sorted read is an index scan, so resident memory stays SQLite's
page cache (bounded below) whatever the listing's size. SQLite's default BINARY collation compares
UTF-8 bytes: the diff's order.

The file lives in a private temporary directory and is deleted when the spill is closed; it holds
rows of one run only (a resumed run lists again).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.domain.model import Publicity, mirrored_fingerprint
from gateway.domain.reconcile import Entry

# SQLite's page cache for the spill, in KiB (negative cache_size): bounds the sort's memory.
_CACHE_KIB = 8192


@dataclass(frozen=True, kw_only=True)
class SpilledRow:
    """One mapped row: the diff's entry plus what a finding and a heal need of it."""

    entry: Entry
    record_id: str
    values: dict[str, Any]  # the carried fields and state, for the finding's JSON
    change: dict[str, Any]  # the native change (row masked), to ingest or quarantine it


class Spill:
    """Rows per (pair, side), read back sorted by key (then arrival order, for duplicates)."""

    def __init__(self, directory: str | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="creditgw-reconcile-", dir=directory)
        os.chmod(self._dir.name, 0o700)
        self.path = Path(self._dir.name) / "spill.db"
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=OFF")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        self._conn.execute("PRAGMA temp_store=FILE")
        self._conn.execute(
            "CREATE TABLE rows (seq INTEGER PRIMARY KEY, pair INTEGER NOT NULL, side TEXT NOT NULL, key TEXT NOT NULL,"
            " fingerprint TEXT NOT NULL, status TEXT NOT NULL, stopped_by TEXT, record_id TEXT NOT NULL,"
            " fields TEXT NOT NULL, payload TEXT NOT NULL)"
        )
        # Fingerprints and values of rows whose fields were aligned with the other side's.
        self._conn.execute(
            "CREATE TABLE aligned (seq INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, fields TEXT NOT NULL)"
        )
        self._indexed = False
        self._conn.create_function("rc_differ", 2, _differ, deterministic=True)
        self._conn.create_function("rc_align", 2, _align, deterministic=True)
        self._conn.create_function("rc_fingerprint", 1, _fingerprint, deterministic=True)

    def add(self, rows: Sequence[tuple[int, str, SpilledRow]]) -> None:
        """(pair number, side, row): one page at a time, one transaction per page."""
        self._conn.execute("BEGIN")
        self._conn.executemany(
            "INSERT INTO rows (pair, side, key, fingerprint, status, stopped_by, record_id, fields, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    pair,
                    side,
                    row.entry.key,
                    row.entry.fingerprint,
                    row.entry.status.value,
                    row.entry.stopped_by,
                    row.record_id,
                    json.dumps(row.entry.values, ensure_ascii=False),
                    json.dumps({"values": row.values, "change": row.change}, ensure_ascii=False, default=str),
                )
                for pair, side, row in rows
            ],
        )
        self._conn.execute("COMMIT")

    def _index(self) -> None:
        if not self._indexed:
            self._conn.execute("CREATE INDEX rows_sorted ON rows (pair, side, key, seq)")
            self._indexed = True

    def attribute_mirror_stops(self, pair: int, owner_system: str) -> None:
        """A mirror's stop is the owner's when the owner's listing has the record stopped too (the
        mirror followed the owner, through the gateway or otherwise); any other stop there was made
        by the mirror itself (多头修复), which is what the rows carry until now."""
        self._index()
        self._conn.execute(
            "UPDATE rows SET stopped_by = ? WHERE pair = ? AND side = 'mirror' AND status = 'stopped' AND EXISTS"
            " (SELECT 1 FROM rows o WHERE o.pair = rows.pair AND o.side = 'owner' AND o.key = rows.key"
            " AND o.status = 'stopped')",
            (owner_system, pair),
        )

    def align_fields(self, pair: int) -> None:
        """Compare a field only where both systems state it: a field one side leaves empty (a legacy
        信用中国 row has no fine; a stand-in is no statement) is left out on both sides of that key.
        One pass over the join of the two sides; the aligned values go to a side table."""
        self._index()
        join = (
            " FROM rows o JOIN rows m ON m.pair = o.pair AND m.side = 'mirror' AND m.key = o.key"
            " WHERE o.pair = ? AND o.side = 'owner' AND rc_differ(o.fields, m.fields)"
        )
        self._conn.execute("BEGIN")
        for mine, other in (("o", "m"), ("m", "o")):
            self._conn.execute(
                f"INSERT OR REPLACE INTO aligned (seq, fingerprint, fields) SELECT {mine}.seq,"
                f" rc_fingerprint(rc_align({mine}.fields, {other}.fields)), rc_align({mine}.fields, {other}.fields)"
                + join,
                (pair,),
            )
        self._conn.execute("COMMIT")

    def entries(self, pair: int, side: str, *, after: str | None = None) -> Iterator[Entry]:
        """The side's entries in key order (UTF-8 byte order), from above `after`."""
        self._index()
        cursor = self._conn.execute(
            "SELECT r.key, COALESCE(a.fingerprint, r.fingerprint), r.status, r.stopped_by, COALESCE(a.fields, r.fields)"
            " FROM rows r LEFT JOIN aligned a ON a.seq = r.seq WHERE r.pair = ? AND r.side = ? AND r.key > ?"
            " ORDER BY r.key, r.seq",
            (pair, side, after if after is not None else ""),
        )
        for key, fingerprint, status, stopped_by, fields in cursor:
            yield Entry(key, fingerprint, Publicity(status), stopped_by, tuple(json.loads(fields)))

    def rows_of(self, pair: int, side: str, key: str) -> list[tuple[str, dict[str, Any]]]:
        """Every row of one key on one side (several for a duplicate): (record id, payload)."""
        self._index()
        cursor = self._conn.execute(
            "SELECT record_id, payload FROM rows WHERE pair = ? AND side = ? AND key = ? ORDER BY seq",
            (pair, side, key),
        )
        return [(record_id, json.loads(payload)) for record_id, payload in cursor]

    def count(self, pair: int, side: str) -> int:
        row = self._conn.execute("SELECT COUNT(*) FROM rows WHERE pair = ? AND side = ?", (pair, side)).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._conn.close()
        self._dir.cleanup()


def _differ(mine: str, other: str) -> bool:
    """Whether one side states a field the other leaves empty."""
    return any((a is None) != (b is None) for a, b in zip(json.loads(mine), json.loads(other), strict=True))


def _align(mine: str, other: str) -> str:
    kept = [
        value if theirs is not None else None for value, theirs in zip(json.loads(mine), json.loads(other), strict=True)
    ]
    return json.dumps(kept, ensure_ascii=False)


def _fingerprint(values: str) -> str:
    return mirrored_fingerprint(tuple(json.loads(values)))
