"""The shapes of the rule data: regimes (periods, exclusions, conditions) and repair guidance.

The values live in `data.py` — the ONE source that both the evaluator (`evaluate.py`) and the
guidance builder (`guidance.py`) read. Each regime also describes its own periods and exclusions
(`periods()`, `exclusions()`) from its fields, so guidance cannot say something the evaluator does
not do. Frozen dataclasses only (STYLE.md §11); pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Literal

from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import DomainFlag, Severity
from gateway.domain.rules.periods import Period
from gateway.domain.rules.sources import Confidence, Note, Sourced


class Clock(StrEnum):
    """Which date of the record a regime counts from (domain.md §8.5: two clocks)."""

    DECISION_DATE = "decision_date"  # 信用中国: the decision (CF_JDRQ) or listing date
    PUBLICATION_DATE = "publication_date"  # GSXT: the day the record was first published


# Condition codes the evaluator can settle itself when the subject's standing is known
# (SAMR 45号令 art. 14: not on the abnormal or the serious list; domain.md §5.3).
NOT_ON_ABNORMAL_LIST = "not_on_abnormal_list"
NOT_ON_SERIOUS_LIST = "not_on_serious_list"


@dataclass(frozen=True, kw_only=True)
class PeriodRule:
    """One period as guidance states it: minimum or maximum, when it applies, how long."""

    kind: Literal["minimum", "maximum"]
    applies_when: str
    period: Sourced[Period]


@dataclass(frozen=True, kw_only=True)
class Regime:
    """What all rule sets share: what they govern, from which date, on which clock.

    A regime applies to a record on a system when the record's category is in `categories`, the
    system is in `systems` (None: any system publishing the record) and the record's clock date
    lies in [`applies_from`, `applies_until`] (either may be open).
    """

    id: str
    name: str
    instrument: Sourced[str]
    categories: frozenset[Category]
    systems: frozenset[System] | None
    clock: Sourced[Clock]
    applies_from: date | None = None
    applies_until: date | None = None
    in_force_from: Sourced[date] | None = None
    effect: Note | None = None  # what a repair does under this regime
    conditions: tuple[Note, ...] = ()  # what the subject must have done: the gateway cannot check these
    notes: tuple[Note, ...] = ()  # caveats shown in guidance

    def covers(self, on: date) -> bool:
        return (self.applies_from is None or on >= self.applies_from) and (
            self.applies_until is None or on <= self.applies_until
        )

    def applies_to(self, category: Category, system: System) -> bool:
        return category in self.categories and (self.systems is None or system in self.systems)

    def periods(self) -> tuple[PeriodRule, ...]:
        """The periods of this regime as guidance states them (read from the same fields the evaluator reads)."""
        return ()

    def exclusions(self) -> tuple[Note, ...]:
        """Records not published, never stopped early, and other limits, as guidance states them."""
        return ()

    def all_conditions(self) -> tuple[Note, ...]:
        """Every condition a subject may have to meet under this regime (guidance lists them all)."""
        return self.conditions


@dataclass(frozen=True, kw_only=True)
class UniformPenaltyRegime(Regime):
    """One minimum (longer in some sectors) and one maximum for every published penalty: NDRC Order 58."""

    minimum: Sourced[Period]
    minimum_long: Sourced[Period]
    long_minimum_flags: Sourced[frozenset[DomainFlag]]
    maximum: Sourced[Period]
    longest_wins: Note
    not_published_alone: Sourced[frozenset[str]]

    def periods(self) -> tuple[PeriodRule, ...]:
        flags = "、".join(sorted(f.value for f in self.long_minimum_flags.value))
        return (
            PeriodRule(kind="minimum", applies_when="行政处罚信息（一般）", period=self.minimum),
            PeriodRule(kind="minimum", applies_when=f"涉及 {flags} 领域", period=self.minimum_long),
            PeriodRule(kind="maximum", applies_when="行政处罚信息", period=self.maximum),
        )

    def exclusions(self) -> tuple[Note, ...]:
        kinds = "、".join(sorted(self.not_published_alone.value))
        return (
            Note(
                code="not_published_alone",
                text=f"仅受到{kinds}处罚的不予公示",
                source=self.not_published_alone.source,
                confidence=self.not_published_alone.confidence,
            ),
            self.longest_wins,
        )


@dataclass(frozen=True, kw_only=True)
class Tier:
    """One Order 36 tier: published by default or not, its minimum (None: none) and maximum."""

    severity: Severity
    label: str
    published_by_default: bool
    minimum: Period | None
    maximum: Period
    source: str
    confidence: Confidence


@dataclass(frozen=True, kw_only=True)
class TieredPenaltyRegime(Regime):
    """Periods by the record's tier (轻微/一般/严重), never guessed: NDRC Order 36."""

    tiers: tuple[Tier, ...]
    tier_origin: Note  # where the tier comes from (the sector's classification)

    def tier(self, severity: Severity) -> Tier:
        return next(t for t in self.tiers if t.severity is severity)

    def periods(self) -> tuple[PeriodRule, ...]:
        out: list[PeriodRule] = []
        for t in self.tiers:
            when = t.label if t.published_by_default else f"{t.label}（原则上不公示；确需公示的）"
            if t.minimum is not None:
                out.append(
                    PeriodRule(
                        kind="minimum",
                        applies_when=when,
                        period=Sourced(value=t.minimum, source=t.source, confidence=t.confidence),
                    )
                )
            out.append(
                PeriodRule(
                    kind="maximum",
                    applies_when=when,
                    period=Sourced(value=t.maximum, source=t.source, confidence=t.confidence),
                )
            )
        return tuple(out)

    def exclusions(self) -> tuple[Note, ...]:
        hidden = tuple(
            Note(
                code=f"{t.severity.value}_not_published_by_default",
                text=f"{t.label}失信信息原则上不予公示；确需公示的，最长不超过{t.maximum.label}，履行法定义务后即可修复",
                source=t.source,
                confidence=t.confidence,
            )
            for t in self.tiers
            if not t.published_by_default
        )
        return (*hidden, self.tier_origin)


@dataclass(frozen=True, kw_only=True)
class LowFineThreshold:
    """较低数额罚款: a fine strictly below this amount (万元) counts as low (不含本数)."""

    subject_type: SubjectType
    below_wan_yuan: Decimal
    source: str
    confidence: Confidence


@dataclass(frozen=True, kw_only=True)
class SamrPenaltyRegime(Regime):
    """GSXT penalty publication and early stop (总局令第45号; 市场监督管理信用修复管理办法), from publication."""

    known_kinds: Sourced[frozenset[str]]  # 行政处罚法 art. 9 literals (plus 吊销营业执照)
    not_published_alone: Sourced[frozenset[str]]
    light_kinds: Sourced[frozenset[str]]
    low_fine: tuple[LowFineThreshold, ...]
    light_period: Sourced[Period]
    standard_period: Sourced[Period]
    restriction_kinds: Sourced[frozenset[str]]  # published for their actual length when longer than 3 years
    early_minimum: Sourced[Period]
    early_minimum_long: Sourced[Period]
    long_early_flags: Sourced[frozenset[DomainFlag]]
    heavy_kinds: Sourced[frozenset[str]]  # never stopped early
    heavy_kinds_inferred: Sourced[frozenset[str]]
    longest_wins: Note

    def threshold(self, subject_type: SubjectType) -> LowFineThreshold | None:
        return next((t for t in self.low_fine if t.subject_type is subject_type), None)

    def periods(self) -> tuple[PeriodRule, ...]:
        flags = "、".join(sorted(f.value for f in self.long_early_flags.value))
        light = "、".join(sorted(self.light_kinds.value))
        return (
            PeriodRule(kind="maximum", applies_when=f"仅受到{light}或较低数额罚款", period=self.light_period),
            PeriodRule(kind="maximum", applies_when="其他行政处罚", period=self.standard_period),
            PeriodRule(kind="minimum", applies_when="提前停止公示（一般）", period=self.early_minimum),
            PeriodRule(kind="minimum", applies_when=f"提前停止公示（涉及 {flags}）", period=self.early_minimum_long),
        )

    def exclusions(self) -> tuple[Note, ...]:
        def note(code: str, text: str, fact: Sourced[frozenset[str]]) -> Note:
            return Note(code=code, text=text, source=fact.source, confidence=fact.confidence)

        thresholds = tuple(
            Note(
                code=f"low_fine_{t.subject_type.value}",
                text=f"较低数额罚款（{t.subject_type.value}）：低于 {t.below_wan_yuan} 万元（不含本数）",
                source=t.source,
                confidence=t.confidence,
            )
            for t in self.low_fine
        )
        return (
            note(
                "not_published_alone",
                f"仅受到{'、'.join(sorted(self.not_published_alone.value))}处罚的不予公示",
                self.not_published_alone,
            ),
            note(
                "no_early_stop_heavy",
                f"不得提前停止公示：{'、'.join(sorted(self.heavy_kinds.value))}",
                self.heavy_kinds,
            ),
            note(
                "no_early_stop_heavy_inferred",
                f"同样视为较重处罚：{'、'.join(sorted(self.heavy_kinds_inferred.value))}",
                self.heavy_kinds_inferred,
            ),
            note(
                "restriction_actual_length",
                f"{'、'.join(sorted(self.restriction_kinds.value))}期限超过三年的，公示期与其期限相同",
                self.restriction_kinds,
            ),
            Note(
                code="no_early_stop_light",
                text="仅受到通报批评或较低数额罚款的，三个月届满自动停止公示，不适用提前停止公示",
                source=self.light_period.source,
                confidence=self.light_period.confidence,
            ),
            self.longest_wins,
            *thresholds,
        )


@dataclass(frozen=True, kw_only=True)
class ListRegime(Regime):
    """A list authority's period and early removal (谁认定、谁修复; domain.md §5.4).

    `maximum` None: no automatic end is known (removal only on application or by the authority).
    `early_after` None: removal may be applied for as soon as the conditions are met.
    """

    maximum: Sourced[Period] | None
    early_after: Sourced[Period] | None
    maximum_caveat: Note | None = None  # shown with every evaluation (e.g. a period that may be extended)

    def periods(self) -> tuple[PeriodRule, ...]:
        out: list[PeriodRule] = []
        if self.early_after is not None:
            out.append(PeriodRule(kind="minimum", applies_when="申请提前移出", period=self.early_after))
        if self.maximum is not None:
            out.append(PeriodRule(kind="maximum", applies_when="名单期限届满", period=self.maximum))
        return tuple(out)

    def exclusions(self) -> tuple[Note, ...]:
        return (self.maximum_caveat,) if self.maximum_caveat is not None else ()


@dataclass(frozen=True, kw_only=True)
class ListingCause:
    """A 经营异常名录 列入原因 and the 移出原因 codes allowed with it (domain.md §3.1)."""

    code: str
    label: str
    removals: frozenset[str]
    remedy: Note  # what the subject must do (the matching SAMR art. 5 condition)


@dataclass(frozen=True, kw_only=True)
class RemovalReason:
    code: str
    label: str
    by_system: bool  # decided by the registry itself (届满, 注吊销), not on the subject's application


@dataclass(frozen=True, kw_only=True)
class AbnormalListRegime(ListRegime):
    """经营异常名录: removal on remedying the listing cause, with the cause/removal pairing."""

    causes: tuple[ListingCause, ...]
    removal_reasons: tuple[RemovalReason, ...]
    any_cause_removals: frozenset[str]  # allowed whatever the cause (7 = 注吊销)
    pairing_source: Note

    def cause(self, code: str | None) -> ListingCause | None:
        return next((c for c in self.causes if c.code == code), None)

    def all_conditions(self) -> tuple[Note, ...]:
        return tuple(c.remedy for c in self.causes) + self.conditions

    def exclusions(self) -> tuple[Note, ...]:
        pairs = "; ".join(f"{c.code}→{'/'.join(sorted(c.removals))}" for c in self.causes)
        pairing = Note(
            code="removal_reason_pairing",
            text=f"移出原因须与列入原因对应：{pairs}; 任意原因→{'/'.join(sorted(self.any_cause_removals))}",
            source=self.pairing_source.source,
            confidence=self.pairing_source.confidence,
        )
        return (*super().exclusions(), pairing)


@dataclass(frozen=True, kw_only=True)
class Channel:
    """Where to apply or ask: a website, an app, an office."""

    name: str
    url: str | None
    source: str
    confidence: Confidence


@dataclass(frozen=True, kw_only=True)
class RepairRoute:
    """Who decides a repair for records of a category (optionally only of one authority domain)."""

    applies_when: str
    authority_domain: AuthorityDomain | None  # None: every record of the category
    owner: System
    authority: Note  # who decides (谁认定、谁修复)
    where_to_apply: tuple[Channel, ...]
    time_limits: tuple[Note, ...]
    propagation: Note | None = None  # how the result reaches 信用中国（甘肃）


@dataclass(frozen=True, kw_only=True)
class CategoryGuide:
    """The guidance of one of the nine categories (seed 附件1 rows)."""

    category: Category
    responsible_units: Note  # 附件1 责任单位
    routes: tuple[RepairRoute, ...]
    materials: tuple[Note, ...]


@dataclass(frozen=True, kw_only=True)
class SectorMarker:
    """What places a penalty in a sector with a longer minimum period (domain.md §5.1, §5.3).

    `laws`: titles (without 《》 and without the 中华人民共和国 prefix) of the statutes whose breach
    is that sector's; `authorities`: parts of the names of authorities whose every penalty is that
    sector's; `violation_terms`: words of a violation description that name the sector's object.
    """

    sector: DomainFlag
    label: str
    laws: Sourced[frozenset[str]]
    authorities: Sourced[frozenset[str]]
    violation_terms: Sourced[frozenset[str]]


@dataclass(frozen=True, kw_only=True)
class SectorRules:
    """How the sector of a penalty is derived from what the record carries (never guessed).

    A sector is known when the record cites a sector statute, names a sector authority or describes
    a sector's object in its violation. The record is known to be in none of the sectors when it
    cites its substantive legal basis and that names no sector statute, or when its authority's
    remit holds none of the sectors. Anything else is "sector unknown": the rule engine then gives
    no minimum period rather than the short one.
    """

    markers: tuple[SectorMarker, ...]
    procedural_laws: Sourced[frozenset[str]]  # cited by every penalty; they say nothing of the sector
    outside_authorities: Sourced[frozenset[str]]  # name parts of authorities whose remit holds no sector
    authority_code: Note  # why the authority's code is not read (GB 32100 carries no sector)

    def marker(self, sector: DomainFlag) -> SectorMarker:
        return next(m for m in self.markers if m.sector is sector)


@dataclass(frozen=True, kw_only=True)
class Rulebook:
    """All regimes and guides. Checked on construction so a mistake in the data fails at import."""

    regimes: tuple[Regime, ...]
    guides: tuple[CategoryGuide, ...]
    help_channels: tuple[Channel, ...] = field(default=())  # where to ask, for every category
    general_notes: tuple[Note, ...] = field(default=())
    sectors: SectorRules | None = None  # None: no sector derivation (a sector-dependent minimum is unknown)

    def __post_init__(self) -> None:
        ids = [r.id for r in self.regimes]
        if len(ids) != len(set(ids)):
            raise ValueError("regime ids must be unique")
        if {g.category for g in self.guides} != set(Category) or len(self.guides) != len(Category):
            raise ValueError("one guide per category")
        for category in Category:
            for system in System:
                found = self.regimes_for(category, system)
                if len({r.clock.value for r in found}) > 1:
                    raise ValueError(f"regimes for {category}/{system} count from different clocks")
                spans = sorted((r.applies_from or date.min, r.applies_until or date.max) for r in found)
                for (_, until), (start, _) in pairwise(spans):
                    if start <= until:
                        raise ValueError(f"regimes for {category}/{system} overlap in time")

    def regimes_for(self, category: Category, system: System) -> tuple[Regime, ...]:
        # Asked for on every evaluation, and plan() evaluates on every fan-out: answered once per
        # (category, system) for this immutable book (the cache is not a field, like a fingerprint).
        cache: dict[tuple[Category, System], tuple[Regime, ...]] | None = self.__dict__.get("_regimes_for")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_regimes_for", cache)
        found = cache.get((category, system))
        if found is None:
            found = cache[(category, system)] = tuple(r for r in self.regimes if r.applies_to(category, system))
        return found

    def regime(self, regime_id: str) -> Regime:
        for r in self.regimes:
            if r.id == regime_id:
                return r
        raise KeyError(regime_id)

    def guide(self, category: Category) -> CategoryGuide:
        return next(g for g in self.guides if g.category is category)
