"""Every SQL statement of the gateway, named, in one place (STYLE.md §2).

A `Repo` wraps one open transaction. Statements are written once with `?` placeholders and run on
both dialects; the few places where the dialects differ say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from gateway.domain.categories import Category
from gateway.domain.model import (
    CanonicalRecord,
    LinkState,
    Publicity,
    PublicityState,
    RecordFacts,
    SentWrite,
    StopReason,
    TargetState,
)
from gateway.domain.personal import mask_deep
from gateway.domain.plan import AuditEntry, Delivery, SeenUpdate
from gateway.domain.workdays import Deadline
from gateway.store.database import Row, Tx, from_db_ts

# The cursors row that marks a system's feed as read through once (its position says how far the
# go-live fan-out after it went; gateway.sync.poller).
FIRST_READ_FEED = "first_read"

# The outbox target of SMS reminders (gateway/reminders.py, migration 0012). A message to a person
# is no record in a system that reports back: it has no link, no write history (nothing can echo
# it) and no part in planning; it shares the outbox's leases, retries, dead letters and replay.
SMS_TARGET = "sms"
MESSAGE_TARGETS = frozenset({SMS_TARGET})


class OutboxStatus:
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DONE = "done"
    DEAD = "dead"
    SUPERSEDED = "superseded"  # a newer version for the same (record, target) took its place


class TargetProgress:
    """Progress of one repair on one target system (进度查询)."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    RETRYING = "retrying"  # an attempt failed; the next one is due at the outbox row's next_attempt_at
    DELIVERED = "delivered"
    DEAD = "dead"
    SUPERSEDED = "superseded"
    IN_SYNC = "in_sync"  # the system already showed the state: nothing to send


def _target(status: str | None, reason: str | None, on: str | None = None) -> TargetState | None:
    if status is None:
        return None
    return TargetState(
        status=Publicity(status),
        reason=StopReason(reason) if reason else None,
        on=date.fromisoformat(on) if on and reason else None,
    )


def _stopped_on(target: TargetState) -> str | None:
    return target.on.isoformat() if target.on is not None else None


def _reason(target: TargetState | None) -> str | None:
    return target.reason.value if target is not None and target.reason is not None else None


@dataclass(frozen=True, kw_only=True)
class OutboxItem:
    id: int
    record_id: str
    target: str
    version: int
    state: TargetState
    decided_at: datetime
    idempotency_key: str
    repair_id: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    dead_context: dict[str, Any] | None
    replays: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Row) -> OutboxItem:
        state = _target(row["state_status"], row["state_reason"], row["state_stopped_on"])
        assert state is not None
        return cls(
            id=int(row["id"]),
            record_id=row["record_id"],
            target=row["target"],
            version=int(row["version"]),
            state=state,
            decided_at=_ts(row["state_decided_at"]),
            idempotency_key=row["idempotency_key"],
            repair_id=row["repair_id"],
            status=row["status"],
            attempts=int(row["attempts"]),
            next_attempt_at=_ts(row["next_attempt_at"]),
            lease_owner=row["lease_owner"],
            lease_expires_at=from_db_ts(row["lease_expires_at"]),
            last_error=row["last_error"],
            dead_context=json.loads(row["dead_context"]) if row["dead_context"] else None,
            replays=int(row["replays"]),
            created_at=_ts(row["created_at"]),
            updated_at=_ts(row["updated_at"]),
            finished_at=from_db_ts(row["finished_at"]),
        )


def _ts(value: Any) -> datetime:
    parsed = from_db_ts(value)
    assert parsed is not None
    return parsed


class Repo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self._pg = tx.dialect.name == "postgresql"

    # ---- inbox -----------------------------------------------------------------------------

    def claim_inbox(self, system: str, change_key: str, now: datetime) -> bool:
        """True the first time a change is seen. The primary key makes a duplicate a no-op."""
        inserted = self.tx.execute(
            "INSERT INTO inbox (system, change_key, record_id, outcome, received_at) VALUES (?, ?, NULL, ?, ?)"
            " ON CONFLICT (system, change_key) DO NOTHING",
            (system, change_key, "received", now),
        )
        return inserted == 1

    def seen_changes(self, system: str, change_keys: Sequence[str]) -> set[str]:
        """Which of these changes of `system` are in the inbox already."""
        if not change_keys:
            return set()
        keys, params = self._in("change_key", change_keys)
        rows = self.tx.all(f"SELECT change_key FROM inbox WHERE system = ? AND {keys}", (system, *params))
        return {row["change_key"] for row in rows}

    def record_inbox(self, system: str, done: Sequence[tuple[str, str | None, str]], now: datetime) -> set[str]:
        """Claim and settle several changes at once: rows of (change_key, record_id, outcome).
        Returns the keys that were new; the others were seen before and are left as they were."""
        if not done:
            return set()
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(done))
        rows = self.tx.all(
            f"INSERT INTO inbox (system, change_key, record_id, outcome, received_at) VALUES {values}"
            " ON CONFLICT (system, change_key) DO NOTHING RETURNING change_key",
            tuple(v for key, record_id, outcome in done for v in (system, key, record_id, outcome, now)),
        )
        return {row["change_key"] for row in rows}

    def set_inbox_outcome(self, system: str, change_key: str, record_id: str | None, outcome: str) -> None:
        self.tx.execute(
            "UPDATE inbox SET record_id = ?, outcome = ? WHERE system = ? AND change_key = ?",
            (record_id, outcome, system, change_key),
        )

    # ---- per-record serialisation (docs/adr/0012-a-lock-row-per-record.md) --------------------

    def lock_records(self, record_ids: Iterable[str]) -> None:
        """Take the lock row of each record, in record_id order, creating those not there yet.

        Every unit that plans a record, or changes its links or outbox, takes it first, so nothing
        it reads of the record changes under it before it commits. One statement: on PostgreSQL an
        upsert whose update never applies (`WHERE 1 = 0`) still locks each existing row ("all rows
        will be locked when the ON CONFLICT DO UPDATE action is taken", PostgreSQL docs, INSERT),
        rows of a VALUES list are taken in list order, and a second inserter of a new row waits for
        the first to commit. On SQLite it only inserts: BEGIN IMMEDIATE already serialises writers.
        Locks this transaction holds already are not asked for again."""
        wanted = sorted(set(record_ids) - self.tx.locked_records)
        for start in range(0, len(wanted), _LOCK_CHUNK):
            chunk = wanted[start : start + _LOCK_CHUNK]
            self.tx.execute(
                f"INSERT INTO record_locks (record_id) VALUES {', '.join(['(?)'] * len(chunk))}"
                " ON CONFLICT (record_id) DO UPDATE SET record_id = excluded.record_id WHERE 1 = 0",
                tuple(chunk),
            )
        self.tx.locked_records.update(wanted)

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """`column` among `values`: one array parameter on PostgreSQL (`= ANY(?)`: one statement
        text whatever the count, and an index scan even on a table never analysed, where a long
        `IN (...)` list is planned as a full scan), an `IN` list on SQLite (which has no arrays)."""
        if self._pg:
            return f"{column} = ANY(?)", (list(values),)
        return f"{column} IN ({_marks(len(values))})", tuple(values)

    def _rows_of(self, table: str, record_ids: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        """A FROM clause of `table`'s rows (as `t`) of these records. On PostgreSQL one index probe
        per record: without statistics (no autovacuum) even `= ANY` of a batch of 200 is planned as
        a full scan of a table whose key is not unique on record_id (links, writes: 80,000 rows,
        tests/test_query_plans.py); the lateral subquery, kept apart by `OFFSET 0`, is planned per
        record id, where the index always wins. SQLite: an `IN` list on its index."""
        if self._pg:
            return (
                f"unnest(?::text[]) AS probe(id) CROSS JOIN LATERAL"
                f" (SELECT * FROM {table} WHERE record_id = probe.id OFFSET 0) AS t",
                (list(record_ids),),
            )
        return f"{table} AS t WHERE t.record_id IN ({_marks(len(record_ids))})", tuple(record_ids)

    def _require_locked(self, record_ids: Iterable[str]) -> None:
        """Links and outbox rows change only under their record's lock: a path that forgot it is
        a defect that would reopen issue 9's race, so it fails loudly."""
        missing = set(record_ids) - self.tx.locked_records
        if missing:
            raise RuntimeError(f"links or outbox of {sorted(missing)[:3]} changed without the record lock")

    # ---- records and links -----------------------------------------------------------------

    def load_record(self, record_id: str, *, lock: bool = False) -> CanonicalRecord | None:
        """`lock`: take the record's lock row first (`lock_records`), as every planning unit does."""
        if lock:
            self.lock_records([record_id])
        row = self.tx.one("SELECT * FROM records WHERE record_id = ?", (record_id,))
        return None if row is None else record_from_row(row)

    def save_record(self, record: CanonicalRecord, now: datetime) -> None:
        """A stored record's facts and state (a classification, gateway/api/classification.py)."""
        self.save_records([record], now)

    def save_records(self, records: Sequence[CanonicalRecord], now: datetime) -> None:
        """Stored records whose facts changed, with their state."""
        self.tx.executemany(
            "UPDATE records SET category = ?, authority_code = ?, document_number = ?, subject_code = ?,"
            " subject_name = ?, facts = ?, facts_fingerprint = ?, status = ?, reason = ?, version = ?,"
            " decided_by = ?, decided_at = ?, authoritative = ?, updated_at = ?, stopped_on = ?"
            " WHERE record_id = ?",
            # record_id last: the WHERE
            [(*_record_values(r)[:-1], now, _stopped_on(r.state.target), r.record_id) for r in records],
        )

    def insert_records(self, records: Sequence[CanonicalRecord], now: datetime) -> None:
        """New records, several at once. A record that exists already fails the statement, and with
        it the caller's unit; it cannot happen to a unit that read the record under its lock
        (`lock_records` makes a second creator wait for the first to commit, then read its row)."""
        self.tx.executemany(
            _INSERT_RECORD, [(*_record_values(r), now, now, _stopped_on(r.state.target)) for r in records]
        )

    def save_states(self, records: Sequence[CanonicalRecord], now: datetime) -> None:
        self.tx.executemany(
            "UPDATE records SET status = ?, reason = ?, stopped_on = ?, version = ?, decided_by = ?,"
            " decided_at = ?, authoritative = ?, updated_at = ? WHERE record_id = ?",
            [
                (
                    r.state.target.status.value,
                    _reason(r.state.target),
                    _stopped_on(r.state.target),
                    r.state.version,
                    r.state.decided_by,
                    r.state.decided_at,
                    1 if r.state.authoritative else 0,
                    now,
                    r.record_id,
                )
                for r in records
            ],
        )

    def load_records(self, record_ids: Sequence[str], *, lock: bool = False) -> dict[str, CanonicalRecord]:
        """Several records in one statement. `lock`: their lock rows first, in record_id order, so
        two batches cannot wait on each other in a cycle."""
        if not record_ids:
            return {}
        if lock:
            self.lock_records(record_ids)
        ids, params = self._in("record_id", record_ids)
        rows = self.tx.all(f"SELECT * FROM records WHERE {ids} ORDER BY record_id", params)
        return {row["record_id"]: record_from_row(row) for row in rows}

    def load_links(self, record_id: str) -> dict[str, LinkState]:
        links, _ = self.links_of([record_id])
        return links.get(record_id, {})

    def links_of(
        self, record_ids: Sequence[str], *, lock_queue: bool = False
    ) -> tuple[dict[str, dict[str, LinkState]], dict[tuple[str, str], Row]]:
        """Per record, each system's link (with `queued` set where a delivery is pending or in
        flight), and the pending outbox rows by (record, target). `lock_queue` locks those outbox
        rows on PostgreSQL so that no dispatcher claims one between this read and its coalescing."""
        if not record_ids:
            return {}, {}
        ids, params = self._in("record_id", record_ids)
        links: dict[str, dict[str, LinkState]] = {}
        of_links, by_record = self._rows_of("links", record_ids)
        for row in self.tx.all(f"SELECT t.* FROM {of_links}", by_record):
            links.setdefault(row["record_id"], {})[row["system"]] = link_from_row(row)
        # Our writes each system may still echo (docs/adr/0011): the rows are few per record.
        sent: dict[tuple[str, str], list[SentWrite]] = {}
        of_writes, by_record = self._rows_of("writes", record_ids)
        for row in self.tx.all(f"SELECT t.* FROM {of_writes} ORDER BY t.record_id, t.system, t.version", by_record):
            sent.setdefault((row["record_id"], row["system"]), []).append(sent_write_from_row(row))
        for (record_id, system), writes in sent.items():
            of_record = links.setdefault(record_id, {})
            of_record[system] = replace(of_record.get(system) or LinkState(system=system), writes=tuple(writes))
        lock = " FOR UPDATE" if lock_queue and self._pg else ""
        # SQLite, left to itself, searches outbox_due by status: every queued row of every record,
        # so a backlog made each decision O(backlog). `+status` keeps it on outbox_record_target
        # (https://www.sqlite.org/optoverview.html#disqualifying_where_clause_terms_using_unary_);
        # PostgreSQL plans by its statistics (EXPLAIN on 200,000 outbox rows: outbox_record_target)
        # and has no unary + on text.
        status = "status" if self._pg else "+status"
        queued = self.tx.all(
            "SELECT id, record_id, target, version, repair_id, status FROM outbox"
            f" WHERE {ids} AND {status} IN ('pending', 'in_flight'){lock}",
            params,
        )
        pending: dict[tuple[str, str], Row] = {}
        for row in queued:
            record_id, system = row["record_id"], row["target"]
            if system in MESSAGE_TARGETS:
                continue
            of_record = links.setdefault(record_id, {})
            of_record[system] = replace(of_record.get(system) or LinkState(system=system), queued=True)
            if row["status"] == OutboxStatus.PENDING:
                pending[(record_id, system)] = row
        return links, pending

    def save_seen(self, record_id: str, seen: SeenUpdate, now: datetime) -> None:
        self.save_seen_many([(record_id, seen)], now)

    def save_seen_many(self, rows: Sequence[tuple[str, SeenUpdate]], now: datetime) -> None:
        """What each reporting system last said of a record: rows of (record_id, seen)."""
        self._require_locked(record_id for record_id, _ in rows)
        self.tx.executemany(
            "INSERT INTO links (record_id, system) VALUES (?, ?) ON CONFLICT (record_id, system) DO NOTHING",
            [(record_id, seen.system) for record_id, seen in rows],
        )
        self.tx.executemany(
            "UPDATE links SET native_id = COALESCE(?, native_id), seen_status = ?, seen_reason = ?,"
            " seen_source_version = ?, seen_at = ?,"
            " confirmed_version = CASE WHEN ? > COALESCE(confirmed_version, 0) THEN ? ELSE confirmed_version END"
            " WHERE record_id = ? AND system = ?",
            [
                (
                    seen.native_id,
                    seen.target.status.value,
                    _reason(seen.target),
                    seen.source_version,
                    now,
                    seen.confirms or 0,
                    seen.confirms,
                    record_id,
                    seen.system,
                )
                for record_id, seen in rows
            ],
        )
        # The system reported our write of that version: its feed is past every older one, and
        # the link's written/confirmed columns stand for this one (plan._echo_of reads them), so
        # the table keeps only writes still awaiting their echo (detection scans nothing else).
        confirmed = [(record_id, seen.system, seen.confirms) for record_id, seen in rows if seen.confirms]
        if confirmed:
            self.tx.executemany("DELETE FROM writes WHERE record_id = ? AND system = ? AND version <= ?", confirmed)

    def save_written(
        self,
        record_id: str,
        system: str,
        version: int,
        target: TargetState,
        native_id: str | None,
        now: datetime,
    ) -> None:
        """Remember what a system acknowledged; never move back to an older version."""
        self.save_written_many([(record_id, system, version, target, native_id)], now)

    def save_written_many(self, rows: Sequence[tuple[str, str, int, TargetState, str | None]], now: datetime) -> None:
        """`save_written` for rows of (record_id, system, version, target, native_id)."""
        self._require_locked(row[0] for row in rows)
        self.tx.executemany(
            "INSERT INTO links (record_id, system) VALUES (?, ?) ON CONFLICT (record_id, system) DO NOTHING",
            [(record_id, system) for record_id, system, _, _, _ in rows],
        )
        self.tx.executemany(
            "UPDATE links SET native_id = COALESCE(?, native_id), written_version = ?, written_status = ?,"
            " written_reason = ?, written_at = ? WHERE record_id = ? AND system = ?"
            " AND (written_version IS NULL OR written_version <= ?)",
            [
                (native_id, version, target.status.value, _reason(target), now, record_id, system, version)
                for record_id, system, version, target, native_id in rows
            ],
        )

    def add_audit(self, record_id: str, entries: Iterable[AuditEntry], now: datetime) -> None:
        self.add_audits([(record_id, entry) for entry in entries], now)

    def add_audits(self, entries: Sequence[tuple[str, AuditEntry]], now: datetime) -> None:
        self.tx.executemany(
            "INSERT INTO audit (record_id, at, kind, actor, before_state, before_version, after_state,"
            " after_version, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
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
                for record_id, entry in entries
            ],
        )

    # ---- outbox ----------------------------------------------------------------------------

    def insert_pending(
        self, deliveries: Sequence[tuple[Delivery, str | None]], now: datetime
    ) -> dict[tuple[str, str], int]:
        """New pending deliveries, none of whose (record, target) has one pending already (the
        partial unique index outbox_one_pending says so); returns their ids by (record, target).
        Multi-row VALUES with RETURNING: one statement per chunk, on both dialects."""
        self._require_locked(d.record_id for d, _ in deliveries)
        ids: dict[tuple[str, str], int] = {}
        for start in range(0, len(deliveries), _ROWS_CHUNK):
            chunk = deliveries[start : start + _ROWS_CHUNK]
            values = [_outbox_values(d, repair_id, now) for d, repair_id in chunk]
            if self._pg:
                # One array per column: one statement text whatever the row count. psycopg parses a
                # statement with more than 50 parameters anew on every call (a regex over the whole
                # text: 1.8 ms for a batch of 16 decisions' rows, bench.accept_ratio profile).
                rows = self.tx.all(_INSERT_OUTBOX_ARRAYS, tuple(list(column) for column in zip(*values, strict=True)))
            else:
                rows = self.tx.all(
                    _INSERT_OUTBOX + ", ".join([_OUTBOX_ROW] * len(chunk)) + " RETURNING id, record_id, target",
                    tuple(v for row in values for v in row),
                )
            ids.update(((row["record_id"], row["target"]), int(row["id"])) for row in rows)
        return ids

    def replace_pending(self, rows: Sequence[tuple[int, Delivery, str | None]], now: datetime) -> None:
        """Give pending outbox rows a newer version (the coalescing of `enqueue`)."""
        self._require_locked(d.record_id for _, d, _ in rows)
        self.tx.executemany(
            "UPDATE outbox SET version = ?, state_status = ?, state_reason = ?, state_stopped_on = ?,"
            " state_decided_at = ?, idempotency_key = ?, repair_id = ?, attempts = 0, next_attempt_at = ?,"
            " last_error = NULL, updated_at = ? WHERE id = ?",
            [
                (
                    d.version,
                    d.state.status.value,
                    _reason(d.state),
                    _stopped_on(d.state),
                    d.decided_at,
                    d.idempotency_key,
                    repair_id,
                    now,
                    now,
                    outbox_id,
                )
                for outbox_id, d, repair_id in rows
            ],
        )

    def claim(
        self,
        now: datetime,
        limit: int,
        owner: str,
        lease_until: datetime,
        *,
        target: str | None = None,
        other_than: Sequence[str] = (),
    ) -> list[OutboxItem]:
        """Lease due deliveries, never a second one for a (record, target) already in flight;
        only those to `target` when given, only those to none of `other_than` when given.

        PostgreSQL: FOR UPDATE SKIP LOCKED lets replicas claim side by side without waiting on
        each other's rows. SQLite: the surrounding BEGIN IMMEDIATE makes the claim exclusive.

        The claim alone takes no record lock (docs/adr/0012): it only moves rows from pending to
        in flight, and a plan counts both as queued; a planning unit that has read a row as pending
        and replaces it locks it first (`links_of(lock_queue=True)`, `enqueue`) and SKIP LOCKED
        leaves it to it, and one that finds it claimed meanwhile queues a row of its own.
        """
        skip_locked = " FOR UPDATE SKIP LOCKED" if self._pg else ""
        which = ""
        params: list[Any] = []
        if target is not None:
            which, params = " AND o.target = ?", [target]
        elif other_than:
            which, params = f" AND o.target NOT IN ({_marks(len(other_than))})", list(other_than)
        rows = self.tx.all(
            "UPDATE outbox SET status = 'in_flight', lease_owner = ?, lease_expires_at = ?,"
            " attempts = attempts + 1, updated_at = ?"
            f" WHERE id IN (SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= ?{which}"
            " AND NOT EXISTS (SELECT 1 FROM outbox f WHERE f.record_id = o.record_id AND f.target = o.target"
            f" AND f.status = 'in_flight') ORDER BY o.next_attempt_at, o.id LIMIT ?{skip_locked})"
            " RETURNING *",
            (owner, lease_until, now, now, *params, limit),
        )
        items = sorted((OutboxItem.from_row(r) for r in rows), key=lambda i: i.id)
        self.set_targets_progress(
            [(i.repair_id, i.target, TargetProgress.IN_FLIGHT, i.id) for i in items if i.repair_id], now
        )
        self.record_sent([i.id for i in items if i.target not in MESSAGE_TARGETS], now)
        return items

    def record_sent(self, outbox_ids: Sequence[int], now: datetime) -> None:
        """Remember what these deliveries make their systems show, before they are sent: the
        system may apply a write and report it before its acknowledgement is recorded, or a crash
        may lose the acknowledgement (docs/adr/0011). The digest is of the facts the dispatcher
        builds the write from (it reads the record in the same transaction)."""
        if not outbox_ids:
            return
        ids, params = self._in("o.id", outbox_ids)
        self.tx.execute(
            "INSERT INTO writes (record_id, system, version, status, reason, digest, sent_at)"
            " SELECT o.record_id, o.target, o.version, o.state_status, o.state_reason, r.facts_fingerprint, ?"
            f" FROM outbox o JOIN records r ON r.record_id = o.record_id WHERE {ids}"
            " ON CONFLICT (record_id, system, version) DO NOTHING",
            (now, *params),
        )

    def _leave_flight(
        self, item_id: int, owner: str | None, new_status: str, sets: str, params: tuple[Any, ...]
    ) -> bool:
        owner_clause = " AND lease_owner = ?" if owner is not None else ""
        owner_param: tuple[Any, ...] = (owner,) if owner is not None else ()
        changed = self.tx.execute(
            f"UPDATE outbox SET status = ?, lease_owner = NULL, lease_expires_at = NULL, {sets}"
            f" WHERE id = ? AND status = 'in_flight'{owner_clause}",
            (new_status, *params, item_id, *owner_param),
        )
        return changed == 1

    def complete(self, item: OutboxItem, owner: str, native_id: str | None, now: datetime) -> bool:
        """Mark delivered; False when the lease was lost (another worker owns the row now)."""
        return self.complete_many([(item, native_id)], owner, now)[0]

    def complete_many(
        self,
        done: Sequence[tuple[OutboxItem, str | None]],
        owner: str,
        now: datetime,
        *,
        notes: Mapping[int, str] | None = None,
    ) -> list[bool]:
        """`complete` for several deliveries of one worker, one statement per table; one flag per
        delivery, in order: False where the lease was lost. `notes`: by outbox id, why a delivery
        was done without being sent (kept for a reminder: why it was cancelled)."""
        if not done:
            return []
        # The record lock first (docs/adr/0012): a decision planned meanwhile then reads the links
        # and queue either before this commits (the delivery still in flight: it queues behind it)
        # or after (the write recorded in the link), never the outbox after and the links before.
        self.lock_records(item.record_id for item, _ in done)
        ids, params = self._in("id", [item.id for item, _ in done])
        rows = self.tx.all(
            "UPDATE outbox SET status = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = ?,"
            f" finished_at = ? WHERE {ids} AND status = 'in_flight' AND lease_owner = ?"
            " RETURNING id",
            (now, now, *params, owner),
        )
        kept_ids = {int(row["id"]) for row in rows}
        kept = [(item, native_id) for item, native_id in done if item.id in kept_ids]
        messages = [(item, native_id) for item, native_id in kept if item.target in MESSAGE_TARGETS]
        if messages:
            notes = notes or {}
            self.tx.executemany(
                "UPDATE reminders SET msg_id = ?, sent_at = ?, last_error = ?, updated_at = ? WHERE outbox_id = ?",
                [
                    (native_id, now if native_id is not None else None, notes.get(i.id), now, i.id)
                    for i, native_id in messages
                ],
            )
            kept = [(item, native_id) for item, native_id in kept if item.target not in MESSAGE_TARGETS]
        self.save_written_many([(i.record_id, i.target, i.version, i.state, native_id) for i, native_id in kept], now)
        self.tx.executemany(
            "UPDATE writes SET acked_at = ? WHERE record_id = ? AND system = ? AND version = ?",
            [(now, i.record_id, i.target, i.version) for i, _ in kept],
        )
        self.set_targets_progress(
            [(i.repair_id, i.target, TargetProgress.DELIVERED, i.id) for i, _ in kept if i.repair_id], now
        )
        return [item.id in kept_ids for item, _ in done]

    def _newer_pending_exists(self, item: OutboxItem) -> bool:
        row = self.tx.one(
            "SELECT id FROM outbox WHERE record_id = ? AND target = ? AND status = 'pending' AND id <> ?",
            (item.record_id, item.target, item.id),
        )
        return row is not None

    def reschedule(self, item: OutboxItem, owner: str | None, next_at: datetime, error: str, now: datetime) -> bool:
        """Back to pending for a later attempt, or superseded if a newer version is waiting."""
        self.lock_records([item.record_id])
        if self._newer_pending_exists(item):
            return self._supersede(item, owner, now)
        left = self._leave_flight(
            item.id,
            owner,
            OutboxStatus.PENDING,
            "next_attempt_at = ?, last_error = ?, updated_at = ?",
            (next_at, error[:2000], now),
        )
        if left and item.repair_id:
            self.set_target_progress(
                item.repair_id, item.target, TargetProgress.RETRYING, now, item.id, error=error[:2000]
            )
        return left

    def _supersede(self, item: OutboxItem, owner: str | None, now: datetime) -> bool:
        left = self._leave_flight(
            item.id, owner, OutboxStatus.SUPERSEDED, "updated_at = ?, finished_at = ?", (now, now)
        )
        if left and item.repair_id:
            self.set_target_progress(item.repair_id, item.target, TargetProgress.SUPERSEDED, now, item.id)
        return left

    def dead_letter(self, item: OutboxItem, owner: str, context: Mapping[str, Any], now: datetime) -> bool:
        self.lock_records([item.record_id])
        context = mask_deep(dict(context))  # a dead letter keeps no whole ID number (an echoed row)
        error = str(context.get("message", "failed"))
        left = self._leave_flight(
            item.id,
            owner,
            OutboxStatus.DEAD,
            "last_error = ?, dead_context = ?, updated_at = ?, finished_at = ?",
            (error[:2000], json.dumps(dict(context), ensure_ascii=False, default=str), now, now),
        )
        if left and item.repair_id:
            self.set_target_progress(item.repair_id, item.target, TargetProgress.DEAD, now, item.id, error=error)
        return left

    def expired_leases(self, now: datetime, limit: int = 500) -> list[OutboxItem]:
        rows = self.tx.all(
            "SELECT * FROM outbox WHERE status = 'in_flight' AND lease_expires_at < ? ORDER BY id LIMIT ?",
            (now, limit),
        )
        return [OutboxItem.from_row(r) for r in rows]

    def leased_by(self, owner: str, limit: int = 500) -> list[OutboxItem]:
        """Deliveries `owner` holds the lease of (released when it shuts down)."""
        rows = self.tx.all(
            "SELECT * FROM outbox WHERE status = 'in_flight' AND lease_owner = ? ORDER BY id LIMIT ?", (owner, limit)
        )
        return [OutboxItem.from_row(r) for r in rows]

    def pending_count(self) -> int:
        """Deliveries waiting to be sent (the backlog the API sheds on; a partial index covers it)."""
        return int(self.tx.scalar("SELECT COUNT(*) FROM outbox WHERE status = 'pending'") or 0)

    def get_outbox(self, item_id: int) -> OutboxItem | None:
        row = self.tx.one("SELECT * FROM outbox WHERE id = ?", (item_id,))
        return None if row is None else OutboxItem.from_row(row)

    def list_outbox(
        self, *, status: str, target: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[OutboxItem]:
        sql = "SELECT * FROM outbox WHERE status = ? AND id > ?"
        params: list[Any] = [status, after_id]
        if target is not None:
            sql += " AND target = ?"
            params.append(target)
        rows = self.tx.all(sql + " ORDER BY id LIMIT ?", (*params, limit))
        return [OutboxItem.from_row(r) for r in rows]

    def delivered_version(self, record_id: str, target: str) -> int | None:
        """The newest version sent or on its way to `target` (the link remembers what retention
        already purged from the outbox)."""
        queued = self.tx.scalar(
            "SELECT MAX(version) AS v FROM outbox WHERE record_id = ? AND target = ?"
            " AND status IN ('pending', 'in_flight', 'done')",
            (record_id, target),
        )
        written = self.tx.scalar(
            "SELECT written_version FROM links WHERE record_id = ? AND system = ?", (record_id, target)
        )
        versions = [int(v) for v in (queued, written) if v is not None]
        return max(versions) if versions else None

    def purge_finished(self, before: datetime, limit: int) -> int:
        """Retention: finished deliveries (done, superseded) older than `before`. Dead letters stay
        until a person replays them; the links keep what was written."""
        return self.tx.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status IN ('done', 'superseded')"
            " AND COALESCE(finished_at, updated_at) < ? ORDER BY id LIMIT ?)",
            (before, limit),
        )

    def purge_writes(self, before: datetime, limit: int) -> int:
        """Retention of the write history: writes sent before `before` whose echo no longer
        matters: the system reported back this write or a newer one, or a newer write of ours was
        acknowledged since. The last write a system has not reported stays, however old: detection
        (`target_mismatches`) keeps counting it while the system shows something else."""
        return self.tx.execute(
            "DELETE FROM writes WHERE (record_id, system, version) IN (SELECT w.record_id, w.system, w.version"
            " FROM writes w LEFT JOIN links l ON l.record_id = w.record_id AND l.system = w.system"
            " WHERE w.sent_at < ? AND (l.record_id IS NULL OR w.version < COALESCE(l.written_version, 0)"
            " OR w.version <= COALESCE(l.confirmed_version, 0)) LIMIT ?)",
            (before, limit),
        )

    def target_mismatches(self, acked_before: datetime) -> list[Row]:
        """Detection, per system: records whose last write the system acknowledged before
        `acked_before` (the feed's catch-up window ago) and has not reported back, while what it
        last reported differs from the canonical state and nothing is queued to it. Whatever the
        cause (a lost write, a feed that skipped it, a report taken for an echo wrongly), such a
        record must not stay silent."""
        return self.tx.all(
            "SELECT w.system AS system, COUNT(*) AS n FROM writes w"
            " JOIN links l ON l.record_id = w.record_id AND l.system = w.system"
            " JOIN records r ON r.record_id = w.record_id"
            " WHERE w.acked_at < ? AND w.version = l.written_version"
            " AND w.version > COALESCE(l.confirmed_version, 0) AND r.authoritative = 1"
            " AND (l.seen_status IS NULL OR l.seen_status <> r.status"
            " OR COALESCE(l.seen_reason, '') <> COALESCE(r.reason, ''))"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.record_id = w.record_id AND o.target = w.system"
            " AND o.status IN ('pending', 'in_flight'))"
            " GROUP BY w.system",
            (acked_before,),
        )

    def purge_inbox(self, before: datetime, limit: int) -> int:
        """Retention: inbox keys older than any feed re-delivers (feeds repeat only recent pages)."""
        return self.tx.execute(
            "DELETE FROM inbox WHERE (system, change_key) IN"
            " (SELECT system, change_key FROM inbox WHERE received_at < ? LIMIT ?)",
            (before, limit),
        )

    def revive(self, item: OutboxItem, now: datetime) -> None:
        """A dead letter goes back to pending for a replay."""
        self._require_locked([item.record_id])
        self.tx.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, replays = replays + 1,"
            " updated_at = ?, finished_at = NULL WHERE id = ? AND status = 'dead'",
            (now, now, item.id),
        )
        if item.repair_id:
            self.set_target_progress(item.repair_id, item.target, TargetProgress.PENDING, now, item.id)

    def mark_dead_superseded(self, item: OutboxItem, now: datetime) -> None:
        self._require_locked([item.record_id])
        self.tx.execute(
            "UPDATE outbox SET status = 'superseded', updated_at = ? WHERE id = ? AND status = 'dead'",
            (now, item.id),
        )
        if item.repair_id:
            self.set_target_progress(item.repair_id, item.target, TargetProgress.SUPERSEDED, now, item.id)

    def outbox_depth(self) -> list[Row]:
        return self.tx.all(
            "SELECT target, status, COUNT(*) AS n, MIN(created_at) AS oldest_at FROM outbox"
            " WHERE status IN ('pending', 'in_flight', 'dead') GROUP BY target, status"
        )

    # ---- repairs (progress) ----------------------------------------------------------------

    def create_repair(
        self,
        *,
        repair_id: str,
        record_id: str,
        action: str,
        source: str,
        decided_by: str,
        decided_at: datetime,
        version: int | None,
        outcome: str,
        now: datetime,
    ) -> None:
        self.create_repairs([(repair_id, record_id, action, source, decided_by, decided_at, now, version, outcome)])

    def create_repairs(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of (repair_id, record_id, action, source, decided_by, decided_at, accepted_at, version, outcome)."""
        self.tx.executemany(
            "INSERT INTO repairs (repair_id, record_id, action, source, decided_by, decided_at, accepted_at,"
            " version, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repair_id) DO NOTHING",
            rows,
        )

    def set_target_progress(
        self,
        repair_id: str,
        target: str,
        status: str,
        now: datetime,
        outbox_id: int | None,
        *,
        error: str | None = None,
    ) -> None:
        self.set_targets_progress([(repair_id, target, status, outbox_id)], now, error=error)

    def set_targets_progress(
        self, rows: Sequence[tuple[str, str, str, int | None]], now: datetime, *, error: str | None = None
    ) -> None:
        """Rows of (repair_id, target, status, outbox_id)."""
        self.tx.executemany(
            "INSERT INTO repair_targets (repair_id, target, outbox_id, status, updated_at, delivered_at, last_error)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repair_id, target) DO UPDATE SET"
            " outbox_id = COALESCE(excluded.outbox_id, repair_targets.outbox_id), status = excluded.status,"
            " updated_at = excluded.updated_at,"
            " delivered_at = COALESCE(excluded.delivered_at, repair_targets.delivered_at),"
            " last_error = excluded.last_error",
            [
                (repair_id, target, outbox_id, status, now, now if status == TargetProgress.DELIVERED else None, error)
                for repair_id, target, status, outbox_id in rows
            ],
        )

    def write_progress(self, rows: Sequence[tuple[str, str, str, int | None, Deadline | None]], now: datetime) -> None:
        """Rows of (repair_id, target, status, outbox_id, deadline) written by a plan: the rows of
        a new repair carry its sync deadline, which, once set, never moves."""
        self.tx.executemany(
            "INSERT INTO repair_targets (repair_id, target, outbox_id, status, updated_at, delivered_at, last_error,"
            " due_on, due_estimated) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?) ON CONFLICT (repair_id, target)"
            " DO UPDATE SET outbox_id = COALESCE(excluded.outbox_id, repair_targets.outbox_id),"
            " status = excluded.status, updated_at = excluded.updated_at, last_error = NULL,"
            " due_estimated = CASE WHEN repair_targets.due_on IS NULL AND excluded.due_on IS NOT NULL"
            " THEN excluded.due_estimated ELSE repair_targets.due_estimated END,"
            " due_on = COALESCE(repair_targets.due_on, excluded.due_on)",
            [
                (
                    repair_id,
                    target,
                    outbox_id,
                    status,
                    now,
                    deadline.due.isoformat() if deadline is not None else None,
                    1 if deadline is not None and deadline.estimated else 0,
                )
                for repair_id, target, status, outbox_id, deadline in rows
            ],
        )

    def get_repair(self, repair_id: str) -> tuple[Row, list[Row]] | None:
        row = self.tx.one("SELECT * FROM repairs WHERE repair_id = ?", (repair_id,))
        if row is None:
            return None
        targets = self.tx.all(
            "SELECT t.*, o.attempts AS attempts, o.next_attempt_at AS next_attempt_at,"
            " o.last_error AS outbox_last_error FROM repair_targets t LEFT JOIN outbox o ON o.id = t.outbox_id"
            " WHERE t.repair_id = ? ORDER BY t.target",
            (repair_id,),
        )
        return row, targets

    def repair_for_version(self, record_id: str, version: int) -> str | None:
        """The repair that brought the record to `version`, if one did."""
        value = self.tx.scalar(
            "SELECT repair_id FROM repairs WHERE record_id = ? AND version = ? AND outcome = 'changed'"
            " ORDER BY accepted_at LIMIT 1",
            (record_id, version),
        )
        return None if value is None else str(value)

    def find_records(
        self,
        *,
        system: str | None = None,
        category: str | None = None,
        status: str | None = None,
        reason: str | None = None,
        subject_code: str | None = None,
        updated_since: datetime | None = None,
        visible: tuple[Sequence[str] | None, Sequence[str] | None] = (None, None),
        after: str = "",
        limit: int = 100,
    ) -> list[Row]:
        """Records matching every filter given, keyset-paged by record_id; `visible`: only these
        authorities' and categories' records (None: any)."""
        where: list[str] = ["r.record_id > ?"]
        params: list[Any] = [after]
        _visible_only(where, params, visible)
        for clause, value in (
            ("r.category = ?", category),
            ("r.status = ?", status),
            ("r.reason = ?", reason),
            ("r.subject_code = ?", subject_code),
            ("r.updated_at >= ?", updated_since),
            ("EXISTS (SELECT 1 FROM links l WHERE l.record_id = r.record_id AND l.system = ?)", system),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        return self.tx.all(
            f"SELECT r.* FROM records r WHERE {' AND '.join(where)} ORDER BY r.record_id LIMIT ?", (*params, limit)
        )

    def find_repairs(
        self,
        *,
        record_id: str | None = None,
        action: str | None = None,
        source: str | None = None,
        target: str | None = None,
        status: str | None = None,
        accepted_since: datetime | None = None,
        visible: tuple[Sequence[str] | None, Sequence[str] | None] = (None, None),
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[Row]:
        """Repairs matching every filter given, keyset-paged by (accepted_at, repair_id); `visible`:
        only repairs of these authorities' and categories' records (None: any)."""
        where: list[str] = []
        params: list[Any] = []
        if visible != (None, None):
            inner: list[str] = ["r.record_id = p.record_id"]
            _visible_only(inner, params, visible)
            where.append(f"EXISTS (SELECT 1 FROM records r WHERE {' AND '.join(inner)})")
        for clause, value in (
            ("p.record_id = ?", record_id),
            ("p.action = ?", action),
            ("p.source = ?", source),
            ("p.accepted_at >= ?", accepted_since),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        if target is not None or status is not None:
            inner = [f"t.{column} = ?" for column, value in (("target", target), ("status", status)) if value]
            where.append(
                f"EXISTS (SELECT 1 FROM repair_targets t WHERE t.repair_id = p.repair_id AND {' AND '.join(inner)})"
            )
            params += [value for value in (target, status) if value]
        if after is not None:
            where.append("(p.accepted_at > ? OR (p.accepted_at = ? AND p.repair_id > ?))")
            params += [after[0], after[0], after[1]]
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        return self.tx.all(
            f"SELECT p.* FROM repairs p{condition} ORDER BY p.accepted_at, p.repair_id LIMIT ?", (*params, limit)
        )

    def target_statuses(self, repair_ids: Sequence[str]) -> dict[str, list[Row]]:
        """repair_id → its targets' (target, status), in target order."""
        if not repair_ids:
            return {}
        rows = self.tx.all(
            f"SELECT repair_id, target, status FROM repair_targets WHERE repair_id IN ({_marks(len(repair_ids))})"
            " ORDER BY repair_id, target",
            tuple(repair_ids),
        )
        found: dict[str, list[Row]] = {}
        for row in rows:
            found.setdefault(row["repair_id"], []).append(row)
        return found

    def repairs_of_record(self, record_id: str) -> list[Row]:
        return self.tx.all("SELECT * FROM repairs WHERE record_id = ? ORDER BY accepted_at", (record_id,))

    # ---- expiry sweep and sync SLA (migration 0002) ------------------------------------------
    # repair_targets.due_on is ISO date text on both dialects, so text order is date order.

    def published_after(self, after_record_id: str, limit: int) -> list[CanonicalRecord]:
        """One page of published records in record_id order (keyset: pass the last id seen; "" first).
        The partial index records_published keeps it a range scan however many records stopped."""
        rows = self.tx.all(
            "SELECT * FROM records WHERE status = 'published' AND record_id > ? ORDER BY record_id LIMIT ?",
            (after_record_id, limit),
        )
        return [record_from_row(r) for r in rows]

    def published_penalties_without_tier(self, after_record_id: str, limit: int) -> list[CanonicalRecord]:
        """Published administrative penalties whose facts state no Order 36 tier, in record_id
        order (keyset, like published_after). A prefilter: the rules say which of them await one."""
        severity = "(facts::jsonb ->> 'severity')" if self._pg else "json_extract(facts, '$.severity')"
        rows = self.tx.all(
            "SELECT * FROM records WHERE status = 'published' AND record_id > ? AND category = ?"
            f" AND {severity} IS NULL ORDER BY record_id LIMIT ?",
            (after_record_id, Category.ADMIN_PENALTY.value, limit),
        )
        return [record_from_row(r) for r in rows]

    def target_due_on(self, repair_id: str, target: str) -> date | None:
        """The sync deadline of one repair on one target (None: the repair has none)."""
        return self.deadlines_of([(repair_id, target)]).get((repair_id, target))

    def deadlines_of(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], date]:
        """The sync deadlines of (repair, target) pairs that have one."""
        repair_ids = sorted({repair_id for repair_id, _ in pairs})
        if not repair_ids:
            return {}
        rows = self.tx.all(
            f"SELECT repair_id, target, due_on FROM repair_targets WHERE repair_id IN ({_marks(len(repair_ids))})"
            " AND due_on IS NOT NULL",
            tuple(repair_ids),
        )
        wanted = set(pairs)
        found = {(row["repair_id"], row["target"]): date.fromisoformat(str(row["due_on"])) for row in rows}
        return {pair: due for pair, due in found.items() if pair in wanted}

    def overdue_targets(self, today: date) -> list[Row]:
        """Per target: repair targets still to be delivered (pending, in flight, retrying, dead) whose deadline
        ended before `today` (Beijing date)."""
        return self.tx.all(
            "SELECT target, COUNT(*) AS n FROM repair_targets"
            " WHERE status IN ('pending', 'in_flight', 'retrying', 'dead')"
            " AND due_on < ? GROUP BY target",
            (today.isoformat(),),
        )

    # ---- cursors ---------------------------------------------------------------------------

    def get_cursor(self, system: str, feed: str) -> str | None:
        value = self.tx.scalar("SELECT position FROM cursors WHERE system = ? AND feed = ?", (system, feed))
        return None if value is None else str(value)

    def set_cursor(self, system: str, feed: str, position: str, now: datetime) -> None:
        self.tx.execute(
            "INSERT INTO cursors (system, feed, position, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (system, feed) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
            (system, feed, position, now),
        )

    def move_cursor(self, system: str, feed: str, expected: str | None, position: str, now: datetime) -> bool:
        """Move the cursor from `expected` to `position`; False if someone else moved it first."""
        if expected is None:
            inserted = self.tx.execute(
                "INSERT INTO cursors (system, feed, position, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (system, feed) DO NOTHING",
                (system, feed, position, now),
            )
            return inserted == 1
        moved = self.tx.execute(
            "UPDATE cursors SET position = ?, updated_at = ? WHERE system = ? AND feed = ? AND position = ?",
            (position, now, system, feed, expected),
        )
        return moved == 1

    # ---- feed leases (gateway/sync/poller.py; migration 0014; docs/adr/0030) ------------------

    def claim_feed(self, system: str, feed: str, owner: str, now: datetime, until: datetime) -> int | None:
        """Take or renew the lease on a feed: the generation held, or None while another reader's
        lease runs. A take-over (a new owner) starts a new generation, which fences the old one."""
        self.tx.execute(
            "INSERT INTO feed_leases (system, feed, owner, generation, lease_until) VALUES (?, ?, ?, 1, ?)"
            " ON CONFLICT (system, feed) DO NOTHING",
            (system, feed, owner, until),
        )
        generation = self.tx.scalar(
            "UPDATE feed_leases SET generation = CASE WHEN owner = ? THEN generation ELSE generation + 1 END,"
            " owner = ?, lease_until = ? WHERE system = ? AND feed = ? AND (owner = ? OR lease_until < ?)"
            " RETURNING generation",
            (owner, owner, until, system, feed, owner, now),
        )
        return None if generation is None else int(generation)

    def take_feed(self, system: str, feed: str, owner: str, until: datetime) -> int:
        """Take the feed whoever holds it (`creditgw resync`): a new generation fences the reader
        that had it; on PostgreSQL this waits for its units in flight (they read the row FOR SHARE)."""
        generation = self.tx.scalar(
            "INSERT INTO feed_leases (system, feed, owner, generation, lease_until) VALUES (?, ?, ?, 1, ?)"
            " ON CONFLICT (system, feed) DO UPDATE SET owner = excluded.owner,"
            " generation = feed_leases.generation + 1, lease_until = excluded.lease_until RETURNING generation",
            (system, feed, owner, until),
        )
        return int(generation or 0)

    def feed_holder(self, system: str, feed: str) -> str | None:
        value = self.tx.scalar("SELECT owner FROM feed_leases WHERE system = ? AND feed = ?", (system, feed))
        return None if value is None else str(value)

    def holds_feed(self, system: str, feed: str, owner: str, generation: int) -> bool:
        """Whether `owner` still holds the feed under `generation`. On PostgreSQL the row is read
        FOR SHARE: a take-over waits until this unit commits, and every later unit sees it."""
        share = " FOR SHARE" if self._pg else ""
        held = self.tx.scalar(
            f"SELECT generation FROM feed_leases WHERE system = ? AND feed = ? AND owner = ?{share}",
            (system, feed, owner),
        )
        return held is not None and int(held) == generation

    def release_feed(self, system: str, feed: str, owner: str, now: datetime) -> None:
        """Let the lease run out now (a reader shutting down), so another replica reads at once."""
        self.tx.execute(
            "UPDATE feed_leases SET lease_until = ? WHERE system = ? AND feed = ? AND owner = ?",
            (now, system, feed, owner),
        )

    def first_reads(self) -> dict[str, tuple[str, datetime]]:
        """Per system, how far the first complete read of its feed went, and when (gateway.sync.poller)."""
        rows = self.tx.all("SELECT system, position, updated_at FROM cursors WHERE feed = ?", (FIRST_READ_FEED,))
        return {row["system"]: (row["position"], _ts(row["updated_at"])) for row in rows}

    # ---- quarantine (gateway/quarantine.py; migration 0007) -----------------------------------

    def add_quarantine(
        self,
        *,
        system: str,
        change_key: str,
        kind: str,
        reason: str,
        field: str | None,
        message: str,
        raw: str,
        now: datetime,
    ) -> bool:
        """True when the change is new here; one quarantined again (a feed re-read) is left as it is."""
        inserted = self.tx.execute(
            "INSERT INTO quarantine (system, change_key, kind, reason, field, message, raw, status, retries,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', 0, ?, ?)"
            " ON CONFLICT (system, change_key) DO NOTHING",
            (system, change_key, kind, reason, field, message, raw, now, now),
        )
        return inserted == 1

    def list_quarantine(
        self,
        *,
        status: str | None = None,
        system: str | None = None,
        reason: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Row]:
        sql = "SELECT * FROM quarantine WHERE id > ?"
        params: list[Any] = [after_id]
        for column, value in (("status", status), ("system", system), ("reason", reason)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        return self.tx.all(sql + " ORDER BY id LIMIT ?", (*params, limit))

    def get_quarantine(self, item_id: int, *, lock: bool = False) -> Row | None:
        suffix = " FOR UPDATE" if lock and self._pg else ""
        return self.tx.one(f"SELECT * FROM quarantine WHERE id = ?{suffix}", (item_id,))

    def resolve_quarantine(self, item_id: int, *, outcome: str, record_id: str | None, now: datetime) -> bool:
        """Open → resolved, once: a second retry (or replica) finds it resolved and does nothing."""
        return (
            self.tx.execute(
                "UPDATE quarantine SET status = 'resolved', outcome = ?, record_id = ?, retries = retries + 1,"
                " updated_at = ?, resolved_at = ? WHERE id = ? AND status = 'open'",
                (outcome, record_id, now, now, item_id),
            )
            == 1
        )

    def requarantine(self, item_id: int, *, reason: str, field: str | None, message: str, now: datetime) -> None:
        """A retry that still cannot apply the change: the row stays open with the latest reason."""
        self.tx.execute(
            "UPDATE quarantine SET reason = ?, field = ?, message = ?, retries = retries + 1, updated_at = ?"
            " WHERE id = ? AND status = 'open'",
            (reason, field, message, now, item_id),
        )

    def open_quarantine_counts(self) -> list[Row]:
        return self.tx.all(
            "SELECT system, reason, COUNT(*) AS n FROM quarantine WHERE status = 'open' GROUP BY system, reason"
        )

    # ---- idempotent API requests -------------------------------------------------------------

    def get_idempotent(self, client: str, key: str) -> Row | None:
        lock = " FOR UPDATE" if self._pg else ""
        return self.tx.one(f"SELECT * FROM idempotency WHERE client = ? AND key = ?{lock}", (client, key))

    def idempotent_of(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Row]:
        """The stored requests among (client, key) pairs: one statement per client (a row-value
        IN list would make SQLite scan the table instead of using the primary key)."""
        keys_of: dict[str, list[str]] = {}
        for client, key in pairs:
            keys_of.setdefault(client, []).append(key)
        found: dict[tuple[str, str], Row] = {}
        for client, keys in keys_of.items():
            which, params = self._in("key", keys)
            rows = self.tx.all(f"SELECT * FROM idempotency WHERE client = ? AND {which}", (client, *params))
            found.update(((row["client"], row["key"]), row) for row in rows)
        return found

    def purge_idempotency(self, before: datetime, limit: int) -> int:
        """Retention: stored answers older than `before` (index idempotency_created); their keys
        are then unknown again."""
        return self.tx.execute(
            "DELETE FROM idempotency WHERE (client, key) IN"
            " (SELECT client, key FROM idempotency WHERE created_at < ? LIMIT ?)",
            (before, limit),
        )

    def save_idempotent(self, client: str, key: str, request_hash: str, status: int, body: str, now: datetime) -> None:
        self.save_idempotents([(client, key, request_hash, status, body, now)])

    def save_idempotents(self, rows: Sequence[tuple[str, str, str, int, str, datetime]]) -> None:
        """Rows of (client, key, request_hash, status, body, now)."""
        self.tx.executemany(
            "INSERT INTO idempotency (client, key, request_hash, state, response_status, response_body,"
            " created_at, updated_at) VALUES (?, ?, ?, 'done', ?, ?, ?, ?)",
            [(client, key, h, status, body, now, now) for client, key, h, status, body, now in rows],
        )

    # ---- reads for the API -----------------------------------------------------------------

    def records_of_subject(self, subject_code: str, limit: int = 500) -> list[CanonicalRecord]:
        rows = self.tx.all(
            "SELECT * FROM records WHERE subject_code = ? ORDER BY category, record_id LIMIT ?",
            (subject_code, limit),
        )
        return [record_from_row(r) for r in rows]

    def audit_of(self, record_id: str, limit: int = 200) -> list[Row]:
        return self.tx.all("SELECT * FROM audit WHERE record_id = ? ORDER BY id DESC LIMIT ?", (record_id, limit))

    def count(self, table: str) -> int:
        if table not in _COUNTABLE:
            raise ValueError(table)
        return int(self.tx.scalar(f"SELECT COUNT(*) AS n FROM {table}") or 0)

    # ---- reminders (gateway/reminders.py; migrations 0003, 0012) ----------------------------
    # The ledger is keyed by (record_id, milestone): inserting twice is a no-op, so one reminder per
    # milestone holds across runs, restarts and replicas. Each new row is sent as an outbox row to
    # SMS_TARGET whose idempotency key is the reminder's message_id; its state is that row's.

    # The scan over published records is `published_after` (above, shared with the expiry sweep).

    def schedule_reminders(self, due: Sequence[tuple[CanonicalRecord, str, str, str]], now: datetime) -> int:
        """Rows of (record, milestone, due_on, message_id): the new ones are added to the ledger and
        queued to SMS_TARGET; returns how many were new. A record's reminder still queued for an
        older milestone (its dates changed) is superseded: only one is pending per record."""
        if not due:
            return 0
        self.lock_records(record.record_id for record, _, _, _ in due)
        new: set[tuple[str, str]] = set()
        for start in range(0, len(due), _ROWS_CHUNK):
            chunk = due[start : start + _ROWS_CHUNK]
            rows = self.tx.all(
                "INSERT INTO reminders (record_id, milestone, due_on, channel, message_id, created_at, updated_at)"
                f" VALUES {', '.join(['(?, ?, ?, ?, ?, ?, ?)'] * len(chunk))}"
                " ON CONFLICT (record_id, milestone) DO NOTHING RETURNING record_id, milestone",
                tuple(
                    v
                    for record, milestone, due_on, message_id in chunk
                    for v in (record.record_id, milestone, due_on, SMS_TARGET, message_id, now, now)
                ),
            )
            new.update((row["record_id"], row["milestone"]) for row in rows)
        queued = [item for item in due if (item[0].record_id, item[1]) in new]
        if not queued:
            return 0
        ids, params = self._in("record_id", [record.record_id for record, _, _, _ in queued])
        self.tx.execute(
            "UPDATE outbox SET status = 'superseded', updated_at = ?, finished_at = ?"
            f" WHERE target = ? AND status = 'pending' AND {ids}",
            (now, now, SMS_TARGET, *params),
        )
        values = []
        for record, _, _, message_id in queued:
            state = record.state
            delivery = Delivery(
                record_id=record.record_id,
                system=SMS_TARGET,
                state=state.target,
                version=state.version,
                decided_at=state.decided_at,
            )
            values.append(_outbox_values(delivery, None, now, key=message_id))
        outbox_ids: dict[str, int] = {}
        for start in range(0, len(values), _ROWS_CHUNK):
            chunk = values[start : start + _ROWS_CHUNK]
            rows = self.tx.all(
                _INSERT_OUTBOX + ", ".join([_OUTBOX_ROW] * len(chunk)) + " RETURNING id, idempotency_key",
                tuple(v for row in chunk for v in row),
            )
            outbox_ids.update((row["idempotency_key"], int(row["id"])) for row in rows)
        self.tx.executemany(
            "UPDATE reminders SET outbox_id = ? WHERE message_id = ?",
            [(outbox_id, message_id) for message_id, outbox_id in outbox_ids.items()],
        )
        return len(queued)

    def get_reminder(self, record_id: str, milestone: str) -> Row | None:
        return self.tx.one(_REMINDER + " WHERE m.record_id = ? AND m.milestone = ?", (record_id, milestone))

    def reminders_of_record(self, record_id: str) -> list[Row]:
        return self.tx.all(_REMINDER + " WHERE m.record_id = ? ORDER BY m.milestone", (record_id,))

    def queued_reminders_page(self, after: tuple[str, str], limit: int) -> list[Row]:
        """Reminders still queued, after the key `after`, in key order."""
        return self.tx.all(
            "SELECT m.*, o.attempts AS attempts FROM reminders m JOIN outbox o ON o.id = m.outbox_id"
            " WHERE o.status IN ('pending', 'in_flight') AND (m.record_id > ? OR (m.record_id = ? AND m.milestone > ?))"
            " ORDER BY m.record_id, m.milestone LIMIT ?",
            (after[0], after[0], after[1], limit),
        )


@dataclass(frozen=True, kw_only=True)
class Coalesced:
    """What queuing a delivery does, given the pending row of its (record, target), if any."""

    keep: int | None = None  # that row already carries this version or a newer one: it stays
    replace: int | None = None  # that row carries an older version: it takes the new one
    supersedes: str | None = None  # the other repair whose delivery the replaced row was


def _visible_only(
    where: list[str], params: list[Any], visible: tuple[Sequence[str] | None, Sequence[str] | None]
) -> None:
    """Conditions on records `r` keeping those of the given authorities and categories."""
    for column, values in zip(("r.authority_code", "r.category"), visible, strict=True):
        if values is not None:
            where.append(f"{column} IN ({_marks(len(values))})" if values else "1 = 0")
            params.extend(values)


def coalesce(pending: Row | None, delivery: Delivery, repair_id: str | None) -> Coalesced:
    """The one rule of `enqueue` and of a batch of decisions: only the newest state of a pair is
    pending (nothing at all pending: a new row)."""
    if pending is None:
        return Coalesced()
    if int(pending["version"]) >= delivery.version:
        return Coalesced(keep=int(pending["id"]))
    other = pending["repair_id"] if pending["repair_id"] and pending["repair_id"] != repair_id else None
    return Coalesced(replace=int(pending["id"]), supersedes=other)


_INSERT_OUTBOX = (
    "INSERT INTO outbox (record_id, target, version, state_status, state_reason, state_decided_at,"
    " idempotency_key, repair_id, status, attempts, next_attempt_at, replays, created_at, updated_at,"
    " state_stopped_on) VALUES "
)
_OUTBOX_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, 0, ?, ?, ?)"
_INSERT_OUTBOX_ARRAYS = (
    _INSERT_OUTBOX.removesuffix(" VALUES ")
    + " SELECT u.r, u.t, u.v, u.ss, u.sr, u.sd, u.ik, u.rp, 'pending', 0, u.na, 0, u.ca, u.ua, u.so"
    " FROM unnest(?::text[], ?::text[], ?::int[], ?::text[], ?::text[], ?::timestamptz[], ?::text[], ?::text[],"
    " ?::timestamptz[], ?::timestamptz[], ?::timestamptz[], ?::text[])"
    " AS u(r, t, v, ss, sr, sd, ik, rp, na, ca, ua, so)"
    " RETURNING id, record_id, target"
)
_ROWS_CHUNK = 500  # rows per multi-row VALUES: 12 parameters each, far below either dialect's limit

# A reminder with the state of its outbox row: pending (queued or being sent), sent, dead, or
# cancelled (done without a text, or superseded by a later milestone); rows from before migration
# 0012 that left no outbox row were sent (msg_id) or cancelled.
_REMINDER = (
    "SELECT m.record_id, m.milestone, m.due_on, m.channel, m.message_id, m.msg_id, m.created_at, m.updated_at,"
    " m.sent_at, m.outbox_id,"
    " CASE WHEN o.status IN ('pending', 'in_flight') THEN 'pending' WHEN o.status = 'dead' THEN 'dead'"
    " WHEN m.msg_id IS NOT NULL THEN 'sent' ELSE 'cancelled' END AS status,"
    " COALESCE(o.attempts, 0) AS attempts, o.next_attempt_at AS next_attempt_at,"
    " COALESCE(m.last_error, o.last_error) AS last_error, o.status AS outbox_status"
    " FROM reminders m LEFT JOIN outbox o ON o.id = m.outbox_id"
)


def _outbox_values(delivery: Delivery, repair_id: str | None, now: datetime, key: str | None = None) -> tuple[Any, ...]:
    return (
        delivery.record_id,
        delivery.system,
        delivery.version,
        delivery.state.status.value,
        _reason(delivery.state),
        delivery.decided_at,
        key or delivery.idempotency_key,
        repair_id,
        now,
        now,
        now,
        _stopped_on(delivery.state),
    )


_LOCK_CHUNK = 500  # lock rows per statement: far below either dialect's limit on parameters


def _marks(n: int) -> str:
    return ", ".join(["?"] * n)


_COUNTABLE = frozenset(
    {"records", "links", "inbox", "outbox", "repairs", "repair_targets", "audit", "cursors", "idempotency"}
    | {"clients", "client_secrets", "nonces", "call_audit"}  # 0009
    | {"reminders", "quarantine", "writes"}
    | {"reconcile_runs", "reconcile_pairs", "reconcile_findings", "scheduled_runs"}  # 0010
    | {"feed_leases"}  # 0014
)


_INSERT_RECORD = (
    "INSERT INTO records (category, authority_code, document_number, subject_code, subject_name, facts,"
    " facts_fingerprint, status, reason, version, decided_by, decided_at, authoritative, record_id, created_at,"
    " updated_at, stopped_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _record_values(record: CanonicalRecord) -> tuple[Any, ...]:
    """A record's columns in `_INSERT_RECORD` order, up to record_id (the times come from the caller)."""
    facts, state = record.facts, record.state
    return (
        facts.category.value,
        facts.identity.authority_code,
        facts.identity.document_number,
        facts.subject_code,
        facts.subject_name,
        facts.json_text(),
        facts.fingerprint(),
        state.target.status.value,
        _reason(state.target),
        state.version,
        state.decided_by,
        state.decided_at,
        1 if state.authoritative else 0,
        record.record_id,
    )


def record_from_row(row: Row) -> CanonicalRecord:
    target = _target(row["status"], row["reason"], row["stopped_on"])
    assert target is not None
    return CanonicalRecord(
        record_id=row["record_id"],
        facts=RecordFacts.from_json(json.loads(row["facts"])),
        state=PublicityState(
            target=target,
            version=int(row["version"]),
            decided_by=row["decided_by"],
            decided_at=_ts(row["decided_at"]),
            authoritative=bool(row["authoritative"]),
        ),
    )


def link_from_row(row: Row) -> LinkState:
    return LinkState(
        system=row["system"],
        native_id=row["native_id"],
        written_version=row["written_version"],
        written_target=_target(row["written_status"], row["written_reason"]),
        written_at=from_db_ts(row["written_at"]),
        seen_target=_target(row["seen_status"], row["seen_reason"]),
        seen_source_version=row["seen_source_version"],
        confirmed_version=row["confirmed_version"],
    )


def sent_write_from_row(row: Row) -> SentWrite:
    target = _target(row["status"], row["reason"])
    assert target is not None
    return SentWrite(
        version=int(row["version"]), target=target, digest=row["digest"], acked_at=from_db_ts(row["acked_at"])
    )
