"""What the six list authorities' simulators share (docs/protocols.md §6–§11).

Each authority keeps its list in its own native records (its own field names, codes and dates); a
`ListDialect` says how that list is keyed, validated, published, removed, restored and when it
expires. `ListBook` is the authority's in-memory register of native rows plus a change log and the
per-record write counts; the HTTP and file-exchange simulators serve from it (the 前置库 simulator
keeps its rows in MariaDB instead). `list_admin_routes` is the admin API every list simulator has.
"""

from __future__ import annotations

import calendar
import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from aiohttp import web

from simulators.admin import (
    AdminError,
    Stats,
    admin_error_middleware,
    json_response,
    read_json_object,
    wants_published_only,
)
from simulators.clock import Clock

Record = dict[str, Any]
Key = tuple[str, ...]
Handler = Callable[[web.Request], Any]

# Kinds of removal an operator of the authority can decide (POST /admin/remove).
EARLY, EXPIRY = "early", "expiry"
REMOVAL_KINDS = (EARLY, EXPIRY)


@dataclass(frozen=True)
class Removal:
    kind: str  # EARLY | EXPIRY
    reason: str  # "" when the authority gives none
    on: date


@dataclass(frozen=True)
class Change:
    """One applied change, in the order the authority made them."""

    seq: int
    action: str  # "add" | "update" | "remove" | "restore" | "delete"
    at: datetime
    record: Record
    removal: Removal | None = None  # with "delete": why and when the authority deleted the row


class ListDialect(Protocol):
    """One authority's native list: everything the shared register needs to know about it."""

    # Read-only properties, so that plain class attributes of any tuple length satisfy them.
    @property
    def name(self) -> str: ...

    @property
    def key_fields(self) -> tuple[str, ...]: ...

    @property
    def fields(self) -> tuple[str, ...]: ...

    @property
    def stamp_field(self) -> str:
        """The authority's own update-time field ("" when it has none)."""
        ...

    @property
    def early_min_months(self) -> int:
        """Minimum months on the list before an early removal may be decided (0 = any time)."""
        ...

    def seed(self) -> list[Record]: ...

    def problem(self, record: Mapping[str, Any]) -> tuple[str, str] | None:
        """(field, message) when a loaded native record is malformed for this authority."""
        ...

    def is_published(self, record: Mapping[str, Any]) -> bool: ...

    def listed_on(self, record: Mapping[str, Any]) -> date: ...

    def expires_on(self, record: Mapping[str, Any]) -> date: ...

    def removed(self, record: Record, removal: Removal) -> Record | None:
        """The record after a removal, or None when the authority deletes it outright."""
        ...

    def restored(self, record: Record) -> Record:
        """The record listed again (an early removal revoked)."""
        ...

    def stamp(self, now: datetime) -> str:
        """`now` in the format of `stamp_field`."""
        ...


def missing_field(record: Mapping[str, Any], names: Iterable[str]) -> tuple[str, str] | None:
    """A dialect's `problem` for the first of `names` the record lacks (absent, not text, empty)."""
    for name in names:
        if not isinstance(record.get(name), str) or not record[name]:
            return name, f"{name} is required"
    return None


def malformed_date(
    record: Mapping[str, Any], names: Iterable[str], parse: Callable[[str], object | None], form: str
) -> tuple[str, str] | None:
    """A dialect's `problem` for the first of `names` present but not a date in its `form`."""
    for name in names:
        if record.get(name) and parse(record[name]) is None:
            return name, f"{name} must be {form}"
    return None


def add_years(day: date, years: int) -> date:
    """The same calendar day `years` later (29 Feb -> 28 Feb)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def stats_json(stats: Stats) -> dict[str, Any]:
    """The counters of `GET /admin/stats` for a simulator without HTTP transport faults."""
    return {
        "requests": {op: dict(outcomes) for op, outcomes in sorted(stats.requests.items())},
        "writes": dict(sorted(stats.writes.items())),
        "flags": dict(sorted(stats.flags.items())),
    }


def key_label(key: Key) -> str:
    return "|".join(key)


class ListBook:
    """An authority's register: rows in its own order, the last row of a key is the current one.

    A key normally has one row; a department's spreadsheet may carry a second, corrected row for the
    same key (`append=True`), which the file exchange then shows as both rows.
    """

    def __init__(self, dialect: ListDialect, clock: Clock, stats: Stats) -> None:
        self.dialect = dialect
        self.clock = clock
        self.stats = stats
        self.rows: list[Record] = []
        self.changes: list[Change] = []

    def key_of(self, record: Mapping[str, Any]) -> Key:
        return tuple(str(record.get(name) or "") for name in self.dialect.key_fields)

    def reset(self) -> None:
        self.rows.clear()
        self.changes.clear()
        for record in self.dialect.seed():
            self._store(record, append=self.get(self.key_of(record)) is not None, stamp=False)

    def get(self, key: Key) -> Record | None:
        for row in reversed(self.rows):
            if self.key_of(row) == key:
                return copy.deepcopy(row)
        return None

    def current(self, *, published_only: bool = False) -> list[Record]:
        """The current row of every key, in first-listed order."""
        latest: dict[Key, Record] = {}
        for row in self.rows:
            latest[self.key_of(row)] = row
        return [copy.deepcopy(row) for row in latest.values() if not published_only or self.dialect.is_published(row)]

    def load(self, records: Iterable[Any], *, append: bool = False) -> tuple[int, int]:
        """Validate every record first (all or nothing), then upsert; (loaded, changed)."""
        prepared: list[Record] = []
        for index, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                raise AdminError(400, "invalid_record", f"record {index} must be an object", "records")
            for name in record:
                if name not in self.dialect.fields:
                    raise AdminError(400, "invalid_record", f"record {index}: unknown field {name}", name)
            problem = self.dialect.problem(record)
            if problem is not None:
                raise AdminError(400, "invalid_record", f"record {index}: {problem[1]}", problem[0])
            prepared.append(dict(record))
        changed = sum(self._store(record, append=append, stamp=True) for record in prepared)
        return len(prepared), changed

    def _store(self, record: Record, *, append: bool, stamp: bool) -> bool:
        key = self.key_of(record)
        full = {name: record.get(name, "") for name in self.dialect.fields}
        existing_index = self._index(key)
        if existing_index is not None and not append:
            old = self.rows[existing_index]
            if _content(old, self.dialect) == _content(full, self.dialect):
                return False
            new = self._stamped(full) if stamp else full
            self.rows[existing_index] = new
            self._log("update", new)
            return True
        new = self._stamped(full) if stamp else full
        self.rows.append(new)
        self._log("add" if existing_index is None else "update", new)
        return True

    def _index(self, key: Key) -> int | None:
        for index in range(len(self.rows) - 1, -1, -1):
            if self.key_of(self.rows[index]) == key:
                return index
        return None

    def existing(self, key: Key) -> int:
        index = self._index(key)
        if index is None:
            field = self.dialect.key_fields[0]
            raise AdminError(404, "not_found", f"no {self.dialect.name} record with this key", field)
        return index

    def remove(self, key: Key, removal: Removal) -> Record | None:
        index = self.existing(key)
        record = self.rows[index]
        if not self.dialect.is_published(record):
            raise AdminError(409, "not_listed", "the record is not on the list", self.dialect.key_fields[0])
        if removal.kind == EARLY and self.dialect.early_min_months:
            earliest = add_months(self.dialect.listed_on(record), self.dialect.early_min_months)
            if removal.on < earliest:
                message = (
                    f"early removal needs {self.dialect.early_min_months} months on the list "
                    f"(possible from {earliest.isoformat()})"
                )
                raise AdminError(409, "too_early", message, "date")
        after = self.dialect.removed(copy.deepcopy(record), removal)
        if after is None:
            del self.rows[index]
            self._log("delete", record, removal)
            return None
        after = self._stamped(after)
        self.rows[index] = after
        self._log("remove", after)
        return copy.deepcopy(after)

    def restore(self, key: Key) -> Record:
        index = self.existing(key)
        record = self.rows[index]
        if self.dialect.is_published(record):
            raise AdminError(409, "listed", "the record is on the list already", self.dialect.key_fields[0])
        after = self._stamped(self.dialect.restored(copy.deepcopy(record)))
        self.rows[index] = after
        self._log("restore", after)
        return copy.deepcopy(after)

    def expire(self, today: date, reason: str) -> list[Key]:
        """Apply the expiry removal to every listed record whose period has ended by `today`."""
        due = [self.key_of(row) for row in self.current(published_only=True) if self.dialect.expires_on(row) <= today]
        for key in due:
            self.remove(key, Removal(EXPIRY, reason, today))
        return due

    def _stamped(self, record: Record) -> Record:
        if self.dialect.stamp_field:
            record[self.dialect.stamp_field] = self.dialect.stamp(self.clock.now())
        return record

    def _log(self, action: str, record: Record, removal: Removal | None = None) -> None:
        seq = len(self.changes) + 1
        self.changes.append(Change(seq, action, self.clock.now(), copy.deepcopy(record), removal))
        self.stats.write(key_label(self.key_of(record)))


def _content(record: Mapping[str, Any], dialect: ListDialect) -> dict[str, Any]:
    """A record without its update time (a rewrite of identical content changes nothing)."""
    return {name: value for name, value in record.items() if name != dialect.stamp_field}


class ListAuthority(Protocol):
    """What the shared admin routes need from a list simulator."""

    book: ListBook
    stats: Stats
    expiry_reason: str

    def reset(self) -> None: ...

    def faults_json(self) -> dict[str, Any]: ...


def list_admin_routes(sim: ListAuthority, *, allow_append: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """(post, get) handlers of the admin API every list simulator shares (docs/protocols.md §6)."""
    book = sim.book

    async def load(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        records = body.get("records")
        if not isinstance(records, list):
            raise AdminError(400, "invalid_json", "records must be a list", "records")
        append = body.get("append", False)
        if not isinstance(append, bool) or (append and not allow_append):
            raise AdminError(400, "invalid_value", "append is only for the file-exchange lists", "append")
        loaded, changed = book.load(records, append=append)
        return json_response({"loaded": loaded, "changed": changed})

    async def records(request: web.Request) -> web.Response:
        return json_response({"records": book.current(published_only=wants_published_only(request))})

    async def remove(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        key = _key_from(body, book.dialect.key_fields)
        kind = body.get("kind", EARLY)
        if kind not in REMOVAL_KINDS:
            raise AdminError(400, "invalid_value", "kind must be early or expiry", "kind")
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            raise AdminError(400, "invalid_value", "reason must be a string", "reason")
        on = _date_field(body, "date") or sim.book.clock.now().date()
        after = book.remove(key, Removal(kind, reason, on))
        return json_response({"changed": True, "deleted": after is None, "record": after})

    async def restore(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        record = book.restore(_key_from(body, book.dialect.key_fields))
        return json_response({"changed": True, "record": record})

    async def expire(_request: web.Request) -> web.Response:
        due = book.expire(book.clock.now().date(), sim.expiry_reason)
        return json_response({"expired": len(due), "keys": [list(key) for key in due]})

    async def stats(_request: web.Request) -> web.Response:
        return json_response(sim.faults_json())

    async def reset(_request: web.Request) -> web.Response:
        sim.reset()
        return json_response({"reset": True, "records": len(book.current())})

    post = {
        "/admin/load": load,
        "/admin/remove": remove,
        "/admin/restore": restore,
        "/admin/expire": expire,
        "/admin/reset": reset,
    }
    get = {"/admin/records": records, "/admin/stats": stats}
    return post, get


def admin_only_app(
    key: web.AppKey[Any],
    simulator: Any,
    *,
    post: Mapping[str, Handler],
    get: Mapping[str, Handler],
    delete: Mapping[str, Handler],
) -> web.Application:
    """An application that serves only an admin API (the 前置库 and file-drop systems, whose native
    exchange is not HTTP): admin error shape, no transport faults."""
    app = web.Application(middlewares=[admin_error_middleware])
    app[key] = simulator
    for method, routes in (("POST", post), ("GET", get), ("DELETE", delete)):
        for path, handler in routes.items():
            app.router.add_route(method, path, handler)
    return app


def _key_from(body: Mapping[str, Any], key_fields: tuple[str, ...]) -> Key:
    values = []
    for name in key_fields:
        value = body.get(name)
        if not isinstance(value, str) or not value:
            raise AdminError(400, "missing_field", f"{name} is required (non-empty string)", name)
        values.append(value)
    return tuple(values)


def _date_field(body: Mapping[str, Any], name: str) -> date | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise AdminError(400, "invalid_value", f"{name} must be yyyy-MM-dd", name) from exc
