"""GSXT's 市场监督管理严重违法失信名单 (`seriousillegal`, docs/protocols.md §2a) over real HTTP: the
table in the change feed, removal kinds and their earliest dates, restoration, and the seed switch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from simulators.clock import BEIJING, ManualClock
from simulators.gsxt_gansu import GsxtConfig, create_app
from tests.list_simulators import Sim, running
from tests.test_simulators_gsxt import signed

LISTED = {"table": "seriousillegal", "penDecNo": "兰市监严列〔2025〕6号", "decOrgCode": "11620100MA72SC0001"}


@pytest.fixture
async def gsxt() -> AsyncIterator[Sim]:
    async with running("gsxt_gansu", create_app, lambda clock: GsxtConfig(clock=clock, serious_list=True)) as sim:
        yield sim


async def feed(sim: Sim, cursor: str = "") -> dict[str, Any]:
    assert isinstance(sim.clock, ManualClock)
    body = signed(sim.clock, {"cursor": cursor, "pageSize": 1000})
    answer = await sim.admin("POST", "/api/changes", json=body)
    assert answer["result"] == 1
    return dict(answer["data"])


async def test_the_serious_list_is_in_the_feed_and_the_records(gsxt: Sim) -> None:
    items = [item for item in (await feed(gsxt))["items"] if item["table"] == "seriousillegal"]
    assert [item["record"]["illCompId"] for item in items] == [
        "62SX2025000001",
        "62SX2025000002",
        "62SX2023000009",
    ]  # by updateTime
    listed = await gsxt.admin("GET", "/admin/records", params={"table": "seriousillegal", "published": "1"})
    assert {r["penDecNo"] for r in listed["records"]} == {"兰市监严列〔2025〕6号", "甘市监严列〔2025〕2号"}
    [removed] = [item["record"] for item in items if item["record"]["isMove"] == "1"]
    assert removed["remExcpresRea"] == "企业注销，自动移出" and removed["reDecOrg"] == "白银市市场监督管理局"


async def test_credit_repair_removal_needs_a_year_and_keeps_the_row(gsxt: Sim) -> None:
    cursor = (await feed(gsxt))["nextCursor"]
    gsxt.clock.set(datetime(2026, 4, 7, 23, 0, tzinfo=BEIJING))  # listed 2025-04-08
    refused = await gsxt.admin("POST", "/admin/repair", expect=409, json={**LISTED, "remType": "2"})
    assert refused["code"] == "too_early" and "2026-04-08" in refused["message"]
    gsxt.clock.set(datetime(2026, 4, 8, 9, 0, tzinfo=BEIJING))
    answer = await gsxt.admin("POST", "/admin/repair", json={**LISTED, "remType": "2"})
    record = answer["record"]
    assert (record["isMove"], record["remType"], record["remDate"]) == ("1", "2", "2026-04-08")
    assert record["remExcpresRea"] == "信用修复，提前移出" and record["reDecOrg"] == "兰州市市场监督管理局"
    [item] = (await feed(gsxt, cursor))["items"]
    assert item["table"] == "seriousillegal" and item["record"]["isMove"] == "1"
    again = await gsxt.admin("POST", "/admin/repair", expect=409, json={**LISTED, "remType": "4"})
    assert again["code"] == "not_listed"
    restored = (await gsxt.admin("POST", "/admin/repair", json={**LISTED, "restore": True}))["record"]
    assert (restored["isMove"], restored["remType"], restored["remDate"]) == ("0", "", "")


async def test_expiry_removal_only_after_three_years(gsxt: Sim) -> None:
    gsxt.clock.set(datetime(2028, 4, 7, 12, 0, tzinfo=BEIJING))
    assert (await gsxt.admin("POST", "/admin/repair", expect=409, json={**LISTED, "remType": "1"}))[
        "code"
    ] == "too_early"
    gsxt.clock.set(datetime(2028, 4, 8, 0, 0, tzinfo=BEIJING))
    record = (await gsxt.admin("POST", "/admin/repair", json={**LISTED, "remType": "1"}))["record"]
    assert record["remExcpresRea"] == "列入届满3年，自动移出"
    # A revoked penalty ends a listing at any time, with the operator's own words if given.
    other = {**LISTED, "penDecNo": "甘市监严列〔2025〕2号", "decOrgCode": "11620000MA72SC0002"}
    revoked = await gsxt.admin(
        "POST", "/admin/repair", json={**other, "remType": "3", "remExcpresRea": "处罚决定已撤销"}
    )
    assert revoked["record"]["remExcpresRea"] == "处罚决定已撤销"
    bad = await gsxt.admin("POST", "/admin/repair", expect=400, json={**other, "restore": False, "remType": "9"})
    assert bad["field"] == "remType"


async def test_loaded_entries_get_an_id_and_the_seed_switch_is_off_by_default(gsxt: Sim) -> None:
    entry = {"penDecNo": "酒市监严列〔2026〕1号", "decOrgCode": "11620900MA72SC0009", "entName": "酒泉示例有限公司",
             "uniSCID": "91620902MA72TJ0364", "abnTime": "2026-11-01", "serILLRea": "较重行政处罚"}  # fmt: skip
    assert (await gsxt.admin("POST", "/admin/load", json={"table": "seriousillegal", "records": [entry]}))[
        "changed"
    ] == 1
    [loaded] = [
        r
        for r in (await gsxt.admin("GET", "/admin/records", params={"table": "seriousillegal"}))["records"]
        if r["penDecNo"] == entry["penDecNo"]
    ]
    assert len(loaded["illCompId"]) == 32 and loaded["isMove"] == "0"
    async with running("gsxt_gansu", create_app, lambda clock: GsxtConfig(clock=clock)) as plain:
        assert {item["table"] for item in (await feed(plain))["items"]} == {"punish", "otherpunish", "opanomaly"}
