"""Issue 10 item 3: the Order 36 tier (轻微/一般/严重) is a per-record attribute that is never guessed —
a documented column of the current 信用中国 row generation (CF_SXCD: protocol, simulator, mapping),
`PUT /v1/records/{id}/classification` (idempotent, audited, validated), the list of records awaiting
a tier and its gauge — on SQLite and PostgreSQL, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.contract import NativeChange, UnmappableRow
from gateway.domain.model import PUBLISHED, RecordFacts, Severity
from gateway.domain.rules import awaiting_tier, evaluate, tier_applies
from gateway.observability import REGISTRY
from mappings.creditchina_gansu import CreditChinaGansuMapping
from simulators.creditchina_gansu.columns import CF_CURRENT
from simulators.creditchina_gansu.validation import validate_row
from tests.conftest import penalty_facts
from tests.test_api_harness import Harness, error_of, open_harness

ROOT = Path(__file__).resolve().parent.parent
CC, GS = "creditchina_gansu", "gsxt_gansu"
MAPPING = CreditChinaGansuMapping(today=lambda: date(2026, 11, 26))
SEEN = datetime(2026, 5, 1, tzinfo=UTC)


def order_36(document_number: str = "兰环罚〔2026〕12号", **changes: Any) -> RecordFacts:
    """信用中国-owned, decided 2026-04-20 (Order 36), no tier yet."""
    return replace(penalty_facts(document_number=document_number), **changes)


def cf_row(**columns: str) -> dict[str, str]:
    row = {
        "ROWTYPE": "CF",
        "CF_XDR_MC": "甘肃示例科技有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": "91620102MA72ABCD94",
        "CF_WSH": "兰环罚〔2026〕12号",
        "CF_CFLB": "罚款",
        "CF_NR_FK": "1",
        "CF_JDRQ": "2026/04/20",
        "CF_CFJG": "兰州市生态环境局",
        "CF_CFJGDM": "11620100MB0000000X",
        "CF_ZT": "0",
        "GSZT": "1",
    }
    row.update(columns)
    return row


def observe(row: dict[str, str]) -> RecordFacts:
    change = NativeChange(change_key="c", source_version="1", changed_at=SEEN, kind="CF", native_id=None, row=row)
    observation = MAPPING.to_observation(change)
    assert observation is not None
    return observation.facts


# ---- the protocol column: documented, validated by the simulator, mapped --------------------------


def test_the_column_is_documented_in_the_protocol() -> None:
    protocols = (ROOT / "docs" / "protocols.md").read_text(encoding="utf-8")
    assert "CF_SXCD" in protocols and "轻微" in protocols.split("CF_SXCD", 1)[1][:400]
    assert "CF_SXCD" in CF_CURRENT.columns


@pytest.mark.parametrize(
    ("literal", "severity"), [("轻微", Severity.MINOR), ("一般", Severity.GENERAL), ("严重", Severity.SERIOUS)]
)
def test_a_stated_tier_is_read_and_written_back(literal: str, severity: Severity) -> None:
    facts = observe(cf_row(CF_SXCD=literal))
    assert facts.severity is severity
    assert MAPPING.to_write(facts, PUBLISHED, idempotency_key="k").row["CF_SXCD"] == literal
    assert validate_row(CF_CURRENT, cf_row(CF_SXCD=literal)) is None


def test_an_empty_tier_is_awaited_never_guessed_and_an_unknown_one_is_refused() -> None:
    facts = observe(cf_row(CF_SXCD=""))
    assert facts.severity is None and "CF_SXCD" not in MAPPING.to_write(facts, PUBLISHED, idempotency_key="k").row
    assert awaiting_tier(facts) == (CC,)
    with pytest.raises(UnmappableRow) as bad:
        observe(cf_row(CF_SXCD="中等"))
    assert bad.value.field == "CF_SXCD"
    refused = validate_row(CF_CURRENT, cf_row(CF_SXCD="中等"))
    assert refused is not None and refused.field == "CF_SXCD"


def test_the_tier_decides_the_periods_once_given() -> None:
    general = observe(cf_row(CF_SXCD="一般"))
    e = evaluate(general, CC, today=date(2026, 7, 21))
    assert e.evaluable and e.minimum is not None and e.minimum.last_day == date(2026, 7, 20)
    assert not tier_applies(order_36(decision_date=date(2026, 3, 31)))  # Order 58: no tiers
    assert tier_applies(order_36()) and tier_applies(order_36(decision_date=None))


# ---- the API ------------------------------------------------------------------------------------


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    async with open_harness(database_url) as harness:
        yield harness


async def put(api: Harness, record_id: str, body: Any, *, key: str | None = "c-1") -> Any:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return await api.client.put(f"/v1/records/{record_id}/classification", data=data, headers=headers)


async def audit_kinds(api: Harness, record_id: str) -> list[str]:
    rows = await api.runtime.db.run(
        lambda tx: tx.all("SELECT kind, actor, detail FROM audit WHERE record_id = ? ORDER BY id", (record_id,)),
        write=False,
    )
    return [f"{r['kind']}:{r['actor']}" for r in rows]


async def test_classify_a_record_idempotently_and_audited(api: Harness) -> None:
    record_id = await api.seed(order_36())
    listed = await api.client.get("/v1/records/awaiting-classification")
    assert listed.status == 200
    page = await listed.json()
    assert [i["record_id"] for i in page["items"]] == [record_id] and page["next_after"] is None
    assert page["items"][0]["systems"] == [CC] and page["items"][0]["links"]["self"] == f"/v1/records/{record_id}"

    body = {"severity": "general", "classified_by": "兰州市生态环境局", "note": "按行业分类标准"}
    first = await put(api, record_id, body)
    assert first.status == 200, await first.text()
    result = await first.json()
    assert (result["severity"], result["previous"], result["changed"], result["awaiting"]) == (
        "general",
        None,
        True,
        [],
    )
    replayed = await put(api, record_id, body)
    assert replayed.headers.get("Idempotent-Replayed") == "true" and await replayed.json() == result
    again = await put(api, record_id, body, key="c-2")  # another key, the same tier: nothing changes
    assert (await again.json())["changed"] is False
    assert await audit_kinds(api, record_id) == ["record_created:creditchina_gansu", "classified:兰州市生态环境局"]

    record = await (await api.client.get(f"/v1/records/{record_id}")).json()
    assert record["facts"]["severity"] == "general"
    cc = next(e for e in record["eligibility"] if e["system"] == CC)
    assert cc["evaluable"] is True and cc["minimum"]["last_day"] == "2026-07-20"
    assert (await (await api.client.get("/v1/records/awaiting-classification")).json())["items"] == []

    corrected = await put(api, record_id, {"severity": "minor", "classified_by": "甘肃省生态环境厅"}, key="c-3")
    assert (await corrected.json())["withheld"] == "not_published_by_default"  # the sweep stops it
    assert (await audit_kinds(api, record_id))[-1] == "classified:甘肃省生态环境厅"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"severity": "medium", "classified_by": "兰州市生态环境局"}, "severity"),
        ({"classified_by": "兰州市生态环境局"}, "severity"),
        ({"severity": "general"}, "classified_by"),
        ({"severity": "general", "classified_by": "  "}, "classified_by"),
        ({"severity": "general", "classified_by": "x", "tier": "一般"}, "tier"),
    ],
    ids=["unknown tier", "no tier", "no classifier", "blank classifier", "unknown field"],
)
async def test_bad_input_is_422_with_its_field_and_changes_nothing(api: Harness, body: Any, field: str) -> None:
    record_id = await api.seed(order_36())
    before = await api.snapshot()
    response = await put(api, record_id, body)
    assert response.status == 422
    assert (await error_of(response))["field"] == field
    assert await api.snapshot() == before


async def test_what_cannot_be_classified(api: Harness) -> None:
    order_58 = await api.seed(order_36("兰环罚〔2025〕7号", decision_date=date(2025, 7, 1)), key="s-2")
    before = await api.snapshot()
    refused = await put(api, order_58, {"severity": "general", "classified_by": "x"})
    assert refused.status == 422
    assert (await error_of(refused))["code"] == "classification_not_applicable"
    unknown = await put(api, "rec_" + "0" * 24, {"severity": "general", "classified_by": "x"}, key="c-9")
    assert unknown.status == 404 and (await error_of(unknown))["code"] == "record_not_found"
    no_key = await put(api, order_58, {"severity": "general", "classified_by": "x"}, key=None)
    assert no_key.status == 400 and (await error_of(no_key))["field"] == "Idempotency-Key"
    assert await api.snapshot() == before


async def test_the_list_pages_and_the_sweep_exports_the_gauge(api: Harness) -> None:
    ids = sorted([await api.seed(order_36(f"兰环罚〔2026〕{n}号"), key=f"s-{n}") for n in range(30, 33)])
    await api.seed(order_36("兰环罚〔2026〕40号", severity=Severity.SERIOUS), key="s-40")  # classified
    await api.seed(order_36("兰环罚〔2025〕41号", decision_date=date(2025, 5, 1)), key="s-41")  # Order 58
    first = await (await api.client.get("/v1/records/awaiting-classification", params={"limit": "2"})).json()
    assert [i["record_id"] for i in first["items"]] == ids[:2] and first["next_after"] == ids[1]
    rest = await (
        await api.client.get("/v1/records/awaiting-classification", params={"after": ids[1], "limit": "2"})
    ).json()
    assert [i["record_id"] for i in rest["items"]] == ids[2:] and rest["next_after"] is None
    bad = await api.client.get("/v1/records/awaiting-classification", params={"limit": "0"})
    assert bad.status == 422 and (await error_of(bad))["field"] == "limit"

    report = await api.runtime.sweep(today=date(2026, 11, 26))
    assert report.awaiting_classification == 3
    assert REGISTRY.get_sample_value("creditgw_records_awaiting_classification") == 3
