"""Each list's periods as /work/shared/lists.md gives them (with its sources), on their boundaries:
the day before, the last day and the day after, on the owner's system and on 信用中国 (which mirrors
every list and must count the same days: 谁认定, the owner's rule governs)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import RecordFacts
from gateway.domain.rules import evaluate, expires_on, minimum_ends_on

ONE = timedelta(days=1)
LISTED = date(2025, 1, 15)

# category → (owner, last day of the minimum before early removal, last day of the maximum), from
# lists.md: court 2 years, deletion at any time (§ domain.md §4.3); tax 3 years from publication, early
# stop any time on payment (§1); HR 3 years, early after 6 months — NOT 1 year (§2); emergency 3 years,
# early after 12 months (§3); statistics 3 years, early after 1 year under 35号令 (§4); social
# organisations: on application after 2 years, no automatic end (§5); SAMR 3 years, early after 1 year (§6).
PERIODS: dict[Category, tuple[System, date | None, date | None]] = {
    Category.COURT_DISHONEST: (System.COURT, None, date(2027, 1, 15)),
    Category.TAX_MAJOR_VIOLATION: (System.TAX, None, date(2028, 1, 15)),
    Category.WAGE_ARREARS: (System.HRSS, date(2025, 7, 15), date(2028, 1, 15)),
    Category.WORK_SAFETY: (System.EMERGENCY, date(2026, 1, 15), date(2028, 1, 15)),
    Category.STATISTICS_SERIOUS: (System.STATISTICS, date(2026, 1, 15), date(2028, 1, 15)),
    Category.SOCIAL_ORG_SERIOUS: (System.CIVIL_AFFAIRS, date(2027, 1, 15), None),
    Category.SAMR_SERIOUS: (System.GSXT_GANSU, date(2026, 1, 15), date(2028, 1, 15)),
}


def entry(category: Category) -> RecordFacts:
    return RecordFacts(
        category=category,
        authority_name="认定机关",
        authority_code="11620000MA72RN0959",
        document_number="认定〔2025〕1号",
        authority_domain=AuthorityDomain.MARKET_REGULATION
        if category is Category.SAMR_SERIOUS
        else AuthorityDomain.OTHER,
        subject_name="兰州某有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="91620102MA72ABCD94",
        decision_date=LISTED,
        publication_date=LISTED,
    )


@pytest.mark.parametrize("category", list(PERIODS), ids=lambda c: c.value)
@pytest.mark.parametrize("system", ["owner", System.CREDITCHINA_GANSU], ids=["owner", "creditchina"])
def test_each_list_s_periods_on_their_boundaries(category: Category, system: System | str) -> None:
    owner, minimum, maximum = PERIODS[category]
    record = entry(category)
    assert record.owner is owner
    where = owner if system == "owner" else System(system)
    if minimum is None:
        assert minimum_ends_on(record, where) is None
        assert evaluate(record, where, today=LISTED).eligible is True  # no waiting time at all
    else:
        for day, eligible in ((minimum - ONE, False), (minimum, False), (minimum + ONE, True)):
            assert evaluate(record, where, today=day).eligible is eligible, (day, category)
        assert minimum_ends_on(record, where) == minimum + ONE
    if maximum is None:
        assert expires_on(record, where) is None
    else:
        for day, over in ((maximum - ONE, False), (maximum, False), (maximum + ONE, True)):
            evaluation = evaluate(record, where, today=day)
            assert evaluation.maximum is not None and evaluation.maximum.reached(day) is over, (day, category)
        assert expires_on(record, where) == maximum + ONE


def test_the_hr_list_s_early_removal_is_six_months_not_one_year() -> None:
    """lists.md §2 corrects domain.md §5.4's "after 1 year" [V fa.113you.com]."""
    record = entry(Category.WAGE_ARREARS)
    assert minimum_ends_on(record, System.HRSS) == date(2025, 7, 16)
    assert evaluate(record, System.HRSS, today=date(2025, 7, 16)).eligible is True
