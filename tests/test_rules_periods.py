"""Period arithmetic (domain.md §10; 民法典 201/202): the start day is not counted, and a period in
months or years ends on the corresponding day of the final month, or on its last day."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.domain.rules import Period, PeriodEnd, PeriodOutOfRange, last_day_of


@pytest.mark.parametrize(
    ("start", "period", "last_day"),
    [
        # the two cases domain.md §10 spells out
        (date(2025, 11, 30), Period.of_months(3), date(2026, 2, 28)),
        (date(2024, 2, 29), Period.of_years(1), date(2025, 2, 28)),
        # corresponding day exists
        (date(2025, 1, 15), Period.of_months(3), date(2025, 4, 15)),
        (date(2025, 1, 15), Period.of_years(3), date(2028, 1, 15)),
        # month ends and leap years
        (date(2025, 8, 31), Period.of_months(3), date(2025, 11, 30)),
        (date(2023, 11, 30), Period.of_months(3), date(2024, 2, 29)),  # leap February keeps the 29th
        (date(2024, 2, 29), Period.of_years(4), date(2028, 2, 29)),
        (date(2025, 12, 31), Period.of_months(6), date(2026, 6, 30)),
        (date(2025, 1, 31), Period.of_months(1), date(2025, 2, 28)),
        (date(2025, 3, 31), Period.of_months(12), date(2026, 3, 31)),
        # year boundary
        (date(2025, 10, 10), Period.of_months(3), date(2026, 1, 10)),
    ],
)
def test_last_day_follows_the_civil_code(start: date, period: Period, last_day: date) -> None:
    assert last_day_of(start, period) == last_day
    end = PeriodEnd.of(start, period)
    assert end.last_day == last_day
    assert (end.first_day_after - end.last_day).days == 1
    assert end.start == start and end.period == period


def test_both_dates_are_explicit_and_reached_from_the_day_after() -> None:
    end = PeriodEnd.of(date(2025, 11, 30), Period.of_months(3))
    assert (end.last_day, end.first_day_after) == (date(2026, 2, 28), date(2026, 3, 1))
    assert not end.reached(date(2026, 2, 27))
    assert not end.reached(date(2026, 2, 28))  # the last day is still inside the period
    assert end.reached(date(2026, 3, 1))
    assert end.reached(date(2026, 3, 2))


def test_labels_and_iso_durations() -> None:
    assert (Period.of_months(3).label, Period.of_months(3).iso) == ("3个月", "P3M")
    assert (Period.of_years(1).label, Period.of_years(1).iso) == ("1年", "P1Y")
    assert (Period.of_months(18).label, Period.of_months(18).iso) == ("18个月", "P18M")
    assert Period.of_years(3) == Period.of_months(36)


def test_negative_periods_and_the_end_of_the_calendar_are_refused() -> None:
    with pytest.raises(ValueError):
        Period(-1)
    with pytest.raises(PeriodOutOfRange):
        last_day_of(date(9998, 6, 1), Period.of_years(3))
    with pytest.raises(PeriodOutOfRange):
        PeriodEnd.of(date(9999, 12, 31), Period(0))  # its day after would not exist
    assert PeriodEnd.of(date(9999, 9, 30), Period.of_months(3)).first_day_after == date(9999, 12, 31)
