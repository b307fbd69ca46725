"""Expiry: publicity stops by itself when the maximum period is over (domain.md §8.5, §10). Pure.

The owner's rule set governs the record (谁认定): the first day publicity has stopped by itself is
`expires_on(facts, owner)`. From that day (Beijing date) on, the expiry sweep stops the record
everywhere with an ordinary decision `Action.EXPIRE` decided by `SWEEP_ACTOR`
(docs/adr/0007-expiry-by-the-owners-rules.md).

The decision is deterministic, so a second run, or a run after a restart, decides the same thing
and changes nothing: it is dated at the start of that first day (00:00 Beijing time), or at the
record's current decision time when that is later (a record first seen after its expiry; a
decision may never predate the state it changes, `plan()` refuses that).

A published record that its owner's rules do not publish at all (警告 only; Order 36 轻微 by
default; domain.md §8.6) is stopped the same way on the day the sweep finds it, with the rule's
reason code as `withheld` (docs/adr/0014-what-the-rules-do-not-publish.md): its publicity period is
nil, so the systems' nearest stop reason is 公示期满 (expired).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from gateway.domain.model import PUBLISHED, CanonicalRecord, RecordFacts
from gateway.domain.plan import Action, Decision
from gateway.domain.rules import Code, Rulebook, RuleOverrides, expires_on, schedule, withheld_reason
from gateway.domain.sla import start_of_beijing_day

SWEEP_ACTOR = "creditgw:sweep"

# Skip reasons beyond the rule engine's reason codes (gateway.domain.rules.Code).
NO_MAXIMUM = "no_maximum"  # the rules set no automatic end (a list without expiry)
NOT_EVALUABLE = "not_evaluable"  # not evaluable, without a reason code (defensive)
PROVISIONAL = "provisional"  # only a mirror has reported the record: its owner has not spoken


@dataclass(frozen=True, kw_only=True)
class Expiry:
    """When a record's publicity stops by itself under its owner's rules, or why that is unknown."""

    record_id: str
    system: str  # the owner, whose rules were applied
    first_day_after: date | None  # the first day publicity has stopped by itself
    skip_reason: str | None = None  # set when first_day_after is None and nothing is withheld
    withheld: str | None = None  # the rules do not publish the record at all (a reason code): stop it now

    @property
    def last_day(self) -> date | None:
        """The last day of the maximum period (the day before `first_day_after`)."""
        return None if self.first_day_after is None else self.first_day_after - timedelta(days=1)

    def due(self, today: date) -> bool:
        return self.first_day_after is not None and today >= self.first_day_after


def expiry_of(
    facts: RecordFacts, *, overrides: RuleOverrides | None = None, rulebook: Rulebook | None = None
) -> Expiry:
    """The owner's expiry day of `facts`, the reason its rules do not publish it at all, or a skip
    reason (a rule-engine reason code or NO_MAXIMUM)."""
    owner = facts.owner
    withheld = withheld_reason(facts, owner, overrides=overrides, rulebook=rulebook)
    if withheld is not None:
        return Expiry(record_id=facts.record_id, system=owner.value, first_day_after=None, withheld=withheld.code)
    day = expires_on(facts, owner, overrides=overrides, rulebook=rulebook)
    if day is not None:
        return Expiry(record_id=facts.record_id, system=owner.value, first_day_after=day)
    return Expiry(
        record_id=facts.record_id,
        system=owner.value,
        first_day_after=None,
        skip_reason=_why_not(facts, overrides=overrides, rulebook=rulebook),
    )


def _why_not(facts: RecordFacts, *, overrides: RuleOverrides | None, rulebook: Rulebook | None) -> str:
    plan = schedule(facts, facts.owner, overrides=overrides, rulebook=rulebook)
    if not plan.evaluable:
        return str(plan.blockers[0].code) if plan.blockers else NOT_EVALUABLE
    if plan.published is False and plan.blockers:
        return str(plan.blockers[0].code)  # e.g. warning_only_not_published: the rules never publish it
    if any(n.code == Code.MAXIMUM_DEPENDS_ON_RESTRICTION for n in plan.notes):
        return str(Code.MAXIMUM_DEPENDS_ON_RESTRICTION)  # a restriction whose length the record lacks
    return NO_MAXIMUM


def expiry_decision(record: CanonicalRecord, expiry: Expiry, today: date) -> Decision | None:
    """The EXPIRE decision for a published record whose expiry day has come, or that the rules do
    not publish at all (stopped on `today`); None otherwise."""
    if record.state.target == PUBLISHED and expiry.withheld is not None:
        return Decision(
            record_id=record.record_id,
            action=Action.EXPIRE,
            decided_at=max(start_of_beijing_day(today), record.state.decided_at),
            decided_by=SWEEP_ACTOR,
            note=f"不予公示: the rules of {expiry.system} do not publish this record ({expiry.withheld})",
            stopped_on=today,
        )
    if record.state.target != PUBLISHED or expiry.first_day_after is None or not expiry.due(today):
        return None
    decided_at = max(start_of_beijing_day(expiry.first_day_after), record.state.decided_at)
    return Decision(
        record_id=record.record_id,
        action=Action.EXPIRE,
        decided_at=decided_at,
        decided_by=SWEEP_ACTOR,
        note=f"公示期满: the maximum period under {expiry.system}'s rules ended on {expiry.last_day}",
        # The 终止日期 is the first day publicity has stopped, also for a record first seen later.
        stopped_on=expiry.first_day_after,
    )


__all__ = [
    "NOT_EVALUABLE",
    "NO_MAXIMUM",
    "PROVISIONAL",
    "SWEEP_ACTOR",
    "Expiry",
    "expiry_decision",
    "expiry_of",
]
