"""GET /v1/records and GET /v1/repairs: an operator finds ids by filters, page by page, without
reading the database; a malformed filter is a 422 naming it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import penalty_facts
from tests.test_api_harness import CC, GS, SUBJECT, Harness, error_of, open_harness, repair_body

OTHER_SUBJECT = "91620100MA73XYXW1K"


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    async with open_harness(database_url) as harness:
        yield harness


async def _seed_three(api: Harness) -> list[str]:
    ids = [
        await api.seed(penalty_facts(document_number="兰环罚〔2026〕12号"), key="seed-1"),
        await api.seed(penalty_facts(document_number="兰环罚〔2026〕13号"), key="seed-2"),
        await api.seed(penalty_facts(document_number="兰环罚〔2026〕14号", subject_code=OTHER_SUBJECT), key="seed-3"),
    ]
    return sorted(ids)


async def _get(api: Harness, path: str, **params: Any) -> tuple[int, Any]:
    response = await api.client.get(path, params={k: str(v) for k, v in params.items()})
    return response.status, await response.json()


async def _ids(api: Harness, **params: Any) -> list[str]:
    status, body = await _get(api, "/v1/records", **params)
    assert status == 200, body
    return [item["record_id"] for item in body["items"]]


async def test_records_are_found_by_each_filter(api: Harness) -> None:
    ids = await _seed_three(api)
    response = await api.post_repair(repair_body(ids[0]))
    assert response.status == 202, await response.text()

    assert await _ids(api) == ids
    assert await _ids(api, category="admin_penalty") == ids
    assert await _ids(api, category="court_dishonest") == []
    assert await _ids(api, state="stopped:repaired") == [ids[0]]
    assert await _ids(api, state="stopped") == [ids[0]]
    assert await _ids(api, state="published") == ids[1:]
    assert await _ids(api, state="stopped:expired") == []
    other = penalty_facts(document_number="兰环罚〔2026〕14号", subject_code=OTHER_SUBJECT).record_id
    assert await _ids(api, subject=OTHER_SUBJECT.lower()) == [other]  # normalised like the subjects path
    assert set(await _ids(api, subject=SUBJECT)) == set(ids) - {other}
    assert await _ids(api, system=CC) == ids  # 信用中国 reported all three
    assert await _ids(api, updated_since="2099-01-01T00:00:00+08:00") == []
    assert await _ids(api, updated_since="2000-01-01T00:00:00Z", state="published") == ids[1:]

    status, body = await _get(api, "/v1/records", state="stopped:repaired")
    assert status == 200, body
    [item] = body["items"]
    assert item["document_number"] in {"兰环罚〔2026〕12号", "兰环罚〔2026〕13号", "兰环罚〔2026〕14号"}
    assert item["state"]["label"] == "stopped:repaired" and item["owner"] == CC and item["mirrors"] == [GS]
    assert item["links"]["self"] == f"/v1/records/{ids[0]}"
    raw = await (await api.client.get("/v1/records", params={"state": "stopped:repaired"})).read()
    assert item["document_number"].encode() in raw  # UTF-8 in the body, not \u escapes


async def test_records_are_paged_with_a_cursor(api: Harness) -> None:
    ids = await _seed_three(api)
    status, first = await _get(api, "/v1/records", limit=2)
    assert status == 200 and [i["record_id"] for i in first["items"]] == ids[:2]
    assert first["next_after"] == ids[1]
    status, second = await _get(api, "/v1/records", limit=2, after=first["next_after"])
    assert [i["record_id"] for i in second["items"]] == ids[2:] and second["next_after"] is None


async def test_repairs_are_found_by_each_filter_and_paged(api: Harness) -> None:
    ids = await _seed_three(api)
    repair_ids = []
    for n, record_id in enumerate(ids[:2]):
        response = await api.post_repair(repair_body(record_id), key=f"k-{n}")
        assert response.status == 202, await response.text()
        repair_ids.append((await response.json())["repair_id"])

    status, body = await _get(api, "/v1/repairs", action="repair")
    assert status == 200, body
    # Oldest accepted first; the harness's clock stands still, so both tie and the id decides.
    in_order = sorted(repair_ids)
    assert [item["repair_id"] for item in body["items"]] == in_order
    source = body["items"][0]["source"]
    status, body = await _get(api, "/v1/repairs", source=source, action="repair")
    assert [item["repair_id"] for item in body["items"]] == in_order
    status, body = await _get(api, "/v1/repairs", source="someone-else")
    assert body["items"] == []

    status, body = await _get(api, "/v1/repairs", record_id=ids[0])
    found = [i for i in body["items"] if i["action"] == "repair"]
    assert [i["repair_id"] for i in found] == [repair_ids[0]]
    assert found[0]["record_id"] == ids[0] and {t["system"] for t in found[0]["targets"]} == {CC, GS}
    assert found[0]["links"]["self"] == f"/v1/repairs/{repair_ids[0]}"

    status, body = await _get(api, "/v1/repairs", action="repair", target=GS, status="pending")
    assert {i["repair_id"] for i in body["items"]} == set(repair_ids)
    status, body = await _get(api, "/v1/repairs", action="repair", target=GS, status="delivered")
    assert body["items"] == []
    status, body = await _get(api, "/v1/repairs", action="repair", accepted_since="2099-01-01T00:00:00Z")
    assert body["items"] == []

    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"action": "repair", "limit": 1}
        if after is not None:
            params["after"] = after
        status, page = await _get(api, "/v1/repairs", **params)
        assert status == 200, page
        seen += [i["repair_id"] for i in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == in_order


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/records", {"state": "gone"}, "state"),
        ("/v1/records", {"state": "stopped:forgotten"}, "state"),
        ("/v1/records", {"subject": "123"}, "subject"),
        ("/v1/records", {"category": "parking_fines"}, "category"),
        ("/v1/records", {"system": "nowhere"}, "system"),
        ("/v1/records", {"updated_since": "yesterday"}, "updated_since"),
        ("/v1/records", {"updated_since": "2026-05-01T08:00:00"}, "updated_since"),  # no time zone
        ("/v1/records", {"limit": "0"}, "limit"),
        ("/v1/records", {"limit": "many"}, "limit"),
        ("/v1/records", {"after": "rec_1"}, "after"),
        ("/v1/records", {"colour": "blue"}, "colour"),
        ("/v1/repairs", {"after": "not-a-cursor"}, "after"),
        ("/v1/repairs", {"status": "lost"}, "status"),
        ("/v1/repairs", {"record_id": "42"}, "record_id"),
        ("/v1/repairs", {"action": "forgive"}, "action"),
        ("/v1/repairs", {"accepted_since": "2026-13-01T00:00:00Z"}, "accepted_since"),
    ],
)
async def test_a_malformed_filter_is_a_422_naming_it(
    api: Harness, path: str, params: dict[str, str], field: str
) -> None:
    response = await api.client.get(path, params=params)
    assert response.status == 422
    error = await error_of(response)
    assert error["code"] == "invalid_parameter" and error["field"] == field


async def test_a_client_lists_only_the_records_and_repairs_of_its_authorities(api: Harness) -> None:
    """谁认定、谁修复 holds for lists too: a read client sees its own authorities' records only."""
    ours = penalty_facts(document_number="兰环罚〔2026〕12号")
    theirs = penalty_facts(
        document_number="兰税罚〔2026〕7号",
        authority_name="国家税务总局兰州市税务局",
        authority_code="11620100MADQNYFH7J",
    )
    ours_id, theirs_id = await api.seed(ours, key="seed-1"), await api.seed(theirs, key="seed-2")
    for n, record_id in enumerate((ours_id, theirs_id)):
        response = await api.post_repair(repair_body(record_id), key=f"k-{n}")
        assert response.status == 202, await response.text()
    env_bureau = await api.as_client("lz-env", scopes=["read"], authorities=[ours.authority_code])
    for path in ("/v1/records", "/v1/repairs"):
        response = await env_bureau.get(path)
        assert response.status == 200, await response.text()
        assert {item["record_id"] for item in (await response.json())["items"]} == {ours_id}, path
    by_category = await api.as_client("penalties-only", scopes=["read"], categories=["court_dishonest"])
    response = await by_category.get("/v1/records")
    assert response.status == 200 and (await response.json())["items"] == []
