"""Decisions in batches (gateway/api/decisions.py): answers, refusals, what is left to the single
path, fallbacks and replicas. A batch and a decision alone are written by the same `PlanWriter`
(docs/adr/0029-one-plan-writer.md), so no test compares the two paths' rows any more.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from gateway.api.decisions import DecisionRequest, apply_batch, decide_alone
from gateway.api.errors import ApiError
from gateway.api.idempotency import StoredResponse
from gateway.api.keys import DECISIONS
from gateway.calendar_data import load_calendar
from gateway.clients import ALL, Grant, Scope
from gateway.domain.model import PUBLISHED
from gateway.domain.plan import Action, Decision, Observation, Policy
from gateway.domain.sla import SyncSla
from gateway.store.bulk import ALONE
from gateway.store.database import Database, Tx, UniqueViolation
from gateway.store.repo import Repo
from gateway.sync.ingest import apply_event
from tests.conftest import T0, penalty_facts
from tests.rows import dump_rows
from tests.test_api_harness import CC, GS, NOW, open_harness, repair_body

SOURCE = "api:bench"
POLICY = Policy(
    enabled_systems=frozenset({CC, GS}),
    sla=SyncSla(calendar=load_calendar(), working_days=3),
)


def _facts(n: int, subject_code: str = "91620102MA72ABCD94") -> Any:
    return penalty_facts(document_number=f"兰环罚〔2026〕{n}号", subject_code=subject_code)


def _seed(tx: Tx) -> dict[str, str]:
    """Records in the states the batch must handle: published; with a delivery still pending from
    an earlier repair (coalescing); already stopped (a repeat); and one GSXT already shows."""
    ids = {}
    for n, name in enumerate(("plain", "queued", "stopped", "twice", "shown", "other_subject"), start=1):
        facts = _facts(n)
        ids[name] = facts.record_id
        event = Observation(
            source=CC, facts=facts, target=PUBLISHED, changed_at=T0, source_version=f"{n:06d}", native_id=f"CC-{n}"
        )
        apply_event(tx, event, source=CC, change_key=f"seed-{n}", policy=POLICY, now=T0)
    repo = Repo(tx)
    # GSXT reported the "shown" record as published too: a decision still goes to both.
    gs_event = Observation(
        source=GS, facts=_facts(5), target=PUBLISHED, changed_at=T0, source_version="g1", native_id="GS-5"
    )
    apply_event(tx, gs_event, source=GS, change_key="gs-5", policy=POLICY, now=T0)
    for name, action in (("queued", Action.REPAIR), ("stopped", Action.REPAIR)):
        decision = Decision(record_id=ids[name], action=action, decided_at=T0 + timedelta(hours=1), decided_by="局")
        apply_event(tx, decision, source=SOURCE, change_key=None, policy=POLICY, now=T0, repair_id=f"rep_seed_{name}")
    # The "stopped" one was delivered everywhere: nothing of it is pending any more.
    tx.execute("UPDATE outbox SET status = 'done' WHERE record_id = ?", (ids["stopped"],))
    repo.save_idempotent("bench", "used", "hash-of-first", 202, '{"stored": true}', T0)
    return ids


ANY = frozenset({ALL})


def _requests(ids: dict[str, str]) -> list[DecisionRequest]:
    at = T0 + timedelta(hours=2)

    def req(n: int, record: str, action: Action = Action.REPAIR, **kw: Any) -> DecisionRequest:
        decision = Decision(record_id=record, action=action, decided_at=kw.pop("decided_at", at), decided_by="兰州局")
        values: dict[str, Any] = {
            "client": "bench",
            "key": f"k{n}",
            "fingerprint": f"h{n}",
            "decision": decision,
            "subject_code": None,
            "source": SOURCE,
            "grant": Grant(client_id="bench", scopes=frozenset({Scope.DECIDE}), authorities=ANY, categories=ANY),
            "policy": POLICY,
            "now": NOW,
            "repair_id": f"rep_{n:024x}",
        }
        values.update(kw)
        return DecisionRequest(**values)

    return [
        req(1, ids["plain"]),
        req(2, ids["queued"], Action.REVOKE_REPAIR),  # replaces the pending repair delivery
        req(3, ids["stopped"]),  # a repeat: answered with rep_seed_stopped
        req(4, "rec_000000000000000000000000"),  # no such record: 404
        req(5, ids["shown"], decided_at=T0 - timedelta(days=30)),  # older than the record: 409
        req(6, ids["twice"]),
        req(7, ids["twice"], Action.REVOKE_REPAIR),  # the same record again in the batch
        req(8, ids["other_subject"], subject_code="91110000100000000X"),  # 422
        req(9, ids["shown"]),
        req(10, ids["plain"], key="used", fingerprint="hash-of-first"),  # a stored key: replayed
        req(11, ids["plain"], key="used"),  # a stored key with another body: 422
        req(12, ids["stopped"], Action.REMOVE),  # a penalty is on no list: 422 on action
    ]


def _answer(outcome: StoredResponse | BaseException) -> Any:
    if isinstance(outcome, ApiError):
        return ("error", outcome.status, outcome.code, outcome.field)
    assert isinstance(outcome, StoredResponse), outcome
    return (outcome.status, json.loads(outcome.body), outcome.replayed)


async def _single(db: Database, request: DecisionRequest) -> Any:
    try:
        return _answer(await db.run(decide_alone(request)))
    except ApiError as exc:
        return _answer(exc)


async def test_a_batch_answers_each_request_and_leaves_repeats_and_second_decisions_alone(db: Database) -> None:
    ids = await db.run(_seed)
    requests = _requests(ids)

    outcomes = await db.run(lambda tx: apply_batch(tx, requests))
    batched = []
    for request, outcome in zip(requests, outcomes, strict=True):
        batched.append(await _single(db, request) if outcome is ALONE else _answer(outcome))
    # What the batch handled itself and what it left alone: the batch path was really taken.
    alone = [False, False, True, False, False, False, True, False, False, False, False, False]
    assert [o is ALONE for o in outcomes] == alone
    assert [a[0] for a in batched] == [202, 202, 202, ("error"), "error", 202, 202, "error", 202, 202, "error", "error"]
    assert batched[2][1]["repair_id"] == "rep_seed_stopped"  # the repeat names the repair in force
    assert batched[-1] == ("error", 422, "action_not_for_category", "action")
    # The revoke of request 2 took the place of the pending delivery of the earlier repair.
    progress = await db.run(lambda tx: Repo(tx).get_repair("rep_seed_queued"), write=False)
    assert progress is not None
    assert {t["status"] for t in progress[1] if t["target"] != CC} <= {"superseded", "in_sync"}


async def test_a_refused_decision_in_a_batch_writes_nothing_of_its_own(db: Database) -> None:
    ids = await db.run(_seed)
    before = await db.run(dump_rows, write=False)
    refused = [r for r in _requests(ids) if r.key in ("k4", "k5", "k8")]
    outcomes = await db.run(lambda tx: apply_batch(tx, refused))
    assert [o.code for o in outcomes if isinstance(o, ApiError)] == [
        "record_not_found",
        "stale_decision",
        "subject_mismatch",
    ]
    assert await db.run(dump_rows, write=False) == before


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Any]:
    async with open_harness(database_url) as h:
        yield h


async def _seed_many(h: Any, n: int) -> list[str]:
    ids = []
    for i in range(n):
        ids.append(await h.seed(_facts(100 + i), key=f"seed-{i}"))
    return ids


async def test_concurrent_requests_share_batches(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = await _seed_many(harness, 24)
    sizes: list[int] = []

    def counting(tx: Tx, requests: list[DecisionRequest]) -> list[Any]:
        sizes.append(len(requests))
        return apply_batch(tx, requests)

    monkeypatch.setattr(harness.client.server.app[DECISIONS], "_run_bulk", counting)
    responses = await asyncio.gather(*(harness.post_repair(repair_body(r), key=f"c-{r}") for r in ids))
    assert [r.status for r in responses] == [202] * len(ids)
    assert sum(sizes) == len(ids)
    assert len(sizes) < len(ids)  # at least one batch carried several decisions
    assert await harness.count("repairs") == len(ids)  # one per decision


async def test_a_failed_batch_falls_back_to_one_decision_at_a_time(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that fails as a whole (here: another replica stored one of its keys first, which
    the batch insert meets as a unique violation) is rolled back, and each request runs alone."""
    ids = await _seed_many(harness, 6)
    calls: list[int] = []
    real: Callable[..., None] = Repo.save_idempotents

    def failing_once(self: Repo, rows: Any) -> None:
        calls.append(len(rows))
        if len(calls) == 1:
            raise UniqueViolation("duplicate key value violates unique constraint idempotency_pkey")
        real(self, rows)

    monkeypatch.setattr(Repo, "save_idempotents", failing_once)
    responses = await asyncio.gather(*(harness.post_repair(repair_body(r), key=f"f-{r}") for r in ids))
    assert [r.status for r in responses] == [202] * 6
    bodies = [await r.json() for r in responses]
    assert {b["outcome"] for b in bodies} == {"changed"}
    assert await harness.count("repairs") == 6 and await harness.count("idempotency") == 6
    # Replays of all six are the stored responses, whichever path stored them.
    again = await asyncio.gather(*(harness.post_repair(repair_body(r), key=f"f-{r}") for r in ids))
    assert [await r.json() for r in again] == bodies
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in again)


async def test_two_replicas_given_the_same_requests_apply_each_once(database_url: str) -> None:
    """Every request sent to two replicas at once (a client retrying on another node): batches on
    both sides race on the same keys and records; each decision is applied once and both replicas
    answer it with the same stored response."""
    async with open_harness(database_url) as one, open_harness(database_url) as two:
        ids = await _seed_many(one, 20)
        requests = [(h, r) for r in ids for h in (one, two)]
        responses = await asyncio.gather(*(h.post_repair(repair_body(r), key=f"both-{r}") for h, r in requests))
        assert [r.status for r in responses] == [202] * len(requests)
        bodies = [await r.json() for r in responses]
        for index in range(0, len(bodies), 2):
            assert bodies[index] == bodies[index + 1]  # one decision, one answer, whoever stored it
            replayed = [responses[index + i].headers.get("Idempotent-Replayed") == "true" for i in (0, 1)]
            assert sorted(replayed) == [False, True]  # one replica applied it, the other replayed it
        assert {b["outcome"] for b in bodies} == {"changed"}
        assert await one.count("repairs") == 20 and await one.count("idempotency") == 20
        versions = await one.runtime.db.run(
            lambda tx: tx.all("SELECT version FROM records WHERE record_id IN (" + ", ".join("?" * 20) + ")", ids),
            write=False,
        )
        assert {row["version"] for row in versions} == {2}
