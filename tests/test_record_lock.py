"""Per-record serialisation (issue 9, cause 3; docs/adr/0012-a-lock-row-per-record.md).

A decision planned while the previous delivery of its record is being marked done must see that
delivery either still in flight or recorded as written, never neither. Here a second PostgreSQL
connection runs the dispatcher's real completion and holds its transaction open, standing in for a
slow commit; the decision is started meanwhile, and must wait for it and then queue the owner
delivery. Before the lock row, the batch path read the links, waited on the outbox row, and lost
it from view when the completion committed (READ COMMITTED re-checks the row and drops it): the
owner's progress said `in_sync` and nothing was queued.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from gateway.api.decisions import DecisionRequest, apply_batch, decide_alone
from gateway.api.idempotency import StoredResponse
from gateway.clients import ALL, Grant
from gateway.domain.model import PUBLISHED
from gateway.domain.plan import Action, Decision, Observation, Policy
from gateway.store.database import Database, Tx, open_database
from gateway.store.migrate import migrate
from gateway.store.repo import OutboxItem, OutboxStatus, Repo
from gateway.sync.ingest import apply_event
from tests.conftest import PG_DSN, T0, _drop_pg_schema, _fresh_pg_schema, penalty_facts

CC, GS = "creditchina_gansu", "gsxt_gansu"
POLICY = Policy(enabled_systems=frozenset({CC, GS}))
SOURCE = "api:lock-test"
WORKER = "worker-1"
DEADLINE_S = 60.0  # generous: the machine is shared and slow; only a failure waits this long


@pytest.fixture
async def pg() -> AsyncIterator[tuple[Database, Database, str]]:
    """Two gateways' stores on one PostgreSQL schema (two pools: two replicas), and its URL."""
    schema, url = await _fresh_pg_schema()
    first, second = open_database(url), open_database(url)
    await migrate(first)
    try:
        yield first, second, url
    finally:
        await first.close()
        await second.close()
        _drop_pg_schema(schema)


def _seed(tx: Tx) -> tuple[str, OutboxItem]:
    """A 信用中国 record repaired through the API (v2), its delivery to 信用中国 claimed by a worker."""
    facts = penalty_facts()
    seen = Observation(source=CC, facts=facts, target=PUBLISHED, changed_at=T0, source_version="1", native_id="CC-1")
    apply_event(tx, seen, source=CC, change_key="seed", policy=POLICY, now=T0)
    at = T0 + timedelta(hours=1)
    repair = Decision(record_id=facts.record_id, action=Action.REPAIR, decided_at=at, decided_by="局")
    apply_event(tx, repair, source=SOURCE, change_key=None, policy=POLICY, now=T0, repair_id="rep_first")
    claimed = Repo(tx).claim(T0 + timedelta(hours=1), 10, WORKER, T0 + timedelta(hours=2))
    (to_owner,) = [item for item in claimed if item.target == CC]
    return facts.record_id, to_owner


def _revoke(record_id: str) -> DecisionRequest:
    decision = Decision(
        record_id=record_id, action=Action.REVOKE_REPAIR, decided_at=T0 + timedelta(hours=2), decided_by="局"
    )
    return DecisionRequest(
        client="c",
        key="k-revoke",
        fingerprint="h-revoke",
        decision=decision,
        subject_code=None,
        source=SOURCE,
        grant=Grant(client_id="c", authorities=frozenset({ALL}), categories=frozenset({ALL})),
        policy=POLICY,
        now=T0 + timedelta(hours=2),
        repair_id="rep_second",
    )


def _batch(request: DecisionRequest) -> Callable[[Tx], Any]:
    return lambda tx: apply_batch(tx, [request])[0]


PATHS: dict[str, Callable[[DecisionRequest], Callable[[Tx], Any]]] = {"batch": _batch, "single": decide_alone}


def _blocked_by(url_pid: int) -> int:
    """How many backends wait on a lock `url_pid` holds (pg_blocking_pids names only real waits)."""
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (url_pid,))
        found = row.fetchone()
        return int(found[0]) if found else 0


@pytest.mark.postgres
@pytest.mark.parametrize("path", sorted(PATHS))
async def test_a_decision_planned_while_the_delivery_completes_still_reaches_the_owner(
    pg: tuple[Database, Database, str], path: str
) -> None:
    gateway, dispatcher_replica, _ = pg
    record_id, to_owner = await gateway.run(_seed)
    loop = asyncio.get_running_loop()

    # The dispatcher's completion, on another connection, left uncommitted until released.
    completing = threading.Event()
    release = threading.Event()
    holder: dict[str, int] = {}

    def complete_slowly(tx: Tx) -> list[bool]:
        kept = Repo(tx).complete_many([(to_owner, None)], WORKER, T0 + timedelta(hours=2))
        holder["pid"] = int(tx.scalar("SELECT pg_backend_pid() AS pid"))
        completing.set()
        if not release.wait(DEADLINE_S):
            raise TimeoutError("never released")
        return kept

    completion = asyncio.create_task(dispatcher_replica.run(complete_slowly))
    assert await loop.run_in_executor(None, completing.wait, DEADLINE_S)

    decision = asyncio.create_task(gateway.run(PATHS[path](_revoke(record_id))))
    blocked = False
    deadline = loop.time() + DEADLINE_S
    while loop.time() < deadline and not decision.done():
        if await loop.run_in_executor(None, _blocked_by, holder["pid"]) > 0:
            blocked = True
            break
        await asyncio.sleep(0.05)
    release.set()
    assert await completion == [True]
    answer = await decision
    assert isinstance(answer, StoredResponse) and answer.status == 202
    assert blocked, "the decision did not wait for the completion of its record's delivery"

    pending = await gateway.run(lambda tx: Repo(tx).list_outbox(status=OutboxStatus.PENDING), write=False)
    to_cc = [item for item in pending if item.target == CC]
    assert [(item.state, item.version) for item in to_cc] == [(PUBLISHED, 3)]
    progress = await gateway.run(lambda tx: Repo(tx).get_repair("rep_second"), write=False)
    assert progress is not None
    assert {row["target"]: row["status"] for row in progress[1]} == {CC: "pending", GS: "pending"}


async def test_links_and_queue_change_only_under_the_record_lock(database_url: str) -> None:
    """The lock cannot be bypassed: writing a record's links or queue without its lock fails, on
    both stores; with it (or through the paths that take it) the same write goes through."""
    db = open_database(database_url)
    await migrate(db)
    try:
        record_id, to_owner = await db.run(_seed)

        def unlocked(tx: Tx) -> None:
            Repo(tx).save_written(record_id, CC, 2, to_owner.state, None, T0)

        with pytest.raises(RuntimeError, match="without the record lock"):
            await db.run(unlocked)

        def locked(tx: Tx) -> int:
            repo = Repo(tx)
            repo.lock_records([record_id])
            repo.save_written(record_id, CC, 2, to_owner.state, None, T0)
            return int(tx.scalar("SELECT COUNT(*) AS n FROM record_locks WHERE record_id = ?", (record_id,)))

        assert await db.run(locked) == 1
    finally:
        await db.close()
