"""Loads the working-day calendar's data at the edge (the pure calendar is gateway/domain/workdays.py).

Sources, later ones replacing earlier ones year by year (a year's arrangement is always taken whole):
1. the `chinese_calendar` package (`chinese_calendar.constants.holidays` / `.workdays`): the State
   Council's arrangements for the years it ships (1.11.0: 2004–2026);
2. `CREDITGW_WORKDAY_CALENDAR_FILE`: a JSON object {"2027": {"holidays": [ISO dates], "workdays": [...]}};
3. `CREDITGW_WORKDAY_CALENDAR__<year>__HOLIDAYS` / `__WORKDAYS` (JSON lists of ISO dates).
A year none of them covers is not guessed: deadlines touching it come back `estimated` (or raise
`CalendarGap` in strict mode). Operators add next year's arrangement when it is announced (around
November, domain.md §10).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from gateway.domain.workdays import WorkdayCalendar, YearArrangement
from gateway.observability import get_logger
from gateway.settings import Settings, WorkdayYearSettings

log = get_logger("creditgw.calendar")

PACKAGE_SOURCE = "chinese_calendar package"


@lru_cache(maxsize=1)
def package_arrangements() -> tuple[YearArrangement, ...]:
    """The years the `chinese_calendar` package ships, one arrangement per year."""
    from chinese_calendar import constants

    holidays: dict[int, set[date]] = defaultdict(set)
    workdays: dict[int, set[date]] = defaultdict(set)
    for day in constants.holidays:
        holidays[day.year].add(day)
    for day in constants.workdays:
        workdays[day.year].add(day)
    version = _package_version()
    return tuple(
        YearArrangement(
            year=year,
            holidays=frozenset(holidays[year]),
            workdays=frozenset(workdays[year]),
            source=f"{PACKAGE_SOURCE} {version}",
        )
        for year in sorted(set(holidays) | set(workdays))
    )


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chinese_calendar")
    except PackageNotFoundError:  # pragma: no cover - installed under another distribution name
        return "unknown"


def _arrangement(year: int, raw: WorkdayYearSettings, source: str) -> YearArrangement:
    return YearArrangement(year=year, holidays=frozenset(raw.holidays), workdays=frozenset(raw.workdays), source=source)


def file_arrangements(path: str | Path) -> tuple[YearArrangement, ...]:
    """Arrangements from a JSON file {"<year>": {"holidays": [...], "workdays": [...]}}. Raises ValueError."""
    try:
        raw: Any = json.loads(Path(path).read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the workday calendar file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by year")
    out = []
    for key, value in raw.items():
        if not str(key).isdigit():
            raise ValueError(f"{path}: {key!r} is not a year")
        out.append(_arrangement(int(key), WorkdayYearSettings.model_validate(value), f"file {path}"))
    return tuple(out)


def load_calendar(settings: Settings | None = None) -> WorkdayCalendar:
    """The calendar from the package, the operator's file and the operator's settings (in that order)."""
    years = {a.year: a for a in package_arrangements()}
    if settings is not None:
        if settings.workday_calendar_file:
            years.update({a.year: a for a in file_arrangements(settings.workday_calendar_file)})
        for year, raw in settings.workday_calendar.items():
            years[year] = _arrangement(year, raw, f"setting CREDITGW_WORKDAY_CALENDAR__{year}")
    calendar = WorkdayCalendar(years.values())
    covered = calendar.covered_years
    log.info(
        "workday_calendar_loaded",
        first_year=covered[0] if covered else None,
        last_year=covered[-1] if covered else None,
        operator_years=sorted(y for y, a in years.items() if not a.source.startswith(PACKAGE_SOURCE)),
    )
    return calendar
