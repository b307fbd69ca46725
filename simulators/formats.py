"""Strict date and amount formats of the two systems (each system accepts only its own)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from simulators.clock import BEIJING

_SLASH_DATE = re.compile(r"\d{4}/\d{2}/\d{2}")
_DASH_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SLASH_STAMP = re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}")
_AMOUNT = re.compile(r"\d{1,12}(\.\d{1,6})?")

SLASH_DATE = "%Y/%m/%d"
DASH_DATE = "%Y-%m-%d"
SLASH_STAMP = "%Y/%m/%d %H:%M:%S"
DASH_STAMP = "%Y-%m-%d %H:%M:%S"
COMPACT_STAMP = "%Y%m%d%H%M%S"


def parse_slash_date(text: str) -> date | None:
    """`yyyy/MM/dd` (信用中国) or None."""
    return _parse_date(text, _SLASH_DATE, SLASH_DATE)


def parse_dash_date(text: str) -> date | None:
    """`yyyy-MM-dd` (GSXT) or None."""
    return _parse_date(text, _DASH_DATE, DASH_DATE)


def parse_slash_stamp(text: str) -> datetime | None:
    """`yyyy/MM/dd HH:mm:ss` in Beijing time (信用中国 SJC) or None."""
    if not _SLASH_STAMP.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, SLASH_STAMP).replace(tzinfo=BEIJING)
    except ValueError:
        return None


def parse_compact_stamp(text: str) -> datetime | None:
    """`yyyyMMddHHmmss` in Beijing time (GSXT requestTime) or None."""
    if len(text) != 14 or not text.isdigit():
        return None
    try:
        return datetime.strptime(text, COMPACT_STAMP).replace(tzinfo=BEIJING)
    except ValueError:
        return None


def slash_stamp(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime(SLASH_STAMP)


def dash_stamp(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime(DASH_STAMP)


def parse_amount(text: str) -> Decimal | None:
    """A non-negative decimal amount in 万元, or None when malformed."""
    if not _AMOUNT.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def amount_text(amount: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros: Decimal("0.50") -> "0.5"."""
    text = format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _parse_date(text: str, pattern: re.Pattern[str], fmt: str) -> date | None:
    if not pattern.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, fmt).date()
    except ValueError:
        return None
