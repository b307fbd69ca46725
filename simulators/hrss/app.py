"""拖欠农民工工资失信联合惩戒对象名单 (HR list) simulator: a 前置库 (front-end database) table on MariaDB.

The department writes one row per operation (增删改标志 `CZBZ` i/u/d, write time `CZSJ`); the
platform reads the table with SQL and writes back `CLZT`/`CLSJ`/`CLXX` on each row. Failed rows stay
until the department corrects them. The table layout is in docs/protocols.md §8: the adapter uses
that, never this module. The admin API (HTTP) drives the department's side and the faults.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import aiomysql
from aiohttp import web
from aiohttp.typedefs import Handler

from simulators.admin import AdminError, Stats, json_response, read_json_object
from simulators.clock import BEIJING, Clock, SystemClock
from simulators.hrss.fixtures import HRSS_ROWS
from simulators.lists.base import add_months, admin_only_app, stats_json

TABLE = "QZK_RS_NMGGZ_SXMD"
CONTENT = (
    "DXBH", "RDWSH", "DXLX", "DXMC", "TYSHXYDM", "ZJHM", "FDDBR", "SSDW", "LRSY", "SJJE", "RDBM", "RDBMDM",
    "LRRQ", "LRQX", "YCLX", "YCRQ", "YCYY",
)  # fmt: skip
STATUS = ("CLZT", "CLSJ", "CLXX")
COLUMNS = ("ID", *CONTENT, "CZBZ", "CZSJ", *STATUS)
REQUIRED = ("DXBH", "RDWSH", "DXLX", "DXMC", "LRSY", "RDBM", "LRRQ", "LRQX")
DATES = ("LRRQ", "LRQX", "YCRQ")
OPERATIONS = ("i", "u", "d")
EXPIRED, EARLY = "01", "02"  # YCLX
EARLY_MIN_MONTHS = 6  # 人社部令第45号: early removal 6 months after correction (lists.md §2)
SUCCESS, FAILURE = "1", "2"  # CLZT written by the platform; NULL = not yet processed
_MASKED_ID = re.compile(r"\d{2,6}\*{8,12}[\dXx]{0,4}")

DDL = f"""
CREATE TABLE {{db}}.{TABLE} (
  ID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY COMMENT '行号',
  DXBH VARCHAR(64) NOT NULL COMMENT '对象编号',
  RDWSH VARCHAR(100) NOT NULL COMMENT '认定决定书文号',
  DXLX CHAR(1) NOT NULL COMMENT '对象类型 1用人单位 2责任人员',
  DXMC VARCHAR(200) NOT NULL COMMENT '对象名称',
  TYSHXYDM VARCHAR(18) NULL COMMENT '统一社会信用代码',
  ZJHM VARCHAR(18) NULL COMMENT '身份证件号码(脱敏)',
  FDDBR VARCHAR(100) NULL COMMENT '法定代表人',
  SSDW VARCHAR(200) NULL COMMENT '所属单位(责任人员)',
  LRSY VARCHAR(1000) NOT NULL COMMENT '列入事由',
  SJJE DECIMAL(14,2) NULL COMMENT '涉及金额(元)',
  RDBM VARCHAR(200) NOT NULL COMMENT '认定部门',
  RDBMDM VARCHAR(18) NULL COMMENT '认定部门代码',
  LRRQ DATE NOT NULL COMMENT '列入日期',
  LRQX DATE NOT NULL COMMENT '列入期限至',
  YCLX CHAR(2) NULL COMMENT '移出类型 01期满 02提前移出',
  YCRQ DATE NULL COMMENT '移出日期',
  YCYY VARCHAR(500) NULL COMMENT '移出原因',
  CZBZ CHAR(1) NOT NULL COMMENT '增删改标志 i/u/d',
  CZSJ DATETIME(3) NOT NULL COMMENT '写入时间(北京时间)',
  CLZT CHAR(1) NULL COMMENT '处理状态 NULL未处理 1成功 2失败(平台回写)',
  CLSJ DATETIME NULL COMMENT '处理时间(平台回写)',
  CLXX VARCHAR(1000) NULL COMMENT '处理信息/错误原因(平台回写)',
  KEY IDX_CZSJ (CZSJ, ID),
  KEY IDX_DXBH (DXBH),
  KEY IDX_CLZT (CLZT)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""


@dataclass(kw_only=True)
class HrssConfig:
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    # None: a fresh database `creditgw_hrss_<random>` is created at start and dropped at stop, so
    # parallel test runs never share tables.
    database: str | None = None
    seed: bool = True
    clock: Clock = field(default_factory=SystemClock)


@dataclass
class DbFaults:
    lock_table: bool = False
    out_of_order: bool = False
    late_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"lock_table": self.lock_table, "out_of_order": self.out_of_order, "late_s": self.late_s}


class HrssSimulator:
    """The department's side of the 前置库: it owns the table and writes operation rows into it."""

    def __init__(self, config: HrssConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.database = config.database or f"creditgw_hrss_{secrets.token_hex(4)}"
        self._own_database = config.database is None
        self.stats = Stats()
        self.faults = DbFaults()
        self.injected: Counter[str] = Counter()
        self._pool: aiomysql.Pool | None = None
        self._lock_conn: aiomysql.Connection | None = None
        self.unavailable = ""  # why MariaDB could not be reached at start ("" = it could)

    def _connection_args(self) -> dict[str, Any]:
        config = self.config
        return {
            "host": config.host,
            "port": config.port,
            "user": config.user,
            "password": config.password,
            "autocommit": True,
            "charset": "utf8mb4",
            "connect_timeout": 10,
        }

    @property
    def table(self) -> str:
        return f"`{self.database}`.{TABLE}"

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        # The simulator's own connections have no default database, so "every connection using this
        # database" (the drop fault) means the platform's and never its own.
        self._pool = await aiomysql.create_pool(minsize=1, maxsize=4, **self._connection_args())
        await self._execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}` CHARACTER SET utf8mb4")
        if not self._own_database:
            await self._execute(f"DROP TABLE IF EXISTS {self.table}")  # a given database: start afresh
        await self._execute(DDL.format(db=f"`{self.database}`"))
        await self.reset()

    async def stop(self) -> None:
        await self._unlock()
        if self._pool is None:
            return
        if self._own_database:
            await self._kill_platform_connections()
            await self._execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        self._pool.close()
        await self._pool.wait_closed()
        self._pool = None

    async def reset(self) -> None:
        await self._unlock()
        self.faults = DbFaults()
        self.injected.clear()
        await self._execute(f"TRUNCATE TABLE {self.table}")
        if self.config.seed:
            await self._insert([self._prepared(row, index) for index, row in enumerate(HRSS_ROWS, start=1)])
        self.stats.clear()

    # --- SQL ----------------------------------------------------------------------------------

    async def _execute(self, sql: str, args: Any = None) -> int:
        assert self._pool is not None
        async with self._pool.acquire() as conn, conn.cursor() as cursor:
            return int(await cursor.execute(sql, args))

    async def _fetch(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        assert self._pool is not None
        async with self._pool.acquire() as conn, conn.cursor(aiomysql.DictCursor) as cursor:
            await cursor.execute(sql, args)
            return list(await cursor.fetchall())

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        assert self._pool is not None
        names = (*CONTENT, "CZBZ", "CZSJ")
        sql = f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
        async with self._pool.acquire() as conn:
            await conn.begin()
            try:
                async with conn.cursor() as cursor:
                    for row in rows:
                        await cursor.execute(sql, [row[name] for name in names])
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
        for row in rows:
            self.stats.write(row["DXBH"])

    # --- the department's writes --------------------------------------------------------------

    def _prepared(self, record: Any, index: int) -> dict[str, Any]:
        """A native row checked and converted for the INSERT (AdminError 400 when malformed)."""
        if not isinstance(record, dict):
            raise AdminError(400, "invalid_record", f"record {index} must be an object", "records")
        for name in record:
            if name not in (*CONTENT, "CZBZ", "CZSJ"):
                raise AdminError(400, "invalid_record", f"record {index}: unknown column {name}", name)
        for name in REQUIRED:
            if not isinstance(record.get(name), str) or not record[name]:
                raise AdminError(400, "invalid_record", f"record {index}: {name} is required", name)
        row: dict[str, Any] = {name: (record.get(name) or None) for name in CONTENT}
        if row["DXLX"] not in ("1", "2"):
            raise AdminError(400, "invalid_record", f"record {index}: DXLX must be 1 or 2", "DXLX")
        if row["DXLX"] == "2" and not _MASKED_ID.fullmatch(row["ZJHM"] or ""):
            message = f"record {index}: a person's ZJHM is written masked (6201**********2516)"
            raise AdminError(400, "invalid_record", message, "ZJHM")
        for name in DATES:
            if row[name] is not None:
                try:
                    row[name] = date.fromisoformat(row[name])
                except (TypeError, ValueError) as exc:
                    message = f"record {index}: {name} must be yyyy-MM-dd"
                    raise AdminError(400, "invalid_record", message, name) from exc
        if row["SJJE"] is not None:
            try:
                row["SJJE"] = Decimal(str(row["SJJE"]))
            except InvalidOperation as exc:
                raise AdminError(400, "invalid_record", f"record {index}: SJJE must be a number", "SJJE") from exc
        operation = record.get("CZBZ", "i")
        if operation not in OPERATIONS:
            raise AdminError(400, "invalid_record", f"record {index}: CZBZ must be i, u or d", "CZBZ")
        row["CZBZ"] = operation
        written = record.get("CZSJ")
        if written:
            try:
                row["CZSJ"] = datetime.fromisoformat(written).replace(tzinfo=None)
            except (TypeError, ValueError) as exc:
                message = f"record {index}: CZSJ must be yyyy-MM-dd HH:mm:ss[.fff]"
                raise AdminError(400, "invalid_record", message, "CZSJ") from exc
        else:
            row["CZSJ"] = _beijing_naive(self.clock.now())
        return row

    async def write(self, records: list[Any]) -> int:
        rows = [self._prepared(record, index) for index, record in enumerate(records, start=1)]
        if self.faults.out_of_order and len(rows) > 0:
            # Rows committed late and in reverse: IDs run against CZSJ, and CZSJ lies behind rows the
            # platform may already have read.
            self.injected["out_of_order"] += 1
            late = timedelta(seconds=self.faults.late_s)
            for row in rows:
                row["CZSJ"] = row["CZSJ"] - late
            rows.reverse()
        await self._insert(rows)
        return len(rows)

    async def latest(self) -> dict[str, dict[str, Any]]:
        """The last row the department wrote per object (by CZSJ, then ID)."""
        rows = await self._fetch(f"SELECT * FROM {self.table} ORDER BY CZSJ, ID")
        return {row["DXBH"]: row for row in rows}

    async def _current(self, dxbh: str) -> dict[str, Any]:
        row = (await self.latest()).get(dxbh)
        if row is None:
            raise AdminError(404, "not_found", f"no object {dxbh}", "DXBH")
        return row

    async def remove(self, dxbh: str, kind: str, reason: str, on: date) -> dict[str, Any]:
        row = await self._current(dxbh)
        if row["CZBZ"] == "d":
            raise AdminError(409, "not_listed", "the object is not on the list", "DXBH")
        if kind == EARLY:
            earliest = add_months(row["LRRQ"], EARLY_MIN_MONTHS)
            if on < earliest:
                message = f"early removal needs {EARLY_MIN_MONTHS} months (possible from {earliest.isoformat()})"
                raise AdminError(409, "too_early", message, "date")
        native = _native(row)
        removal = {name: native[name] for name in CONTENT}
        removal.update(YCLX=kind, YCRQ=on.isoformat(), YCYY=reason, CZBZ="d")
        await self.write([removal])
        return removal

    # --- admin --------------------------------------------------------------------------------

    async def admin_load(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        records = body.get("records")
        if not isinstance(records, list):
            raise AdminError(400, "invalid_json", "records must be a list", "records")
        written = await self.write(records)
        return json_response({"loaded": written, "changed": written})

    async def admin_rows(self, request: web.Request) -> web.Response:
        where = " WHERE CLZT IS NULL" if request.query.get("pending") in ("1", "true") else ""
        rows = await self._fetch(f"SELECT * FROM {self.table}{where} ORDER BY ID")
        return json_response({"rows": [_native(row) for row in rows]})

    async def admin_records(self, request: web.Request) -> web.Response:
        published_only = request.query.get("published") in ("1", "true", "yes")
        latest = (await self.latest()).values()
        shown = [_native(row) for row in latest if not published_only or row["CZBZ"] != "d"]
        return json_response({"records": shown})

    async def admin_remove(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        dxbh = body.get("DXBH")
        if not isinstance(dxbh, str) or not dxbh:
            raise AdminError(400, "missing_field", "DXBH is required", "DXBH")
        kind = {"early": EARLY, "expiry": EXPIRED}.get(str(body.get("kind", "early")))
        if kind is None:
            raise AdminError(400, "invalid_value", "kind must be early or expiry", "kind")
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            raise AdminError(400, "invalid_value", "reason must be a string", "reason")
        on = _iso_date(body.get("date")) or self.clock.now().date()
        return json_response({"changed": True, "record": await self.remove(dxbh, kind, reason, on)})

    async def admin_expire(self, _request: web.Request) -> web.Response:
        today = self.clock.now().date()
        due = [row for row in (await self.latest()).values() if row["CZBZ"] != "d" and row["LRQX"] < today]
        for row in due:
            await self.remove(row["DXBH"], EXPIRED, "列入期限届满", today)
        return json_response({"expired": len(due), "keys": [[row["DXBH"]] for row in due]})

    async def admin_correct(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        row_id, changes = body.get("ID"), body.get("changes", {})
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            raise AdminError(400, "missing_field", "ID (integer) is required", "ID")
        if not isinstance(changes, dict):
            raise AdminError(400, "invalid_value", "changes must be an object", "changes")
        found = await self._fetch(f"SELECT * FROM {self.table} WHERE ID = %s", (row_id,))
        if not found:
            raise AdminError(404, "not_found", f"no row {row_id}", "ID")
        if found[0]["CLZT"] != FAILURE:
            raise AdminError(409, "not_failed", "only a row the platform marked failed (CLZT 2) is corrected", "ID")
        native = _native(found[0])
        merged = {name: native[name] for name in (*CONTENT, "CZBZ")} | changes
        row = self._prepared(merged, 1)
        assignments = ", ".join(f"{name} = %s" for name in (*CONTENT, "CZBZ", "CZSJ"))
        sql = f"UPDATE {self.table} SET {assignments}, CLZT = NULL, CLSJ = NULL, CLXX = NULL WHERE ID = %s"
        await self._execute(sql, [*(row[name] for name in (*CONTENT, "CZBZ", "CZSJ")), row_id])
        self.stats.write(row["DXBH"])
        fixed = await self._fetch(f"SELECT * FROM {self.table} WHERE ID = %s", (row_id,))
        return json_response({"changed": True, "row": _native(fixed[0])})

    async def admin_purge(self, _request: web.Request) -> web.Response:
        purged = await self._execute(f"DELETE FROM {self.table} WHERE CLZT = %s", (SUCCESS,))
        return json_response({"purged": purged})

    async def admin_stats(self, _request: web.Request) -> web.Response:
        marks = await self._fetch(f"SELECT CLZT, COUNT(*) AS N FROM {self.table} GROUP BY CLZT")
        body = stats_json(self.stats)
        body["marks"] = {
            {None: "pending", SUCCESS: "success", FAILURE: "failure"}.get(m["CLZT"], str(m["CLZT"])): int(m["N"])
            for m in marks
        }
        body["faults_injected"] = dict(sorted(self.injected.items()))
        return json_response(body)

    async def admin_info(self, _request: web.Request) -> web.Response:
        config = self.config
        info = {"host": config.host, "port": config.port, "user": config.user, "database": self.database}
        return json_response({**info, "table": TABLE, "available": not self.unavailable, "error": self.unavailable})

    async def admin_reset(self, _request: web.Request) -> web.Response:
        await self.reset()
        return json_response({"reset": True, "records": len(await self.latest())})

    async def get_faults(self, _request: web.Request) -> web.Response:
        return json_response(self.faults.to_json())

    async def set_faults(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        known = ("lock_table", "drop_connections", "out_of_order", "late_s")
        for name, value in body.items():
            if name not in known:
                raise AdminError(400, "invalid_fault", f"unknown fault knob {name!r}", name)
            if name == "late_s":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise AdminError(400, "invalid_fault", "late_s must be a non-negative number", name)
            elif not isinstance(value, bool):
                raise AdminError(400, "invalid_fault", f"{name} must be true or false", name)
        faults = DbFaults(
            lock_table=body.get("lock_table", False),
            out_of_order=body.get("out_of_order", False),
            late_s=float(body.get("late_s", 0.0)),
        )
        if faults.lock_table and self._lock_conn is None:
            await self._lock()
        elif not faults.lock_table:
            await self._unlock()
        self.faults = faults
        answer = self.faults.to_json()
        if body.get("drop_connections"):
            answer["dropped"] = await self._kill_platform_connections()
            self.injected["drop_connections"] += 1
        return json_response(answer)

    async def clear_faults(self, _request: web.Request) -> web.Response:
        await self._unlock()
        self.faults = DbFaults()
        return json_response(self.faults.to_json())

    async def _lock(self) -> None:
        conn = await aiomysql.connect(**self._connection_args())
        async with conn.cursor() as cursor:
            await cursor.execute(f"LOCK TABLES {self.table} WRITE")
        self._lock_conn = conn
        self.injected["lock_table"] += 1

    async def _unlock(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            async with conn.cursor() as cursor:
                await cursor.execute("UNLOCK TABLES")
            conn.close()

    async def _kill_platform_connections(self) -> int:
        rows = await self._fetch(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
            (self.database,),
        )
        killed = 0
        for row in rows:
            try:
                await self._execute(f"KILL CONNECTION {int(row['ID'])}")
                killed += 1
            except aiomysql.OperationalError:
                pass  # it went away by itself meanwhile
        return killed


def _beijing_naive(moment: datetime) -> datetime:
    return moment.astimezone(BEIJING).replace(tzinfo=None)


def _iso_date(value: Any) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise AdminError(400, "invalid_value", "date must be yyyy-MM-dd", "date") from exc


def _native(row: Mapping[str, Any]) -> dict[str, Any]:
    """A table row as JSON: dates ISO, CZSJ with milliseconds, amounts as text, NULL as ""."""
    shown: dict[str, Any] = {}
    for name in COLUMNS:
        value = row.get(name)
        if isinstance(value, datetime):
            text = value.strftime("%Y-%m-%d %H:%M:%S.%f")
            shown[name] = text[:-3] if name == "CZSJ" else text[:19]
        elif isinstance(value, date):
            shown[name] = value.isoformat()
        elif isinstance(value, Decimal):
            shown[name] = f"{value:.2f}"
        elif name == "ID":
            shown[name] = value
        else:
            shown[name] = "" if value is None else value
    return shown


SIMULATOR = web.AppKey("hrss", HrssSimulator)


def create_app(config: HrssConfig | None = None) -> web.Application:
    """Admin application of a fresh HR-list 前置库; the table is created (and seeded) at startup."""
    simulator = HrssSimulator(config or HrssConfig())
    post = {
        "/admin/load": simulator.admin_load,
        "/admin/remove": simulator.admin_remove,
        "/admin/expire": simulator.admin_expire,
        "/admin/correct": simulator.admin_correct,
        "/admin/purge": simulator.admin_purge,
        "/admin/reset": simulator.admin_reset,
        "/admin/faults": simulator.set_faults,
    }
    get = {
        "/admin/rows": simulator.admin_rows,
        "/admin/records": simulator.admin_records,
        "/admin/stats": simulator.admin_stats,
        "/admin/info": simulator.admin_info,
        "/admin/faults": simulator.get_faults,
    }
    app = admin_only_app(SIMULATOR, simulator, post=post, get=get, delete={"/admin/faults": simulator.clear_faults})

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        try:
            await simulator.start()
        except (OSError, aiomysql.Error) as exc:
            # `python -m simulators` and the demo still run without MariaDB; this system then
            # answers 503 and says why.
            simulator.unavailable = f"MariaDB at {simulator.config.host}:{simulator.config.port}: {exc}"
            print(f"hrss: 前置库 unavailable: {simulator.unavailable}", file=sys.stderr, flush=True)
        yield
        await asyncio.shield(simulator.stop())

    @web.middleware
    async def require_database(request: web.Request, handler: Handler) -> web.StreamResponse:
        if simulator.unavailable and request.path != "/admin/info":
            raise AdminError(503, "database_unavailable", simulator.unavailable)
        return await handler(request)

    app.middlewares.append(require_database)
    app.cleanup_ctx.append(lifecycle)
    return app


__all__ = ["SIMULATOR", "TABLE", "HrssConfig", "HrssSimulator", "create_app"]
