"""Data-collection quality of one record (seed 任务五, 清单管理): completeness, accuracy, timeliness.

Pure, no I/O. Departments answer for the completeness, accuracy and timeliness of the penalty and
list data they feed to the provincial platform (domain.md §5.5). Each check here judges one stored
record's facts; gateway/quality.py aggregates them per department (deciding authority) and category.

- **Completeness**: the fields the exchange standard marks required are present (`REQUIRED`,
  domain.md §2: 行政相对人名称, 文号, 决定日期, …; the subject's code for legal entities and 个体工商户;
  the fine when 罚款 is a penalty kind; the 列入原因 of an 经营异常名录 entry).
- **Accuracy**: the 统一社会信用代码 of the subject and of the authority carry a valid check
  character (GB 32100; domain.md §6: flagged, never rejected), code values are known (列入原因),
  dates are sane (no decision in the future, after the record was collected or after its
  publication; none before 1990), amounts are sane (not negative; the 万元 figure agrees with a
  "罚款N元" in the content: the commonest mistake is yuan typed into the 万元 column).
- **Timeliness**: working days from the decision to the day the owner system collected the record
  (`collected_on`), against the limit of that owner (`TIMELINESS_LIMITS`): GSXT publishes
  government-produced enterprise information within 20 working days (《企业信息公示暂行条例》 art. 6,
  domain.md §1); 双公示 on 信用中国 within 7 working days (issue 13; the source text is not in
  domain.md, so it is configurable). Owners without a known limit are not judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from gateway.domain.categories import Category, SubjectType, System
from gateway.domain.intake import LISTING_CAUSES
from gateway.domain.model import RecordFacts
from gateway.domain.uscc import check as uscc_check
from gateway.domain.workdays import WorkdayCalendar


class Check(StrEnum):
    """One accuracy check; the value is its stable name (CSV column, metric label)."""

    SUBJECT_CODE = "subject_code_check"  # the subject's 统一社会信用代码 fails its check character / shape
    AUTHORITY_CODE = "authority_code_check"  # the authority's code fails its check character / shape
    CODE_VALUE = "code_value"  # a code outside its code table (列入原因)
    DATE = "date_sanity"  # a decision in the future, after collection or publication, or before 1990
    AMOUNT = "amount"  # a negative amount, or 万元 disagreeing with the content's 罚款N元


# Fields required of every record, then per category (domain.md §2, the 双公示 standard's
# "required" columns as far as the canonical model carries them).
REQUIRED_ALWAYS: tuple[str, ...] = (
    "authority_name",
    "authority_code",
    "document_number",
    "subject_name",
    "decision_date",
)
REQUIRED_BY_CATEGORY: dict[Category, tuple[str, ...]] = {
    Category.ADMIN_PENALTY: ("violation", "penalty_kinds", "content"),
    Category.ABNORMAL_OPERATIONS: ("listing_cause",),
}
FINE_KIND = "罚款"
EARLIEST_DECISION = date(1990, 1, 1)
_YUAN_IN_CONTENT = re.compile(r"罚款(?:人民币)?\s*([0-9]+(?:\.[0-9]+)?)\s*(万)?元")
_TEN_THOUSAND = Decimal(10_000)


@dataclass(frozen=True, kw_only=True)
class TimelinessLimit:
    working_days: int
    basis: str  # where the limit comes from, for the report


TIMELINESS_LIMITS: dict[str, TimelinessLimit] = {
    System.GSXT_GANSU.value: TimelinessLimit(working_days=20, basis="《企业信息公示暂行条例》第六条：20个工作日内公示"),
    System.CREDITCHINA_GANSU.value: TimelinessLimit(working_days=7, basis="双公示：作出决定之日起7个工作日内上网公开"),
}


class Timeliness(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    UNKNOWN = "unknown"  # no decision date, no collection date, or no limit for the owner


@dataclass(frozen=True, kw_only=True)
class RecordQuality:
    missing: tuple[str, ...]  # required fields absent
    defects: tuple[Check, ...]  # accuracy checks failed
    timeliness: Timeliness
    lag_working_days: int | None = None  # decision → collection; None when not measured
    estimated: bool = False  # the lag touches a year without calendar data

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def accurate(self) -> bool:
        return not self.defects


def _present(facts: RecordFacts, name: str) -> bool:
    value = getattr(facts, name)
    if isinstance(value, str):
        return bool(value.strip())
    return value not in (None, (), frozenset())


def missing_fields(facts: RecordFacts) -> tuple[str, ...]:
    wanted = list(REQUIRED_ALWAYS) + list(REQUIRED_BY_CATEGORY.get(facts.category, ()))
    if facts.subject_type in (SubjectType.LEGAL_ENTITY, SubjectType.INDIVIDUAL_BUSINESS):
        wanted.append("subject_code")
    if FINE_KIND in facts.penalty_kinds:
        wanted.append("fine_wan_yuan")
    return tuple(name for name in wanted if not _present(facts, name))


def _code_bad(code: str | None) -> bool:
    if not code:
        return False  # absent: a completeness defect, not an accuracy one
    checked = uscc_check(code)
    return not (checked.well_formed and checked.checksum_ok)


def _amount_bad(facts: RecordFacts) -> bool:
    amounts = [a for a in (facts.fine_wan_yuan, facts.confiscation_wan_yuan) if a is not None]
    if any(a < 0 for a in amounts):
        return True
    if facts.fine_wan_yuan is None or not facts.content:
        return False
    stated = _YUAN_IN_CONTENT.search(facts.content)
    if stated is None:
        return False
    yuan = Decimal(stated.group(1)) * (_TEN_THOUSAND if stated.group(2) else 1)
    return facts.fine_wan_yuan * _TEN_THOUSAND != yuan


def _dates_bad(facts: RecordFacts, collected_on: date | None, today: date) -> bool:
    decided = facts.decision_date
    if decided is None:
        return False
    if decided > today or decided < EARLIEST_DECISION:
        return True
    if collected_on is not None and decided > collected_on:
        return True
    return facts.publication_date is not None and facts.publication_date < decided


def accuracy_defects(facts: RecordFacts, *, collected_on: date | None, today: date) -> tuple[Check, ...]:
    found: list[Check] = []
    if _code_bad(facts.subject_code):
        found.append(Check.SUBJECT_CODE)
    if _code_bad(facts.authority_code):
        found.append(Check.AUTHORITY_CODE)
    if (
        facts.category is Category.ABNORMAL_OPERATIONS
        and facts.listing_cause
        and facts.listing_cause not in LISTING_CAUSES
    ):
        found.append(Check.CODE_VALUE)
    if _dates_bad(facts, collected_on, today):
        found.append(Check.DATE)
    if _amount_bad(facts):
        found.append(Check.AMOUNT)
    return tuple(found)


def timeliness(
    facts: RecordFacts,
    collected_on: date | None,
    calendar: WorkdayCalendar,
    limits: dict[str, TimelinessLimit] = TIMELINESS_LIMITS,
) -> tuple[Timeliness, int | None, bool]:
    """(verdict, working days from decision to collection, whether the count is estimated)."""
    limit = limits.get(str(facts.owner))
    decided = facts.decision_date
    if limit is None or decided is None or collected_on is None or collected_on < decided:
        return Timeliness.UNKNOWN, None, False
    # Counting day by day costs; a span this long holds more working days than any limit (at least
    # five in every seven days less the longest holiday block), so it is late without counting.
    if (collected_on - decided).days > 2 * limit.working_days + 15:
        return Timeliness.LATE, None, False
    count = calendar.working_days_between(decided, collected_on)
    verdict = Timeliness.LATE if count.days > limit.working_days else Timeliness.ON_TIME
    return verdict, count.days, count.estimated


def assess(
    facts: RecordFacts,
    *,
    collected_on: date | None,
    today: date,
    calendar: WorkdayCalendar,
    limits: dict[str, TimelinessLimit] = TIMELINESS_LIMITS,
) -> RecordQuality:
    verdict, lag, estimated = timeliness(facts, collected_on, calendar, limits)
    return RecordQuality(
        missing=missing_fields(facts),
        defects=accuracy_defects(facts, collected_on=collected_on, today=today),
        timeliness=verdict,
        lag_working_days=lag,
        estimated=estimated,
    )
