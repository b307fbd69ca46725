"""Feeds lose nothing (issue 9, cause 2): 信用中国 stamps changes with whole seconds (SJC), so an
operator who repairs a record and restores it within one second leaves a row whose SJC did not
move. The gateway, reading between the two changes, must read both: before, its change key
`ID@SJC` made the second one a duplicate of the first, and 信用中国 stayed published while GSXT
stayed stopped, for good. Run end to end against the real simulators, 信用中国's clock held by
the test; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from gateway.sandbox import record_id_of
from simulators.clock import BEIJING, ManualClock
from simulators.creditchina_gansu import CreditChinaConfig
from tests.test_sync_end_to_end import CC, GS, Stack, open_stack

# Long after the seed's stamps (the seed's seconds are closed) and on a second's start, so the
# test's steps stay inside one second of 信用中国's clock whatever the machine's speed.
SECOND = datetime(2026, 11, 2, 10, 0, 0, tzinfo=BEIJING)


@pytest.fixture
async def held() -> ManualClock:
    return ManualClock(SECOND)


@pytest.fixture
async def stack(database_url: str, held: ManualClock) -> AsyncIterator[Stack]:
    async with open_stack(database_url, configs={CC: CreditChinaConfig(clock=held)}) as opened:
        yield opened


async def _poll(stack: Stack, system: str) -> None:
    await stack.runtime.pollers[system].poll_once()


async def test_a_repair_and_its_restore_within_one_second_are_both_read(stack: Stack, held: ManualClock) -> None:
    # Pollers by hand (the test decides when 信用中国 is read); the dispatcher runs on its own.
    stack.runtime.start(dispatch=True, poll=False)
    for system in stack.runtime.pollers:
        await _poll(stack, system)
    assert await stack.agreed() == []
    # A penalty 信用中国 owns that GSXT shows too (another department's penalty on GSXT).
    gs_keys = {
        (r["judAuthCode"], r["penDecNo"])
        for r in await stack.sandbox.records(GS, published=True)
        if r["table"] == "otherpunish"
    }
    rows = [
        r
        for r in await stack.sandbox.records(CC, published=True)
        if r.get("ROWTYPE") == "CF" and (r.get("CF_CFJGDM"), r.get("CF_WSH")) in gs_keys
    ]
    assert rows, "the seed has no 信用中国 penalty that GSXT shows"
    row = rows[0]
    record_id = record_id_of(CC, row)
    assert record_id is not None
    key = {"rowtype": "CF", "CF_WSH": row["CF_WSH"], "CF_CFJGDM": row["CF_CFJGDM"]}

    held.set(SECOND + timedelta(milliseconds=100))
    repaired = await stack.sandbox.repair(CC, key)
    await _poll(stack, CC)  # reads the repair
    assert await stack.agreed(expect={record_id: "stopped:repaired"}) == []  # GSXT stopped too

    held.set(SECOND + timedelta(milliseconds=600))  # the same second
    restored = await stack.sandbox.repair(CC, {**key, "restore": True})
    assert repaired["changed"] and restored["changed"]
    assert repaired["record"]["SJC"] == restored["record"]["SJC"]  # the platform's stamp did not move
    await _poll(stack, CC)  # must read the restore

    assert await stack.agreed(expect={record_id: "published"}) == []
    record = await stack.runtime.db.run(
        lambda tx: tx.one("SELECT status FROM records WHERE record_id = ?", (record_id,)), write=False
    )
    assert record is not None and record["status"] == "published"
