"""省民政厅 社会组织严重违法失信名单: GB18030 CSV snapshots dropped in a directory
(docs/protocols.md §11). The transport is adapters/filedrop.py; this module reads the CSV.

GB18030 is the agreed encoding (it has 𠮷 and 䶮, which GBK lacks). A file that is valid UTF-8
(and not plain ASCII), or starts with a UTF-8 byte-order mark, was written in the wrong encoding:
it is refused with that reason, never decoded as GB18030 into mojibake. A file whose last line
has no CRLF was cut short (the department's tool ends every line with CRLF) and is held back.
GB18030's multi-byte sequences never contain the bytes CR or LF, so both checks work on bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from adapters.filedrop import FileDropAdapter, Incomplete, Refused, key_fields_of
from gateway.filedrop import NOT_THE_TEMPLATE, WRONG_ENCODING

ENCODING = "gb18030"
LINE_END = b"\r\n"
UTF8_BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 1 << 16


def looks_like_utf8(head: bytes) -> bool:
    """Non-ASCII bytes that decode as UTF-8: Chinese text in GB18030 practically never does (its
    lead bytes are not followed by UTF-8 continuation bytes). A cut multi-byte character at the
    end of the sample is allowed."""
    if head.isascii():
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


class CivilAffairsAdapter(FileDropAdapter):
    system = "civil_affairs"
    file_prefix: ClassVar[str] = "MZT_SHZZ_SXMD"
    file_extension: ClassVar[str] = "csv"

    def read_rows(self, path: Path) -> Iterator[dict[str, str]]:
        with open(path, "rb") as raw:
            head = raw.read(SNIFF_BYTES)
            if not head:
                raise Incomplete("empty file")
            raw.seek(-min(len(LINE_END), raw.seek(0, io.SEEK_END)), io.SEEK_END)
            if raw.read() != LINE_END:
                raise Incomplete("the last line has no CRLF: the file was cut short")
        if head.startswith(UTF8_BOM) or looks_like_utf8(head):
            raise Refused(f"the file is UTF-8, not {ENCODING.upper()} as agreed", problem=WRONG_ENCODING)
        with open(path, encoding=ENCODING, errors="strict", newline="") as text:
            reader = csv.reader(text)
            try:
                headers = [name.strip() for name in next(reader)]
                lacking = key_fields_of(headers, self.key_fields)
                if lacking:
                    raise Refused(f"the header row lacks {', '.join(lacking)}", problem=NOT_THE_TEMPLATE)
                for values in reader:
                    if not any(value.strip() for value in values):
                        continue
                    if len(values) != len(headers):
                        raise Refused(
                            f"line {reader.line_num} has {len(values)} fields, the header {len(headers)}",
                            problem=NOT_THE_TEMPLATE,
                        )
                    yield dict(zip(headers, values, strict=True))
            except UnicodeDecodeError as exc:
                raise Refused(
                    f"not {ENCODING.upper()} (byte {exc.start} of a chunk): {exc.reason}", problem=WRONG_ENCODING
                ) from exc
            except csv.Error as exc:
                raise Refused(f"not a CSV file: {exc}", problem=NOT_THE_TEMPLATE) from exc
            except StopIteration:
                raise Refused("no header row", problem=NOT_THE_TEMPLATE) from None


__all__ = ["CivilAffairsAdapter", "looks_like_utf8"]
