"""Small named pure transforms between native column values and canonical values.

Each system's mapping is a table of (canonical field, native field, transform name); the names are
looked up in `TRANSFORMS` below, so a table is plain data and nothing is evaluated at run time
(STYLE.md §12). A transform reads leniently (every format seen in the wild, domain.md §2.4) and
writes exactly the format its system requires.

The timestamp and source-version helpers at the end are also used by the adapters: they position a
change in a system's feed, which both sides must agree on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Generic, TypeVar

from gateway.contract import UnmappableRow
from gateway.domain.beijing import BEIJING
from gateway.domain.categories import SubjectType
from gateway.domain.identity import normalise_code
from gateway.domain.model import Severity, TargetState
from gateway.domain.retry import PermanentError
from gateway.domain.uscc import PLACEHOLDER, check

# Beijing time. China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact
# for every timestamp these systems produce; no tz database needed.


class NotWritable(PermanentError):
    """The canonical record cannot be expressed as a row of this system (wrong category, a natural
    person on GSXT, a state the system has no code for). Sending it again cannot help."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, code="not_writable")
        self.field = field

    def context(self) -> dict[str, object]:
        return {**super().context(), "field": self.field}


# ---------------------------------------------------------------------------------------------
# Text and codes


def text(raw: object) -> str | None:
    """Trimmed text; empty means absent. JSON numbers are taken as their text."""
    if raw is None:
        return None
    value = str(raw).strip()
    return value or None


def code(raw: object) -> str | None:
    """An authority or cause code: half-width, no spaces, upper-case (identity.normalise_code)."""
    value = text(raw)
    return normalise_code(value) if value is not None else None


def write_text(value: object) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# Dates (domain.md §2.4)


class DateSentinel(StrEnum):
    """Placeholder values that look like dates but are not (never stored as real dates)."""

    NULL = "null"  # 1900-01-01: "no date" in exports
    OPEN_ENDED = "open_ended"  # 2099-12-31, 9999-09-09, 无处罚期限, 长期: no end


_SENTINEL_DATES: Mapping[tuple[int, int, int], DateSentinel] = {
    (1900, 1, 1): DateSentinel.NULL,
    (2099, 12, 31): DateSentinel.OPEN_ENDED,
    (9999, 9, 9): DateSentinel.OPEN_ENDED,
}
_SENTINEL_TEXT: Mapping[str, DateSentinel] = {
    "无处罚期限": DateSentinel.OPEN_ENDED,
    "长期": DateSentinel.OPEN_ENDED,
}
# YYYY/MM/DD, YYYY-MM-DD, YYYY-M-D (one separator kind per date), each with an optional time; the
# hour may have one digit ("1900-1-1 0:00:00" in Zhejiang exports).
_SEPARATED = re.compile(r"(\d{4})([/-])(\d{1,2})\2(\d{1,2})(?: (\d{1,2}):(\d{2}):(\d{2}))?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?: (\d{1,2}):(\d{2}):(\d{2}))?")


def parse_date(raw: object) -> date | DateSentinel | None:
    """A date in any accepted format, a sentinel, or None when empty. ValueError when malformed."""
    value = text(raw)
    if value is None:
        return None
    if value in _SENTINEL_TEXT:
        return _SENTINEL_TEXT[value]
    match = _SEPARATED.fullmatch(value)
    if match:
        y, m, d = int(match[1]), int(match[3]), int(match[4])
    else:
        match = _COMPACT.fullmatch(value)
        if not match:
            raise ValueError(f"not a date: {value!r}")
        y, m, d = int(match[1]), int(match[2]), int(match[3])
    if (y, m, d) in _SENTINEL_DATES:
        return _SENTINEL_DATES[(y, m, d)]
    return date(y, m, d)  # ValueError for 2024/02/30


def real_date(raw: object) -> date | None:
    """A date field of the canonical model: sentinels carry no date, so they become None."""
    value = parse_date(raw)
    return value if isinstance(value, date) else None


def reported_day(raw: object) -> date | None:
    """A day a system gives beside a state (终止日期 ZZRQ, stopDate, remDate): it orders decisions
    (plan.system_decided_at) and is never written back, so an unreadable one is simply unknown."""
    try:
        return real_date(raw)
    except ValueError:
        return None


def format_slash_date(value: date | None) -> str | None:
    """信用中国: `yyyy/MM/dd`."""
    return value.strftime("%Y/%m/%d") if value is not None else None


def format_dash_date(value: date | None) -> str | None:
    """GSXT: `yyyy-MM-dd`."""
    return value.isoformat() if value is not None else None


# ---------------------------------------------------------------------------------------------
# Amounts in 万元 (10,000 yuan). Decimal throughout: 0.2 万元 is exactly 2000 元.

_AMOUNT = re.compile(r"\d+(\.\d+)?|\.\d+")


def canonical_decimal(value: Decimal) -> Decimal:
    """One representation per amount, so fingerprints agree: 0.20 → 0.2, 1E+2 → 100."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


def parse_wan_yuan(raw: object) -> Decimal | None:
    """A non-negative amount in 万元 from text or a JSON number; None when empty."""
    if isinstance(raw, bool):
        raise ValueError("not an amount: a boolean")
    if isinstance(raw, Decimal | int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        # JSON parsed without parse_float=Decimal: the shortest repr is the text that was sent.
        value = Decimal(repr(raw))
    else:
        given = text(raw)
        if given is None:
            return None
        given = given.removesuffix("万元").strip()
        if not _AMOUNT.fullmatch(given):
            raise ValueError(f"not an amount in 万元: {given!r}")
        value = Decimal(given)
    if not value.is_finite() or value < 0:
        raise ValueError(f"not an amount in 万元: {raw!r}")
    return canonical_decimal(value)


def format_wan_yuan(value: Decimal | None) -> str | None:
    """Plain decimal text, no exponent, no trailing zeros: Decimal("0.20") → "0.2"."""
    return format(canonical_decimal(value), "f") if value is not None else None


def wan_yuan_number(value: Decimal | None) -> Decimal | None:
    """For JSON systems: the amount stays a Decimal, which the adapter sends as a JSON number."""
    return canonical_decimal(value) if value is not None else None


# ---------------------------------------------------------------------------------------------
# Penalty kinds (处罚类别): several per decision

_KIND_SEPARATORS = re.compile(r"[;；,，、]")
KIND_SEPARATOR = ";"


def split_kinds(raw: object) -> tuple[str, ...]:
    """Kinds in their given order, trimmed, without blanks or repeats."""
    value = text(raw)
    if value is None:
        return ()
    kinds = (kind.strip() for kind in _KIND_SEPARATORS.split(value))
    return tuple(dict.fromkeys(kind for kind in kinds if kind))


def join_kinds(kinds: tuple[str, ...]) -> str | None:
    return KIND_SEPARATOR.join(kinds) if kinds else None


# ---------------------------------------------------------------------------------------------
# 行政相对人类别 and the Order 36 tier (失信程度, CF_SXCD): the Chinese literal is what is exchanged
# (domain.md §2.3, §5.2). An empty tier is awaited, never guessed.

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class Literals(Generic[E]):
    """A code table of Chinese literals ⇄ canonical values."""

    what: str
    values: Mapping[str, E]

    def parse(self, raw: object) -> E | None:
        value = text(raw)
        if value is None:
            return None
        if value not in self.values:
            raise ValueError(f"unknown {self.what}: {value!r} ({'、'.join(self.values)})")
        return self.values[value]

    def format(self, value: E | None) -> str | None:
        return next(literal for literal, v in self.values.items() if v is value) if value is not None else None


SUBJECT_TYPES = Literals(
    "行政相对人类别",
    {
        "法人及非法人组织": SubjectType.LEGAL_ENTITY,
        "自然人": SubjectType.NATURAL_PERSON,
        "个体工商户": SubjectType.INDIVIDUAL_BUSINESS,
    },
)
SUBJECT_TYPE_LITERALS = SUBJECT_TYPES.values
parse_subject_type = SUBJECT_TYPES.parse
format_subject_type = SUBJECT_TYPES.format
SEVERITIES = Literals("失信程度", {"轻微": Severity.MINOR, "一般": Severity.GENERAL, "严重": Severity.SERIOUS})


# GSXT entType. 农专社 (farmers' co-operatives) are organisations: legal entities in the canonical
# model; on the way back their code tells them apart from 企业 (format_gsxt_ent_type).
GSXT_ENT_TYPES: Mapping[str, SubjectType] = {
    "企业": SubjectType.LEGAL_ENTITY,
    "农专社": SubjectType.LEGAL_ENTITY,
    "个体工商户": SubjectType.INDIVIDUAL_BUSINESS,
    "自然人": SubjectType.NATURAL_PERSON,  # refused by GSXT on write; read only to reject cleanly
}
_GSXT_ENT_TYPE_OF = {
    SubjectType.LEGAL_ENTITY: "企业",
    SubjectType.INDIVIDUAL_BUSINESS: "个体工商户",
    SubjectType.NATURAL_PERSON: "自然人",
}


def parse_gsxt_ent_type(raw: object) -> SubjectType | None:
    value = text(raw)
    if value is None:
        return None
    if value not in GSXT_ENT_TYPES:
        raise ValueError(f"unknown entType: {value!r}")
    return GSXT_ENT_TYPES[value]


def format_gsxt_ent_type(value: SubjectType, subject_code: str | None) -> str:
    """GB 32100 positions 1–2 `93` mark a 农民专业合作社 registered by market regulation: such a
    legal entity is written as 农专社 (read from the code's structure, not guessed)."""
    if value is SubjectType.LEGAL_ENTITY and subject_code is not None and subject_code.startswith("93"):
        return "农专社"
    return _GSXT_ENT_TYPE_OF[value]


# ---------------------------------------------------------------------------------------------
# 统一社会信用代码 (domain.md §6): upper-case, flag a bad checksum, reject only malformed codes


@dataclass(frozen=True, kw_only=True)
class SubjectCode:
    code: str | None
    checksum_ok: bool | None


def parse_uscc(raw: object, *, field: str) -> SubjectCode:
    """Normalised code and its checksum flag. The all-zero placeholder that stands in for individual
    businesses without a code is no code at all (it would lump unrelated subjects together)."""
    value = text(raw)
    if value is None:
        return SubjectCode(code=None, checksum_ok=None)
    result = check(value)
    if not result.well_formed:
        raise UnmappableRow(f"{field}: not a 统一社会信用代码 ({len(result.code)} characters)", field=field)
    if result.code == PLACEHOLDER:
        return SubjectCode(code=None, checksum_ok=None)
    return SubjectCode(code=result.code, checksum_ok=result.checksum_ok)


def format_uscc(value: str | None, subject_type: SubjectType) -> str | None:
    """The code to send; an individual business without one gets the conventional placeholder."""
    if value is None and subject_type is SubjectType.INDIVIDUAL_BUSINESS:
        return PLACEHOLDER
    return value


def masked_id(raw: object, *, field: str) -> str | None:
    """A natural person's ID number exactly as its source masked it (6201**********1234,
    620502************): carried so mirrors show what the owner shows, never unmasked. A value
    without a `*` is taken as whole and refused (UnmappableRow: quarantined, never stored)."""
    value = text(raw)
    if value is not None and "*" not in value:
        raise UnmappableRow(f"{field}: an ID number that is not masked", field=field)
    return value


# ---------------------------------------------------------------------------------------------
# Field tables


@dataclass(frozen=True, kw_only=True)
class Transform:
    """A pair of pure functions: native value → canonical value, and back (None: leave unset)."""

    read: Callable[[Any], Any]
    write: Callable[[Any], Any]


TRANSFORMS: Mapping[str, Transform] = {
    "text": Transform(read=text, write=write_text),
    "code": Transform(read=code, write=write_text),
    "date_slash": Transform(read=real_date, write=format_slash_date),
    "date_dash": Transform(read=real_date, write=format_dash_date),
    "wan_yuan": Transform(read=parse_wan_yuan, write=format_wan_yuan),
    "wan_yuan_number": Transform(read=parse_wan_yuan, write=wan_yuan_number),
    "kinds": Transform(read=split_kinds, write=join_kinds),
    "subject_type": Transform(read=parse_subject_type, write=format_subject_type),
    "severity": Transform(read=SEVERITIES.parse, write=SEVERITIES.format),
}

# (canonical field, native field, transform name)
FieldTable = tuple[tuple[str, str, str], ...]


def read_fields(row: Mapping[str, Any], table: FieldTable) -> dict[str, Any]:
    """Canonical values of a native row; a bad value raises UnmappableRow naming the native field."""
    values: dict[str, Any] = {}
    for canonical, native, name in table:
        try:
            values[canonical] = TRANSFORMS[name].read(row.get(native))
        except UnmappableRow:
            raise
        except (ValueError, InvalidOperation) as exc:
            raise UnmappableRow(f"{native}: {exc}", field=native) from exc
    return values


def write_fields(values: Mapping[str, Any], table: FieldTable) -> dict[str, Any]:
    """Native columns for the canonical values; unset values are left out of the row."""
    row: dict[str, Any] = {}
    for canonical, native, name in table:
        out = TRANSFORMS[name].write(values.get(canonical))
        if out is not None:
            row[native] = out
    return row


def require(values: Mapping[str, Any], fields: Mapping[str, str]) -> None:
    """Raise UnmappableRow for the first canonical field (→ native name) without a value."""
    for canonical, native in fields.items():
        if values.get(canonical) in (None, ""):
            raise UnmappableRow(f"{native} is required", field=native)


def beijing_today() -> date:
    """Today's date in Gansu."""
    return datetime.now(BEIJING).date()


def stop_date(row: Mapping[str, Any], field: str) -> date | None:
    """The stop date a system states in `field` (ZZRQ, stopDate, remDate); UnmappableRow when malformed."""
    try:
        return real_date(row.get(field))
    except ValueError as exc:
        raise UnmappableRow(f"{field}: {exc}", field=field) from exc


def stop_day(target: TargetState, decided_at: datetime | None, today: Callable[[], date]) -> date:
    """The 终止日期 of a stop (both systems require one): the stop date the stopping system stated
    (`target.on`: ZZRQ, stopDate, remDate), else the day the stop was decided, in Gansu (an API
    decision, the sweep), else `today()` when the caller knows neither. Never a feed timestamp."""
    if target.on is not None:
        return target.on
    return decided_at.astimezone(BEIJING).date() if decided_at is not None else today()


# ---------------------------------------------------------------------------------------------
# The list departments' own date forms (docs/protocols.md §10–§11)

_CN_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_DOTTED_DATE = re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})")


def list_date(raw: object) -> date | None:
    """`yyyy年M月d日` (the templates' text dates), `yyyy.MM.dd` (统计 移出日期), or any form
    `real_date` reads (a spreadsheet date cell arrives as `yyyy-MM-dd`). ValueError when malformed."""
    value = text(raw)
    if value is None:
        return None
    match = _CN_DATE.fullmatch(value) or _DOTTED_DATE.fullmatch(value)
    if match:
        return date(int(match[1]), int(match[2]), int(match[3]))
    return real_date(value)


def list_date_of(row: Mapping[str, Any], field: str) -> date | None:
    """`list_date` of a row's field; UnmappableRow naming the field when malformed."""
    try:
        return list_date(row.get(field))
    except ValueError as exc:
        raise UnmappableRow(f"{field}: {exc}", field=field) from exc
