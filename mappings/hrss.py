"""省人社厅 拖欠农民工工资失信联合惩戒对象名单 rows (前置库, docs/protocols.md §8) → canonical facts and state.

One row is one operation on one listed object (`DXBH`): `i` lists it, `u` changes it, `d` removes
it; each row carries the whole record. A decision (认定决定书 `RDWSH`) may list a unit and its
responsible people, so the identity is the deciding department (its code `RDBMDM`, else its name
`RDBM`) and `RDWSH#DXBH` (lists-common §2): one record per listed object.

The gateway only reads this list (the department decides and removes, 谁认定、谁修复): there is no
`to_write`. What the canonical model has no place for, and so is not kept: the list period's last
day (`LRQX`, the rule data knows the period), the 法定代表人 (`FDDBR`) and a person's 所属单位
(`SSDW`). A person's ID number (`ZJHM`) is kept exactly as the department masked it
(`subject_id_masked`, mirrored masked; ADR 0028); a whole one is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.contract import NativeChange, NativeWrite, UnmappableRow
from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.domain.personal import is_id_number
from gateway.domain.plan import Observation
from mappings.transforms import NotWritable, code, parse_uscc, real_date, text

KIND = "QZK_RS_NMGGZ_SXMD"  # the one table of this 前置库: every change and listed row has this kind
KIND_FIELD = ""  # no member names a kind: the 前置库 has one table, and the mapping reads every row alike
PERSONAL_ID_FIELDS = ("ZJHM",)  # 身份证件号码 of a responsible person: masked at the source, never logged
NATIVE_ID_FIELD = "DXBH"  # 对象编号: the department's key of a listed object
OBJECT_SEPARATOR = "#"  # RDWSH#DXBH (lists-common §2)

UNIT, PERSON = "1", "2"  # DXLX
SUBJECT_TYPES = {UNIT: SubjectType.LEGAL_ENTITY, PERSON: SubjectType.NATURAL_PERSON}
LISTED, CHANGED, REMOVED = "i", "u", "d"  # CZBZ
# YCLX of a `d` row: 01 the period ran out (期满), 02 removed early (提前移出, after correction and a
# 守信承诺). A `d` row without a type is still a removal: REMOVED, never a guessed reason.
STOP_REASON_BY_YCLX = {"01": StopReason.EXPIRED, "02": StopReason.REMOVED}


def _required(row: Mapping[str, Any], name: str) -> str:
    value = text(row.get(name))
    if value is None:
        raise UnmappableRow(f"{name} is required", field=name)
    return value


def _date(row: Mapping[str, Any], name: str) -> date | None:
    raw = row.get(name)
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    try:
        return real_date(raw)
    except ValueError as exc:
        raise UnmappableRow(f"{name}: {exc}", field=name) from exc


def amount_yuan(raw: object) -> Decimal | None:
    """涉及金额 in 元 (DECIMAL(14,2)); UnmappableRow when it is not a non-negative amount."""
    if raw is None or isinstance(raw, Decimal):
        value = raw
    else:
        given = text(raw)
        if given is None:
            return None
        try:
            value = Decimal(given.replace(",", ""))
        except InvalidOperation as exc:
            raise UnmappableRow(f"SJJE: not an amount ({given!r})", field="SJJE") from exc
    if value is not None and (not value.is_finite() or value < 0):
        raise UnmappableRow(f"SJJE: not an amount ({value})", field="SJJE")
    return value


def content_of(row: Mapping[str, Any]) -> str | None:
    """The published content besides the reason: the amount involved (涉及金额), in 元 as listed."""
    amount = amount_yuan(row.get("SJJE"))
    return None if amount is None else f"涉及金额{amount.quantize(Decimal('0.01'))}元"


def subject(row: Mapping[str, Any]) -> tuple[SubjectType, str | None, bool | None]:
    kind = text(row.get("DXLX"))
    if kind not in SUBJECT_TYPES:
        raise UnmappableRow(f"DXLX: unknown value {kind!r} (1 用人单位, 2 责任人员)", field="DXLX")
    if kind == PERSON:
        if text(row.get("TYSHXYDM")) is not None:
            raise UnmappableRow("TYSHXYDM: a responsible person (DXLX 2) has no 统一社会信用代码", field="TYSHXYDM")
        id_number = text(row.get("ZJHM"))
        if id_number is not None and is_id_number(id_number.upper()):
            # Never kept, never passed on: the department must mask it (as it does for every row).
            raise UnmappableRow("ZJHM: a whole ID number; the 前置库 takes them masked only", field="ZJHM")
        return SubjectType.NATURAL_PERSON, None, None
    code_ = parse_uscc(row.get("TYSHXYDM"), field="TYSHXYDM")
    return SubjectType.LEGAL_ENTITY, code_.code, code_.checksum_ok


def _masked_id(row: Mapping[str, Any]) -> str | None:
    """A person's ZJHM when masked (a whole one is refused in subject()); anything else is not kept."""
    id_number = text(row.get("ZJHM"))
    return id_number if id_number is not None and "*" in id_number else None


def facts_of(row: Mapping[str, Any]) -> RecordFacts:
    subject_type, subject_code, checksum_ok = subject(row)
    authority_name = _required(row, "RDBM")
    listed_on = _date(row, "LRRQ")
    if listed_on is None:
        raise UnmappableRow("LRRQ is required", field="LRRQ")
    last_day = _date(row, "LRQX")
    if last_day is None:
        raise UnmappableRow("LRQX is required", field="LRQX")
    if last_day < listed_on:
        raise UnmappableRow(f"LRQX: the listing ends ({last_day}) before it starts ({listed_on})", field="LRQX")
    return RecordFacts(
        category=Category.WAGE_ARREARS,
        authority_name=authority_name,
        authority_code=code(row.get("RDBMDM")) or authority_name,
        document_number=f"{_required(row, 'RDWSH')}{OBJECT_SEPARATOR}{_required(row, NATIVE_ID_FIELD)}",
        authority_domain=AuthorityDomain.OTHER,
        subject_name=_required(row, "DXMC"),
        subject_type=subject_type,
        subject_code=subject_code,
        subject_code_checksum_ok=checksum_ok,
        # As the department masked it, to be mirrored masked (信用中国 MD_ZJHM; ADR 0028).
        subject_id_masked=_masked_id(row) if subject_type is SubjectType.NATURAL_PERSON else None,
        decision_date=listed_on,
        violation=_required(row, "LRSY"),
        content=content_of(row),
    )


def state_of(row: Mapping[str, Any]) -> TargetState:
    operation = (text(row.get("CZBZ")) or "").lower()
    if operation in (LISTED, CHANGED):
        return PUBLISHED
    if operation != REMOVED:
        raise UnmappableRow(f"CZBZ: unknown operation {operation!r} (i, u, d)", field="CZBZ")
    kind = text(row.get("YCLX"))
    if kind is not None and kind not in STOP_REASON_BY_YCLX:
        raise UnmappableRow(f"YCLX: unknown removal type {kind!r} (01 期满, 02 提前移出)", field="YCLX")
    reason = STOP_REASON_BY_YCLX[kind] if kind is not None else StopReason.REMOVED
    return stopped(reason, _date(row, "YCRQ"))


class HrssMapping:
    """SystemMapping for the HR department's 前置库 (read only)."""

    system = System.HRSS.value

    def to_observation(self, change: NativeChange) -> Observation:
        row = change.row
        facts = facts_of(row)
        target = state_of(row)
        return Observation(
            source=self.system,
            facts=facts,
            target=target,
            changed_at=change.changed_at,
            source_version=change.source_version,
            native_id=change.native_id,
            decided_on=target.on,
        )

    def to_write(
        self,
        facts: RecordFacts,
        target: TargetState,
        *,
        idempotency_key: str,
        decided_at: datetime | None = None,
    ) -> NativeWrite:
        raise NotWritable("省人社厅 decides and removes this list itself; the gateway only reads its 前置库")
