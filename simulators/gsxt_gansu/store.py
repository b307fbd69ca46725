"""GSXT's tables and the change feed every change appends to."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulators.formats import dash_stamp
from simulators.gsxt_gansu.tables import TABLES, Key, is_published, key_of


@dataclass(frozen=True)
class ChangeItem:
    seq: int
    table: str
    update_time: str
    record: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "table": self.table,
            "updateTime": self.update_time,
            "record": dict(self.record),
        }


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode()


def decode_cursor(cursor: str) -> int | None:
    """The last seq a cursor has read ("" = nothing yet), or None for a cursor we never issued."""
    if cursor == "":
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, number = text.partition(":")
    if prefix != "seq" or not number.isascii() or not number.isdigit():
        return None
    return int(number)


class GsxtStore:
    def __init__(self) -> None:
        self._tables: dict[str, dict[Key, dict[str, Any]]] = {table: {} for table in TABLES}
        self.feed: list[ChangeItem] = []
        self._last: dict[tuple[str, Key], ChangeItem] = {}  # each record's latest feed item

    def __len__(self) -> int:
        return sum(len(records) for records in self._tables.values())

    def get(self, table: str, key: Key) -> dict[str, Any] | None:
        record = self._tables[table].get(key)
        return dict(record) if record is not None else None

    def records(self, table: str | None = None, *, published_only: bool = False) -> list[tuple[str, dict[str, Any]]]:
        tables = TABLES if table is None else (table,)
        return [
            (name, dict(record))
            for name in tables
            for record in self._tables[name].values()
            if not published_only or is_published(name, record)
        ]

    def put(self, table: str, record: Mapping[str, Any], now: datetime | None) -> bool:
        """Store a record; a change (anything but updateTime) appends one feed item.

        `now` stamps updateTime; None keeps the record's own (seed and operator loads).
        """
        key = key_of(table, record)
        new = dict(record)
        old = self._tables[table].get(key)
        if old is not None and _without_time(old) == _without_time(new):
            return False
        if now is not None:
            new["updateTime"] = dash_stamp(now)
        self._tables[table][key] = new
        item = ChangeItem(len(self.feed) + 1, table, str(new["updateTime"]), dict(new))
        self.feed.append(item)
        self._last[(table, key)] = item
        return True

    def listing_after(self, table: str, after: Key | None, limit: int) -> tuple[list[ChangeItem], bool]:
        """Up to `limit` records of `table` after business key `after`, in key order, each as its
        latest feed item, and whether more follow (/api/records: exact while records change)."""
        keys = sorted(key for key in self._tables[table] if after is None or key > after)
        return [self._last[(table, key)] for key in keys[:limit]], len(keys) > limit

    def items_after(self, seq: int, limit: int) -> list[ChangeItem]:
        return self.feed[seq : seq + limit]  # seq n sits at index n - 1

    @property
    def last_seq(self) -> int:
        return len(self.feed)

    def load_seed(self, tables: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        """Replace everything; the feed starts with one item per seed record, in updateTime order."""
        for records in self._tables.values():
            records.clear()
        self.feed.clear()
        self._last.clear()
        seed = [(str(r["updateTime"]), table, r) for table, records in tables.items() for r in records]
        for _time, table, record in sorted(seed, key=lambda entry: entry[0]):
            self.put(table, record, None)


def _without_time(record: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name != "updateTime"}


def encode_after(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), ensure_ascii=False).encode()).decode()


def decode_after(token: str) -> Key | None:
    """The business key a listing token stands after; None for a token we never issued."""
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) for part in value)):
        return None
    return (value[0], value[1])
