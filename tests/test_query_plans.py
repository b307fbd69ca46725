"""Plans that do not depend on statistics (issue 14): the hot batch reads use their indexes on
PostgreSQL tables that were never analysed (this machine's PostgreSQL runs without autovacuum).

A long `IN (…)` list on an unanalysed table was planned as a full scan (14.8 ms per batch at 80,000
links, growing with the table); batch reads now take one array (`= ANY(?)`, Repo._in). This test
fills the hot tables with 80,000 rows each, never runs ANALYZE, and asks PostgreSQL for the plan of
every SELECT the plan writer's read of a batch of 200 records issues."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from gateway.store.database import Database, Tx
from gateway.sync.plan_writer import PlanWriter
from tests.conftest import penalty_facts

ROWS = 80_000
BATCH = 200
HOT_TABLES = ("records", "links", "writes", "outbox", "record_locks")
ID = "'rec_' || lpad(g::text, 8, '0')"
SERIES = f"generate_series(1, {ROWS}) g"

pytestmark = pytest.mark.postgres


def _fill(tx: Tx) -> None:
    """80,000 rows in each hot table, by SQL (no ANALYZE, no autovacuum)."""
    facts = json.dumps(penalty_facts().to_json(), ensure_ascii=False)
    tx.execute(
        "INSERT INTO records (record_id, category, authority_code, document_number, subject_name, facts,"
        " facts_fingerprint, status, version, decided_by, decided_at, authoritative, created_at, updated_at)"
        f" SELECT {ID}, 'admin_penalty', 'A', 'D' || g, 'S', ?, 'f', 'published', 1, 'x', now(), 1, now(), now()"
        f" FROM {SERIES}",
        (facts,),
    )
    tx.execute(f"INSERT INTO record_locks (record_id) SELECT {ID} FROM {SERIES}")
    for system in ("creditchina_gansu", "gsxt_gansu"):
        tx.execute(
            f"INSERT INTO links (record_id, system) SELECT {ID}, ? FROM {SERIES}",
            (system,),
        )
    tx.execute(
        "INSERT INTO writes (record_id, system, version, status, digest, sent_at)"
        f" SELECT {ID}, 'gsxt_gansu', 1, 'published', 'd', now() FROM {SERIES}"
    )
    tx.execute(
        "INSERT INTO outbox (record_id, target, version, state_status, state_decided_at, idempotency_key, status,"
        " attempts, next_attempt_at, replays, created_at, updated_at)"
        f" SELECT {ID}, 'gsxt_gansu', 1, 'published', now(), 'k' || g, 'done', 1, now(), 0, now(), now() FROM {SERIES}"
    )


def _seq_scans(plan: Any) -> list[str]:
    """Relations the plan reads whole."""
    found: list[str] = []
    if isinstance(plan, dict):
        if plan.get("Node Type") == "Seq Scan":
            found.append(str(plan.get("Relation Name")))
        for value in plan.values():
            found += _seq_scans(value)
    elif isinstance(plan, list):
        for value in plan:
            found += _seq_scans(value)
    return found


def _explaining(tx: Tx, plans: list[tuple[str, list[str]]]) -> Callable[[], None]:
    """Make `tx` ask for the plan of every SELECT before running it; returns the undo."""
    real_all, real_one = tx.all, tx.one

    def explain(sql: str, params: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            row = real_one("EXPLAIN (FORMAT JSON) " + sql, params)
            assert row is not None
            plan = next(iter(row.values()))
            plans.append((sql, _seq_scans(json.loads(plan) if isinstance(plan, str) else plan)))

    def all_(sql: str, params: Any = ()) -> Any:
        explain(sql, params)
        return real_all(sql, params)

    def one(sql: str, params: Any = ()) -> Any:
        explain(sql, params)
        return real_one(sql, params)

    tx.all, tx.one = all_, one  # type: ignore[method-assign]

    def undo() -> None:
        tx.all, tx.one = real_all, real_one  # type: ignore[method-assign]

    return undo


async def test_the_batch_reads_use_their_indexes_on_tables_never_analysed(db: Database) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("the planner question is PostgreSQL's; SQLite keeps its IN lists")
    await db.run(_fill)
    never = await db.run(
        lambda tx: tx.all(
            "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NULL AND last_autoanalyze IS NULL"
            " AND relname = ANY(?)",
            (list(HOT_TABLES),),
        ),
        write=False,
    )
    assert {row["relname"] for row in never} == set(HOT_TABLES)  # the premise: no statistics

    plans: list[tuple[str, list[str]]] = []
    ids = [f"rec_{n:08d}" for n in range(1000, 1000 + BATCH * 7, 7)]

    def read(tx: Tx) -> None:
        undo = _explaining(tx, plans)
        try:
            PlanWriter(tx).read(ids)
        finally:
            undo()

    await db.run(read)
    assert len(plans) >= 3, plans  # records, links, writes, the queue
    full = [(sql, scans) for sql, scans in plans if set(scans) & set(HOT_TABLES)]
    assert not full, f"read whole on a table never analysed: {full}"
