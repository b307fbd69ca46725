"""Injectable clocks. Platform time is Beijing time (UTC+8, no daylight saving)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol

BEIJING = timezone(timedelta(hours=8), "CST")


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware, in Beijing time."""
        ...


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(BEIJING)


class ManualClock:
    """A clock tests move by hand (SJC has one-second resolution, so tests need control over it)."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = _aware(moment)

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=BEIJING) if moment.tzinfo is None else moment.astimezone(BEIJING)
