"""Working-day deadlines (domain.md §10): day 1 is the first working day after the start day; the
State Council's arrangement with its make-up workdays (调休); a year without data is estimated or,
in strict mode, an error. The 2026 cases run on the chinese_calendar package's real data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from gateway.calendar_data import file_arrangements, load_calendar, package_arrangements
from gateway.domain.workdays import CalendarGap, WorkdayCalendar, YearArrangement, add_working_days
from gateway.settings import Settings


@pytest.fixture(scope="module")
def package() -> WorkdayCalendar:
    return WorkdayCalendar(package_arrangements())


def test_package_covers_2026_with_domain_md_facts(package: WorkdayCalendar) -> None:
    assert package.covers(2026)
    assert package.is_working_day(date(2026, 9, 20))  # Sunday, make-up workday
    assert package.is_working_day(date(2026, 10, 10))  # Saturday, make-up workday
    for day in range(1, 8):
        assert not package.is_working_day(date(2026, 10, day))  # National Day
    assert not package.is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    assert package.is_working_day(date(2026, 10, 8))


def test_package_coverage(package: WorkdayCalendar) -> None:
    years = package.covered_years
    assert years == tuple(range(years[0], years[-1] + 1)), "contiguous"
    assert years[0] <= 2020 and years[-1] >= 2026


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        # across the National Day holiday and onto the make-up Saturday 2026-10-10
        (date(2026, 9, 30), 1, date(2026, 10, 8)),
        (date(2026, 9, 30), 2, date(2026, 10, 9)),
        (date(2026, 9, 30), 3, date(2026, 10, 10)),
        (date(2026, 9, 30), 4, date(2026, 10, 12)),
        (date(2026, 10, 1), 3, date(2026, 10, 10)),  # decided on a holiday
        (date(2026, 10, 9), 1, date(2026, 10, 10)),  # the make-up Saturday counts
        (date(2026, 10, 10), 1, date(2026, 10, 12)),  # the start day never counts, even a working one
        # the make-up Sunday 2026-09-20 before Mid-autumn (09-25..27)
        (date(2026, 9, 18), 1, date(2026, 9, 20)),
        (date(2026, 9, 23), 3, date(2026, 9, 29)),  # Thu 24; Fri 25..Sun 27 off; Mon 28; Tue 29
        # an ordinary week
        (date(2026, 11, 2), 3, date(2026, 11, 5)),
        (date(2026, 11, 6), 3, date(2026, 11, 11)),  # Friday: the weekend does not count
        (date(2026, 11, 6), 0, date(2026, 11, 6)),
    ],
)
def test_deadlines_on_the_2026_arrangement(package: WorkdayCalendar, start: date, n: int, due: date) -> None:
    deadline = package.add_working_days(start, n, strict=True)
    assert deadline.due == due and not deadline.estimated and deadline.uncovered_years == ()
    assert package.working_days_between(start, due).days == n
    assert deadline.overdue(due) is False and deadline.overdue(date.fromordinal(due.toordinal() + 1)) is True
    assert add_working_days(package, start, n) == deadline


def test_a_year_without_data_is_estimated_never_silent() -> None:
    calendar = WorkdayCalendar([YearArrangement(year=2026, holidays=frozenset({date(2026, 12, 31)}))])
    deadline = calendar.add_working_days(date(2026, 12, 30), 3)
    assert deadline.due == date(2027, 1, 5)  # 12-31 off; 2027: Fri 1, Mon 4, Tue 5 (weekdays, estimated)
    assert deadline.estimated and deadline.uncovered_years == (2027,)
    with pytest.raises(CalendarGap) as gap:
        calendar.add_working_days(date(2026, 12, 30), 3, strict=True)
    assert gap.value.years == (2027,) and "CREDITGW_WORKDAY_CALENDAR" in str(gap.value)
    within = calendar.add_working_days(date(2026, 12, 28), 2, strict=True)
    assert within.due == date(2026, 12, 30) and not within.estimated
    with pytest.raises(CalendarGap):
        calendar.is_working_day(date(2027, 1, 1), strict=True)
    assert calendar.is_working_day(date(2027, 1, 1)) is True  # the estimate: a Friday


def test_explicit_data_and_validation() -> None:
    arrangement = YearArrangement(
        year=2030, holidays=frozenset({date(2030, 1, 1), date(2030, 1, 2)}), workdays=frozenset({date(2030, 1, 5)})
    )
    calendar = WorkdayCalendar([arrangement])
    # 2029-12-31 (Mon) start; 01-01/02 off; Thu 3, Fri 4, Sat 5 (make-up)
    assert calendar.add_working_days(date(2029, 12, 31), 3).due == date(2030, 1, 5)
    assert calendar.add_working_days(date(2029, 12, 31), 3).uncovered_years == ()
    with pytest.raises(ValueError, match="another year"):
        YearArrangement(year=2030, holidays=frozenset({date(2031, 1, 1)}))
    with pytest.raises(ValueError, match="both"):
        YearArrangement(year=2030, holidays=frozenset({date(2030, 1, 5)}), workdays=frozenset({date(2030, 1, 5)}))
    with pytest.raises(ValueError, match="two arrangements"):
        WorkdayCalendar([arrangement, arrangement])
    with pytest.raises(ValueError):
        calendar.add_working_days(date(2030, 1, 1), -1)


def test_operator_years_from_settings_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "workdays.json"
    path.write_text(
        json.dumps({"2027": {"holidays": ["2027-01-01"], "workdays": []}, "2028": {"holidays": ["2028-01-03"]}}),
        encoding="utf-8",
    )
    monkeypatch.setenv("CREDITGW_WORKDAY_CALENDAR_FILE", str(path))
    monkeypatch.setenv("CREDITGW_WORKDAY_CALENDAR__2027__HOLIDAYS", '["2027-01-01", "2027-01-04"]')
    monkeypatch.setenv("CREDITGW_WORKDAY_CALENDAR__2027__WORKDAYS", '["2027-01-09"]')
    settings = Settings()  # type: ignore[call-arg]  # reads the environment (no pydantic mypy plugin)
    calendar = load_calendar(settings)
    assert calendar.covers(2026) and calendar.covers(2027) and calendar.covers(2028)
    # the setting replaces the file's 2027 whole: 01-04 off, Saturday 01-09 works
    deadline = calendar.add_working_days(date(2026, 12, 31), 4, strict=True)
    assert deadline.due == date(2027, 1, 8) and not deadline.estimated  # Tue 5, Wed 6, Thu 7, Fri 8
    assert calendar.add_working_days(date(2027, 1, 8), 1).due == date(2027, 1, 9)
    assert not calendar.is_working_day(date(2028, 1, 3))  # from the file
    assert calendar.arrangement(2027) is not None and "setting" in calendar.arrangement(2027).source  # type: ignore[union-attr]


def test_operator_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="another year"):
        Settings.model_validate({"workday_calendar": {2027: {"holidays": ["2026-12-31"]}}})
    with pytest.raises(ValueError, match="both"):
        Settings.model_validate({"workday_calendar": {2027: {"holidays": ["2027-01-09"], "workdays": ["2027-01-09"]}}})
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="keyed by year"):
        file_arrangements(bad)
    with pytest.raises(ValueError, match="cannot read"):
        file_arrangements(tmp_path / "missing.json")
    bad.write_text('{"next": {}}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a year"):
        file_arrangements(bad)
