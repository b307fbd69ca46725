"""Canonical record model: the facts of a dishonesty item and its publicity state."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from gateway.domain.categories import AuthorityDomain, Category, SubjectType, mirrors_of, owner_of
from gateway.domain.categories import System as System
from gateway.domain.identity import RecordIdentity


class Publicity(StrEnum):
    PUBLISHED = "published"
    STOPPED = "stopped"


class StopReason(StrEnum):
    REPAIRED = "repaired"  # 信用修复: stop publishing and sharing
    EXPIRED = "expired"  # maximum period over
    WITHDRAWN = "withdrawn"  # decision revoked/changed (撤销): not a repair
    REMOVED = "removed"  # removed from a list


# What may end the publicity of each category (issue 10 item 6), the data behind every
# (category × action) check at the API and at intake. A penalty is repaired (信用修复), withdrawn
# when its decision is revoked (撤销, 45号令 art. 11) or runs its period out; it is never "removed":
# it is on no list. A list entry is removed (移出 / 删除: on the lists a repair IS the removal, e.g.
# 经营异常名录 移出原因 1–5, domain.md §3.1; 信用中国 ZZYY 04 移出名单), withdrawn, or runs out; it
# is never "repaired" as a penalty is (domain.md §8.1, lists.md "Removal").
_LIST_STOPS = frozenset({"removed", "withdrawn", "expired"})
STOP_REASONS_BY_CATEGORY: dict[Category, frozenset[str]] = {
    category: frozenset({"repaired", "withdrawn", "expired"}) if category is Category.ADMIN_PENALTY else _LIST_STOPS
    for category in Category
}


class Severity(StrEnum):
    """Order 36 tiers; always taken from the source, never guessed."""

    MINOR = "minor"  # 轻微
    GENERAL = "general"  # 一般
    SERIOUS = "serious"  # 严重


class DomainFlag(StrEnum):
    """Sectors with longer minimum periods."""

    FOOD = "food"
    DRUGS = "drugs"
    SPECIAL_EQUIPMENT = "special_equipment"
    WORK_SAFETY = "work_safety"
    FIRE = "fire"


@dataclass(frozen=True, kw_only=True)
class TargetState:
    """What a system should show: operations are 'set to S', never toggles.

    `on`: the day publicity stopped as the system that stopped it states it (信用中国 ZZRQ, GSXT
    stopDate / remDate), written as the other systems' 终止日期. None when the stop is a decision
    whose own date says it (an API decision, the expiry sweep). Not part of the state's identity:
    the same stop with another date is the same state.
    """

    status: Publicity
    reason: StopReason | None = None
    on: date | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if (self.status is Publicity.STOPPED) != (self.reason is not None):
            raise ValueError("a stopped state needs a reason, a published one has none")
        if self.on is not None and self.reason is None:
            raise ValueError("only a stop has a date")

    @property
    def label(self) -> str:
        return self.status.value if self.reason is None else f"{self.status.value}:{self.reason.value}"


PUBLISHED = TargetState(status=Publicity.PUBLISHED)


def stopped(reason: StopReason, on: date | None = None) -> TargetState:
    return TargetState(status=Publicity.STOPPED, reason=reason, on=on)


def state_fits(category: Category, target: TargetState) -> bool:
    """Whether a record of `category` can be in `target` at all (STOP_REASONS_BY_CATEGORY)."""
    return target.reason is None or target.reason.value in STOP_REASONS_BY_CATEGORY[category]


@dataclass(frozen=True, kw_only=True)
class RecordFacts:
    """Content of a record as every system should know it (no state, no system ids)."""

    category: Category
    authority_name: str
    authority_code: str
    document_number: str
    authority_domain: AuthorityDomain
    subject_name: str
    subject_type: SubjectType
    subject_code: str | None = None  # 统一社会信用代码; natural persons have none here
    subject_code_checksum_ok: bool | None = None  # flagged, never rejected (domain.md §6)
    # A natural person's ID number exactly as the list's owner masks it (6201**********1234), so the
    # mirrors show what the owner shows; never unmasked, never a key (lists-common §3).
    subject_id_masked: str | None = None
    decision_date: date | None = None
    publication_date: date | None = None
    penalty_kinds: tuple[str, ...] = ()
    fine_wan_yuan: Decimal | None = None
    confiscation_wan_yuan: Decimal | None = None
    violation: str | None = None
    legal_basis: str | None = None  # 处罚依据 (CF_YJ): the statutes applied; tells the sector (rules/sectors.py)
    content: str | None = None
    listing_cause: str | None = None  # 经营异常名录 列入原因 code
    severity: Severity | None = None
    domain_flags: frozenset[DomainFlag] = field(default_factory=frozenset)
    # Fields whose value is only the nearest statement the source has, not that field (the legacy
    # 双公示 rows have no 违法行为类型: their 事由 CF_SY stands in): any system stating the field
    # itself wins over it, the owner included (overlay).
    stand_ins: frozenset[str] = field(default_factory=frozenset)

    @property
    def identity(self) -> RecordIdentity:
        cached: RecordIdentity | None = self.__dict__.get("_identity")
        if cached is None:  # once per (immutable) instance: normalising and hashing cost
            cached = RecordIdentity.of(self.category, self.authority_code, self.document_number)
            object.__setattr__(self, "_identity", cached)
        return cached

    @property
    def record_id(self) -> str:
        cached: str | None = self.__dict__.get("_record_id")
        if cached is None:
            cached = self.identity.record_id
            object.__setattr__(self, "_record_id", cached)
        return cached

    @property
    def owner(self) -> System:
        return owner_of(self.category, self.authority_domain)

    @property
    def mirrors(self) -> tuple[System, ...]:
        return mirrors_of(self.category, self.authority_domain, self.subject_type)

    def to_json(self) -> dict[str, Any]:
        # Every field value is immutable (text, enums, dates, Decimal, tuples, frozensets), so a
        # shallow read gives what `dataclasses.asdict` gave, without its deep copies (a go-live
        # serialises millions of facts: asdict was most of its CPU).
        raw = {name: getattr(self, name) for name in _FACT_FIELDS}
        raw["penalty_kinds"] = list(self.penalty_kinds)
        raw["domain_flags"] = sorted(f.value for f in self.domain_flags)
        if self.stand_ins:
            raw["stand_ins"] = sorted(self.stand_ins)
        else:  # absent when empty: the content digest of every record without one stays as it was
            del raw["stand_ins"]
        if self.subject_id_masked is None:  # likewise
            del raw["subject_id_masked"]
        for key in ("decision_date", "publication_date"):
            raw[key] = raw[key].isoformat() if raw[key] else None
        for key in ("fine_wan_yuan", "confiscation_wan_yuan"):
            raw[key] = str(raw[key]) if raw[key] is not None else None
        for key, value in raw.items():
            if isinstance(value, StrEnum):
                raw[key] = value.value
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RecordFacts:
        def _date(v: str | None) -> date | None:
            return date.fromisoformat(v) if v else None

        def _dec(v: str | None) -> Decimal | None:
            return Decimal(v) if v is not None else None

        return cls(
            category=Category(raw["category"]),
            authority_name=raw["authority_name"],
            authority_code=raw["authority_code"],
            document_number=raw["document_number"],
            authority_domain=AuthorityDomain(raw["authority_domain"]),
            subject_name=raw["subject_name"],
            subject_type=SubjectType(raw["subject_type"]),
            subject_code=raw.get("subject_code"),
            subject_code_checksum_ok=raw.get("subject_code_checksum_ok"),
            subject_id_masked=raw.get("subject_id_masked"),
            decision_date=_date(raw.get("decision_date")),
            publication_date=_date(raw.get("publication_date")),
            penalty_kinds=tuple(raw.get("penalty_kinds") or ()),
            fine_wan_yuan=_dec(raw.get("fine_wan_yuan")),
            confiscation_wan_yuan=_dec(raw.get("confiscation_wan_yuan")),
            violation=raw.get("violation"),
            legal_basis=raw.get("legal_basis"),
            content=raw.get("content"),
            listing_cause=raw.get("listing_cause"),
            severity=Severity(raw["severity"]) if raw.get("severity") else None,
            domain_flags=frozenset(DomainFlag(f) for f in raw.get("domain_flags") or ()),
            stand_ins=frozenset(raw.get("stand_ins") or ()),
        )

    def overlay(self, base: RecordFacts) -> RecordFacts:
        """These facts, with the gaps filled from `base`: a system that does not carry a field
        (信用中国 has no publication date, GSXT no severity) must not erase what another knows.
        A stand-in value here gives way to `base` stating the field itself (a richer field is never
        replaced by a poorer one), so the result is the same whichever system was read first."""
        empty: tuple[object, ...] = (None, (), frozenset())
        filled = {
            f.name: getattr(base, f.name)
            for f in fields(self)
            if f.name != "stand_ins"
            and getattr(base, f.name) not in empty
            and (getattr(self, f.name) in empty or (f.name in self.stand_ins and f.name not in base.stand_ins))
        }
        if not filled:
            return self
        stand_ins = (self.stand_ins - filled.keys()) | (base.stand_ins & filled.keys())
        return replace(self, **filled, stand_ins=frozenset(stand_ins))

    def json_text(self) -> str:
        """`to_json` as stored (keys sorted, UTF-8 text), once per instance: the store writes it and
        the fingerprint digests it."""
        cached: str | None = self.__dict__.get("_json_text")
        if cached is None:
            cached = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False)
            object.__setattr__(self, "_json_text", cached)
        return cached

    def fingerprint(self) -> str:
        """Stable digest of the content, to tell a real content change from a re-read. Computed
        once per (immutable) instance: the hot paths ask for it more than once."""
        cached: str | None = self.__dict__.get("_fingerprint")
        if cached is None:
            cached = hashlib.sha256(self.json_text().encode()).hexdigest()[:32]
            object.__setattr__(self, "_fingerprint", cached)
        return cached


_FACT_FIELDS = tuple(f.name for f in fields(RecordFacts))


# The fields a mirror must carry exactly as the owner has them (dates, amounts, reasons): what the
# reconciliation diff compares. Names, free text and tiers are left out on purpose: mirrors
# shorten or do not carry them (信用中国 has no publication date, GSXT no severity).
MIRRORED_FIELDS: tuple[str, ...] = (
    "decision_date",
    "fine_wan_yuan",
    "confiscation_wan_yuan",
    "violation",
    "listing_cause",
)


def mirrored_values(facts: RecordFacts, names: tuple[str, ...] = MIRRORED_FIELDS) -> tuple[str | None, ...]:
    """The projection of `facts` on the fields a mirror must carry, as text (`to_json`'s forms)."""
    out: list[str | None] = []
    for name in names:
        value = getattr(facts, name)
        if value is None:
            out.append(None)
        elif isinstance(value, date):
            out.append(value.isoformat())
        else:
            out.append(str(value))
    return tuple(out)


def mirrored_fingerprint(values: tuple[str | None, ...]) -> str:
    """Digest of a projection (`mirrored_values`): equal exactly when every carried field is equal."""
    payload = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class PublicityState:
    """Canonical state of a record: a target state plus who decided it, when, at which version."""

    target: TargetState
    version: int
    decided_by: str
    decided_at: datetime
    authoritative: bool = True  # False while only a mirror has reported the record


@dataclass(frozen=True, kw_only=True)
class CanonicalRecord:
    record_id: str
    facts: RecordFacts
    state: PublicityState


@dataclass(frozen=True, kw_only=True)
class SentWrite:
    """One of our writes to a system, kept while its echo can still arrive (docs/adr/0011)."""

    version: int
    target: TargetState
    digest: str | None  # fingerprint of the facts the write carried (None: not known)
    acked_at: datetime | None = None  # None: sent, not (yet) acknowledged


@dataclass(frozen=True, kw_only=True)
class LinkState:
    """What the gateway knows of one system's copy of a record."""

    system: str
    native_id: str | None = None
    written_version: int | None = None  # last version the system acknowledged
    written_target: TargetState | None = None
    written_at: datetime | None = None  # when the system acknowledged that write (the gateway's clock)
    seen_target: TargetState | None = None  # last state its change feed reported
    seen_source_version: str | None = None  # sortable position of that report in its feed
    queued: bool = False  # a delivery to this system is pending or in flight
    # The newest of our writes the system has reported back (its feed is past the older ones).
    confirmed_version: int | None = None
    writes: tuple[SentWrite, ...] = ()  # our writes not older than the confirmed one, oldest first
