"""The rows 信用中国（甘肃） holds, keyed by business key, with SJC and ID set by the platform."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from simulators.creditchina_gansu.columns import STATUS_COLUMNS, STATUS_DEFAULTS, RowKind
from simulators.formats import SLASH_DATE, slash_stamp

Key = tuple[str, str, str]  # (ROWTYPE, document number, authority code)


@dataclass
class StoredRow:
    id: int
    kind: RowKind
    values: dict[str, str]  # the kind's columns and the status columns
    sjc: datetime

    @property
    def key(self) -> Key:
        return key_of(self.kind, self.values)

    @property
    def published(self) -> bool:
        return self.values["CF_ZT"] == "0" and self.values["GSZT"] == "1"

    def render(self) -> dict[str, str]:
        """The native row as the pull returns it: ROWTYPE, ID, every column of its generation."""
        row = {"ROWTYPE": self.kind.rowtype, "ID": str(self.id)}
        row.update(self.values)
        row["SJC"] = slash_stamp(self.sjc)
        return row


def key_of(kind: RowKind, row: Mapping[str, str]) -> Key:
    return (kind.rowtype, row.get(kind.key[0], ""), row.get(kind.key[1], ""))


def key_label(key: Key) -> str:
    """Business key as shown in the stats: `CF:<文号>|<机关代码>`."""
    return f"{key[0]}:{key[1]}|{key[2]}"


def normalise(kind: RowKind, row: Mapping[str, str]) -> dict[str, str]:
    """Every column of the kind (absent = ""), status columns defaulted: the push is the full row."""
    values = {column: row.get(column, "") for column in kind.columns}
    for column in STATUS_COLUMNS:
        values[column] = row.get(column, "") or STATUS_DEFAULTS[column]
    return values


class RowStore:
    """The rows by business key, and in pull order (SJC, then ID), as the platform's index on SJC
    would keep them: an incremental pull reads from its `since` on instead of sorting every row."""

    def __init__(self) -> None:
        self._rows: dict[Key, StoredRow] = {}
        self._next_id = 1
        self._order: list[tuple[datetime, int, Key]] = []  # sorted; one entry per row
        self._by_id: dict[int, Key] = {}  # in ID order (IDs only grow, rows are never deleted)

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: Key) -> StoredRow | None:
        return self._rows.get(key)

    def all(self) -> list[StoredRow]:
        return [self._rows[key] for _, _, key in self._order]

    def changed_since(self, since: datetime) -> list[StoredRow]:
        start = bisect.bisect_left(self._order, (since,))
        return [self._rows[key] for _, _, key in self._order[start:]]

    def rows_after_id(self, rowtype: str, after: int, limit: int) -> tuple[list[StoredRow], bool]:
        """Up to `limit` rows of `rowtype` with an ID above `after`, in ID order, and whether more
        follow (queryRows: a listing keyed by ID stays exact while rows change under it)."""
        ids = list(self._by_id)
        page: list[StoredRow] = []
        for position in range(bisect.bisect_right(ids, after), len(ids)):
            row = self._rows[self._by_id[ids[position]]]
            if row.kind.rowtype != rowtype:
                continue
            if len(page) == limit:
                return page, True
            page.append(row)
        return page, False

    def _stamp(self, key: Key, stored: StoredRow, sjc: datetime) -> None:
        """Move a row to its new place in pull order (a change stamps "now": usually the end)."""
        del self._order[bisect.bisect_left(self._order, (stored.sjc, stored.id))]  # ids are unique
        stored.sjc = sjc
        bisect.insort(self._order, (sjc, stored.id, key))

    def put(self, kind: RowKind, row: Mapping[str, str], now: datetime) -> tuple[StoredRow, bool]:
        """Upsert a pushed or loaded row; SJC moves only when a value changed.

        A legacy row keeps its generation: a push onto its key updates only the status columns,
        because the platform holds its content in the v1 columns.
        """
        stamp = now.replace(microsecond=0)
        key = key_of(kind, row)
        stored = self._rows.get(key)
        if stored is None:
            stored = StoredRow(id=self._next_id, kind=kind, values=normalise(kind, row), sjc=stamp)
            self._next_id += 1
            self._rows[key] = stored
            self._by_id[stored.id] = key
            bisect.insort(self._order, (stamp, stored.id, key))
            return stored, True
        values = dict(stored.values)
        if stored.kind.legacy and not kind.legacy:
            values.update({c: v for c, v in normalise(kind, row).items() if c in STATUS_COLUMNS})
        else:
            # A push merges: columns present replace the stored ones (an empty element clears one),
            # columns left out keep their values, so a status flip never wipes the content.
            values.update({c: v for c, v in row.items() if c in stored.kind.columns})
            values.update({c: row.get(c, "") or STATUS_DEFAULTS[c] for c in STATUS_COLUMNS if c in row})
        if values == stored.values:
            return stored, False
        stored.values = values
        self._stamp(key, stored, stamp)
        return stored, True

    def set_status(self, key: Key, status: Mapping[str, str], now: datetime) -> tuple[StoredRow, bool]:
        """An operator's status change (repair / restore); KeyError when the key is unknown."""
        stored = self._rows[key]
        values = dict(stored.values)
        values.update(status)
        if values == stored.values:
            return stored, False
        stored.values = values
        self._stamp(key, stored, now.replace(microsecond=0))
        return stored, True

    def load_seed(self, rows: Iterable[tuple[RowKind, Mapping[str, str], datetime]]) -> None:
        self._rows.clear()
        self._by_id.clear()
        self._order.clear()
        self._next_id = 1
        for kind, row, sjc in rows:
            self.put(kind, row, sjc)


def stop_status(reason: str, today: date) -> dict[str, str]:
    return {"GSZT": "0", "ZZYY": reason, "ZZRQ": today.strftime(SLASH_DATE)}


RESTORED_STATUS = {"CF_ZT": "0", "GSZT": "1", "ZZYY": "", "ZZRQ": ""}
