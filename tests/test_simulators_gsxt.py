"""GSXT（甘肃） simulator over real HTTP on 127.0.0.1 (docs/protocols.md §2 and §3)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from simulators.clock import BEIJING, ManualClock
from simulators.gsxt_gansu import GsxtConfig, create_app

Client = TestClient[web.Request, web.Application]

START = datetime(2026, 11, 2, 9, 30, 0, tzinfo=BEIJING)
AUTHORITY_CODE = "11620100MA7HRB6M0L"
SUBJECT_CODE = "91620102MA72ABCD94"
SEED_ITEMS = 49  # 24 punish + 15 otherpunish + 10 opanomaly in the seed world


def signed(clock: ManualClock, body: dict[str, Any], *, secret: str = "gsxt-secret", skew_s: int = 0) -> dict[str, Any]:
    request_time = (clock.now() + timedelta(seconds=skew_s)).strftime("%Y%m%d%H%M%S")
    # Written out here rather than imported: the test must not agree with the simulator by construction.
    sign = hashlib.md5(f"creditgw{secret}{request_time}".encode()).hexdigest()
    return {"appKey": "creditgw", "requestTime": request_time, "sign": sign, **body}


def otherpunish(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "uniSCID": SUBJECT_CODE,
        "entName": "兰州测试商贸有限公司",
        "entType": "企业",
        "penDecNo": "兰环罚〔2026〕901号",
        "illegActType": "超标排放大气污染物",
        "penType": "罚款",
        "penAm": 2.5,
        "forfAm": None,
        "penContent": "罚款25000元",
        "penDecIssDate": "2026-10-20",
        "judAuth": "兰州市生态环境局",
        "judAuthCode": AUTHORITY_CODE,
    }
    record.update(overrides)
    return record


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def client(clock: ManualClock) -> AsyncIterator[Client]:
    app = create_app(GsxtConfig(clock=clock))
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def post(client: Client, path: str, body: Any) -> tuple[int, Any]:
    response = await client.post(path, json=body)
    return response.status, await response.json()


async def save(client: Client, clock: ManualClock, request_id: str, record: dict[str, Any]) -> tuple[int, Any]:
    return await post(client, "/api/otherpunish/save", signed(clock, {"requestId": request_id, "record": record}))


async def changes(client: Client, clock: ManualClock, cursor: str, size: int = 1000) -> dict[str, Any]:
    status, body = await post(client, "/api/changes", signed(clock, {"cursor": cursor, "pageSize": size}))
    assert status == 200 and body["result"] == 1, body
    data: dict[str, Any] = body["data"]
    return data


async def records(client: Client, query: str = "") -> list[dict[str, Any]]:
    response = await client.get(f"/admin/records{query}")
    assert response.status == 200
    body = await response.json()
    result: list[dict[str, Any]] = body["records"]
    return result


# --- signature ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "skew_s"),
    [("wrong-secret", 0), ("gsxt-secret", 301), ("gsxt-secret", -301)],
)
async def test_signature_or_time_refused(client: Client, clock: ManualClock, secret: str, skew_s: int) -> None:
    body = signed(clock, {"cursor": "", "pageSize": 10}, secret=secret, skew_s=skew_s)
    status, answer = await post(client, "/api/changes", body)
    assert status == 401 and answer["result"] == 0 and answer["errCode"] == "1001"


async def test_signature_within_the_window_and_unknown_app_key(client: Client, clock: ManualClock) -> None:
    status, _ = await post(client, "/api/changes", signed(clock, {"cursor": "", "pageSize": 1}, skew_s=299))
    assert status == 200
    body = signed(clock, {"cursor": "", "pageSize": 1})
    body["appKey"] = "someone-else"
    status, answer = await post(client, "/api/changes", body)
    assert status == 401 and answer["errCode"] == "1001"
    status, answer = await post(client, "/api/changes", {"cursor": "", "pageSize": 1})
    assert status == 401 and answer["errCode"] == "1001"


# --- otherpunish writes ------------------------------------------------------------------------


async def test_new_record_is_audited_and_published_at_once(client: Client, clock: ManualClock) -> None:
    status, answer = await save(client, clock, "req-1", otherpunish())
    assert status == 200 and answer["result"] == 1 and answer["data"]["applied"] is True
    case_id = answer["data"]["caseId"]
    feed = await changes(client, clock, "")
    new_items = feed["items"][SEED_ITEMS:]
    # Lands unaudited and unpublished, then GSXT audits and publishes it: two changes.
    assert [(i["table"], i["record"]["auditState"], i["record"]["pubFlag"]) for i in new_items] == [
        ("otherpunish", "0", "0"),
        ("otherpunish", "1", "1"),
    ]
    published = new_items[-1]["record"]
    assert published["caseId"] == case_id and published["pubDate"] == "2026-11-02"
    assert published["penAm"] == 2.5 and new_items[-1]["updateTime"] == "2026-11-02 09:30:00"


async def test_request_id_is_honoured_for_24_hours(client: Client, clock: ManualClock) -> None:
    _status, first = await save(client, clock, "req-1", otherpunish())
    last_seq = (await changes(client, clock, ""))["items"][-1]["seq"]

    clock.advance(3600)
    _status, replay = await save(client, clock, "req-1", otherpunish(penAm=9.0))
    assert replay == first
    stored = [r for r in await records(client, "?table=otherpunish") if r["penDecNo"] == "兰环罚〔2026〕901号"]
    assert stored[0]["penAm"] == 2.5
    assert (await changes(client, clock, ""))["items"][-1]["seq"] == last_seq

    clock.advance(24 * 3600)
    _status, later = await save(client, clock, "req-1", otherpunish(penAm=9.0))
    assert later["data"] == {"caseId": first["data"]["caseId"], "applied": True}


async def test_a_write_that_changes_nothing_appends_no_change(client: Client, clock: ManualClock) -> None:
    await save(client, clock, "req-1", otherpunish())
    before = (await changes(client, clock, ""))["items"][-1]["seq"]
    _status, answer = await save(client, clock, "req-2", otherpunish(penAm="2.5"))
    assert answer["data"]["applied"] is False
    assert (await changes(client, clock, ""))["items"][-1]["seq"] == before


async def test_state_change_applies_at_once_and_unknown_record_is_2002(client: Client, clock: ManualClock) -> None:
    await save(client, clock, "req-1", otherpunish())
    clock.advance(60)
    _status, answer = await save(client, clock, "req-2", otherpunish(stopType="3", stopDate="2026-11-02"))
    assert answer["data"]["applied"] is True
    stored = next(r for r in await records(client, "?table=otherpunish") if r["penDecNo"] == "兰环罚〔2026〕901号")
    assert (stored["pubFlag"], stored["stopType"], stored["stopDate"]) == ("0", "3", "2026-11-02")
    assert stored["updateTime"] == "2026-11-02 09:31:00"

    _status, answer = await save(client, clock, "req-3", otherpunish(pubFlag="1"))
    assert answer["data"]["applied"] is True
    assert any(r["penDecNo"] == "兰环罚〔2026〕901号" for r in await records(client, "?published=1"))

    _status, unknown = await save(client, clock, "req-4", otherpunish(penDecNo="兰环罚〔2026〕999号", pubFlag="0"))
    assert unknown["result"] == 0 and unknown["errCode"] == "2002"


async def test_audit_gate_holds_records_until_audited(client: Client, clock: ManualClock) -> None:
    status, config = await post(client, "/admin/config", {"auto_audit": False})
    assert status == 200 and config == {"auto_audit": False}
    await save(client, clock, "req-1", otherpunish())
    stored = next(r for r in await records(client, "?table=otherpunish") if r["penDecNo"] == "兰环罚〔2026〕901号")
    assert (stored["auditState"], stored["pubFlag"], stored["pubDate"]) == ("0", "0", "")
    assert all(r["penDecNo"] != "兰环罚〔2026〕901号" for r in await records(client, "?published=1"))
    # Asking to publish does not bypass the audit.
    _status, answer = await save(client, clock, "req-2", otherpunish(pubFlag="1"))
    assert answer["data"]["applied"] is False

    clock.advance(86400)
    status, audited = await post(
        client, "/admin/audit", {"penDecNo": "兰环罚〔2026〕901号", "judAuthCode": AUTHORITY_CODE}
    )
    assert status == 200 and audited["changed"] is True
    assert (audited["record"]["auditState"], audited["record"]["pubFlag"]) == ("1", "1")
    assert audited["record"]["pubDate"] == "2026-11-03"
    assert any(r["penDecNo"] == "兰环罚〔2026〕901号" for r in await records(client, "?published=1"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"entType": "自然人"}, "entType"),
        ({"entType": "公司"}, "entType"),
        ({"penDecIssDate": "2026/10/20"}, "penDecIssDate"),
        ({"uniSCID": "91620102MA72ABCD9"}, "uniSCID"),
        ({"penType": "罚款,警告"}, "penType"),
        ({"penAm": -1}, "penAm"),
        ({"penAm": "两万"}, "penAm"),
        ({"judAuth": ""}, "judAuth"),
        ({"stopType": "1"}, "stopDate"),
        ({"stopType": "1", "stopDate": "2026-11-02", "pubFlag": "1"}, "pubFlag"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_validation_errors_name_the_field(
    client: Client, clock: ManualClock, overrides: dict[str, Any], field: str
) -> None:
    status, answer = await save(client, clock, "req-x", otherpunish(**overrides))
    assert status == 200
    assert (answer["result"], answer["errCode"], answer["field"]) == (0, "2001", field)


async def test_missing_request_id_or_record(client: Client, clock: ManualClock) -> None:
    _status, answer = await post(client, "/api/otherpunish/save", signed(clock, {"record": otherpunish()}))
    assert (answer["errCode"], answer["field"]) == ("2001", "requestId")
    _status, answer = await post(client, "/api/otherpunish/save", signed(clock, {"requestId": "r"}))
    assert (answer["errCode"], answer["field"]) == ("2001", "record")


# --- change feed -------------------------------------------------------------------------------


async def test_changes_feed_continues_from_the_cursor(client: Client, clock: ManualClock) -> None:
    cursor, pages = "", 0
    seqs: list[int] = []
    while True:
        page = await changes(client, clock, cursor, size=10)
        seqs.extend(item["seq"] for item in page["items"])
        cursor, pages = page["nextCursor"], pages + 1
        if not page["hasMore"]:
            break
    assert seqs == list(range(1, SEED_ITEMS + 1)) and pages == 5
    assert {item["table"] for item in (await changes(client, clock, ""))["items"]} == {
        "punish",
        "otherpunish",
        "opanomaly",
    }

    empty = await changes(client, clock, cursor)
    assert empty == {"items": [], "nextCursor": cursor, "hasMore": False}

    # The client's own write shows up too (echo), right after the stored cursor.
    await save(client, clock, "req-1", otherpunish())
    page = await changes(client, clock, cursor)
    assert [item["seq"] for item in page["items"]] == [SEED_ITEMS + 1, SEED_ITEMS + 2]
    assert page["hasMore"] is False


@pytest.mark.parametrize("size", [0, 1001, "10", True])
async def test_page_size_out_of_range_is_2003(client: Client, clock: ManualClock, size: Any) -> None:
    _status, answer = await post(client, "/api/changes", signed(clock, {"cursor": "", "pageSize": size}))
    assert (answer["result"], answer["errCode"]) == (0, "2003")


async def test_a_cursor_never_issued_is_refused(client: Client, clock: ManualClock) -> None:
    _status, answer = await post(client, "/api/changes", signed(clock, {"cursor": "not-ours!", "pageSize": 5}))
    assert (answer["errCode"], answer["field"]) == ("2001", "cursor")


# --- operator repairs ----------------------------------------------------------------------------


async def test_punish_repair_stops_publication(client: Client, clock: ManualClock) -> None:
    target = (await records(client, "?table=punish"))[0]
    key = {"table": "punish", "penDecNo": target["penDecNo"], "judAuthCode": target["judAuthCode"]}
    status, body = await post(client, "/admin/repair", key)
    assert status == 200 and body["changed"] is True
    record = body["record"]
    assert (record["stopType"], record["stopDate"], record["pubFlag"]) == ("1", "2026-11-02", "0")
    _status, again = await post(client, "/admin/repair", key)
    assert again["changed"] is False
    last = (await changes(client, clock, ""))["items"][-1]
    assert last["table"] == "punish" and last["record"]["penDecNo"] == target["penDecNo"]
    assert last["seq"] == SEED_ITEMS + 1

    _status, restored = await post(client, "/admin/repair", {**key, "restore": True})
    assert restored["record"]["pubFlag"] == "1" and restored["record"]["stopType"] == ""


async def test_opanomaly_removal_must_pair_with_the_listing_cause(client: Client, clock: ManualClock) -> None:
    entries = await records(client, "?table=opanomaly")
    entry = next(e for e in entries if e["speCause"] == "1")
    key = {"table": "opanomaly", "penDecNo": entry["penDecNo"], "decOrgCode": entry["decOrgCode"]}

    status, error = await post(client, "/admin/repair", {**key, "remExcpres": "4"})
    assert status == 400 and error["code"] == "invalid_pairing" and error["field"] == "remExcpres"
    status, error = await post(client, "/admin/repair", key)
    assert status == 400 and error["field"] == "remExcpres"

    status, body = await post(client, "/admin/repair", {**key, "remExcpres": "1"})
    assert status == 200
    record = body["record"]
    assert (record["isMove"], record["remExcpres"], record["remExcpresCN"]) == (
        "1",
        "1",
        "【已补报年度报告】",
    )
    assert record["remDate"] == "2026-11-02" and record["reDecOrg"] == entry["decOrg"]
    assert all(r["penDecNo"] != entry["penDecNo"] for r in await records(client, "?published=1"))

    cause_four = next(e for e in entries if e["speCause"] == "4")
    status, _body = await post(
        client,
        "/admin/repair",
        {"table": "opanomaly", "penDecNo": cause_four["penDecNo"], "decOrgCode": cause_four["decOrgCode"],
         "remExcpres": "5"},
    )  # fmt: skip
    assert status == 200

    _status, restored = await post(client, "/admin/repair", {**key, "restore": True})
    assert restored["record"]["isMove"] == "0" and restored["record"]["remExcpres"] == ""


async def test_admin_load_stats_and_reset(client: Client, clock: ManualClock) -> None:
    status, body = await post(
        client,
        "/admin/load",
        {"table": "punish", "records": [{"penDecNo": "兰市监罚〔2026〕950号", "judAuthCode": AUTHORITY_CODE,
                                          "entName": "兰州测试商贸有限公司", "penType": "罚款"}]},
    )  # fmt: skip
    assert status == 200 and body == {"loaded": 1, "changed": 1}
    loaded = next(r for r in await records(client, "?table=punish") if r["penDecNo"] == "兰市监罚〔2026〕950号")
    assert loaded["pubFlag"] == "1" and loaded["caseId"] and loaded["updateTime"] == "2026-11-02 09:30:00"

    status, error = await post(client, "/admin/load", {"table": "nope", "records": []})
    assert status == 400 and error == {"code": "invalid_value", "message": error["message"], "field": "table"}

    await save(client, clock, "req-1", otherpunish())
    stats = await (await client.get("/admin/stats")).json()
    assert stats["requests"]["otherpunish/save"] == {"ok": 1}
    assert stats["writes"][f"otherpunish:兰环罚〔2026〕901号|{AUTHORITY_CODE}"] == 2

    status, reset = await post(client, "/admin/reset", {})
    assert status == 200 and reset == {"reset": True, "records": SEED_ITEMS}
    assert len(await records(client, "?published=1")) == SEED_ITEMS
    assert len((await changes(client, clock, ""))["items"]) == SEED_ITEMS


# --- full listing (/api/records) ---------------------------------------------------------------


async def listing_page(client: Client, clock: ManualClock, table: str, after: str, size: int) -> dict[str, Any]:
    status, body = await post(client, "/api/records", signed(clock, {"table": table, "after": after, "pageSize": size}))
    assert status == 200 and body["result"] == 1, body
    data: dict[str, Any] = body["data"]
    return data


async def test_records_list_a_table_by_key_each_as_its_latest_feed_item(client: Client, clock: ManualClock) -> None:
    assert (await save(client, clock, "r-1", otherpunish()))[0] == 200  # lands, then audited: two items
    feed = (await changes(client, clock, ""))["items"]
    latest = {(i["record"]["penDecNo"], i["record"]["judAuthCode"]): i for i in feed if i["table"] == "otherpunish"}
    listed, after = [], ""
    while True:
        page = await listing_page(client, clock, "otherpunish", after, 4)
        assert len(page["items"]) <= 4
        listed += page["items"]
        if not page["hasMore"]:
            break
        after = page["nextAfter"]
    keys = [(i["record"]["penDecNo"], i["record"]["judAuthCode"]) for i in listed]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert {key: item for key, item in zip(keys, listed, strict=True)} == latest


async def test_records_refuse_an_unknown_table_or_position(client: Client, clock: ManualClock) -> None:
    status, body = await post(client, "/api/records", signed(clock, {"table": "nope", "after": "", "pageSize": 5}))
    assert (status, body["errCode"], body["field"]) == (200, "2001", "table")
    status, body = await post(client, "/api/records", signed(clock, {"table": "punish", "after": "x!", "pageSize": 5}))
    assert (status, body["errCode"], body["field"]) == (200, "2001", "after")
    status, body = await post(client, "/api/records", signed(clock, {"table": "punish", "after": "", "pageSize": 0}))
    assert (status, body["errCode"]) == (200, "2003")
