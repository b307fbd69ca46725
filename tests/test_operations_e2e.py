"""What an operator sees while the gateway works against the simulated systems over loopback HTTP
(SQLite and PostgreSQL): progress of a delivery waiting to retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.api.app import create_app
from gateway.sandbox import record_id_of
from gateway.store.repo import Repo
from tests.test_sync_end_to_end import CC, GS, Stack, _other_department_penalties, _started, stack

__all__ = ["stack"]  # the fixture, shared with the end-to-end tests

_SLOW_RETRIES = {"retry_base_s": 600.0, "retry_max_s": 600.0}


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[TestClient[Any, Any]]:
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(stack.runtime)))
    await client.start_server()
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
