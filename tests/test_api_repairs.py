"""POST /v1/repairs and its idempotency, GET /v1/repairs/{id}, the record and subject views —
over real HTTP on 127.0.0.1, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from gateway.api.errors import ApiError
from gateway.api.idempotency import InFlight, run_idempotent
from gateway.api.keys import IN_FLIGHT
from gateway.api.models import Liveness
from gateway.store.database import Tx
from gateway.store.repo import Repo
from tests.conftest import T0
from tests.test_api_harness import CC, GS, ROOT, SUBJECT, Harness, error_of, open_harness, repair_body


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    async with open_harness(database_url) as harness:
        yield harness


async def test_repair_is_accepted_and_its_progress_and_record_show_it(api: Harness) -> None:
    record_id = await api.seed()
    woken = []
    api.runtime.dispatcher.wake = lambda: woken.append(True)  # type: ignore[method-assign]

    intake = await api.as_client("cc-intake")
    response = await api.post_repair(repair_body(record_id, subject_code=SUBJECT.lower()), client=intake)

    assert response.status == 202, await response.text()
    assert response.headers["X-Request-Id"]
    assert "Idempotent-Replayed" not in response.headers
    accepted = await response.json()
    repair_id = accepted["repair_id"]
    assert accepted == {
        "repair_id": repair_id,
        "record_id": record_id,
        "action": "repair",
        "outcome": "changed",
        "version": 2,
        "targets": [{"system": CC, "status": "pending"}, {"system": GS, "status": "pending"}],
        "links": {"self": f"/v1/repairs/{repair_id}", "record": f"/v1/records/{record_id}"},
    }
    assert woken == [True]  # the dispatcher does not wait for its idle poll

    progress = await (await api.client.get(f"/v1/repairs/{repair_id}")).json()
    assert progress["source"] == "api:cc-intake" and progress["decided_by"] == "兰州市生态环境局"
    assert progress["version"] == 2 and progress["outcome"] == "changed" and progress["complete"] is False
    assert [(t["system"], t["status"], t["attempts"]) for t in progress["targets"]] == [
        (CC, "pending", 0),
        (GS, "pending", 0),
    ]
    assert all(isinstance(t["outbox_id"], int) for t in progress["targets"])
    assert progress["links"] == accepted["links"]

    record = await (await api.client.get(f"/v1/records/{record_id}")).json()
    assert record["state"]["label"] == "stopped:repaired" and record["state"]["version"] == 2
    assert record["state"]["decided_by"] == "兰州市生态环境局" and record["state"]["authoritative"] is True
    assert record["owner"] == CC and record["mirrors"] == [GS]
    assert record["facts"]["document_number"] == "兰环罚〔2026〕12号"
    cc, gs = record["systems"]
    assert (cc["system"], cc["seen"]["label"], cc["native_id"], cc["queued"]) == (
        CC,
        "published",
        "CC-1",
        True,
    )
    assert (gs["system"], gs["written"], gs["queued"]) == (GS, None, True)
    assert record["audit"][0]["kind"] == "state_changed" and record["audit"][0]["after_state"] == "stopped:repaired"
    assert repair_id in [r["repair_id"] for r in record["repairs"]]

    subject = await (await api.client.get(f"/v1/subjects/{SUBJECT.lower()}/records")).json()
    assert subject["subject_code"] == SUBJECT and subject["checksum_ok"] is True
    assert subject["truncated"] is False
    assert [(r["record_id"], r["state"]["label"]) for r in subject["records"]] == [(record_id, "stopped:repaired")]


async def test_record_can_be_named_by_its_identity(api: Harness) -> None:
    record_id = await api.seed()
    body = repair_body(record_id)
    # Full-width and stray spaces, as typed by hand: normalised like ingest does.
    body["record"] = {
        "category": "admin_penalty",
        "authority_code": " １１６２０１００mb0000000x ",
        "document_number": "兰环罚〔2026〕 12号",
    }
    response = await api.post_repair(body)
    assert response.status == 202, await response.text()
    assert (await response.json())["record_id"] == record_id


async def test_same_key_and_body_replays_the_stored_response(api: Harness) -> None:
    record_id = await api.seed()
    body = repair_body(record_id)
    first = await api.post_repair(body, key="same")
    first_text = await first.text()
    repairs = await api.count("repairs")

    # Same content, other key order and spacing: the same request.
    again = await api.client.post(
        "/v1/repairs",
        data=json.dumps(dict(reversed(list(body.items()))), indent=4),
        headers={"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": "same"},
    )
    assert again.status == first.status == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.text() == first_text
    assert await api.count("repairs") == repairs
    assert await api.count("idempotency") == 1


async def test_same_key_with_another_body_is_refused(api: Harness) -> None:
    record_id = await api.seed()
    assert (await api.post_repair(repair_body(record_id), key="k")).status == 202
    before = await api.snapshot()

    response = await api.post_repair(repair_body(record_id, decided_by="someone else"), key="k")

    assert response.status == 422
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert await api.snapshot() == before


async def test_keys_are_scoped_by_client(api: Harness) -> None:
    record_id = await api.seed()
    first = await api.post_repair(repair_body(record_id), key="k", client=await api.as_client("a"))
    repairs = await api.count("repairs")
    second = await api.post_repair(repair_body(record_id), key="k", client=await api.as_client("b"))
    assert first.status == second.status == 202
    assert "Idempotent-Replayed" not in second.headers
    # b's identical decision finds the record already repaired: its progress is that of a's repair.
    assert (await second.json())["outcome"] == "unchanged"
    assert (await second.json())["repair_id"] == (await first.json())["repair_id"]
    assert await api.count("repairs") == repairs


async def test_a_request_in_flight_blocks_its_key(api: Harness) -> None:
    record_id = await api.seed()
    repairs = await api.count("repairs")
    committer = api.runtime.committer
    entered, release = threading.Semaphore(0), threading.Event()

    def blocker(tx: Tx) -> None:  # holds one of the committer's batches, as a slow batch would
        entered.release()
        release.wait(10)

    # Every batch the committer runs at once (several on PostgreSQL) is held, so the request waits.
    blocked = [asyncio.create_task(committer.submit(blocker)) for _ in range(committer.parallel)]
    for _ in range(committer.parallel):
        assert await asyncio.to_thread(entered.acquire, True, 10)
    first = asyncio.create_task(api.post_repair(repair_body(record_id), key="slow"))
    in_flight = api.client.server.app[IN_FLIGHT]
    for _ in range(500):
        if (ROOT, "slow") in in_flight:
            break
        await asyncio.sleep(0.01)
    try:
        second = await api.post_repair(repair_body(record_id), key="slow")
        assert second.status == 409
        error = await error_of(second)
        assert (error["code"], error["field"]) == ("request_in_flight", "Idempotency-Key")
    finally:
        release.set()
    assert (await first).status == 202
    await asyncio.gather(*blocked)
    third = await api.post_repair(repair_body(record_id), key="slow")
    assert third.status == 202 and third.headers["Idempotent-Replayed"] == "true"
    assert await api.count("repairs") == repairs + 1


async def test_missing_idempotency_key_is_400(api: Harness) -> None:
    record_id = await api.seed()
    before = await api.snapshot()
    response = await api.post_repair(repair_body(record_id), key=None)
    assert response.status == 400
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("missing_idempotency_key", "Idempotency-Key")
    assert await api.snapshot() == before


async def test_a_refused_request_stores_nothing_and_its_key_stays_usable(api: Harness) -> None:
    record_id = await api.seed()
    assert (await api.post_repair(repair_body(record_id), key="repair")).status == 202
    before = await api.snapshot()
    later = (T0 + timedelta(hours=3)).isoformat()
    # A penalty is on no list: it cannot be removed from one (issue 10 item 6).
    refused = await api.post_repair(repair_body(record_id, action="remove", decided_at=later), key="k")
    assert refused.status == 422
    assert (await error_of(refused))["code"] == "action_not_for_category"
    assert await api.snapshot() == before

    fixed = await api.post_repair(repair_body(record_id, action="revoke_repair", decided_at=later), key="k")
    assert fixed.status == 202 and "Idempotent-Replayed" not in fixed.headers
    assert (await fixed.json())["outcome"] == "changed"


async def test_revoking_a_repair_publishes_again(api: Harness) -> None:
    record_id = await api.seed()
    assert (await api.post_repair(repair_body(record_id), key="repair")).status == 202
    later = (T0 + timedelta(hours=3)).isoformat()
    response = await api.post_repair(repair_body(record_id, action="revoke_repair", decided_at=later), key="revoke")
    assert response.status == 202
    assert (await response.json())["version"] == 3
    record = await (await api.client.get(f"/v1/records/{record_id}")).json()
    assert record["state"]["label"] == "published" and record["state"]["version"] == 3
    assert [r["action"] for r in record["repairs"]] == ["repair", "revoke_repair"]


@pytest.mark.parametrize("their_hash", ["mine", "theirs"])
async def test_another_replica_committing_the_key_first_decides_the_answer(api: Harness, their_hash: str) -> None:
    """Across replicas the primary key decides: the loser's work rolls back and it answers with
    the winner's stored response (same request) or 422 (another body)."""
    if api.runtime.db.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: a second replica cannot commit between our lookup and insert")
    import psycopg

    url = api.runtime.settings.database_url

    def work(tx: Tx, now: datetime) -> tuple[int, Liveness]:
        Repo(tx).set_cursor("probe", "feed", "written-then-rolled-back", T0)
        # The other replica commits the same key on its own connection while we work.
        with psycopg.connect(url, autocommit=True) as other:
            other.execute(
                "INSERT INTO idempotency (client, key, request_hash, state, response_status, response_body,"
                " created_at, updated_at) VALUES ('c', 'k', %s, 'done', 202, %s, now(), now())",
                (their_hash, '{"winner": true}'),
            )
        return 202, Liveness(status="ok")

    run = run_idempotent(api.runtime.committer, InFlight(), client="c", key="k", fingerprint="mine", now=T0, work=work)
    if their_hash == "mine":
        stored = await run
        assert (stored.status, stored.body, stored.replayed) == (202, '{"winner": true}', True)
    else:
        with pytest.raises(ApiError) as raised:
            await run
        assert (raised.value.status, raised.value.code) == (422, "idempotency_key_reused")
    assert await api.count("cursors") == 0  # our effects were rolled back
    assert await api.count("idempotency") == 1
