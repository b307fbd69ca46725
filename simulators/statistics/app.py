"""统计严重失信企业 (statistics list) simulator: the bureau uploads its whole list as an .xlsx in its
own template to a drop directory (docs/protocols.md §10)."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from simulators.clock import BEIJING
from simulators.lists.base import Record, Removal, malformed_date, missing_field
from simulators.lists.files import FileDropConfig, FileDropSimulator, create_file_app, iso_date, shown_in_snapshot
from simulators.statistics.fixtures import STATISTICS_ROWS

FIELDS = (
    "企业名称", "统一社会信用代码", "法定代表人", "企业地址", "统计严重失信行为", "处理处罚情况", "认定机关",
    "认定文书编号", "认定日期", "公示截止日期", "状态", "移出日期", "移出原因",
)  # fmt: skip
HEADERS = ("序号", *FIELDS)
SHEET = "统计严重失信企业名单"
LISTED, REMOVED = "公示中", "已移出"
EARLY_MIN_MONTHS = 12  # 35号令: repair after at least one year [R, lists.md §4]


class StatisticsDialect:
    name = "statistics"
    key_fields = ("统一社会信用代码", "认定文书编号")
    fields = FIELDS
    stamp_field = ""
    early_min_months = EARLY_MIN_MONTHS
    prefix = "TJJ_YZSXQY"
    extension = "xlsx"
    supports_wrong_encoding = False
    expiry_reason = "公示期满"

    def seed(self) -> list[Record]:
        return [dict(row) for row in STATISTICS_ROWS]

    def problem(self, record: Any) -> tuple[str, str] | None:
        if found := missing_field(
            record, ("企业名称", "统一社会信用代码", "认定机关", "认定文书编号", "认定日期", "公示截止日期", "状态")
        ):
            return found
        if found := malformed_date(
            record, ("认定日期", "公示截止日期", "移出日期"), iso_date, "yyyy-MM-dd in the register"
        ):
            return found
        if record["状态"] not in (LISTED, REMOVED):
            return "状态", "状态 must be 公示中 or 已移出"
        if record["状态"] == REMOVED and not record.get("移出日期"):
            return "移出日期", "a removed row needs 移出日期"
        return None

    def is_published(self, record: Any) -> bool:
        return bool(record.get("状态") == LISTED)

    def listed_on(self, record: Any) -> date:
        listed = iso_date(record["认定日期"])
        assert listed is not None
        return listed

    def expires_on(self, record: Any) -> date:
        end = iso_date(record["公示截止日期"])
        assert end is not None
        return end + timedelta(days=1)

    def removed(self, record: Record, removal: Removal) -> Record | None:
        record.update(状态=REMOVED, 移出日期=removal.on.isoformat(), 移出原因=removal.reason)
        return record

    def restored(self, record: Record) -> Record:
        record.update(状态=LISTED, 移出日期="", 移出原因="")
        return record

    def stamp(self, now: datetime) -> str:
        return ""

    def in_snapshot(self, record: Record, today: date) -> bool:
        return shown_in_snapshot(self.is_published(record), record.get("移出日期"), today)

    def render(self, rows: list[Record], now: datetime, *, wrong_encoding: bool) -> bytes:
        """The bureau's template: a merged title row, a header row, then one row per register row."""
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = SHEET
        as_of = now.astimezone(BEIJING).date()
        sheet.append([f"甘肃省统计严重失信企业名单（截至{as_of.year}年{as_of.month}月{as_of.day}日）"])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
        sheet.cell(row=1, column=1).font = Font(bold=True, size=14)
        sheet.cell(row=1, column=1).alignment = Alignment(horizontal="center")
        sheet.append(list(HEADERS))
        for number, row in enumerate(rows, start=1):
            listed = iso_date(row["认定日期"])
            end = iso_date(row["公示截止日期"])
            removed = iso_date(row.get("移出日期") or "")
            values: list[Any] = [number]
            for name in FIELDS:
                if name == "认定日期":
                    values.append(listed)  # a real date cell
                elif name == "公示截止日期":
                    values.append(f"{end.year}年{end.month}月{end.day}日" if end else "")
                elif name == "移出日期":
                    values.append(removed.strftime("%Y.%m.%d") if removed else "")
                else:
                    values.append(row.get(name) or "")
            sheet.append(values)
            sheet.cell(row=sheet.max_row, column=HEADERS.index("认定日期") + 1).number_format = "yyyy-mm-dd"
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()


StatisticsConfig = FileDropConfig

SIMULATOR = web.AppKey("statistics", FileDropSimulator)


def create_app(config: StatisticsConfig | None = None) -> web.Application:
    """The admin application of a fresh statistics-bureau export job (seed register loaded)."""
    return create_file_app(StatisticsDialect(), config or StatisticsConfig(), SIMULATOR)


__all__ = ["SIMULATOR", "StatisticsConfig", "create_app"]
