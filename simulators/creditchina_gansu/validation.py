"""Per-row validation of pushed rows (result code 03: `<line>`, `<field>`, `<msg>`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from simulators import uscc
from simulators.codes import SPE_CAUSES, bad_penalty_kind
from simulators.creditchina_gansu.columns import (
    CF_ZT_VALUES,
    MDLB_VALUES,
    PLATFORM_COLUMNS,
    STATUS_COLUMNS,
    SXCD_VALUES,
    XDR_LB_VALUES,
    ZZYY_VALUES,
    RowKind,
)
from simulators.formats import parse_amount, parse_slash_date

_MASKED_ID = re.compile(r"[0-9]{2,6}\*{6,16}[0-9Xx]{0,4}")


@dataclass(frozen=True)
class RowError:
    field: str
    message: str


def validate_row(kind: RowKind, row: Mapping[str, str]) -> RowError | None:
    """The first problem of a pushed current-generation row, or None."""
    return (
        _unknown_column(kind, row)
        or _required(kind, row)
        or _content(kind, row)
        or _uscc_format(kind, row)
        or _dates(kind, row)
        or _status(row)
    )


def checksum_failures(kind: RowKind, row: Mapping[str, str]) -> list[str]:
    """USCC columns that are well formed but fail the check character: flagged, never refused
    (some early pilot codes are legally valid and fail it, domain.md §6)."""
    return [
        column
        for column in kind.uscc_columns
        if row.get(column) and uscc.is_well_formed(row[column]) and not uscc.is_valid(row[column])
    ]


def _unknown_column(kind: RowKind, row: Mapping[str, str]) -> RowError | None:
    allowed = set(kind.columns) | set(STATUS_COLUMNS) | set(PLATFORM_COLUMNS)
    for column in row:
        if column not in allowed:
            return RowError(column, f"未知字段 {column}")
    return None


def _required(kind: RowKind, row: Mapping[str, str]) -> RowError | None:
    for column in kind.required:
        if not row.get(column):
            return RowError(column, f"{column} 为必填项")
    if kind.rowtype == "CF" and row.get("CF_XDR_LB") != "自然人" and not row.get("CF_XDR_SHXYM"):
        return RowError("CF_XDR_SHXYM", "行政相对人类别不是自然人时 CF_XDR_SHXYM 为必填项")
    return None


def _content(kind: RowKind, row: Mapping[str, str]) -> RowError | None:
    if kind.rowtype == "CF":
        if row["CF_XDR_LB"] not in XDR_LB_VALUES:
            return RowError("CF_XDR_LB", "CF_XDR_LB 应为 法人及非法人组织、自然人、个体工商户 之一")
        if row.get("CF_SXCD", "") not in ("", *SXCD_VALUES):
            return RowError("CF_SXCD", "CF_SXCD 应为 轻微、一般、严重 之一（未分类时为空）")
        bad_kind = bad_penalty_kind(row["CF_CFLB"])
        if bad_kind is not None:
            return RowError("CF_CFLB", f"未知处罚类别 {bad_kind!r}（多个类别以 ; 分隔）")
        for column in ("CF_NR_FK", "CF_NR_WFFF"):
            if row.get(column) and parse_amount(row[column]) is None:
                return RowError(column, f"{column} 应为以万元计的非负数")
    elif kind.rowtype == "MD":
        return _list_entry(row)
    elif row["YC_LRYYDM"] not in SPE_CAUSES:
        return RowError("YC_LRYYDM", "YC_LRYYDM 应为 1-4")
    return None


def _list_entry(row: Mapping[str, str]) -> RowError | None:
    if row["MD_MDLB"] not in MDLB_VALUES:
        return RowError("MD_MDLB", "MD_MDLB 应为 01-07")
    if row["MD_DXLB"] not in XDR_LB_VALUES:
        return RowError("MD_DXLB", "MD_DXLB 应为 法人及非法人组织、自然人、个体工商户 之一")
    if row["MD_DXLB"] == "自然人":
        # A person's ID number is shared masked, as the owner masks it; never in full.
        if row.get("MD_ZJHM") and not _MASKED_ID.fullmatch(row["MD_ZJHM"]):
            return RowError("MD_ZJHM", "自然人的 MD_ZJHM 应为脱敏格式（如 6201**********1234）")
    elif not row.get("MD_TYSHXYDM"):
        return RowError("MD_TYSHXYDM", "对象类别不是自然人时 MD_TYSHXYDM 为必填项")
    return None


def _uscc_format(kind: RowKind, row: Mapping[str, str]) -> RowError | None:
    for column in kind.uscc_columns:
        value = row.get(column, "")
        if value and not uscc.is_well_formed(value):
            return RowError(column, f"{column} 不是18位统一社会信用代码")
    return None


def _dates(kind: RowKind, row: Mapping[str, str]) -> RowError | None:
    for column in (*kind.date_columns, "ZZRQ"):
        value = row.get(column, "")
        if value and parse_slash_date(value) is None:
            return RowError(column, f"{column} 日期格式应为 yyyy/MM/dd")
    return None


def _status(row: Mapping[str, str]) -> RowError | None:
    if row.get("CF_ZT", "") not in ("", *CF_ZT_VALUES):
        return RowError("CF_ZT", "CF_ZT 应为 0-3")
    gszt = row.get("GSZT", "")
    if gszt not in ("", "0", "1"):
        return RowError("GSZT", "GSZT 应为 0 或 1")
    if gszt == "0":
        if row.get("ZZYY", "") not in ZZYY_VALUES:
            return RowError("ZZYY", "终止公示时 ZZYY 应为 01-04")
        if not row.get("ZZRQ"):
            return RowError("ZZRQ", "终止公示时 ZZRQ 为必填项")
    else:
        for column in ("ZZYY", "ZZRQ"):
            if row.get(column):
                return RowError(column, f"公示中的记录不应填写 {column}")
    return None
