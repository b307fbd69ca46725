"""The sync SLA: a repair result reaches every target system within N working days of the decision.

domain.md §5.5, §8.3 and §10: the only numeric sync limit found is 3 working days (configurable);
the decision day (Beijing time) is the start day and never counts, day 1 is the first working day
after it, and the deadline is the END of the N-th working day, Beijing time. So `due` is the last
working day on which a delivery is still in time; from the next calendar day on it is overdue.

Working days come from `WorkdayCalendar` (make-up workdays included). A deadline that touches a year
the calendar has no data for is `estimated` (Monday–Friday taken as working days) and names the
years; the caller reports it (metric, log line) so that an operator supplies the arrangement.

Pure: no I/O, no clock (`now` is always a parameter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from gateway.domain.beijing import BEIJING, beijing_date, start_of_beijing_day
from gateway.domain.workdays import Deadline, WorkdayCalendar

DEFAULT_WORKING_DAYS = 3


@dataclass(frozen=True, kw_only=True)
class SyncSla:
    """How long targets have to show a decision: `working_days` on `calendar`."""

    calendar: WorkdayCalendar
    working_days: int = DEFAULT_WORKING_DAYS

    def __post_init__(self) -> None:
        if self.working_days < 0:
            raise ValueError("the sync deadline cannot be a negative number of working days")

    def deadline(self, decided_at: datetime) -> Deadline:
        """The deadline of a decision taken at `decided_at`: `due` is the last working day in time."""
        return self.calendar.add_working_days(beijing_date(decided_at), self.working_days)


@dataclass(frozen=True, kw_only=True)
class DeadlineStanding:
    """Where one target stands against its deadline.

    `met`: True/False once the target shows the decision (delivered, or already in sync); False
    also while it is still outstanding after the deadline; None while outstanding within it, or
    when there is no deadline. `overdue`: outstanding and past the deadline.
    """

    met: bool | None
    overdue: bool


NO_DEADLINE = DeadlineStanding(met=None, overdue=False)


def missed(due: date, at: datetime) -> bool:
    """Whether something done at `at` was after the end of `due` (Beijing time)."""
    return beijing_date(at) > due


def standing(
    due: date | None, *, delivered_at: datetime | None, in_sync: bool, outstanding: bool, now: datetime
) -> DeadlineStanding:
    """Judge one target against `due`.

    `delivered_at`: when the target acknowledged the decision; `in_sync`: it already showed the
    state, nothing had to be sent (met); `outstanding`: something still has to reach it (pending,
    in flight, or a dead letter awaiting replay). Anything else (superseded by a newer decision,
    whose own deadline then applies) is neither met nor missed.
    """
    if due is None:
        return NO_DEADLINE
    if delivered_at is not None:
        return DeadlineStanding(met=not missed(due, delivered_at), overdue=False)
    if in_sync:
        return DeadlineStanding(met=True, overdue=False)
    if outstanding and missed(due, now):
        return DeadlineStanding(met=False, overdue=True)
    return NO_DEADLINE


__all__ = [
    "BEIJING",
    "DEFAULT_WORKING_DAYS",
    "NO_DEADLINE",
    "Deadline",
    "DeadlineStanding",
    "SyncSla",
    "beijing_date",
    "missed",
    "standing",
    "start_of_beijing_day",
]
