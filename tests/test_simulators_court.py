"""The simulated court list (docs/protocols.md §6) over real HTTP: token, paging, versioned feed,
deletion as the removal signal, expiry, awkward native rows, faults and the admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from simulators.clock import BEIJING
from simulators.court import CourtConfig, create_app
from tests.list_simulators import Sim, running

CITY_COURT = "兰州市城关区人民法院"
FIRST = {"case_no": "(2025)甘0102执1234号", "executed_court": CITY_COURT}


@pytest.fixture
async def court() -> AsyncIterator[Sim]:
    async with running("court", create_app, lambda clock: CourtConfig(clock=clock)) as sim:
        yield sim


async def token(court: Sim) -> str:
    body = await court.admin(
        "POST", "/api/v1/auth/token", json={"clientId": "creditgw", "clientSecret": "court-secret"}
    )
    return str(body["data"]["accessToken"])


async def api(court: Sim, path: str, bearer: str | None, **params: Any) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with court.http.get(f"{court.url}/api/v1/sxbzxr/{path}", params=params, headers=headers) as response:
        if response.content_type != "application/json":
            return response.status, {"text": await response.text()}
        return response.status, await response.json()


async def all_changes(court: Sim, bearer: str, after: int = 0) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    while True:
        status, body = await api(court, "changes", bearer, fromVersion=after, limit=2)
        assert status == 200 and body["code"] == 0
        changes.extend(body["data"]["changes"])
        assert body["data"]["latestVersion"] >= after  # never moves back
        after = body["data"]["latestVersion"]
        if not body["data"]["hasMore"]:
            return changes


async def test_requests_need_a_token_and_a_bad_secret_gets_none(court: Sim) -> None:
    assert (await api(court, "page", None))[0] == 401
    refused = await court.admin(
        "POST", "/api/v1/auth/token", expect=401, json={"clientId": "creditgw", "clientSecret": "wrong"}
    )
    assert refused["code"] == 40101 and "data" not in refused
    status, body = await api(court, "page", "not-a-token")
    assert status == 401 and body["code"] == 40101


async def test_a_token_expires_after_its_lifetime(court: Sim) -> None:
    bearer = await token(court)
    court.clock.advance(7199)
    assert (await api(court, "page", bearer))[0] == 200
    court.clock.advance(1)
    assert (await api(court, "page", bearer))[0] == 401


async def test_paging_lists_every_row_once_and_ends(court: Sim) -> None:
    bearer = await token(court)
    seen: list[str] = []
    for page_num in range(1, 10):
        status, body = await api(court, "page", bearer, pageNum=page_num, pageSize=2)
        assert status == 200 and body["data"]["total"] == 5
        if not body["data"]["list"]:
            break
        seen.extend(row["dishonest_id"] for row in body["data"]["list"])
    assert sorted(seen) == [f"62010000{n}" for n in range(1, 6)]
    status, body = await api(court, "page", bearer, pageSize=101)
    assert status == 400 and body["field"] == "pageSize"


async def test_awkward_native_rows_are_served_as_the_court_keeps_them(court: Sim) -> None:
    bearer = await token(court)
    _status, body = await api(court, "page", bearer, pageSize=100)
    rows = {row["dishonest_id"]: row for row in body["data"]["list"]}
    assert rows["620100002"]["case_no"] == "（２０２５）甘０１０３执恢５４号"  # full-width, as typed
    assert rows["620100003"]["identi_id"] == "6201**********1234"  # masked by the source
    assert rows["620100004"]["identi_id"] == "620502************"
    assert rows["620100004"]["executed_nm"] == "𠮷某"
    assert rows["620100005"]["uni_social_crd_cd"] == "91620502ma72tx0183"
    assert rows["620100001"]["fil_dt"] == "2025-3-7"  # yyyy-M-d, no zero padding


async def test_a_removal_is_a_delete_in_the_feed_with_date_and_reason(court: Sim) -> None:
    bearer = await token(court)
    seeded = await all_changes(court, bearer)
    assert [change["action"] for change in seeded] == ["PUBLISH"] * 5
    answer = await court.admin("POST", "/admin/remove", json={**FIRST, "reason": "1", "date": "2026-11-27"})
    assert answer["deleted"] is True
    [delete] = await all_changes(court, bearer, after=5)
    assert delete["action"] == "DELETE" and delete["version"] == 6
    assert delete["record"]["case_no"] == FIRST["case_no"]
    assert delete["deleteDate"] == "2026-11-27" and delete["deleteReason"] == "1" and delete["expired"] is False
    _status, body = await api(court, "page", bearer, pageSize=100)
    assert FIRST["case_no"] not in {row["case_no"] for row in body["data"]["list"]}
    assert (await court.stats())["writes"] == {f"{FIRST['case_no']}|{CITY_COURT}": 1}


async def test_a_removal_without_a_reason_has_a_null_reason(court: Sim) -> None:
    bearer = await token(court)
    await court.admin("POST", "/admin/remove", json=FIRST)
    [delete] = await all_changes(court, bearer, after=5)
    assert delete["deleteReason"] is None
    other = {"case_no": "(2024)甘0102执3301号", "executed_court": CITY_COURT}
    bad = await court.admin("POST", "/admin/remove", expect=400, json={**other, "reason": "9"})
    assert bad["field"] == "reason"
    assert len(await court.records()) == 4  # the refused removal deleted nothing


async def test_expiry_deletes_on_the_second_anniversary_not_a_day_before(court: Sim) -> None:
    bearer = await token(court)
    court.clock.set(datetime(2026, 7, 31, 23, 59, tzinfo=BEIJING))  # (2024)甘0502执901号 published 2024-8-1
    assert (await court.admin("POST", "/admin/expire"))["expired"] == 0
    court.clock.set(datetime(2026, 8, 1, 0, 0, tzinfo=BEIJING))
    assert (await court.admin("POST", "/admin/expire"))["keys"] == [["(2024)甘0502执901号", "天水市秦州区人民法院"]]
    [expired] = await all_changes(court, bearer, after=5)
    assert expired["action"] == "DELETE" and expired["deleteReason"] == "7" and expired["expired"] is True


async def test_loads_are_validated_whole_and_upserted(court: Sim) -> None:
    bearer = await token(court)
    [row] = [r for r in await court.records() if r["dishonest_id"] == "620100003"]
    unmasked = {**row, "identi_id": "620102198001011234"}
    refused = await court.admin("POST", "/admin/load", expect=400, json={"records": [unmasked]})
    assert refused["code"] == "invalid_record" and refused["field"] == "identi_id"
    assert await court.records() == await court.records()  # nothing changed
    same = await court.admin("POST", "/admin/load", json={"records": [row]})
    assert same == {"loaded": 1, "changed": 0}
    changed = await court.admin("POST", "/admin/load", json={"records": [{**row, "executed_perfor": "部分未履行"}]})
    assert changed == {"loaded": 1, "changed": 1}
    [update] = await all_changes(court, bearer, after=5)
    assert update["action"] == "UPDATE" and update["record"]["executed_perfor"] == "部分未履行"


async def test_transport_and_paging_faults(court: Sim) -> None:
    bearer = await token(court)
    await court.admin("POST", "/admin/faults", json={"error_rate": 1.0})
    assert (await api(court, "page", bearer))[0] == 503
    await court.admin("POST", "/admin/faults", json={"busy_rate": 1.0})
    status, body = await api(court, "page", bearer)
    assert status == 200 and body["code"] == 50301
    await court.admin("POST", "/admin/faults", json={"duplicate_pages": True})
    _status, body = await api(court, "page", bearer, pageSize=2)
    ids = [row["dishonest_id"] for row in body["data"]["list"]]
    assert len(ids) == 4 and len(set(ids)) == 2
    await court.admin("POST", "/admin/faults", json={"out_of_order": True, "seed": 3})
    _status, body = await api(court, "page", bearer, pageSize=5)
    ids = [row["dishonest_id"] for row in body["data"]["list"]]
    assert sorted(ids) == [f"62010000{n}" for n in range(1, 6)] and ids != sorted(ids)
    stats = await court.stats()
    assert stats["faults_injected"]["http_503"] == 1 and stats["faults_injected"]["busy"] == 1
    await court.admin("DELETE", "/admin/faults")
    assert (await api(court, "page", bearer))[0] == 200


async def test_reset_returns_to_the_seed(court: Sim) -> None:
    await court.admin("POST", "/admin/remove", json=FIRST)
    assert len(await court.records()) == 4
    assert await court.admin("POST", "/admin/reset") == {"reset": True, "records": 5}
    assert (await court.stats())["writes"] == {}
