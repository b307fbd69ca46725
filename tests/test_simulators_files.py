"""The two file-exchange simulators (docs/protocols.md §10–§11) writing real files into tmp dirs:
the statistics bureau's .xlsx template, the civil-affairs department's GB18030 CSV, atomic uploads,
the schedule, and the faults (half-written file, duplicate upload, wrong encoding)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from simulators.civil_affairs import CivilAffairsConfig
from simulators.civil_affairs import create_app as civil_app
from simulators.clock import BEIJING
from simulators.statistics import StatisticsConfig
from simulators.statistics import create_app as statistics_app
from tests.list_simulators import Sim, running


@pytest.fixture
async def statistics(tmp_path: Path) -> AsyncIterator[Sim]:
    make = lambda clock: StatisticsConfig(clock=clock, drop_dir=tmp_path)  # noqa: E731
    async with running("statistics", statistics_app, make) as sim:
        yield sim


@pytest.fixture
async def civil(tmp_path: Path) -> AsyncIterator[Sim]:
    make = lambda clock: CivilAffairsConfig(clock=clock, drop_dir=tmp_path)  # noqa: E731
    async with running("civil_affairs", civil_app, make) as sim:
        yield sim


async def drop_dir(sim: Sim) -> Path:
    return Path((await sim.admin("GET", "/admin/info"))["dropDir"])


async def upload(sim: Sim) -> list[dict[str, Any]]:
    return list((await sim.admin("POST", "/admin/upload"))["files"])


def sheet_rows(path: Path) -> list[tuple[Any, ...]]:
    book = load_workbook(path)
    sheet = book["统计严重失信企业名单"]
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def csv_rows(data: bytes, encoding: str = "gb18030") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode(encoding))))


async def test_statistics_uploads_its_template_at_start_atomically(statistics: Sim) -> None:
    folder = await drop_dir(statistics)
    [first] = (await statistics.admin("GET", "/admin/files"))["files"]
    assert first["name"] == "TJJ_YZSXQY_20261126090000_0001.xlsx" and first["kind"] == "complete"
    assert sorted(path.name for path in folder.iterdir()) == [first["name"]]  # no .part left behind
    data = (folder / first["name"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == first["sha256"] and len(data) == first["size"]
    rows = sheet_rows(folder / first["name"])
    assert rows[0][0] == "甘肃省统计严重失信企业名单（截至2026年11月26日）"
    assert rows[1][:4] == ("序号", "企业名称", "统一社会信用代码", "法定代表人")
    body = rows[2:]
    assert [row[0] for row in body] == [1, 2, 3, 4, 5] and first["rows"] == 5
    assert isinstance(body[0][9], datetime) and body[0][9].date() == date(2025, 4, 18)  # a real date cell
    assert body[0][10] == "2028年4月17日"  # the template's text date
    assert body[1][2] == "91621002ma72tj0287"  # lower case as typed
    # The same key twice: the clerk's correction is the later row.
    twice = [row for row in body if row[8] == "甘统严信认〔2025〕9号"]
    assert [row[6] for row in twice] == ["罚款人民币8万元", "罚款人民币10万元"]
    assert twice[0][1] == "酒泉示例𠮷祥新能源有限公司"
    removed = [row for row in body if row[11] == "已移出"]
    assert [(row[12], row[13]) for row in removed] == [("2026.11.20", None)]  # no reason given


async def test_statistics_removal_shows_then_drops_out_after_thirty_days(statistics: Sim) -> None:
    key = {"统一社会信用代码": "91620302MA72TJ01XA", "认定文书编号": "甘统严信认〔2025〕4号"}
    too_early = await statistics.admin("POST", "/admin/remove", expect=409, json={**key, "date": "2026-04-17"})
    assert too_early["code"] == "too_early"
    statistics.clock.set(datetime(2026, 4, 18, 10, 0, tzinfo=BEIJING))
    await statistics.admin("POST", "/admin/remove", json={**key, "date": "2026-04-18", "reason": "已整改"})
    folder = await drop_dir(statistics)
    [shown] = await upload(statistics)
    row = next(r for r in sheet_rows(folder / shown["name"])[2:] if r[8] == key["认定文书编号"])
    assert (row[11], row[12], row[13]) == ("已移出", "2026.04.18", "已整改")
    statistics.clock.set(datetime(2026, 5, 19, 9, 0, tzinfo=BEIJING))
    [later] = await upload(statistics)
    assert key["认定文书编号"] not in {r[8] for r in sheet_rows(folder / later["name"])[2:]}


async def test_statistics_expiry_on_the_day_after_the_last_day(statistics: Sim) -> None:
    statistics.clock.set(datetime(2028, 4, 17, 23, 59, tzinfo=BEIJING))
    assert (await statistics.admin("POST", "/admin/expire"))["expired"] == 0
    statistics.clock.set(datetime(2028, 4, 18, 0, 0, tzinfo=BEIJING))
    answer = await statistics.admin("POST", "/admin/expire")
    assert answer["keys"] == [["91620302MA72TJ01XA", "甘统严信认〔2025〕4号"]]
    [record] = [r for r in await statistics.records() if r["认定文书编号"] == "甘统严信认〔2025〕4号"]
    assert record["状态"] == "已移出" and record["移出原因"] == "公示期满"


async def test_statistics_half_written_and_duplicate_uploads(statistics: Sim) -> None:
    folder = await drop_dir(statistics)
    await statistics.admin("POST", "/admin/faults", json={"half_written": True})
    [half] = await upload(statistics)
    assert half["kind"] == "half_written"
    with pytest.raises(zipfile.BadZipFile):
        load_workbook(folder / half["name"])  # under its final name, and broken
    complete = (await statistics.admin("GET", "/admin/files"))["files"][0]
    assert half["size"] == complete["size"] // 2
    assert await statistics.admin("GET", "/admin/faults") == {
        "half_written": False,
        "duplicate_upload": False,
        "wrong_encoding": False,
    }  # one-shot
    await statistics.admin("POST", "/admin/faults", json={"duplicate_upload": True})
    original, duplicate = await upload(statistics)
    assert duplicate["kind"] == "duplicate_upload" and duplicate["name"] != original["name"]
    assert (folder / original["name"]).read_bytes() == (folder / duplicate["name"]).read_bytes()
    refused = await statistics.admin("POST", "/admin/faults", expect=400, json={"wrong_encoding": True})
    assert refused["field"] == "wrong_encoding"
    stats = await statistics.stats()
    assert stats["faults_injected"] == {"duplicate_upload": 1, "half_written": 1}


async def test_civil_affairs_csv_is_gb18030_with_both_lists(civil: Sim) -> None:
    folder = await drop_dir(civil)
    [first] = (await civil.admin("GET", "/admin/files"))["files"]
    data = (folder / first["name"]).read_bytes()
    assert first["name"].startswith("MZT_SHZZ_SXMD_") and first["name"].endswith(".csv")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    rows = csv_rows(data)
    assert {row["名单类型"] for row in rows} == {"活动异常名录", "严重违法失信名单"}
    names = {row["社会组织名称"] for row in rows}
    assert {"甘肃省示例𠮷祥文化促进会", "兰州市示例䶮华书画研究会"} <= names  # outside GBK, inside GB18030
    twice = [row for row in rows if row["列入决定书文号"] == "甘民社严〔2025〕7号"]
    assert [row["列入事由"] for row in twice] == ["弄虚作假办理变更登记", "弄虚作假办理变更登记被撤销变更登记"]
    [removed] = [row for row in rows if row["状态"] == "已移出"]
    assert removed["移出日期"] == "2026年11月25日" and removed["移出事由"] == ""
    assert rows[0]["列入日期"] == "2025年2月10日"
    assert data.count(b"\r\n") == len(rows) + 1


async def test_civil_affairs_wrong_encoding_and_serious_list_expiry(civil: Sim) -> None:
    folder = await drop_dir(civil)
    await civil.admin("POST", "/admin/faults", json={"wrong_encoding": True})
    [wrong] = await upload(civil)
    data = (folder / wrong["name"]).read_bytes()
    assert wrong["kind"] == "wrong_encoding"
    assert csv_rows(data, "utf-8")[0]["社会组织名称"] == "甘肃省示例𠮷祥文化促进会"
    assert data != (folder / (await civil.admin("GET", "/admin/files"))["files"][0]["name"]).read_bytes()
    civil.clock.set(datetime(2027, 2, 10, 0, 0, tzinfo=BEIJING))  # serious list: 2 years from 2025-02-10
    answer = await civil.admin("POST", "/admin/expire")
    assert answer["keys"] == [["51620102MA72MA025A", "甘民社严〔2025〕3号"]]  # the 异常名录 row does not expire
    [fresh] = await upload(civil)
    [row] = [r for r in csv_rows((folder / fresh["name"]).read_bytes()) if r["列入决定书文号"] == "甘民社严〔2025〕3号"]
    assert (row["状态"], row["移出日期"], row["移出事由"], row["移出决定机关"]) == (
        "已移出",
        "2027年2月10日",
        "届满2年未再违法",
        "甘肃省民政厅",
    )


async def test_loads_append_a_second_row_only_when_asked(civil: Sim) -> None:
    [first, *_rest] = await civil.records()
    changed = {**first, "列入事由": "被列入活动异常名录届满2年仍未整改"}
    assert (await civil.admin("POST", "/admin/load", json={"records": [changed]}))["changed"] == 1
    folder = await drop_dir(civil)
    [snapshot] = await upload(civil)
    rows = [
        r for r in csv_rows((folder / snapshot["name"]).read_bytes()) if r["列入决定书文号"] == "甘民社严〔2025〕3号"
    ]
    assert [r["列入事由"] for r in rows] == ["被列入活动异常名录届满2年仍未整改"]
    await civil.admin("POST", "/admin/load", json={"records": [first], "append": True})
    [snapshot] = await upload(civil)
    rows = [
        r for r in csv_rows((folder / snapshot["name"]).read_bytes()) if r["列入决定书文号"] == "甘民社严〔2025〕3号"
    ]
    assert len(rows) == 2
    bad = await civil.admin("POST", "/admin/load", expect=400, json={"records": [{**first, "名单类型": "黑名单"}]})
    assert bad["field"] == "名单类型"


async def test_the_schedule_uploads_without_being_asked(tmp_path: Path) -> None:
    make = lambda clock: CivilAffairsConfig(clock=clock, drop_dir=tmp_path, interval_s=0.05)  # noqa: E731
    async with running("civil_affairs", civil_app, make) as sim:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(list(tmp_path.glob("*.csv"))) < 3:
            assert loop.time() < deadline, "no scheduled uploads within 60 s"
            await asyncio.sleep(0.05)
        files = (await sim.admin("GET", "/admin/files"))["files"]
        assert len({f["sha256"] for f in files}) == 1  # same register, same snapshot bytes


async def test_a_temporary_drop_dir_is_removed_at_stop() -> None:
    async with running("statistics", statistics_app, lambda clock: StatisticsConfig(clock=clock)) as sim:
        folder = await drop_dir(sim)
        assert len(list(folder.glob("*.xlsx"))) == 1
    assert not folder.exists()
