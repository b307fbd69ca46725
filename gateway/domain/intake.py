"""What the gateway must not apply from a system's feed, though the row maps (issue 10 items 6, 7).

Pure: an observation in, a refusal (or None) out. A refused observation is quarantined with the
refusal's reason (gateway/quarantine.py): not applied, not propagated, visible, retried after a fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.beijing import beijing_date
from gateway.domain.categories import Category
from gateway.domain.model import STOP_REASONS_BY_CATEGORY, StopReason, state_fits
from gateway.domain.plan import Observation

# 经营异常名录 移出原因 (remExcpres) → the 列入原因 (SpeCause) it may end; None: any listing
# (domain.md §3.1, from the ZhejiangMicroEnt GSXT back office; the four SAMR repair conditions of
# 市场监督管理信用修复管理办法 art. 5 match these pairs exactly).
REMOVAL_REASONS: dict[str, tuple[str, frozenset[str] | None]] = {
    "1": ("已补报年度报告", frozenset({"1"})),
    "2": ("已履行公示义务", frozenset({"2"})),
    "3": ("已更正公示信息", frozenset({"3"})),
    "4": ("已变更登记住所", frozenset({"4"})),
    "5": ("已重新取得联系", frozenset({"4"})),
    "6": ("列入异常届满", None),  # the system's own: the listing ran its course
    "7": ("企业注（吊）销，不再列入", None),  # automatic
}
LISTING_CAUSES = {
    "1": "未依照《企业信息公示暂行条例》第八条规定的期限公示年度报告",
    "2": "未在责令的期限内公示有关企业信息",
    "3": "公示企业信息隐瞒真实情况、弄虚作假",
    "4": "通过登记的住所或者经营场所无法联系",
}


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """Why an observation is not applied. `code` is stable (a metric label); `field` the canonical
    field at fault, when one is."""

    code: str
    message: str
    field: str | None = None


def refusal(observation: Observation) -> Refusal | None:
    facts = observation.facts
    target = observation.target
    dates = _impossible_dates(observation)
    if dates is not None:
        return dates
    if not state_fits(facts.category, target):
        allowed = ", ".join(sorted(STOP_REASONS_BY_CATEGORY[facts.category]))
        return Refusal(
            code="state_not_for_category",
            message=f"a {facts.category.value} record cannot be {target.label} (stopped only as: {allowed})",
        )
    if (
        facts.category is Category.ABNORMAL_OPERATIONS
        and observation.source == facts.owner
        and target.reason in (StopReason.REMOVED, StopReason.EXPIRED)
    ):
        return _pairing(observation)
    return None


def _impossible_dates(observation: Observation) -> Refusal | None:
    """Dates no real record can have: decided after the system recorded it, or published before it
    was decided. Every period is counted from one of them: a wrong one is a wrong legal date."""
    facts = observation.facts
    recorded = beijing_date(observation.changed_at)
    if facts.decision_date is not None and facts.decision_date > recorded:
        return Refusal(
            code="impossible_date",
            message=(
                f"decided on {facts.decision_date.isoformat()}, after the system recorded it ({recorded.isoformat()})"
            ),
            field="decision_date",
        )
    if (
        facts.publication_date is not None
        and facts.decision_date is not None
        and facts.publication_date < facts.decision_date
    ):
        return Refusal(
            code="impossible_date",
            message=(
                f"published on {facts.publication_date.isoformat()}, before it was decided"
                f" ({facts.decision_date.isoformat()})"
            ),
            field="publication_date",
        )
    return None


def _pairing(observation: Observation) -> Refusal | None:
    """Every removal in the owner's own feed: its 移出原因 must pair with the 列入原因."""
    reason, cause = observation.removal_reason, observation.facts.listing_cause
    if reason is None:
        return Refusal(code="removal_reason_missing", message="a removal without 移出原因", field="removal_reason")
    if reason not in REMOVAL_REASONS:
        return Refusal(
            code="unknown_code_value", message=f"移出原因 {reason!r} is not a known code (1–7)", field="removal_reason"
        )
    label, pairs = REMOVAL_REASONS[reason]
    if pairs is None:
        return None
    if cause is None or cause not in LISTING_CAUSES:
        return Refusal(
            code="listing_cause_unknown",
            message=f"移出原因 {reason}【{label}】 needs the 列入原因 to check the pairing; it is {cause!r}",
            field="listing_cause",
        )
    if cause not in pairs:
        return Refusal(
            code="removal_reason_mismatch",
            message=(
                f"移出原因 {reason}【{label}】 cannot end a listing for 列入原因 {cause} ({LISTING_CAUSES[cause]});"
                f" it pairs with 列入原因 {', '.join(sorted(pairs))} (domain.md §3.1)"
            ),
            field="removal_reason",
        )
    return None
