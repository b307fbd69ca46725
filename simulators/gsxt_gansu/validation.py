"""Validation of `otherpunish` records written by a client (errCode 2001 + field)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulators import uscc
from simulators.codes import bad_penalty_kind
from simulators.formats import parse_amount, parse_dash_date
from simulators.gsxt_gansu.tables import AMOUNT_FIELDS

CONTENT_FIELDS = (
    "priPID", "uniSCID", "entName", "entType", "penDecNo", "illegActType", "penType", "penAm", "forfAm",
    "penContent", "penDecIssDate", "judAuth", "judAuthCode",
)  # fmt: skip
STATE_FIELDS = ("pubFlag", "stopType", "stopDate")
# Set by GSXT itself: tolerated in a client's record and ignored.
SERVER_FIELDS = ("caseId", "auditState", "auditOpin", "pubDate", "updateTime")
REQUIRED = (
    "uniSCID", "entName", "entType", "penDecNo", "illegActType", "penType", "penDecIssDate", "judAuth",
    "judAuthCode",
)  # fmt: skip
ENT_TYPES = ("企业", "个体工商户", "农专社")
STOP_TYPES = ("", "1", "2", "3")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def validate_record(record: Mapping[str, Any]) -> FieldError | None:
    return _shape(record) or _required(record) or _content(record) or _state(record)


def amount(value: Any) -> float | None:
    """A validated amount (万元) as stored: a JSON number, or None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        parsed = parse_amount(value)
        assert parsed is not None
        return float(parsed)
    return float(value)


def _shape(record: Mapping[str, Any]) -> FieldError | None:
    allowed = {*CONTENT_FIELDS, *STATE_FIELDS, *SERVER_FIELDS}
    for name, value in record.items():
        if name not in allowed:
            return FieldError(name, f"unknown field {name}")
        if name in AMOUNT_FIELDS:
            if not _is_amount(value):
                return FieldError(name, f"{name} must be a non-negative amount in 万元")
        elif value is not None and not isinstance(value, str):
            return FieldError(name, f"{name} must be a string")
    return None


def _required(record: Mapping[str, Any]) -> FieldError | None:
    for name in REQUIRED:
        if not record.get(name):
            return FieldError(name, f"{name} is required")
    return None


def _content(record: Mapping[str, Any]) -> FieldError | None:
    ent_type = record["entType"]
    if ent_type == "自然人":
        return FieldError("entType", "GSXT does not publish penalties of natural persons (自然人)")
    if ent_type not in ENT_TYPES:
        return FieldError("entType", "entType must be 企业, 个体工商户 or 农专社")
    for name in ("uniSCID", "judAuthCode"):
        if not uscc.is_well_formed(record[name]):
            return FieldError(name, f"{name} is not an 18-character 统一社会信用代码")
    bad_kind = bad_penalty_kind(record["penType"])
    if bad_kind is not None:
        return FieldError("penType", f"unknown penalty kind {bad_kind!r} (kinds are joined by ';')")
    if parse_dash_date(record["penDecIssDate"]) is None:
        return FieldError("penDecIssDate", "penDecIssDate must be yyyy-MM-dd")
    return None


def _state(record: Mapping[str, Any]) -> FieldError | None:
    pub_flag = record.get("pubFlag")
    if pub_flag is not None and pub_flag not in ("0", "1"):
        return FieldError("pubFlag", 'pubFlag must be "0" or "1"')
    stop_type = record.get("stopType") or ""
    if stop_type not in STOP_TYPES:
        return FieldError("stopType", 'stopType must be "", "1", "2" or "3"')
    stop_date = record.get("stopDate") or ""
    if stop_date and parse_dash_date(stop_date) is None:
        return FieldError("stopDate", "stopDate must be yyyy-MM-dd")
    if stop_type and not stop_date:
        return FieldError("stopDate", "stopDate is required with stopType")
    if stop_type and pub_flag == "1":
        return FieldError("pubFlag", 'a stopped record cannot have pubFlag "1"')
    return None


def _is_amount(value: Any) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value >= 0
    return isinstance(value, str) and parse_amount(value) is not None
