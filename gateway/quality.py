"""Data-collection quality per department and category (seed 任务五; docs/adr/0024): the canonical
records judged by `gateway.domain.quality`, aggregated, as JSON, as a CSV for the periodic 通报 to
departments, and as metrics.

A department is the deciding authority (its 统一社会信用代码 and name), since it answers for the data
it feeds. Records are read page by page in record-id order (memory: one page and one row per
department and category). `collected_on` is the owner's own stamp of its row at first sighting
(`records.collected_at`, migration 0013), else GSXT's publication date, else the day the gateway
first stored the record.

The CSV is UTF-8 with a byte-order mark: Excel and WPS on Chinese Windows open a BOM-marked file as
UTF-8 (without it they assume GB18030 and garble it), and every other tool reads UTF-8 as it is;
GB18030 would serve Excel alone and break the rest.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from gateway.domain.beijing import beijing_date
from gateway.domain.categories import CATEGORY_LABELS, Category
from gateway.domain.model import RecordFacts
from gateway.domain.quality import TIMELINESS_LIMITS, Check, Timeliness, TimelinessLimit, assess
from gateway.domain.workdays import WorkdayCalendar
from gateway.observability import COLLECTION_DEFECTS, COLLECTION_QUALITY, get_logger
from gateway.settings import Settings
from gateway.store.database import Database, Tx, from_db_ts

log = get_logger("creditgw.quality")

PAGE = 2000
BOM = "\ufeff"


@dataclass
class DepartmentQuality:
    authority_code: str
    authority_name: str
    category: str
    records: int = 0
    complete: int = 0
    accurate: int = 0
    on_time: int = 0
    late: int = 0
    timeliness_unknown: int = 0
    estimated: int = 0  # lags counted over a year without calendar data
    missing: dict[str, int] = field(default_factory=dict)  # field → records lacking it
    defects: dict[str, int] = field(default_factory=dict)  # check → records failing it
    max_lag_working_days: int | None = None

    @property
    def timely_judged(self) -> int:
        return self.on_time + self.late

    def as_json(self) -> dict[str, Any]:
        return {
            "authority_code": self.authority_code,
            "authority_name": self.authority_name,
            "category": self.category,
            "records": self.records,
            "completeness": _share(self.complete, self.records),
            "accuracy": _share(self.accurate, self.records),
            "timeliness": _share(self.on_time, self.timely_judged),
            "complete": self.complete,
            "accurate": self.accurate,
            "on_time": self.on_time,
            "late": self.late,
            "timeliness_unknown": self.timeliness_unknown,
            "timeliness_estimated": self.estimated,
            "max_lag_working_days": self.max_lag_working_days,
            "missing": dict(sorted(self.missing.items())),
            "defects": dict(sorted(self.defects.items())),
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class QualityReport:
    generated_at: datetime
    as_of: date
    departments: list[DepartmentQuality]
    limits: dict[str, TimelinessLimit] = field(default_factory=lambda: dict(TIMELINESS_LIMITS))

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "as_of": self.as_of.isoformat(),
            "timeliness_limits": {
                system: {"working_days": limit.working_days, "basis": limit.basis}
                for system, limit in sorted(self.limits.items())
            },
            "departments": [d.as_json() for d in self.departments],
        }


def collected_on(row: dict[str, Any], facts: RecordFacts) -> date | None:
    stamped = from_db_ts(row.get("collected_at"))
    if stamped is not None:
        return beijing_date(stamped)
    if facts.publication_date is not None:
        return facts.publication_date
    created = from_db_ts(row.get("created_at"))
    return beijing_date(created) if created is not None else None


def build_report(
    tx: Tx,
    *,
    calendar: WorkdayCalendar,
    now: datetime,
    visible: tuple[Sequence[str] | None, Sequence[str] | None] = (None, None),
    category: str | None = None,
    limits: dict[str, TimelinessLimit] = TIMELINESS_LIMITS,
) -> QualityReport:
    """Every record (of the visible authorities and categories, or of `category`) judged and summed
    per department and category."""
    authorities, categories = visible
    today = beijing_date(now)
    groups: dict[tuple[str, str], DepartmentQuality] = {}
    after = ""
    while True:
        sql = (
            "SELECT record_id, category, authority_code, facts, collected_at, created_at FROM records"
            " WHERE record_id > ?"
        )
        params: list[Any] = [after]
        if authorities is not None:
            sql += f" AND authority_code IN ({', '.join(['?'] * len(authorities))})" if authorities else " AND 1 = 0"
            params += list(authorities)
        if categories is not None:
            sql += f" AND category IN ({', '.join(['?'] * len(categories))})" if categories else " AND 1 = 0"
            params += list(categories)
        if category is not None:
            sql += " AND category = ?"
            params.append(category)
        rows = tx.all(sql + " ORDER BY record_id LIMIT ?", (*params, PAGE))
        for row in rows:
            facts = RecordFacts.from_json(json.loads(row["facts"]))
            judged = assess(facts, collected_on=collected_on(row, facts), today=today, calendar=calendar, limits=limits)
            key = (facts.identity.authority_code, facts.category.value)
            dept = groups.get(key)
            if dept is None:
                dept = groups[key] = DepartmentQuality(key[0], facts.authority_name, key[1])
            _add(dept, judged)
        if len(rows) < PAGE:
            break
        after = rows[-1]["record_id"]
    departments = sorted(groups.values(), key=lambda d: (d.category, d.authority_code))
    return QualityReport(generated_at=now, as_of=today, departments=departments, limits=dict(limits))


def _add(dept: DepartmentQuality, judged: Any) -> None:
    dept.records += 1
    dept.complete += judged.complete
    dept.accurate += judged.accurate
    for name in judged.missing:
        dept.missing[name] = dept.missing.get(name, 0) + 1
    for check in judged.defects:
        dept.defects[check.value] = dept.defects.get(check.value, 0) + 1
    if judged.timeliness is Timeliness.ON_TIME:
        dept.on_time += 1
    elif judged.timeliness is Timeliness.LATE:
        dept.late += 1
    else:
        dept.timeliness_unknown += 1
    dept.estimated += judged.estimated
    if judged.lag_working_days is not None:
        dept.max_lag_working_days = max(dept.max_lag_working_days or 0, judged.lag_working_days)


CSV_HEADER = (
    "认定部门统一社会信用代码",
    "认定部门",
    "类别",
    "记录数",
    "完整率",
    "准确率",
    "及时率",
    "缺项记录数",
    "差错记录数",
    "超期记录数",
    "未能判断及时性",
    "最长时滞(工作日)",
    *(f"缺项:{name}" for name in ("subject_code", "decision_date", "document_number", "violation", "fine_wan_yuan")),
    *(f"差错:{check.value}" for check in Check),
)


def to_csv(report: QualityReport) -> str:
    """The 通报 table: one row per department and category, rates as percentages."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for d in report.departments:
        writer.writerow(
            [
                d.authority_code,
                d.authority_name,
                CATEGORY_LABELS.get(Category(d.category), d.category),
                d.records,
                _percent(d.complete, d.records),
                _percent(d.accurate, d.records),
                _percent(d.on_time, d.timely_judged),
                d.records - d.complete,
                d.records - d.accurate,
                d.late,
                d.timeliness_unknown,
                "" if d.max_lag_working_days is None else d.max_lag_working_days,
                *(
                    d.missing.get(name, 0)
                    for name in ("subject_code", "decision_date", "document_number", "violation", "fine_wan_yuan")
                ),
                *(d.defects.get(check.value, 0) for check in Check),
            ]
        )
    return BOM + out.getvalue()


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else ""


def publish_metrics(report: QualityReport) -> None:
    """Per category (never per department: a province has hundreds of deciding authorities, and
    department detail is what the report and the CSV are for): the share of records complete,
    accurate and on time, and the records failing each check."""
    totals: dict[str, list[int]] = {}
    defects: dict[tuple[str, str], int] = {}
    for d in report.departments:
        t = totals.setdefault(d.category, [0, 0, 0, 0, 0])
        t[0] += d.records
        t[1] += d.complete
        t[2] += d.accurate
        t[3] += d.on_time
        t[4] += d.timely_judged
        for check, n in d.defects.items():
            defects[(d.category, check)] = defects.get((d.category, check), 0) + n
    for category, (records, complete, accurate, on_time, judged) in totals.items():
        for dimension, part, whole in (
            ("completeness", complete, records),
            ("accuracy", accurate, records),
            ("timeliness", on_time, judged),
        ):
            if whole:
                COLLECTION_QUALITY.labels(category, dimension).set(part / whole)
        for check in Check:
            COLLECTION_DEFECTS.labels(category, check.value).set(defects.get((category, check.value), 0))


def rows_for(departments: Iterable[DepartmentQuality]) -> list[dict[str, Any]]:
    return [d.as_json() for d in departments]


async def refresh_quality(db: Database, settings: Settings, now: datetime) -> QualityReport:
    """The report over every record, its metrics published and its summary logged (the nightly run)."""
    from gateway.calendar_data import load_calendar

    calendar = load_calendar(settings)
    report = await db.run(lambda tx: build_report(tx, calendar=calendar, now=now), write=False)
    publish_metrics(report)
    log.info(
        "collection_quality",
        departments=len(report.departments),
        records=sum(d.records for d in report.departments),
        incomplete=sum(d.records - d.complete for d in report.departments),
        inaccurate=sum(d.records - d.accurate for d in report.departments),
        late=sum(d.late for d in report.departments),
    )
    return report
