"""The simulated emergency-management list (docs/protocols.md §9) over real HTTP: HMAC-signed GET,
0-based pages, removal and restoration as status flips, the 12-month early-removal rule, expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from simulators.clock import BEIJING
from simulators.emergency import EmergencyConfig, create_app
from simulators.emergency.app import sign
from tests.list_simulators import Sim, running

PATH = "/openapi/aqsc/v1/sxzt/list"
FIRST = {"jlid": "YJ2025000101"}  # listed 2025/03/18, 管理期限至 2028/03/17


@pytest.fixture
async def emergency() -> AsyncIterator[Sim]:
    async with running("emergency", create_app, lambda clock: EmergencyConfig(clock=clock)) as sim:
        yield sim


def signed(sim: Sim, secret: str = "yjt-secret", **params: str) -> dict[str, str]:
    query = {"appKey": "creditgw", "timestamp": str(int(sim.clock.now().timestamp() * 1000)), **params}
    return {**query, "sign": sign(secret, query)}


async def listing(sim: Sim, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with sim.http.get(f"{sim.url}{PATH}", params=query) as response:
        return response.status, await response.json()


async def test_signature_and_clock_are_checked(emergency: Sim) -> None:
    status, body = await listing(emergency, signed(emergency, secret="wrong"))
    assert status == 401 and body["errorCode"] == "E1001" and body["success"] is False
    stale = signed(emergency)
    emergency.clock.advance(301)
    assert (await listing(emergency, stale))[0] == 401
    status, body = await listing(emergency, signed(emergency))
    assert status == 200 and body["success"] is True and body["data"]["totalCount"] == 4


async def test_pages_are_zero_based_in_update_order(emergency: Sim) -> None:
    seen: list[str] = []
    for index in range(10):
        _status, body = await listing(emergency, signed(emergency, pageIndex=str(index), pageSize="3"))
        if not body["data"]["list"]:
            break
        seen.extend(row["jlid"] for row in body["data"]["list"])
    assert seen == ["YJ2025000101", "YJ2025000102", "YJ2024000077", "YJ2025000103"]
    status, body = await listing(emergency, signed(emergency, pageSize="201"))
    assert status == 400 and body["errorField"] == "pageSize"
    _status, body = await listing(emergency, signed(emergency, updatedAfter="20250701100000"))
    assert [row["jlid"] for row in body["data"]["list"]] == ["YJ2025000103"]


async def test_native_rows_as_the_department_keeps_them(emergency: Sim) -> None:
    rows = {row["jlid"]: row for row in await emergency.records()}
    assert rows["YJ2025000102"]["tyshxydm"] == "91620802ma72yj025r"
    assert rows["YJ2025000103"]["zjhm"] == "6204**********3317" and rows["YJ2025000103"]["ztlx"] == "3"
    assert rows["YJ2024000077"]["zt"] == "22" and rows["YJ2024000077"]["ycyy"] == ""
    assert {row["jlid"] for row in await emergency.records(published=True)} == {
        "YJ2025000101",
        "YJ2025000102",
        "YJ2025000103",
    }


async def test_early_removal_needs_twelve_months_on_the_list(emergency: Sim) -> None:
    too_early = await emergency.admin(
        "POST", "/admin/remove", expect=409, json={**FIRST, "kind": "early", "date": "2026-03-17"}
    )
    assert too_early["code"] == "too_early" and "2026-03-18" in too_early["message"]
    answer = await emergency.admin("POST", "/admin/remove", json={**FIRST, "kind": "early", "date": "2026-03-18"})
    record = answer["record"]
    assert record["zt"] == "22" and record["ycrq"] == "2026/03/18" and record["gxsj"] == "2026-11-26T09:00:00+08:00"
    # Obtained by fraud: revoked, listed again with its own state.
    restored = (await emergency.admin("POST", "/admin/restore", json=FIRST))["record"]
    assert restored["zt"] == "30" and restored["ycrq"] == "" and restored["glqxz"] == "2028/03/17"
    assert FIRST["jlid"] in {row["jlid"] for row in await emergency.records(published=True)}
    assert (await emergency.stats())["writes"] == {"YJ2025000101": 2}


async def test_expiry_after_the_last_day_of_the_period(emergency: Sim) -> None:
    emergency.clock.set(datetime(2028, 3, 17, 23, 59, tzinfo=BEIJING))
    assert (await emergency.admin("POST", "/admin/expire"))["expired"] == 0
    emergency.clock.set(datetime(2028, 3, 18, 0, 0, tzinfo=BEIJING))
    assert (await emergency.admin("POST", "/admin/expire"))["keys"] == [["YJ2025000101"]]
    [row] = [r for r in await emergency.records() if r["jlid"] == "YJ2025000101"]
    assert row["zt"] == "21" and row["ycyy"] == "管理期限届满"


async def test_loads_refuse_an_unmasked_person_and_bad_codes(emergency: Sim) -> None:
    rows = {row["jlid"]: row for row in await emergency.records()}
    person = {**rows["YJ2025000103"], "zjhm": "620402199001013317"}
    assert (await emergency.admin("POST", "/admin/load", expect=400, json={"records": [person]}))["field"] == "zjhm"
    bad_state = {**rows["YJ2025000101"], "zt": "99"}
    assert (await emergency.admin("POST", "/admin/load", expect=400, json={"records": [bad_state]}))["field"] == "zt"
    assert await emergency.records() == list(rows.values())


async def test_faults(emergency: Sim) -> None:
    await emergency.admin("POST", "/admin/faults", json={"busy_rate": 1.0})
    status, body = await listing(emergency, signed(emergency))
    assert status == 200 and body["errorCode"] == "E5003"
    await emergency.admin("POST", "/admin/faults", json={"rate_limit_rate": 1.0, "retry_after_s": 7})
    async with emergency.http.get(f"{emergency.url}{PATH}", params=signed(emergency)) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "7"
    await emergency.admin("POST", "/admin/faults", json={"out_of_order": True, "seed": 1})
    _status, body = await listing(emergency, signed(emergency))
    ids = [row["jlid"] for row in body["data"]["list"]]
    assert sorted(ids) == sorted(["YJ2025000101", "YJ2025000102", "YJ2024000077", "YJ2025000103"])
    assert ids != ["YJ2025000101", "YJ2025000102", "YJ2024000077", "YJ2025000103"]
