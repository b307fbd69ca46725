"""省民政厅 社会组织 lists ⇄ canonical facts and state (docs/protocols.md §11, lists.md §5).

The department's CSV carries two lists, told apart by 名单类型. Only the **严重违法失信名单** is one
of the nine categories (SOCIAL_ORG_SERIOUS, seed 附件1); the **活动异常名录** is not: its rows are
not tracked (`to_observation` → None, counted `untracked` by the poller), like GSXT rows not yet
audited. An escalation from the 异常名录 is a new serious-list record (its own 文号), not a change
of the 异常名录 row. The department decides and publishes itself: `to_write` raises NotWritable.

- Identity: (作出决定机关, 列入决定书文号); the row has no authority code, so the name stands as it.
- State: `在列` → published; `已移出` → stopped on 移出日期, EXPIRED when the 移出事由 is the
  department's `届满2年未再违法` (the period ran out), else REMOVED (an empty reason included).
- A key **absent** from a later snapshot while still `在列` in the last one: REMOVED with no date.
  The file has no end-date column and the 2-year period is unverified (lists.md §5 [R]), so no date
  proves expiry here. A removed row whose 30-day tail ended keeps its removal.
- GB18030-only characters (𠮷, 䶮) are plain text here: the adapter decoded the file.
- Not carried by the canonical model: 登记管理机关, 移出决定机关.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.contract import NativeChange, NativeWrite, UnmappableRow
from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.domain.plan import Observation
from gateway.filedrop import ABSENT_FROM, FILE_INCIDENT_KIND, incident_message
from mappings.transforms import FieldTable, NotWritable, list_date_of, parse_uscc, read_fields, require, text

KIND_FIELD = "名单类型"  # the row member naming its list (the adapter's kind, the listing's kind)
SERIOUS_LIST = "严重违法失信名单"
ABNORMAL_LIST = "活动异常名录"
LIST_KINDS = (SERIOUS_LIST, ABNORMAL_LIST)
KEY_FIELDS = ("统一社会信用代码", "列入决定书文号")  # the department's key of a row
PERSONAL_ID_FIELDS: tuple[str, ...] = ()  # organisations only (lists.md §5)

FIELDS: FieldTable = (
    ("subject_name", "社会组织名称", "text"),
    ("authority_name", "作出决定机关", "text"),
    ("document_number", "列入决定书文号", "text"),
    ("violation", "列入事由", "text"),
)
REQUIRED = {"subject_name": "社会组织名称", "authority_name": "作出决定机关", "document_number": "列入决定书文号"}
SUBJECT_CODE = "统一社会信用代码"
STATE = "状态"
LISTED, REMOVED = "在列", "已移出"
EXPIRY_REASONS = frozenset({"届满2年未再违法"})  # 移出事由 when the two years ran out


def facts_of(row: Mapping[str, Any]) -> RecordFacts:
    values = read_fields(row, FIELDS)
    require(values, REQUIRED)
    subject = parse_uscc(row.get(SUBJECT_CODE), field=SUBJECT_CODE)
    if subject.code is None:
        raise UnmappableRow(f"{SUBJECT_CODE} is required (the list names registered organisations)", field=SUBJECT_CODE)
    return RecordFacts(
        category=Category.SOCIAL_ORG_SERIOUS,
        authority_domain=AuthorityDomain.OTHER,
        subject_type=SubjectType.LEGAL_ENTITY,  # 社会组织: 法人及非法人组织
        subject_code=subject.code,
        subject_code_checksum_ok=subject.checksum_ok,
        authority_code=values["authority_name"],
        decision_date=list_date_of(row, "列入日期"),
        **values,
    )


def state_of(row: Mapping[str, Any]) -> TargetState:
    state = text(row.get(STATE))
    if state == REMOVED:
        on = list_date_of(row, "移出日期")
        if on is None:
            raise UnmappableRow("移出日期 is required when 状态 is 已移出", field="移出日期")
        reason = StopReason.EXPIRED if text(row.get("移出事由")) in EXPIRY_REASONS else StopReason.REMOVED
        return stopped(reason, on)
    if state != LISTED:
        raise UnmappableRow(f"{STATE}: unknown value {state!r} (在列 or 已移出)", field=STATE)
    if row.get(ABSENT_FROM):
        return stopped(StopReason.REMOVED)  # gone from the file without a word of why or when
    return PUBLISHED


class CivilAffairsMapping:
    """SystemMapping for the civil-affairs department's lists (read only)."""

    system = System.CIVIL_AFFAIRS.value

    def to_observation(self, change: NativeChange) -> Observation | None:
        if change.kind == FILE_INCIDENT_KIND:
            raise UnmappableRow(incident_message(change.row), field="file")
        row = change.row
        kind = text(row.get(KIND_FIELD))
        if kind == ABNORMAL_LIST:
            return None  # not one of the nine categories: not tracked
        if kind != SERIOUS_LIST:
            raise UnmappableRow(f"{KIND_FIELD}: unknown list {kind!r} ({' or '.join(LIST_KINDS)})", field=KIND_FIELD)
        facts = facts_of(row)
        target = state_of(row)
        return Observation(
            source=self.system,
            facts=facts,
            target=target,
            changed_at=change.changed_at,
            source_version=change.source_version,
            native_id=change.native_id,
            decided_on=target.on if target.reason is not None else None,
        )

    def to_write(
        self,
        facts: RecordFacts,
        target: TargetState,
        *,
        idempotency_key: str,
        decided_at: datetime | None = None,
    ) -> NativeWrite:
        raise NotWritable(
            "the civil-affairs department decides and publishes its lists itself; the gateway never writes them"
        )
