"""Connections per dialect, chosen once from the database URL (STYLE.md §1).

Both dialects are driven through their synchronous DB-API drivers on worker threads: SQLite has no
truly asynchronous driver (aiosqlite is a thread too), and one synchronous code path keeps every
named statement identical on both backends (docs/adr/0001-sync-drivers-on-threads.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")
Row = dict[str, Any]


@lru_cache(maxsize=1024)  # a batch writes the same few timestamps (its `now`) many times over
def to_db_ts(value: datetime) -> str:
    """Fixed-width ISO-8601 in UTC (microseconds always present), so text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_ts(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


class StoreError(Exception):
    """A storage failure, driver exceptions translated at the boundary (STYLE.md §4)."""


class TransientStoreError(StoreError):
    """The transaction lost a race (deadlock, serialization failure): running it again may work."""


class Deadlock(TransientStoreError):
    """The database broke a lock cycle by failing this transaction: it must be rolled back whole
    (its other locks are what the winner waits for), then run again."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or does not exist (at startup): nothing a retry will fix."""


class StoreUnavailable(StoreError):
    """The database stopped answering while running (connection lost or refused, no connection
    within the wait, SQLite file gone or its disk failing): the API answers 503, loops back off."""


class UniqueViolation(StoreError):
    def __init__(self, message: str, constraint: str | None = None) -> None:
        super().__init__(message)
        self.constraint = constraint


class Tx:
    """One open transaction: statements use `?` placeholders on every dialect."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self._conn = conn
        self.dialect = dialect
        # Records whose lock row this transaction holds (Repo.lock_records): what it may plan.
        self.locked_records: set[str] = set()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = self._cursor(sql, params)
        return int(cur.rowcount or 0)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many parameter rows: the driver loops in C (SQLite) or pipelines the
        rows in one round trip (psycopg 3), instead of one Python call and round trip per row."""
        if not rows:
            return
        try:
            self.dialect.executemany(self._conn, self.dialect.sql(sql), rows)
        except Exception as exc:
            raise self.dialect.translate(exc) from exc

    def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """New rows into `table` in bulk: PostgreSQL's COPY FROM STDIN (no statement per row, no
        parameter limit), SQLite's executemany of one INSERT (its C loop). For loads only: no ON
        CONFLICT, so an existing key fails the transaction."""
        if not rows:
            return
        try:
            self.dialect.copy_rows(self._conn, table, columns, rows)
        except Exception as exc:
            raise self.dialect.translate(exc) from exc

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cur = self._cursor(sql, params)
        row = cur.fetchone()
        return None if row is None else self.dialect.as_dict(cur, row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._cursor(sql, params)
        return [self.dialect.as_dict(cur, r) for r in cur.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else next(iter(row.values()))

    @contextmanager
    def savepoint(self, name: str = "item") -> Iterator[None]:
        """A nested unit: an error rolls back only what it wrote (group commit uses it)."""
        self._conn.execute(f"SAVEPOINT {name}")
        locked = set(self.locked_records)
        try:
            yield
        except BaseException:
            # Row locks taken after the savepoint are released with it (PostgreSQL docs, "Explicit
            # Locking"): forget them too.
            self.locked_records = locked
            self._conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self._conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self._conn.execute(f"RELEASE SAVEPOINT {name}")

    def _cursor(self, sql: str, params: Sequence[Any]) -> Any:
        try:
            return self._conn.execute(self.dialect.sql(sql), params)
        except Exception as exc:
            raise self.dialect.translate(exc) from exc


class Dialect(ABC):
    name: str

    def sql(self, sql: str) -> str:
        return sql

    def executemany(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        conn.executemany(sql, rows)

    def copy_rows(self, conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join(["?"] * len(columns))
        self.executemany(conn, self.sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"), rows)

    @abstractmethod
    def as_dict(self, cursor: Any, row: Any) -> Row: ...

    @abstractmethod
    def translate(self, exc: Exception) -> Exception: ...


# Timestamps are stored as to_db_ts text. The adapter is registered with the driver rather than
# applied per parameter in Python: the driver calls it only for datetime values, and a batch of
# rows goes to SQLite without a Python loop over every parameter (sqlite3's own datetime adapter
# is deprecated since Python 3.12 anyway). It is process-wide, as sqlite3 adapters are.
sqlite3.register_adapter(datetime, to_db_ts)


# What SQLite says when its file or its disk is gone, rather than about a statement.
_SQLITE_LOST = ("disk I/O error", "unable to open database file", "database disk image is malformed", "disk is full")


class SqliteDialect(Dialect):
    name = "sqlite"

    def as_dict(self, cursor: Any, row: Any) -> Row:
        # Timestamps are stored as text here; every timestamp column is named `at` or `*_at`, so
        # rows come back with datetimes on both dialects.
        out = dict(row)
        for key, value in out.items():
            if isinstance(value, str) and (key == "at" or key.endswith("_at")):
                out[key] = from_db_ts(value)
        return out

    def translate(self, exc: Exception) -> Exception:
        if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
            return UniqueViolation(str(exc))
        if isinstance(exc, sqlite3.OperationalError) and any(m in str(exc) for m in _SQLITE_LOST):
            return StoreUnavailable(str(exc))
        if isinstance(exc, sqlite3.Error):
            return StoreError(str(exc))
        return exc


class PostgresDialect(Dialect):
    name = "postgresql"
    _PLACEHOLDER = re.compile(r"\?")

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}
        self._row_sets: dict[str, _RowSet | None] = {}

    def sql(self, sql: str) -> str:
        converted = self._cache.get(sql)
        if converted is None:
            converted = self._PLACEHOLDER.sub("%s", sql.replace("%", "%%"))
            self._cache[sql] = converted
        return converted

    def executemany(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        row_set = self._row_sets.get(sql, _UNSEEN)
        if row_set is _UNSEEN:
            row_set = self._row_sets[sql] = _as_row_set(sql)
        if row_set is not None and len(rows) > 1:
            # One statement and one parameter for the whole batch instead of a pipelined
            # Bind/Execute per row, which psycopg builds in Python (a third of the store's CPU per
            # decision, bench.accept_ratio profile on PostgreSQL).
            batch = [dict(zip(row_set.parameters, row, strict=True)) for row in rows]
            conn.execute(row_set.sql, (json.dumps(batch, default=_json_value),))
            return
        with conn.cursor() as cursor:
            cursor.executemany(sql, rows)

    def copy_rows(self, conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def as_dict(self, cursor: Any, row: Any) -> Row:
        return dict(row)

    def translate(self, exc: Exception) -> Exception:
        import psycopg

        if isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure):
            return Deadlock(str(exc))
        if _connection_lost(exc):
            return StoreUnavailable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if isinstance(exc, psycopg.errors.UniqueViolation):
            diag = getattr(exc, "diag", None)
            return UniqueViolation(str(exc), getattr(diag, "constraint_name", None))
        if isinstance(exc, psycopg.Error):
            return StoreError(str(exc))
        return exc


@dataclass(frozen=True)
class _RowSet:
    sql: str  # the INSERT over json_populate_recordset, one %s: the rows as a JSON array
    parameters: tuple[str, ...]  # the column each statement parameter goes to, in order


_UNSEEN: Any = object()
_INSERT_VALUES = re.compile(r"^INSERT INTO (\w+) \(([^()]*)\) VALUES \(([^()]*)\)(.*)$", re.DOTALL)
_LITERAL = re.compile(r"^(%s|NULL|-?\d+|'[^',%]*')$")


def _as_row_set(sql: str) -> _RowSet | None:
    """`INSERT INTO t (a, b, c) VALUES (%s, 'x', %s) [ON CONFLICT … DO NOTHING]` as one INSERT of
    many rows: `SELECT r.a, 'x', r.c FROM json_populate_recordset(NULL::t, %s) AS r`, where the
    table's own column types convert each value (as a parameter of that column would be). None
    for anything else: an upsert (`DO UPDATE` must not meet one key twice in one statement, as
    consecutive rows may), `RETURNING`, or values that are not plain parameters and literals."""
    match = _INSERT_VALUES.match(sql)
    if match is None or "DO UPDATE" in match[4] or "RETURNING" in match[4]:
        return None
    table, rest = match[1], match[4]
    columns = [c.strip() for c in match[2].split(",")]
    values = [v.strip() for v in match[3].split(",")]
    if len(columns) != len(values) or not all(_LITERAL.match(v) for v in values):
        return None
    select = ", ".join(f"r.{c}" if v == "%s" else v for c, v in zip(columns, values, strict=True))
    return _RowSet(
        sql=(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select}"
            # WHERE true: without it `… AS r ON CONFLICT` is ambiguous to the parser (PostgreSQL docs, INSERT)
            f" FROM json_populate_recordset(NULL::{table}, %s) AS r WHERE true{rest}"
        ),
        parameters=tuple(c for c, v in zip(columns, values, strict=True) if v == "%s"),
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value")


def _connection_lost(exc: Exception) -> bool:
    """psycopg's own connection failures (no SQLSTATE), a closed connection, and the server's
    classes 08 (connection exception) and 57P (shut down, cannot connect now)."""
    import psycopg

    if isinstance(exc, psycopg.InterfaceError):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith(("08", "57P"))


class Database(ABC):
    dialect: Dialect

    @abstractmethod
    async def run(self, fn: Callable[[Tx], T], *, write: bool = True) -> T:
        """Run `fn` in one transaction on a worker thread; commit if it returns, roll back if it raises."""

    @abstractmethod
    async def close(self) -> None: ...

    @property
    def is_single_node(self) -> bool:
        return self.dialect.name == "sqlite"


class SqliteDatabase(Database):
    """One connection on one thread: SQLite has one writer anyway. Claims and every other write
    start with BEGIN IMMEDIATE so a second process (a CLI next to `serve`) waits instead of failing
    mid-transaction (Prefect's SQLite setup does the same)."""

    def __init__(self, path: Path) -> None:
        self.dialect = SqliteDialect()
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file when opened

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # Reopened after the file went away: never create a new, empty database in its place.
            target = self.path if self._identity is None else f"{self.path.resolve().as_uri()}?mode=rw"
            uri = self._identity is not None
            conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=30, uri=uri)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged repair survives a power loss too; NORMAL in WAL mode may drop
            # the last commits (https://www.sqlite.org/pragma.html#pragma_synchronous). Group
            # commit pays the fsync once per batch, not once per request.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            # Checkpoint every ~40 MiB of WAL (10,000 pages) instead of SQLite's 4 MiB: a page that
            # several commits changed is copied into the database file (and fsynced) once per
            # checkpoint, not once per few commits. A batch of decisions dirties ~13 scattered pages
            # per decision; measured (in-process, batches of 16) 10 % less wall time per decision.
            conn.execute("PRAGMA wal_autocheckpoint=10000")
            self._conn = conn
            stat = os.stat(self.path)
            self._identity = (stat.st_dev, stat.st_ino)
        else:
            self._check_file()
        return self._conn

    def _check_file(self) -> None:
        """A deleted or replaced database file is not an error to SQLite: the open connection goes
        on writing to the unlinked file, and whatever it commits is lost. One stat per transaction
        refuses that instead; the connection is reopened once the file is back (a restore)."""
        try:
            stat = os.stat(self.path)
        except OSError:
            stat = None
        if stat is None or (stat.st_dev, stat.st_ino) != self._identity:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise StoreUnavailable(f"the database file {self.path} is gone or was replaced")

    def _run_sync(self, fn: Callable[[Tx], T], write: bool) -> T:
        with self._lock:
            try:
                conn = self._connection()
            except sqlite3.Error as exc:
                raise self.dialect.translate(exc) from exc
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = fn(Tx(conn, self.dialect))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    async def run(self, fn: Callable[[Tx], T], *, write: bool = True) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_sync, fn, write)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)


class PostgresDatabase(Database):
    def __init__(self, dsn: str, *, pool_size: int = 8, wait_s: float = 5.0) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.dialect = PostgresDialect()
        self.dsn = dsn
        self._used_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        # One direct attempt first: the pool would retry a database that does not exist in the
        # background (a warning per attempt) and fail the first statement after 30 s (PoolTimeout).
        _probe(dsn)
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"row_factory": dict_row, "autocommit": True, "connect_timeout": max(1, round(wait_s))},
            # A connection the server dropped (a restart) is found out before it is handed out;
            # one used moments ago is not asked again (a round trip per transaction otherwise).
            check=self._check,
            # Without a connection after `wait_s` the caller hears StoreUnavailable (an API 503
            # within seconds) instead of waiting the pool's default 30 s.
            timeout=wait_s,
            open=True,
        )
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="pg")

    def _check(self, conn: Any) -> None:
        from psycopg_pool import ConnectionPool

        used = self._used_at.get(conn)
        if used is None or time.monotonic() - used > _CHECK_IDLE_AFTER_S:
            ConnectionPool.check_connection(conn)

    def _run_sync(self, fn: Callable[[Tx], T], write: bool) -> T:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                with conn.transaction():
                    result = fn(Tx(conn, self.dialect))
                # Committed: the connection works. A connection lost in the next moments fails
                # its next statement, which says so (StoreUnavailable) as the check would.
                self._used_at[conn] = time.monotonic()
                return result
        except PoolTimeout as exc:
            raise StoreUnavailable(f"no database connection: {exc}") from exc
        except psycopg.Error as exc:  # raised outside a statement: connecting, COMMIT on a lost connection
            raise self.dialect.translate(exc) from exc

    async def run(self, fn: Callable[[Tx], T], *, write: bool = True) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_sync, fn, write)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._pool.close)
        self._executor.shutdown(wait=True)


# A pooled connection idle longer than this is checked (one round trip) before it is handed out.
_CHECK_IDLE_AFTER_S = 1.0


def _probe(dsn: str) -> None:
    import psycopg

    try:
        psycopg.connect(dsn, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        # psycopg's message spans lines ("connection failed: …\nFATAL:  database … does not exist").
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[-1].removeprefix("FATAL:").strip() if lines else type(exc).__name__
        raise DatabaseUnavailable(reason) from exc


def open_database(url: str, *, pool_size: int = 8, wait_s: float = 5.0) -> Database:
    """`sqlite:///relative/path.db`, `sqlite:////absolute/path.db` or `postgresql://…`."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"sqlite URL needs a file path: {url!r}")
        return SqliteDatabase(Path(path))
    if parsed.scheme in ("postgresql", "postgres"):
        return PostgresDatabase(url, pool_size=pool_size, wait_s=wait_s)
    raise ValueError(f"unsupported database URL scheme {parsed.scheme!r} (use sqlite:/// or postgresql://)")


def now_utc() -> datetime:
    return datetime.now(UTC)
