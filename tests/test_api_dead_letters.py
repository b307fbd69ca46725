"""Dead letters over HTTP: list, show, replay, dry run, idempotent replay and the loop guard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.store.repo import Repo
from tests.conftest import penalty_facts
from tests.test_api_harness import GS, Harness, error_of, open_harness, repair_body


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    # One replay allowed before the loop guard, so the guard is reached quickly.
    async with open_harness(database_url, max_replays=1) as harness:
        yield harness


async def _replay(api: Harness, item_id: int, key: str, **kwargs: Any) -> Any:
    return await api.client.post(f"/v1/dead-letters/{item_id}/replay", headers={"Idempotency-Key": key}, **kwargs)


async def _status(api: Harness, item_id: int) -> tuple[str, int]:
    item = await api.runtime.db.run(lambda tx: Repo(tx).get_outbox(item_id), write=False)
    assert item is not None
    return item.status, item.replays


async def test_list_pages_by_id_and_filters_by_target(api: Harness) -> None:
    ids = []
    for n in range(3):
        await api.seed(penalty_facts(document_number=f"兰环罚〔2026〕{n}号"), key=f"seed-{n}")
        ids.append(await api.dead_letter())

    first = await (await api.client.get("/v1/dead-letters?limit=2")).json()
    assert [d["id"] for d in first["items"]] == ids[:2] and first["next_after_id"] == ids[1]
    rest = await (await api.client.get(f"/v1/dead-letters?limit=2&after_id={first['next_after_id']}")).json()
    assert [d["id"] for d in rest["items"]] == ids[2:] and rest["next_after_id"] is None

    item = first["items"][0]
    assert (item["target"], item["state"]["label"], item["attempts"], item["replays"]) == (
        GS,
        "published",
        1,
        0,
    )
    assert item["last_error"] == "rejected: 03 字段校验失败"
    assert "dead_context" not in item  # only the detail view carries it
    assert (await (await api.client.get(f"/v1/dead-letters?target={GS}")).json())["items"] != []
    assert (await (await api.client.get("/v1/dead-letters?target=creditchina_gansu")).json())["items"] == []


async def test_show_carries_the_failure_context(api: Harness) -> None:
    await api.seed()
    dead_id = await api.dead_letter()
    detail = await (await api.client.get(f"/v1/dead-letters/{dead_id}")).json()
    assert detail["id"] == dead_id and detail["finished_at"] is not None
    assert detail["dead_context"] == {
        "message": "rejected: 03 字段校验失败",
        "status": 200,
        "code": "03",
        "attempts": 1,
    }


async def test_dry_run_changes_nothing_and_replay_revives(api: Harness) -> None:
    await api.seed()
    dead_id = await api.dead_letter()
    before = await api.snapshot()

    dry = await _replay(api, dead_id, "dry", params={"dry_run": "true"})
    assert dry.status == 200
    assert await dry.json() == {
        "dry_run": True,
        "replayed": [dead_id],
        "superseded": [],
        "guarded": [],
        "missing": [],
        "last_id": dead_id,
    }
    after_dry = await api.snapshot()
    assert after_dry["outbox"] == before["outbox"] and after_dry["records"] == before["records"]

    real = await _replay(api, dead_id, "real", json={"dry_run": False})
    assert real.status == 200 and (await real.json())["replayed"] == [dead_id]
    assert await _status(api, dead_id) == ("pending", 1)

    # Same key, same options (in the query this time): the stored report, nothing replayed twice.
    again = await _replay(api, dead_id, "real", params={"dry_run": "false"})
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.text() == await real.text()
    assert await _status(api, dead_id) == ("pending", 1)

    # It is no longer a dead letter.
    gone = await api.client.get(f"/v1/dead-letters/{dead_id}")
    assert gone.status == 404 and (await error_of(gone))["code"] == "dead_letter_not_found"


async def test_loop_guard_needs_force(api: Harness) -> None:
    await api.seed()
    dead_id = await api.dead_letter()
    assert (await (await _replay(api, dead_id, "r1")).json())["replayed"] == [dead_id]
    assert await api.dead_letter() == dead_id  # it died again

    guarded = await _replay(api, dead_id, "r2")
    assert guarded.status == 200 and (await guarded.json())["guarded"] == [dead_id]
    assert await _status(api, dead_id) == ("dead", 1)

    forced = await _replay(api, dead_id, "r3", json={"force": True})
    assert (await forced.json())["replayed"] == [dead_id]
    assert await _status(api, dead_id) == ("pending", 2)


async def test_a_dead_letter_overtaken_by_a_newer_decision_is_superseded(api: Harness) -> None:
    record_id = await api.seed()
    dead_id = await api.dead_letter()
    assert (await api.post_repair(repair_body(record_id))).status == 202  # queues version 2 for GSXT

    report = await (await _replay(api, dead_id, "late")).json()
    assert report["superseded"] == [dead_id] and report["replayed"] == []
    assert await _status(api, dead_id) == ("superseded", 0)


async def test_replay_key_reused_for_other_options_is_refused(api: Harness) -> None:
    await api.seed()
    dead_id = await api.dead_letter()
    assert (await _replay(api, dead_id, "k", params={"dry_run": "true"})).status == 200
    before = await api.snapshot()
    reused = await _replay(api, dead_id, "k")
    assert reused.status == 422
    error = await error_of(reused)
    assert (error["code"], error["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert await api.snapshot() == before
