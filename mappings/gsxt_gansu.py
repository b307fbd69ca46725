"""GSXT（甘肃） records ⇄ canonical facts and state (docs/protocols.md §2, domain.md §3).

Four tables come out of the change feed: `punish` (SAMR's own penalties, GSXT is their system of
record), `otherpunish` (other departments' penalties collected under an enterprise; the only table
the gateway writes), `opanomaly` (经营异常名录) and `seriousillegal` (市场监督管理严重违法失信名单,
SAMR Order 44; protocols.md §2a), both lists GSXT's own. The gateway also writes `othersxmd`
(protocols.md §2b): other departments' lists collected under an enterprise, so far the
安全生产严重失信主体名单, identity (`decOrgCode`, `penDecNo`) verbatim as its owner's mapping made it.

What a round trip through this system cannot carry (to_observation(to_write(facts)) loses it):
- `publication_date`: GSXT sets `pubDate` itself when it audits a record; it is read, never written;
- `severity`, `domain_flags`, `listing_cause` (penalties): no field states them;
- `legal_basis` (处罚依据): GSXT has no such field (the sector is then read from the authority and
  the violation, gateway/domain/rules/sectors.py);
- `authority_domain`: not a field; `otherpunish` re-derives it from `judAuth` (classify_authority);
- 农专社 reads as a legal entity; it is written back as 农专社 only because its code says so (`93…`);
- natural persons: GSXT never shows them, so they are never written (NotWritable);
- `othersxmd`: the owner's removal reason text; a person's masked ID (persons are never written);
- `seriousillegal`: no entType (a `92…` code reads as an individual business, any other as a legal
  entity: the code's structure, not a guess), and the removal's reason text (`remExcpresRea`).
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
    format_dash_date,
    format_gsxt_ent_type,
    format_uscc,
    parse_gsxt_ent_type,
    parse_uscc,
    read_fields,
    reported_day,
    require,
    stop_date,
    stop_day,
    text,
    write_fields,
)

TABLE_PUNISH = "punish"
TABLE_OTHERPUNISH = "otherpunish"
TABLE_OPANOMALY = "opanomaly"
TABLE_SERIOUS = "seriousillegal"
TABLE_COLLECTED = "othersxmd"
KIND_FIELD = "table"  # the member naming a record's table where records are listed together
PERSONAL_ID_FIELDS = ("CerNO",)  # 证件号码 of natural persons (domain.md §3.1): never shown in logs
# Each table's own id column: the adapter names a change's native id by it (ConnectorSpec).
NATIVE_ID_FIELDS: Mapping[str, str] = {
    TABLE_PUNISH: "caseId",
    TABLE_OTHERPUNISH: "caseId",
    TABLE_OPANOMALY: "busExcList",
    TABLE_SERIOUS: "illCompId",
    TABLE_COLLECTED: "sxmdId",
}

# punish and otherpunish share their fields. Handled beside the table: the subject code (uniSCID,
# two canonical fields: code and checksum flag) and entType (written from type and code together).
# Amounts are JSON numbers on this system.
PENALTY_FIELDS: FieldTable = (
    ("subject_name", "entName", "text"),
    ("document_number", "penDecNo", "text"),
    ("violation", "illegActType", "text"),
    ("penalty_kinds", "penType", "kinds"),
    ("fine_wan_yuan", "penAm", "wan_yuan_number"),
    ("confiscation_wan_yuan", "forfAm", "wan_yuan_number"),
    ("content", "penContent", "text"),
    ("decision_date", "penDecIssDate", "date_dash"),
    ("authority_name", "judAuth", "text"),
    ("authority_code", "judAuthCode", "code"),
)
# Read only: GSXT stamps the publication date when it audits (for otherpunish, the audit day).
PENALTY_READ_ONLY_FIELDS: FieldTable = (("publication_date", "pubDate", "date_dash"),)
PENALTY_REQUIRED = {
    "subject_name": "entName",
    "document_number": "penDecNo",
    "authority_name": "judAuth",
    "authority_code": "judAuthCode",
}
SUBJECT_CODE = "uniSCID"
ENT_TYPE = "entType"

OPANOMALY_FIELDS: FieldTable = (
    ("subject_name", "entName", "text"),
    ("listing_cause", "speCause", "code"),
    ("violation", "speCauseCN", "text"),
    ("decision_date", "abnTime", "date_dash"),
    ("authority_name", "decOrg", "text"),
    ("authority_code", "decOrgCode", "code"),
    ("document_number", "penDecNo", "text"),
)
OPANOMALY_REQUIRED = {
    "subject_name": "entName",
    "document_number": "penDecNo",
    "authority_name": "decOrg",
    "authority_code": "decOrgCode",
}

SERIOUS_FIELDS: FieldTable = (
    ("subject_name", "entName", "text"),
    ("violation", "serILLRea", "text"),
    ("decision_date", "abnTime", "date_dash"),
    ("authority_name", "decOrg", "text"),
    ("authority_code", "decOrgCode", "code"),
    ("document_number", "penDecNo", "text"),
)
SERIOUS_REQUIRED = OPANOMALY_REQUIRED

# othersxmd: the owner's authority code (or its name, when it names itself only) and its document
# number travel verbatim ("text", not "code"), so the mirrored row maps to the same record.
COLLECTED_FIELDS: FieldTable = (
    ("subject_name", "entName", "text"),
    ("violation", "serILLRea", "text"),
    ("legal_basis", "inBasis", "text"),
    ("decision_date", "abnTime", "date_dash"),
    ("authority_name", "decOrg", "text"),
    ("authority_code", "decOrgCode", "text"),
    ("document_number", "penDecNo", "text"),
)
COLLECTED_REQUIRED = OPANOMALY_REQUIRED
COLLECTED_WRITE_REQUIRED = {**COLLECTED_REQUIRED, "decision_date": "abnTime"}
LIST_TYPE = "listType"
CATEGORY_BY_LIST_TYPE = {"1": Category.WORK_SAFETY}
LIST_TYPE_BY_CATEGORY = {category: code for code, category in CATEGORY_BY_LIST_TYPE.items()}
# remType of a collected listing: "1" 期满移出, "2" 提前移出, "3" 认定撤销.
COLLECTED_STOP_BY_REM_TYPE = {
    "1": StopReason.EXPIRED,
    "2": StopReason.REMOVED,
    "3": StopReason.WITHDRAWN,
}
COLLECTED_REM_TYPE_BY_STOP = {reason: code for code, reason in COLLECTED_STOP_BY_REM_TYPE.items()}

# punish / otherpunish publicity (protocols.md §2)
PUB_FLAG_PUBLISHED = "1"
PUB_FLAG_HIDDEN = "0"
STOP_REASON_BY_STOP_TYPE = {
    "1": StopReason.REPAIRED,  # 信用修复提前停止公示
    "2": StopReason.EXPIRED,  # 公示期满
    "3": StopReason.WITHDRAWN,  # 决定撤销
}
STOP_TYPE_BY_STOP_REASON = {reason: code for code, reason in STOP_REASON_BY_STOP_TYPE.items()}
AUDIT_STATE_APPROVED = "1"

# opanomaly: isMove "0" listed, "1" 移出, "2" 撤销; remExcpres "6" is 【列入异常届满】 (the listing
# ran its course), every other removal code (1–5 repairs, 7 注吊销) is a removal.
IS_MOVE_LISTED = "0"
IS_MOVE_REMOVED = "1"
IS_MOVE_REVOKED = "2"
REM_EXCPRES_EXPIRED = "6"


def penalty_state(row: Mapping[str, Any]) -> TargetState | None:
    """pubFlag "1" → published; "0" with a stopType → stopped for that reason; "0" without one is a
    record not (yet) published at all, which is no state to report (None)."""
    pub_flag = text(row.get("pubFlag"))
    if pub_flag == PUB_FLAG_PUBLISHED:
        return PUBLISHED
    if pub_flag != PUB_FLAG_HIDDEN:
        raise UnmappableRow(f"pubFlag: unknown value {pub_flag!r}", field="pubFlag")
    stop_type = text(row.get("stopType"))
    if stop_type is None:
        return None
    if stop_type not in STOP_REASON_BY_STOP_TYPE:
        raise UnmappableRow(f"stopType: unknown value {stop_type!r}", field="stopType")
    return stopped(STOP_REASON_BY_STOP_TYPE[stop_type], stop_date(row, "stopDate"))


def write_penalty_state(target: TargetState, *, stop_date: date) -> dict[str, str]:
    """pubFlag and stopType always, so a stale stopType cannot survive a restore. stopDate is
    required with a stopType: the caller passes the stop's own date (transforms.stop_day)."""
    if target.reason is None:
        return {"pubFlag": PUB_FLAG_PUBLISHED, "stopType": "", "stopDate": ""}
    if target.reason not in STOP_TYPE_BY_STOP_REASON:
        raise NotWritable(f"GSXT penalties have no stopType for {target.label}", field="stopType")
    return {
        "pubFlag": PUB_FLAG_HIDDEN,
        "stopType": STOP_TYPE_BY_STOP_REASON[target.reason],
        "stopDate": format_dash_date(stop_date) or "",
    }


def opanomaly_state(row: Mapping[str, Any]) -> TargetState:
    is_move = text(row.get("isMove"))
    if is_move == IS_MOVE_LISTED:
        return PUBLISHED
    # remDate is the day of the removal (or revocation): the 终止日期 other systems are given.
    if is_move == IS_MOVE_REVOKED:
        return stopped(StopReason.WITHDRAWN, stop_date(row, "remDate"))
    if is_move == IS_MOVE_REMOVED:
        if text(row.get("remExcpres")) == REM_EXCPRES_EXPIRED:
            return stopped(StopReason.EXPIRED, stop_date(row, "remDate"))
        return stopped(StopReason.REMOVED, stop_date(row, "remDate"))
    raise UnmappableRow(f"isMove: unknown value {is_move!r}", field="isMove")


# seriousillegal: isMove "0" listed, "1" 移出 (the row stays). remType says how (protocols.md §2a):
# "1" the 3 years ran out (expiry), "3" the penalty it rested on was revoked (the listing falls with
# it: withdrawn), "2" credit repair and "4" deregistration are removals. A removal without a
# remType is still a removal, never a guessed reason.
SERIOUS_STOP_BY_REM_TYPE = {
    "1": StopReason.EXPIRED,
    "2": StopReason.REMOVED,
    "3": StopReason.WITHDRAWN,
    "4": StopReason.REMOVED,
}


def serious_state(row: Mapping[str, Any]) -> TargetState:
    is_move = text(row.get("isMove"))
    if is_move == IS_MOVE_LISTED:
        return PUBLISHED
    if is_move != IS_MOVE_REMOVED:
        raise UnmappableRow(f"isMove: unknown value {is_move!r}", field="isMove")
    rem_type = text(row.get("remType"))
    if rem_type is None:
        return stopped(StopReason.REMOVED, stop_date(row, "remDate"))
    if rem_type not in SERIOUS_STOP_BY_REM_TYPE:
        raise UnmappableRow(f"remType: unknown value {rem_type!r}", field="remType")
    return stopped(SERIOUS_STOP_BY_REM_TYPE[rem_type], stop_date(row, "remDate"))


def collected_state(row: Mapping[str, Any]) -> TargetState:
    is_move = text(row.get("isMove"))
    if is_move == IS_MOVE_LISTED:
        return PUBLISHED
    if is_move != IS_MOVE_REMOVED:
        raise UnmappableRow(f"isMove: unknown value {is_move!r}", field="isMove")
    rem_type = text(row.get("remType"))
    if rem_type not in COLLECTED_STOP_BY_REM_TYPE:
        raise UnmappableRow(f"remType: unknown value {rem_type!r}", field="remType")
    return stopped(COLLECTED_STOP_BY_REM_TYPE[rem_type], stop_date(row, "remDate"))


def collected_facts(row: Mapping[str, Any]) -> RecordFacts:
    list_type = text(row.get(LIST_TYPE))
    if list_type not in CATEGORY_BY_LIST_TYPE:
        raise UnmappableRow(f"{LIST_TYPE}: unknown list type {list_type!r}", field=LIST_TYPE)
    values = read_fields(row, COLLECTED_FIELDS)
    require(values, COLLECTED_REQUIRED)
    try:
        subject_type = parse_gsxt_ent_type(row.get(ENT_TYPE))
    except ValueError as exc:
        raise UnmappableRow(f"{ENT_TYPE}: {exc}", field=ENT_TYPE) from exc
    if subject_type is None or subject_type is SubjectType.NATURAL_PERSON:
        raise UnmappableRow(f"{ENT_TYPE}: GSXT lists enterprises only", field=ENT_TYPE)
    subject = parse_uscc(row.get(SUBJECT_CODE), field=SUBJECT_CODE)
    if subject.code is None:
        raise UnmappableRow(f"{SUBJECT_CODE} is required", field=SUBJECT_CODE)
    return RecordFacts(
        category=CATEGORY_BY_LIST_TYPE[list_type],
        authority_domain=classify_authority(values["authority_name"]),
        subject_type=subject_type,
        subject_code=subject.code,
        subject_code_checksum_ok=subject.checksum_ok,
        **values,
    )


def collected_row(facts: RecordFacts, target: TargetState, stop: date) -> dict[str, Any]:
    """The whole `othersxmd` record of a list entry: content, identity verbatim, state."""
    if facts.subject_type is SubjectType.NATURAL_PERSON:
        raise NotWritable("GSXT shows no natural persons", field=ENT_TYPE)
    values = {f.name: getattr(facts, f.name) for f in fields(facts)}
    required = COLLECTED_WRITE_REQUIRED.items()
    missing = next((native for name, native in required if values.get(name) in (None, "")), None)
    if missing is not None:
        raise NotWritable(f"a GSXT collected listing needs {missing}", field=missing)
    subject_code = format_uscc(facts.subject_code, facts.subject_type)
    if subject_code is None:
        raise NotWritable(f"a GSXT collected listing needs {SUBJECT_CODE}", field=SUBJECT_CODE)
    row = write_fields(values, COLLECTED_FIELDS)
    row[SUBJECT_CODE] = subject_code
    row[ENT_TYPE] = format_gsxt_ent_type(facts.subject_type, facts.subject_code)
    row[LIST_TYPE] = LIST_TYPE_BY_CATEGORY[facts.category]
    if target.reason is None:
        row.update(isMove=IS_MOVE_LISTED, remType="", remDate="")
        return row
    if target.reason not in COLLECTED_REM_TYPE_BY_STOP:
        raise NotWritable(f"GSXT collected listings have no remType for {target.label}", field="remType")
    row.update(isMove=IS_MOVE_REMOVED, remType=COLLECTED_REM_TYPE_BY_STOP[target.reason])
    row["remDate"] = format_dash_date(stop) or ""
    return row


def serious_facts(row: Mapping[str, Any]) -> RecordFacts:
    values = read_fields(row, SERIOUS_FIELDS)
    require(values, SERIOUS_REQUIRED)
    subject = parse_uscc(row.get(SUBJECT_CODE), field=SUBJECT_CODE)
    if subject.code is None:
        raise UnmappableRow(f"{SUBJECT_CODE} is required", field=SUBJECT_CODE)
    # GB 32100 positions 1–2 `92`: an individual business registered by market regulation.
    kind = SubjectType.INDIVIDUAL_BUSINESS if subject.code.startswith("92") else SubjectType.LEGAL_ENTITY
    return RecordFacts(
        category=Category.SAMR_SERIOUS,
        authority_domain=AuthorityDomain.MARKET_REGULATION,
        subject_type=kind,
        subject_code=subject.code,
        subject_code_checksum_ok=subject.checksum_ok,
        **values,
    )


def penalty_facts(row: Mapping[str, Any], *, table: str) -> RecordFacts:
    values = read_fields(row, PENALTY_FIELDS)
    require(values, PENALTY_REQUIRED)
    values.update(read_fields(row, PENALTY_READ_ONLY_FIELDS))
    try:
        subject_type = parse_gsxt_ent_type(row.get(ENT_TYPE))
    except ValueError as exc:
        raise UnmappableRow(f"{ENT_TYPE}: {exc}", field=ENT_TYPE) from exc
    if subject_type is None:
        raise UnmappableRow(f"{ENT_TYPE} is required", field=ENT_TYPE)
    subject = parse_uscc(row.get(SUBJECT_CODE), field=SUBJECT_CODE)
    if table == TABLE_PUNISH:
        # GSXT's own penalties are market regulation's by definition of the table.
        domain = AuthorityDomain.MARKET_REGULATION
    else:
        domain = classify_authority(values["authority_name"])
    return RecordFacts(
        category=Category.ADMIN_PENALTY,
        authority_domain=domain,
        subject_type=subject_type,
        subject_code=subject.code,
        subject_code_checksum_ok=subject.checksum_ok,
        **values,
    )


def opanomaly_facts(row: Mapping[str, Any]) -> RecordFacts:
    values = read_fields(row, OPANOMALY_FIELDS)
    require(values, OPANOMALY_REQUIRED)
    subject = parse_uscc(row.get(SUBJECT_CODE), field=SUBJECT_CODE)
    return RecordFacts(
        category=Category.ABNORMAL_OPERATIONS,
        authority_domain=AuthorityDomain.MARKET_REGULATION,
        # The 经营异常名录 lists enterprises and 农专社 only (domain.md §3.1).
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code=subject.code,
        subject_code_checksum_ok=subject.checksum_ok,
        **values,
    )


def business_key(facts: RecordFacts) -> str:
    return f"{TABLE_OTHERPUNISH}|{facts.authority_code}|{facts.document_number}"


class GsxtGansuMapping:
    """SystemMapping for GSXT（甘肃）.

    `today` gives the stopDate of a stop known neither by its own stop date nor by its decision
    time (transforms.stop_day). It is the mapping's only input besides its arguments; tests pin it.
    """

    system = System.GSXT_GANSU.value

    def __init__(self, *, today: Callable[[], date] = beijing_today) -> None:
        self._today = today

    def to_observation(self, change: NativeChange) -> Observation | None:
        row = change.row
        removal_reason = None
        if change.kind == TABLE_OPANOMALY:
            facts = opanomaly_facts(row)
            target: TargetState | None = opanomaly_state(row)
            if text(row.get("isMove")) == IS_MOVE_REMOVED:
                removal_reason = text(row.get("remExcpres"))  # its pairing is checked (gateway.domain.intake)
        elif change.kind == TABLE_SERIOUS:
            facts = serious_facts(row)
            target = serious_state(row)
        elif change.kind == TABLE_COLLECTED:
            facts = collected_facts(row)
            target = collected_state(row)
        elif change.kind in (TABLE_PUNISH, TABLE_OTHERPUNISH):
            if change.kind == TABLE_OTHERPUNISH and text(row.get("auditState")) != AUDIT_STATE_APPROVED:
                # Awaiting audit or refused: content GSXT does not publish, not a publicity state.
                return None
            facts = penalty_facts(row, table=change.kind)
            target = penalty_state(row)
        else:
            raise UnmappableRow(f"table: unknown table {change.kind!r}", field="table")
        if target is None:
            return None
        return Observation(
            source=self.system,
            facts=facts,
            target=target,
            changed_at=change.changed_at,
            source_version=change.source_version,
            native_id=change.native_id,
            removal_reason=removal_reason,
            decided_on=reported_day(
                row.get("remDate" if change.kind in (TABLE_OPANOMALY, TABLE_SERIOUS, TABLE_COLLECTED) else "stopDate")
            ),
        )

    def to_write(
        self,
        facts: RecordFacts,
        target: TargetState,
        *,
        idempotency_key: str,
        decided_at: datetime | None = None,
    ) -> NativeWrite:
        """An `otherpunish` record, or an `othersxmd` one for another department's list: the
        tables a client writes. GSXT owns `punish`, `opanomaly` and `seriousillegal`, and shows no
        natural persons."""
        if facts.category in LIST_TYPE_BY_CATEGORY:
            return NativeWrite(
                kind=TABLE_COLLECTED,
                row=collected_row(facts, target, stop_day(target, decided_at, self._today)),
                business_key=f"{TABLE_COLLECTED}|{facts.authority_code}|{facts.document_number}",
                idempotency_key=idempotency_key,
            )
        if facts.category is not Category.ADMIN_PENALTY:
            raise NotWritable(f"GSXT owns {facts.category.value}; the gateway never writes it")
        if facts.authority_domain is AuthorityDomain.MARKET_REGULATION:
            raise NotWritable("a market-regulation penalty is GSXT's own (punish); the gateway never writes it")
        if facts.subject_type is SubjectType.NATURAL_PERSON:
            raise NotWritable("GSXT shows no natural persons", field="entType")
        values = {f.name: getattr(facts, f.name) for f in fields(facts)}
        record = write_fields(values, PENALTY_FIELDS)
        record[ENT_TYPE] = format_gsxt_ent_type(facts.subject_type, facts.subject_code)
        subject_code = format_uscc(facts.subject_code, facts.subject_type)
        if subject_code is not None:
            record[SUBJECT_CODE] = subject_code
        record.update(write_penalty_state(target, stop_date=stop_day(target, decided_at, self._today)))
        return NativeWrite(
            kind=TABLE_OTHERPUNISH,
            row=record,
            business_key=business_key(facts),
            idempotency_key=idempotency_key,
        )
