"""Working days on the State Council's yearly holiday arrangement, including make-up workdays (调休).

domain.md §10: short time limits ("within 3 working days") count working days; day 1 is the first
working day AFTER the start day, and the deadline is the end of the n-th working day. Weekends are
off unless the year's arrangement makes them working days; holidays are off even on weekdays.

The calendar is built from data (`YearArrangement` per year); this module knows no dates itself.
The data is loaded at the edge (`gateway/calendar_data.py`: the `chinese_calendar` package plus
operator-supplied years). A year without data is never silently counted as "every weekday works":
the result is marked `estimated` with the uncovered years, or, in strict mode, `CalendarGap` is
raised. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

_SATURDAY = 5


class CalendarGap(LookupError):
    """The calendar has no holiday arrangement for some years a computation needed (strict mode)."""

    def __init__(self, years: Iterable[int]) -> None:
        self.years = tuple(sorted(set(years)))
        listed = ", ".join(str(y) for y in self.years)
        super().__init__(
            f"no working-day arrangement for {listed}: supply it in settings "
            "(CREDITGW_WORKDAY_CALENDAR__<year>__HOLIDAYS / __WORKDAYS, or CREDITGW_WORKDAY_CALENDAR_FILE)"
        )


@dataclass(frozen=True, kw_only=True)
class YearArrangement:
    """One year's arrangement: days off that would be working days, and weekend days that work.

    `holidays` may also contain weekend days inside a holiday block (harmless: they are off anyway).
    """

    year: int
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)  # make-up working days (调休)
    source: str = ""

    def __post_init__(self) -> None:
        stray = sorted(d for d in self.holidays | self.workdays if d.year != self.year)
        if stray:
            raise ValueError(f"arrangement for {self.year} lists dates of another year: {stray[0].isoformat()}")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(f"{both[0].isoformat()} is listed both as a holiday and as a working day")

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < _SATURDAY and day not in self.holidays


@dataclass(frozen=True, kw_only=True)
class Deadline:
    """The end of the n-th working day after `start`: in time on `due`, overdue from the next day.

    `estimated`: some day counted lies in a year the calendar has no data for (`uncovered_years`),
    where every Monday to Friday was taken as a working day. Treat the date as provisional.
    """

    start: date
    working_days: int
    due: date
    estimated: bool
    uncovered_years: tuple[int, ...] = ()

    def overdue(self, on: date) -> bool:
        return on > self.due


@dataclass(frozen=True, kw_only=True)
class WorkingDayCount:
    """Working days in (`start`, `end`]; `estimated` as for `Deadline`."""

    start: date
    end: date
    days: int
    estimated: bool
    uncovered_years: tuple[int, ...] = ()


class WorkdayCalendar:
    """Working days from per-year arrangements. Immutable once built."""

    def __init__(self, arrangements: Iterable[YearArrangement] = ()) -> None:
        years: dict[int, YearArrangement] = {}
        for arrangement in arrangements:
            if arrangement.year in years:
                raise ValueError(f"two arrangements for {arrangement.year}")
            years[arrangement.year] = arrangement
        self._years: Mapping[int, YearArrangement] = dict(sorted(years.items()))

    @property
    def covered_years(self) -> tuple[int, ...]:
        return tuple(self._years)

    def covers(self, year: int) -> bool:
        return year in self._years

    def arrangement(self, year: int) -> YearArrangement | None:
        return self._years.get(year)

    def is_working_day(self, day: date, *, strict: bool = False) -> bool:
        """Whether `day` is a working day; for an uncovered year Monday–Friday (or CalendarGap if strict)."""
        working, estimated = self._classify(day)
        if estimated and strict:
            raise CalendarGap([day.year])
        return working

    def _classify(self, day: date) -> tuple[bool, bool]:
        arrangement = self._years.get(day.year)
        if arrangement is None:
            return day.weekday() < _SATURDAY, True
        return arrangement.is_working_day(day), False

    def add_working_days(self, start: date, n: int, *, strict: bool = False) -> Deadline:
        """The deadline "within n working days" of `start` (domain.md §10).

        Day 1 is the first working day after `start` (the start day itself never counts, even when
        it is a working day); `due` is the n-th. n=0 gives `start`. Raises ValueError for n < 0,
        and CalendarGap in strict mode when a day counted lies in a year without data.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        day, counted, uncovered = start, 0, set[int]()
        while counted < n:
            day += timedelta(days=1)
            working, estimated = self._classify(day)
            if estimated:
                uncovered.add(day.year)
            if working:
                counted += 1
        if uncovered and strict:
            raise CalendarGap(uncovered)
        return Deadline(
            start=start, working_days=n, due=day, estimated=bool(uncovered), uncovered_years=tuple(sorted(uncovered))
        )

    def working_days_between(self, start: date, end: date, *, strict: bool = False) -> WorkingDayCount:
        """Working days after `start` up to and including `end` (0 when `end` <= `start`).

        `working_days_between(s, add_working_days(s, n).due)` is n: use it to measure a lag in
        working days against a limit.
        """
        days, uncovered = 0, set[int]()
        day = start
        while day < end:
            day += timedelta(days=1)
            working, estimated = self._classify(day)
            if estimated:
                uncovered.add(day.year)
            days += working
        if uncovered and strict:
            raise CalendarGap(uncovered)
        return WorkingDayCount(
            start=start, end=end, days=days, estimated=bool(uncovered), uncovered_years=tuple(sorted(uncovered))
        )


def add_working_days(calendar: WorkdayCalendar, start: date, n: int, *, strict: bool = False) -> Deadline:
    """Function form of `WorkdayCalendar.add_working_days`."""
    return calendar.add_working_days(start, n, strict=strict)
