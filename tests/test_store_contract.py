"""One contract, every backend: the `db` fixture runs each test on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest

from gateway.domain.model import PUBLISHED, StopReason, stopped
from gateway.domain.plan import Action, Decision, Observation, Policy
from gateway.store.database import Database, Tx, UniqueViolation, open_database
from gateway.store.group import GroupCommitter
from gateway.store.migrate import available, migrate
from gateway.store.repo import OutboxStatus, Repo
from gateway.store.schema import TABLES
from gateway.sync.dlq import replay
from gateway.sync.ingest import apply_event
from tests.conftest import T0, penalty_facts

CC, GS = "creditchina_gansu", "gsxt_gansu"
POLICY = Policy(enabled_systems=frozenset({CC, GS}))
LEASE = timedelta(seconds=30)

_EXPECTED_TYPES = {
    "sqlite": {"text": "TEXT", "int": "INTEGER", "bigint": "INTEGER", "ts": "TEXT", "serial": "INTEGER"},
    "postgresql": {
        "text": "text",
        "int": "integer",
        "bigint": "bigint",
        "ts": "timestamp with time zone",
        "serial": "bigint",
    },
}


def _introspect(tx: Tx) -> dict[str, dict[str, object]]:
    """What the database says it has: columns (type, nullable), primary key, indexes."""
    found: dict[str, dict[str, object]] = {}
    if tx.dialect.name == "sqlite":
        for table in [r["name"] for r in tx.all("SELECT name FROM sqlite_master WHERE type = 'table'")]:
            if table.startswith("sqlite_"):
                continue
            cols = tx.all(f"PRAGMA table_info({table})")
            indexes = {}
            for row in tx.all("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)):
                if row["sql"] is None:  # automatic index of a primary key
                    continue
                columns = tuple(r["name"] for r in tx.all(f"PRAGMA index_info({row['name']})"))
                where = re.search(r"WHERE (.+)$", row["sql"])
                indexes[row["name"]] = (columns, "UNIQUE" in row["sql"], where.group(1).strip() if where else None)
            found[table] = {
                "columns": {c["name"]: (c["type"], not c["notnull"] and not c["pk"]) for c in cols},
                "pk": tuple(c["name"] for c in sorted(cols, key=lambda c: c["pk"]) if c["pk"]),
                "indexes": indexes,
            }
        return found
    tables = [
        r["table_name"]
        for r in tx.all("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    ]
    for table in tables:
        cols = tx.all(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        pk = tx.all(
            "SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = (current_schema() || '.' || ?)::regclass"
            " AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
            (table,),
        )
        indexes = {}
        for row in tx.all(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?",
            (table,),
        ):
            if row["indexname"].endswith("_pkey"):
                continue
            columns = tuple(c.strip() for c in re.search(r"\((.*?)\)", row["indexdef"]).group(1).split(","))
            where = re.search(r"WHERE \((.+)\)$", row["indexdef"])
            predicate = where.group(1).replace("::text", "").replace("(", "").replace(")", "") if where else None
            indexes[row["indexname"]] = (columns, "UNIQUE" in row["indexdef"], predicate)
        found[table] = {
            "columns": {c["column_name"]: (c["data_type"], c["is_nullable"] == "YES") for c in cols},
            "pk": tuple(r["name"] for r in pk),
            "indexes": indexes,
        }
    return found


async def test_migrated_schema_equals_the_declared_one(db: Database) -> None:
    actual = await db.run(_introspect, write=False)
    types = _EXPECTED_TYPES[db.dialect.name]
    expected = {
        t.name: {
            "columns": {c.name: (types[c.type], c.nullable) for c in t.columns},
            "pk": t.primary_key,
            "indexes": {i.name: (i.columns, i.unique, i.where) for i in t.indexes},
        }
        for t in TABLES
    }
    assert actual == expected


async def test_migrate_is_idempotent_and_versioned(db: Database) -> None:
    assert await migrate(db) == []
    versions = await db.run(lambda tx: [r["version"] for r in tx.all("SELECT version FROM schema_migrations")])
    assert versions == [m.version for m in available(db.dialect.name)]


def _observe(tx: Tx, key: str, target=PUBLISHED, *, source: str = CC, version: str = "0001", minutes: int = 0):
    obs = Observation(
        source=source,
        facts=penalty_facts(),
        target=target,
        changed_at=T0 + timedelta(minutes=minutes),
        source_version=version,
        native_id="n-1",
    )
    return apply_event(tx, obs, source=source, change_key=key, policy=POLICY, now=T0 + timedelta(minutes=minutes))


def _decide(tx: Tx, action: Action, minutes: int):
    decision = Decision(
        record_id=penalty_facts().record_id,
        action=action,
        decided_at=T0 + timedelta(minutes=minutes),
        decided_by="tester",
    )
    return apply_event(tx, decision, source="api:test", change_key=None, policy=POLICY, now=T0)


async def test_inbound_change_is_applied_once(db: Database) -> None:
    first = await db.run(lambda tx: _observe(tx, "c1"))
    again = await db.run(lambda tx: _observe(tx, "c1"))
    assert first.outcome == "created" and again.duplicate
    counts = await db.run(lambda tx: (Repo(tx).count("records"), Repo(tx).count("outbox"), Repo(tx).count("inbox")))
    assert counts == (1, 1, 1)


async def test_newer_version_replaces_pending_delivery_in_place(db: Database) -> None:
    await db.run(lambda tx: _observe(tx, "c1"))
    await db.run(lambda tx: _decide(tx, Action.REPAIR, 5))
    await db.run(lambda tx: _decide(tx, Action.REVOKE_REPAIR, 6))
    pending = await db.run(lambda tx: Repo(tx).list_outbox(status=OutboxStatus.PENDING))
    by_target = {p.target: p for p in pending}
    assert set(by_target) == {CC, GS}
    assert by_target[GS].version == 3 and by_target[GS].state == PUBLISHED
    repairs = await db.run(lambda tx: tx.all("SELECT * FROM repair_targets ORDER BY repair_id, target"))
    assert sorted(r["status"] for r in repairs) == ["pending", "pending", "superseded", "superseded"]


async def test_at_most_one_delivery_in_flight_per_record_and_target(db: Database) -> None:
    await db.run(lambda tx: _observe(tx, "c1"))
    first = await db.run(lambda tx: Repo(tx).claim(T0, 10, "w1", T0 + LEASE))
    assert [(i.target, i.version) for i in first] == [(GS, 1)]
    await db.run(lambda tx: _decide(tx, Action.REPAIR, 5))
    second = await db.run(lambda tx: Repo(tx).claim(T0, 10, "w2", T0 + LEASE))
    assert [(i.target, i.version) for i in second] == [(CC, 2)]  # GS v2 waits for GS v1
    assert await db.run(lambda tx: Repo(tx).complete(first[0], "w1", "g-1", T0))
    third = await db.run(lambda tx: Repo(tx).claim(T0, 10, "w2", T0 + LEASE))
    assert [(i.target, i.version) for i in third] == [(GS, 2)]


async def test_database_refuses_a_second_in_flight_row(db: Database) -> None:
    await db.run(lambda tx: _observe(tx, "c1"))
    await db.run(lambda tx: Repo(tx).claim(T0, 10, "w1", T0 + LEASE))

    def _force(tx: Tx) -> None:
        tx.execute(
            "INSERT INTO outbox (record_id, target, version, state_status, state_decided_at, idempotency_key,"
            " status, attempts, next_attempt_at, replays, created_at, updated_at)"
            " SELECT record_id, target, 9, state_status, state_decided_at, 'k', 'in_flight', 0, next_attempt_at, 0,"
            " created_at, updated_at FROM outbox"
        )

    with pytest.raises(UniqueViolation):
        await db.run(_force)


async def test_expired_lease_comes_back_and_the_old_worker_loses_it(db: Database) -> None:
    await db.run(lambda tx: _observe(tx, "c1"))
    claimed = await db.run(lambda tx: Repo(tx).claim(T0, 10, "dead-worker", T0 + LEASE))
    assert await db.run(lambda tx: Repo(tx).expired_leases(T0 + LEASE / 2)) == []
    later = T0 + LEASE * 2
    expired = await db.run(lambda tx: Repo(tx).expired_leases(later))
    assert [e.id for e in expired] == [claimed[0].id]
    assert await db.run(lambda tx: Repo(tx).reschedule(expired[0], None, later, "lease expired", later))
    reclaimed = await db.run(lambda tx: Repo(tx).claim(later, 10, "w2", later + LEASE))
    assert [r.id for r in reclaimed] == [claimed[0].id] and reclaimed[0].attempts == 2
    assert not await db.run(lambda tx: Repo(tx).complete(claimed[0], "dead-worker", None, later))
    assert await db.run(lambda tx: Repo(tx).complete(reclaimed[0], "w2", None, later))


async def test_failed_delivery_with_newer_version_waiting_is_superseded(db: Database) -> None:
    await db.run(lambda tx: _observe(tx, "c1"))
    claimed = await db.run(lambda tx: Repo(tx).claim(T0, 10, "w1", T0 + LEASE))
    await db.run(lambda tx: _decide(tx, Action.REPAIR, 5))
    assert await db.run(lambda tx: Repo(tx).reschedule(claimed[0], "w1", T0, "boom", T0))
    row = await db.run(lambda tx: Repo(tx).get_outbox(claimed[0].id))
    assert row is not None and row.status == OutboxStatus.SUPERSEDED


async def test_dead_letter_keeps_context_and_replays_with_loop_guard(db: Database) -> None:
    await db.run(lambda tx: _observe(tx, "c1"))
    committer = GroupCommitter(db)
    try:
        for round_ in range(3):
            claimed = await db.run(lambda tx: Repo(tx).claim(T0, 10, "w1", T0 + LEASE))
            assert len(claimed) == 1
            context = {"message": "rejected", "status": 200, "code": "03", "attempts": claimed[0].attempts}
            assert await db.run(lambda tx, c=claimed[0], ctx=context: Repo(tx).dead_letter(c, "w1", ctx, T0))
            dead = await db.run(lambda tx: Repo(tx).list_outbox(status=OutboxStatus.DEAD, target=GS))
            assert dead[0].dead_context == context and dead[0].last_error == "rejected"
            dry = await replay(committer, now=T0, target=GS, dry_run=True, max_replays=2)
            assert dry.replayed == ([dead[0].id] if round_ < 2 else [])
            report = await replay(committer, now=T0, target=GS, max_replays=2)
            if round_ < 2:
                assert report.replayed == [dead[0].id]
            else:
                assert report.guarded == [dead[0].id]
        forced = await replay(committer, now=T0, ids=[dead[0].id], force=True, max_replays=2)
        assert forced.replayed == [dead[0].id]
    finally:
        await committer.close()


async def test_replaying_a_dead_letter_overtaken_by_a_newer_version_changes_nothing(db: Database) -> None:
    await db.run(lambda tx: _observe(tx, "c1"))
    claimed = await db.run(lambda tx: Repo(tx).claim(T0, 10, "w1", T0 + LEASE))
    await db.run(lambda tx: Repo(tx).dead_letter(claimed[0], "w1", {"message": "x"}, T0))
    await db.run(lambda tx: _decide(tx, Action.REPAIR, 5))
    committer = GroupCommitter(db)
    try:
        report = await replay(committer, now=T0, target=GS)
    finally:
        await committer.close()
    assert report.superseded == [claimed[0].id] and report.replayed == []


async def test_cursor_round_trip(db: Database) -> None:
    assert await db.run(lambda tx: Repo(tx).get_cursor(CC, "changes")) is None
    await db.run(lambda tx: Repo(tx).set_cursor(CC, "changes", "2026/05/01 08:00:00", T0))
    await db.run(lambda tx: Repo(tx).set_cursor(CC, "changes", "2026/05/01 09:00:00", T0))
    assert await db.run(lambda tx: Repo(tx).get_cursor(CC, "changes")) == "2026/05/01 09:00:00"


async def test_group_commit_isolates_a_failing_unit(db: Database) -> None:
    committer = GroupCommitter(db, max_batch=8, window_ms=5)

    def _bad(tx: Tx) -> None:
        Repo(tx).set_cursor("x", "changes", "written-then-rolled-back", T0)
        raise ValueError("refused")

    try:
        results = await asyncio.gather(
            committer.submit(lambda tx: _observe(tx, "c1")),
            committer.submit(_bad),
            committer.submit(lambda tx: Repo(tx).set_cursor(GS, "changes", "7", T0)),
            return_exceptions=True,
        )
    finally:
        await committer.close()
    assert isinstance(results[1], ValueError)
    assert await db.run(lambda tx: Repo(tx).get_cursor("x", "changes")) is None
    assert await db.run(lambda tx: Repo(tx).get_cursor(GS, "changes")) == "7"
    assert await db.run(lambda tx: Repo(tx).count("records")) == 1


async def test_concurrent_claimers_never_share_a_row_or_a_pair(db: Database, database_url: str) -> None:
    """Several workers (separate connections; on PostgreSQL, as separate replicas would) claim at once."""

    def _seed(tx: Tx) -> None:
        for n in range(40):
            facts = penalty_facts(document_number=f"兰环罚〔2026〕{n}号")
            obs = Observation(source=CC, facts=facts, target=PUBLISHED, changed_at=T0, source_version="1")
            apply_event(tx, obs, source=CC, change_key=f"k{n}", policy=POLICY, now=T0)
            decision = Decision(
                record_id=facts.record_id, action=Action.REPAIR, decided_at=T0 + timedelta(minutes=1), decided_by="t"
            )
            apply_event(tx, decision, source="api:t", change_key=None, policy=POLICY, now=T0)

    await db.run(_seed)
    workers = [open_database(database_url) for _ in range(4)]
    try:
        batches = await asyncio.gather(
            *(w.run(lambda tx, n=n: Repo(tx).claim(T0, 15, f"w{n}", T0 + LEASE)) for n, w in enumerate(workers))
        )
    finally:
        for w in workers:
            await w.close()
    claimed = [item for batch in batches for item in batch]
    assert len({i.id for i in claimed}) == len(claimed)
    assert len({(i.record_id, i.target) for i in claimed}) == len(claimed)
    assert sum(len(b) for b in batches) == 60  # 40 GS rows + 40 CC rows, GS v2 waits behind GS v1... capped by 4×15
    states = await db.run(lambda tx: tx.all("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status"))
    assert {r["status"]: r["n"] for r in states}["in_flight"] == 60
    assert stopped(StopReason.REPAIRED)  # the decisions above were repairs


async def test_cursor_moves_only_from_where_the_poll_started(db: Database) -> None:
    assert await db.run(lambda tx: Repo(tx).move_cursor(CC, "changes", None, "a", T0))
    assert not await db.run(lambda tx: Repo(tx).move_cursor(CC, "changes", None, "b", T0))
    assert await db.run(lambda tx: Repo(tx).move_cursor(CC, "changes", "a", "c", T0))
    assert not await db.run(lambda tx: Repo(tx).move_cursor(CC, "changes", "a", "b", T0))  # a stale poller
    assert await db.run(lambda tx: Repo(tx).get_cursor(CC, "changes")) == "c"


async def test_retention_purges_finished_rows_but_keeps_dead_letters_and_what_was_written(db: Database) -> None:
    await db.run(lambda tx: _observe(tx, "c1"))
    [first] = await db.run(lambda tx: Repo(tx).claim(T0, 10, "w", T0 + LEASE))
    await db.run(lambda tx: Repo(tx).complete(first, "w", "g-1", T0))
    await db.run(lambda tx: _decide(tx, Action.REPAIR, 5))
    claimed = await db.run(lambda tx: Repo(tx).claim(T0, 10, "w", T0 + LEASE))
    dead = next(i for i in claimed if i.target == CC)
    await db.run(lambda tx: Repo(tx).dead_letter(dead, "w", {"message": "x"}, T0))
    later = T0 + timedelta(days=31)
    removed = await db.run(lambda tx: (Repo(tx).purge_finished(later, 100), Repo(tx).purge_inbox(later, 100)))
    assert removed == (1, 1)
    assert [i.id for i in await db.run(lambda tx: Repo(tx).list_outbox(status=OutboxStatus.DEAD))] == [dead.id]
    assert await db.run(lambda tx: Repo(tx).delivered_version(penalty_facts().record_id, GS)) == 2
    links = await db.run(lambda tx: Repo(tx).load_links(penalty_facts().record_id))
    assert links[GS].written_version == 1


async def test_a_failed_batch_is_retried_unit_by_unit(db: Database) -> None:
    """A batch whose transaction fails as a whole (e.g. a deadlock between parallel batches) is
    run again one unit per transaction: every caller hears its own outcome."""

    class FailOnce:
        def __init__(self, inner: Database) -> None:
            self.inner = inner
            self.dialect = inner.dialect
            self.is_single_node = inner.is_single_node
            self.failed = False

        async def run(self, fn: Any, *, write: bool = True) -> Any:
            if not self.failed:
                self.failed = True
                raise UniqueViolation("deadlock detected (simulated)")
            return await self.inner.run(fn, write=write)

    committer = GroupCommitter(FailOnce(db), max_batch=8, window_ms=5)  # type: ignore[arg-type]
    try:
        results = await asyncio.gather(
            committer.submit(lambda tx: Repo(tx).set_cursor("a", "changes", "1", T0)),
            committer.submit(lambda tx: Repo(tx).set_cursor("b", "changes", "2", T0)),
            committer.submit(lambda tx: Repo(tx).set_cursor("c", "changes", "3", T0)),
        )
    finally:
        await committer.close()
    assert results == [None, None, None]
    cursors = await db.run(lambda tx: [Repo(tx).get_cursor(s, "changes") for s in "abc"])
    assert cursors == ["1", "2", "3"]


async def test_completing_several_deliveries_keeps_only_those_whose_lease_is_held(db: Database) -> None:
    """`complete_many` (the dispatcher records outcomes that finish together at once): one flag per
    delivery, in order; a delivery whose lease another worker holds now is left to that worker."""
    await db.run(lambda tx: _observe(tx, "c1"))
    await db.run(lambda tx: _decide(tx, Action.REPAIR, 5))  # v2 for both (GS's pending v1 replaced)
    claimed = await db.run(lambda tx: Repo(tx).claim(T0, 10, "w1", T0 + LEASE))
    assert sorted((i.target, i.version) for i in claimed) == [(CC, 2), (GS, 2)]
    stolen = next(i for i in claimed if i.target == CC)
    await db.run(lambda tx: tx.execute("UPDATE outbox SET lease_owner = 'w2' WHERE id = ?", (stolen.id,)))

    done = [(item, f"n-{item.target}") for item in claimed]
    kept = await db.run(lambda tx: Repo(tx).complete_many(done, "w1", T0))

    assert kept == [item.id != stolen.id for item in claimed]
    links = await db.run(lambda tx: Repo(tx).load_links(penalty_facts().record_id), write=False)
    assert links[GS].written_version == 2 and links[GS].native_id == f"n-{GS}"
    assert links[CC].written_version is None  # w2 still owns that delivery
    statuses = await db.run(lambda tx: tx.all("SELECT target, status FROM outbox ORDER BY target"), write=False)
    assert [(r["target"], r["status"]) for r in statuses] == [(CC, "in_flight"), (GS, "done")]
