"""Request and response bodies of the HTTP API (pydantic at the edge, STYLE.md §11).

Request models forbid unknown fields: a misspelt optional field silently ignored is how a
decision loses its subject check. Response models are what handlers serialise, so the OpenAPI
document (built from these classes) describes exactly what is sent.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gateway.api.inputs import MAX_ID
from gateway.domain import uscc
from gateway.domain.categories import AuthorityDomain, Category, System
from gateway.domain.identity import RecordIdentity
from gateway.domain.model import Publicity, Severity, StopReason
from gateway.domain.rules import Clock, Confidence

RECORD_ID_PATTERN = r"^rec_[0-9a-f]{24}$"

# Spaces around are dropped, so a blank text is refused: the pattern says it needs a non-space.
NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, pattern=r"\S")]
DecisionAction = Literal["repair", "revoke_repair", "withdraw", "remove"]
ProgressStatus = Literal["pending", "in_flight", "retrying", "delivered", "dead", "superseded", "in_sync"]


# The document states the shape checked_uscc() enforces (its 422 is `invalid_uscc`, not a pattern error).
USCC_SCHEMA: dict[str, Any] = {"pattern": uscc.INPUT_PATTERN}


def checked_uscc(value: str) -> uscc.UsccCheck:
    """A well-formed 统一社会信用代码 or a 422 `invalid_uscc`; a failed check character is only
    flagged (some legally valid pilot codes fail it, domain.md §6)."""
    checked = uscc.check(value)
    if not checked.well_formed or re.fullmatch(uscc.INPUT_PATTERN, value) is None:
        raise PydanticCustomError(
            "invalid_uscc",
            "not a well-formed 统一社会信用代码 (18 characters: digits and capital letters except I O S V Z)",
        )
    return checked


# ---- requests ---------------------------------------------------------------------------------


class RecordRef(BaseModel):
    """The record a decision is about: its `record_id`, or its identity (category, deciding
    authority's code, document number), normalised the way ingest normalises it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # Exactly one form: a null counts as absent, so each form says the other's fields are null.
            "oneOf": [
                {
                    "required": ["record_id"],
                    "properties": {
                        "record_id": {"type": "string"},
                        **{name: {"type": "null"} for name in ("category", "authority_code", "document_number")},
                    },
                },
                {
                    "required": ["category", "authority_code", "document_number"],
                    "properties": {
                        "record_id": {"type": "null"},
                        **{name: {"type": "string"} for name in ("category", "authority_code", "document_number")},
                    },
                },
            ]
        },
    )

    record_id: str | None = Field(None, pattern=RECORD_ID_PATTERN)
    category: Category | None = None
    authority_code: Annotated[str, StringConstraints(max_length=64, pattern=r"\S")] | None = Field(
        None, json_schema_extra=USCC_SCHEMA
    )
    document_number: Annotated[str, StringConstraints(max_length=200, pattern=r"\S")] | None = None

    @field_validator("authority_code")
    @classmethod
    def _authority_code(cls, value: str | None) -> str | None:
        # The deciding authority's 统一社会信用代码: a value that cannot be one is refused here (422
        # on this field), not looked up as an identity nobody can have (404); a failed check
        # character is no reason to refuse (domain.md §6), the record is looked up as given.
        return None if value is None else checked_uscc(value).code

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        identity = (self.category, self.authority_code, self.document_number)
        if self.record_id is not None and any(part is not None for part in identity):
            raise ValueError("give record_id or the identity (category, authority_code, document_number), not both")
        if self.record_id is None and any(part is None for part in identity):
            raise ValueError("give record_id, or all of category, authority_code and document_number")
        return self

    def resolve(self) -> str:
        if self.record_id is not None:
            return self.record_id
        assert self.category is not None and self.authority_code is not None and self.document_number is not None
        return RecordIdentity.of(self.category, self.authority_code, self.document_number).record_id


class RepairRequest(BaseModel):
    """An owner's decision about a record's publicity (信用修复, its revocation, 撤销, 移出)."""

    model_config = ConfigDict(extra="forbid")

    record: RecordRef
    action: DecisionAction
    decided_at: AwareDatetime = Field(description="When the owner decided; ISO-8601 with a UTC offset.")
    decided_by: Annotated[NonBlank, StringConstraints(max_length=200)]
    subject_code: str | None = Field(
        None,
        description="统一社会信用代码 of the subject, checked against the record when given.",
        json_schema_extra=USCC_SCHEMA,
    )
    note: Annotated[str, StringConstraints(max_length=500)] | None = None

    @field_validator("subject_code")
    @classmethod
    def _subject_code(cls, value: str | None) -> str | None:
        return None if value is None else checked_uscc(value).code


class ClassificationRequest(BaseModel):
    """The Order 36 tier of a penalty (轻微/一般/严重), as the deciding sector classified it."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity = Field(description="`minor` 轻微, `general` 一般 or `serious` 严重 (国办发〔2025〕22号 §二).")
    classified_by: Annotated[NonBlank, StringConstraints(max_length=200)] = Field(
        description="Who classified it: the deciding authority (or its sector ministry)."
    )
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class AwaitingClassificationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: Annotated[str, StringConstraints(pattern=r"^(rec_[0-9a-f]{24})?$")] = Field(
        "", description="Resume after this record id (keyset pagination)."
    )
    limit: int = Field(100, ge=1, le=500)


# OpenAPI cannot relate a query to a body: the rule is in words on both (the server refuses both: 422).
_NOT_BOTH = "Give options in the query or in a JSON body, not both (422 `invalid_parameter`)."


class ReplayOptions(BaseModel):
    """Options of a dead-letter replay, as a JSON body (strict booleans); never with options in the query."""

    model_config = ConfigDict(extra="forbid")

    dry_run: StrictBool = False
    force: StrictBool = Field(False, description="Replay even past the loop guard (max_replays).")


class ReplayQuery(BaseModel):
    """The same options as query parameters (`?dry_run=true`)."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(False, description=f"Only report what would happen. {_NOT_BOTH}")
    force: bool = Field(False, description=f"Replay even past the loop guard (max_replays). {_NOT_BOTH}")


class DeadLetterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: System | None = Field(None, description="Only dead letters for this target system.")
    after_id: int = Field(0, ge=0, le=MAX_ID, description="Resume after this id (keyset pagination).")
    limit: int = Field(100, ge=1, le=500)


class QuarantineQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "resolved"] | None = Field(None, description="open: not yet applied by a retry.")
    system: System | None = Field(None, description="Only changes read from this system's feed.")
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")] | None = Field(
        None, description="Only this reason code (e.g. unmappable, removal_reason_mismatch, state_not_for_category)."
    )
    after_id: int = Field(0, ge=0, le=MAX_ID, description="Resume after this id (keyset pagination).")
    limit: int = Field(100, ge=1, le=500)


PAGE_LIMIT = 500
StateFilter = Annotated[
    str,
    StringConstraints(pattern=r"^(published|stopped(:(" + "|".join(r.value for r in StopReason) + r"))?)$"),
]


class RecordQuery(BaseModel):
    """Filters of `GET /v1/records`; every one optional, all of them must hold."""

    model_config = ConfigDict(extra="forbid")

    system: System | None = Field(None, description="Only records this system holds (shows or was sent).")
    category: Category | None = None
    state: StateFilter | None = Field(
        None, description="`published`, `stopped`, or `stopped:<reason>` (repaired, expired, withdrawn, removed)."
    )
    subject: str | None = Field(
        None,
        description="统一社会信用代码 of the subject (normalised like the path of subjects).",
        json_schema_extra=USCC_SCHEMA,
    )
    updated_since: AwareDatetime | None = Field(None, description="Only records changed at or after this time.")
    after: str | None = Field(
        None, pattern=RECORD_ID_PATTERN, description="Resume after this record id (`next_after` of the last page)."
    )
    limit: int = Field(100, ge=1, le=PAGE_LIMIT)

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str | None) -> str | None:
        return None if value is None else checked_uscc(value).code


REPAIR_ID_PATTERN = r"^rep_[0-9a-f]{24}$"


class RepairQuery(BaseModel):
    """Filters of `GET /v1/repairs`; every one optional, all of them must hold."""

    model_config = ConfigDict(extra="forbid")

    record_id: str | None = Field(None, pattern=RECORD_ID_PATTERN)
    action: Literal["repair", "revoke_repair", "withdraw", "remove", "expire"] | None = None
    source: str | None = Field(None, min_length=1, max_length=200, description="e.g. `gsxt_gansu`, `api:<client>`.")
    target: System | None = Field(None, description="Only repairs with a delivery to this system.")
    status: ProgressStatus | None = Field(
        None, description="Only repairs with a target in this progress status (with `target`: that target's)."
    )
    accepted_since: AwareDatetime | None = Field(None, description="Only repairs accepted at or after this time.")
    after: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]+$", description="Opaque cursor: `next_after` of the previous page."
    )
    limit: int = Field(100, ge=1, le=PAGE_LIMIT)


# ---- responses --------------------------------------------------------------------------------


class Error(BaseModel):
    code: str = Field(description="Stable snake_case code to branch on.")
    message: str = Field(description="Human-readable; may change.")
    field: str | None = Field(description="Dotted path of the offending input (body, query, header), or null.")


class TargetView(BaseModel):
    status: Publicity
    reason: StopReason | None
    label: str = Field(description="`published` or `stopped:<reason>`.")


class SelfLink(BaseModel):
    self_link: str = Field(serialization_alias="self")


class RepairLinks(BaseModel):
    self_link: str = Field(serialization_alias="self")
    record: str


class TargetStatus(BaseModel):
    system: str
    status: ProgressStatus


class RepairAccepted(BaseModel):
    repair_id: str
    record_id: str
    action: str
    outcome: str = Field(description="changed, or unchanged when the record already showed the state.")
    version: int | None
    targets: list[TargetStatus]
    links: RepairLinks


class TargetProgressView(BaseModel):
    system: str
    status: ProgressStatus
    outbox_id: int | None
    attempts: int
    updated_at: datetime
    delivered_at: datetime | None
    last_error: str | None = Field(description="Why the last attempt failed (while retrying, or dead).")
    next_attempt_at: datetime | None = Field(
        None, description="While `retrying`: when the next attempt is due (capped exponential backoff)."
    )
    deadline: date | None = Field(
        description="Sync deadline: the LAST working day (Beijing time) on which the target is in time, i.e. the"
        " end of the N-th working day after the decision day (CREDITGW_SYNC_DEADLINE_WORKING_DAYS, default 3;"
        " the decision day itself never counts; holidays and make-up working days follow the State Council's"
        " arrangement). From the next calendar day on the target is late. Null for repairs recorded without one."
    )
    deadline_estimated: bool = Field(
        description="The working-day calendar had no data for a year the deadline counted: Monday to Friday were"
        " taken as working days, so the date is provisional until that year's arrangement is configured."
    )
    deadline_met: bool | None = Field(
        description="True/false once the target shows the decision (delivered, or already in sync): whether that"
        " happened on or before `deadline`. False while still undelivered after the deadline. Null while"
        " undelivered within it, when superseded by a newer decision, or without a deadline."
    )
    overdue: bool = Field(
        description="Not yet delivered (pending, in flight, retrying or a dead letter) and `deadline` has passed."
    )


class RepairProgress(BaseModel):
    """进度查询: a repair and where it stands on every target system."""

    repair_id: str
    record_id: str
    action: str
    source: str
    decided_by: str
    decided_at: datetime
    accepted_at: datetime
    version: int | None
    outcome: str
    complete: bool = Field(description="Every target delivered or already in sync.")
    targets: list[TargetProgressView]
    links: RepairLinks


class StateView(BaseModel):
    status: Publicity
    reason: StopReason | None
    label: str
    version: int
    decided_by: str
    decided_at: datetime
    authoritative: bool = Field(description="False while only a mirror has reported the record.")


class SystemLinkView(BaseModel):
    """What the gateway knows of one system's copy of the record."""

    system: str
    native_id: str | None
    written_version: int | None = Field(description="Last version the system acknowledged.")
    written: TargetView | None
    seen: TargetView | None = Field(description="Last state the system's change feed reported.")
    seen_source_version: str | None
    queued: bool = Field(description="A delivery to this system is pending or in flight.")


class AuditView(BaseModel):
    id: int
    at: datetime
    kind: str
    actor: str
    before_state: str | None
    before_version: int | None
    after_state: str | None
    after_version: int | None
    detail: dict[str, Any]


class RepairSummary(BaseModel):
    repair_id: str
    action: str
    source: str
    decided_by: str
    decided_at: datetime
    accepted_at: datetime
    version: int | None
    outcome: str
    links: SelfLink


class RepairTargetStatus(BaseModel):
    system: str
    status: ProgressStatus


class RepairListItem(RepairSummary):
    record_id: str
    targets: list[RepairTargetStatus]


class RepairPage(BaseModel):
    items: list[RepairListItem] = Field(description="Oldest accepted first.")
    next_after: str | None = Field(description="Pass as `after` for the next page; null on the last page.")


class RecordView(BaseModel):
    record_id: str
    facts: dict[str, Any] = Field(description="The record's content (category, authority, subject, …).")
    state: StateView
    owner: System = Field(description="System of record (谁认定、谁修复).")
    mirrors: list[System]
    systems: list[SystemLinkView]
    audit: list[AuditView] = Field(description="Latest first, at most 50.")
    repairs: list[RepairSummary]
    eligibility: list[EligibilityView] = Field(
        description="Periods and repair eligibility on each system that publishes the record, as of today (Beijing)."
    )
    links: SelfLink


class ClassificationResult(BaseModel):
    record_id: str
    severity: Severity
    previous: Severity | None = Field(description="The tier before this request (null: none was stated).")
    changed: bool = Field(description="False when the record already had this tier (nothing was written).")
    awaiting: list[System] = Field(description="Systems whose rules still cannot evaluate the record.")
    withheld: str | None = Field(
        description="Reason code when the rules now do not publish the record at all (e.g. "
        "`not_published_by_default` for 轻微): the sweep stops its published copies."
    )
    links: SelfLink


class AwaitingRecord(BaseModel):
    record_id: str
    authority_name: str
    authority_code: str
    document_number: str
    subject_name: str
    decision_date: date | None
    systems: list[System] = Field(description="Systems whose rules need the tier to evaluate the record.")
    links: SelfLink


class AwaitingClassificationPage(BaseModel):
    items: list[AwaitingRecord]
    next_after: str | None = Field(description="Pass as `after` for the next page; null on the last page.")


class RecordBrief(BaseModel):
    """What names a record and where it stands, in lists."""

    record_id: str
    category: Category
    authority_name: str
    document_number: str
    subject_name: str
    state: StateView
    owner: System
    mirrors: list[System]
    links: SelfLink


class SubjectRecord(RecordBrief):
    systems: list[SystemLinkView]
    eligibility: list[EligibilityView] = Field(
        description="Periods and repair eligibility on each system that publishes the record, as of today (Beijing)."
    )


class SubjectRecords(BaseModel):
    subject_code: str
    checksum_ok: bool = Field(description="False flags a code whose check character fails (not rejected).")
    records: list[SubjectRecord]
    truncated: bool = Field(description="More records exist than were returned.")


class RecordListItem(RecordBrief):
    updated_at: datetime = Field(description="When the gateway last changed the record.")


class RecordPage(BaseModel):
    items: list[RecordListItem] = Field(description="In record id order.")
    next_after: str | None = Field(description="Pass as `after` for the next page; null on the last page.")


class DeadLetterView(BaseModel):
    id: int
    record_id: str
    target: str
    version: int
    state: TargetView
    idempotency_key: str = Field(description="The delivery's own key toward the target system.")
    repair_id: str | None
    attempts: int
    replays: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class DeadLetterDetail(DeadLetterView):
    dead_context: dict[str, Any] | None = Field(description="Status, body excerpt (secrets removed), attempts.")


class DeadLetterPage(BaseModel):
    items: list[DeadLetterView]
    next_after_id: int | None = Field(description="Pass as after_id for the next page; null on the last page.")


class QuarantineView(BaseModel):
    """An inbound change the gateway could not map or must not apply: not applied, not propagated."""

    id: int
    system: str = Field(description="Whose change feed delivered it.")
    kind: str = Field(description="Row type or table (CF, YC, punish, otherpunish, opanomaly).")
    change_key: str
    reason: str = Field(
        description="Stable code: `unmappable` (see `field`: a bad code value, `isMove` null, a date that does not"
        " exist), `impossible_date` (decided after the system recorded it, published before it was decided),"
        " `state_not_for_category`, `removal_reason_mismatch`, `removal_reason_missing`, `listing_cause_unknown`,"
        " `unknown_code_value`."
    )
    field: str | None = Field(description="The native column (unmappable) or canonical field at fault.")
    message: str
    status: Literal["open", "resolved"]
    record_id: str | None = Field(description="Set once a retry applied it.")
    retries: int
    outcome: str | None = Field(description="What applying it did, once resolved (created, changed, stale, …).")
    changed_at: datetime = Field(description="The system's own time of the change.")
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    excerpt: str = Field(description="The row as read (JSON, cut to 500 characters); secrets and ID numbers masked.")


class QuarantineDetail(QuarantineView):
    change: dict[str, Any] = Field(description="The whole change as read, the row masked as in `excerpt`.")


class QuarantinePage(BaseModel):
    items: list[QuarantineView]
    next_after_id: int | None = Field(description="Pass as after_id for the next page; null on the last page.")


class ReplayReportView(BaseModel):
    dry_run: bool
    replayed: list[int]
    superseded: list[int] = Field(description="A newer version already took over; nothing to resend.")
    guarded: list[int] = Field(description="Loop guard: replayed max_replays times already; use force.")
    missing: list[int]
    last_id: int


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    database: str
    schema_version: int


# ---- repair rules: eligibility and guidance (gateway/domain/rules) ------------------------------

_CONFIDENCE = (
    "V: verified from the source named; R: recalled, NOT verified; I: inferred, unverified; "
    "C: configured by the operator."
)
_ISO_DAY = r"^\d{4}-\d{2}-\d{2}$"


class EligibilityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    today: date | None = Field(
        None, description="Evaluate as of this day (YYYY-MM-DD). Default: today in Beijing time (UTC+8)."
    )
    system: System | None = Field(None, description="Only this system (it must publish the record).")

    @field_validator("today", mode="before")
    @classmethod
    def _iso_day(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.match(_ISO_DAY, value):
            raise ValueError("expected a date as YYYY-MM-DD")
        return value


class PeriodEndView(BaseModel):
    """Where a period ends, as both dates (民法典 201/202: the start day is not counted)."""

    period: str = Field(description="ISO 8601 duration, e.g. P3M, P1Y.")
    label: str = Field(description="As the rules write it, e.g. 3个月, 1年.")
    start: date = Field(description="The date the period counts from (see `clock`); not counted itself.")
    last_day: date = Field(description="The last day inside the period.")
    first_day_after: date = Field(
        description=(
            "The day after `last_day`. For `minimum`: the first day the subject may apply for repair. "
            "For `maximum`: the first day publicity has stopped by itself."
        )
    )
    reached: bool = Field(description="`first_day_after` is on or before `today`: the period is over.")
    source: str | None
    confidence: Confidence | None = Field(description=_CONFIDENCE)


class ReasonView(BaseModel):
    code: str = Field(description="Stable snake_case code.")
    message: str
    rule_ref: str | None = Field(description="The rule it comes from (instrument, article, domain.md section).")


class RequirementView(BaseModel):
    """A condition the gateway cannot check (fine paid, commitment made, …): listed, never assumed."""

    code: str
    message: str
    rule_ref: str
    confidence: Confidence = Field(description=_CONFIDENCE)


class RegimeView(BaseModel):
    id: str = Field(description="e.g. ndrc_order_58, ndrc_order_36, samr_order_45.")
    name: str
    instrument: str
    source: str
    confidence: Confidence = Field(description=_CONFIDENCE)


class EligibilityView(BaseModel):
    """One system's periods and repair eligibility for a record.

    `evaluable` false: the record lacks what the rule needs (see `reasons`); nothing is guessed and
    `eligible` is null. `eligible` true: every condition the gateway can check holds; the subject
    must still meet `requires`.
    """

    system: System
    role: Literal["owner", "mirror"] = Field(description="owner: the system of record (谁认定、谁修复).")
    repaired_by: System = Field(description="The system where a repair of this record is decided.")
    evaluable: bool
    eligible: bool | None
    published: bool | None = Field(description="Whether the rule publishes this record at all (by default).")
    regime: RegimeView | None = Field(description="The rule set applied, chosen by the date it counts from.")
    clock: Clock | None = Field(description="Which date of the record the periods count from.")
    start: date | None
    minimum: PeriodEndView | None = Field(
        description="Minimum period; `first_day_after` is the first day the subject may apply. Null: no wait."
    )
    maximum: PeriodEndView | None = Field(
        description="Maximum period; `first_day_after` is the first day publicity has stopped. Null: not known."
    )
    reasons: list[ReasonView] = Field(description="Why it is or is not eligible (or not evaluable).")
    requires: list[RequirementView]
    notes: list[ReasonView] = Field(description="Caveats (mirror system, rule taking effect later, …).")


class EligibilityLinks(BaseModel):
    self_link: str = Field(serialization_alias="self")
    record: str


class RecordEligibility(BaseModel):
    record_id: str
    today: date = Field(description="The day the evaluation is made for.")
    eligibility: list[EligibilityView]
    links: EligibilityLinks


class FactView(BaseModel):
    """A sourced statement of the rule data."""

    code: str | None
    text: str
    source: str
    confidence: Confidence = Field(description=_CONFIDENCE)


class ChannelView(BaseModel):
    name: str
    url: str | None
    source: str
    confidence: Confidence = Field(description=_CONFIDENCE)


class PeriodRuleView(BaseModel):
    kind: Literal["minimum", "maximum"]
    applies_when: str
    period: str = Field(description="ISO 8601 duration.")
    months: int
    label: str
    source: str
    confidence: Confidence = Field(description=_CONFIDENCE)


class SourcedDate(BaseModel):
    value: date
    source: str
    confidence: Confidence = Field(description=_CONFIDENCE)


class ClockView(BaseModel):
    value: Clock
    source: str
    confidence: Confidence = Field(description=_CONFIDENCE)


class RuleView(BaseModel):
    """A rule set as the evaluator applies it."""

    id: str
    name: str
    instrument: FactView
    systems: list[System] | None = Field(description="Null: every system that publishes the record.")
    clock: ClockView
    applies_from: date | None = Field(description="First clock date the rule set governs (inclusive).")
    applies_until: date | None = Field(description="Last clock date the rule set governs (inclusive).")
    in_force_from: SourcedDate | None
    effect: FactView | None = Field(description="What a repair does under this rule set.")
    periods: list[PeriodRuleView]
    exclusions: list[FactView] = Field(description="Not published, never stopped early, thresholds, …")
    conditions: list[FactView] = Field(description="What the subject must have done to apply.")
    notes: list[FactView]


class RouteView(BaseModel):
    applies_when: str
    authority_domain: AuthorityDomain | None = Field(description="Null: every record of the category.")
    owner: System = Field(description="System of record: where the repair is decided.")
    authority: FactView = Field(description="Who decides (谁认定、谁修复).")
    where_to_apply: list[ChannelView]
    time_limits: list[FactView]
    propagation: FactView | None = Field(description="How the result reaches the other systems.")


class CategoryGuidanceView(BaseModel):
    """信用修复指引 of one category (seed §(一): 条件、途径、材料、时限)."""

    category: Category
    label: str
    responsible_units: FactView = Field(description="附件1 责任单位.")
    routes: list[RouteView]
    rules: list[RuleView]
    materials: list[FactView]
    help_channels: list[ChannelView]
    general_notes: list[FactView]
    links: SelfLink


class GuidanceList(BaseModel):
    categories: list[CategoryGuidanceView] = Field(description="The nine categories of the seed's 附件1, in order.")


class CollectionQualityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Category | None = Field(None, description="Only this category.")
    format: Literal["json", "csv"] = Field(
        "json", description="csv: the 通报 table (UTF-8 with a byte-order mark, one row per department and category)."
    )


class DepartmentQualityView(BaseModel):
    authority_code: str = Field(description="The deciding authority's 统一社会信用代码 (the department).")
    authority_name: str
    category: str
    records: int
    completeness: float | None = Field(description="Share of records with every required field (0–1).")
    accuracy: float | None = Field(description="Share of records passing every accuracy check (0–1).")
    timeliness: float | None = Field(description="Share collected within the owner's limit, of those judged (0–1).")
    complete: int
    accurate: int
    on_time: int
    late: int
    timeliness_unknown: int = Field(description="Records not judged: no decision date, or no limit for their owner.")
    timeliness_estimated: int = Field(description="Lags counted across a year without working-day calendar data.")
    max_lag_working_days: int | None
    missing: dict[str, int] = Field(description="Required field → records lacking it.")
    defects: dict[str, int] = Field(description="Accuracy check → records failing it.")


class TimelinessLimitView(BaseModel):
    working_days: int
    basis: str


class CollectionQualityReport(BaseModel):
    generated_at: datetime
    as_of: date = Field(description="The Beijing day the checks were made on.")
    timeliness_limits: dict[str, TimelinessLimitView] = Field(description="Owner system → its collection limit.")
    departments: list[DepartmentQualityView]
