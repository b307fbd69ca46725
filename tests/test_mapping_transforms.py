"""Named transforms of mappings/transforms.py (domain.md §2.3, §2.4, §6)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from gateway.contract import UnmappableRow
from gateway.domain.categories import SubjectType
from gateway.feedtime import format_sjc, parse_beijing_timestamp, seq_source_version, sjc_source_version
from mappings.transforms import (
    DateSentinel,
    canonical_decimal,
    format_dash_date,
    format_gsxt_ent_type,
    format_slash_date,
    format_subject_type,
    format_uscc,
    format_wan_yuan,
    join_kinds,
    parse_date,
    parse_subject_type,
    parse_uscc,
    parse_wan_yuan,
    read_fields,
    real_date,
    split_kinds,
)


@pytest.mark.parametrize(
    "raw",
    [
        "2024/03/05",
        "2024-03-05",
        "2024-3-5",
        "2024/3/5",
        "20240305",
        "2024/03/05 00:00:00",
        "2024-3-5 9:07:00",
        "20240305 23:59:59",
        " 2024-03-05 ",
    ],
)
def test_dates_in_every_accepted_format(raw: str) -> None:
    assert parse_date(raw) == date(2024, 3, 5)


@pytest.mark.parametrize(
    ("raw", "sentinel"),
    [
        ("1900-01-01", DateSentinel.NULL),
        ("1900-1-1 0:00:00", DateSentinel.NULL),
        ("1900/01/01", DateSentinel.NULL),
        ("2099/12/31", DateSentinel.OPEN_ENDED),
        ("20991231", DateSentinel.OPEN_ENDED),
        ("9999-09-09", DateSentinel.OPEN_ENDED),
        ("无处罚期限", DateSentinel.OPEN_ENDED),
        ("长期", DateSentinel.OPEN_ENDED),
    ],
)
def test_sentinels_are_never_real_dates(raw: str, sentinel: DateSentinel) -> None:
    assert parse_date(raw) is sentinel
    assert real_date(raw) is None


@pytest.mark.parametrize("raw", ["2024/02/30", "2024.03.05", "2024-03/05", "24-3-5", "2024-03-05T10:00:00", "昨天"])
def test_malformed_dates_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_date(raw)


def test_empty_dates_are_absent() -> None:
    assert parse_date(None) is None
    assert parse_date("  ") is None


def test_dates_are_written_in_each_systems_format() -> None:
    assert format_slash_date(date(2024, 3, 5)) == "2024/03/05"
    assert format_dash_date(date(2024, 3, 5)) == "2024-03-05"
    assert format_slash_date(None) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.2", Decimal("0.2")),  # 2000 元
        ("0.20", Decimal("0.2")),
        ("3.0", Decimal("3")),
        ("100", Decimal("100")),
        (" 1.5万元", Decimal("1.5")),
        (".5", Decimal("0.5")),
        (Decimal("1E+2"), Decimal("100")),
        (0.2, Decimal("0.2")),  # a JSON number read as float
        (1, Decimal("1")),
        ("0.000001", Decimal("0.000001")),
    ],
)
def test_wan_yuan_amounts_are_exact_decimals(raw: object, expected: Decimal) -> None:
    value = parse_wan_yuan(raw)
    assert value == expected
    assert str(value) == str(expected)  # one spelling per amount: fingerprints must agree


@pytest.mark.parametrize("raw", ["-1", "1,000", "abc", "NaN", "Infinity", True, "1e3"])
def test_bad_amounts_are_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_wan_yuan(raw)


def test_wan_yuan_formatting_has_no_exponent_or_trailing_zeros() -> None:
    assert format_wan_yuan(Decimal("0.20")) == "0.2"
    assert format_wan_yuan(Decimal("1E+2")) == "100"
    assert format_wan_yuan(Decimal("12.500")) == "12.5"
    assert format_wan_yuan(None) is None
    assert canonical_decimal(Decimal("0")) == Decimal("0")


def test_penalty_kinds_split_on_every_separator_and_join_on_semicolon() -> None:
    assert split_kinds("警告;罚款；没收违法所得,没收非法财物，责令停产停业、限制从业") == (
        "警告",
        "罚款",
        "没收违法所得",
        "没收非法财物",
        "责令停产停业",
        "限制从业",
    )
    assert split_kinds(" 罚款 ;; 罚款 ;") == ("罚款",)
    assert split_kinds("") == ()
    assert join_kinds(("警告", "罚款")) == "警告;罚款"
    assert join_kinds(()) is None


def test_subject_type_literals_round_trip() -> None:
    for literal, subject_type in (
        ("法人及非法人组织", SubjectType.LEGAL_ENTITY),
        ("自然人", SubjectType.NATURAL_PERSON),
        ("个体工商户", SubjectType.INDIVIDUAL_BUSINESS),
    ):
        assert parse_subject_type(literal) is subject_type
        assert format_subject_type(subject_type) == literal
    with pytest.raises(ValueError):
        parse_subject_type("企业")


def test_gsxt_ent_type_tells_cooperatives_by_their_code() -> None:
    assert format_gsxt_ent_type(SubjectType.LEGAL_ENTITY, "93620702MA7P2Q3R1K") == "农专社"
    assert format_gsxt_ent_type(SubjectType.LEGAL_ENTITY, "91620102MA72ABCD94") == "企业"
    assert format_gsxt_ent_type(SubjectType.INDIVIDUAL_BUSINESS, None) == "个体工商户"


def test_uscc_is_upper_cased_and_a_bad_checksum_is_flagged_not_refused() -> None:
    good = parse_uscc("91620102ma72abcd94", field="X")
    assert (good.code, good.checksum_ok) == ("91620102MA72ABCD94", True)
    pilot = parse_uscc("91350100M0001TGQXM", field="X")
    assert (pilot.code, pilot.checksum_ok) == ("91350100M0001TGQXM", False)
    assert parse_uscc("", field="X").code is None


def test_the_placeholder_code_is_no_code_and_comes_back_for_individual_businesses() -> None:
    placeholder = parse_uscc("00000000000000000X", field="X")
    assert (placeholder.code, placeholder.checksum_ok) == (None, None)
    assert format_uscc(None, SubjectType.INDIVIDUAL_BUSINESS) == "00000000000000000X"
    assert format_uscc(None, SubjectType.LEGAL_ENTITY) is None


@pytest.mark.parametrize("raw", ["9162010", "91620102MA72ABCD9I", "91620102MA72ABCD94X"])
def test_malformed_uscc_is_unmappable_and_names_the_field(raw: str) -> None:
    with pytest.raises(UnmappableRow) as caught:
        parse_uscc(raw, field="CF_XDR_SHXYM")
    assert caught.value.field == "CF_XDR_SHXYM"


def test_read_fields_names_the_native_column_of_a_bad_value() -> None:
    table = (("decision_date", "CF_JDRQ", "date_slash"),)
    with pytest.raises(UnmappableRow) as caught:
        read_fields({"CF_JDRQ": "2024/13/01"}, table)
    assert caught.value.field == "CF_JDRQ"


def test_beijing_timestamps_become_aware_utc() -> None:
    moment = parse_beijing_timestamp("2024/03/08 09:15:02")
    assert moment == datetime(2024, 3, 8, 1, 15, 2, tzinfo=UTC)
    assert moment.utcoffset() is not None
    assert parse_beijing_timestamp("2024-03-08 09:15:02") == moment
    assert format_sjc(moment) == "2024/03/08 09:15:02"
    # Just after midnight in Beijing is the previous day in UTC.
    assert parse_beijing_timestamp("2024/03/08 00:30:00").date() == date(2024, 3, 7)
    with pytest.raises(ValueError):
        parse_beijing_timestamp("2024/03/08")


def test_source_versions_sort_as_the_feed() -> None:
    sjcs = ["2024/03/08 09:15:02", "2024/03/08 10:00:00", "2024/12/01 00:00:00", "2025/01/01 08:00:00"]
    versions = [sjc_source_version(sjc) for sjc in sjcs]
    assert versions == sorted(versions)
    assert versions[0] == "2024-03-08T09:15:02+08:00"
    seqs = [9, 10, 99, 100, 12345]
    assert [seq_source_version(s) for s in seqs] == sorted(seq_source_version(s) for s in seqs)
    assert seq_source_version(7) == "00000000000000000007"
