"""重大税收违法失信主体 rows (省税务局) → canonical facts and state (docs/protocols.md §7).

Identity: 税务机关 (`swjg_mc`; the row has no authority code, so its name) + 确定文书文号
(`qdwsh`), normalised. The subject is the taxpayer: `tax_no` is a 统一社会信用代码 (any case, folded)
or an old 15-digit 纳税人识别号, which is no USCC and is not carried as one (subject_code None).
The legal representative's ID number (`legal_repre_id`) is published with the birth date masked;
the canonical model has no field for it, so it is not carried.

State: `remove_tm` empty → published; set → stopped on that day. The bureau records no reason, so
an early stop (tax paid in full) and the end of publication look alike: REMOVED, unless the date
proves the end of the period — publication stops 3 years after `entry_tm` (国家税务总局令第54号),
so a removal on or after that day is EXPIRED.

Read-only: the bureau decides and removes in its own system; nothing is written to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from gateway.contract import NativeChange, NativeWrite, UnmappableRow
from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.domain.plan import Observation
from mappings.transforms import FieldTable, NotWritable, parse_uscc, read_fields, require, stop_date, text

KIND_FIELD = ""  # the bureau's rows name no kind: it has one list
PERSONAL_ID_FIELDS = ("legal_repre_id",)
KEY_FIELDS = ("tax_no", "qdwsh")  # the list's own key: the adapter names rows by it
PUBLICATION_YEARS = 3

FIELDS: FieldTable = (
    ("subject_name", "tax_nm", "text"),
    ("authority_name", "swjg_mc", "text"),
    ("authority_code", "swjg_mc", "code"),
    ("document_number", "qdwsh", "text"),
    ("violation", "case_nature", "text"),
    ("content", "main_illg_fact", "text"),
    ("legal_basis", "punish_basis", "text"),
    # 列入日期: the day the subject was entered on the list and published, the period's start.
    ("decision_date", "entry_tm", "date_dash"),
    ("publication_date", "entry_tm", "date_dash"),
)
REQUIRED = {
    "subject_name": "tax_nm",
    "authority_name": "swjg_mc",
    "document_number": "qdwsh",
    "decision_date": "entry_tm",
}
TAX_NO = "tax_no"
REMOVED_ON = "remove_tm"
_OLD_TAX_NO_LENGTH = 15


def subject_of(row: Mapping[str, Any]) -> tuple[SubjectType, str | None, bool | None]:
    number = text(row.get(TAX_NO))
    if number is None:
        raise UnmappableRow(f"{TAX_NO} is required", field=TAX_NO)
    if len(number) == _OLD_TAX_NO_LENGTH and number.isdigit():
        return SubjectType.LEGAL_ENTITY, None, None  # an old-style number: no USCC to carry
    subject = parse_uscc(number, field=TAX_NO)
    # 个体工商户 have codes of registration authority 9, kind 2 (GB 32100-2015).
    kind = SubjectType.INDIVIDUAL_BUSINESS if (subject.code or "").startswith("92") else SubjectType.LEGAL_ENTITY
    return kind, subject.code, subject.checksum_ok


def facts_of(row: Mapping[str, Any]) -> RecordFacts:
    values = read_fields(row, FIELDS)
    require(values, REQUIRED)
    subject_type, subject_code, checksum_ok = subject_of(row)
    return RecordFacts(
        category=Category.TAX_MAJOR_VIOLATION,
        authority_domain=AuthorityDomain.OTHER,
        subject_type=subject_type,
        subject_code=subject_code,
        subject_code_checksum_ok=checksum_ok,
        **values,
    )


def period_end(entered: date) -> date:
    try:
        return entered.replace(year=entered.year + PUBLICATION_YEARS)
    except ValueError:  # 29 February
        return entered.replace(year=entered.year + PUBLICATION_YEARS, day=28)


def state_of(row: Mapping[str, Any], facts: RecordFacts) -> tuple[TargetState, date | None]:
    removed = stop_date(row, REMOVED_ON)
    if removed is None:
        return PUBLISHED, None
    entered = facts.decision_date
    if entered is not None and removed < entered:
        raise UnmappableRow(f"{REMOVED_ON} {removed.isoformat()} is before entry_tm", field=REMOVED_ON)
    if entered is not None and removed >= period_end(entered):
        return stopped(StopReason.EXPIRED, removed), removed
    return stopped(StopReason.REMOVED, removed), removed


class TaxMapping:
    """SystemMapping for the tax bureau's 重大税收违法失信主体 list (read-only)."""

    system = System.TAX.value

    def to_observation(self, change: NativeChange) -> Observation | None:
        facts = facts_of(change.row)
        target, on = state_of(change.row, facts)
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
        raise NotWritable("the tax list is read-only for the gateway: the bureau removes in its own system")
