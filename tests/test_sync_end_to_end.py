"""The whole gateway against the simulated systems over loopback HTTP, on SQLite and PostgreSQL:
repairs on either side, injected faults, dead letters and replay, echoes, set-backs, leases."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from adapters.gsxt_gansu import GsxtGansuAdapter
from gateway.contract import NativeWrite, WriteResult
from gateway.demo import wait_until_agreed
from gateway.domain.plan import FEED_CATCH_UP, Action, Decision
from gateway.observability import REGISTRY
from gateway.runtime import Runtime
from gateway.sandbox import Sandbox, record_id_of
from gateway.settings import Settings
from gateway.store.database import Tx, now_utc
from gateway.store.repo import OutboxStatus, Repo
from gateway.sync.connectors import build_connectors
from gateway.sync.dlq import replay
from gateway.sync.ingest import apply_event
from simulators import start_simulators
from tests.test_api_harness import SECRETS_KEY

CC, GS = "creditchina_gansu", "gsxt_gansu"


@dataclass
class Stack:
    runtime: Runtime
    sandbox: Sandbox

    async def agreed(self, timeout_s: float = 30.0, *, expect: dict[str, str] | None = None) -> list[str]:
        """Wait until every system shows the canonical state and, right after a change the gateway
        may not have read yet, until the changed records show `expect` (record_id → state) everywhere."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            left = deadline - asyncio.get_running_loop().time()
            remaining = [d.label for d in await wait_until_agreed(self.runtime, self.sandbox, max(left, 0), poll=False)]
            views = await self.sandbox.views()
            missing = [
                f"{record_id} not yet {label} on {system}"
                for record_id, label in (expect or {}).items()
                for system, view in views.items()
                if record_id in view and view[record_id].label != label
            ]
            if (not remaining and not missing) or left <= 0:
                return remaining + missing
            await asyncio.sleep(0.1)

    async def outbox(self, status: str, target: str | None = None) -> list[Any]:
        return await self.runtime.db.run(
            lambda tx: Repo(tx).list_outbox(status=status, target=target, limit=1000), write=False
        )

    async def writes(self, system: str) -> Counter[str]:
        return Counter((await self.sandbox.stats(system))["writes"])


def fast_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "poll_interval_s": 0.1,
        "dispatch_idle_s": 0.02,
        "retry_base_s": 0.05,
        "retry_max_s": 0.5,
        "max_attempts": 40,
        "reaper_interval_s": 0.2,
        "lease_s": 10.0,
        "secrets_key": SecretStr(SECRETS_KEY),  # API clients' secrets (tests/test_api_harness.root_client)
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def open_stack(
    database_url: str, overrides: dict[str, Any] | None = None, *, configs: dict[str, Any] | None = None
) -> AsyncIterator[Stack]:
    """The simulators (`configs`: per system, e.g. a held clock) and a gateway runtime on them."""
    sims = await start_simulators(configs=configs)
    runtime = await Runtime.open(fast_settings(database_url, **(overrides or {})), urls=dict(sims.urls))
    http = aiohttp.ClientSession()
    try:
        yield Stack(runtime, Sandbox(http, sims.urls))
    finally:
        await http.close()
        await runtime.close()
        await sims.close()


@pytest.fixture
async def stack(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    async with open_stack(database_url, getattr(request, "param", {})) as opened:
        yield opened


async def _started(stack: Stack, *, dispatch: bool = True) -> None:
    stack.runtime.start(dispatch=dispatch)
    for poller in stack.runtime.pollers.values():  # the whole seed is read before any test acts
        await poller.poll_once()
    if dispatch:
        assert await stack.agreed() == []


async def _punish(stack: Stack, count: int) -> list[dict[str, Any]]:
    rows = await stack.sandbox.records(GS, published=True)
    return [r for r in rows if r["table"] == "punish"][:count]


async def _repair_on_gsxt(stack: Stack, row: dict[str, Any]) -> str:
    await stack.sandbox.repair(GS, {"table": "punish", "penDecNo": row["penDecNo"], "judAuthCode": row["judAuthCode"]})
    record_id = record_id_of(GS, row)
    assert record_id is not None
    return record_id


async def _other_department_penalties(stack: Stack, count: int) -> list[dict[str, Any]]:
    gs_rows = await stack.sandbox.records(GS, published=True)
    on_gsxt = {(r["judAuthCode"], r["penDecNo"]) for r in gs_rows if r["table"] == "otherpunish"}
    cc_rows = await stack.sandbox.records(CC, published=True)
    return [r for r in cc_rows if r.get("ROWTYPE") == "CF" and (r.get("CF_CFJGDM"), r.get("CF_WSH")) in on_gsxt][:count]


def _changed_keys(before: Counter[str], after: Counter[str]) -> Counter[str]:
    return Counter({k: after[k] - before[k] for k in after if after[k] != before[k]})


async def test_gsxt_repairs_reach_creditchina_exactly_once_under_transient_faults(stack: Stack) -> None:
    await _started(stack)
    targets = await _punish(stack, 6)
    before = await stack.writes(CC)
    await stack.sandbox.set_faults(CC, error_rate=0.3, error_status=503, rate_limit_rate=0.1, retry_after_s=1, seed=7)
    await stack.sandbox.set_faults(GS, error_rate=0.3, error_status=502, seed=11)
    # 信用中国 takes the six rows in one or two calls, which may all pass: its pollers' calls
    # meet the faults first, so the run is under faults whatever the writes draw.
    for _ in range(100):
        if sum((await stack.sandbox.stats(CC))["faults_injected"].values()) > 0:
            break
        await asyncio.sleep(0.05)
    repaired = [await _repair_on_gsxt(stack, row) for row in targets]

    assert await stack.agreed(expect=dict.fromkeys(repaired, "stopped:repaired")) == []
    faults = (await stack.sandbox.stats(CC))["faults_injected"]
    assert sum(faults.values()) > 0, "no fault was injected: the test proves nothing"
    changed = _changed_keys(before, await stack.writes(CC))
    assert sorted(changed) == sorted(f"CF:{r['penDecNo']}|{r['judAuthCode']}" for r in targets)
    assert set(changed.values()) == {1}  # exactly once in effect, however many attempts it took
    assert await stack.outbox(OutboxStatus.DEAD) == []


async def test_creditchina_repairs_reach_gsxt_and_a_replayed_delivery_changes_nothing(stack: Stack) -> None:
    await _started(stack)
    rows = await _other_department_penalties(stack, 3)
    before = await stack.writes(GS)
    await stack.sandbox.set_faults(GS, rate_limit_rate=0.5, retry_after_s=1, seed=3)
    for row in rows:
        await stack.sandbox.repair(CC, {"CF_WSH": row["CF_WSH"], "CF_CFJGDM": row["CF_CFJGDM"], "ZZYY": "01"})
    expect = {str(record_id_of(CC, r)): "stopped:repaired" for r in rows}
    assert await stack.agreed(expect=expect) == []
    assert sum((await stack.sandbox.stats(GS))["faults_injected"].values()) > 0
    await stack.sandbox.clear_faults(GS)
    after = await stack.writes(GS)
    changed = _changed_keys(before, after)
    assert len(changed) == 3 and set(changed.values()) == {1}

    # The acknowledgement was lost: the same deliveries go out again with the same keys.
    repaired = {record_id_of(CC, r) for r in rows}
    done = [
        i
        for i in await stack.outbox(OutboxStatus.DONE, GS)
        if i.record_id in repaired and i.state.label == "stopped:repaired"
    ]
    assert len(done) == 3

    def _lose_acks(tx: Tx) -> None:
        for item in done:
            tx.execute("UPDATE outbox SET status = 'pending', next_attempt_at = ? WHERE id = ?", (now_utc(), item.id))

    await stack.runtime.db.run(_lose_acks)
    stack.runtime.dispatcher.wake()
    assert await stack.agreed() == []
    assert {i.id for i in await stack.outbox(OutboxStatus.DONE, GS)} >= {i.id for i in done}
    assert await stack.writes(GS) == after  # GSXT answered from its requestId memory


async def test_permanent_failure_is_dead_lettered_with_context_and_replays(stack: Stack) -> None:
    await _started(stack)
    [row] = await _punish(stack, 1)
    await stack.sandbox.set_faults(CC, reject_keys=[row["penDecNo"]])
    record_id = await _repair_on_gsxt(stack, row)

    for _ in range(200):
        dead = await stack.outbox(OutboxStatus.DEAD, CC)
        if dead:
            break
        await asyncio.sleep(0.05)
    [letter] = dead
    assert letter.record_id == record_id and letter.attempts == 1
    context = letter.dead_context
    assert context is not None
    assert (context["kind"], context["target"], context["state"]) == ("permanent", CC, "stopped:repaired")
    assert context["code"] == "03" and context["body_excerpt"] and context["first_enqueued_at"]
    repair = await stack.runtime.db.run(lambda tx: Repo(tx).repairs_of_record(record_id), write=False)
    progress = await stack.runtime.db.run(lambda tx: Repo(tx).get_repair(repair[-1]["repair_id"]), write=False)
    assert progress is not None and [t["status"] for t in progress[1]] == ["dead"]

    await stack.sandbox.clear_faults(CC)
    report = await replay(stack.runtime.committer, now=now_utc(), target=CC)
    assert report.replayed == [letter.id]
    stack.runtime.dispatcher.wake()
    assert await stack.agreed(expect={record_id: "stopped:repaired"}) == []
    progress = await stack.runtime.db.run(lambda tx: Repo(tx).get_repair(repair[-1]["repair_id"]), write=False)
    assert progress is not None and [t["status"] for t in progress[1]] == ["delivered"]


async def test_echo_of_our_own_write_is_not_sent_back(stack: Stack) -> None:
    await _started(stack)
    [row] = await _other_department_penalties(stack, 1)
    before = await stack.runtime.db.run(lambda tx: int(tx.scalar("SELECT COALESCE(MAX(id), 0) AS n FROM outbox")))
    await stack.sandbox.repair(CC, {"CF_WSH": row["CF_WSH"], "CF_CFJGDM": row["CF_CFJGDM"], "ZZYY": "01"})
    record_id = record_id_of(CC, row)
    assert await stack.agreed(expect={str(record_id): "stopped:repaired"}) == []
    await asyncio.sleep(0.5)  # several poll cycles: GSXT's feed now reports the state we wrote

    def _seen(tx: Tx) -> tuple[int, list[str]]:
        outbox = int(tx.scalar("SELECT COUNT(*) AS n FROM outbox WHERE record_id = ? AND id > ?", (record_id, before)))
        outcomes = [r["outcome"] for r in tx.all("SELECT outcome FROM inbox WHERE record_id = ?", (record_id,))]
        return outbox, outcomes

    outbox, outcomes = await stack.runtime.db.run(_seen, write=False)
    assert outbox == 1  # the one delivery to GSXT, nothing back to 信用中国
    assert "changed" in outcomes and ("unchanged" in outcomes or "echo" in outcomes)


async def test_mirror_change_contradicting_the_owner_is_audited_and_set_back(stack: Stack) -> None:
    await _started(stack)
    [row] = await _punish(stack, 1)
    await stack.sandbox.repair(CC, {"CF_WSH": row["penDecNo"], "CF_CFJGDM": row["judAuthCode"], "ZZYY": "01"})
    record_id = str(record_id_of(GS, row))
    for _ in range(200):
        audit = await stack.runtime.db.run(lambda tx: Repo(tx).audit_of(record_id), write=False)
        if "mirror_divergence" in [a["kind"] for a in audit]:
            break
        await asyncio.sleep(0.05)
    assert "mirror_divergence" in [a["kind"] for a in audit]
    assert await stack.agreed(expect={record_id: "published"}) == []


@pytest.mark.parametrize("stack", [{"lease_s": 0.3}], indirect=True)
async def test_a_killed_dispatchers_leases_come_back(stack: Stack) -> None:
    await _started(stack, dispatch=False)  # pollers only: deliveries stay queued
    [row] = await _punish(stack, 1)
    record_id = await _repair_on_gsxt(stack, row)
    for _ in range(100):
        pending = await stack.outbox(OutboxStatus.PENDING, CC)
        if any(i.record_id == record_id and i.state.label == "stopped:repaired" for i in pending):
            break
        await asyncio.sleep(0.05)
    now = now_utc()
    # A worker claims everything and dies before finishing (no complete, no reschedule).
    claimed = await stack.runtime.committer.submit(
        lambda tx: Repo(tx).claim(now, 1000, "dead-worker", now + timedelta(seconds=0.3))
    )
    [mine] = [i for i in claimed if i.record_id == record_id]
    stack.runtime.start(poll=False)  # a live dispatcher and reaper take over
    assert await stack.agreed(expect={record_id: "stopped:repaired"}) == []
    item = await stack.runtime.db.run(lambda tx: Repo(tx).get_outbox(mine.id), write=False)
    assert item is not None and item.status == OutboxStatus.DONE and item.attempts == 2


class CountingGsxtAdapter(GsxtGansuAdapter):
    """The real adapter, counting how many writes per business key are in flight at once."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.states: list[str] = []

    async def write(self, write: NativeWrite) -> WriteResult:
        self.in_flight[write.business_key] += 1
        self.most[write.business_key] = max(self.most[write.business_key], self.in_flight[write.business_key])
        try:
            result = await super().write(write)
            self.states.append(str(write.row.get("pubFlag")))
            return result
        finally:
            self.in_flight[write.business_key] -= 1


async def test_never_two_versions_of_one_record_in_flight_to_one_target(database_url: str) -> None:
    sims = await start_simulators()
    settings = fast_settings(database_url, dispatch_concurrency=8)
    connectors = build_connectors(settings, dict(sims.urls))
    gsxt = connectors[GS].adapter
    counting = CountingGsxtAdapter(base_url=sims.urls[GS], app_key="creditgw", secret="gsxt-secret")
    connectors[GS] = dataclasses.replace(connectors[GS], adapter=counting)
    await gsxt.close()
    runtime = await Runtime.open(settings, connectors=connectors)
    http = aiohttp.ClientSession()
    stack = Stack(runtime, Sandbox(http, sims.urls))
    try:
        await _started(stack)
        [row] = await _other_department_penalties(stack, 1)
        record_id = record_id_of(CC, row)
        assert record_id is not None
        await stack.sandbox.set_faults(GS, latency_ms=150)
        counting.states.clear()  # count only what the decisions below cause
        start = now_utc()
        for n, action in enumerate([Action.REPAIR, Action.REVOKE_REPAIR] * 3 + [Action.REPAIR]):
            decision = Decision(
                record_id=record_id, action=action, decided_at=start + timedelta(seconds=n), decided_by="t"
            )
            await runtime.committer.submit(
                lambda tx, d=decision: apply_event(
                    tx, d, source="api:test", change_key=None, policy=runtime.policy, now=now_utc()
                )
            )
            runtime.dispatcher.wake()
            await asyncio.sleep(0.05)
        assert await stack.agreed(expect={record_id: "stopped:repaired"}) == []
        assert max(counting.most.values()) == 1
        assert counting.states[-1] == "0"  # the last decision (a repair) is what GSXT shows
        assert len(counting.states) < 7  # superseded versions were never sent
    finally:
        await http.close()
        await runtime.close()
        await sims.close()


async def test_deliveries_to_creditchina_share_one_call_and_a_refused_row_dies_alone(stack: Stack) -> None:
    """信用中国's intake takes up to 100 rows a call: the dispatcher sends what it claimed for it
    together; the row the intake refuses is dead-lettered, the rest of the batch is delivered."""
    await _started(stack)
    await stack.runtime.stop()  # from here on, only the explicit calls below move anything
    rows = await _punish(stack, 4)
    await stack.sandbox.set_faults(CC, reject_keys=[rows[2]["penDecNo"]])
    repaired = [await _repair_on_gsxt(stack, row) for row in rows]
    await stack.runtime.pollers[GS].poll_once()
    calls_before = sum((await stack.sandbox.stats(CC))["requests"].get("importPenalyXml", {}).values())

    assert await stack.runtime.dispatcher.run_once() == 4

    calls = (await stack.sandbox.stats(CC))["requests"]["importPenalyXml"]
    assert sum(calls.values()) - calls_before == 2  # the one refusing the row, then the other three at once
    [dead] = await stack.outbox(OutboxStatus.DEAD, CC)
    assert dead.record_id == repaired[2] and dead.dead_context is not None
    assert dead.dead_context["code"] == "03" and dead.dead_context["line"] in (1, 2, 3, 4)  # its row in the batch
    done = {item.record_id for item in await stack.outbox(OutboxStatus.DONE, CC)}
    assert {repaired[0], repaired[1], repaired[3]} <= done


async def test_a_write_a_system_never_reports_back_is_detected(stack: Stack) -> None:
    """Detection (docs/adr/0011): once a feed had its catch-up window to report our write and the
    system still shows something else, the record is counted per system
    (creditgw_target_mismatch_records); the feeds' echoes of the writes clear it."""
    stack.runtime.start(dispatch=True, poll=False)  # the feeds are read only when the test says so
    for poller in stack.runtime.pollers.values():
        await poller.poll_once()
    assert await stack.agreed() == []
    [row] = await _other_department_penalties(stack, 1)
    record_id = str(record_id_of(CC, row))
    decision = Decision(record_id=record_id, action=Action.REPAIR, decided_at=now_utc(), decided_by="兰州市生态环境局")
    policy = stack.runtime.policy
    await stack.runtime.db.run(
        lambda tx: apply_event(tx, decision, source="api:test", change_key=None, policy=policy, now=now_utc())
    )
    stack.runtime.dispatcher.wake()
    assert await stack.agreed(expect={record_id: "stopped:repaired"}) == []  # both acknowledged the write

    assert await stack.runtime.refresh_mismatches() == {}  # inside the catch-up window
    real_clock = stack.runtime.clock
    stack.runtime.clock = lambda: real_clock() + FEED_CATCH_UP + timedelta(seconds=1)
    assert await stack.runtime.refresh_mismatches() == {CC: 1, GS: 1}
    assert REGISTRY.get_sample_value("creditgw_target_mismatch_records", {"system": GS}) == 1

    for poller in stack.runtime.pollers.values():  # their feeds report our writes: echoes
        await poller.poll_once()
    assert await stack.runtime.refresh_mismatches() == {}
    assert REGISTRY.get_sample_value("creditgw_target_mismatch_records", {"system": GS}) == 0
    audit = await stack.runtime.db.run(lambda tx: Repo(tx).audit_of(record_id), write=False)
    accusing = {"state_changed", "facts_changed", "mirror_divergence", "unowned_divergence"}
    assert [a["kind"] for a in audit if a["actor"] in (CC, GS) and a["kind"] in accusing] == []
