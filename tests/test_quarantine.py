"""Quarantine over the real simulators, on SQLite and PostgreSQL (issue 10 items 6, 7, 9): rows the
gateway cannot map or must not apply are kept (masked) with their reason instead of log lines, the
feed goes on, nothing of them is applied or propagated, and a retry after a fix applies them once."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.contract import NativeChange
from gateway.domain.plan import Observation
from gateway.observability import REGISTRY
from gateway.quarantine import retry
from gateway.runtime import Runtime
from gateway.sandbox import Sandbox, record_id_of
from gateway.store.database import now_utc
from gateway.store.repo import Repo
from gateway.sync.connectors import MAPPINGS
from mappings.creditchina_gansu import CreditChinaGansuMapping
from simulators import SYSTEMS, start_simulators
from tests.test_api_harness import root_client
from tests.test_sweep_end_to_end import eventually
from tests.test_sync_end_to_end import fast_settings

CC, GS = "creditchina_gansu", "gsxt_gansu"
ID_NUMBER = "11010519491231002X"  # GB 11643's own example, check digit valid
IMPOSSIBLE_DAY = "2024/02/30"


@dataclass
class World:
    runtime: Runtime
    sandbox: Sandbox
    http: aiohttp.ClientSession
    api: TestClient[Any, Any]
    urls: dict[str, str]
    database_url: str

    async def load(self, system: str, body: dict[str, Any]) -> None:
        async with self.http.post(f"{self.urls[system]}/admin/load", json=body) as resp:
            assert resp.status == 200, await resp.text()

    async def shown(self, record_id: str) -> dict[str, str]:
        return {s: view[record_id].label for s, view in (await self.sandbox.views()).items() if record_id in view}

    async def quarantine(self, query: str = "") -> dict[str, Any]:
        response = await self.api.get(f"/v1/quarantine{query}")
        assert response.status == 200, await response.text()
        return dict(await response.json())

    async def deliveries(self, record_id: str) -> list[tuple[str, str]]:
        rows = await self.runtime.db.run(
            lambda tx: tx.all("SELECT target, state_status FROM outbox WHERE record_id = ? ORDER BY id", (record_id,)),
            write=False,
        )
        return [(r["target"], r["state_status"]) for r in rows]


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    sims = await start_simulators(systems={s: SYSTEMS[s] for s in (CC, GS)})
    urls = {s: sims.urls[s] for s in (CC, GS)}
    runtime = await Runtime.open(fast_settings(database_url), urls=urls)
    http = aiohttp.ClientSession()
    api = await root_client(runtime)
    try:
        yield World(runtime, Sandbox(http, urls), http, api, urls, database_url)
    finally:
        await api.close()
        await http.close()
        await runtime.close()
        await sims.close()


def _sample(name: str, system: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(name, {"system": system, "reason": reason})
    return 0.0 if value is None else value


async def _awkward_rows(world: World) -> dict[str, Any]:
    """Load, after the seed was read, one row of each kind the gateway must keep out, then a good
    row behind them on each feed."""
    gs_rows, cc_rows = await world.sandbox.records(GS), await world.sandbox.records(CC)
    listed = next(r for r in gs_rows if r["table"] == "opanomaly" and r["speCause"] == "4")
    today = (datetime.now(UTC) + timedelta(hours=8)).strftime("%Y-%m-%d")
    # 移出原因 1 【已补报年度报告】 cannot end a listing for 列入原因 4 (无法联系): domain.md §3.1.
    mismatched = {k: v for k, v in listed.items() if k != "table"} | {
        "isMove": "1",
        "remExcpres": "1",
        "remExcpresCN": "【已补报年度报告】",
        "remDate": today,
        "reDecOrg": listed["decOrg"],
        "updateTime": None,
    }
    null_move = {k: v for k, v in listed.items() if k not in ("table", "busExcList")} | {
        "penDecNo": "白市监异入〔2024〕0999号",
        "isMove": None,
        "updateTime": None,
    }
    current = next(r for r in cc_rows if r.get("ROWTYPE") == "CF" and str(r.get("CF_CFJG", "")).endswith("生态环境局"))
    # A penalty is on no list: ZZYY 04 (移出名单) is a stop a penalty does not have.
    removed_penalty = {k: v for k, v in current.items() if k not in ("ID", "SJC")} | {
        "GSZT": "0",
        "ZZYY": "04",
        "ZZRQ": today.replace("-", "/"),
    }
    bad_date = {k: v for k, v in current.items() if k not in ("ID", "SJC")} | {
        "CF_WSH": "兰环罚〔2024〕998号",
        "CF_JDRQ": IMPOSSIBLE_DAY,
        "BZ": f"法定代表人身份证号{ID_NUMBER}",
    }
    punish = next(r for r in gs_rows if r["table"] == "punish")
    good_gsxt = {k: v for k, v in punish.items() if k not in ("table", "caseId", "priPID")} | {
        "penDecNo": "酒市监罚〔2024〕997号",
        "updateTime": None,
    }
    await world.load(GS, {"table": "opanomaly", "records": [mismatched, null_move]})
    await world.load(GS, {"table": "punish", "records": [good_gsxt]})
    await world.load(CC, {"rows": [removed_penalty, bad_date]})
    return {
        "abnormal_id": record_id_of(GS, listed),
        "penalty_id": record_id_of(CC, current),
        "good_id": record_id_of(GS, {"table": "punish", **good_gsxt}),
        "bad_date": bad_date,
    }


class _FixedDates(CreditChinaGansuMapping):
    """A mapping fix as an operator deploys one: the source's 2024/02/30 meant the month's end."""

    def to_observation(self, change: NativeChange) -> Observation | None:
        row = dict(change.row)
        if row.get("CF_JDRQ") == IMPOSSIBLE_DAY:
            row["CF_JDRQ"] = "2024/02/29"
        return super().to_observation(NativeChange(**{**vars(change), "row": row}))


async def test_rows_that_must_not_be_applied_are_quarantined_and_the_feed_goes_on(world: World) -> None:
    runtime = world.runtime
    runtime.start()
    for poller in runtime.pollers.values():
        await poller.poll_once()
    rows = await _awkward_rows(world)
    abnormal_id, penalty_id, good_id = rows["abnormal_id"], rows["penalty_id"], rows["good_id"]
    mismatches_before = _sample("creditgw_quarantined_total", GS, "removal_reason_mismatch")
    before = {record_id: await world.deliveries(record_id) for record_id in (abnormal_id, penalty_id)}

    # The feeds go on past the bad rows: the good one behind them reaches 信用中国.
    async def settled() -> bool:
        page = await world.quarantine()
        return len(page["items"]) == 4 and (await world.shown(good_id)).get(CC) == "published"

    await eventually(settled, timeout_s=120)
    items = (await world.quarantine())["items"]
    assert sorted((i["system"], i["reason"], i["field"]) for i in items) == [
        (CC, "state_not_for_category", None),
        (CC, "unmappable", "CF_JDRQ"),
        (GS, "removal_reason_mismatch", "removal_reason"),
        (GS, "unmappable", "isMove"),
    ]
    assert all(i["status"] == "open" and i["record_id"] is None and i["retries"] == 0 for i in items)

    # Not applied, not propagated: both systems still show what the owners decided before.
    for _ in range(3):
        for poller in runtime.pollers.values():
            await poller.poll_once()
    assert await world.shown(abnormal_id) == {CC: "published", GS: "stopped:removed"}  # GSXT's own, not ours
    assert await world.shown(penalty_id) == {CC: "stopped:removed", GS: "published"}
    for record_id in (abnormal_id, penalty_id):
        record = await runtime.db.run(lambda tx, r=record_id: Repo(tx).load_record(r), write=False)
        assert record is not None and record.state.target.label == "published"
        assert await world.deliveries(record_id) == before[record_id]

    # Visible: filters, paging, detail with the change as read, masked; a metric by system and reason.
    assert [
        i["reason"] for i in (await world.quarantine("?system=gsxt_gansu&reason=removal_reason_mismatch"))["items"]
    ] == ["removal_reason_mismatch"]
    first = await world.quarantine("?limit=1")
    assert len(first["items"]) == 1 and first["next_after_id"] == first["items"][0]["id"]
    rest = await world.quarantine(f"?after_id={first['next_after_id']}")
    assert len(rest["items"]) == 3 and rest["next_after_id"] is None
    [dated] = [i for i in items if i["field"] == "CF_JDRQ"]
    detail = await world.api.get(f"/v1/quarantine/{dated['id']}")
    text = await detail.text()
    assert detail.status == 200 and ID_NUMBER not in text
    change = json.loads(text)["change"]
    assert change["row"]["CF_JDRQ"] == IMPOSSIBLE_DAY
    assert change["row"]["BZ"] == "法定代表人身份证号110105************"
    stored = await runtime.db.run(lambda tx: [r["raw"] for r in tx.all("SELECT raw FROM quarantine")], write=False)
    assert not any(ID_NUMBER in raw for raw in stored)
    missing = await world.api.get("/v1/quarantine/999999")
    assert missing.status == 404 and (await missing.json())["code"] == "quarantine_not_found"
    assert _sample("creditgw_quarantined_total", GS, "removal_reason_mismatch") == mismatches_before + 1
    await runtime.refresh_gauges()
    assert _sample("creditgw_quarantine_open", CC, "unmappable") == 1

    # Retry after a mapping fix: the dated row is applied (a new 信用中国 penalty, sent to GSXT);
    # the others stay open with their reasons. A second retry applies nothing again.
    fixed = {**MAPPINGS, CC: _FixedDates()}
    report = await retry(runtime.committer, policy=runtime.policy, mappings=fixed, now=now_utc())
    assert list(report.applied.values()) == ["created"] and list(report.applied) == [dated["id"]]
    assert sorted(report.still.values()) == ["removal_reason_mismatch", "state_not_for_category", "unmappable"]
    new_id = record_id_of(CC, {**rows["bad_date"], "CF_JDRQ": "2024/02/29"})
    assert new_id is not None
    runtime.dispatcher.wake()

    async def delivered() -> bool:  # 信用中国's own row still reads 2024/02/30 to the unfixed mapping
        return (await world.shown(new_id)).get(GS) == "published"

    await eventually(delivered, timeout_s=120)
    outbox = await runtime.db.run(lambda tx: Repo(tx).count("outbox"), write=False)
    again = await retry(runtime.committer, policy=runtime.policy, mappings=fixed, now=now_utc(), ids=[dated["id"]])
    assert (again.applied, again.missing) == ({}, [dated["id"]])
    assert await runtime.db.run(lambda tx: Repo(tx).count("outbox"), write=False) == outbox
    resolved = (await world.quarantine("?status=resolved"))["items"]
    assert [(i["id"], i["outcome"], i["record_id"], i["retries"]) for i in resolved] == [
        (dated["id"], "created", new_id, 1)
    ]
    assert len((await world.quarantine("?status=open"))["items"]) == 3
    await runtime.refresh_gauges()
    assert _sample("creditgw_quarantine_open", CC, "unmappable") == 0


async def _cli(*args: str) -> tuple[int, str]:
    """`creditgw …` as an operator runs it: its own process, exit code and standard output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode("utf-8")


async def test_the_cli_lists_shows_and_retries(world: World) -> None:
    runtime = world.runtime
    for poller in runtime.pollers.values():
        await poller.poll_once()
    await _awkward_rows(world)
    for poller in runtime.pollers.values():
        await poller.poll_once()
    url = ("--database-url", world.database_url)

    code, out = await _cli(*url, "quarantine", "list", "--json", "--system", GS)
    listed = json.loads(out)
    assert code == 0 and sorted(i["reason"] for i in listed) == ["removal_reason_mismatch", "unmappable"]
    code, out = await _cli(*url, "quarantine", "show", str(listed[0]["id"]))
    assert code == 0 and json.loads(out)["change"]["kind"] == "opanomaly"
    code, out = await _cli(*url, "quarantine", "show", "999999")
    assert code == 1 and json.loads(out)["code"] == "quarantine_not_found"
    # Nothing fixed: a retry keeps every row open, with its reason, and applies nothing.
    code, out = await _cli(*url, "quarantine", "retry", "--system", GS)
    report = json.loads(out)
    assert code == 0 and report["applied"] == {}
    assert sorted(report["still"].values()) == ["removal_reason_mismatch", "unmappable"]
    code, out = await _cli(*url, "quarantine", "list")
    assert code == 0 and "4 quarantined change(s)" in out
