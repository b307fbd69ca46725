"""Calendar periods in months and years, and where they end (domain.md §10; 民法典 第二百零一条、第二百零二条).

- The day a period starts from (decision or publication date) is not counted: counting starts the
  next day (民法典 201).
- A period in months or years ends on the corresponding day of the final month; when that month
  has no corresponding day, on its last day (民法典 202). 2025-11-30 + 3 months → 2026-02-28;
  2024-02-29 + 1 year → 2025-02-28.

Every end is reported as TWO explicit dates, so no caller has to guess which one it got:
`last_day` (the last day inside the period) and `first_day_after` (the day after it: the first
day a subject may apply, or the first day publicity has stopped by itself).
Pure: no I/O, no clock.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from gateway.domain.rules.sources import Confidence


class PeriodOutOfRange(ValueError):
    """The period would end outside the supported calendar (after 9999-12-30)."""


@dataclass(frozen=True, order=True)
class Period:
    """A publicity period counted in whole months (a year is 12 months)."""

    months: int

    def __post_init__(self) -> None:
        if self.months < 0:
            raise ValueError("a period cannot be negative")

    @classmethod
    def of_months(cls, months: int) -> Period:
        return cls(months)

    @classmethod
    def of_years(cls, years: int) -> Period:
        return cls(12 * years)

    @property
    def label(self) -> str:
        """Chinese label as the rules write it: 3个月, 1年, 18个月."""
        if self.months and self.months % 12 == 0:
            return f"{self.months // 12}年"
        return f"{self.months}个月"

    @property
    def iso(self) -> str:
        """ISO 8601 duration: P3M, P1Y, P18M."""
        if self.months and self.months % 12 == 0:
            return f"P{self.months // 12}Y"
        return f"P{self.months}M"


def last_day_of(start: date, period: Period) -> date:
    """The last day of `period` counted from `start` (start day not counted; 民法典 201/202)."""
    month_index = start.month - 1 + period.months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    if year > 9999 or (year == 9999 and month == 12 and start.day >= 31):
        raise PeriodOutOfRange(f"{start.isoformat()} + {period.label} is beyond the supported calendar")
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


@dataclass(frozen=True, kw_only=True)
class PeriodEnd:
    """Where a period from a start date ends, as both dates.

    `last_day`: the last day inside the period (for a minimum period: the last day the subject may
    NOT yet apply). `first_day_after`: the day after (the first day it may apply; for a maximum
    period: the first day publicity has stopped by itself).
    """

    start: date
    period: Period
    last_day: date
    first_day_after: date
    source: str | None = None  # the rule the period comes from
    confidence: Confidence | None = None

    @classmethod
    def of(
        cls, start: date, period: Period, *, source: str | None = None, confidence: Confidence | None = None
    ) -> PeriodEnd:
        last = last_day_of(start, period)
        return cls(
            start=start,
            period=period,
            last_day=last,
            first_day_after=last + timedelta(days=1),
            source=source,
            confidence=confidence,
        )

    def reached(self, today: date) -> bool:
        """True from `first_day_after` on: the period is over as of `today`."""
        return today >= self.first_day_after
