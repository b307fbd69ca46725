"""省人社厅 前置库 adapter: the 拖欠农民工工资 list's operation table on MariaDB (docs/protocols.md §8).

The department inserts one row per operation (`CZBZ` i/u/d, write time `CZSJ`); the platform reads
the rows still unprocessed (`CLZT IS NULL`) and marks each one it has durably ingested: `CLZT '1'`
and `CLSJ`, or `'2'` with the reason in `CLXX` when the gateway refused the row (its quarantine).
The mark is the real "done": the feed is the pending rows, and the cursor only keeps a page from
repeating the rows of the page before when nobody marks them (docs/adr/0026):

- **forward**: pending rows after the high-water mark `(CZSJ, ID)` of what was handed out, in
  `(CZSJ, ID)` order;
- **sweep**: once forward is exhausted, pending rows at or behind the mark, in `ID` order from the
  sweep position: rows written late (`CZSJ` moved back), rows whose mark was lost, a failed row the
  department corrected (pending again, same `ID`). A sweep that ends starts a new lap from the
  first `ID` next time.

The cursor `v1:<CZSJ>:<ID>:<lap>:<sweep ID>` only grows (compared as that tuple). Change keys are
`<ID>@<CZSJ>`, so a corrected row (same ID, new content and write time) is a new change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from adapters.frontdb import FrontDb, FrontDbAddress, FrontDbLimits, identifier
from gateway.contract import ChangePage, Ingested, ListingPage, NativeChange, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.beijing import BEIJING
from gateway.domain.retry import PermanentError

DEFAULT_TABLE = "QZK_RS_NMGGZ_SXMD"
# What the department writes (docs/protocols.md §8); CLZT/CLSJ/CLXX are the platform's own columns
# and never part of a change's row.
CONTENT = (
    "DXBH", "RDWSH", "DXLX", "DXMC", "TYSHXYDM", "ZJHM", "FDDBR", "SSDW", "LRSY", "SJJE", "RDBM", "RDBMDM",
    "LRRQ", "LRQX", "YCLX", "YCRQ", "YCYY",
)  # fmt: skip
COLUMNS = ("ID", *CONTENT, "CZBZ", "CZSJ")
SUCCESS, FAILURE = "1", "2"  # CLZT
MESSAGE_LIMIT = 1000  # CLXX VARCHAR(1000)
MAX_PAGE_SIZE = 1000
_FIRST = datetime(1900, 1, 1)


@dataclass(frozen=True, order=True)
class Cursor:
    """High-water mark of the rows handed out (`czsj`, `row_id`), and the sweep's `lap` and position."""

    czsj: datetime = _FIRST
    row_id: int = 0
    lap: int = 0
    swept: int = 0

    def encode(self) -> str:
        return f"v1:{self.czsj:%Y%m%d%H%M%S%f}:{self.row_id}:{self.lap}:{self.swept}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor:
        if not raw:
            return cls()
        try:
            version, czsj, row_id, lap, swept = raw.split(":")
            if version != "v1":
                raise ValueError(version)
            return cls(datetime.strptime(czsj, "%Y%m%d%H%M%S%f"), int(row_id), int(lap), int(swept))
        except ValueError as exc:
            raise PermanentError(f"hrss: not a cursor of this feed: {raw!r}", code="bad_cursor") from exc


def format_czsj(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def parse_czsj(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")


def native_row(row: dict[str, Any]) -> dict[str, Any]:
    """A table row as the change's row: dates ISO, `CZSJ` with milliseconds, amounts as text, NULL as None."""
    shown: dict[str, Any] = {}
    for name in COLUMNS:
        value = row.get(name)
        if isinstance(value, datetime):
            shown[name] = format_czsj(value)
        elif isinstance(value, date):
            shown[name] = value.isoformat()
        elif isinstance(value, Decimal):
            shown[name] = f"{value:.2f}"
        else:
            shown[name] = value
    return shown


class HrssAdapter(SystemAdapter):
    system: ClassVar[str] = "hrss"
    takes_writes: ClassVar[bool] = False  # the department decides; the marks are acknowledgements

    def __init__(
        self,
        *,
        address: FrontDbAddress,
        table: str = DEFAULT_TABLE,
        limits: FrontDbLimits | None = None,
        page_size: int = 200,
        kind: str = DEFAULT_TABLE,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = FrontDb(address, limits or FrontDbLimits())
        self.table = identifier(table, what="table")
        self.page_size = min(page_size, MAX_PAGE_SIZE)
        self.kind = kind
        self._now = clock or (lambda: datetime.now(UTC))  # CLSJ

    # --- the change feed ----------------------------------------------------------------------

    def _change(self, row: dict[str, Any]) -> NativeChange:
        czsj: datetime = row["CZSJ"]
        stamp = format_czsj(czsj)
        return NativeChange(
            change_key=f"{row['ID']}@{stamp}",
            source_version=f"{czsj:%Y%m%d%H%M%S%f}:{int(row['ID']):019d}",
            changed_at=czsj.replace(tzinfo=BEIJING).astimezone(UTC),
            kind=self.kind,
            native_id=str(row["DXBH"]),
            row=native_row(row),
        )

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        at = Cursor.decode(cursor)
        size = max(1, min(page_size, MAX_PAGE_SIZE))
        select = f"SELECT {', '.join(COLUMNS)} FROM {self.table}"
        forward = await self.db.fetch(
            "read pending rows",
            f"{select} WHERE CLZT IS NULL AND (CZSJ > %s OR (CZSJ = %s AND ID > %s)) ORDER BY CZSJ, ID LIMIT %s",
            (at.czsj, at.czsj, at.row_id, size),
        )
        if len(forward) == size:
            last = forward[-1]
            ahead = Cursor(last["CZSJ"], int(last["ID"]), at.lap, at.swept)
            return ChangePage(changes=[self._change(r) for r in forward], cursor=ahead.encode(), has_more=True)
        # Forward is exhausted: sweep what is still pending at or behind the mark (the mark of this
        # call's start, so the forward rows of this very page are not handed out twice).
        room = size - len(forward)
        behind = await self.db.fetch(
            "read pending rows behind the cursor",
            f"{select} WHERE CLZT IS NULL AND (CZSJ < %s OR (CZSJ = %s AND ID <= %s)) AND ID > %s ORDER BY ID LIMIT %s",
            (at.czsj, at.czsj, at.row_id, at.swept, room),
        )
        high = (forward[-1]["CZSJ"], int(forward[-1]["ID"])) if forward else (at.czsj, at.row_id)
        if len(behind) == room:
            moved = Cursor(high[0], high[1], at.lap, int(behind[-1]["ID"]))
            has_more = True
        else:
            # The lap is over: the next one starts afresh (the same cursor when it swept nothing).
            lap = at.lap + 1 if behind or at.swept else at.lap
            moved = Cursor(high[0], high[1], lap, 0)
            has_more = False
        # One page in write order, rows behind the mark first: an object's latest row comes last.
        rows = sorted((*forward, *behind), key=lambda row: (row["CZSJ"], row["ID"]))
        return ChangePage(changes=[self._change(r) for r in rows], cursor=moved.encode(), has_more=has_more)

    async def acknowledge(self, ingested: Sequence[Ingested]) -> None:
        """Mark each row processed, all in one transaction. A row is marked only as the version the
        gateway read (`ID` and `CZSJ`) and only while unmarked: a row the department corrected
        meanwhile stays pending, and marking again changes nothing."""
        if not ingested:
            return
        now = self._now().astimezone(BEIJING).replace(tzinfo=None, microsecond=0)
        marks: dict[tuple[str, str], list[tuple[int, datetime]]] = {}
        for item in ingested:
            row = item.change.row
            status, message = (FAILURE, item.problem) if item.problem is not None else (SUCCESS, item.outcome)
            key = (status, message[:MESSAGE_LIMIT])
            marks.setdefault(key, []).append((int(row["ID"]), parse_czsj(str(row["CZSJ"]))))
        statements = []
        for (status, message), rows in marks.items():
            for start in range(0, len(rows), 500):
                chunk = rows[start : start + 500]
                ids = ", ".join(["%s"] * len(chunk))
                pairs = ", ".join(["(%s, %s)"] * len(chunk))
                sql = (
                    f"UPDATE {self.table} SET CLZT = %s, CLSJ = %s, CLXX = %s"
                    f" WHERE ID IN ({ids}) AND CLZT IS NULL AND (ID, CZSJ) IN ({pairs})"
                )
                args = [status, now, message, *(i for i, _ in chunk), *(v for pair in chunk for v in pair)]
                statements.append((sql, args))
        await self.db.execute_many("mark rows processed", statements)

    # --- the full listing ---------------------------------------------------------------------

    async def list_all(self, kind: str, page_size: int) -> AsyncIterator[ListingPage]:
        """Every object the table still holds, in its state: its last row by (`CZSJ`, `ID`), removed
        ones included; keyset-paged by `DXBH`. Objects whose rows the department purged are gone."""
        if kind != self.kind:
            raise PermanentError(f"hrss lists {self.kind} only, not {kind!r}", code="unknown_kind")
        size = max(1, min(page_size, MAX_PAGE_SIZE))
        after = ""
        while True:
            keys = await self.db.fetch(
                "list objects",
                f"SELECT DISTINCT DXBH FROM {self.table} WHERE DXBH > %s ORDER BY DXBH LIMIT %s",
                (after, size),
            )
            if not keys:
                return
            wanted = [str(k["DXBH"]) for k in keys]
            marks = ", ".join(["%s"] * len(wanted))
            rows = await self.db.fetch(
                "list objects' last rows",
                f"SELECT {', '.join(COLUMNS)} FROM (SELECT {', '.join(COLUMNS)}, ROW_NUMBER() OVER"
                f" (PARTITION BY DXBH ORDER BY CZSJ DESC, ID DESC) AS RN FROM {self.table}"
                f" WHERE DXBH IN ({marks})) AS LATEST WHERE RN = 1 ORDER BY DXBH",
                wanted,
            )
            yield ListingPage(rows=[self._change(row) for row in rows])
            if len(keys) < size:
                return
            after = wanted[-1]

    # --- no writes ----------------------------------------------------------------------------

    async def write(self, write: NativeWrite) -> WriteResult:
        message = "省人社厅's 前置库 takes no record writes: the department decides its list"
        raise PermanentError(message, code="read_only")

    async def close(self) -> None:
        await self.db.close()


__all__ = ["DEFAULT_TABLE", "Cursor", "HrssAdapter"]
