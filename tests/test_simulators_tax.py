"""The simulated tax list (docs/protocols.md §7) over real HTTP: SOAP with a WS-Security
UsernameToken, rows by update time and offset, removal by `remove_tm`, faults and the admin API."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from simulators.clock import BEIJING
from simulators.tax import TaxConfig, create_app
from tests.list_simulators import Sim, running

FIRST = {"tax_no": "91620102MA72CT0140", "qdwsh": "兰税一稽罚〔2025〕18号"}


@pytest.fixture
async def tax() -> AsyncIterator[Sim]:
    async with running("tax", create_app, lambda clock: TaxConfig(clock=clock)) as sim:
        yield sim


def envelope(params: dict[str, str], *, username: str = "creditgw", password: str = "tax-secret") -> str:
    body = "".join(f"<{name}>{value}</{name}>" for name, value in params.items())
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:ns="http://ws.zdsswf.gansu.chinatax/">'
        "<soapenv:Header><wsse:Security xmlns:wsse="
        '"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
        f"<wsse:UsernameToken><wsse:Username>{username}</wsse:Username><wsse:Password>{password}</wsse:Password>"
        "</wsse:UsernameToken></wsse:Security></soapenv:Header>"
        f"<soapenv:Body><ns:queryZdsswfxx>{body}</ns:queryZdsswfxx></soapenv:Body></soapenv:Envelope>"
    )


async def query(tax: Sim, text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    async with tax.http.post(
        f"{tax.url}/ws/ZdsswfService", data=text.encode(), headers={"Content-Type": "text/xml"}
    ) as r:
        assert r.status == 200
        answer = ET.fromstring(await r.read())
    [returned] = [element for element in answer.iter() if element.tag == "return"]
    data = ET.fromstring(returned.text or "")
    head = {child.tag: child.text or "" for child in data.find("HEAD") or []}
    rows = [{column.tag: column.text or "" for column in row} for row in data.find("BODY") or []]
    return head, rows


async def test_wrong_credentials_are_refused(tax: Sim) -> None:
    head, rows = await query(tax, envelope({}, password="wrong"))
    assert head["FHDM"] == "1001" and rows == []
    head, _rows = await query(
        tax, envelope({}).replace("<soapenv:Header>", "<soapenv:Header><x/>").replace("creditgw", "")
    )
    assert head["FHDM"] == "1001"


async def test_rows_come_in_update_order_paged_by_offset(tax: Sim) -> None:
    head, rows = await query(tax, envelope({}))
    assert head["FHDM"] == "0000" and head["ZHS"] == "4"
    assert [row["xh"] for row in rows] == ["1", "2", "4", "3"]  # by gxsj
    paged: list[str] = []
    start = 1
    while True:
        _head, page = await query(tax, envelope({"ksh": str(start), "hs": "3"}))
        if not page:
            break
        paged.extend(row["xh"] for row in page)
        start += len(page)
    assert paged == [row["xh"] for row in rows]
    head, _rows = await query(tax, envelope({"hs": "201"}))
    assert head["FHDM"] == "2001" and head["CWZD"] == "hs"


async def test_native_rows_keep_masks_codes_and_characters(tax: Sim) -> None:
    _head, rows = await query(tax, envelope({}))
    by_xh = {row["xh"]: row for row in rows}
    assert by_xh["1"]["legal_repre_id"] == "620102********1234"  # birth date masked by the source
    assert by_xh["2"]["tax_no"] == "91620502ma72tx0183"
    assert by_xh["4"]["tax_nm"] == "酒泉示例𠮷祥物流有限公司"
    assert by_xh["3"]["remove_tm"] == "20250901" and "reason" not in " ".join(by_xh["3"])


async def test_filters_by_state_and_update_time(tax: Sim) -> None:
    head, rows = await query(tax, envelope({"zt": "1"}))
    assert head["ZHS"] == "3" and all(row["remove_tm"] == "" for row in rows)
    head, rows = await query(tax, envelope({"zt": "2"}))
    assert [row["xh"] for row in rows] == ["3"]
    head, rows = await query(tax, envelope({"gxsjq": "20250820083000"}))
    assert [row["xh"] for row in rows] == ["4", "3"]  # inclusive, in update order
    head, _rows = await query(tax, envelope({"gxsjq": "2025-08-20"}))
    assert head["FHDM"] == "2001" and head["CWZD"] == "gxsjq"


async def test_removal_sets_remove_tm_and_nothing_says_why(tax: Sim) -> None:
    answer = await tax.admin("POST", "/admin/remove", json={**FIRST, "reason": "已缴清税款、滞纳金和罚款"})
    record = answer["record"]
    assert record["remove_tm"] == "20261126" and record["gxsj"] == "20261126090000"
    assert "已缴清" not in str(record)  # the bureau's table has no column for it
    _head, rows = await query(tax, envelope({"gxsjq": "20261126090000"}))
    assert [row["xh"] for row in rows] == ["1"]
    assert FIRST["qdwsh"] not in {r["qdwsh"] for r in await tax.records(published=True)}
    await tax.admin("POST", "/admin/restore", json=FIRST)
    assert FIRST["qdwsh"] in {r["qdwsh"] for r in await tax.records(published=True)}


async def test_publication_ends_after_three_years_not_a_day_before(tax: Sim) -> None:
    tax.clock.set(datetime(2028, 4, 14, 12, 0, tzinfo=BEIJING))  # row 1 published 2025-04-15
    assert (await tax.admin("POST", "/admin/expire"))["expired"] == 0
    tax.clock.set(datetime(2028, 4, 15, 0, 0, tzinfo=BEIJING))
    answer = await tax.admin("POST", "/admin/expire")
    assert answer["keys"] == [[FIRST["tax_no"], FIRST["qdwsh"]]]
    [row] = [r for r in await tax.records() if r["qdwsh"] == FIRST["qdwsh"]]
    assert row["remove_tm"] == "20280415"


async def test_loads_refuse_an_unmasked_id_number(tax: Sim) -> None:
    [row] = [r for r in await tax.records() if r["xh"] == "1"]
    refused = await tax.admin(
        "POST", "/admin/load", expect=400, json={"records": [{**row, "legal_repre_id": "620102198001011234"}]}
    )
    assert refused["field"] == "legal_repre_id"
    assert [r for r in await tax.records() if r["xh"] == "1"] == [row]
    changed = await tax.admin("POST", "/admin/load", json={"records": [{**row, "case_nature": "逃避追缴欠税"}]})
    assert changed == {"loaded": 1, "changed": 1}
    assert (await tax.stats())["writes"] == {f"{FIRST['tax_no']}|{FIRST['qdwsh']}": 1}


async def test_faults_busy_and_malformed(tax: Sim) -> None:
    await tax.admin("POST", "/admin/faults", json={"busy_rate": 1.0})
    head, _rows = await query(tax, envelope({}))
    assert head["FHDM"] == "9999"
    await tax.admin("POST", "/admin/faults", json={"duplicate_pages": True})
    _head, rows = await query(tax, envelope({"hs": "2"}))
    assert len(rows) == 4 and len({row["xh"] for row in rows}) == 2
    await tax.admin("DELETE", "/admin/faults")
    head, _rows = await query(tax, "<not-soap/>")
    assert head["FHDM"] == "3001"
    head, _rows = await query(tax, envelope({}).replace("queryZdsswfxx", "deleteAll"))
    assert head["FHDM"] == "3001"
