"""信用中国（甘肃） simulator over real HTTP on 127.0.0.1 (docs/protocols.md §1 and §3)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from simulators.clock import BEIJING, ManualClock
from simulators.creditchina_gansu import CreditChinaConfig, create_app

Client = TestClient[web.Request, web.Application]

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
START = datetime(2026, 11, 2, 9, 30, 0, tzinfo=BEIJING)
AUTH = "/service/AuthService"
PENALTY = "/service/PenaltyWebService"
ABNORMAL = "/service/AbnormalWebService"
REPAIR = "/service/RepairResultService"
AUTHORITY_CODE = "11620100MA7HRB6M0L"  # 兰州市市场监督管理局 in the seed world
SUBJECT_CODE = "91620102MA72ABCD94"


# --- a hand-written SOAP client (deliberately not sharing code with the simulator) ------------


def envelope(operation: str, params: Mapping[str, str]) -> bytes:
    parts = []
    for name, value in params.items():
        text = f"<![CDATA[{value}]]>" if name == "xml" else escape(value)
        parts.append(f"<{name}>{text}</{name}>")
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
        f'<ws:{operation} xmlns:ws="http://ws.sgs.creditchina.gansu/">{"".join(parts)}</ws:{operation}>'
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def rowdata(*rows: Mapping[str, str]) -> str:
    body = "".join("<ROW>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in row.items()) + "</ROW>" for row in rows)
    return f"<ROWDATA>{body}</ROWDATA>"


async def soap_call(client: Client, path: str, operation: str, **params: str) -> ET.Element:
    response = await client.post(
        path, data=envelope(operation, params), headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    assert response.status == 200
    root = ET.fromstring(await response.read())
    answer = root.find(f"{{{SOAP_NS}}}Body")
    assert answer is not None and answer[0].tag.endswith(f"{operation}Response")
    text = answer[0].findtext("return")
    assert text is not None
    return ET.fromstring(text)


def rows_of(result: ET.Element) -> list[dict[str, str]]:
    return [{col.tag: col.text or "" for col in row} for row in result.iterfind("ROWDATA/ROW")]


def penalty_row(**overrides: str) -> dict[str, str]:
    row = {
        "CF_XDR_MC": "兰州测试商贸有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": SUBJECT_CODE,
        "CF_FRDB": "张建国",
        "CF_WSH": "兰市监罚〔2026〕901号",
        "CF_WFXW": "虚假宣传",
        "CF_SY": "对商品作虚假宣传",
        "CF_YJ": "《中华人民共和国反不正当竞争法》第二十条第一款",
        "CF_CFLB": "罚款;没收违法所得",
        "CF_NR": "罚款5000元，没收违法所得1200元",
        "CF_NR_FK": "0.5",
        "CF_NR_WFFF": "0.12",
        "CF_JDRQ": "2026/10/20",
        "CF_YXQ": "2027/10/20",
        "CF_GSJZQ": "2029/10/20",
        "CF_CFJG": "兰州市市场监督管理局",
        "CF_CFJGDM": AUTHORITY_CODE,
        "CF_SJLY": "兰州市市场监督管理局",
        "CF_SJLYDM": AUTHORITY_CODE,
        "CF_ZT": "0",
        "GSZT": "1",
    }
    row.update(overrides)
    return row


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def client(clock: ManualClock) -> AsyncIterator[Client]:
    app = create_app(CreditChinaConfig(clock=clock, token_ttl_s=600))
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def login(client: Client) -> str:
    result = await soap_call(client, AUTH, "login", username="creditgw", password="creditgw-secret")
    assert result.findtext("code") == "00"
    token = result.findtext("token")
    assert token
    return token


async def push(client: Client, token: str, *rows: Mapping[str, str]) -> ET.Element:
    return await soap_call(client, PENALTY, "importPenalyXml", TOKEN=token, xml=rowdata(*rows))


async def pull(client: Client, token: str, since: str, page_no: int = 1, size: int = 100) -> ET.Element:
    return await soap_call(
        client, REPAIR, "queryChangedRows", TOKEN=token, since=since, pageNo=str(page_no), pageSize=str(size)
    )


async def admin_json(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await client.request(method, path, json=body)
    return response.status, await response.json()


# --- login and tokens --------------------------------------------------------------------------


async def test_login_issues_a_token_with_its_lifetime(client: Client) -> None:
    result = await soap_call(client, AUTH, "login", username="creditgw", password="creditgw-secret")
    assert result.findtext("code") == "00"
    assert result.findtext("expiresIn") == "600"
    wrong = await soap_call(client, AUTH, "login", username="creditgw", password="nope")
    assert wrong.findtext("code") == "01" and wrong.findtext("token") is None
    stranger = await soap_call(client, AUTH, "login", username="甘肃用户", password="密码")
    assert stranger.findtext("code") == "01"


async def test_token_expires_after_its_ttl(client: Client, clock: ManualClock) -> None:
    token = await login(client)
    assert (await pull(client, token, "2026/01/01 00:00:00")).findtext("code") == "00"
    clock.advance(599)
    assert (await pull(client, token, "2026/01/01 00:00:00")).findtext("code") == "00"
    clock.advance(1)
    assert (await pull(client, token, "2026/01/01 00:00:00")).findtext("code") == "01"
    assert (await pull(client, await login(client), "2026/01/01 00:00:00")).findtext("code") == "00"


async def test_admin_expires_every_token(client: Client) -> None:
    token = await login(client)
    status, body = await admin_json(client, "POST", "/admin/expire-tokens")
    assert status == 200 and body == {"expired": 1}
    assert (await push(client, token, penalty_row())).findtext("code") == "01"


async def test_missing_or_unknown_token_is_code_01(client: Client) -> None:
    result = await soap_call(client, PENALTY, "importPenalyXml", xml=rowdata(penalty_row()))
    assert result.findtext("code") == "01"
    result = await soap_call(client, PENALTY, "importPenalyXml", TOKEN="forged", xml=rowdata(penalty_row()))
    assert result.findtext("code") == "01"


# --- push and pull -----------------------------------------------------------------------------


async def test_push_then_pull_shows_the_row_with_a_bumped_sjc(client: Client, clock: ManualClock) -> None:
    token = await login(client)
    result = await push(client, token, penalty_row())
    assert (result.findtext("code"), result.findtext("line"), result.findtext("field")) == ("00", "", "")

    page = await pull(client, token, "2026/11/02 09:30:00")
    assert page.findtext("total") == "1" and page.findtext("pageNo") == "1"
    [row] = rows_of(page)
    assert row["ROWTYPE"] == "CF" and row["CF_WSH"] == "兰市监罚〔2026〕901号"
    assert row["SJC"] == "2026/11/02 09:30:00" and row["ID"].isdigit()
    assert row["CF_CFLB"] == "罚款;没收违法所得" and row["CF_NR_FK"] == "0.5"

    clock.advance(65)
    stop = penalty_row(GSZT="0", ZZYY="01", ZZRQ="2026/11/02")
    assert (await push(client, token, stop)).findtext("code") == "00"
    [row_after] = rows_of(await pull(client, token, "2026/11/02 09:31:05"))
    assert row_after["SJC"] == "2026/11/02 09:31:05" and row_after["GSZT"] == "0"
    assert row_after["ID"] == row["ID"]  # an upsert, not a second row

    _status, published = await admin_json(client, "GET", "/admin/records?published=1")
    assert all(r.get("CF_WSH") != "兰市监罚〔2026〕901号" for r in published["records"])


async def test_duplicate_push_changes_nothing_and_keeps_sjc(client: Client, clock: ManualClock) -> None:
    token = await login(client)
    assert (await push(client, token, penalty_row())).findtext("code") == "00"
    clock.advance(10)
    # The intake ignores idempotency keys; an identical resend is harmless because it is an upsert.
    response = await client.post(
        PENALTY,
        data=envelope("importPenalyXml", {"TOKEN": token, "xml": rowdata(penalty_row())}),
        headers={"Content-Type": "text/xml; charset=utf-8", "Idempotency-Key": "k-1"},
    )
    assert response.status == 200
    assert (await pull(client, token, "2026/11/02 09:30:01")).findtext("total") == "0"
    [row] = rows_of(await pull(client, token, "2026/11/02 09:30:00"))
    assert row["SJC"] == "2026/11/02 09:30:00"
    _status, stats = await admin_json(client, "GET", "/admin/stats")
    assert stats["writes"] == {f"CF:兰市监罚〔2026〕901号|{AUTHORITY_CODE}": 1}
    assert stats["requests"]["importPenalyXml"] == {"00": 2}


async def test_a_push_merges_columns_left_out_keep_their_values(client: Client) -> None:
    token = await login(client)
    assert (await push(client, token, penalty_row(CF_SY="超标排放", BZ="note"))).findtext("code") == "00"
    flip = {k: v for k, v in penalty_row().items() if k not in ("CF_SY", "BZ")}
    flip.update({"GSZT": "0", "ZZYY": "01", "ZZRQ": "2026/11/03"})
    assert (await push(client, token, flip)).findtext("code") == "00"
    [row] = rows_of(await pull(client, token, "2026/11/02 09:30:00"))
    assert (row["GSZT"], row["ZZYY"], row["CF_SY"], row["BZ"]) == ("0", "01", "超标排放", "note")
    cleared = dict(flip, BZ="")
    assert (await push(client, token, cleared)).findtext("code") == "00"
    [row] = rows_of(await pull(client, token, "2026/11/02 09:30:00"))
    assert row["BZ"] == "" and row["CF_SY"] == "超标排放"


async def test_batch_rejection_is_atomic_and_names_line_and_field(client: Client) -> None:
    token = await login(client)
    rows = [
        penalty_row(CF_WSH="兰市监罚〔2026〕911号"),
        penalty_row(CF_WSH="兰市监罚〔2026〕912号", CF_JDRQ="2026-10-20"),
        penalty_row(CF_WSH="兰市监罚〔2026〕913号"),
    ]
    result = await push(client, token, *rows)
    assert (result.findtext("code"), result.findtext("line"), result.findtext("field")) == (
        "03",
        "2",
        "CF_JDRQ",
    )
    _status, records = await admin_json(client, "GET", "/admin/records")
    assert not any(r.get("CF_WSH", "").startswith("兰市监罚〔2026〕91") for r in records["records"])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"CF_XDR_LB": "法人"}, "CF_XDR_LB"),
        ({"CF_ZT": "4"}, "CF_ZT"),
        ({"GSZT": "0"}, "ZZYY"),
        ({"GSZT": "0", "ZZYY": "01"}, "ZZRQ"),
        ({"ZZYY": "01"}, "ZZYY"),
        ({"CF_XDR_SHXYM": "9162010277604965"}, "CF_XDR_SHXYM"),
        ({"CF_XDR_SHXYM": ""}, "CF_XDR_SHXYM"),
        ({"CF_CFJGDM": "11620100MA7HRB6MOL"}, "CF_CFJGDM"),  # letter O is outside the alphabet
        ({"CF_CFLB": "罚款；没收违法所得"}, "CF_CFLB"),  # full-width separator
        ({"CF_NR_FK": "5000元"}, "CF_NR_FK"),
        ({"CF_WFXW_TYPO": "x"}, "CF_WFXW_TYPO"),
        ({"CF_WSH": ""}, "CF_WSH"),
        ({"ZZRQ": "2026/13/01", "GSZT": "0", "ZZYY": "01"}, "ZZRQ"),
    ],
)
async def test_row_validation(client: Client, overrides: dict[str, str], field: str) -> None:
    token = await login(client)
    result = await push(client, token, penalty_row(**overrides))
    assert (result.findtext("code"), result.findtext("line"), result.findtext("field")) == ("03", "1", field)


async def test_checksum_failure_is_flagged_not_refused(client: Client) -> None:
    token = await login(client)
    result = await push(client, token, penalty_row(CF_XDR_SHXYM="91350100M0001TGQXM"))
    assert result.findtext("code") == "00"
    _status, stats = await admin_json(client, "GET", "/admin/stats")
    assert stats["flags"] == {"uscc_checksum:CF_XDR_SHXYM": 1}


async def test_natural_person_needs_no_credit_code(client: Client) -> None:
    token = await login(client)
    row = penalty_row(CF_XDR_LB="自然人", CF_XDR_MC="张某某", CF_XDR_SHXYM="", CF_FRDB="")
    assert (await push(client, token, row)).findtext("code") == "00"


async def test_batch_over_100_rows_is_refused(client: Client) -> None:
    token = await login(client)
    rows = [penalty_row(CF_WSH=f"兰市监罚〔2026〕{n}号") for n in range(101)]
    result = await push(client, token, *rows)
    assert (result.findtext("code"), result.findtext("line"), result.findtext("field")) == (
        "03",
        "101",
        "ROWDATA",
    )
    assert (await push(client, token, *rows[:100])).findtext("code") == "00"


async def test_status_change_for_an_unknown_key_is_code_04(client: Client) -> None:
    token = await login(client)
    result = await push(client, token, penalty_row(CF_ZT="1"))
    assert (result.findtext("code"), result.findtext("line")) == ("04", "1")
    # Created and withdrawn in one batch is fine: the key exists by the second row.
    both = await push(client, token, penalty_row(), penalty_row(CF_ZT="1"))
    assert both.findtext("code") == "00"


async def test_malformed_xml_and_unknown_operations_are_code_02(client: Client) -> None:
    token = await login(client)
    response = await client.post(PENALTY, data=b"<soapenv:Envelope", headers={"Content-Type": "text/xml"})
    assert "<code>02</code>" in (await response.text())
    result = await soap_call(client, PENALTY, "importPenalyXml", TOKEN=token, xml="<ROWDATA><ROW>")
    assert result.findtext("code") == "02"
    result = await soap_call(client, PENALTY, "importAbnormalXml", TOKEN=token, xml=rowdata(penalty_row()))
    assert result.findtext("code") == "02"
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]><ROWDATA><ROW><CF_WSH>&a;</CF_WSH></ROW></ROWDATA>'
    result = await soap_call(client, PENALTY, "importPenalyXml", TOKEN=token, xml=bomb)
    assert result.findtext("code") == "02"  # defusedxml refuses DTDs and entities


async def test_abnormal_list_push(client: Client) -> None:
    token = await login(client)
    row = {
        "YC_QYMC": "兰州测试商贸有限公司",
        "YC_TYSHXYDM": SUBJECT_CODE,
        "YC_LRYY": "通过登记的住所或者经营场所无法联系",
        "YC_LRYYDM": "4",
        "YC_LRRQ": "2026/10/01",
        "YC_JDJG": "兰州市市场监督管理局",
        "YC_JDJGDM": AUTHORITY_CODE,
        "YC_WSH": "兰市监异入〔2026〕0901号",
    }
    assert (await soap_call(client, ABNORMAL, "importAbnormalXml", TOKEN=token, xml=rowdata(row))).findtext(
        "code"
    ) == "00"
    removed = {**row, "GSZT": "0", "ZZYY": "04", "ZZRQ": "2026/11/02"}
    result = await soap_call(client, ABNORMAL, "importAbnormalXml", TOKEN=token, xml=rowdata(removed))
    assert result.findtext("code") == "00"
    [pulled] = rows_of(await pull(client, token, "2026/11/02 09:30:00"))
    assert pulled["ROWTYPE"] == "YC" and pulled["GSZT"] == "0" and pulled["ZZYY"] == "04"
    bad = await soap_call(client, ABNORMAL, "importAbnormalXml", TOKEN=token, xml=rowdata({**row, "YC_LRYYDM": "5"}))
    assert (bad.findtext("code"), bad.findtext("field")) == ("03", "YC_LRYYDM")


# --- paging and legacy -------------------------------------------------------------------------


async def test_paging_is_ordered_by_sjc_then_id_and_covers_everything(client: Client) -> None:
    token = await login(client)
    first = await pull(client, token, "2024/01/01 00:00:00", page_no=1, size=20)
    total = int(first.findtext("total") or "0")
    assert total == 52
    seen: list[dict[str, str]] = []
    for page_no in range(1, (total + 19) // 20 + 1):
        page = await pull(client, token, "2024/01/01 00:00:00", page_no=page_no, size=20)
        assert page.findtext("pageNo") == str(page_no)
        seen.extend(rows_of(page))
    assert len(seen) == total and len({r["ID"] for r in seen}) == total
    order = [(r["SJC"], int(r["ID"])) for r in seen]
    assert order == sorted(order)
    assert rows_of(await pull(client, token, "2024/01/01 00:00:00", page_no=4, size=20)) == []
    # `since` is inclusive.
    middle = seen[25]["SJC"]
    later = rows_of(await pull(client, token, middle, size=500))
    assert later[0]["SJC"] == middle


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2024/01/01 00:00:00", "pageNo": "1", "pageSize": "501"}, "pageSize"),
        ({"since": "2024/01/01 00:00:00", "pageNo": "1", "pageSize": "0"}, "pageSize"),
        ({"since": "2024/01/01 00:00:00", "pageNo": "0", "pageSize": "10"}, "pageNo"),
        ({"since": "2024-01-01 00:00:00", "pageNo": "1", "pageSize": "10"}, "since"),
    ],
)
async def test_pull_parameter_errors(client: Client, params: dict[str, str], field: str) -> None:
    token = await login(client)
    result = await soap_call(client, REPAIR, "queryChangedRows", TOKEN=token, **params)
    assert (result.findtext("code"), result.findtext("field")) == ("03", field)


async def test_legacy_rows_come_back_legacy_even_after_a_status_push(client: Client, clock: ManualClock) -> None:
    token = await login(client)
    rows = rows_of(await pull(client, token, "2024/01/01 00:00:00", size=500))
    legacy = [r for r in rows if r["ROWTYPE"] == "CF" and "CF_XDR_LB" not in r]
    assert legacy
    sample = legacy[0]
    assert "CF_NR_FK" not in sample and {"CF_CFMC", "CF_CFLB1", "CF_XZJG", "CF_XZJGDM", "DFBM"} <= set(sample)

    # The gateway speaks the current generation; the platform keeps the row in its v1 shape.
    stop = penalty_row(
        CF_WSH=sample["CF_WSH"],
        CF_CFJGDM=sample["CF_XZJGDM"],
        CF_XDR_SHXYM=sample["CF_XDR_SHXYM"],
        GSZT="0",
        ZZYY="01",
        ZZRQ="2026/11/02",
    )
    assert (await push(client, token, stop)).findtext("code") == "00"
    [after] = rows_of(await pull(client, token, "2026/11/02 09:30:00"))
    assert after["ID"] == sample["ID"] and after["GSZT"] == "0" and after["ZZYY"] == "01"
    assert "CF_XDR_LB" not in after and after["CF_CFMC"] == sample["CF_CFMC"]


# --- admin -------------------------------------------------------------------------------------


async def test_admin_repair_restore_and_reset(client: Client, clock: ManualClock) -> None:
    token = await login(client)
    _status, records = await admin_json(client, "GET", "/admin/records")
    target = next(r for r in records["records"] if r["ROWTYPE"] == "CF" and "CF_CFJGDM" in r)
    key = {"CF_WSH": target["CF_WSH"], "CF_CFJGDM": target["CF_CFJGDM"]}

    status, repaired = await admin_json(client, "POST", "/admin/repair", {**key, "ZZYY": "01"})
    assert status == 200 and repaired["changed"] is True
    assert repaired["record"]["GSZT"] == "0" and repaired["record"]["ZZRQ"] == "2026/11/02"
    assert repaired["record"]["SJC"] == "2026/11/02 09:30:00"
    _status, again = await admin_json(client, "POST", "/admin/repair", {**key, "ZZYY": "01"})
    assert again["changed"] is False
    [pulled] = rows_of(await pull(client, token, "2026/11/02 09:30:00"))
    assert pulled["ID"] == target["ID"]

    clock.advance(5)
    _status, restored = await admin_json(client, "POST", "/admin/repair", {**key, "restore": True})
    assert restored["record"]["GSZT"] == "1" and restored["record"]["ZZYY"] == ""

    status, error = await admin_json(client, "POST", "/admin/repair", {**key, "ZZYY": "09"})
    assert status == 400 and error["field"] == "ZZYY" and set(error) == {"code", "message", "field"}
    status, error = await admin_json(client, "POST", "/admin/repair", {"CF_WSH": "x", "CF_CFJGDM": "y"})
    assert status == 404 and error["code"] == "not_found"

    _status, reset = await admin_json(client, "POST", "/admin/reset")
    assert reset == {"reset": True, "records": 52}
    _status, published = await admin_json(client, "GET", "/admin/records?published=1")
    assert len(published["records"]) == 52


async def test_admin_load_accepts_xml_and_json(client: Client, clock: ManualClock) -> None:
    legacy = {
        "ROWTYPE": "CF",
        "CF_WSH": "兰环罚〔2017〕12号",
        "CF_CFMC": "某案",
        "CF_CFLB1": "罚款",
        "CF_XDR_MC": "兰州测试商贸有限公司",
        "CF_XZJG": "兰州市环境保护局",
        "CF_XZJGDM": AUTHORITY_CODE,
        "CF_JDRQ": "2017/05/04",
        "SJC": "2017/05/06 10:00:00",
    }
    response = await client.post("/admin/load", data=rowdata(legacy), headers={"Content-Type": "text/xml"})
    assert response.status == 200 and await response.json() == {"loaded": 1, "changed": 1}
    status, body = await admin_json(client, "POST", "/admin/load", {"rows": [penalty_row(ROWTYPE="CF")]})
    assert status == 200 and body == {"loaded": 1, "changed": 1}
    _status, records = await admin_json(client, "GET", "/admin/records")
    loaded = next(r for r in records["records"] if r.get("CF_WSH") == "兰环罚〔2017〕12号")
    assert loaded["SJC"] == "2017/05/06 10:00:00" and "CF_XDR_LB" not in loaded
    status, error = await admin_json(client, "POST", "/admin/load", {"rows": [{"ROWTYPE": "XX"}]})
    assert status == 400 and error["field"] == "ROWTYPE"


def test_the_pull_order_follows_every_change_of_sjc() -> None:
    """RowStore keeps its rows in pull order (SJC, ID) as changes come instead of sorting them on
    every pull: after random pushes and status flips it reads what a full sort would."""
    import random
    from datetime import timedelta

    from simulators.creditchina_gansu.columns import CF_CURRENT
    from simulators.creditchina_gansu.store import RowStore, key_of, stop_status

    rng = random.Random(7)
    store = RowStore()
    keys = set()
    start = datetime(2026, 11, 1, 9, 0, 0)
    for step in range(600):
        now = start + timedelta(seconds=rng.randrange(0, 400))  # a clock that jumps both ways
        number = f"甘罚〔2026〕{rng.randrange(60)}号"
        row = {"CF_WSH": number, "CF_CFJGDM": "11620000MB0000000X", "CF_NR": f"v{step}"}
        key = key_of(CF_CURRENT, row)
        if rng.random() < 0.3 and key in keys:
            store.set_status(key, stop_status("1", now.date()), now)
        else:
            store.put(CF_CURRENT, row, now)
            keys.add(key)
    everything = sorted((store.get(key) for key in keys), key=lambda r: (r.sjc, r.id))  # type: ignore[union-attr]
    assert store.all() == everything and len(everything) == len(store)
    for since in (start, start + timedelta(seconds=150), start + timedelta(seconds=399), start + timedelta(days=1)):
        assert store.changed_since(since) == [r for r in everything if r.sjc >= since]


# --- full listing (queryRows) ------------------------------------------------------------------


async def test_query_rows_lists_one_rowtype_by_id_and_refuses_bad_parameters(client: Client) -> None:
    token = await login(client)
    everything = rows_of(await pull(client, token, "1970/01/01 00:00:00", size=500))
    listed: list[dict[str, str]] = []
    after = "0"
    while True:
        result = await soap_call(client, REPAIR, "queryRows", TOKEN=token, ROWTYPE="CF", afterId=after, pageSize="6")
        assert result.findtext("code") == "00"
        page = rows_of(result)
        assert len(page) <= 6
        listed += page
        if result.findtext("more") != "1":
            break
        after = page[-1]["ID"]
    ids = [int(row["ID"]) for row in listed]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert listed == sorted((row for row in everything if row["ROWTYPE"] == "CF"), key=lambda row: int(row["ID"]))
    for params, field in (
        ({"ROWTYPE": "ZZ", "afterId": "0", "pageSize": "5"}, "ROWTYPE"),
        ({"ROWTYPE": "CF", "afterId": "-1", "pageSize": "5"}, "afterId"),
        ({"ROWTYPE": "CF", "afterId": "0", "pageSize": "501"}, "pageSize"),
    ):
        result = await soap_call(client, REPAIR, "queryRows", TOKEN=token, **params)
        assert (result.findtext("code"), result.findtext("field")) == ("03", field)
