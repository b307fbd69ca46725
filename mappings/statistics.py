"""省统计局 统计严重失信企业 rows ⇄ canonical facts and state (docs/protocols.md §10, lists.md §4).

The bureau decides and publishes; the gateway only reads its snapshots (谁认定、谁修复), so there
is no `to_write` row: `to_write` raises NotWritable.

- Identity: (认定机关, 认定文书编号). The row has no authority code, so the authority's name stands
  as its code (lists-common §2); one 认定文书 names one enterprise.
- State: `公示中` → published; `已移出` → stopped on 移出日期, EXPIRED when the 移出原因 is the
  bureau's `公示期满`, else REMOVED (an empty reason included: never a guessed reason).
- A key **absent** from a later snapshot (adapters/filedrop.py marks the last row with
  `ABSENT_FROM`): a removed row whose 30-day tail ended keeps its removal; a row still `公示中` in
  the last snapshot was removed without the file saying why or when: REMOVED, no date — unless the
  snapshot is past the row's own 公示截止日期, which proves expiry (EXPIRED the day after it).
- Not carried by the canonical model: 法定代表人, 企业地址, 公示截止日期 (the period is the rules'
  business, gateway/domain/rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from gateway.contract import NativeChange, NativeWrite, UnmappableRow
from gateway.domain.beijing import BEIJING
from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.domain.plan import Observation
from gateway.filedrop import ABSENT_FROM, FILE_INCIDENT_KIND, incident_message
from mappings.transforms import FieldTable, NotWritable, list_date_of, parse_uscc, read_fields, require, text

LIST_KIND = "统计严重失信企业名单"  # the template's only sheet: every row is of this kind
KIND_FIELD = ""  # the rows name no kind: there is one list
KEY_FIELDS = ("统一社会信用代码", "认定文书编号")  # the bureau's key of a row (the adapter's snapshot key)
PERSONAL_ID_FIELDS: tuple[str, ...] = ()  # only the 法定代表人's name is published (lists.md §4)

FIELDS: FieldTable = (
    ("subject_name", "企业名称", "text"),
    ("authority_name", "认定机关", "text"),
    ("document_number", "认定文书编号", "text"),
    ("violation", "统计严重失信行为", "text"),
    ("content", "处理处罚情况", "text"),
)
REQUIRED = {"subject_name": "企业名称", "authority_name": "认定机关", "document_number": "认定文书编号"}
SUBJECT_CODE = "统一社会信用代码"
STATE = "状态"
LISTED, REMOVED = "公示中", "已移出"
EXPIRY_REASON = "公示期满"  # the bureau's 移出原因 when the publication period ran out


def facts_of(row: Mapping[str, Any]) -> RecordFacts:
    values = read_fields(row, FIELDS)
    require(values, REQUIRED)
    subject = parse_uscc(row.get(SUBJECT_CODE), field=SUBJECT_CODE)
    if subject.code is None:
        raise UnmappableRow(f"{SUBJECT_CODE} is required (the list names enterprises)", field=SUBJECT_CODE)
    return RecordFacts(
        category=Category.STATISTICS_SERIOUS,
        authority_domain=AuthorityDomain.OTHER,
        subject_type=SubjectType.LEGAL_ENTITY,  # 35号令 art. 2: enterprises only
        subject_code=subject.code,
        subject_code_checksum_ok=subject.checksum_ok,
        authority_code=values["authority_name"],
        decision_date=list_date_of(row, "认定日期"),
        **values,
    )


def state_of(row: Mapping[str, Any], snapshot_day: date) -> TargetState:
    state = text(row.get(STATE))
    if state == REMOVED:
        on = list_date_of(row, "移出日期")
        if on is None:
            raise UnmappableRow("移出日期 is required when 状态 is 已移出", field="移出日期")
        reason = StopReason.EXPIRED if text(row.get("移出原因")) == EXPIRY_REASON else StopReason.REMOVED
        return stopped(reason, on)
    if state != LISTED:
        raise UnmappableRow(f"{STATE}: unknown value {state!r} (公示中 or 已移出)", field=STATE)
    if not row.get(ABSENT_FROM):
        return PUBLISHED
    # Listed in the last snapshot, absent from this one: the file says neither why nor when.
    end = list_date_of(row, "公示截止日期")
    if end is not None and end < snapshot_day:
        return stopped(StopReason.EXPIRED, end + timedelta(days=1))  # the period had run out
    return stopped(StopReason.REMOVED)


class StatisticsMapping:
    """SystemMapping for the statistics bureau's list (read only)."""

    system = System.STATISTICS.value

    def to_observation(self, change: NativeChange) -> Observation | None:
        if change.kind == FILE_INCIDENT_KIND:
            raise UnmappableRow(incident_message(change.row), field="file")
        row = change.row
        facts = facts_of(row)
        target = state_of(row, change.changed_at.astimezone(BEIJING).date())
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
        raise NotWritable("the statistics bureau decides and publishes its list itself; the gateway never writes it")
