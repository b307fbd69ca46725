"""GET /v1/records/{id}/eligibility, the `eligibility` key of the record and subject views, and
GET /v1/guidance[/{category}] — over real HTTP on 127.0.0.1, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from gateway.domain.beijing import beijing_date
from gateway.domain.categories import AuthorityDomain, Category
from gateway.domain.model import RecordFacts
from tests.conftest import penalty_facts
from tests.test_api_harness import CC, GS, NOW, SUBJECT, Harness, error_of, open_harness

TODAY = date(2026, 5, 2)  # NOW (2026-05-02 08:00 UTC) in Beijing


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    async with open_harness(database_url) as harness:
        yield harness


def complete_facts(**changes: Any) -> RecordFacts:
    """A penalty every rule can evaluate: decided 2025-06-01, published on GSXT 2025-06-20."""
    base = penalty_facts(document_number=changes.pop("document_number", "兰环罚〔2025〕7号"))
    defaults: dict[str, Any] = {
        "decision_date": date(2025, 6, 1),
        "publication_date": date(2025, 6, 20),
        "penalty_kinds": ("没收违法所得",),
    }
    return replace(base, **{**defaults, **changes})


def abnormal_facts() -> RecordFacts:
    """The same subject on the 经营异常名录 (owned by GSXT)."""
    return replace(
        penalty_facts(
            document_number="兰市监异〔2026〕3号",
            authority_name="兰州市市场监督管理局",
            authority_code="11620100MB1111111X",
            domain=AuthorityDomain.MARKET_REGULATION,
        ),
        category=Category.ABNORMAL_OPERATIONS,
        penalty_kinds=(),
        listing_cause="4",
        decision_date=date(2026, 3, 1),
    )


def by_system(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["system"]: e for e in body["eligibility"]}


def test_today_is_the_beijing_day() -> None:
    assert beijing_date(NOW) == TODAY
    assert beijing_date(datetime(2026, 5, 1, 16, 0, tzinfo=UTC)) == date(2026, 5, 2)  # 00:00 in Beijing
    assert beijing_date(datetime(2026, 5, 1, 15, 59, tzinfo=UTC)) == date(2026, 5, 1)


async def test_eligibility_on_both_systems_with_both_clocks(api: Harness) -> None:
    record_id = await api.seed(complete_facts())
    response = await api.client.get(f"/v1/records/{record_id}/eligibility")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["record_id"] == record_id and body["today"] == TODAY.isoformat()
    assert body["links"] == {"self": f"/v1/records/{record_id}/eligibility", "record": f"/v1/records/{record_id}"}
    assert [e["system"] for e in body["eligibility"]] == [CC, GS]  # owner first
    cc, gs = by_system(body)[CC], by_system(body)[GS]

    assert cc["regime"]["id"] == "ndrc_order_58" and cc["clock"] == "decision_date" and cc["start"] == "2025-06-01"
    assert cc["minimum"] == {
        "period": "P3M",
        "label": "3个月",
        "start": "2025-06-01",
        "last_day": "2025-09-01",
        "first_day_after": "2025-09-02",
        "reached": True,
        "source": cc["minimum"]["source"],
        "confidence": "V",
    }
    assert (cc["maximum"]["last_day"], cc["maximum"]["first_day_after"]) == ("2028-06-01", "2028-06-02")
    assert cc["eligible"] is True and cc["evaluable"] is True and cc["role"] == "owner"
    assert [r["code"] for r in cc["reasons"]] == ["minimum_reached"]
    assert [r["code"] for r in cc["requires"]] == ["obligations_performed", "credit_commitment"]

    assert gs["regime"]["id"] == "samr_order_45" and gs["clock"] == "publication_date"
    assert gs["minimum"]["last_day"] == "2025-12-20" and gs["maximum"]["last_day"] == "2028-06-20"
    assert gs["role"] == "mirror" and gs["repaired_by"] == CC
    assert "repaired_in_owner_system" in [n["code"] for n in gs["notes"]]


async def test_today_and_system_parameters(api: Harness) -> None:
    record_id = await api.seed(complete_facts())
    # the day of the GSXT minimum's last day: not yet; the day after: eligible
    before = await (await api.client.get(f"/v1/records/{record_id}/eligibility?today=2025-12-20&system={GS}")).json()
    assert [e["system"] for e in before["eligibility"]] == [GS] and before["today"] == "2025-12-20"
    only = before["eligibility"][0]
    assert only["eligible"] is False and [r["code"] for r in only["reasons"]] == ["minimum_not_reached"]
    assert only["minimum"]["reached"] is False
    after = await (await api.client.get(f"/v1/records/{record_id}/eligibility?today=2025-12-21&system={GS}")).json()
    assert after["eligibility"][0]["eligible"] is True
    expired = await (await api.client.get(f"/v1/records/{record_id}/eligibility?today=2028-06-02")).json()
    assert [r["code"] for r in by_system(expired)[CC]["reasons"]] == ["maximum_reached"]
    assert by_system(expired)[CC]["maximum"]["reached"] is True


async def test_regime_switch_over_http(api: Harness) -> None:
    last_58 = await api.seed(complete_facts(document_number="兰环罚〔2026〕1号", decision_date=date(2026, 3, 31)))
    first_36 = await api.seed(
        complete_facts(document_number="兰环罚〔2026〕2号", decision_date=date(2026, 4, 1)), key="seed-2"
    )
    a = by_system(await (await api.client.get(f"/v1/records/{last_58}/eligibility")).json())[CC]
    b = by_system(await (await api.client.get(f"/v1/records/{first_36}/eligibility")).json())[CC]
    assert a["regime"]["id"] == "ndrc_order_58" and a["evaluable"] is True
    assert b["regime"]["id"] == "ndrc_order_36" and b["evaluable"] is False and b["eligible"] is None
    assert [r["code"] for r in b["reasons"]] == ["severity_missing"] and b["minimum"] is None


async def test_a_record_without_the_attributes_a_rule_needs_is_200_and_not_evaluable(api: Harness) -> None:
    record_id = await api.seed()  # Order 36 without a tier; no publication date for GSXT
    response = await api.client.get(f"/v1/records/{record_id}/eligibility")
    assert response.status == 200
    found = by_system(await response.json())
    assert (found[CC]["evaluable"], found[CC]["eligible"]) == (False, None)
    assert [r["code"] for r in found[CC]["reasons"]] == ["severity_missing"]
    assert (found[GS]["evaluable"], found[GS]["eligible"]) == (False, None)
    assert [r["code"] for r in found[GS]["reasons"]] == ["publication_date_missing"]
    assert found[GS]["minimum"] is None and found[GS]["maximum"] is None


async def test_record_and_subject_views_carry_eligibility_and_the_subjects_standing(api: Harness) -> None:
    record_id = await api.seed(complete_facts())
    record = await (await api.client.get(f"/v1/records/{record_id}")).json()
    assert [e["system"] for e in record["eligibility"]] == [CC, GS]
    assert by_system(record)[GS]["eligible"] is True

    abnormal_id = await api.seed(abnormal_facts(), key="seed-abnormal")
    record = await (await api.client.get(f"/v1/records/{record_id}")).json()
    gs = by_system(record)[GS]
    assert gs["eligible"] is False and [r["code"] for r in gs["reasons"]] == ["subject_on_abnormal_list"]
    assert by_system(record)[CC]["eligible"] is True  # Order 58 has no such condition
    endpoint = by_system(await (await api.client.get(f"/v1/records/{record_id}/eligibility")).json())
    assert endpoint[GS]["reasons"] == gs["reasons"]

    subject = await (await api.client.get(f"/v1/subjects/{SUBJECT}/records")).json()
    views = {r["record_id"]: r for r in subject["records"]}
    assert set(views) == {record_id, abnormal_id}
    assert [r["code"] for r in by_system(views[record_id])[GS]["reasons"]] == ["subject_on_abnormal_list"]
    abnormal = by_system(views[abnormal_id])
    assert list(abnormal) == [GS, CC]
    assert [r["code"] for r in abnormal[GS]["requires"]] == ["contact_restored"]
    assert abnormal[GS]["maximum"]["last_day"] == "2029-03-01"


async def test_guidance_lists_the_nine_categories(api: Harness) -> None:
    response = await api.client.get("/v1/guidance")
    assert response.status == 200
    body = await response.json()
    assert [c["category"] for c in body["categories"]] == [c.value for c in Category]
    for found in body["categories"]:
        assert found["rules"] and found["routes"] and found["responsible_units"]["confidence"] == "V"
        for rule in found["rules"]:
            for period in rule["periods"]:
                assert period["source"] and period["confidence"] in ("V", "R", "I")
    one = await (await api.client.get("/v1/guidance/admin_penalty")).json()
    assert one == body["categories"][0]
    assert one["links"] == {"self": "/v1/guidance/admin_penalty"}
    assert [r["id"] for r in one["rules"]] == ["ndrc_order_58", "ndrc_order_36", "samr_order_45"]


async def test_settings_overrides_reach_guidance_and_eligibility(database_url: str) -> None:
    rules = {"gsxt_low_fine_below_wan_yuan": {"legal_entity": "1"}}
    async with open_harness(database_url, rules=rules) as api:
        record_id = await api.seed(complete_facts(penalty_kinds=("罚款",), fine_wan_yuan=Decimal("2")))
        gs = by_system(await (await api.client.get(f"/v1/records/{record_id}/eligibility")).json())[GS]
        assert gs["maximum"]["period"] == "P3Y"  # 2 万元 is no longer a low fine
        guide = await (await api.client.get("/v1/guidance/admin_penalty")).json()
        samr = next(r for r in guide["rules"] if r["id"] == "samr_order_45")
        low = next(n for n in samr["exclusions"] if n["code"] == "low_fine_legal_entity")
        assert low["confidence"] == "C"
    async with open_harness(database_url) as api:  # default: 5 万元, marked inferred (unverified)
        guide = await (await api.client.get("/v1/guidance/admin_penalty")).json()
        samr = next(r for r in guide["rules"] if r["id"] == "samr_order_45")
        low = next(n for n in samr["exclusions"] if n["code"] == "low_fine_legal_entity")
        assert low["confidence"] == "I" and "UNVERIFIED" in low["source"]


BAD = [
    # (name, path template, status, code, field)
    ("unknown record", "/v1/records/rec_{zeros}/eligibility", 404, "record_not_found", "id"),
    ("malformed record id", "/v1/records/nope/eligibility", 404, "record_not_found", "id"),
    ("month 13", "/v1/records/{id}/eligibility?today=2026-13-01", 422, "invalid_parameter", "today"),
    ("february 30", "/v1/records/{id}/eligibility?today=2026-02-30", 422, "invalid_parameter", "today"),
    ("compact date", "/v1/records/{id}/eligibility?today=20260501", 422, "invalid_parameter", "today"),
    ("short date", "/v1/records/{id}/eligibility?today=2026-5-1", 422, "invalid_parameter", "today"),
    ("timestamp", "/v1/records/{id}/eligibility?today=1767225600", 422, "invalid_parameter", "today"),
    ("word", "/v1/records/{id}/eligibility?today=tomorrow", 422, "invalid_parameter", "today"),
    ("empty date", "/v1/records/{id}/eligibility?today=", 422, "invalid_parameter", "today"),
    ("datetime", "/v1/records/{id}/eligibility?today=2026-05-01T00:00:00", 422, "invalid_parameter", "today"),
    ("twice", "/v1/records/{id}/eligibility?today=2026-05-01&today=2026-05-02", 422, "invalid_parameter", "today"),
    ("unknown system", "/v1/records/{id}/eligibility?system=sms", 422, "invalid_parameter", "system"),
    ("not publishing", "/v1/records/{id}/eligibility?system=court", 422, "invalid_parameter", "system"),
    ("unknown parameter", "/v1/records/{id}/eligibility?day=2026-05-01", 422, "invalid_parameter", "day"),
    ("bad date, unknown record", "/v1/records/rec_{zeros}/eligibility?today=x", 422, "invalid_parameter", "today"),
    ("unknown category", "/v1/guidance/parking_fines", 404, "category_not_found", "category"),
    ("category by label", "/v1/guidance/行政处罚信息", 404, "category_not_found", "category"),
    ("upper-case category", "/v1/guidance/ADMIN_PENALTY", 404, "category_not_found", "category"),
    ("POST guidance", "/v1/guidance", 405, "method_not_allowed", None),
]


async def test_bad_input_answers_with_the_error_shape_and_writes_nothing(api: Harness) -> None:
    record_id = await api.seed(complete_facts())
    failures = []
    for name, template, status, code, field in BAD:
        path = template.format(id=record_id, zeros="0" * 24)
        before = await api.snapshot()
        method = "POST" if name.startswith("POST") else "GET"
        response = await api.client.request(method, path)
        try:
            error = await error_of(response)
            got = (response.status, error["code"], error["field"])
            if got != (status, code, field):
                failures.append(f"{name}: got {got}, want {(status, code, field)}")
        except AssertionError as exc:
            failures.append(f"{name}: not the error shape ({response.status}): {exc}")
        if await api.snapshot() != before:
            failures.append(f"{name}: the database changed")
    assert not failures, "\n".join(failures)
