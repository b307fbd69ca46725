"""GSXT（甘肃） `othersxmd`: other departments' lists collected for enterprises, over real HTTP
(docs/protocols.md §2b)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from simulators.clock import ManualClock
from simulators.gsxt_gansu import GsxtConfig, create_app
from tests.test_simulators_gsxt import START, SUBJECT_CODE, Client, changes, post, records, signed

DOCUMENT = "JL202600077"


def listing(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "uniSCID": SUBJECT_CODE,
        "entName": "兰州恒达商贸有限公司",
        "entType": "企业",
        "listType": "1",
        "serILLRea": "发生较大生产安全事故，性质恶劣",
        "inBasis": "《安全生产严重失信主体名单管理办法》第五条",
        "abnTime": "2026-01-05",
        "decOrg": "甘肃省应急管理厅",
        # A department that names itself only: the code is its name, taken verbatim.
        "decOrgCode": "甘肃省应急管理厅",
        "penDecNo": DOCUMENT,
    }
    record.update(overrides)
    return record


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def client(clock: ManualClock) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(GsxtConfig(clock=clock)), host="127.0.0.1")) as test_client:
        yield test_client


async def save(client: Client, clock: ManualClock, request_id: str, record: dict[str, Any]) -> tuple[int, Any]:
    return await post(client, "/api/othersxmd/save", signed(clock, {"requestId": request_id, "record": record}))


async def held(client: Client) -> list[dict[str, Any]]:
    return await records(client, "?table=othersxmd")


async def test_a_listing_is_published_at_once_and_shows_in_feed_and_listing(client: Client, clock: ManualClock) -> None:
    start = (await changes(client, clock, ""))["nextCursor"]
    status, answer = await save(client, clock, "r1", listing())
    assert status == 200 and answer["result"] == 1 and answer["data"]["applied"] is True
    [row] = await held(client)
    assert row["isMove"] == "0" and row["sxmdId"] == answer["data"]["sxmdId"] and row["priPID"]
    assert row["decOrgCode"] == "甘肃省应急管理厅" and row["penDecNo"] == DOCUMENT
    items = (await changes(client, clock, start))["items"]
    assert [(i["table"], i["record"]["isMove"]) for i in items] == [("othersxmd", "0")]
    query = {"table": "othersxmd", "after": "", "pageSize": 10}
    status, page = await post(client, "/api/records", signed(clock, query))
    assert status == 200 and [i["record"]["penDecNo"] for i in page["data"]["items"]] == [DOCUMENT]


async def test_removal_and_restore_keep_the_row(client: Client, clock: ManualClock) -> None:
    await save(client, clock, "r1", listing())
    _status, answer = await save(client, clock, "r2", listing(isMove="1", remType="1", remDate="2028-01-05"))
    assert answer["data"]["applied"] is True
    [row] = await held(client)
    assert (row["isMove"], row["remType"], row["remDate"]) == ("1", "1", "2028-01-05")
    assert await records(client, "?table=othersxmd&published=1") == []
    _status, answer = await save(client, clock, "r3", listing(isMove="0"))
    [row] = await held(client)
    assert (row["isMove"], row["remType"], row["remDate"]) == ("0", "", "")


async def test_a_replayed_request_id_applies_nothing(client: Client, clock: ManualClock) -> None:
    _status, first = await save(client, clock, "r1", listing())
    _status, replay = await save(client, clock, "r1", listing(entName="别的名称"))
    assert replay == first
    [row] = await held(client)
    assert row["entName"] == "兰州恒达商贸有限公司"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"entType": "自然人", "uniSCID": ""}, "entType"),  # GSXT shows no natural persons
        ({"uniSCID": ""}, "uniSCID"),
        ({"uniSCID": "620102199001011234"[:17]}, "uniSCID"),
        ({"entType": "其他"}, "entType"),
        ({"listType": "9"}, "listType"),
        ({"abnTime": "2026/01/05"}, "abnTime"),
        ({"isMove": "1"}, "remType"),
        ({"isMove": "1", "remType": "1"}, "remDate"),
        ({"remType": "1"}, "remType"),
        ({"penAm": "1"}, "penAm"),
        ({"decOrg": 7}, "decOrg"),
    ],
)
async def test_refusals_name_the_field_and_change_nothing(
    client: Client, clock: ManualClock, overrides: dict[str, Any], field: str
) -> None:
    status, answer = await save(client, clock, "bad", listing(**overrides))
    assert status == 200 and answer["result"] == 0 and answer["errCode"] == "2001" and answer["field"] == field
    assert await held(client) == []
    # A refused write is not remembered: corrected, it goes through under the same requestId.
    _status, answer = await save(client, clock, "bad", listing())
    assert answer["result"] == 1


async def test_removing_an_unknown_listing_is_2002(client: Client, clock: ManualClock) -> None:
    _status, answer = await save(client, clock, "r1", listing(isMove="1", remType="2", remDate="2026-06-01"))
    assert answer["errCode"] == "2002" and answer["field"] == "penDecNo"
    assert await held(client) == []


async def test_admin_repair_removes_and_restores(client: Client, clock: ManualClock) -> None:
    await save(client, clock, "r1", listing())
    key = {"table": "othersxmd", "penDecNo": DOCUMENT, "decOrgCode": "甘肃省应急管理厅"}
    response = await client.post("/admin/repair", json={**key, "remType": "2"})
    assert response.status == 200
    [row] = await held(client)
    assert (row["isMove"], row["remType"], row["remDate"]) == ("1", "2", "2026-11-02")
    response = await client.post("/admin/repair", json={**key, "remType": "7"})
    assert response.status == 400 and (await response.json())["field"] == "remType"
    response = await client.post("/admin/repair", json={**key, "restore": True})
    [row] = await held(client)
    assert response.status == 200 and row["isMove"] == "0" and row["remDate"] == ""
