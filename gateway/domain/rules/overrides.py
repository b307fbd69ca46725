"""Operator overrides of rule values that are unverified or set locally (domain.md §5.3, §5.4, §9).

The rule data (`data.py`) stays the one source: an override produces a modified copy of the
rulebook, with the overridden values marked `configured` (Confidence.CONFIGURED) and citing the
setting, so evaluations and guidance both show where a number came from. Settings build a
`RuleOverrides` with `Settings.rules.overrides()`; pure code receives it as a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from gateway.domain.categories import Category, SubjectType
from gateway.domain.rules.periods import Period
from gateway.domain.rules.schema import ListRegime, LowFineThreshold, Regime, Rulebook, SamrPenaltyRegime
from gateway.domain.rules.sources import Confidence, configured

_LOW_FINE_SETTING = "CREDITGW_RULES__GSXT_LOW_FINE_BELOW_WAN_YUAN__{subject_type}"
_LIST_SETTING = "CREDITGW_RULES__LISTS__{category}__{name}"


@dataclass(frozen=True, kw_only=True)
class ListOverride:
    """A list authority's periods as the operator pins them. None keeps the rule data's value.

    `early_removal_after_months=0` means early removal needs no waiting time.
    """

    maximum_months: int | None = None
    early_removal_after_months: int | None = None


@dataclass(frozen=True, kw_only=True)
class RuleOverrides:
    """Rule values the operator sets. Empty by default: the rule data applies unchanged."""

    # 较低数额罚款 on GSXT: a fine strictly below this many 万元 (不含本数) is low, per subject type.
    gsxt_low_fine_below_wan_yuan: Mapping[SubjectType, Decimal] = field(default_factory=dict)
    lists: Mapping[Category, ListOverride] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.gsxt_low_fine_below_wan_yuan or self.lists)


def _low_fine(regime: SamrPenaltyRegime, amounts: Mapping[SubjectType, Decimal]) -> SamrPenaltyRegime:
    thresholds: list[LowFineThreshold] = []
    for threshold in regime.low_fine:
        amount = amounts.get(threshold.subject_type)
        if amount is None:
            thresholds.append(threshold)
            continue
        if amount < 0:
            raise ValueError(f"the low-fine threshold for {threshold.subject_type.value} cannot be negative")
        setting = _LOW_FINE_SETTING.format(subject_type=threshold.subject_type.value.upper())
        thresholds.append(
            replace(
                threshold, below_wan_yuan=amount, source=f"operator setting {setting}", confidence=Confidence.CONFIGURED
            )
        )
    return replace(regime, low_fine=tuple(thresholds))


def _list(regime: ListRegime, category: Category, pinned: ListOverride) -> ListRegime:
    changes: dict[str, object] = {}
    if pinned.maximum_months is not None:
        if pinned.maximum_months < 1:
            raise ValueError(f"the maximum period of {category.value} must be at least one month")
        setting = _LIST_SETTING.format(category=category.value.upper(), name="MAXIMUM_MONTHS")
        changes["maximum"] = configured(Period.of_months(pinned.maximum_months), setting)
    if pinned.early_removal_after_months is not None:
        if pinned.early_removal_after_months < 0:
            raise ValueError(f"the early-removal wait of {category.value} cannot be negative")
        setting = _LIST_SETTING.format(category=category.value.upper(), name="EARLY_REMOVAL_AFTER_MONTHS")
        months = pinned.early_removal_after_months
        changes["early_after"] = configured(Period.of_months(months), setting) if months else None
    return replace(regime, **changes)  # type: ignore[arg-type]


def apply_overrides(book: Rulebook, overrides: RuleOverrides | None) -> Rulebook:
    """`book` with the operator's values in place (the same object when there is nothing to change).

    Raises ValueError for an override that names no list regime or holds an impossible value, so a
    bad configuration fails at startup (`creditgw check-config`), not on the first evaluation.
    """
    if not overrides:
        return book
    list_categories = {c for r in book.regimes if isinstance(r, ListRegime) for c in r.categories}
    unknown = set(overrides.lists) - list_categories
    if unknown:
        names = ", ".join(sorted(c.value for c in unknown))
        raise ValueError(f"no list regime to override for: {names} (lists: {sorted(c.value for c in list_categories)})")
    regimes: list[Regime] = []
    for regime in book.regimes:
        if isinstance(regime, SamrPenaltyRegime) and overrides.gsxt_low_fine_below_wan_yuan:
            regime = _low_fine(regime, overrides.gsxt_low_fine_below_wan_yuan)
        if isinstance(regime, ListRegime):
            for category in regime.categories:
                if category in overrides.lists:
                    regime = _list(regime, category, overrides.lists[category])
        regimes.append(regime)
    return replace(book, regimes=tuple(regimes))
