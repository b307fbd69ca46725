"""Every fault kind is observable from a real client (docs/protocols.md §3, "Faults")."""

from __future__ import annotations

import asyncio
import hashlib
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from simulators.clock import BEIJING, ManualClock
from simulators.creditchina_gansu import CreditChinaConfig
from simulators.creditchina_gansu import create_app as create_creditchina
from simulators.gsxt_gansu import GsxtConfig
from simulators.gsxt_gansu import create_app as create_gsxt

Client = TestClient[web.Request, web.Application]

START = datetime(2026, 11, 2, 9, 30, 0, tzinfo=BEIJING)
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def gsxt(clock: ManualClock) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_gsxt(GsxtConfig(clock=clock)), host="127.0.0.1")) as client:
        yield client


@pytest.fixture
async def creditchina(clock: ManualClock) -> AsyncIterator[Client]:
    app = create_creditchina(CreditChinaConfig(clock=clock))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def signed(clock: ManualClock, body: dict[str, Any]) -> dict[str, Any]:
    request_time = clock.now().strftime("%Y%m%d%H%M%S")
    sign = hashlib.md5(f"creditgwgsxt-secret{request_time}".encode()).hexdigest()
    return {"appKey": "creditgw", "requestTime": request_time, "sign": sign, **body}


async def set_faults(client: Client, **knobs: Any) -> dict[str, Any]:
    response = await client.post("/admin/faults", json=knobs)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def feed(client: Client, clock: ManualClock, cursor: str = "", size: int = 10) -> aiohttp.ClientResponse:
    return await client.post("/api/changes", json=signed(clock, {"cursor": cursor, "pageSize": size}))


def soap(operation: str, **params: str) -> bytes:
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in params.items())
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body><ws:{operation} '
        f'xmlns:ws="http://ws.sgs.creditchina.gansu/">{inner}</ws:{operation}></soapenv:Body></soapenv:Envelope>'
    ).encode()


async def soap_result(client: Client, path: str, operation: str, **params: str) -> ET.Element:
    response = await client.post(path, data=soap(operation, **params), headers={"Content-Type": "text/xml"})
    assert response.status == 200
    text = ET.fromstring(await response.read()).findtext(f".//{{{SOAP_NS}}}Body/*/return")
    assert text is not None
    return ET.fromstring(text)


async def token(client: Client) -> str:
    result = await soap_result(client, "/service/AuthService", "login", username="creditgw", password="creditgw-secret")
    value = result.findtext("token")
    assert value
    return value


# --- transport faults ----------------------------------------------------------------------------


async def test_error_status_and_clearing(gsxt: Client, clock: ManualClock) -> None:
    await set_faults(gsxt, error_rate=1.0, error_status=502)
    assert (await feed(gsxt, clock)).status == 502
    # The admin API is never faulted.
    assert (await gsxt.get("/admin/records")).status == 200
    cleared = await (await gsxt.delete("/admin/faults")).json()
    assert cleared["error_rate"] == 0.0
    assert (await feed(gsxt, clock)).status == 200


async def test_rate_limit_has_retry_after(gsxt: Client, clock: ManualClock) -> None:
    await set_faults(gsxt, rate_limit_rate=1.0, retry_after_s=7)
    response = await feed(gsxt, clock)
    assert response.status == 429 and response.headers["Retry-After"] == "7"


async def test_reset_closes_the_connection_without_an_answer(gsxt: Client, clock: ManualClock) -> None:
    await set_faults(gsxt, reset_rate=1.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await feed(gsxt, clock)
    stats = await (await gsxt.get("/admin/stats")).json()
    assert stats["faults_injected"] == {"reset": 1}
    assert stats["requests"]["changes"] == {"fault_reset": 1}


async def test_hang_outlasts_a_short_client_timeout(gsxt: Client, clock: ManualClock) -> None:
    await set_faults(gsxt, hang_rate=1.0, hang_s=5)
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await gsxt.post(
            "/api/changes",
            json=signed(clock, {"cursor": "", "pageSize": 1}),
            timeout=aiohttp.ClientTimeout(total=0.3),
        )
    assert time.monotonic() - started < 2


async def test_a_short_hang_still_answers(gsxt: Client, clock: ManualClock) -> None:
    await set_faults(gsxt, hang_rate=1.0, hang_s=0.2)
    started = time.monotonic()
    assert (await feed(gsxt, clock)).status == 200
    assert time.monotonic() - started >= 0.2


async def test_latency(gsxt: Client, clock: ManualClock) -> None:
    await set_faults(gsxt, latency_ms=150)
    started = time.monotonic()
    assert (await feed(gsxt, clock)).status == 200
    assert time.monotonic() - started >= 0.15


async def test_busy_is_each_systems_own_code(gsxt: Client, creditchina: Client, clock: ManualClock) -> None:
    await set_faults(gsxt, busy_rate=1.0)
    response = await feed(gsxt, clock)
    assert response.status == 200
    assert (await response.json())["errCode"] == "3001"

    await set_faults(creditchina, busy_rate=1.0)
    result = await soap_result(creditchina, "/service/AuthService", "login", username="u", password="p")
    assert result.findtext("code") == "99"


async def test_reject_keys_refuse_writes_permanently(gsxt: Client, creditchina: Client, clock: ManualClock) -> None:
    await set_faults(gsxt, reject_keys=["兰环罚〔2026〕901号"])
    record = {
        "uniSCID": "91620102MA72ABCD94",
        "entName": "兰州测试商贸有限公司",
        "entType": "企业",
        "penDecNo": "兰环罚〔2026〕901号",
        "illegActType": "超标排放大气污染物",
        "penType": "罚款",
        "penDecIssDate": "2026-10-20",
        "judAuth": "兰州市生态环境局",
        "judAuthCode": "11620100MA7HRB6M0L",
    }
    response = await gsxt.post("/api/otherpunish/save", json=signed(clock, {"requestId": "r1", "record": record}))
    answer = await response.json()
    assert (answer["result"], answer["errCode"], answer["field"]) == (0, "2001", "penDecNo")

    await set_faults(creditchina, reject_keys=["兰环罚〔2026〕901号"])
    row = (
        "<ROWDATA><ROW><CF_XDR_MC>兰州测试商贸有限公司</CF_XDR_MC><CF_XDR_LB>法人及非法人组织</CF_XDR_LB>"
        "<CF_XDR_SHXYM>91620102MA72ABCD94</CF_XDR_SHXYM><CF_WSH>兰环罚〔2026〕901号</CF_WSH>"
        "<CF_CFLB>罚款</CF_CFLB><CF_JDRQ>2026/10/20</CF_JDRQ><CF_CFJG>兰州市生态环境局</CF_CFJG>"
        "<CF_CFJGDM>11620100MA7HRB6M0L</CF_CFJGDM></ROW></ROWDATA>"
    )
    result = await soap_result(
        creditchina, "/service/PenaltyWebService", "importPenalyXml", TOKEN=await token(creditchina), xml=row
    )
    assert (result.findtext("code"), result.findtext("line"), result.findtext("field")) == (
        "03",
        "1",
        "CF_WSH",
    )


# --- paging faults -------------------------------------------------------------------------------


async def test_gsxt_duplicate_page_is_served_again_once(gsxt: Client, clock: ManualClock) -> None:
    await set_faults(gsxt, duplicate_pages=True)
    first = (await (await feed(gsxt, clock, "", 10)).json())["data"]
    again = (await (await feed(gsxt, clock, first["nextCursor"], 10)).json())["data"]
    assert [i["seq"] for i in first["items"]] == [i["seq"] for i in again["items"]] == list(range(1, 11))
    assert first["hasMore"] is True
    moved_on = (await (await feed(gsxt, clock, again["nextCursor"], 10)).json())["data"]
    # Every page is doubled while the fault is on, each exactly once.
    assert [i["seq"] for i in moved_on["items"]] == list(range(11, 21))


async def test_gsxt_out_of_order_items_within_a_page(gsxt: Client, clock: ManualClock) -> None:
    await set_faults(gsxt, out_of_order=1.0, seed=7)
    page = (await (await feed(gsxt, clock, "", 30)).json())["data"]
    seqs = [i["seq"] for i in page["items"]]
    assert sorted(seqs) == list(range(1, 31)) and seqs != sorted(seqs)
    # The cursor still continues after the page, not after its last (shuffled) item.
    following = (await (await feed(gsxt, clock, page["nextCursor"], 5)).json())["data"]
    assert sorted(i["seq"] for i in following["items"]) == [31, 32, 33, 34, 35]


async def test_creditchina_duplicate_and_shuffled_pages(creditchina: Client) -> None:
    session = await token(creditchina)
    await set_faults(creditchina, duplicate_pages=1.0, out_of_order=1.0)
    result = await soap_result(
        creditchina,
        "/service/RepairResultService",
        "queryChangedRows",
        TOKEN=session,
        since="2024/01/01 00:00:00",
        pageNo="1",
        pageSize="10",
    )
    ids = [row.findtext("ID") for row in result.iterfind("ROWDATA/ROW")]
    assert len(ids) == 20 and len(set(ids)) == 10
    assert ids != sorted(ids, key=lambda value: int(value or 0))
    assert result.findtext("total") == "52"


# --- configuration -------------------------------------------------------------------------------


async def test_fault_draws_are_seeded(gsxt: Client, clock: ManualClock) -> None:
    async def pattern() -> list[int]:
        await set_faults(gsxt, error_rate=0.5, seed=42)
        return [(await feed(gsxt, clock, "", 1)).status for _ in range(16)]

    first = await pattern()
    assert set(first) == {200, 503}
    assert await pattern() == first


async def test_fault_config_round_trip_and_errors(creditchina: Client) -> None:
    config = await set_faults(creditchina, hang_rate=0.25, hang_s=3, reject_keys=["A"])
    assert config["hang_rate"] == 0.25 and config["reject_keys"] == ["A"] and config["error_rate"] == 0.0
    assert (await (await creditchina.get("/admin/faults")).json()) == config
    for bad in ({"error_rate": 2}, {"error_status": 404}, {"made_up": 1}, {"reject_keys": "A"}):
        response = await creditchina.post("/admin/faults", json=bad)
        body = await response.json()
        assert response.status == 400 and set(body) == {"code", "message", "field"}
        assert body["field"] == next(iter(bad))
