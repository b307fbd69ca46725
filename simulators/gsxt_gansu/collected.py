"""GSXT's lists collected from other departments for enterprises (`othersxmd`; docs/protocols.md §2b).

*(ours)* GSXT shows, under an enterprise, the serious-dishonesty lists other departments decide
(lists.md §3: the 安全生产严重失信主体名单 is published on GSXT). The deciding department's
identity is kept verbatim: `decOrgCode` is its code, or its name when it names itself only, so it is
not checked as a 统一社会信用代码. Natural persons are never shown. A listing is collected, not
audited: the department decided it. Removal keeps the row: `isMove "1"` with `remType` and `remDate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulators import uscc
from simulators.formats import parse_dash_date

TABLE = "othersxmd"
ID_FIELD = "sxmdId"
FIELDS = (
    "sxmdId", "priPID", "uniSCID", "entName", "entType", "listType", "serILLRea", "inBasis", "abnTime",
    "decOrg", "decOrgCode", "penDecNo", "isMove", "remType", "remDate", "updateTime",
)  # fmt: skip
KEY_FIELDS = ("penDecNo", "decOrgCode")
# listType: the list a row belongs to. Only the work-safety list is collected so far.
LIST_TYPES = {"1": "安全生产严重失信主体名单"}
# remType: how the deciding department ended the listing.
REM_TYPES = {"1": "期满移出", "2": "提前移出（信用修复）", "3": "认定撤销"}
ENT_TYPES = ("企业", "个体工商户", "农专社")
CONTENT_FIELDS = (
    "priPID", "uniSCID", "entName", "entType", "listType", "serILLRea", "inBasis", "abnTime", "decOrg",
    "decOrgCode", "penDecNo",
)  # fmt: skip
STATE_FIELDS = ("isMove", "remType", "remDate")
SERVER_FIELDS = ("sxmdId", "updateTime")
REQUIRED = ("uniSCID", "entName", "entType", "listType", "abnTime", "decOrg", "decOrgCode", "penDecNo")
# GSXT has no natural persons: such a subject is refused before anything else is checked.
NATURAL_PERSON = "自然人"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def validate(record: Mapping[str, Any]) -> FieldError | None:
    return _shape(record) or _required(record) or _content(record) or _state(record)


def _shape(record: Mapping[str, Any]) -> FieldError | None:
    allowed = {*CONTENT_FIELDS, *STATE_FIELDS, *SERVER_FIELDS}
    for name, value in record.items():
        if name not in allowed:
            return FieldError(name, f"unknown field {name}")
        if value is not None and not isinstance(value, str):
            return FieldError(name, f"{name} must be a string")
    return None


def _required(record: Mapping[str, Any]) -> FieldError | None:
    if record.get("entType") == NATURAL_PERSON:
        return FieldError("entType", "GSXT does not publish lists of natural persons (自然人)")
    for name in REQUIRED:
        if not record.get(name):
            return FieldError(name, f"{name} is required")
    return None


def _content(record: Mapping[str, Any]) -> FieldError | None:
    if record["entType"] not in ENT_TYPES:
        return FieldError("entType", "entType must be 企业, 个体工商户 or 农专社")
    if not uscc.is_well_formed(record["uniSCID"]):
        return FieldError("uniSCID", "uniSCID is not an 18-character 统一社会信用代码")
    if record["listType"] not in LIST_TYPES:
        return FieldError("listType", f"listType must be one of {', '.join(LIST_TYPES)}")
    if parse_dash_date(record["abnTime"]) is None:
        return FieldError("abnTime", "abnTime must be yyyy-MM-dd")
    return None


def _state(record: Mapping[str, Any]) -> FieldError | None:
    is_move = record.get("isMove") or "0"
    if is_move not in ("0", "1"):
        return FieldError("isMove", 'isMove must be "0" or "1"')
    rem_type = record.get("remType") or ""
    rem_date = record.get("remDate") or ""
    if is_move == "0":
        if rem_type or rem_date:
            return FieldError("remType", "a listed entry has no remType or remDate")
        return None
    if rem_type not in REM_TYPES:
        return FieldError("remType", f"remType must be one of {', '.join(REM_TYPES)} with isMove 1")
    if parse_dash_date(rem_date) is None:
        return FieldError("remDate", "remDate must be yyyy-MM-dd with isMove 1")
    return None
