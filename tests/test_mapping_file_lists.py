"""Mappings of the two file-drop lists (mappings/statistics.py, mappings/civil_affairs.py) on the
simulators' own fixture rows, in the register's forms (ISO dates, the admin API) and the files'
forms (`yyyy年M月d日`, `yyyy.MM.dd`): the same identity either way, GB18030-only characters kept,
lower-case codes normalised, removals read from the list's own signal, never a guessed reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from gateway.contract import NativeChange, UnmappableRow
from gateway.domain.categories import Category, SubjectType
from gateway.domain.model import PUBLISHED, StopReason, stopped
from gateway.filedrop import ABSENT_FROM, FILE_INCIDENT_KIND
from mappings.civil_affairs import CivilAffairsMapping
from mappings.statistics import LIST_KIND, StatisticsMapping
from mappings.transforms import NotWritable, list_date
from simulators.civil_affairs.fixtures import CIVIL_AFFAIRS_ROWS
from simulators.statistics.fixtures import STATISTICS_ROWS

STATISTICS = StatisticsMapping()
CIVIL = CivilAffairsMapping()
SEEN = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def change(row: dict[str, Any], kind: str = LIST_KIND, at: datetime = SEEN) -> NativeChange:
    return NativeChange(change_key="k", source_version="1", changed_at=at, kind=kind, native_id=None, row=row)


def stat_row(index: int, **changed: str) -> dict[str, Any]:
    return {**STATISTICS_ROWS[index], **changed}


def civil_row(index: int, **changed: str) -> dict[str, Any]:
    return {**CIVIL_AFFAIRS_ROWS[index], **changed}


def test_list_dates_in_every_form_the_departments_write() -> None:
    assert list_date("2028年4月17日") == list_date("2028.04.17") == list_date("2028-04-17") == date(2028, 4, 17)
    assert list_date("") is None
    with pytest.raises(ValueError):
        list_date("2028年2月30日")


def test_statistics_rows_map_in_the_register_and_the_file_forms_alike() -> None:
    register = STATISTICS.to_observation(change(stat_row(0)))
    in_file = STATISTICS.to_observation(change(stat_row(0, 公示截止日期="2028年4月17日")))
    assert register is not None and in_file is not None
    assert register.facts == in_file.facts
    facts = register.facts
    assert (facts.category, facts.subject_type, facts.authority_code, facts.document_number) == (
        Category.STATISTICS_SERIOUS,
        SubjectType.LEGAL_ENTITY,
        "甘肃省统计局",
        "甘统严信认〔2025〕4号",
    )
    assert facts.decision_date == date(2025, 4, 18) and facts.content == "警告，罚款人民币5万元"
    assert register.target == PUBLISHED and facts.owner.value == "statistics"


def test_statistics_awkward_rows() -> None:
    lower = STATISTICS.to_observation(change(stat_row(1)))
    assert lower is not None and lower.facts.subject_code == "91621002MA72TJ0287"  # typed lower case
    rare = STATISTICS.to_observation(change(stat_row(3)))
    assert rare is not None and rare.facts.subject_name == "酒泉示例𠮷祥新能源有限公司"
    # Removed, no reason recorded: REMOVED on its date, in the register's and the file's forms.
    for removed_on in ("2026-11-20", "2026.11.20"):
        observation = STATISTICS.to_observation(change(stat_row(4, 移出日期=removed_on)))
        assert observation is not None
        assert observation.target == stopped(StopReason.REMOVED) and observation.target.on == date(2026, 11, 20)
        assert observation.decided_on == date(2026, 11, 20)
    expired = STATISTICS.to_observation(change(stat_row(4, 移出原因="公示期满")))
    assert expired is not None and expired.target == stopped(StopReason.EXPIRED)
    # A full-width 文书编号 is the same record as the half-width one.
    wide = STATISTICS.to_observation(change(stat_row(0, 认定文书编号="甘统严信认〔２０２５〕４号")))
    plain = STATISTICS.to_observation(change(stat_row(0)))
    assert wide is not None and plain is not None and wide.facts.record_id == plain.facts.record_id


def test_statistics_absence_removes_without_a_guess_unless_the_date_proves_expiry() -> None:
    gone = STATISTICS.to_observation(change(stat_row(0, **{ABSENT_FROM: "TJJ_YZSXQY_x_0002.xlsx"})))
    assert gone is not None and gone.target == stopped(StopReason.REMOVED) and gone.target.on is None
    after_end = datetime(2028, 4, 18, 1, 0, tzinfo=UTC)  # 2028-04-18 in Beijing: the end was the 17th
    ran_out = STATISTICS.to_observation(change(stat_row(0, **{ABSENT_FROM: "f"}), at=after_end))
    assert ran_out is not None and ran_out.target == stopped(StopReason.EXPIRED)
    assert ran_out.target.on == date(2028, 4, 18)
    on_last_day = datetime(2028, 4, 17, 1, 0, tzinfo=UTC)
    still_in = STATISTICS.to_observation(change(stat_row(0, **{ABSENT_FROM: "f"}), at=on_last_day))
    assert still_in is not None and still_in.target == stopped(StopReason.REMOVED)
    tail_over = STATISTICS.to_observation(change(stat_row(4, **{ABSENT_FROM: "f"})))
    assert tail_over is not None and tail_over.target.on == date(2026, 11, 20)  # the removal it had


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        ({"状态": "暂停"}, "状态"),
        ({"状态": "已移出", "移出日期": ""}, "移出日期"),
        ({"认定日期": "2025年13月1日"}, "认定日期"),
        ({"认定文书编号": " "}, "认定文书编号"),
        ({"统一社会信用代码": "9162"}, "统一社会信用代码"),
        ({"统一社会信用代码": ""}, "统一社会信用代码"),
    ],
)
def test_statistics_rows_it_cannot_read_name_the_field(changed: dict[str, str], field: str) -> None:
    with pytest.raises(UnmappableRow) as raised:
        STATISTICS.to_observation(change(stat_row(0, **changed)))
    assert raised.value.field == field


def test_civil_affairs_only_the_serious_list_is_a_record() -> None:
    serious = CIVIL.to_observation(change(civil_row(0), kind="严重违法失信名单"))
    assert serious is not None
    facts = serious.facts
    assert (facts.category, facts.authority_code, facts.document_number, facts.subject_name) == (
        Category.SOCIAL_ORG_SERIOUS,
        "甘肃省民政厅",
        "甘民社严〔2025〕3号",
        "甘肃省示例𠮷祥文化促进会",
    )
    assert facts.decision_date == date(2025, 2, 10) and facts.violation == "被列入活动异常名录届满2年"
    in_file = CIVIL.to_observation(change(civil_row(0, 列入日期="2025年2月10日"), kind="严重违法失信名单"))
    assert in_file is not None and in_file.facts == facts
    assert CIVIL.to_observation(change(civil_row(1), kind="活动异常名录")) is None  # 䶮: untracked list
    assert CIVIL.to_observation(change(civil_row(4), kind="活动异常名录")) is None
    with pytest.raises(UnmappableRow) as raised:
        CIVIL.to_observation(change(civil_row(0, 名单类型="黑名单")))
    assert raised.value.field == "名单类型"


def test_civil_affairs_removals() -> None:
    removed = civil_row(2, 状态="已移出", 移出日期="2026年11月28日", 移出事由="", 移出决定机关="甘肃省民政厅")
    observation = CIVIL.to_observation(change(removed))
    assert observation is not None and observation.target == stopped(StopReason.REMOVED)
    assert observation.target.on == date(2026, 11, 28)
    expired = CIVIL.to_observation(change({**removed, "移出事由": "届满2年未再违法"}))
    assert expired is not None and expired.target == stopped(StopReason.EXPIRED)
    gone = CIVIL.to_observation(change(civil_row(2, **{ABSENT_FROM: "MZT_SHZZ_SXMD_x_0003.csv"})))
    assert gone is not None and gone.target == stopped(StopReason.REMOVED) and gone.target.on is None


def test_file_incidents_are_unmappable_with_their_reason() -> None:
    row = {"name": "MZT_x.csv", "sha256": "ab" * 32, "size": 10, "outcome": "refused", "reason": "the file is UTF-8"}
    for mapping in (STATISTICS, CIVIL):
        with pytest.raises(UnmappableRow, match=r"file MZT_x.csv \(sha256 abababababab…, 10 bytes\) refused") as raised:
            mapping.to_observation(change(row, kind=FILE_INCIDENT_KIND))
        assert raised.value.field == "file"


def test_the_departments_are_never_written() -> None:
    observation = STATISTICS.to_observation(change(stat_row(0)))
    assert observation is not None
    for mapping in (STATISTICS, CIVIL):
        with pytest.raises(NotWritable):
            mapping.to_write(observation.facts, PUBLISHED, idempotency_key="k")
