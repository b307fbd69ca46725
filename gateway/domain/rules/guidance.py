"""Repair guidance per category (seed §(一): 条件、途径、材料、时限), generated from the rule data.

Everything here is read from the same `Rulebook` the evaluator reads — periods and exclusions come
from the regimes' own `periods()` / `exclusions()` — so guidance cannot promise what the evaluator
does not do. Pure: the API turns these values into JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gateway.domain.categories import CATEGORY_LABELS, Category, System
from gateway.domain.rules import data
from gateway.domain.rules.overrides import RuleOverrides, apply_overrides
from gateway.domain.rules.schema import Channel, Clock, PeriodRule, Regime, RepairRoute, Rulebook
from gateway.domain.rules.sources import Note, Sourced


@dataclass(frozen=True, kw_only=True)
class RuleSummary:
    """One regime as guidance shows it."""

    id: str
    name: str
    instrument: Sourced[str]
    systems: tuple[System, ...] | None  # None: every system that publishes the record
    clock: Sourced[Clock]
    applies_from: date | None
    applies_until: date | None
    in_force_from: Sourced[date] | None
    effect: Note | None
    periods: tuple[PeriodRule, ...]
    exclusions: tuple[Note, ...]
    conditions: tuple[Note, ...]
    notes: tuple[Note, ...]


@dataclass(frozen=True, kw_only=True)
class CategoryGuidance:
    category: Category
    label: str
    responsible_units: Note
    routes: tuple[RepairRoute, ...]
    rules: tuple[RuleSummary, ...]
    materials: tuple[Note, ...]
    help_channels: tuple[Channel, ...]
    general_notes: tuple[Note, ...]


def summarise(regime: Regime) -> RuleSummary:
    return RuleSummary(
        id=regime.id,
        name=regime.name,
        instrument=regime.instrument,
        systems=tuple(sorted(regime.systems)) if regime.systems is not None else None,
        clock=regime.clock,
        applies_from=regime.applies_from,
        applies_until=regime.applies_until,
        in_force_from=regime.in_force_from,
        effect=regime.effect,
        periods=regime.periods(),
        exclusions=regime.exclusions(),
        conditions=regime.all_conditions(),
        notes=regime.notes,
    )


def guidance(
    category: Category, *, overrides: RuleOverrides | None = None, rulebook: Rulebook | None = None
) -> CategoryGuidance:
    """The guidance of one category, with the operator's overrides applied (marked `configured`)."""
    book = apply_overrides(rulebook or data.RULEBOOK, overrides)
    guide = book.guide(category)
    rules = tuple(
        summarise(r)
        for r in sorted(
            (r for r in book.regimes if category in r.categories),
            key=lambda r: (sorted(s.value for s in r.systems or ()), r.applies_from or date.min),
        )
    )
    return CategoryGuidance(
        category=category,
        label=CATEGORY_LABELS[category],
        responsible_units=guide.responsible_units,
        routes=guide.routes,
        rules=rules,
        materials=guide.materials,
        help_channels=book.help_channels,
        general_notes=book.general_notes,
    )


def all_guidance(
    *, overrides: RuleOverrides | None = None, rulebook: Rulebook | None = None
) -> tuple[CategoryGuidance, ...]:
    """Guidance for the nine categories, in the order of the seed's 附件1."""
    book = apply_overrides(rulebook or data.RULEBOOK, overrides)
    return tuple(guidance(c, rulebook=book) for c in Category)
