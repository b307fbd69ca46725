"""What an operator sees while the gateway works against the simulated systems over loopback HTTP
(SQLite and PostgreSQL): progress of a delivery waiting to retry, and a hanging system that holds
up nobody else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.domain.plan import Action, Decision
from gateway.sandbox import record_id_of
from gateway.store.database import now_utc
from gateway.store.repo import Repo
from gateway.sync.ingest import apply_event
from tests.test_api_harness import root_client
from tests.test_sync_end_to_end import CC, GS, Stack, _other_department_penalties, _started, stack

__all__ = ["stack"]  # the fixture, shared with the end-to-end tests

_SLOW_RETRIES = {"retry_base_s": 600.0, "retry_max_s": 600.0}


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[TestClient[Any, Any]]:
    client = await root_client(stack.runtime)
    try:
        yield client
    finally:
        await client.close()


async def _until(what: str, check: Any, timeout_s: float = 60.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("stack", [_SLOW_RETRIES], indirect=True)
async def test_progress_says_retrying_with_the_error_and_the_next_attempt(
    stack: Stack, api: TestClient[Any, Any]
) -> None:
    await _started(stack)
    [row] = await _other_department_penalties(stack, 1)
    await stack.sandbox.set_faults(GS, error_rate=1.0, error_status=503)
    await stack.sandbox.repair(CC, {"CF_WSH": row["CF_WSH"], "CF_CFJGDM": row["CF_CFJGDM"], "ZZYY": "01"})
    record_id = record_id_of(CC, row)
    assert record_id is not None

    async def repair_id() -> str | None:
        rows = await stack.runtime.db.run(lambda tx: Repo(tx).repairs_of_record(record_id), write=False)
        return str(rows[-1]["repair_id"]) if rows and rows[-1]["version"] > 1 else None

    progress_of = f"/v1/repairs/{await _until('the repair from 信用中国', repair_id)}"

    async def retrying() -> dict[str, Any] | None:
        body = await (await api.get(progress_of)).json()
        found = [t for t in body["targets"] if t["system"] == GS and t["status"] == "retrying"]
        return found[0] if found else None

    target = await _until("GSXT to be retrying", retrying)
    assert target["attempts"] >= 1
    assert "503" in target["last_error"]
    next_at = datetime.fromisoformat(target["next_attempt_at"])
    assert next_at > stack.runtime.clock()  # waiting: 600-s backoff
    assert target["overdue"] is False and target["delivered_at"] is None


_HANG_HELD = {
    # 信用中国 hangs far longer than the test: a call to it never ends while the test runs, and
    # shutdown cancels it after the grace period.
    "creditchina_gansu": {"timeout_s": 600.0},
    "shutdown_grace_s": 0.5,
}


@pytest.mark.parametrize("stack", [_HANG_HELD], indirect=True)
async def test_a_hanging_system_does_not_hold_up_deliveries_to_a_healthy_one(stack: Stack) -> None:
    await _started(stack)
    first, second = [record_id_of(CC, row) for row in await _other_department_penalties(stack, 2)]
    assert first is not None and second is not None
    runtime = stack.runtime
    await stack.sandbox.set_faults(CC, hang_rate=1.0, hang_s=600)

    async def decide(record_id: str) -> None:
        decision = Decision(record_id=record_id, action=Action.REPAIR, decided_at=now_utc(), decided_by="t")
        await runtime.committer.submit(
            lambda tx: apply_event(
                tx, decision, source="api:test", change_key=None, policy=runtime.policy, now=now_utc()
            )
        )
        runtime.dispatcher.wake()

    async def status(record_id: str, target: str) -> str | None:
        rows = await runtime.db.run(
            lambda tx: tx.all(
                "SELECT status FROM outbox WHERE record_id = ? AND target = ? ORDER BY id DESC", (record_id, target)
            ),
            write=False,
        )
        return str(rows[0]["status"]) if rows else None

    async def hanging() -> bool:
        injected = (await stack.sandbox.stats(CC))["faults_injected"]
        return await status(first, CC) == "in_flight" and injected.get("hang", 0) > 0

    await decide(first)
    await _until("the delivery of the first repair to 信用中国 to hang", hanging)
    # Queued while 信用中国 holds the first call: GSXT gets it all the same.
    await decide(second)

    async def delivered_to_gsxt() -> bool:
        return await status(second, GS) == "done"

    await _until("the second repair to reach GSXT", delivered_to_gsxt)
    assert await status(first, CC) == "in_flight"  # the hang is still held
    shown = await stack.sandbox.views()
    assert shown[GS][second].label == "stopped:repaired"
    assert shown[CC][first].label == "published"
