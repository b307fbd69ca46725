"""信用中国（甘肃）'s list rows (`ROWTYPE` MD, docs/protocols.md §1 "List rows"): the mirror of every
owner's list, pushed through `importCreditListXml`, pulled like the other rows, repaired by operators."""

from __future__ import annotations

from typing import Any

from simulators.clock import ManualClock
from tests.test_simulators_creditchina import (
    REPAIR,
    Client,
    client,
    clock,
    login,
    rowdata,
    rows_of,
    soap_call,
)

__all__ = ["client", "clock"]  # fixtures used below

LISTS = "/service/CreditListService"
COURT_CODE = "11620000MA72CT09XU"


def court_entry(**overrides: str) -> dict[str, str]:
    row = {
        "MD_MDLB": "01",
        "MD_JLBH": "（２０２５）甘０１０３执恢５４号",
        "MD_DXMC": "王某某",
        "MD_DXLB": "自然人",
        "MD_TYSHXYDM": "",
        "MD_ZJHM": "6201**********1234",
        "MD_LRYY": "有履行能力而拒不履行生效法律文书确定义务",
        "MD_LRYJ": "《最高人民法院关于公布失信被执行人名单信息的若干规定》第一条",
        "MD_WSH": "（２０２５）甘０１０３执恢５４号",
        "MD_RDJG": "兰州市七里河区人民法院",
        "MD_RDJGDM": COURT_CODE,
        "MD_LRRQ": "2025/01/27",
        "MD_YXQZ": "2027/01/27",
    }
    row.update(overrides)
    return row


async def push(client: Client, *rows: dict[str, str]) -> dict[str, Any]:
    token = await login(client)
    result = await soap_call(client, LISTS, "importCreditListXml", TOKEN=token, xml=rowdata(*rows))
    return {child.tag: child.text or "" for child in result}


async def test_a_list_entry_is_pushed_pulled_and_stopped(client: Client, clock: ManualClock) -> None:
    since = clock.now().strftime("%Y/%m/%d %H:%M:%S")
    assert (await push(client, court_entry()))["code"] == "00"
    token = await login(client)
    pulled = rows_of(await soap_call(client, REPAIR, "queryChangedRows", TOKEN=token, since=since))
    [row] = [r for r in pulled if r["ROWTYPE"] == "MD"]
    assert row["MD_JLBH"] == "（２０２５）甘０１０３执恢５４号" and row["MD_ZJHM"] == "6201**********1234"
    assert (row["CF_ZT"], row["GSZT"]) == ("0", "1")
    # The owner removed it (court deletion): the mirror stops publication with 04 移出名单.
    stop = court_entry(GSZT="0", ZZYY="04", ZZRQ="2026/11/03", MD_YCRQ="2026/11/02", MD_YCYY="")
    assert (await push(client, stop))["code"] == "00"
    response = await client.get("/admin/records", params={"published": "1"})
    published = (await response.json())["records"]
    assert all(r["ROWTYPE"] != "MD" for r in published)


async def test_list_entries_are_validated_per_row(client: Client) -> None:
    answer = await push(client, court_entry(MD_ZJHM="620102198001011234"))
    assert (answer["code"], answer["line"], answer["field"]) == ("03", "1", "MD_ZJHM")
    answer = await push(client, court_entry(), court_entry(MD_JLBH="x", MD_MDLB="99"))
    assert (answer["code"], answer["line"], answer["field"]) == ("03", "2", "MD_MDLB")
    unit = court_entry(MD_DXLB="法人及非法人组织", MD_DXMC="兰州示例商贸有限公司", MD_ZJHM="")
    answer = await push(client, unit)
    assert (answer["code"], answer["field"]) == ("03", "MD_TYSHXYDM")
    answer = await push(client, court_entry(GSZT="0", ZZYY="04", ZZRQ="2026/11/03"))
    assert (answer["code"], answer["field"]) == ("04", "MD_JLBH")
    response = await client.get("/admin/records")
    assert all(r["ROWTYPE"] != "MD" for r in (await response.json())["records"])  # nothing applied


async def test_operators_repair_and_load_list_entries(client: Client) -> None:
    response = await client.post("/admin/load", json={"rows": [{"ROWTYPE": "MD", **court_entry()}]})
    assert (await response.json()) == {"loaded": 1, "changed": 1}
    key = {"MD_JLBH": "（２０２５）甘０１０３执恢５４号", "MD_RDJGDM": COURT_CODE}
    response = await client.post("/admin/repair", json={**key, "ZZYY": "04"})
    body = await response.json()
    assert body["changed"] is True and body["record"]["GSZT"] == "0" and body["record"]["ZZYY"] == "04"
    response = await client.post("/admin/repair", json={**key, "MD_JLBH": "nope"})
    assert response.status == 404 and (await response.json())["field"] == "MD_JLBH"


async def test_the_deciding_authority_is_keyed_as_its_owner_identifies_it(client: Client) -> None:
    """A court's 法院代码 or a bureau's name (owners without codes) key the row as well as a USCC."""
    assert (await push(client, court_entry(MD_RDJGDM="A20")))["code"] == "00"
    tax = court_entry(
        MD_MDLB="02", MD_RDJG="国家税务总局兰州市税务局第一稽查局", MD_RDJGDM="国家税务总局兰州市税务局第一稽查局"
    )
    assert (await push(client, tax))["code"] == "00"
    response = await client.get("/admin/records")
    keys = {r["MD_RDJGDM"] for r in (await response.json())["records"] if r["ROWTYPE"] == "MD"}
    assert keys == {"A20", "国家税务总局兰州市税务局第一稽查局"}
