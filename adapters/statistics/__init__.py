"""省统计局 统计严重失信企业: `.xlsx` snapshots in the bureau's template, dropped in a directory
(docs/protocols.md §10). The transport is adapters/filedrop.py; this module reads the template.

Template: one sheet `统计严重失信企业名单`, a merged title row, a header row starting `序号`, then one
row per register row. Read with openpyxl in read-only mode (the sheet is streamed, memory stays
flat). `序号` is the sheet's line number, not data: it is left out, or every row after an inserted
one would read as changed. Cells come as text: a date cell (`认定日期`) as `yyyy-MM-dd`, the text
dates (`公示截止日期` `yyyy年M月d日`, `移出日期` `yyyy.MM.dd`) as typed; the mapping reads them.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from xml.etree.ElementTree import ParseError

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from adapters.filedrop import FileDropAdapter, Incomplete, Refused, key_fields_of, row_dict
from gateway.filedrop import NOT_THE_TEMPLATE

SHEET = "统计严重失信企业名单"
LINE_NUMBER = "序号"
HEADER_SEARCH_ROWS = 5  # the header row is the second; a title row or two more is tolerated


class StatisticsAdapter(FileDropAdapter):
    system = "statistics"
    file_prefix: ClassVar[str] = "TJJ_YZSXQY"
    file_extension: ClassVar[str] = "xlsx"

    def read_rows(self, path: Path) -> Iterator[dict[str, str]]:
        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, EOFError) as exc:
            # A half-written upload has no zip central directory: it does not open at all.
            raise Incomplete(f"not a complete .xlsx (zip): {exc}") from exc
        except (KeyError, InvalidFileException) as exc:
            raise Refused(f"a zip, but not an .xlsx workbook: {exc}", problem=NOT_THE_TEMPLATE) from exc
        try:
            if SHEET not in book.sheetnames:
                raise Refused(f"no sheet {SHEET!r} (sheets: {', '.join(book.sheetnames)})", problem=NOT_THE_TEMPLATE)
            rows = book[SHEET].iter_rows(values_only=True)
            headers: list[str] | None = None
            try:
                for number, values in enumerate(rows, start=1):
                    if headers is None:
                        cells = [str(value).strip() if value is not None else "" for value in values]
                        if not key_fields_of(cells, self.key_fields):
                            headers = cells
                        elif number >= HEADER_SEARCH_ROWS:
                            raise Refused(
                                f"no header row with {', '.join(self.key_fields)} in the first {HEADER_SEARCH_ROWS}"
                                f" rows of {SHEET!r}",
                                problem=NOT_THE_TEMPLATE,
                            )
                        continue
                    if all(value is None or str(value).strip() == "" for value in values):
                        continue  # blank lines a clerk left at the end
                    yield row_dict(headers, values, skip=frozenset({LINE_NUMBER}))
            except (zipfile.BadZipFile, ParseError, EOFError, OSError) as exc:
                raise Incomplete(f"the sheet does not read to its end: {exc}") from exc
            if headers is None:
                raise Refused(f"sheet {SHEET!r} has no header row", problem=NOT_THE_TEMPLATE)
        finally:
            book.close()


__all__ = ["StatisticsAdapter"]
