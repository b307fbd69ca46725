"""GSXT mapping of `othersxmd` (docs/protocols.md §2b, ADR 0028): the work-safety list of an
enterprise written and read back as the same record, its removal carried, persons never written."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from adapters.gsxt_gansu import change_from_item
from gateway.contract import UnmappableRow
from gateway.domain.categories import Category, SubjectType
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from mappings.gsxt_gansu import NATIVE_ID_FIELDS, GsxtGansuMapping
from mappings.transforms import NotWritable
from tests.adapter_contract import CONTRACT_FACTS

GSXT = GsxtGansuMapping(today=lambda: date(2026, 12, 1))


def facts(**overrides: Any) -> RecordFacts:
    return replace(CONTRACT_FACTS[Category.WORK_SAFETY](7), **overrides)


def read_back(row: dict[str, Any]) -> Any:
    item = {"seq": 1, "table": "othersxmd", "updateTime": "2026-12-01 10:00:00", "record": {**row, "sxmdId": "x1"}}
    return GSXT.to_observation(change_from_item(item, NATIVE_ID_FIELDS))


@pytest.mark.parametrize(
    ("target", "is_move", "rem_type", "rem_date"),
    [
        (PUBLISHED, "0", "", ""),
        (stopped(StopReason.EXPIRED, date(2028, 1, 5)), "1", "1", "2028-01-05"),
        (stopped(StopReason.REMOVED, date(2026, 7, 1)), "1", "2", "2026-07-01"),
        (stopped(StopReason.WITHDRAWN, date(2026, 3, 3)), "1", "3", "2026-03-03"),
    ],
    ids=["listed", "expired", "removed", "withdrawn"],
)
def test_a_listing_round_trips_as_the_same_record(
    target: TargetState, is_move: str, rem_type: str, rem_date: str
) -> None:
    written = facts()
    write = GSXT.to_write(written, target, idempotency_key="k")
    assert write.kind == "othersxmd"
    row = dict(write.row)
    assert (row["isMove"], row["remType"], row["remDate"]) == (is_move, rem_type, rem_date)
    assert (row["listType"], row["entType"], row["uniSCID"]) == ("1", "企业", "91620102MA72ABCD94")
    observation = read_back(row)
    assert observation.facts.record_id == written.record_id
    assert observation.facts == written
    assert observation.target == target and observation.native_id == "x1"


def test_an_authority_named_only_travels_verbatim() -> None:
    written = facts(authority_code="甘肃省应急管理厅", document_number="JL2026 00007")
    row = dict(GSXT.to_write(written, PUBLISHED, idempotency_key="k").row)
    assert (row["decOrgCode"], row["penDecNo"]) == ("甘肃省应急管理厅", "JL2026 00007")
    assert read_back(row).facts.record_id == written.record_id


def test_an_individual_business_is_written_as_such() -> None:
    written = facts(subject_type=SubjectType.INDIVIDUAL_BUSINESS, subject_code="92620102MA72ABCD9X")
    row = dict(GSXT.to_write(written, PUBLISHED, idempotency_key="k").row)
    assert row["entType"] == "个体工商户"
    assert read_back(row).facts.subject_type is SubjectType.INDIVIDUAL_BUSINESS


def test_a_person_is_never_written() -> None:
    person = facts(subject_type=SubjectType.NATURAL_PERSON, subject_code=None, subject_id_masked="6201**********1234")
    with pytest.raises(NotWritable) as refused:
        GSXT.to_write(person, PUBLISHED, idempotency_key="k")
    assert refused.value.field == "entType"


def test_a_repair_is_no_list_state() -> None:
    with pytest.raises(NotWritable):
        GSXT.to_write(facts(), stopped(StopReason.REPAIRED, date(2026, 7, 1)), idempotency_key="k")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"entType": "自然人"}, "entType"),
        ({"listType": "9"}, "listType"),
        ({"isMove": "2"}, "isMove"),
        ({"isMove": "1", "remType": "5", "remDate": "2026-07-01"}, "remType"),
        ({"uniSCID": ""}, "uniSCID"),
        ({"decOrgCode": ""}, "decOrgCode"),
    ],
)
def test_what_cannot_be_read_goes_to_the_quarantine(overrides: dict[str, Any], field: str) -> None:
    row = {**GSXT.to_write(facts(), PUBLISHED, idempotency_key="k").row, **overrides}
    with pytest.raises(UnmappableRow) as refused:
        read_back(row)
    assert refused.value.field == field
