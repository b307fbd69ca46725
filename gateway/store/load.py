"""Bulk load of first sightings (go-live, docs/adr/0024): the rows of planned records, table by table,
written with COPY (PostgreSQL) or one executemany per table (SQLite).

`rows_of` is pure (records in, rows out), so the benchmark can COPY exactly these rows as its
baseline (bench/golive.py). `write` takes the records' lock rows first, as every unit that creates
records and their links and outbox does (ADR 0012): a COPY into `record_locks` inserts them, and a
second writer of one of these records waits on the uncommitted row, then fails on its key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.domain.golive import RecordLoad
from gateway.store.database import Tx
from gateway.store.repo import _outbox_values, _reason, _record_values, _stopped_on

RECORD_COLUMNS = (
    "category",
    "authority_code",
    "document_number",
    "subject_code",
    "subject_name",
    "facts",
    "facts_fingerprint",
    "status",
    "reason",
    "version",
    "decided_by",
    "decided_at",
    "authoritative",
    "record_id",
    "created_at",
    "updated_at",
    "stopped_on",
    "collected_at",
)
LINK_COLUMNS = ("record_id", "system", "native_id", "seen_status", "seen_reason", "seen_source_version", "seen_at")
AUDIT_COLUMNS = (
    "record_id",
    "at",
    "kind",
    "actor",
    "before_state",
    "before_version",
    "after_state",
    "after_version",
    "detail",
)
OUTBOX_COLUMNS = (
    "record_id",
    "target",
    "version",
    "state_status",
    "state_reason",
    "state_decided_at",
    "idempotency_key",
    "repair_id",
    "next_attempt_at",
    "created_at",
    "updated_at",
    "state_stopped_on",
    "status",
    "attempts",
    "replays",
)
INBOX_COLUMNS = ("system", "change_key", "record_id", "outcome", "received_at")

# In this order: the lock rows first (ADR 0012), the records before what refers to them.
TABLES: dict[str, tuple[str, ...]] = {
    "record_locks": ("record_id",),
    "records": RECORD_COLUMNS,
    "links": LINK_COLUMNS,
    "audit": AUDIT_COLUMNS,
    "outbox": OUTBOX_COLUMNS,
    "inbox": INBOX_COLUMNS,
}


@dataclass
class LoadRows:
    """Rows per table (TABLES order), ready for `write`."""

    record_ids: list[str] = field(default_factory=list)
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {name: [] for name in TABLES})

    def count(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


def rows_of(loads: Sequence[RecordLoad], now: datetime, into: LoadRows | None = None) -> LoadRows:
    out = into if into is not None else LoadRows()
    t = out.tables
    locks, records, links, audit, outbox, inbox = (
        t["record_locks"],
        t["records"],
        t["links"],
        t["audit"],
        t["outbox"],
        t["inbox"],
    )
    for load in loads:
        record = load.record
        record_id = record.record_id
        out.record_ids.append(record_id)
        locks.append((record_id,))
        records.append((*_record_values(record), now, now, _stopped_on(record.state.target), load.collected_at))
        for seen in load.seen:
            links.append(
                (
                    record_id,
                    seen.system,
                    seen.native_id,
                    seen.target.status.value,
                    _reason(seen.target),
                    seen.source_version,
                    now,
                )
            )
        for entry in load.audit:
            audit.append(
                (
                    record_id,
                    now,
                    entry.kind,
                    entry.actor,
                    entry.before.label if entry.before else None,
                    entry.before_version,
                    entry.after.label if entry.after else None,
                    entry.after_version,
                    json.dumps(dict(entry.detail), ensure_ascii=False, sort_keys=True),
                )
            )
        for delivery in load.deliveries:
            outbox.append((*_outbox_values(delivery, None, now), "pending", 0, 0))
        for system, change_key, outcome in load.inbox:
            inbox.append((system, change_key, record_id, outcome, now))
    return out


def write(tx: Tx, rows: LoadRows) -> None:
    """Every row of `rows`, in one transaction (the caller's): new records only."""
    for table, columns in TABLES.items():
        tx.copy_rows(table, columns, rows.tables[table])
        if table == "record_locks":
            tx.locked_records.update(rows.record_ids)


def analyze(tx: Tx) -> None:
    """Fresh planner statistics after a load: the tables grew from nothing to millions of rows."""
    if tx.dialect.name == "postgresql":
        tx.execute(f"ANALYZE {', '.join(TABLES)}")
    else:
        tx.execute("ANALYZE")
