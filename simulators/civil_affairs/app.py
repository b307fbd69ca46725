"""社会组织严重违法失信名单 (civil-affairs list) simulator: the department uploads its lists as one CSV
in GB18030 to a drop directory (docs/protocols.md §11)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from aiohttp import web

from simulators.civil_affairs.fixtures import CIVIL_AFFAIRS_ROWS
from simulators.lists.base import Record, Removal, add_years, malformed_date, missing_field
from simulators.lists.files import FileDropConfig, FileDropSimulator, create_file_app, iso_date, shown_in_snapshot

FIELDS = (
    "名单类型", "社会组织名称", "统一社会信用代码", "登记管理机关", "列入事由", "列入日期", "列入决定书文号",
    "作出决定机关", "状态", "移出日期", "移出事由", "移出决定机关",
)  # fmt: skip
REQUIRED = ("名单类型", "社会组织名称", "统一社会信用代码", "列入日期", "列入决定书文号", "作出决定机关", "状态")
LIST_KINDS = ("活动异常名录", "严重违法失信名单")
SERIOUS = "严重违法失信名单"
LISTED, REMOVED = "在列", "已移出"
SERIOUS_YEARS = 2  # removed after two years without a new violation [R, lists.md §5]
ENCODING = "gb18030"


def civil_date(text: str) -> str:
    day = iso_date(text)
    return f"{day.year}年{day.month}月{day.day}日" if day else ""


class CivilAffairsDialect:
    name = "civil_affairs"
    key_fields = ("统一社会信用代码", "列入决定书文号")
    fields = FIELDS
    stamp_field = ""
    early_min_months = 0  # some causes are removable on cure, at any time
    prefix = "MZT_SHZZ_SXMD"
    extension = "csv"
    supports_wrong_encoding = True
    expiry_reason = "届满2年未再违法"

    def seed(self) -> list[Record]:
        return [dict(row) for row in CIVIL_AFFAIRS_ROWS]

    def problem(self, record: Any) -> tuple[str, str] | None:
        if found := missing_field(record, REQUIRED):
            return found
        if record["名单类型"] not in LIST_KINDS:
            return "名单类型", "名单类型 must be 活动异常名录 or 严重违法失信名单"
        if record["状态"] not in (LISTED, REMOVED):
            return "状态", "状态 must be 在列 or 已移出"
        if found := malformed_date(record, ("列入日期", "移出日期"), iso_date, "yyyy-MM-dd in the register"):
            return found
        return None

    def is_published(self, record: Any) -> bool:
        return bool(record.get("状态") == LISTED)

    def listed_on(self, record: Any) -> date:
        listed = iso_date(record["列入日期"])
        assert listed is not None
        return listed

    def expires_on(self, record: Any) -> date:
        if record.get("名单类型") != SERIOUS:
            return date.max  # the 活动异常名录 ends on application only (or escalates: a new record)
        return add_years(self.listed_on(record), SERIOUS_YEARS)

    def removed(self, record: Record, removal: Removal) -> Record | None:
        record.update(状态=REMOVED, 移出日期=removal.on.isoformat(), 移出事由=removal.reason)
        record["移出决定机关"] = record["作出决定机关"]
        return record

    def restored(self, record: Record) -> Record:
        record.update(状态=LISTED, 移出日期="", 移出事由="", 移出决定机关="")
        return record

    def stamp(self, now: datetime) -> str:
        return ""

    def in_snapshot(self, record: Record, today: date) -> bool:
        return shown_in_snapshot(self.is_published(record), record.get("移出日期"), today)

    def render(self, rows: list[Record], now: datetime, *, wrong_encoding: bool) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")  # the department's export tool writes CRLF
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow(
                civil_date(row.get(name) or "") if name in ("列入日期", "移出日期") else row.get(name) or ""
                for name in FIELDS
            )
        return buffer.getvalue().encode("utf-8" if wrong_encoding else ENCODING)


CivilAffairsConfig = FileDropConfig

SIMULATOR = web.AppKey("civil_affairs", FileDropSimulator)


def create_app(config: CivilAffairsConfig | None = None) -> web.Application:
    """The admin application of a fresh civil-affairs export job (seed register loaded)."""
    return create_file_app(CivilAffairsDialect(), config or CivilAffairsConfig(), SIMULATOR)


__all__ = ["SIMULATOR", "CivilAffairsConfig", "create_app"]
