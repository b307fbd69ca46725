"""Jinja2 environments for the texts the gateway writes to people (the 信用修复告知书, reminder SMS),
and the small formatting helpers they share.

Templates live in `gateway/templates/` (package data, `*.j2`). Two environments, chosen by output
and never by file name: HTML autoescapes every value (an authority or subject name is data, not
markup); plain text does not. Both fail on an undefined variable rather than print nothing, and
every slot a sentence needs goes through the `required` filter, which fails on an empty value too
(StrictUndefined does not: an empty string is defined), so no text reads `二、，且…`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from gateway.domain.rules import Period
from gateway.domain.rules.schema import Channel

_DIGITS = "零一二三四五六七八九"


def cn_date(day: date | None) -> str:
    """2026年3月1日 (as Chinese official documents write dates); empty for None."""
    return f"{day.year}年{day.month}月{day.day}日" if day is not None else ""


def cn_number(n: int) -> str:
    """Chinese numerals for counts up to 99: 3 → 三, 10 → 十, 18 → 十八, 24 → 二十四."""
    if not 0 <= n <= 99:
        return str(n)
    if n < 10:
        return _DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")


def cn_period(period: Period) -> str:
    """三个月, 一年, 十八个月 — the wording of the seed's 附件2 (Period.label writes 3个月, 1年)."""
    if period.months and period.months % 12 == 0:
        return f"{cn_number(period.months // 12)}年"
    return f"{cn_number(period.months)}个月"


def site_label(channel: Channel) -> str:
    """A website as 附件2 names one — “信用中国（甘肃）”网站（credit.gansu.gov.cn） — other channels by name."""
    if channel.url is None:
        return channel.name
    host = channel.url.split("://", 1)[-1].rstrip("/")
    return f"“{channel.name}”网站（{host}）"


def cn_or(items: Sequence[str]) -> str:
    """a / a或b / a、b或c."""
    if len(items) <= 1:
        return "".join(items)
    return "、".join(items[:-1]) + "或" + items[-1]


class EmptySlot(ValueError):
    """A template slot that a sentence needs was empty: a bug in what fills it, never printed."""


def required(value: object, slot: str) -> object:
    """`{{ x | required("x") }}`: the value, or EmptySlot when it is None, blank or an empty sequence."""
    if value is None or (isinstance(value, str | tuple | list) and not "".join(map(str, value)).strip()):
        raise EmptySlot(f"template slot {slot!r} is empty")
    return value


def _environment(*, autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("gateway", "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,  # a block tag's own line leaves no empty line behind (no lstrip: 　　 indents stay)
        keep_trailing_newline=True,
    )
    env.filters["cn_date"] = cn_date
    env.filters["cn_period"] = cn_period
    env.filters["required"] = required
    return env


@cache
def text_environment() -> Environment:
    return _environment(autoescape=False)


@cache
def html_environment() -> Environment:
    return _environment(autoescape=True)
