"""安全生产严重失信主体 rows (省应急厅) → canonical facts and state (docs/protocols.md §9).

Identity: 认定机关 (`rdjgdm`, its code; `rdjg`, its name, where a row has no code) + 处罚决定书文号
(`cfjdswh`), normalised. `ztlx` 1 (生产经营单位) and 2 (安全评价检测检验机构) are units with a
统一社会信用代码 (any case, folded); 3 (机构从业人员) is a person, whose ID number (`zjhm`) is
published masked and is carried exactly so (`subject_id_masked`, mirrored masked; ADR 0028).

State by `zt`: 10 列入 and 30 (an early removal revoked: listed again) → published; 21 期满移出 →
expired, 22 提前移出 → removed, each on `ycrq`. `ycyy` may be empty: a removal without a reason is
still a removal. A removal without `ycrq`, or an unknown `zt`, is unmappable (quarantine).

Read-only: the department decides and removes in its own system; nothing is written to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from gateway.contract import NativeChange, NativeWrite, UnmappableRow
from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.domain.plan import Observation
from mappings.transforms import (
    FieldTable,
    NotWritable,
    code,
    masked_id,
    parse_uscc,
    read_fields,
    require,
    stop_date,
    text,
)

KIND_FIELD = ""  # the department's rows name no kind: it has one list
PERSONAL_ID_FIELDS = ("zjhm",)

FIELDS: FieldTable = (
    ("subject_name", "dwmc", "text"),
    ("authority_name", "rdjg", "text"),
    ("document_number", "cfjdswh", "text"),
    ("violation", "sxxwjk", "text"),
    ("legal_basis", "lryj", "text"),
    # 列入日期: the listing decision's day, from which 管理期限 runs.
    ("decision_date", "lrrq", "date_slash"),
    ("publication_date", "lrrq", "date_slash"),
)
REQUIRED = {
    "subject_name": "dwmc",
    "authority_name": "rdjg",
    "document_number": "cfjdswh",
    "decision_date": "lrrq",
}
AUTHORITY_CODE, AUTHORITY_NAME = "rdjgdm", "rdjg"
SUBJECT_KIND, SUBJECT_CODE = "ztlx", "tyshxydm"
UNIT_KINDS = frozenset({"1", "2"})
PERSON_KIND = "3"
STATE, REMOVED_ON = "zt", "ycrq"
LISTED, EXPIRED, REMOVED_EARLY, RESTORED = "10", "21", "22", "30"


def masked_id_of(row: Mapping[str, Any], subject_type: SubjectType) -> str | None:
    """A person's ID number as the source masked it (mirrored masked on 信用中国; an unmasked one
    is refused to the quarantine). Units have none."""
    if subject_type is not SubjectType.NATURAL_PERSON:
        return None
    return masked_id(row.get(PERSONAL_ID_FIELDS[0]), field=PERSONAL_ID_FIELDS[0])


def subject_of(row: Mapping[str, Any]) -> tuple[SubjectType, str | None, bool | None]:
    kind = text(row.get(SUBJECT_KIND))
    if kind == PERSON_KIND:
        return SubjectType.NATURAL_PERSON, None, None
    if kind not in UNIT_KINDS:
        raise UnmappableRow(f"{SUBJECT_KIND}: unknown value {kind!r}", field=SUBJECT_KIND)
    subject = parse_uscc(row.get(SUBJECT_CODE), field=SUBJECT_CODE)
    if subject.code is None:
        raise UnmappableRow(f"{SUBJECT_CODE} is required for a unit", field=SUBJECT_CODE)
    return SubjectType.LEGAL_ENTITY, subject.code, subject.checksum_ok


def facts_of(row: Mapping[str, Any]) -> RecordFacts:
    values = read_fields(row, FIELDS)
    require(values, REQUIRED)
    values["authority_code"] = code(row.get(AUTHORITY_CODE)) or code(row.get(AUTHORITY_NAME))
    subject_type, subject_code, checksum_ok = subject_of(row)
    return RecordFacts(
        category=Category.WORK_SAFETY,
        authority_domain=AuthorityDomain.OTHER,
        subject_type=subject_type,
        subject_code=subject_code,
        subject_code_checksum_ok=checksum_ok,
        subject_id_masked=masked_id_of(row, subject_type),
        **values,
    )


def state_of(row: Mapping[str, Any]) -> tuple[TargetState, date | None]:
    state = text(row.get(STATE))
    if state in (LISTED, RESTORED):
        return PUBLISHED, None
    if state not in (EXPIRED, REMOVED_EARLY):
        raise UnmappableRow(f"{STATE}: unknown value {state!r}", field=STATE)
    on = stop_date(row, REMOVED_ON)
    if on is None:
        raise UnmappableRow(f"{REMOVED_ON} is required with zt {state}", field=REMOVED_ON)
    reason = StopReason.EXPIRED if state == EXPIRED else StopReason.REMOVED
    return stopped(reason, on), on


class EmergencyMapping:
    """SystemMapping for the emergency-management department's list (read-only)."""

    system = System.EMERGENCY.value

    def to_observation(self, change: NativeChange) -> Observation | None:
        facts = facts_of(change.row)
        target, on = state_of(change.row)
        return Observation(
            source=self.system,
            facts=facts,
            target=target,
            changed_at=change.changed_at,
            source_version=change.source_version,
            native_id=change.native_id,
            decided_on=on,
        )

    def to_write(
        self,
        facts: RecordFacts,
        target: TargetState,
        *,
        idempotency_key: str,
        decided_at: datetime | None = None,
    ) -> NativeWrite:
        raise NotWritable("the emergency list is read-only for the gateway: the department removes in its own system")
