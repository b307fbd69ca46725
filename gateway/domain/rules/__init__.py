"""The repair-rules engine: versioned rule sets, period arithmetic, eligibility and guidance. Pure.

Public API (everything takes `today` as a parameter; nothing reads a clock or does I/O):

- `evaluate(facts, system, *, today, overrides=None, standing=None) -> Evaluation`
- `evaluate_all(facts, systems=None, *, today, …) -> dict[str, Evaluation]` (default: owner + mirrors)
- `schedule(facts, system, …) -> Schedule` — the day-independent part (regime, clock, period ends)
- `expires_on(facts, system, …) -> date | None` — first day publicity has stopped by itself (the sweep)
- `minimum_ends_on(facts, system, …) -> date | None` — first day the subject may apply (reminders)
- `withheld_reason(facts, system, …) -> Reason | None` — why the rules never publish it there
- `awaiting_tier(facts, …)`, `tier_applies(facts, …)` — Order 36 classification (轻微/一般/严重)
- `guidance(category, …)`, `all_guidance(…)` — repair guidance generated from the same rule data
- `allowed_removal_reasons(cause)`, `removal_reason_matches(cause, reason)` — 经营异常名录 pairing
- `PeriodEnd` (`last_day`, `first_day_after`), `Period`, `last_day_of` — 民法典 201/202 arithmetic
- `RuleOverrides`, `ListOverride` — operator settings for unverified values

Rule data: `data.RULEBOOK` (one source; see data.py for the [V]/[R]/[I] markers).
"""

from gateway.domain.rules.evaluate import (
    Code,
    Evaluation,
    Reason,
    RegimeRef,
    Requirement,
    Schedule,
    SubjectStanding,
    awaiting_tier,
    evaluate,
    evaluate_all,
    expires_on,
    minimum_ends_on,
    publishing_systems,
    schedule,
    tier_applies,
    withheld_reason,
)
from gateway.domain.rules.guidance import CategoryGuidance, RuleSummary, all_guidance, guidance
from gateway.domain.rules.overrides import ListOverride, RuleOverrides, apply_overrides
from gateway.domain.rules.pairing import allowed_removal_reasons, removal_reason_matches
from gateway.domain.rules.periods import Period, PeriodEnd, PeriodOutOfRange, last_day_of
from gateway.domain.rules.schema import Clock, Rulebook
from gateway.domain.rules.sources import Confidence, Note, Sourced

__all__ = [
    "CategoryGuidance",
    "Clock",
    "Code",
    "Confidence",
    "Evaluation",
    "ListOverride",
    "Note",
    "Period",
    "PeriodEnd",
    "PeriodOutOfRange",
    "Reason",
    "RegimeRef",
    "Requirement",
    "RuleOverrides",
    "RuleSummary",
    "Rulebook",
    "Schedule",
    "Sourced",
    "SubjectStanding",
    "all_guidance",
    "allowed_removal_reasons",
    "apply_overrides",
    "awaiting_tier",
    "evaluate",
    "evaluate_all",
    "expires_on",
    "guidance",
    "last_day_of",
    "minimum_ends_on",
    "publishing_systems",
    "removal_reason_matches",
    "schedule",
    "tier_applies",
    "withheld_reason",
]
