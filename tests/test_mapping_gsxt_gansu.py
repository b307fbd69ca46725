"""GSXT（甘肃） mapping on hand-written native samples (tests/fixtures/native/gsxt_gansu), and the
cross-system round trips the gateway relies on (a record read on one side, written on the other)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.creditchina_gansu import change_from_row
from adapters.gsxt_gansu import change_from_item, dumps
from gateway.contract import NativeChange, NativeWrite, UnmappableRow
from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.domain.plan import Observation
from mappings.creditchina_gansu import CreditChinaGansuMapping
from mappings.gsxt_gansu import NATIVE_ID_FIELDS, GsxtGansuMapping
from mappings.transforms import NotWritable

FIXTURES = Path(__file__).parent / "fixtures" / "native"
TODAY = date(2024, 12, 1)
GSXT = GsxtGansuMapping(today=lambda: TODAY)
CREDITCHINA = CreditChinaGansuMapping(today=lambda: TODAY)


def load_item(name: str) -> dict[str, Any]:
    item: dict[str, Any] = json.loads((FIXTURES / "gsxt_gansu" / name).read_text(), parse_float=Decimal)
    return item


def observe(name: str) -> Observation:
    observation = GSXT.to_observation(change_from_item(load_item(name), NATIVE_ID_FIELDS))
    assert observation is not None
    return observation


def audited_echo(write: NativeWrite, *, seq: int = 900, pub_date: str = "2024-12-01") -> NativeChange:
    """The feed item a write turns into once GSXT has audited it, through the JSON wire format."""
    record = json.loads(dumps(write.row), parse_float=Decimal)
    record.update(caseId="abc", auditState="1", auditOpin="同意公示", pubDate=pub_date)
    item = {"seq": seq, "table": write.kind, "updateTime": "2024-12-01 10:00:00", "record": record}
    return change_from_item(item)


PUNISH_FACTS = RecordFacts(
    category=Category.ADMIN_PENALTY,
    authority_name="甘肃省市场监督管理局",
    authority_code="11620000MB1876543P",
    document_number="甘市监罚〔2024〕112号",
    authority_domain=AuthorityDomain.MARKET_REGULATION,
    subject_name="兰州恒达商贸有限公司",
    subject_type=SubjectType.LEGAL_ENTITY,
    subject_code="91620102MA72ABCD94",
    subject_code_checksum_ok=True,
    decision_date=date(2024, 5, 14),
    publication_date=date(2024, 5, 28),
    penalty_kinds=("罚款", "没收违法所得"),
    fine_wan_yuan=Decimal("0.2"),
    confiscation_wan_yuan=Decimal("0.36"),
    violation="虚假宣传",
    content="罚款2000元，没收违法所得3600元",
)
ANOMALY_FACTS = RecordFacts(
    category=Category.ABNORMAL_OPERATIONS,
    authority_name="甘肃省市场监督管理局",
    authority_code="11620000MB1876543P",
    document_number="甘市监异入〔2024〕0031号",
    authority_domain=AuthorityDomain.MARKET_REGULATION,
    subject_name="张掖嘉禾马铃薯种植农民专业合作社",
    subject_type=SubjectType.LEGAL_ENTITY,
    subject_code="93620702MA7P2Q3R1K",
    subject_code_checksum_ok=True,
    decision_date=date(2024, 7, 15),
    violation="未依照《企业信息公示暂行条例》第八条规定的期限公示年度报告",
    listing_cause="1",
)
EXPECTED: dict[str, tuple[RecordFacts, TargetState]] = {
    "punish_published.json": (PUNISH_FACTS, PUBLISHED),
    "punish_repaired.json": (
        dataclasses.replace(
            PUNISH_FACTS,
            penalty_kinds=("罚款",),
            fine_wan_yuan=Decimal("1"),
            confiscation_wan_yuan=None,
            content="罚款10000元",
        ),
        stopped(StopReason.REPAIRED),
    ),
    "otherpunish_published.json": (
        RecordFacts(
            category=Category.ADMIN_PENALTY,
            authority_name="兰州市消防救援支队",
            authority_code="11620100013579246C",
            document_number="兰消行罚决字〔2024〕0113号",
            authority_domain=AuthorityDomain.OTHER,
            subject_name="兰州张记牛肉面馆",
            subject_type=SubjectType.INDIVIDUAL_BUSINESS,
            subject_code="92620103MA74KLMN8L",
            subject_code_checksum_ok=True,
            decision_date=date(2024, 6, 11),
            publication_date=date(2024, 6, 14),
            penalty_kinds=("罚款",),
            fine_wan_yuan=Decimal("0.5"),
            violation="占用、堵塞、封闭疏散通道、安全出口",
            content="罚款5000元",
        ),
        PUBLISHED,
    ),
    "otherpunish_coop_published.json": (
        RecordFacts(
            category=Category.ADMIN_PENALTY,
            authority_name="甘肃省交通运输厅",
            authority_code="11620000MB1876543P",
            document_number="甘交罚〔2024〕77号",
            authority_domain=AuthorityDomain.OTHER,
            subject_name="张掖嘉禾马铃薯种植农民专业合作社",
            subject_type=SubjectType.LEGAL_ENTITY,
            subject_code="93620702MA7P2Q3R1K",
            subject_code_checksum_ok=True,
            decision_date=date(2024, 12, 10),
            publication_date=date(2024, 12, 20),
            penalty_kinds=("罚款",),
            fine_wan_yuan=Decimal("0.3"),
            violation="违法超限运输",
            content="罚款3000元",
        ),
        PUBLISHED,
    ),
    "opanomaly_listed.json": (ANOMALY_FACTS, PUBLISHED),
    "opanomaly_removed.json": (ANOMALY_FACTS, stopped(StopReason.REMOVED)),
    "opanomaly_expired.json": (
        RecordFacts(
            category=Category.ABNORMAL_OPERATIONS,
            authority_name="兰州市市场监督管理局",
            authority_code="11620100MB7531598U",
            document_number="兰市监异入〔2021〕0102号",
            authority_domain=AuthorityDomain.MARKET_REGULATION,
            subject_name="兰州博源建筑工程有限公司",
            subject_type=SubjectType.LEGAL_ENTITY,
            subject_code="91620105224578903E",
            subject_code_checksum_ok=True,
            decision_date=date(2021, 7, 30),
            violation="通过登记的住所或者经营场所无法联系",
            listing_cause="4",
        ),
        stopped(StopReason.EXPIRED),
    ),
}
SAMPLES = sorted(EXPECTED)
OTHERPUNISH_SAMPLES = [name for name in SAMPLES if name.startswith("otherpunish")]


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_map_to_the_expected_facts_and_state(name: str) -> None:
    observation = observe(name)
    facts, target = EXPECTED[name]
    assert observation.facts == facts
    assert observation.target == target
    assert observation.source == "gsxt_gansu"


def test_observation_positions_come_from_the_feed() -> None:
    change = change_from_item(load_item("punish_published.json"), NATIVE_ID_FIELDS)
    observation = observe("punish_published.json")
    assert change.change_key == "seq:118"
    assert observation.source_version == "00000000000000000118"
    assert observation.changed_at.isoformat() == "2024-05-28T02:12:45+00:00"
    assert observation.native_id == "5b0c8f2e9d7a4c1e8f3a2b6d9e0c7a14"
    anomaly = change_from_item(load_item("opanomaly_listed.json"), NATIVE_ID_FIELDS)
    assert anomaly.native_id == "8f14e45f-ceea-467a-9d6b-1c0b8d3e2a71"


def test_unaudited_collected_penalties_are_not_observed() -> None:
    assert GSXT.to_observation(change_from_item(load_item("otherpunish_pending_audit.json"))) is None
    refused = load_item("otherpunish_published.json")
    refused["record"].update(auditState="2", pubFlag="0")
    assert GSXT.to_observation(change_from_item(refused)) is None


def test_a_penalty_never_published_is_no_state() -> None:
    item = load_item("punish_published.json")
    item["record"].update(pubFlag="0", stopType="")
    assert GSXT.to_observation(change_from_item(item)) is None


@pytest.mark.parametrize("name", OTHERPUNISH_SAMPLES)
def test_collected_penalties_round_trip(name: str) -> None:
    """to_observation(to_write(facts)) after GSXT's audit: everything but the publication date,
    which GSXT stamps itself."""
    observation = observe(name)
    write = GSXT.to_write(observation.facts, observation.target, idempotency_key="k1")
    original_pub = observation.facts.publication_date
    assert original_pub is not None
    again = GSXT.to_observation(audited_echo(write, pub_date=original_pub.isoformat()))
    assert again is not None
    assert again.facts == observation.facts
    assert again.target == observation.target


@pytest.mark.parametrize(
    ("target", "state"),
    [
        (PUBLISHED, {"pubFlag": "1", "stopType": "", "stopDate": ""}),
        (stopped(StopReason.REPAIRED), {"pubFlag": "0", "stopType": "1", "stopDate": "2024-12-01"}),
        (stopped(StopReason.EXPIRED), {"pubFlag": "0", "stopType": "2", "stopDate": "2024-12-01"}),
        (stopped(StopReason.WITHDRAWN), {"pubFlag": "0", "stopType": "3", "stopDate": "2024-12-01"}),
    ],
)
def test_every_penalty_state_is_written(target: TargetState, state: dict[str, str]) -> None:
    facts, _ = EXPECTED["otherpunish_published.json"]
    write = GSXT.to_write(facts, target, idempotency_key="k1")
    assert {name: write.row[name] for name in state} == state
    again = GSXT.to_observation(audited_echo(write))
    assert again is not None and again.target == target


def test_write_shape() -> None:
    facts, _ = EXPECTED["otherpunish_coop_published.json"]
    write = GSXT.to_write(facts, PUBLISHED, idempotency_key="key-1")
    assert write.kind == "otherpunish"
    assert write.idempotency_key == "key-1"
    assert write.business_key == "otherpunish|11620000MB1876543P|甘交罚〔2024〕77号"
    assert write.row["entType"] == "农专社"
    assert write.row["penAm"] == Decimal("0.3")
    assert "pubDate" not in write.row and "auditState" not in write.row
    assert json.loads(dumps(write.row))["penAm"] == 0.3  # a JSON number, not a string


def test_decimal_amounts_are_exact_json_numbers() -> None:
    body = dumps({"record": {"penAm": Decimal("123456789012.123456"), "name": "x"}})
    assert b'"penAm": 123456789012.123456' in body


def test_removed_is_no_penalty_state() -> None:
    facts, _ = EXPECTED["otherpunish_published.json"]
    with pytest.raises(NotWritable):
        GSXT.to_write(facts, stopped(StopReason.REMOVED), idempotency_key="k1")


@pytest.mark.parametrize(
    "facts",
    [
        PUNISH_FACTS,  # market regulation: GSXT's own punish table
        ANOMALY_FACTS,  # GSXT owns the abnormal list
        dataclasses.replace(
            EXPECTED["otherpunish_published.json"][0],
            subject_type=SubjectType.NATURAL_PERSON,
            subject_code=None,
            subject_code_checksum_ok=None,
        ),
    ],
    ids=["punish", "opanomaly", "natural_person"],
)
def test_gsxt_owned_records_and_natural_persons_are_never_written(facts: RecordFacts) -> None:
    with pytest.raises(NotWritable) as caught:
        GSXT.to_write(facts, PUBLISHED, idempotency_key="k1")
    assert caught.value.context()["kind"] == "permanent"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("uniSCID", "9162"),
        ("penDecIssDate", "2024/13/01"),
        ("penAm", "-1"),
        ("entType", "合伙"),
        ("judAuthCode", ""),
        ("pubFlag", "x"),
        ("stopType", "9"),
    ],
)
def test_bad_records_are_unmappable_and_name_the_field(field: str, value: str) -> None:
    item = load_item("punish_published.json")
    item["record"][field] = value
    if field == "stopType":
        item["record"]["pubFlag"] = "0"
    with pytest.raises(UnmappableRow) as caught:
        GSXT.to_observation(change_from_item(item))
    assert caught.value.field == field


def test_unknown_is_move_is_unmappable() -> None:
    item = load_item("opanomaly_listed.json")
    item["record"]["isMove"] = "5"
    with pytest.raises(UnmappableRow) as caught:
        GSXT.to_observation(change_from_item(item))
    assert caught.value.field == "isMove"


# --- across the two systems ------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_gsxt_records_mirrored_on_creditchina_read_back_the_same(name: str) -> None:
    """A GSXT-owned record (or any other) written to 信用中国 and pulled back."""
    observation = observe(name)
    write = CREDITCHINA.to_write(observation.facts, observation.target, idempotency_key="k1")
    row = {column: str(value) for column, value in write.row.items()}
    row.update(ROWTYPE=write.kind, ID="5", SJC="2024/12/01 10:00:00")
    again = CREDITCHINA.to_observation(change_from_row(row))
    assert again is not None
    assert again.facts == dataclasses.replace(observation.facts, publication_date=None)  # no such column
    assert again.target == observation.target


def _creditchina_penalties_gsxt_shows() -> list[str]:
    from tests.test_mapping_creditchina_gansu import EXPECTED as CREDITCHINA_EXPECTED

    return sorted(
        name
        for name, (facts, target) in CREDITCHINA_EXPECTED.items()
        if facts.category is Category.ADMIN_PENALTY
        and facts.authority_domain is AuthorityDomain.OTHER
        and facts.subject_type is not SubjectType.NATURAL_PERSON
        and target.reason is not StopReason.REMOVED
    )


@pytest.mark.parametrize("name", _creditchina_penalties_gsxt_shows())
def test_creditchina_penalties_collected_on_gsxt_read_back_the_same(name: str) -> None:
    """信用中国 owns non-market-regulation penalties; GSXT collects those of enterprises."""
    from tests.test_mapping_creditchina_gansu import EXPECTED as CREDITCHINA_EXPECTED

    facts, target = CREDITCHINA_EXPECTED[name]
    write = GSXT.to_write(facts, target, idempotency_key="k1")
    again = GSXT.to_observation(audited_echo(write, pub_date="2024-12-03"))
    assert again is not None
    # GSXT has no 处罚依据 field: the legal basis does not travel (the gateway keeps it by overlay);
    # a stand-in written to illegActType reads back as the violation itself.
    assert again.facts == dataclasses.replace(
        facts, publication_date=date(2024, 12, 3), legal_basis=None, stand_ins=frozenset()
    )
    assert again.target == target
