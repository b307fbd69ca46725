"""信用中国（甘肃） mapping on hand-written native samples (tests/fixtures/native/creditchina_gansu)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET

from adapters.creditchina_gansu import change_from_row, row_digest
from gateway.contract import NativeChange, NativeWrite, UnmappableRow
from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.domain.plan import Observation
from mappings.creditchina_gansu import CreditChinaGansuMapping

FIXTURES = Path(__file__).parent / "fixtures" / "native" / "creditchina_gansu"
TODAY = date(2024, 12, 1)
MAPPING = CreditChinaGansuMapping(today=lambda: TODAY)


def load_row(name: str) -> dict[str, str]:
    root = SafeET.fromstring((FIXTURES / name).read_bytes())
    (row,) = root.findall("ROW")
    return {column.tag: (column.text or "").strip() for column in row}


def load_change(name: str) -> NativeChange:
    return change_from_row(load_row(name))


def observe(name: str) -> Observation:
    observation = MAPPING.to_observation(load_change(name))
    assert observation is not None
    return observation


def echo(write: NativeWrite, *, row_id: str = "9001", sjc: str = "2024/12/01 10:00:00") -> NativeChange:
    """The pulled row a write turns into: the platform adds ROWTYPE, ID and SJC."""
    row = {column: str(value) for column, value in write.row.items()}
    row.update(ROWTYPE=write.kind, ID=row_id, SJC=sjc)
    return change_from_row(row)


def carried(facts: RecordFacts) -> RecordFacts:
    """Without the fields 信用中国 has no column for (documented in mappings/creditchina_gansu.py);
    a stand-in is written in the current generation's own column, where it reads as that field."""
    return dataclasses.replace(
        facts, publication_date=None, severity=None, domain_flags=frozenset(), stand_ins=frozenset()
    )


EXPECTED: dict[str, tuple[RecordFacts, TargetState]] = {
    "cf_current_legal_entity.xml": (
        RecordFacts(
            category=Category.ADMIN_PENALTY,
            authority_name="兰州市生态环境局",
            authority_code="11620100MB0012345H",
            document_number="兰环罚〔2024〕37号",
            authority_domain=AuthorityDomain.OTHER,
            subject_name="兰州恒达商贸有限公司",
            subject_type=SubjectType.LEGAL_ENTITY,
            subject_code="91620102MA72ABCD94",
            subject_code_checksum_ok=True,
            decision_date=date(2024, 3, 5),
            penalty_kinds=("罚款", "没收违法所得"),
            fine_wan_yuan=Decimal("0.2"),
            confiscation_wan_yuan=Decimal("0.05"),
            violation="超标排放大气污染物",
            legal_basis="《中华人民共和国大气污染防治法》第九十九条第二项",
            content="罚款2000元，没收违法所得500元",
        ),
        PUBLISHED,
    ),
    "cf_current_natural_person.xml": (
        RecordFacts(
            category=Category.ADMIN_PENALTY,
            authority_name="兰州市消防救援支队",
            authority_code="11620100013579246C",
            document_number="兰消行罚决字〔2024〕0112号",
            authority_domain=AuthorityDomain.OTHER,
            subject_name="李某某",
            subject_type=SubjectType.NATURAL_PERSON,
            decision_date=date(2024, 6, 11),
            penalty_kinds=("罚款",),
            fine_wan_yuan=Decimal("0.05"),
            violation="占用、堵塞、封闭疏散通道、安全出口",
            content="罚款500元",
        ),
        PUBLISHED,
    ),
    "cf_current_bad_checksum.xml": (
        RecordFacts(
            category=Category.ADMIN_PENALTY,
            authority_name="天水市卫生健康委员会",
            authority_code="11620500MB2468135J",
            document_number="天卫罚〔2024〕9号",
            authority_domain=AuthorityDomain.OTHER,
            subject_name="福州闽江贸易有限公司",
            subject_type=SubjectType.LEGAL_ENTITY,
            subject_code="91350100M0001TGQXM",
            subject_code_checksum_ok=False,
            decision_date=date(2024, 1, 22),
            penalty_kinds=("警告", "罚款", "没收非法财物"),
            fine_wan_yuan=Decimal("3"),
            violation="未取得医疗机构执业许可证擅自执业",
            content="警告，罚款30000元，没收非法财物",
        ),
        stopped(StopReason.REPAIRED),
    ),
    "cf_current_individual_business_withdrawn.xml": (
        RecordFacts(
            category=Category.ADMIN_PENALTY,
            authority_name="兰州市城关区市场监督管理局",
            authority_code="11620102MB3692581H",
            document_number="城市监罚〔2024〕215号",
            authority_domain=AuthorityDomain.MARKET_REGULATION,
            subject_name="兰州张记牛肉面馆",
            subject_type=SubjectType.INDIVIDUAL_BUSINESS,
            subject_code="92620103MA74KLMN8L",
            subject_code_checksum_ok=True,
            decision_date=date(2024, 5, 20),
            penalty_kinds=("警告", "罚款"),
            fine_wan_yuan=Decimal("1.5"),
            violation="未按规定明码标价",
            content="警告，罚款15000元",
        ),
        stopped(StopReason.WITHDRAWN),
    ),
    "cf_legacy.xml": (
        RecordFacts(
            category=Category.ADMIN_PENALTY,
            authority_name="兰州市住房和城乡建设局",
            authority_code="11620100MB7531598U",
            document_number="兰建罚〔2024〕58号",
            authority_domain=AuthorityDomain.OTHER,
            subject_name="兰州博源建筑工程有限公司",
            subject_type=SubjectType.LEGAL_ENTITY,
            subject_code="91620105224578903E",
            subject_code_checksum_ok=True,
            decision_date=date(2024, 4, 9),
            penalty_kinds=("罚款", "责令停产停业"),
            violation="兰州博源建筑工程有限公司未取得施工许可证擅自施工",
            legal_basis="《建设工程质量管理条例》第五十七条",
            stand_ins=frozenset({"violation"}),  # 事由 standing in for 违法行为类型
            content="罚款20000元，责令停产停业",
        ),
        PUBLISHED,
    ),
    "yc_listed.xml": (
        RecordFacts(
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
        ),
        PUBLISHED,
    ),
}
EXPECTED["yc_removed.xml"] = (EXPECTED["yc_listed.xml"][0], stopped(StopReason.REMOVED))
SAMPLES = sorted(EXPECTED)


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_map_to_the_expected_facts_and_state(name: str) -> None:
    observation = observe(name)
    facts, target = EXPECTED[name]
    assert observation.facts == facts
    assert observation.target == target
    assert observation.source == "creditchina_gansu"


def test_observation_positions_come_from_the_feed() -> None:
    change = load_change("cf_current_legal_entity.xml")
    observation = observe("cf_current_legal_entity.xml")
    assert change.change_key == f"1042@2024/03/08 09:15:02/1#{row_digest(change.row)}"
    assert observation.source_version == "2024-03-08T09:15:02+08:00"
    assert observation.changed_at.isoformat() == "2024-03-08T01:15:02+00:00"
    assert observation.native_id == "1042"


@pytest.mark.parametrize("name", SAMPLES)
def test_writes_round_trip(name: str) -> None:
    """to_observation(to_write(facts)) gives back the facts and the state (what the row carries)."""
    observation = observe(name)
    write = MAPPING.to_write(observation.facts, observation.target, idempotency_key="k1")
    again = MAPPING.to_observation(echo(write))
    assert again is not None
    assert again.facts == carried(observation.facts)
    assert again.target == observation.target


def test_the_current_generation_is_always_written() -> None:
    facts, _ = EXPECTED["cf_legacy.xml"]
    write = MAPPING.to_write(facts, PUBLISHED, idempotency_key="k1")
    assert write.kind == "CF"
    assert write.business_key == "CF|11620100MB7531598U|兰建罚〔2024〕58号"
    assert write.row == {
        "CF_XDR_MC": "兰州博源建筑工程有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": "91620105224578903E",
        "CF_WSH": "兰建罚〔2024〕58号",
        "CF_WFXW": "兰州博源建筑工程有限公司未取得施工许可证擅自施工",
        "CF_YJ": "《建设工程质量管理条例》第五十七条",
        "CF_CFLB": "罚款;责令停产停业",
        "CF_NR": "罚款20000元，责令停产停业",
        "CF_JDRQ": "2024/04/09",
        "CF_CFJG": "兰州市住房和城乡建设局",
        "CF_CFJGDM": "11620100MB7531598U",
        "CF_ZT": "0",
        "GSZT": "1",
        "ZZYY": "",
        "ZZRQ": "",
    }


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (PUBLISHED, {"CF_ZT": "0", "GSZT": "1", "ZZYY": "", "ZZRQ": ""}),
        (stopped(StopReason.REPAIRED), {"CF_ZT": "0", "GSZT": "0", "ZZYY": "01", "ZZRQ": "2024/12/01"}),
        (stopped(StopReason.EXPIRED), {"CF_ZT": "0", "GSZT": "0", "ZZYY": "02", "ZZRQ": "2024/12/01"}),
        (stopped(StopReason.WITHDRAWN), {"CF_ZT": "1", "GSZT": "0", "ZZYY": "03", "ZZRQ": "2024/12/01"}),
        (stopped(StopReason.REMOVED), {"CF_ZT": "0", "GSZT": "0", "ZZYY": "04", "ZZRQ": "2024/12/01"}),
    ],
)
def test_every_state_has_status_columns(target: TargetState, status: dict[str, str]) -> None:
    facts, _ = EXPECTED["cf_current_legal_entity.xml"]
    write = MAPPING.to_write(facts, target, idempotency_key="k1")
    assert {column: write.row[column] for column in status} == status
    again = MAPPING.to_observation(echo(write))
    assert again is not None and again.target == target


def test_amounts_are_written_in_wan_yuan() -> None:
    facts, _ = EXPECTED["cf_current_legal_entity.xml"]
    row = MAPPING.to_write(facts, PUBLISHED, idempotency_key="k1").row
    assert (row["CF_NR_FK"], row["CF_NR_WFFF"]) == ("0.2", "0.05")


def test_no_personal_id_number_reaches_the_facts() -> None:
    row = load_row("cf_current_natural_person.xml")
    observation = observe("cf_current_natural_person.xml")
    serialised = json.dumps(observation.facts.to_json(), ensure_ascii=False)
    assert row["CF_XDR_ZJHM"] not in serialised
    # Even if a front end put the ID number into the code column of a natural person.
    row["CF_XDR_SHXYM"] = row["CF_XDR_ZJHM"]
    again = MAPPING.to_observation(change_from_row(row))
    assert again is not None and again.facts.subject_code is None


def test_natural_persons_are_written_without_a_code() -> None:
    observation = observe("cf_current_natural_person.xml")
    write = MAPPING.to_write(observation.facts, observation.target, idempotency_key="k1")
    assert write.row["CF_XDR_LB"] == "自然人"
    assert "CF_XDR_SHXYM" not in write.row


def test_legacy_row_without_a_code_is_a_natural_person() -> None:
    row = load_row("cf_legacy.xml")
    row["CF_XDR_SHXYM"] = ""
    observation = MAPPING.to_observation(change_from_row(row))
    assert observation is not None and observation.facts.subject_type is SubjectType.NATURAL_PERSON


def test_legacy_individual_business_is_told_by_its_code() -> None:
    row = load_row("cf_legacy.xml")
    row["CF_XDR_SHXYM"] = "92620103MA74KLMN8L"
    observation = MAPPING.to_observation(change_from_row(row))
    assert observation is not None and observation.facts.subject_type is SubjectType.INDIVIDUAL_BUSINESS


def test_objection_is_not_a_tracked_state() -> None:
    assert MAPPING.to_observation(load_change("cf_objection.xml")) is None


def test_revocation_wins_over_the_publicity_flag() -> None:
    row = load_row("cf_current_legal_entity.xml")
    row["CF_ZT"] = "1"  # 撤销 while GSZT still says 公示中
    observation = MAPPING.to_observation(change_from_row(row))
    assert observation is not None and observation.target == stopped(StopReason.WITHDRAWN)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("CF_XDR_SHXYM", "9162010"),
        ("CF_JDRQ", "2024/02/30"),
        ("CF_NR_FK", "两千元"),
        ("CF_XDR_LB", "企业"),
        ("CF_CFJGDM", ""),
        ("CF_WSH", ""),
        ("GSZT", "9"),
        ("CF_ZT", "7"),
    ],
)
def test_bad_rows_are_unmappable_and_name_the_column(column: str, value: str) -> None:
    row = load_row("cf_current_legal_entity.xml")
    row[column] = value
    with pytest.raises(UnmappableRow) as caught:
        MAPPING.to_observation(change_from_row(row))
    assert caught.value.field == column


def test_stopped_row_needs_a_known_reason() -> None:
    row = load_row("cf_current_bad_checksum.xml")
    row["ZZYY"] = ""
    with pytest.raises(UnmappableRow) as caught:
        MAPPING.to_observation(change_from_row(row))
    assert caught.value.field == "ZZYY"


def test_unknown_row_type_is_unmappable() -> None:
    row = load_row("cf_current_legal_entity.xml")
    row["ROWTYPE"] = "XK"
    with pytest.raises(UnmappableRow) as caught:
        MAPPING.to_observation(change_from_row(row))
    assert caught.value.field == "ROWTYPE"


def test_abnormal_list_rows_are_written_as_yc() -> None:
    facts, _ = EXPECTED["yc_listed.xml"]
    write = MAPPING.to_write(facts, stopped(StopReason.REMOVED), idempotency_key="k1")
    assert write.kind == "YC"
    assert write.row["YC_TYSHXYDM"] == "93620702MA7P2Q3R1K"
    assert write.row["YC_LRYYDM"] == "1"
    assert write.row["YC_LRRQ"] == "2024/07/15"
    assert (write.row["GSZT"], write.row["ZZYY"]) == ("0", "04")
