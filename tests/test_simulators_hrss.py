"""The simulated HR list's 前置库 (docs/protocols.md §8) on a real MariaDB: the platform's side is
played here with plain SQL against the documented table, never through the simulator's code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiomysql
import pymysql
import pytest

from simulators.clock import BEIJING
from simulators.hrss import HrssConfig, create_app
from tests.conftest import mariadb_address
from tests.list_simulators import Sim, running

pytestmark = pytest.mark.mariadb
TABLE = "QZK_RS_NMGGZ_SXMD"  # docs/protocols.md §8


def config(clock: Any) -> HrssConfig:
    host, port = mariadb_address()
    return HrssConfig(host=host, port=port, clock=clock)


@pytest.fixture
async def hrss() -> AsyncIterator[Sim]:
    async with running("hrss", create_app, config) as sim:
        yield sim


async def platform(sim: Sim) -> aiomysql.Connection:
    """The platform's own connection, made from what /admin/info tells (as an adapter would)."""
    info = await sim.admin("GET", "/admin/info")
    assert info["table"] == TABLE and info["available"] is True
    return await aiomysql.connect(
        host=info["host"], port=info["port"], user=info["user"], password="", db=info["database"], autocommit=True
    )


async def sql(conn: aiomysql.Connection, statement: str, args: Any = None) -> list[dict[str, Any]]:
    async with conn.cursor(aiomysql.DictCursor) as cursor:
        await cursor.execute(statement, args)
        return list(await cursor.fetchall())


async def test_the_platform_reads_operation_rows_in_write_order(hrss: Sim) -> None:
    conn = await platform(hrss)
    try:
        rows = await sql(conn, f"SELECT ID, DXBH, CZBZ, CZSJ, CLZT FROM {TABLE} ORDER BY CZSJ, ID")
        assert [(row["DXBH"], row["CZBZ"]) for row in rows] == [
            ("RS2024-0031-1", "i"),
            ("RS2025-0007-1", "i"),
            ("RS2025-0007-2", "i"),
            ("RS2025-0019-1", "i"),
            ("RS2025-0019-1", "u"),  # one object updated twice
            ("RS2025-0019-1", "u"),
            ("RS2024-0031-1", "d"),  # removed without a reason
        ]
        assert all(row["CLZT"] is None for row in rows)
        [person] = await sql(conn, f"SELECT ZJHM, SSDW FROM {TABLE} WHERE DXBH = 'RS2025-0007-2'")
        assert person["ZJHM"] == "6201**********2516"
        [removal] = await sql(conn, f"SELECT YCLX, YCRQ, YCYY FROM {TABLE} WHERE CZBZ = 'd'")
        assert removal["YCLX"] == "02" and removal["YCYY"] is None
        names = {row["DXMC"] for row in await sql(conn, f"SELECT DXMC FROM {TABLE}")}
        assert "嘉峪关示例𠮷安建设工程有限公司" in names  # utf8mb4: a GB18030-only character round-trips
    finally:
        conn.close()
    published = {row["DXBH"] for row in await hrss.records(published=True)}
    assert published == {"RS2025-0007-1", "RS2025-0007-2", "RS2025-0019-1"}


async def test_status_write_back_purge_and_correction(hrss: Sim) -> None:
    conn = await platform(hrss)
    try:
        rows = await sql(conn, f"SELECT ID, DXBH FROM {TABLE} ORDER BY ID")
        ok_id, failed_id = rows[0]["ID"], rows[1]["ID"]
        await sql(conn, f"UPDATE {TABLE} SET CLZT = '1', CLSJ = NOW() WHERE ID <> %s", (failed_id,))
        await sql(
            conn,
            f"UPDATE {TABLE} SET CLZT = '2', CLSJ = NOW(), CLXX = %s WHERE ID = %s",
            ("ZJHM 不是脱敏格式", failed_id),
        )
        assert (await hrss.stats())["marks"] == {"success": len(rows) - 1, "failure": 1}
        assert (await hrss.admin("POST", "/admin/purge"))["purged"] == len(rows) - 1
        left = await sql(conn, f"SELECT ID, CLZT, CLXX FROM {TABLE}")
        assert left == [{"ID": failed_id, "CLZT": "2", "CLXX": "ZJHM 不是脱敏格式"}]  # failed rows stay
        refused = await hrss.admin("POST", "/admin/correct", expect=404, json={"ID": ok_id, "changes": {}})
        assert refused["field"] == "ID"
        hrss.clock.advance(60)
        fixed = await hrss.admin("POST", "/admin/correct", json={"ID": failed_id, "changes": {"FDDBR": "何某"}})
        assert fixed["row"]["CLZT"] == "" and fixed["row"]["CZSJ"] == "2026-11-26 09:01:00.000"
        [row] = await sql(conn, f"SELECT FDDBR, CLZT, CLXX FROM {TABLE} WHERE ID = %s", (failed_id,))
        assert row == {"FDDBR": "何某", "CLZT": None, "CLXX": None}
        again = await hrss.admin("POST", "/admin/correct", expect=409, json={"ID": failed_id, "changes": {}})
        assert again["code"] == "not_failed"
    finally:
        conn.close()


async def test_removals_write_d_rows_early_after_six_months_and_at_expiry(hrss: Sim) -> None:
    body = {"DXBH": "RS2025-0007-1", "kind": "early", "date": "2025-09-09", "reason": "已清偿并作出守信承诺"}
    too_early = await hrss.admin("POST", "/admin/remove", expect=409, json=body)
    assert too_early["code"] == "too_early" and "2025-09-10" in too_early["message"]
    removal = await hrss.admin("POST", "/admin/remove", json={**body, "date": "2025-09-10"})
    assert removal["record"]["CZBZ"] == "d" and removal["record"]["YCLX"] == "02"
    hrss.clock.set(datetime(2028, 6, 1, 23, 0, tzinfo=BEIJING))  # RS2025-0019-1 is listed until 2028-06-01
    expired = await hrss.admin("POST", "/admin/expire")
    assert expired["keys"] == [["RS2025-0007-2"]]
    hrss.clock.set(datetime(2028, 6, 2, 0, 0, tzinfo=BEIJING))
    assert (await hrss.admin("POST", "/admin/expire"))["keys"] == [["RS2025-0019-1"]]
    rows = await hrss.admin("GET", "/admin/rows")
    last = rows["rows"][-1]
    assert (last["DXBH"], last["CZBZ"], last["YCLX"], last["YCRQ"]) == ("RS2025-0019-1", "d", "01", "2028-06-02")
    assert await hrss.records(published=True) == []
    assert (await hrss.stats())["writes"] == {"RS2025-0007-1": 1, "RS2025-0007-2": 1, "RS2025-0019-1": 1}


async def test_loads_are_checked_whole(hrss: Sim) -> None:
    good = {
        "DXBH": "RS2026-0001-1", "RDWSH": "甘人社失惩〔2026〕1号", "DXLX": "2", "DXMC": "某甲",
        "ZJHM": "6201**********0011", "LRSY": "拖欠工资", "RDBM": "甘肃省人力资源和社会保障厅",
        "LRRQ": "2026-11-20", "LRQX": "2029-11-19",
    }  # fmt: skip
    unmasked = {**good, "DXBH": "RS2026-0001-2", "ZJHM": "620102199001010011"}
    refused = await hrss.admin("POST", "/admin/load", expect=400, json={"records": [good, unmasked]})
    assert refused["field"] == "ZJHM" and refused["message"].startswith("record 2")
    assert len((await hrss.admin("GET", "/admin/rows"))["rows"]) == 7  # nothing of the batch written
    assert (await hrss.admin("POST", "/admin/load", json={"records": [good]}))["loaded"] == 1
    [row] = [r for r in (await hrss.admin("GET", "/admin/rows"))["rows"] if r["DXBH"] == "RS2026-0001-1"]
    assert row["CZBZ"] == "i" and row["CZSJ"] == "2026-11-26 09:00:00.000"
    bad_op = await hrss.admin("POST", "/admin/load", expect=400, json={"records": [{**good, "CZBZ": "x"}]})
    assert bad_op["field"] == "CZBZ"


async def test_fault_locked_table_blocks_the_platform_until_cleared(hrss: Sim) -> None:
    conn = await platform(hrss)
    try:
        await sql(conn, "SET SESSION lock_wait_timeout = 1")
        assert (await hrss.admin("POST", "/admin/faults", json={"lock_table": True}))["lock_table"] is True
        with pytest.raises(pymysql.err.OperationalError) as raised:
            await sql(conn, f"SELECT COUNT(*) AS N FROM {TABLE}")
        assert raised.value.args[0] == 1205  # lock wait timeout
        await hrss.admin("DELETE", "/admin/faults")
        assert (await sql(conn, f"SELECT COUNT(*) AS N FROM {TABLE}"))[0]["N"] == 7
        assert (await hrss.stats())["faults_injected"] == {"lock_table": 1}
    finally:
        conn.close()


async def test_fault_dropped_connection(hrss: Sim) -> None:
    conn = await platform(hrss)
    try:
        answer = await hrss.admin("POST", "/admin/faults", json={"drop_connections": True})
        assert answer["dropped"] == 1
        with pytest.raises(pymysql.err.OperationalError) as raised:
            await sql(conn, f"SELECT COUNT(*) AS N FROM {TABLE}")
        assert raised.value.args[0] in (2006, 2013)  # server gone / lost connection
    finally:
        conn.close()
    conn = await platform(hrss)  # a new connection works
    try:
        assert (await sql(conn, f"SELECT COUNT(*) AS N FROM {TABLE}"))[0]["N"] == 7
    finally:
        conn.close()


async def test_fault_rows_written_out_of_order(hrss: Sim) -> None:
    await hrss.admin("POST", "/admin/faults", json={"out_of_order": True, "late_s": 3600})
    base = {
        "RDWSH": "甘人社失惩〔2026〕2号", "DXLX": "1", "LRSY": "拖欠工资", "RDBM": "甘肃省人力资源和社会保障厅",
        "TYSHXYDM": "91620121MA72RN01XM", "LRRQ": "2026-11-20", "LRQX": "2029-11-19",
    }  # fmt: skip
    first = {**base, "DXBH": "RS2026-0002-1", "DXMC": "甲公司", "CZSJ": "2026-11-26 08:59:00"}
    second = {**base, "DXBH": "RS2026-0002-2", "DXMC": "乙公司", "CZSJ": "2026-11-26 08:59:01"}
    await hrss.admin("POST", "/admin/load", json={"records": [first, second]})
    rows = [r for r in (await hrss.admin("GET", "/admin/rows"))["rows"] if r["DXBH"].startswith("RS2026-0002")]
    # Inserted in reverse (IDs against write time) and an hour late (behind a platform cursor).
    assert [r["DXBH"] for r in rows] == ["RS2026-0002-2", "RS2026-0002-1"]
    assert [r["CZSJ"] for r in rows] == ["2026-11-26 07:59:01.000", "2026-11-26 07:59:00.000"]
    assert (await hrss.stats())["faults_injected"] == {"out_of_order": 1}


async def test_each_instance_has_its_own_database_dropped_at_stop() -> None:
    async with running("hrss", create_app, config) as one, running("hrss", create_app, config) as two:
        first, second = (await one.admin("GET", "/admin/info")), (await two.admin("GET", "/admin/info"))
        assert first["database"] != second["database"]
        await one.admin("POST", "/admin/remove", json={"DXBH": "RS2025-0007-1", "date": "2026-01-01"})
        assert len((await two.admin("GET", "/admin/rows"))["rows"]) == 7
    conn = await aiomysql.connect(host=mariadb_address()[0], port=mariadb_address()[1], user="root", password="")
    try:
        names = {row["Database"] for row in await sql(conn, "SHOW DATABASES")}
        assert first["database"] not in names and second["database"] not in names
    finally:
        conn.close()
