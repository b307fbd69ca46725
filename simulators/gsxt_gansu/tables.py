"""GSXT tables: fields, business keys, publication rule (docs/protocols.md §2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulators.gsxt_gansu import collected, serious

PENALTY_FIELDS = (
    "caseId", "priPID", "uniSCID", "entName", "entType", "penDecNo", "illegActType", "penType", "penAm",
    "forfAm", "penContent", "penDecIssDate", "pubDate", "judAuth", "judAuthCode", "pubFlag", "stopType",
    "stopDate",
)  # fmt: skip
FIELDS: dict[str, tuple[str, ...]] = {
    "punish": (*PENALTY_FIELDS, "updateTime"),
    "otherpunish": (*PENALTY_FIELDS, "auditState", "auditOpin", "updateTime"),
    "opanomaly": (
        "busExcList", "priPID", "uniSCID", "entName", "speCause", "speCauseCN", "abnTime", "decOrg",
        "decOrgCode", "penDecNo", "isMove", "remExcpres", "remExcpresCN", "remDate", "reDecOrg",
        "updateTime",
    ),
    serious.TABLE: serious.FIELDS,  # 市场监督管理严重违法失信名单 (§2a)
    collected.TABLE: collected.FIELDS,  # other departments' lists, collected (§2b)
}  # fmt: skip
TABLES = tuple(FIELDS)
KEY_FIELDS: dict[str, tuple[str, str]] = {
    "punish": ("penDecNo", "judAuthCode"),
    "otherpunish": ("penDecNo", "judAuthCode"),
    "opanomaly": ("penDecNo", "decOrgCode"),
    serious.TABLE: ("penDecNo", "decOrgCode"),
    collected.TABLE: collected.KEY_FIELDS,
}
AMOUNT_FIELDS = ("penAm", "forfAm")

Key = tuple[str, str]


def key_of(table: str, record: Mapping[str, Any]) -> Key:
    first, second = KEY_FIELDS[table]
    return (str(record.get(first, "")), str(record.get(second, "")))


def key_label(table: str, key: Key) -> str:
    """Business key as shown in the stats: `otherpunish:<penDecNo>|<judAuthCode>`."""
    return f"{table}:{key[0]}|{key[1]}"


def is_published(table: str, record: Mapping[str, Any]) -> bool:
    if table in ("opanomaly", serious.TABLE, collected.TABLE):
        return record.get("isMove") == "0"
    return record.get("pubFlag") == "1"


def blank_record(table: str) -> dict[str, Any]:
    """A record with every field empty; state fields default to published (operator loads)."""
    record: dict[str, Any] = {name: None if name in AMOUNT_FIELDS else "" for name in FIELDS[table]}
    if table in ("opanomaly", serious.TABLE, collected.TABLE):
        record["isMove"] = "0"
    else:
        record["pubFlag"] = "1"
    if table == "otherpunish":
        record["auditState"] = "1"
    return record
