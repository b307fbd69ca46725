"""信用中国（甘肃） rows ⇄ canonical facts and state (docs/protocols.md §1, domain.md §2).

Three row types come out of the pull: `CF` penalties, in either the current 双公示 generation or the
legacy v1 generation (old front-end imports), `YC` abnormal-list rows, and `MD` list entries (the
seven lists 信用中国 mirrors from their owners: the six list authorities and GSXT's 严重违法失信名单).
Both penalty generations are read; the current generation is always written.

An `MD` row carries its owner's identity verbatim: `MD_JLBH` is the record's document number as the
owner's mapping made it (案号, 确定文书文号, `RDWSH#DXBH`, …) and `MD_RDJGDM` its authority code (a
统一社会信用代码, a 法院代码, or the authority's name where the owner names it only), so the mirror's
row maps to the same RecordIdentity as the owner's.

What a round trip through this system cannot carry (to_observation(to_write(facts)) loses it):
- `publication_date`: 信用中国 has no publication-date column (its period counts from CF_JDRQ);
- `severity` on legacy rows (v1 has no 失信程度 column; current rows carry it in CF_SXCD, empty
  until the sector classifies the record), and `domain_flags`: never guessed (the sector is
  derived from the legal basis, gateway/domain/rules/sectors.py);
- `stand_ins`: a legacy row's 事由 standing in for the violation is written to CF_WFXW, where it
  reads back as the violation itself;
- `authority_domain`: not a column; re-derived from the authority name (classify_authority), so a
  market-regulation authority whose name carries none of the markers comes back as OTHER;
- on `YC` rows: penalty kinds, amounts and content (the row has no such columns);
- on `CF` rows: `listing_cause`;
- the subject code of a natural person (never read: that column may hold an ID number there);
- on `MD` rows: penalty kinds, amounts, content, listing cause, publication date, severity, and the
  owner's removal reason text (`MD_YCYY`: the canonical state carries the removal, not its wording);
  `MD_WSH` is written (the decision's number: `MD_JLBH` up to a `#`) but not read back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import date, datetime
from typing import Any

from gateway.contract import NativeChange, NativeWrite, UnmappableRow
from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System, classify_authority
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.domain.plan import Observation
from mappings.transforms import (
    FieldTable,
    NotWritable,
    beijing_today,
    format_slash_date,
    format_uscc,
    masked_id,
    parse_uscc,
    read_fields,
    reported_day,
    require,
    split_kinds,
    stop_date,
    stop_day,
    text,
    write_fields,
)

ROWTYPE_PENALTY = "CF"
ROWTYPE_ABNORMAL = "YC"
ROWTYPE_LIST = "MD"
# Columns holding personal ID numbers: never shown in logs or dead letters (the connector gives
# them to the adapter, which scrubs them from answer excerpts).
PERSONAL_ID_FIELDS = ("CF_XDR_ZJHM", "CF_FR_ZJHM", "CF_XDR_SFZ", "MD_ZJHM")
KIND_FIELD = "ROWTYPE"  # the column naming a row's kind (CF, YC, …)

# Current 双公示 generation. The subject code (CF_XDR_SHXYM) is handled beside the table: its
# reading depends on the subject type and yields two canonical fields (code, checksum flag).
PENALTY_FIELDS: FieldTable = (
    ("subject_name", "CF_XDR_MC", "text"),
    ("subject_type", "CF_XDR_LB", "subject_type"),
    ("document_number", "CF_WSH", "text"),
    ("violation", "CF_WFXW", "text"),
    ("legal_basis", "CF_YJ", "text"),
    ("penalty_kinds", "CF_CFLB", "kinds"),
    ("content", "CF_NR", "text"),
    ("fine_wan_yuan", "CF_NR_FK", "wan_yuan"),
    ("confiscation_wan_yuan", "CF_NR_WFFF", "wan_yuan"),
    ("decision_date", "CF_JDRQ", "date_slash"),
    ("authority_name", "CF_CFJG", "text"),
    ("authority_code", "CF_CFJGDM", "code"),
    ("severity", "CF_SXCD", "severity"),  # Order 36 tier; empty: not classified yet (never guessed)
)
PENALTY_REQUIRED = {
    "subject_name": "CF_XDR_MC",
    "subject_type": "CF_XDR_LB",
    "document_number": "CF_WSH",
    "authority_name": "CF_CFJG",
    "authority_code": "CF_CFJGDM",
}
PENALTY_SUBJECT_CODE = "CF_XDR_SHXYM"

# Legacy v1 generation (domain.md §2.2): read only. CF_CFLB1 + CF_CFLB2 become the kinds beside
# the table; CF_FR (法定代表人) and CF_XDR_ZDM are not part of the canonical facts. v1 has no
# 违法行为类型 column: its 事由 (CF_SY) is the nearest statement of the violation, and GSXT
# requires one (illegActType) for every collected penalty the gateway writes there.
LEGACY_PENALTY_FIELDS: FieldTable = (
    ("subject_name", "CF_XDR_MC", "text"),
    ("document_number", "CF_WSH", "text"),
    ("violation", "CF_SY", "text"),
    ("legal_basis", "CF_YJ", "text"),
    ("content", "CF_JG", "text"),
    ("decision_date", "CF_JDRQ", "date_slash"),
    ("authority_name", "CF_XZJG", "text"),
    ("authority_code", "CF_XZJGDM", "code"),
)
LEGACY_PENALTY_REQUIRED = {
    "subject_name": "CF_XDR_MC",
    "document_number": "CF_WSH",
    "authority_name": "CF_XZJG",
    "authority_code": "CF_XZJGDM",
}
LEGACY_KIND_COLUMNS = ("CF_CFLB1", "CF_CFLB2")
_LEGACY_ONLY_COLUMNS = ("CF_XZJG", "CF_XZJGDM", "CF_CFLB1", "CF_CFLB2", "CF_JG", "CF_FR", "CF_CFMC")
_CURRENT_ONLY_COLUMNS = ("CF_XDR_LB", "CF_CFJG", "CF_CFJGDM", "CF_CFLB", "CF_NR", "CF_NR_FK", "CF_FRDB", "CF_SXCD")

ABNORMAL_FIELDS: FieldTable = (
    ("subject_name", "YC_QYMC", "text"),
    ("violation", "YC_LRYY", "text"),
    ("listing_cause", "YC_LRYYDM", "code"),
    ("decision_date", "YC_LRRQ", "date_slash"),
    ("authority_name", "YC_JDJG", "text"),
    ("authority_code", "YC_JDJGDM", "code"),
    ("document_number", "YC_WSH", "text"),
)
ABNORMAL_REQUIRED = {
    "subject_name": "YC_QYMC",
    "document_number": "YC_WSH",
    "authority_name": "YC_JDJG",
    "authority_code": "YC_JDJGDM",
}
ABNORMAL_SUBJECT_CODE = "YC_TYSHXYDM"

# List entries (docs/protocols.md §1 "List rows"). Identity columns are read as text, verbatim:
# RecordIdentity normalises them, and the owner's mapping chose their form.
LIST_FIELDS: FieldTable = (
    ("document_number", "MD_JLBH", "text"),
    ("subject_name", "MD_DXMC", "text"),
    ("subject_type", "MD_DXLB", "subject_type"),
    ("violation", "MD_LRYY", "text"),
    ("legal_basis", "MD_LRYJ", "text"),
    ("authority_name", "MD_RDJG", "text"),
    ("authority_code", "MD_RDJGDM", "text"),
    ("decision_date", "MD_LRRQ", "date_slash"),
)
LIST_REQUIRED = {
    "document_number": "MD_JLBH",
    "subject_name": "MD_DXMC",
    "subject_type": "MD_DXLB",
    "authority_name": "MD_RDJG",
    "authority_code": "MD_RDJGDM",
}
# The intake also requires 列入事由 and 列入日期 on a push (a row loaded by an operator may lack them).
LIST_WRITE_REQUIRED = {**LIST_REQUIRED, "violation": "MD_LRYY", "decision_date": "MD_LRRQ"}
LIST_SUBJECT_CODE = "MD_TYSHXYDM"
LIST_MASKED_ID = "MD_ZJHM"
LIST_DECISION_NUMBER = "MD_WSH"
LIST_REMOVAL_DATE = "MD_YCRQ"
LIST_REMOVAL_REASON = "MD_YCYY"
LIST_CATEGORY_COLUMN = "MD_MDLB"
# 名单类别 (MD_MDLB) of each list category. 经营异常名录 keeps its own row type (YC).
MDLB_BY_CATEGORY: Mapping[Category, str] = {
    Category.COURT_DISHONEST: "01",
    Category.TAX_MAJOR_VIOLATION: "02",
    Category.WAGE_ARREARS: "03",
    Category.WORK_SAFETY: "04",
    Category.STATISTICS_SERIOUS: "05",
    Category.SOCIAL_ORG_SERIOUS: "06",
    Category.SAMR_SERIOUS: "07",
}
CATEGORY_BY_MDLB: Mapping[str, Category] = {code: category for category, code in MDLB_BY_CATEGORY.items()}

# Status columns of all row kinds (protocols.md §1). ZZYY is the reason publicity ended.
STOP_REASON_BY_ZZYY = {
    "01": StopReason.REPAIRED,  # 信用修复
    "02": StopReason.EXPIRED,  # 公示期满
    "03": StopReason.WITHDRAWN,  # 决定撤销
    "04": StopReason.REMOVED,  # 移出名单
}
ZZYY_BY_STOP_REASON = {reason: zzyy for zzyy, reason in STOP_REASON_BY_ZZYY.items()}
CF_ZT_NORMAL = "0"
CF_ZT_REVOKED = "1"
CF_ZT_UNTRACKED = frozenset({"2", "3"})  # 异议, 其他: no canonical state
GSZT_PUBLISHED = "1"
GSZT_STOPPED = "0"


def _has_any(row: Mapping[str, Any], columns: tuple[str, ...]) -> bool:
    return any(text(row.get(column)) for column in columns)


def is_legacy(row: Mapping[str, Any]) -> bool:
    """A v1 row: legacy columns present, none of the columns only the current generation has."""
    return _has_any(row, _LEGACY_ONLY_COLUMNS) and not _has_any(row, _CURRENT_ONLY_COLUMNS)


def read_state(row: Mapping[str, Any]) -> TargetState | None:
    """published iff CF_ZT=0 and GSZT=1; CF_ZT=1 is a withdrawal whatever GSZT says; an ended
    publicity takes its reason from ZZYY. None for 异议/其他 while still shown: not a state the
    gateway tracks (it must neither publish nor stop anything because of it)."""
    cf_zt = text(row.get("CF_ZT")) or CF_ZT_NORMAL  # the intake normalises a missing status to 0
    gszt = text(row.get("GSZT"))
    if cf_zt == CF_ZT_REVOKED:
        return stopped(StopReason.WITHDRAWN, stop_date(row, "ZZRQ"))
    if cf_zt != CF_ZT_NORMAL and cf_zt not in CF_ZT_UNTRACKED:
        raise UnmappableRow(f"CF_ZT: unknown status {cf_zt!r}", field="CF_ZT")
    if gszt == GSZT_STOPPED:
        zzyy = text(row.get("ZZYY"))
        if zzyy not in STOP_REASON_BY_ZZYY:
            raise UnmappableRow(f"ZZYY: unknown 终止原因 {zzyy!r}", field="ZZYY")
        return stopped(STOP_REASON_BY_ZZYY[zzyy], stop_date(row, "ZZRQ"))
    if gszt != GSZT_PUBLISHED:
        raise UnmappableRow(f"GSZT: unknown status {gszt!r}", field="GSZT")
    return PUBLISHED if cf_zt == CF_ZT_NORMAL else None


def write_state(target: TargetState, *, stop_date: date) -> dict[str, Any]:
    """All four status columns, always: a push replaces the whole row, and a stale ZZYY/ZZRQ must
    not survive a restore. ZZRQ (终止日期) is required when GSZT=0: the caller passes the stop's own
    date (transforms.stop_day: the stopping system's stop date, else the decision's day)."""
    if target.reason is None:
        return {"CF_ZT": CF_ZT_NORMAL, "GSZT": GSZT_PUBLISHED, "ZZYY": "", "ZZRQ": ""}
    cf_zt = CF_ZT_REVOKED if target.reason is StopReason.WITHDRAWN else CF_ZT_NORMAL
    return {
        "CF_ZT": cf_zt,
        "GSZT": GSZT_STOPPED,
        "ZZYY": ZZYY_BY_STOP_REASON[target.reason],
        "ZZRQ": format_slash_date(stop_date) or "",
    }


def legacy_kinds(row: Mapping[str, Any]) -> tuple[str, ...]:
    """CF_CFLB1 then CF_CFLB2, each possibly holding several kinds, without repeats."""
    kinds = (kind for column in LEGACY_KIND_COLUMNS for kind in split_kinds(row.get(column)))
    return tuple(dict.fromkeys(kinds))


def legacy_subject_type(subject_code: str | None) -> SubjectType:
    """v1 rows have no 行政相对人类别. Without a code the subject is a natural person (they were
    identified by CF_XDR_SFZ). With one, GB 32100 positions 1–2 say which kind of registrant it is:
    `92` is an individual business registered by market regulation, everything else an
    organisation. This reads the code's structure; it is not a guess."""
    if subject_code is None:
        return SubjectType.NATURAL_PERSON
    if subject_code.startswith("92"):
        return SubjectType.INDIVIDUAL_BUSINESS
    return SubjectType.LEGAL_ENTITY


def penalty_facts(row: Mapping[str, Any]) -> RecordFacts:
    if is_legacy(row):
        values = read_fields(row, LEGACY_PENALTY_FIELDS)
        require(values, LEGACY_PENALTY_REQUIRED)
        values["penalty_kinds"] = legacy_kinds(row)
        if values.get("violation") is not None:
            values["stand_ins"] = frozenset({"violation"})  # 事由, not a 违法行为类型 (see LEGACY_PENALTY_FIELDS)
        subject = parse_uscc(row.get(PENALTY_SUBJECT_CODE), field=PENALTY_SUBJECT_CODE)
        values["subject_type"] = legacy_subject_type(subject.code)
    else:
        values = read_fields(row, PENALTY_FIELDS)
        require(values, PENALTY_REQUIRED)
        if values["subject_type"] is SubjectType.NATURAL_PERSON:
            # Whatever sits in the code column of a natural person is not a 统一社会信用代码 and
            # may be an ID number: keep it out of the canonical facts altogether.
            subject = parse_uscc(None, field=PENALTY_SUBJECT_CODE)
        else:
            subject = parse_uscc(row.get(PENALTY_SUBJECT_CODE), field=PENALTY_SUBJECT_CODE)
    return RecordFacts(
        category=Category.ADMIN_PENALTY,
        authority_domain=classify_authority(values["authority_name"]),
        subject_code=subject.code,
        subject_code_checksum_ok=subject.checksum_ok,
        **values,
    )


def abnormal_facts(row: Mapping[str, Any]) -> RecordFacts:
    values = read_fields(row, ABNORMAL_FIELDS)
    require(values, ABNORMAL_REQUIRED)
    subject = parse_uscc(row.get(ABNORMAL_SUBJECT_CODE), field=ABNORMAL_SUBJECT_CODE)
    return RecordFacts(
        category=Category.ABNORMAL_OPERATIONS,
        authority_domain=classify_authority(values["authority_name"]),
        # The 经营异常名录 lists enterprises and 农专社 only (domain.md §3.1).
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code=subject.code,
        subject_code_checksum_ok=subject.checksum_ok,
        **values,
    )


def is_masked(id_number: str) -> bool:
    """Masked as the owners mask (6201**********1234, 620502************): some digits starred. A
    value without a star is taken as whole, whether or not its check digit holds."""
    return "*" in id_number


def list_facts(row: Mapping[str, Any]) -> RecordFacts:
    mdlb = text(row.get(LIST_CATEGORY_COLUMN))
    if mdlb is None or mdlb not in CATEGORY_BY_MDLB:
        raise UnmappableRow(f"{LIST_CATEGORY_COLUMN}: unknown 名单类别 {mdlb!r}", field=LIST_CATEGORY_COLUMN)
    category = CATEGORY_BY_MDLB[mdlb]
    values = read_fields(row, LIST_FIELDS)
    require(values, LIST_REQUIRED)
    masked = None
    if values["subject_type"] is SubjectType.NATURAL_PERSON:
        # A person has no 统一社会信用代码; the ID number stays as the owner masked it. A full one
        # here would be a leak to contain, never to store or pass on.
        masked = masked_id(row.get(LIST_MASKED_ID), field=LIST_MASKED_ID)
        subject = parse_uscc(None, field=LIST_SUBJECT_CODE)
    else:
        subject = parse_uscc(row.get(LIST_SUBJECT_CODE), field=LIST_SUBJECT_CODE)
    # The SAMR serious list is market regulation's by definition (GSXT reads it the same way).
    domain = (
        AuthorityDomain.MARKET_REGULATION
        if category is Category.SAMR_SERIOUS
        else classify_authority(values["authority_name"])
    )
    return RecordFacts(
        category=category,
        authority_domain=domain,
        subject_code=subject.code,
        subject_code_checksum_ok=subject.checksum_ok,
        subject_id_masked=masked,
        **values,
    )


def list_row(facts: RecordFacts, target: TargetState, stop: date) -> dict[str, Any]:
    """The whole MD row of a list entry: content, identity verbatim, and the removal as the status
    columns plus 移出日期 (cleared on a restore: the push merges, so an old date must be emptied)."""
    values = _canonical_values(facts)
    missing = next(
        (native for canonical, native in LIST_WRITE_REQUIRED.items() if values.get(canonical) in (None, "")), None
    )
    if missing is not None:
        raise NotWritable(f"a 信用中国 list entry needs {missing}", field=missing)
    row = write_fields(values, LIST_FIELDS)
    row[LIST_CATEGORY_COLUMN] = MDLB_BY_CATEGORY[facts.category]
    row[LIST_DECISION_NUMBER] = facts.document_number.split("#", 1)[0]
    if facts.subject_type is SubjectType.NATURAL_PERSON:
        masked = facts.subject_id_masked
        if masked is not None and not is_masked(masked):
            raise NotWritable("an unmasked ID number is never written", field=LIST_MASKED_ID)
        row[LIST_MASKED_ID] = masked or ""
    else:
        subject_code = format_uscc(facts.subject_code, facts.subject_type)
        if subject_code is not None:
            row[LIST_SUBJECT_CODE] = subject_code
    state = write_state(target, stop_date=stop)
    row.update(state)
    row[LIST_REMOVAL_DATE] = state["ZZRQ"]
    if target.reason is None:
        row[LIST_REMOVAL_REASON] = ""
    return row


def _canonical_values(facts: RecordFacts) -> dict[str, Any]:
    return {f.name: getattr(facts, f.name) for f in fields(facts)}


def business_key(kind: str, facts: RecordFacts) -> str:
    return f"{kind}|{facts.authority_code}|{facts.document_number}"


class CreditChinaGansuMapping:
    """SystemMapping for 信用中国（甘肃）.

    `today` gives the 终止日期 (ZZRQ) of a stop known neither by its own stop date nor by its
    decision time (transforms.stop_day). It is the mapping's only input besides its arguments;
    tests pin it.
    """

    system = System.CREDITCHINA_GANSU.value

    def __init__(self, *, today: Callable[[], date] = beijing_today) -> None:
        self._today = today

    def to_observation(self, change: NativeChange) -> Observation | None:
        row = change.row
        kind = change.kind or text(row.get("ROWTYPE"))
        if kind == ROWTYPE_PENALTY:
            facts = penalty_facts(row)
        elif kind == ROWTYPE_ABNORMAL:
            facts = abnormal_facts(row)
        elif kind == ROWTYPE_LIST:
            facts = list_facts(row)
        else:
            raise UnmappableRow(f"ROWTYPE: unknown row type {kind!r}", field="ROWTYPE")
        target = read_state(row)
        if target is None:
            return None
        return Observation(
            source=self.system,
            facts=facts,
            target=target,
            changed_at=change.changed_at,
            source_version=change.source_version,
            native_id=change.native_id,
            decided_on=reported_day(row.get("ZZRQ")),
        )

    def to_write(
        self,
        facts: RecordFacts,
        target: TargetState,
        *,
        idempotency_key: str,
        decided_at: datetime | None = None,
    ) -> NativeWrite:
        """A current-generation row. The intake has no idempotency keys (upserts make resends
        harmless); the key is kept on the NativeWrite for logs only."""
        if facts.category in MDLB_BY_CATEGORY:
            row = list_row(facts, target, stop_day(target, decided_at, self._today))
            return NativeWrite(
                kind=ROWTYPE_LIST,
                row=row,
                business_key=business_key(ROWTYPE_LIST, facts),
                idempotency_key=idempotency_key,
            )
        values = _canonical_values(facts)
        if facts.category is Category.ADMIN_PENALTY:
            kind = ROWTYPE_PENALTY
            row = write_fields(values, PENALTY_FIELDS)
            code_column = PENALTY_SUBJECT_CODE
        elif facts.category is Category.ABNORMAL_OPERATIONS:
            kind = ROWTYPE_ABNORMAL
            row = write_fields(values, ABNORMAL_FIELDS)
            code_column = ABNORMAL_SUBJECT_CODE
        else:
            raise NotWritable(
                f"信用中国（甘肃） intake has no row type for category {facts.category.value}", field=None
            )
        if facts.subject_type is not SubjectType.NATURAL_PERSON:
            subject_code = format_uscc(facts.subject_code, facts.subject_type)
            if subject_code is not None:
                row[code_column] = subject_code
        row.update(write_state(target, stop_date=stop_day(target, decided_at, self._today)))
        return NativeWrite(
            kind=kind,
            row=row,
            business_key=business_key(kind, facts),
            idempotency_key=idempotency_key,
        )
