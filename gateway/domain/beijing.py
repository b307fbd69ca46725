"""Gansu keeps Beijing time: the day a decision, a deadline or a publicity period falls on is a
Beijing day, whatever the server's clock says. China has kept UTC+8 without daylight saving since
1991, so a fixed offset needs no time-zone database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


def beijing_date(at: datetime) -> date:
    """The calendar day in China at `at` (an aware datetime; a naive one is taken as UTC)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(BEIJING).date()


def start_of_beijing_day(day: date) -> datetime:
    """00:00 Beijing time on `day`, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=BEIJING)
