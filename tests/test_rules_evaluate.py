"""The evaluator: every rule's minimum and maximum end, checked the day before, of and after; the
regime switch on 2026-04-01; the two clocks; several kinds; warning-only; heavy GSXT kinds; records
without the attributes a rule needs; list authorities; standing; overrides."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import DomainFlag, RecordFacts, Severity
from gateway.domain.rules import (
    Code,
    Confidence,
    Evaluation,
    ListOverride,
    RuleOverrides,
    SubjectStanding,
    evaluate,
    evaluate_all,
    expires_on,
    minimum_ends_on,
    schedule,
)
from tests.conftest import penalty_facts

CC, GS = System.CREDITCHINA_GANSU, System.GSXT_GANSU
ONE = timedelta(days=1)


def facts(**changes: Any) -> RecordFacts:
    """A non-SAMR penalty of a legal entity (owner 信用中国（甘肃）, mirrored on GSXT), with changes."""
    base = replace(penalty_facts(), decision_date=date(2025, 1, 15), penalty_kinds=("没收违法所得",))
    return replace(base, **changes)


def listed(category: Category, **changes: Any) -> RecordFacts:
    return facts(category=category, penalty_kinds=(), **changes)


def codes(evaluation: Evaluation) -> list[str]:
    return [r.code for r in evaluation.reasons]


def note_codes(evaluation: Evaluation) -> list[str]:
    return [n.code for n in evaluation.notes]


def assert_minimum_boundary(record: RecordFacts, system: System, last_day: date) -> None:
    """The day before and the last day of the minimum period: not yet; the day after: eligible."""
    for day, eligible in ((last_day - ONE, False), (last_day, False), (last_day + ONE, True)):
        e = evaluate(record, system, today=day)
        assert e.evaluable and e.minimum is not None, e
        assert (e.minimum.last_day, e.minimum.first_day_after) == (last_day, last_day + ONE)
        assert e.eligible is eligible, (day, e.reasons)
        assert codes(e) == ([Code.MINIMUM_REACHED] if eligible else [Code.MINIMUM_NOT_REACHED])
        assert e.requires, "conditions the gateway cannot check are listed, whether or not the time has come"
    assert minimum_ends_on(record, system) == last_day + ONE


def assert_maximum_boundary(record: RecordFacts, system: System, last_day: date) -> None:
    """Publicity stops by itself from the day after the maximum's last day."""
    for day, over in ((last_day - ONE, False), (last_day, False), (last_day + ONE, True)):
        e = evaluate(record, system, today=day)
        assert e.maximum is not None
        assert (e.maximum.last_day, e.maximum.first_day_after) == (last_day, last_day + ONE)
        assert e.maximum.reached(day) is over
        assert (Code.MAXIMUM_REACHED in codes(e)) is over, (day, e.reasons)
        if over:
            assert e.eligible is False and e.requires == ()
    assert expires_on(record, system) == last_day + ONE


# ---- every rule's minimum and maximum, at its boundaries ------------------------------------------

BOUNDARIES = [
    # (case, record, system, minimum last day or None, maximum last day or None)
    ("order58 general", facts(), CC, date(2025, 4, 15), date(2028, 1, 15)),
    ("order58 month end", facts(decision_date=date(2025, 8, 31)), CC, date(2025, 11, 30), date(2028, 8, 31)),
    ("order58 2025-11-30", facts(decision_date=date(2025, 11, 30)), CC, date(2026, 2, 28), date(2028, 11, 30)),
    ("order58 leap day", facts(decision_date=date(2024, 2, 29)), CC, date(2024, 5, 29), date(2027, 2, 28)),
    *[
        (
            f"order58 {flag.value}",
            facts(domain_flags=frozenset({flag})),
            CC,
            date(2026, 1, 15),
            date(2028, 1, 15),
        )
        for flag in DomainFlag
    ],
    (
        "order36 general",
        facts(decision_date=date(2026, 4, 20), severity=Severity.GENERAL),
        CC,
        date(2026, 7, 20),
        date(2027, 4, 20),
    ),
    (
        "order36 serious",
        facts(decision_date=date(2026, 4, 20), severity=Severity.SERIOUS),
        CC,
        date(2027, 4, 20),
        date(2029, 4, 20),
    ),
    ("gsxt standard", facts(publication_date=date(2025, 3, 10)), GS, date(2025, 9, 10), date(2028, 3, 10)),
    *[
        (
            f"gsxt {flag.value}",
            facts(publication_date=date(2025, 3, 10), domain_flags=frozenset({flag})),
            GS,
            date(2026, 3, 10),
            date(2028, 3, 10),
        )
        for flag in (DomainFlag.FOOD, DomainFlag.DRUGS, DomainFlag.SPECIAL_EQUIPMENT)
    ],
    (
        "gsxt work safety keeps 6 months",
        facts(publication_date=date(2025, 3, 10), domain_flags=frozenset({DomainFlag.WORK_SAFETY})),
        GS,
        date(2025, 9, 10),
        date(2028, 3, 10),
    ),
    ("abnormal list", listed(Category.ABNORMAL_OPERATIONS, listing_cause="1"), GS, None, date(2028, 1, 15)),
    ("samr serious list", listed(Category.SAMR_SERIOUS), GS, date(2026, 1, 15), date(2028, 1, 15)),
    ("court list", listed(Category.COURT_DISHONEST), System.COURT, None, date(2027, 1, 15)),
    (
        "tax list (publication clock)",
        listed(Category.TAX_MAJOR_VIOLATION, publication_date=date(2025, 2, 10)),
        System.TAX,
        None,
        date(2028, 2, 10),
    ),
    ("wage arrears list", listed(Category.WAGE_ARREARS), System.HRSS, date(2025, 7, 15), date(2028, 1, 15)),
    ("work safety list", listed(Category.WORK_SAFETY), System.EMERGENCY, date(2026, 1, 15), date(2028, 1, 15)),
    ("statistics list", listed(Category.STATISTICS_SERIOUS), System.STATISTICS, date(2026, 1, 15), date(2028, 1, 15)),
    ("social org list", listed(Category.SOCIAL_ORG_SERIOUS), System.CIVIL_AFFAIRS, date(2027, 1, 15), None),
]


@pytest.mark.parametrize(
    ("record", "system", "minimum", "maximum"), [b[1:] for b in BOUNDARIES], ids=[b[0] for b in BOUNDARIES]
)
def test_boundaries(record: RecordFacts, system: System, minimum: date | None, maximum: date | None) -> None:
    if minimum is not None:
        assert_minimum_boundary(record, system, minimum)
    else:
        e = evaluate(record, system, today=record.decision_date or date(2025, 1, 1))
        assert e.minimum is None and minimum_ends_on(record, system) is None
    if maximum is not None:
        assert_maximum_boundary(record, system, maximum)
    else:
        assert evaluate(record, system, today=date(2030, 1, 1)).maximum is None
        assert expires_on(record, system) is None


def test_no_minimum_period_means_eligible_at_once_with_requirements() -> None:
    e = evaluate(listed(Category.COURT_DISHONEST), System.COURT, today=date(2025, 1, 16))
    assert e.eligible is True and codes(e) == [Code.NO_MINIMUM_PERIOD]
    assert [r.code for r in e.requires] == ["obligation_performed_or_settled"]
    assert "period_may_be_extended" in note_codes(e)


# ---- the regime switch on 2026-04-01 ------------------------------------------------------------


def test_decision_of_2026_03_31_is_order_58() -> None:
    e = evaluate(facts(decision_date=date(2026, 3, 31)), CC, today=date(2026, 5, 1))
    assert e.evaluable and e.regime is not None and e.regime.id == "ndrc_order_58"
    assert e.minimum is not None and e.minimum.last_day == date(2026, 6, 30)
    assert e.maximum is not None and e.maximum.last_day == date(2029, 3, 31)


def test_decision_of_2026_04_01_is_order_36_and_needs_the_tier() -> None:
    without = evaluate(facts(decision_date=date(2026, 4, 1)), CC, today=date(2026, 5, 1))
    assert without.evaluable is False and without.eligible is None and without.published is None
    assert codes(without) == [Code.SEVERITY_MISSING]
    assert without.regime is not None and without.regime.id == "ndrc_order_36"
    assert without.minimum is None and without.maximum is None  # never a guess
    assert expires_on(facts(decision_date=date(2026, 4, 1)), CC) is None

    general = evaluate(facts(decision_date=date(2026, 4, 1), severity=Severity.GENERAL), CC, today=date(2026, 5, 1))
    assert general.regime is not None and general.regime.id == "ndrc_order_36"
    assert general.minimum is not None and general.minimum.last_day == date(2026, 7, 1)
    assert general.maximum is not None and general.maximum.last_day == date(2027, 4, 1)


def test_order_36_minor_is_not_published_by_default_but_capped() -> None:
    record = facts(decision_date=date(2026, 4, 20), severity=Severity.MINOR)
    e = evaluate(record, CC, today=date(2026, 5, 1))
    assert e.published is False and e.eligible is False
    assert codes(e) == [Code.NOT_PUBLISHED_BY_DEFAULT]
    assert e.minimum is None and e.maximum is not None and e.maximum.last_day == date(2026, 7, 20)
    assert Code.CAP_IF_PUBLISHED in note_codes(e)
    assert expires_on(record, CC) == date(2026, 7, 21)  # the sweep stops it should a sector publish it
    assert minimum_ends_on(record, CC) is None


def test_order_58_note_for_decisions_before_it_took_effect() -> None:
    e = evaluate(facts(decision_date=date(2022, 6, 1)), CC, today=date(2022, 7, 1))
    assert e.regime is not None and e.regime.id == "ndrc_order_58"
    assert Code.BEFORE_REGIME_IN_FORCE in note_codes(e)


# ---- two clocks ---------------------------------------------------------------------------------


def test_same_record_counts_from_decision_on_creditchina_and_from_publication_on_gsxt() -> None:
    record = facts(
        decision_date=date(2025, 6, 1),
        publication_date=date(2025, 6, 20),
        penalty_kinds=("罚款",),
        fine_wan_yuan=Decimal("10"),
    )
    both = evaluate_all(record, today=date(2025, 12, 10))
    assert list(both) == [CC.value, GS.value]  # owner first
    cc, gs = both[CC.value], both[GS.value]
    assert (cc.clock, cc.start, gs.clock, gs.start) == (
        "decision_date",
        date(2025, 6, 1),
        "publication_date",
        date(2025, 6, 20),
    )
    assert cc.minimum is not None and cc.minimum.last_day == date(2025, 9, 1)  # 3 months (Order 58)
    assert gs.minimum is not None and gs.minimum.last_day == date(2025, 12, 20)  # 6 months (SAMR)
    assert cc.maximum is not None and cc.maximum.last_day == date(2028, 6, 1)
    assert gs.maximum is not None and gs.maximum.last_day == date(2028, 6, 20)
    assert cc.eligible is True and gs.eligible is False
    assert (cc.role, gs.role, gs.repaired_by) == ("owner", "mirror", CC)
    assert Code.REPAIRED_IN_OWNER_SYSTEM in note_codes(gs)


def test_gsxt_without_publication_date_is_not_evaluable() -> None:
    e = evaluate(facts(publication_date=None), GS, today=date(2025, 6, 1))
    assert (e.evaluable, e.eligible, codes(e)) == (False, None, [Code.PUBLICATION_DATE_MISSING])
    assert e.clock == "publication_date" and e.published is None
    assert note_codes(e) == [Code.REPAIRED_IN_OWNER_SYSTEM]  # a mirror says so even when not evaluable


def test_creditchina_without_decision_date_is_not_evaluable() -> None:
    e = evaluate(facts(decision_date=None), CC, today=date(2025, 6, 1))
    assert (e.evaluable, e.eligible, codes(e)) == (False, None, [Code.DECISION_DATE_MISSING])


def test_penalty_without_kinds_is_not_evaluable() -> None:
    for system in (CC, GS):
        e = evaluate(facts(penalty_kinds=(), publication_date=date(2025, 2, 1)), system, today=date(2025, 6, 1))
        assert codes(e) == [Code.PENALTY_KINDS_MISSING] and e.eligible is None


# ---- several kinds, warning-only, light and heavy ------------------------------------------------


def test_several_kinds_take_the_longest_period_on_gsxt() -> None:
    record = facts(publication_date=date(2025, 3, 10), penalty_kinds=("通报批评", "没收违法所得"))
    e = evaluate(record, GS, today=date(2025, 4, 1))
    assert e.maximum is not None and e.maximum.period.months == 36
    assert Code.LONGEST_PERIOD_WINS in note_codes(e)
    light = evaluate(replace(record, penalty_kinds=("通报批评",)), GS, today=date(2025, 4, 1))
    assert light.maximum is not None and light.maximum.period.months == 3


def test_warning_with_another_kind_is_published() -> None:
    e = evaluate(facts(penalty_kinds=("警告", "罚款")), CC, today=date(2025, 2, 1))
    assert e.published is True and e.maximum is not None
    light = evaluate(
        facts(publication_date=date(2025, 3, 10), penalty_kinds=("警告", "通报批评")), GS, today=date(2025, 4, 1)
    )
    assert light.published is True and codes(light) == [Code.LIGHT_PENALTY_NO_EARLY_STOP]


@pytest.mark.parametrize("system", [CC, GS])
def test_warning_only_is_not_published(system: System) -> None:
    record = facts(penalty_kinds=("警告",), publication_date=date(2025, 2, 1))
    e = evaluate(record, system, today=date(2025, 6, 1))
    assert e.evaluable and e.published is False and e.eligible is False
    assert codes(e) == [Code.WARNING_ONLY_NOT_PUBLISHED]
    assert e.minimum is None and e.maximum is None and e.requires == ()
    assert expires_on(record, system) is None and minimum_ends_on(record, system) is None


HEAVY = ["责令停产停业", "限制开展生产经营活动", "限制从业", "降低资质等级", "吊销许可证件", "吊销营业执照", "责令关闭"]


@pytest.mark.parametrize("kind", HEAVY)
def test_heavy_gsxt_penalties_are_never_stopped_early(kind: str) -> None:
    record = facts(publication_date=date(2025, 3, 10), penalty_kinds=("罚款", kind), fine_wan_yuan=Decimal("0.1"))
    for today in (date(2025, 3, 11), date(2025, 9, 11), date(2026, 3, 11), date(2027, 12, 31)):
        e = evaluate(record, GS, today=today)
        assert e.eligible is False and codes(e) == [Code.HEAVY_PENALTY_NO_EARLY_STOP], (today, e.reasons)
        assert e.minimum is None and e.requires == ()
    assert minimum_ends_on(record, GS) is None
    confidence = evaluate(record, GS, today=date(2025, 4, 1)).reasons[0].rule_ref
    assert confidence is not None and ("design choice" in confidence) is (kind == "责令关闭")
    # the same record on 信用中国 (Order 58) may be repaired after its minimum
    assert evaluate(record, CC, today=date(2025, 4, 16)).eligible is True


@pytest.mark.parametrize("kind", ["限制从业", "限制开展生产经营活动"])
def test_restrictions_on_gsxt_have_no_guessed_maximum(kind: str) -> None:
    record = facts(publication_date=date(2025, 3, 10), penalty_kinds=(kind,))
    e = evaluate(record, GS, today=date(2029, 1, 1))
    assert e.maximum is None and Code.MAXIMUM_DEPENDS_ON_RESTRICTION in note_codes(e)
    assert "2028-03-10" in next(n.message for n in e.notes if n.code == Code.MAXIMUM_DEPENDS_ON_RESTRICTION)
    assert expires_on(record, GS) is None


def test_light_gsxt_penalty_expires_after_three_months_without_early_stop() -> None:
    record = facts(publication_date=date(2025, 3, 10), penalty_kinds=("通报批评",))
    e = evaluate(record, GS, today=date(2025, 4, 1))
    assert codes(e) == [Code.LIGHT_PENALTY_NO_EARLY_STOP] and e.minimum is None
    assert_maximum_boundary(record, GS, date(2025, 6, 10))
    assert minimum_ends_on(record, GS) is None


@pytest.mark.parametrize(
    ("subject_type", "fine", "months"),
    [
        (SubjectType.LEGAL_ENTITY, "4.99", 3),
        (SubjectType.LEGAL_ENTITY, "5", 36),  # 不含本数: the threshold itself is not low
        (SubjectType.LEGAL_ENTITY, "0.2", 3),
        (SubjectType.INDIVIDUAL_BUSINESS, "0.49", 3),
        (SubjectType.INDIVIDUAL_BUSINESS, "0.5", 36),
    ],
)
def test_low_fine_threshold(subject_type: SubjectType, fine: str, months: int) -> None:
    record = facts(
        publication_date=date(2025, 3, 10),
        penalty_kinds=("罚款",),
        fine_wan_yuan=Decimal(fine),
        subject_type=subject_type,
    )
    e = evaluate(record, GS, today=date(2025, 4, 1))
    assert e.maximum is not None and e.maximum.period.months == months


def test_low_fine_default_is_marked_unverified_and_overridable() -> None:
    record = facts(publication_date=date(2025, 3, 10), penalty_kinds=("罚款",), fine_wan_yuan=Decimal("2"))
    default = evaluate(record, GS, today=date(2025, 4, 1))
    assert default.maximum is not None and default.maximum.period.months == 3
    assert default.maximum.confidence is Confidence.VERIFIED  # the 3-month rule itself is verified…
    plan = schedule(record, GS)
    assert plan.regime is not None
    threshold = next(t for t in plan.regime.low_fine if t.subject_type is SubjectType.LEGAL_ENTITY)  # type: ignore[attr-defined]
    assert threshold.confidence is Confidence.INFERRED and "UNVERIFIED" in threshold.source  # …the number is not
    pinned = RuleOverrides(gsxt_low_fine_below_wan_yuan={SubjectType.LEGAL_ENTITY: Decimal("1")})
    overridden = evaluate(record, GS, today=date(2025, 4, 1), overrides=pinned)
    assert overridden.maximum is not None and overridden.maximum.period.months == 36


def test_fine_without_amount() -> None:
    alone = evaluate(facts(publication_date=date(2025, 3, 10), penalty_kinds=("罚款",)), GS, today=date(2025, 4, 1))
    assert codes(alone) == [Code.FINE_AMOUNT_MISSING] and alone.evaluable is False
    # with a 3-year kind beside it the amount no longer matters
    both = evaluate(
        facts(publication_date=date(2025, 3, 10), penalty_kinds=("罚款", "没收违法所得")), GS, today=date(2025, 4, 1)
    )
    assert both.evaluable and both.maximum is not None and both.maximum.period.months == 36
    # 信用中国 (Order 58) does not need the amount
    assert evaluate(facts(penalty_kinds=("罚款",)), CC, today=date(2025, 4, 1)).evaluable


def test_unrecognised_kind_is_counted_as_three_years_and_must_be_confirmed_not_heavy() -> None:
    record = facts(publication_date=date(2025, 3, 10), penalty_kinds=("其他-责令改正",))
    e = evaluate(record, GS, today=date(2025, 9, 11))
    assert e.eligible is True and Code.UNRECOGNISED_PENALTY_KIND in note_codes(e)
    assert "not_heavier_penalty" in [r.code for r in e.requires]


# ---- GSXT early stop and the subject's standing --------------------------------------------------


def test_gsxt_requirements_and_standing() -> None:
    record = facts(publication_date=date(2025, 3, 10))
    day = date(2025, 9, 11)
    unknown = evaluate(record, GS, today=day)
    assert unknown.eligible is True
    assert [r.code for r in unknown.requires] == [
        "obligations_performed",
        "harm_remedied",
        "no_repeat_same_kind_penalty",
        "not_on_abnormal_list",
        "not_on_serious_list",
        "credit_commitment",
    ]
    listed_now = evaluate(record, GS, today=day, standing=SubjectStanding(on_abnormal_list=True))
    assert listed_now.eligible is False and codes(listed_now) == [Code.SUBJECT_ON_ABNORMAL_LIST]
    assert listed_now.requires, "the list is a temporary obstacle: what else is needed is still listed"
    serious = evaluate(record, GS, today=day, standing=SubjectStanding(on_serious_list=True))
    assert codes(serious) == [Code.SUBJECT_ON_SERIOUS_LIST]
    known_clear = evaluate(
        record, GS, today=day, standing=SubjectStanding(on_abnormal_list=False, on_serious_list=False)
    )
    assert known_clear.eligible is True
    assert "not_on_abnormal_list" not in [r.code for r in known_clear.requires]
    early = evaluate(record, GS, today=date(2025, 5, 1), standing=SubjectStanding(on_abnormal_list=True))
    assert codes(early) == [Code.SUBJECT_ON_ABNORMAL_LIST, Code.MINIMUM_NOT_REACHED]


# ---- lists --------------------------------------------------------------------------------------


def test_abnormal_list_requires_the_remedy_matching_its_cause() -> None:
    e = evaluate(listed(Category.ABNORMAL_OPERATIONS, listing_cause="4"), GS, today=date(2025, 2, 1))
    assert e.eligible is True and codes(e) == [Code.NO_MINIMUM_PERIOD]
    assert [r.code for r in e.requires] == ["contact_restored"]
    unknown = evaluate(listed(Category.ABNORMAL_OPERATIONS), GS, today=date(2025, 2, 1))
    assert [r.code for r in unknown.requires] == ["remedy_listing_cause"]
    assert Code.LISTING_CAUSE_UNKNOWN in note_codes(unknown)


def test_lists_are_evaluated_alike_on_owner_and_mirror() -> None:
    record = listed(Category.WAGE_ARREARS)
    both = evaluate_all(record, today=date(2025, 8, 1))
    assert list(both) == [System.HRSS.value, CC.value]
    owner, mirror = both.values()
    assert owner.minimum == mirror.minimum and owner.maximum == mirror.maximum
    assert [r.code for r in owner.requires] == ["wages_paid", "six_months_since_correction", "credit_commitment"]
    assert Code.REPAIRED_IN_OWNER_SYSTEM in note_codes(mirror)


def test_list_overrides_are_marked_configured() -> None:
    record = listed(Category.STATISTICS_SERIOUS)
    pinned = RuleOverrides(
        lists={Category.STATISTICS_SERIOUS: ListOverride(maximum_months=24, early_removal_after_months=0)}
    )
    e = evaluate(record, System.STATISTICS, today=date(2025, 2, 1), overrides=pinned)
    assert e.maximum is not None and e.maximum.last_day == date(2027, 1, 15)
    assert e.maximum.confidence is Confidence.CONFIGURED and "MAXIMUM_MONTHS" in (e.maximum.source or "")
    assert e.minimum is None and e.eligible is True
    with pytest.raises(ValueError, match="no list regime"):
        evaluate(
            record,
            System.STATISTICS,
            today=date(2025, 2, 1),
            overrides=RuleOverrides(lists={Category.ADMIN_PENALTY: ListOverride(maximum_months=1)}),
        )


# ---- systems and dates ---------------------------------------------------------------------------


def test_a_system_that_does_not_publish_the_record() -> None:
    e = evaluate(facts(), System.COURT, today=date(2025, 2, 1))
    assert (e.evaluable, codes(e)) == (False, [Code.SYSTEM_DOES_NOT_PUBLISH])
    natural = facts(subject_type=SubjectType.NATURAL_PERSON, subject_code=None)
    assert codes(evaluate(natural, GS, today=date(2025, 2, 1))) == [Code.SYSTEM_DOES_NOT_PUBLISH]
    with pytest.raises(ValueError):
        evaluate(facts(), "no_such_system", today=date(2025, 2, 1))


def test_market_regulation_penalty_is_owned_by_gsxt() -> None:
    record = facts(authority_domain=AuthorityDomain.MARKET_REGULATION, publication_date=date(2025, 2, 1))
    both = evaluate_all(record, today=date(2025, 3, 1))
    assert list(both) == [GS.value, CC.value]
    assert both[GS.value].role == "owner" and both[CC.value].repaired_by is GS


def test_dates_beyond_the_calendar_are_not_evaluable() -> None:
    e = evaluate(facts(decision_date=date(9999, 1, 1), severity=Severity.GENERAL), CC, today=date(2025, 2, 1))
    assert codes(e) == [Code.DATE_OUT_OF_RANGE] and e.eligible is None


def test_evaluation_is_pure_in_today() -> None:
    record = facts()
    assert evaluate(record, CC, today=date(2025, 5, 1)) == evaluate(record, CC, today=date(2025, 5, 1))
    assert schedule(record, CC) == schedule(record, CC)
