"""Per record and per system: which rule set governs it, when its minimum and maximum periods end,
and whether the subject may apply for repair as of a given day (domain.md §5, §8.5–8.7, §10).

Two steps, both pure (no I/O; `today` is a parameter, never read from a clock):

- `schedule(facts, system)` — what does not depend on the day: the regime (chosen by the date the
  regime counts from), the clock and its start date, whether the record is published at all, the
  minimum and maximum `PeriodEnd`s, reasons it can never be repaired early, and the conditions the
  subject must meet. A record that lacks an attribute the rule needs is `evaluable=False` with
  reason codes: nothing is guessed.
- `evaluate(facts, system, today=…)` — the schedule judged on `today`: `eligible` True/False (None
  when not evaluable), the reasons, and `requires`: conditions the gateway cannot know (fine paid,
  commitment made, …), listed, not guessed.

Helpers for the expiry sweep and the reminders: `expires_on` (first day publicity has stopped by
itself) and `minimum_ends_on` (first day the subject may apply).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Literal

from gateway.domain.categories import Category, System
from gateway.domain.model import DomainFlag, RecordFacts
from gateway.domain.rules import data
from gateway.domain.rules.overrides import RuleOverrides, apply_overrides
from gateway.domain.rules.periods import Period, PeriodEnd, PeriodOutOfRange
from gateway.domain.rules.schema import (
    NOT_ON_ABNORMAL_LIST,
    NOT_ON_SERIOUS_LIST,
    AbnormalListRegime,
    Clock,
    ListRegime,
    Regime,
    Rulebook,
    SamrPenaltyRegime,
    SectorRules,
    TieredPenaltyRegime,
    UniformPenaltyRegime,
)
from gateway.domain.rules.sectors import SectorFinding, derive_sectors
from gateway.domain.rules.sources import Confidence, Note, Sourced


class Code(StrEnum):
    """Reason codes: stable, snake_case; clients branch on them."""

    # not evaluable: the record lacks what the rule needs, or no rule applies
    SYSTEM_DOES_NOT_PUBLISH = "system_does_not_publish"
    NO_RULE_FOR_SYSTEM = "no_rule_for_system"
    NO_RULE_FOR_DATE = "no_rule_for_date"
    DECISION_DATE_MISSING = "decision_date_missing"
    PUBLICATION_DATE_MISSING = "publication_date_missing"
    SEVERITY_MISSING = "severity_missing"
    PENALTY_KINDS_MISSING = "penalty_kinds_missing"
    FINE_AMOUNT_MISSING = "fine_amount_missing"
    LOW_FINE_THRESHOLD_MISSING = "low_fine_threshold_missing"
    SECTOR_UNKNOWN = "sector_unknown"
    DATE_OUT_OF_RANGE = "date_out_of_range"
    # ineligible in kind: no repair application will ever help
    WARNING_ONLY_NOT_PUBLISHED = "warning_only_not_published"
    NOT_PUBLISHED_BY_DEFAULT = "not_published_by_default"
    HEAVY_PENALTY_NO_EARLY_STOP = "heavy_penalty_no_early_stop"
    LIGHT_PENALTY_NO_EARLY_STOP = "light_penalty_no_early_stop"
    MAXIMUM_REACHED = "maximum_reached"
    # ineligible for now
    SUBJECT_ON_ABNORMAL_LIST = "subject_on_abnormal_list"
    SUBJECT_ON_SERIOUS_LIST = "subject_on_serious_list"
    MINIMUM_NOT_REACHED = "minimum_not_reached"
    # eligible
    MINIMUM_REACHED = "minimum_reached"
    NO_MINIMUM_PERIOD = "no_minimum_period"
    # notes (informative)
    REPAIRED_IN_OWNER_SYSTEM = "repaired_in_owner_system"
    BEFORE_REGIME_IN_FORCE = "before_regime_in_force"
    LONGEST_PERIOD_WINS = "longest_period_wins"
    MAXIMUM_DEPENDS_ON_RESTRICTION = "maximum_depends_on_restriction_length"
    UNRECOGNISED_PENALTY_KIND = "unrecognised_penalty_kind"
    LISTING_CAUSE_UNKNOWN = "listing_cause_unknown"
    CAP_IF_PUBLISHED = "cap_if_published"
    SECTOR_DERIVED = "sector_derived"


_MISSING_CLOCK = {
    Clock.DECISION_DATE: Code.DECISION_DATE_MISSING,
    Clock.PUBLICATION_DATE: Code.PUBLICATION_DATE_MISSING,
}
_IN_KIND = frozenset(
    {
        Code.WARNING_ONLY_NOT_PUBLISHED,
        Code.NOT_PUBLISHED_BY_DEFAULT,
        Code.HEAVY_PENALTY_NO_EARLY_STOP,
        Code.LIGHT_PENALTY_NO_EARLY_STOP,
        Code.MAXIMUM_REACHED,
    }
)
FINE = "罚款"


@dataclass(frozen=True, kw_only=True)
class Reason:
    """Why a record is (not) eligible, or a caveat. `rule_ref` cites the rule (source and section)."""

    code: str
    message: str
    rule_ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Requirement:
    """A condition the gateway cannot check (fine paid, commitment made…): the subject must meet it."""

    code: str
    message: str
    rule_ref: str
    confidence: Confidence


@dataclass(frozen=True, kw_only=True)
class RegimeRef:
    """The rule set an evaluation used."""

    id: str
    name: str
    instrument: str
    source: str
    confidence: Confidence


@dataclass(frozen=True, kw_only=True)
class SubjectStanding:
    """What the caller knows about the subject's other records. None: unknown (then it is a requirement).

    Only positive knowledge should be passed as True; pass False only when the caller is sure (a
    gateway that holds a subset of the lists cannot prove absence).
    """

    on_abnormal_list: bool | None = None
    on_serious_list: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """The part of an evaluation that does not depend on the day."""

    system: System
    category: Category
    role: Literal["owner", "mirror"]
    repaired_by: System
    evaluable: bool
    regime: Regime | None = None
    clock: Clock | None = None
    start: date | None = None
    published: bool | None = None  # does the rule publish this record at all (by default)?
    minimum: PeriodEnd | None = None  # first_day_after: the first day the subject may apply
    maximum: PeriodEnd | None = None  # first_day_after: the first day publicity has stopped by itself
    blockers: tuple[Reason, ...] = ()  # not evaluable: why; evaluable: why never repairable early
    conditions: tuple[Note, ...] = ()
    notes: tuple[Reason, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """A record on one system as of `today`.

    `minimum.first_day_after` is the first day the subject may apply for repair (early stop);
    `maximum.first_day_after` is the first day publicity has stopped by itself. Both ends also give
    `last_day`, the last day inside the period. `eligible` is None exactly when `evaluable` is False.
    """

    system: System
    category: Category
    role: Literal["owner", "mirror"]
    repaired_by: System
    today: date
    evaluable: bool
    regime: RegimeRef | None
    clock: Clock | None
    start: date | None
    published: bool | None
    minimum: PeriodEnd | None
    maximum: PeriodEnd | None
    eligible: bool | None
    reasons: tuple[Reason, ...]
    requires: tuple[Requirement, ...] = ()
    notes: tuple[Reason, ...] = field(default=())


class _NotEvaluable(Exception):
    """`maximum`: the end publicity reaches by itself when it does not depend on what is missing
    (a sector-dependent minimum): the expiry sweep still needs it."""

    def __init__(self, *reasons: Reason, maximum: PeriodEnd | None = None) -> None:
        super().__init__(reasons[0].message)
        self.reasons = reasons
        self.maximum = maximum


@dataclass(frozen=True, kw_only=True)
class _Body:
    published: bool
    minimum: PeriodEnd | None = None
    maximum: PeriodEnd | None = None
    blockers: tuple[Reason, ...] = ()
    conditions: tuple[Note, ...] = ()
    notes: tuple[Reason, ...] = ()


def _end(start: date, fact: Sourced[Period]) -> PeriodEnd:
    return PeriodEnd.of(start, fact.value, source=fact.source, confidence=fact.confidence)


def _kinds(facts: RecordFacts) -> frozenset[str]:
    kinds = frozenset(k.strip() for k in facts.penalty_kinds if k and k.strip())
    if not kinds:
        raise _NotEvaluable(
            Reason(
                code=Code.PENALTY_KINDS_MISSING,
                message="the record carries no penalty kind (处罚类别): whether it is published, and for how long, "
                "depends on it",
                rule_ref="domain.md §2.1 row 18 (CF_CFLB), §5.1, §5.3",
            )
        )
    return kinds


def _warning_only(kinds: frozenset[str], fact: Sourced[frozenset[str]]) -> _Body | None:
    if not kinds <= fact.value:
        return None
    return _Body(
        published=False,
        blockers=(
            Reason(
                code=Code.WARNING_ONLY_NOT_PUBLISHED,
                message=f"only {'、'.join(sorted(kinds))}: such penalties are not published, so there is nothing "
                "to repair",
                rule_ref=fact.source,
            ),
        ),
    )


def _longest_note(kinds: frozenset[str], rule: Note) -> tuple[Reason, ...]:
    if len(kinds) < 2:
        return ()
    return (
        Reason(
            code=Code.LONGEST_PERIOD_WINS,
            message=f"several penalty kinds ({'、'.join(sorted(kinds))}): the longest period applies",
            rule_ref=rule.source,
        ),
    )


def _sector(
    facts: RecordFacts, sectors: SectorRules | None, maximum: PeriodEnd | None
) -> tuple[frozenset[DomainFlag], Reason]:
    """The record's sectors and a note saying why, or _NotEvaluable (keeping `maximum`) when they
    cannot be told. Without sector rules (a custom rulebook) only the record's own flags count."""
    finding = (
        derive_sectors(facts, sectors)
        if sectors is not None
        else SectorFinding(known=True, sectors=facts.domain_flags, evidence=("domain_flags",))
    )
    if not finding.known:
        raise _NotEvaluable(
            Reason(code=Code.SECTOR_UNKNOWN, message=finding.reason or "sector unknown", rule_ref=finding.source),
            maximum=maximum,
        )
    labels = "、".join(sorted(f.value for f in finding.sectors)) or "none of the sectors with a longer minimum"
    return finding.sectors, Reason(
        code=Code.SECTOR_DERIVED,
        message=f"sector: {labels} ({'; '.join(finding.evidence)})",
        rule_ref=finding.source,
    )


def _uniform(regime: UniformPenaltyRegime, facts: RecordFacts, start: date, sectors: SectorRules | None) -> _Body:
    """NDRC Order 58 (domain.md §5.1): 3 months minimum (1 year in five sectors), 3 years maximum."""
    kinds = _kinds(facts)
    warning = _warning_only(kinds, regime.not_published_alone)
    if warning is not None:
        return warning
    maximum = _end(start, regime.maximum)
    flags, sector_note = _sector(facts, sectors, maximum)
    minimum = regime.minimum_long if flags & regime.long_minimum_flags.value else regime.minimum
    return _Body(
        published=True,
        minimum=_end(start, minimum),
        maximum=maximum,
        conditions=regime.conditions,
        notes=(*_longest_note(kinds, regime.longest_wins), sector_note),
    )


def _tiered(regime: TieredPenaltyRegime, facts: RecordFacts, start: date) -> _Body:
    """NDRC Order 36 (domain.md §5.2): periods by the record's tier, which is never guessed."""
    if facts.severity is None:
        raise _NotEvaluable(
            Reason(
                code=Code.SEVERITY_MISSING,
                message="under Order 36 the periods depend on the tier (轻微/一般/严重), which the record's source "
                "does not state; the gateway never guesses it",
                rule_ref=regime.tier_origin.source,
            )
        )
    tier = regime.tier(facts.severity)
    maximum = PeriodEnd.of(start, tier.maximum, source=tier.source, confidence=tier.confidence)
    if not tier.published_by_default:
        return _Body(
            published=False,
            maximum=maximum,
            blockers=(
                Reason(
                    code=Code.NOT_PUBLISHED_BY_DEFAULT,
                    message=f"{tier.label} items are not published by default, so there is nothing to repair",
                    rule_ref=tier.source,
                ),
            ),
            notes=(
                Reason(
                    code=Code.CAP_IF_PUBLISHED,
                    message=f"if a sector publishes it anyway, publicity lasts at most {tier.maximum.label} and it may "
                    "be repaired as soon as the legal obligations are met",
                    rule_ref=tier.source,
                ),
            ),
        )
    minimum = None
    if tier.minimum is not None:
        minimum = PeriodEnd.of(start, tier.minimum, source=tier.source, confidence=tier.confidence)
    return _Body(published=True, minimum=minimum, maximum=maximum, conditions=regime.conditions)


def _samr(regime: SamrPenaltyRegime, facts: RecordFacts, start: date, sectors: SectorRules | None) -> _Body:
    """GSXT (domain.md §5.3): 3 months for 通报批评/low fines, 3 years otherwise (restrictions: their
    length), from publication; early stop after 6 months (1 year in three sectors), never for heavy kinds."""
    kinds = _kinds(facts)
    warning = _warning_only(kinds, regime.not_published_alone)
    if warning is not None:
        return warning
    published = kinds - regime.not_published_alone.value
    notes = list(_longest_note(kinds, regime.longest_wins))
    conditions = list(regime.conditions)

    unrecognised = published - regime.known_kinds.value
    if unrecognised:
        listed = "、".join(sorted(unrecognised))
        notes.append(
            Reason(
                code=Code.UNRECOGNISED_PENALTY_KIND,
                message=f"{listed} is not a 行政处罚法 art. 9 kind: counted as a 3-year penalty",
                rule_ref=regime.known_kinds.source,
            )
        )
        conditions.append(
            Note(
                code="not_heavier_penalty",
                text=f"确认“{listed}”不属于责令停产停业、吊销许可证件等较重行政处罚",
                source=regime.heavy_kinds.source,
                confidence=regime.heavy_kinds.confidence,
            )
        )

    restriction = published & regime.restriction_kinds.value
    fine_unknown = False
    low_fine = False
    if FINE in published:
        threshold = regime.threshold(facts.subject_type)
        if threshold is None:
            raise _NotEvaluable(
                Reason(
                    code=Code.LOW_FINE_THRESHOLD_MISSING,
                    message=f"no 较低数额罚款 threshold is configured for {facts.subject_type.value}",
                    rule_ref=regime.light_period.source,
                )
            )
        if facts.fine_wan_yuan is None:
            fine_unknown = True
        else:
            low_fine = facts.fine_wan_yuan < threshold.below_wan_yuan
    standard = any(
        kind not in regime.light_kinds.value and kind != FINE and kind not in restriction for kind in published
    ) or (FINE in published and not fine_unknown and not low_fine)

    maximum: PeriodEnd | None
    if restriction:
        maximum = None  # at least 3 years; longer when the restriction is: its length is not in the record
        floor = _end(start, regime.standard_period)
        notes.append(
            Reason(
                code=Code.MAXIMUM_DEPENDS_ON_RESTRICTION,
                message=f"{'、'.join(sorted(restriction))} is published for 3 years or, when longer, for the "
                f"restriction's own length, which the record does not carry: publicity lasts at least until "
                f"{floor.last_day.isoformat()}",
                rule_ref=regime.restriction_kinds.source,
            )
        )
    elif standard:
        maximum = _end(start, regime.standard_period)
    elif fine_unknown:
        raise _NotEvaluable(
            Reason(
                code=Code.FINE_AMOUNT_MISSING,
                message="a 罚款 without its amount (CF_NR_FK, 万元): whether it is a 较低数额罚款 (3 months) or not "
                "(3 years) cannot be told",
                rule_ref=regime.light_period.source,
            )
        )
    else:
        maximum = _end(start, regime.light_period)

    heavy = published & (regime.heavy_kinds.value | regime.heavy_kinds_inferred.value)
    if heavy:
        verified = heavy & regime.heavy_kinds.value
        rule = regime.heavy_kinds if verified else regime.heavy_kinds_inferred
        blocker = Reason(
            code=Code.HEAVY_PENALTY_NO_EARLY_STOP,
            message=f"{'、'.join(sorted(heavy))}: a heavier penalty is never stopped early; it stops when its "
            "period is over",
            rule_ref=rule.source,
        )
        return _Body(published=True, maximum=maximum, blockers=(blocker,), notes=tuple(notes))
    if not standard and not restriction:
        blocker = Reason(
            code=Code.LIGHT_PENALTY_NO_EARLY_STOP,
            message="only 通报批评 or a low fine: publicity stops by itself after 3 months; early stop does not apply",
            rule_ref=regime.light_period.source,
        )
        return _Body(published=True, maximum=maximum, blockers=(blocker,), notes=tuple(notes))
    flags, sector_note = _sector(facts, sectors, maximum)
    notes.append(sector_note)
    minimum = _end(start, regime.early_minimum_long if flags & regime.long_early_flags.value else regime.early_minimum)
    return _Body(published=True, minimum=minimum, maximum=maximum, conditions=tuple(conditions), notes=tuple(notes))


def _list(regime: ListRegime, facts: RecordFacts, start: date) -> _Body:
    """A list authority's rule (domain.md §5.4): maximum (if any) and early removal (if a wait applies)."""
    notes: list[Reason] = []
    if regime.maximum_caveat is not None:
        caveat = regime.maximum_caveat
        notes.append(Reason(code=caveat.code, message=caveat.text, rule_ref=caveat.source))
    conditions = regime.conditions
    if isinstance(regime, AbnormalListRegime):
        cause = regime.cause(facts.listing_cause)
        if cause is not None:
            conditions = (cause.remedy, *conditions)
        else:
            notes.append(
                Reason(
                    code=Code.LISTING_CAUSE_UNKNOWN,
                    message="the listing cause (列入原因) is unknown: the removal reason must match it",
                    rule_ref=regime.pairing_source.source,
                )
            )
            pairing = regime.pairing_source
            remedy = Note(
                code="remedy_listing_cause",
                text="消除列入原因（移出原因须与列入原因对应）",
                source=pairing.source,
                confidence=pairing.confidence,
            )
            conditions = (remedy, *conditions)
    return _Body(
        published=True,
        minimum=_end(start, regime.early_after) if regime.early_after is not None else None,
        maximum=_end(start, regime.maximum) if regime.maximum is not None else None,
        conditions=conditions,
        notes=tuple(notes),
    )


def _body(regime: Regime, facts: RecordFacts, start: date, sectors: SectorRules | None) -> _Body:
    if isinstance(regime, UniformPenaltyRegime):
        return _uniform(regime, facts, start, sectors)
    if isinstance(regime, TieredPenaltyRegime):
        return _tiered(regime, facts, start)
    if isinstance(regime, SamrPenaltyRegime):
        return _samr(regime, facts, start, sectors)
    if isinstance(regime, ListRegime):
        return _list(regime, facts, start)
    raise TypeError(f"no evaluator for {type(regime).__name__}")  # a new regime type needs one


def publishing_systems(facts: RecordFacts) -> tuple[System, ...]:
    """Owner first, then the mirrors (categories.owner_of / mirrors_of)."""
    return (facts.owner, *facts.mirrors)


def _clock_date(facts: RecordFacts, clock: Clock) -> date | None:
    return facts.decision_date if clock is Clock.DECISION_DATE else facts.publication_date


def schedule(
    facts: RecordFacts,
    system: System | str,
    *,
    overrides: RuleOverrides | None = None,
    rulebook: Rulebook | None = None,
) -> Schedule:
    """The day-independent part of an evaluation of `facts` on `system`.

    Raises ValueError when `system` is not a System value. `rulebook` defaults to `data.RULEBOOK`
    (read at call time); `overrides` are the operator's settings.
    """
    system = System(system)
    owner = facts.owner
    role: Literal["owner", "mirror"] = "owner" if system is owner else "mirror"
    base = Schedule(system=system, category=facts.category, role=role, repaired_by=owner, evaluable=False)
    if system not in publishing_systems(facts):
        reason = Reason(
            code=Code.SYSTEM_DOES_NOT_PUBLISH,
            message=f"{system.value} does not publish {facts.category.value} records of this kind",
            rule_ref="gateway.domain.categories.owner_of / mirrors_of (domain.md §8.1)",
        )
        return replace(base, blockers=(reason,))
    notes: list[Reason] = []
    if role == "mirror":
        notes.append(
            Reason(
                code=Code.REPAIRED_IN_OWNER_SYSTEM,
                message=f"repair of this record is decided in {owner.value} (谁认定、谁修复); {system.value} mirrors "
                "the result",
                rule_ref="domain.md §8.1; seed 甘营商〔2024〕16号 §(二)–(四)",
            )
        )

    def not_evaluable(
        *reasons: Reason,
        regime: Regime | None = None,
        clock: Clock | None = None,
        start: date | None = None,
        maximum: PeriodEnd | None = None,
    ) -> Schedule:
        return replace(
            base, blockers=reasons, regime=regime, clock=clock, start=start, maximum=maximum, notes=tuple(notes)
        )

    book = apply_overrides(rulebook or data.RULEBOOK, overrides)
    candidates = book.regimes_for(facts.category, system)
    if not candidates:
        return not_evaluable(
            Reason(
                code=Code.NO_RULE_FOR_SYSTEM,
                message=f"no rule set covers {facts.category.value} on {system.value}",
            )
        )
    clock = candidates[0].clock.value
    start = _clock_date(facts, clock)
    if start is None:
        return not_evaluable(
            Reason(
                code=_MISSING_CLOCK[clock],
                message=f"the rules for {facts.category.value} on {system.value} count from the {clock.value}, "
                "which the record does not carry",
                rule_ref=candidates[0].clock.source,
            ),
            clock=clock,
        )
    regime = next((r for r in candidates if r.covers(start)), None)
    if regime is None:
        return not_evaluable(
            Reason(code=Code.NO_RULE_FOR_DATE, message=f"no rule set covers a {clock.value} of {start.isoformat()}"),
            clock=clock,
            start=start,
        )
    if regime.in_force_from is not None and start < regime.in_force_from.value:
        notes.append(
            Reason(
                code=Code.BEFORE_REGIME_IN_FORCE,
                message=f"the {clock.value} {start.isoformat()} is before {regime.name} took effect "
                f"({regime.in_force_from.value.isoformat()}); the rules then in force may have differed",
                rule_ref=regime.in_force_from.source,
            )
        )
    try:
        body = _body(regime, facts, start, book.sectors)
    except _NotEvaluable as exc:
        return not_evaluable(*exc.reasons, regime=regime, clock=clock, start=start, maximum=exc.maximum)
    except PeriodOutOfRange as exc:
        return not_evaluable(
            Reason(code=Code.DATE_OUT_OF_RANGE, message=str(exc)), regime=regime, clock=clock, start=start
        )
    return Schedule(
        system=system,
        category=facts.category,
        role=role,
        repaired_by=owner,
        evaluable=True,
        regime=regime,
        clock=clock,
        start=start,
        published=body.published,
        minimum=body.minimum,
        maximum=body.maximum,
        blockers=body.blockers,
        conditions=body.conditions,
        notes=(*notes, *body.notes),
    )


def _regime_ref(regime: Regime | None) -> RegimeRef | None:
    if regime is None:
        return None
    return RegimeRef(
        id=regime.id,
        name=regime.name,
        instrument=regime.instrument.value,
        source=regime.instrument.source,
        confidence=regime.instrument.confidence,
    )


def _evaluation(
    plan: Schedule,
    today: date,
    *,
    eligible: bool | None,
    reasons: tuple[Reason, ...],
    requires: Iterable[Requirement] = (),
) -> Evaluation:
    return Evaluation(
        system=plan.system,
        category=plan.category,
        role=plan.role,
        repaired_by=plan.repaired_by,
        today=today,
        evaluable=plan.evaluable,
        regime=_regime_ref(plan.regime),
        clock=plan.clock,
        start=plan.start,
        published=plan.published if plan.evaluable else None,
        minimum=plan.minimum,
        maximum=plan.maximum,
        eligible=eligible,
        reasons=reasons,
        requires=tuple(requires),
        notes=plan.notes,
    )


def _standing_reason(code: str, standing: SubjectStanding | None, condition: Note) -> Reason | bool | None:
    """For the list-standing conditions: a failing Reason, True (known satisfied) or None (unknown)."""
    if standing is None:
        return None
    known = standing.on_abnormal_list if code == NOT_ON_ABNORMAL_LIST else standing.on_serious_list
    if known is None:
        return None
    if not known:
        return True
    failing = Code.SUBJECT_ON_ABNORMAL_LIST if code == NOT_ON_ABNORMAL_LIST else Code.SUBJECT_ON_SERIOUS_LIST
    return Reason(code=failing, message=f"the subject is currently listed: {condition.text}", rule_ref=condition.source)


def evaluate(
    facts: RecordFacts,
    system: System | str,
    *,
    today: date,
    overrides: RuleOverrides | None = None,
    standing: SubjectStanding | None = None,
    rulebook: Rulebook | None = None,
) -> Evaluation:
    """Eligibility of `facts` on `system` as of `today` (see the module docstring).

    `eligible` is True when every condition the gateway can check holds (the minimum period is
    over, the record is repairable in kind, its publicity has not already ended, the subject is not
    known to be on a blocking list); the subject must still meet `requires`.
    """
    plan = schedule(facts, system, overrides=overrides, rulebook=rulebook)
    if not plan.evaluable:
        return _evaluation(plan, today, eligible=None, reasons=plan.blockers)

    failing: list[Reason] = []
    if plan.maximum is not None and plan.maximum.reached(today):
        failing.append(
            Reason(
                code=Code.MAXIMUM_REACHED,
                message=f"the maximum period ended on {plan.maximum.last_day.isoformat()}: publicity has stopped by "
                "itself, no repair is needed",
                rule_ref=plan.maximum.source,
            )
        )
    failing.extend(plan.blockers)
    requires: list[Requirement] = []
    for condition in plan.conditions:
        if condition.code in (NOT_ON_ABNORMAL_LIST, NOT_ON_SERIOUS_LIST):
            settled = _standing_reason(condition.code, standing, condition)
            if isinstance(settled, Reason):
                failing.append(settled)
                continue
            if settled is True:
                continue
        requires.append(
            Requirement(
                code=condition.code,
                message=condition.text,
                rule_ref=condition.source,
                confidence=condition.confidence,
            )
        )
    if plan.minimum is not None and not plan.minimum.reached(today):
        failing.append(
            Reason(
                code=Code.MINIMUM_NOT_REACHED,
                message=f"the minimum period runs until {plan.minimum.last_day.isoformat()}: the subject may apply "
                f"from {plan.minimum.first_day_after.isoformat()}",
                rule_ref=plan.minimum.source,
            )
        )
    if failing:
        in_kind = any(r.code in _IN_KIND for r in failing)
        return _evaluation(plan, today, eligible=False, reasons=tuple(failing), requires=() if in_kind else requires)
    if plan.minimum is not None:
        reason = Reason(
            code=Code.MINIMUM_REACHED,
            message=f"the minimum period ended on {plan.minimum.last_day.isoformat()}",
            rule_ref=plan.minimum.source,
        )
    else:
        reason = Reason(
            code=Code.NO_MINIMUM_PERIOD,
            message="no waiting period: the subject may apply as soon as it meets the conditions",
            rule_ref=plan.regime.instrument.source if plan.regime else None,
        )
    return _evaluation(plan, today, eligible=True, reasons=(reason,), requires=requires)


def evaluate_all(
    facts: RecordFacts,
    systems: Iterable[System | str] | None = None,
    *,
    today: date,
    overrides: RuleOverrides | None = None,
    standing: SubjectStanding | None = None,
    rulebook: Rulebook | None = None,
) -> dict[str, Evaluation]:
    """`evaluate` on each of `systems` (default: every system that publishes the record, owner first)."""
    chosen = publishing_systems(facts) if systems is None else tuple(System(s) for s in systems)
    return {
        s.value: evaluate(facts, s, today=today, overrides=overrides, standing=standing, rulebook=rulebook)
        for s in chosen
    }


NOT_PUBLISHED = frozenset({Code.WARNING_ONLY_NOT_PUBLISHED, Code.NOT_PUBLISHED_BY_DEFAULT})
_ANY_DAY = date(2020, 1, 1)  # a start for a body whose publication does not depend on the date


def _may_withhold(regime: Regime, facts: RecordFacts) -> bool:
    """Whether `regime` can withhold `facts` at all: its kinds are all not published alone, or its
    tier is not published by default (read from the rule data, as the evaluator reads it)."""
    if isinstance(regime, UniformPenaltyRegime | SamrPenaltyRegime):
        kinds = {k.strip() for k in facts.penalty_kinds if k and k.strip()}
        return bool(kinds) and kinds <= regime.not_published_alone.value
    if isinstance(regime, TieredPenaltyRegime):
        return facts.severity is not None and not regime.tier(facts.severity).published_by_default
    return False


def withheld_reason(
    facts: RecordFacts,
    system: System | str,
    *,
    overrides: RuleOverrides | None = None,
    rulebook: Rulebook | None = None,
) -> Reason | None:
    """Why the rules do not publish `facts` on `system` at all (警告 only; Order 36 轻微 by default;
    domain.md §8.6), or None: such a record is never written there as published, and a copy
    shown there is stopped (docs/adr/0014-what-the-rules-do-not-publish.md)."""
    book = apply_overrides(rulebook or data.RULEBOOK, overrides)
    if system not in publishing_systems(facts) or not any(
        _may_withhold(r, facts) for r in book.regimes_for(facts.category, System(system))
    ):
        return None  # the common case, answered without an evaluation: plan() asks on every fan-out
    plan = schedule(facts, system, overrides=overrides, rulebook=book)
    if plan.published is False:
        return next((r for r in plan.blockers if r.code in NOT_PUBLISHED), None)
    if plan.evaluable or plan.regime is not None or plan.clock is None:
        return None
    # The date that chooses the rule set is missing: withheld when every candidate withholds it
    # (a 警告-only penalty is not published whatever its date).
    found: list[Reason] = []
    for regime in book.regimes_for(facts.category, System(system)):
        try:
            body = _body(regime, facts, regime.applies_from or regime.applies_until or _ANY_DAY, book.sectors)
        except (_NotEvaluable, PeriodOutOfRange):
            return None
        reason = next((r for r in body.blockers if r.code in NOT_PUBLISHED), None)
        if body.published or reason is None:
            return None
        found.append(reason)
    return found[0] if found else None


def awaiting_tier(
    facts: RecordFacts, *, overrides: RuleOverrides | None = None, rulebook: Rulebook | None = None
) -> tuple[System, ...]:
    """The publishing systems whose rules cannot evaluate `facts` until its Order 36 tier is given
    (轻微/一般/严重, assigned by the sector, never guessed): the record awaits classification."""
    return tuple(
        s
        for s in publishing_systems(facts)
        if any(
            r.code == Code.SEVERITY_MISSING for r in schedule(facts, s, overrides=overrides, rulebook=rulebook).blockers
        )
    )


def tier_applies(
    facts: RecordFacts, *, overrides: RuleOverrides | None = None, rulebook: Rulebook | None = None
) -> bool:
    """Whether a tier means anything for `facts`: a rule set by tier governs it on a publishing
    system (or may, when the date that chooses the rule set is missing)."""
    book = apply_overrides(rulebook or data.RULEBOOK, overrides)
    for system in publishing_systems(facts):
        for regime in book.regimes_for(facts.category, system):
            on = _clock_date(facts, regime.clock.value)
            if isinstance(regime, TieredPenaltyRegime) and (on is None or regime.covers(on)):
                return True
    return False


def expires_on(
    facts: RecordFacts,
    system: System | str,
    *,
    overrides: RuleOverrides | None = None,
    rulebook: Rulebook | None = None,
) -> date | None:
    """The first day publicity of `facts` on `system` has stopped by itself (maximum `first_day_after`).

    None when no such day can be computed without guessing: no known maximum (a restriction of
    unknown length, a list without automatic expiry, a record not evaluable for a reason the
    maximum depends on), or never published. A record not evaluable only for its minimum (sector
    unknown) keeps its maximum.
    """
    plan = schedule(facts, system, overrides=overrides, rulebook=rulebook)
    if plan.maximum is None:
        return None
    return plan.maximum.first_day_after


def minimum_ends_on(
    facts: RecordFacts,
    system: System | str,
    *,
    overrides: RuleOverrides | None = None,
    rulebook: Rulebook | None = None,
) -> date | None:
    """The first day the subject may apply for repair of `facts` on `system` (minimum `first_day_after`).

    None when there is no day to wait for: not evaluable, never repairable early (heavy or light
    GSXT penalties, not published), or no minimum period (may apply at once once conditions are met).
    """
    plan = schedule(facts, system, overrides=overrides, rulebook=rulebook)
    if not plan.evaluable or plan.blockers or plan.minimum is None:
        return None
    return plan.minimum.first_day_after
