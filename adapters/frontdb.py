"""The 前置库 (front-end database) transport: tables an authority and the platform share on MariaDB.

The authority inserts operation rows; the platform reads them with SQL and marks each one processed.
This module is the plumbing every such connector shares: a small connection pool (aiomysql), the
session's statement time limits, in-call reconnection after a dropped connection, and the
classification of MariaDB errors into the `DeliveryError` hierarchy, with no secret in a message.

Why each error class (MariaDB error codes, https://mariadb.com/kb/en/mariadb-error-codes/):
- a lock wait or statement time-out (1205, 1969), a deadlock (1213), a lost or refused connection
  (2002, 2003, 2006, 2013, 2055), too many connections (1040): transient → `RetryableError`;
- access denied (1044, 1045, 1142, 1143), unknown database, table or column (1049, 1146, 1054), a
  syntax error (1064): configuration that no retry fixes → `PermanentError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiomysql
import pymysql

from gateway.domain.retry import DeliveryError, PermanentError, RetryableError

T = TypeVar("T")

LOST_CONNECTION = frozenset({2006, 2013, 2055})  # server gone away, lost during query, lost (SSL)
RETRYABLE_CODES = frozenset({1040, 1205, 1213, 1969, 2002, 2003, *LOST_CONNECTION})
PERMANENT_CODES = frozenset({1044, 1045, 1049, 1054, 1064, 1142, 1143, 1146})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,63}")


def identifier(name: str, *, what: str) -> str:
    """A database or table name, quoted for SQL; ValueError for anything but a plain name (names
    come from settings and are spliced into statements, which parameters cannot carry)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{what} must be a plain SQL name (letters, digits, _), got {name!r}")
    return f"`{name}`"


@dataclass(frozen=True, kw_only=True)
class FrontDbAddress:
    host: str
    port: int
    user: str
    password: str
    database: str


@dataclass(frozen=True, kw_only=True)
class FrontDbLimits:
    """How long one statement may take and how many connections the platform holds."""

    statement_timeout_s: float = 10.0  # lock waits and the statement itself (server-side)
    connect_timeout_s: float = 10.0
    pool_size: int = 4


def classify(exc: BaseException, *, operation: str, secrets: Sequence[str] = ()) -> DeliveryError:
    """The failure class of a MariaDB (pymysql) error; the message names the operation and the
    server's code and text, with every secret replaced."""
    code: int | None = None
    text = str(exc)
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
        text = str(exc.args[1]) if len(exc.args) > 1 else ""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    message = f"前置库 {operation} failed: " + (f"MariaDB error {code}: {text}" if code is not None else text)
    excerpt = text[:300]
    if code in PERMANENT_CODES or isinstance(exc, pymysql.err.ProgrammingError | pymysql.err.IntegrityError):
        return PermanentError(message, code=str(code) if code is not None else None, body_excerpt=excerpt)
    if code in RETRYABLE_CODES or isinstance(exc, OSError | asyncio.TimeoutError | pymysql.err.OperationalError):
        return RetryableError(message, code=str(code) if code is not None else None, body_excerpt=excerpt)
    if isinstance(exc, pymysql.err.InterfaceError):  # the connection object is closed: reconnecting helps
        return RetryableError(message, code=str(code) if code is not None else None, body_excerpt=excerpt)
    return PermanentError(message, code=str(code) if code is not None else None, body_excerpt=excerpt)


def _lost(exc: BaseException) -> bool:
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0] in LOST_CONNECTION
    return isinstance(exc, pymysql.err.InterfaceError | ConnectionError)


class FrontDb:
    """A connection pool to one 前置库 database, used statement by statement or in one transaction.

    Every session sets MariaDB's own time limits (`lock_wait_timeout`, `innodb_lock_wait_timeout`,
    `max_statement_time`), so a locked table makes the statement fail with 1205 or 1969 on the
    server rather than hang; a client-side limit a little longer catches a silent network. A
    connection found dead (the server restarted, an operator killed it) is dropped with the idle
    ones and the call goes again on a fresh connection, once per pooled connection at most.
    """

    def __init__(self, address: FrontDbAddress, limits: FrontDbLimits | None = None) -> None:
        identifier(address.database, what="database")
        self.address = address
        self.limits = limits or FrontDbLimits()
        self._pool: aiomysql.Pool | None = None
        self._opening = asyncio.Lock()

    def _session_setup(self) -> str:
        wait = max(1, round(self.limits.statement_timeout_s))
        return (
            f"SET SESSION lock_wait_timeout = {wait}, innodb_lock_wait_timeout = {wait},"
            f" max_statement_time = {self.limits.statement_timeout_s:.3f}"
        )

    async def _get_pool(self) -> aiomysql.Pool:
        async with self._opening:
            if self._pool is None:
                address = self.address
                self._pool = await aiomysql.create_pool(
                    minsize=0,
                    maxsize=self.limits.pool_size,
                    host=address.host,
                    port=address.port,
                    user=address.user,
                    password=address.password,
                    db=address.database,
                    charset="utf8mb4",
                    autocommit=True,
                    connect_timeout=self.limits.connect_timeout_s,
                    init_command=self._session_setup(),
                )
            return self._pool

    async def run(self, operation: str, work: Callable[[aiomysql.Connection], Awaitable[T]]) -> T:
        """`work(conn)` on a pooled connection; failures as DeliveryError (see the module doc).

        `work` must be safe to run again after a lost connection (reads, or writes guarded so that
        a second run changes nothing more)."""
        attempts = self.limits.pool_size + 1
        for attempt in range(1, attempts + 1):
            try:
                pool = await self._get_pool()
                conn = await asyncio.wait_for(pool.acquire(), timeout=self.limits.connect_timeout_s + 1)
            except (pymysql.err.MySQLError, OSError, TimeoutError) as exc:
                raise classify(exc, operation=operation, secrets=self._secrets()) from exc
            try:
                return await asyncio.wait_for(work(conn), timeout=self.limits.statement_timeout_s + 5)
            except (pymysql.err.MySQLError, OSError, TimeoutError) as exc:
                conn.close()  # state unknown (a statement may still run): never back into the pool
                if _lost(exc) and attempt < attempts:
                    continue  # the idle ones may be cut too: each fails at once and is dropped
                raise classify(exc, operation=operation, secrets=self._secrets()) from exc
            except BaseException:
                conn.close()
                raise
            finally:
                pool.release(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    async def fetch(self, operation: str, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        async def query(conn: aiomysql.Connection) -> list[dict[str, Any]]:
            async with conn.cursor(aiomysql.DictCursor) as cursor:
                await cursor.execute(sql, tuple(args))
                return list(await cursor.fetchall())

        return await self.run(operation, query)

    async def execute_many(self, operation: str, statements: Sequence[tuple[str, Sequence[Any]]]) -> int:
        """Several statements in one transaction (all or none); the rows they changed."""

        async def transaction(conn: aiomysql.Connection) -> int:
            await conn.begin()
            try:
                changed = 0
                async with conn.cursor() as cursor:
                    for sql, args in statements:
                        changed += int(await cursor.execute(sql, tuple(args)))
                await conn.commit()
                return changed
            except BaseException:
                with contextlib.suppress(pymysql.err.MySQLError, OSError):
                    await conn.rollback()  # on a lost connection the server rolls back itself
                raise

        return await self.run(operation, transaction)

    def _secrets(self) -> tuple[str, ...]:
        return (self.address.password,) if self.address.password else ()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()


__all__ = ["FrontDb", "FrontDbAddress", "FrontDbLimits", "classify", "identifier"]
