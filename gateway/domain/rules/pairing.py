"""经营异常名录: does a removal reason (移出原因) fit the listing cause (列入原因)? (domain.md §3.1)

1→1, 2→2, 3→3, 4→4 or 5; 6 (列入异常届满) and 7 (注吊销) are the registry's own, allowed whatever
the cause. Read from the abnormal-list regime in `data.py`, like everything else.
"""

from __future__ import annotations

from gateway.domain.rules import data
from gateway.domain.rules.schema import AbnormalListRegime, Rulebook


def _regime(rulebook: Rulebook | None) -> AbnormalListRegime:
    book = rulebook or data.RULEBOOK
    return next(r for r in book.regimes if isinstance(r, AbnormalListRegime))


def allowed_removal_reasons(listing_cause: str, *, rulebook: Rulebook | None = None) -> frozenset[str]:
    """Removal reason codes allowed for `listing_cause` (only the registry's own for an unknown cause)."""
    regime = _regime(rulebook)
    cause = regime.cause(listing_cause.strip())
    own = cause.removals if cause is not None else frozenset()
    return own | regime.any_cause_removals


def removal_reason_matches(
    listing_cause: str | None, removal_reason: str, *, rulebook: Rulebook | None = None
) -> bool | None:
    """True/False when the pairing can be judged; None when the listing cause is unknown and the
    reason is one a subject applies with (it cannot be checked, and is not guessed)."""
    regime = _regime(rulebook)
    reason = removal_reason.strip()
    if reason in regime.any_cause_removals:
        return True
    if reason not in {r.code for r in regime.removal_reasons}:
        return False
    cause = regime.cause(listing_cause.strip()) if listing_cause is not None else None
    if cause is None:
        return None
    return reason in cause.removals
