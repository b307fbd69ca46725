"""失信被执行人 rows (省法院) → canonical facts and state (docs/protocols.md §6a, domain.md §4).

Identity: 执行法院 (`executed_court`, as authority name and code: the court's list is keyed by
案号 + 执行法院, and its `fydm` is an optional internal code) + 案号 (`case_no`), normalised (some
clerks type full-width digits and brackets). A natural person's ID number (`identi_id`) is
published masked and is carried exactly so (`subject_id_masked`, mirrored masked on 信用中国; ADR
0028): never unmasked, never logged (it is in PERSONAL_ID_FIELDS for the transport's excerpts).

State: a row in the feed or the listing is published. A removal is a deletion (the `DELETE` item,
given by the adapter as the row plus `action`, `deleteDate`, `deleteReason`, `expired`):
`deleteReason` 7 (失信期限届满) or `expired` true is the end of the period (EXPIRED), every other
reason — and a deletion without one (null) — is a removal (REMOVED), never a guessed reason.

Read-only: the court decides and deletes in its own system; nothing is written to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from gateway.contract import NativeChange, NativeWrite, UnmappableRow
from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.domain.plan import Observation
from mappings.transforms import FieldTable, NotWritable, masked_id, parse_uscc, read_fields, require, stop_date, text

KIND_FIELD = ""  # the court's rows name no kind: it has one list
PERSONAL_ID_FIELDS = ("identi_id",)
NATIVE_ID_FIELD = "dishonest_id"

FIELDS: FieldTable = (
    ("subject_name", "executed_nm", "text"),
    ("authority_name", "executed_court", "text"),
    ("authority_code", "executed_court", "code"),
    ("document_number", "case_no", "text"),
    ("violation", "dishonest_behav", "text"),
    ("content", "effect_doc_obli", "text"),
    # 发布时间: the day the court listed the subject, from which its period runs.
    ("decision_date", "publish_dt", "date_dash"),
    ("publication_date", "publish_dt", "date_dash"),
)
REQUIRED = {
    "subject_name": "executed_nm",
    "authority_name": "executed_court",
    "document_number": "case_no",
    "decision_date": "publish_dt",
}
SUBJECT_CODE = "uni_social_crd_cd"
NATURE = "executed_nature"
NATURAL_PERSON = "自然人"
ORGANISATION = "法人或其他组织"

# The feed's deletion members (the adapter adds them to a DELETE item's row).
ACTION, DELETE = "action", "DELETE"
DELETE_DATE, DELETE_REASON, EXPIRED_FLAG = "deleteDate", "deleteReason", "expired"
# 删除原因 1–7 (§6a); 7 is 失信期限届满.
DELETE_REASONS = frozenset("1234567")
PERIOD_OVER = "7"


def masked_id_of(row: Mapping[str, Any], subject_type: SubjectType) -> str | None:
    """A person's ID number as the source masked it (mirrored masked on 信用中国; an unmasked one
    is refused to the quarantine). Units have none."""
    if subject_type is not SubjectType.NATURAL_PERSON:
        return None
    return masked_id(row.get(PERSONAL_ID_FIELDS[0]), field=PERSONAL_ID_FIELDS[0])


def subject_of(row: Mapping[str, Any]) -> tuple[SubjectType, str | None, bool | None]:
    nature = text(row.get(NATURE))
    if nature == NATURAL_PERSON:
        return SubjectType.NATURAL_PERSON, None, None
    if nature != ORGANISATION:
        raise UnmappableRow(f"{NATURE}: unknown value {nature!r}", field=NATURE)
    subject = parse_uscc(row.get(SUBJECT_CODE), field=SUBJECT_CODE)  # lower case is folded
    return SubjectType.LEGAL_ENTITY, subject.code, subject.checksum_ok


def facts_of(row: Mapping[str, Any]) -> RecordFacts:
    values = read_fields(row, FIELDS)
    require(values, REQUIRED)
    subject_type, subject_code, checksum_ok = subject_of(row)
    return RecordFacts(
        category=Category.COURT_DISHONEST,
        authority_domain=AuthorityDomain.OTHER,
        subject_type=subject_type,
        subject_code=subject_code,
        subject_code_checksum_ok=checksum_ok,
        subject_id_masked=masked_id_of(row, subject_type),
        **values,
    )


def state_of(row: Mapping[str, Any]) -> tuple[TargetState, str | None, date | None]:
    """(state, the court's 删除原因 code or None, the deletion day or None)."""
    action = text(row.get(ACTION))
    if action is None:
        return PUBLISHED, None, None
    if action != DELETE:
        raise UnmappableRow(f"{ACTION}: unknown value {action!r}", field=ACTION)
    on = stop_date(row, DELETE_DATE)
    if on is None:
        raise UnmappableRow(f"{DELETE_DATE} is required with a deletion", field=DELETE_DATE)
    reason = text(row.get(DELETE_REASON))
    if reason is not None and reason not in DELETE_REASONS:
        raise UnmappableRow(f"{DELETE_REASON}: unknown 删除原因 {reason!r}", field=DELETE_REASON)
    expired = row.get(EXPIRED_FLAG)
    if expired not in (True, False, None):
        raise UnmappableRow(f"{EXPIRED_FLAG}: not a boolean: {expired!r}", field=EXPIRED_FLAG)
    if reason is not None and (reason == PERIOD_OVER) != bool(expired) and expired is not None:
        # The court says both "period over" and another reason (or the reverse): not ours to pick.
        raise UnmappableRow(f"{DELETE_REASON} {reason} contradicts {EXPIRED_FLAG}={expired}", field=DELETE_REASON)
    if reason == PERIOD_OVER or expired is True:
        return stopped(StopReason.EXPIRED, on), reason, on
    return stopped(StopReason.REMOVED, on), reason, on


class CourtMapping:
    """SystemMapping for the court's 失信被执行人 list (read-only)."""

    system = System.COURT.value

    def to_observation(self, change: NativeChange) -> Observation | None:
        facts = facts_of(change.row)
        target, reason, on = state_of(change.row)
        return Observation(
            source=self.system,
            facts=facts,
            target=target,
            changed_at=change.changed_at,
            source_version=change.source_version,
            native_id=change.native_id,
            removal_reason=reason,
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
        raise NotWritable("the court's list is read-only for the gateway: the court deletes in its own system")
