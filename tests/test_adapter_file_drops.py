"""The file-drop transport (adapters/filedrop.py) and its two departments on files written by the
real simulators (docs/protocols.md §10–§11): snapshots become added/changed/absent changes, a key
twice keeps its later row, the 30-day tail and the absence after it, every file fault (half-written
held back then taken when complete or given up, duplicate upload taken once, wrong encoding
refused visibly), and a restart that takes nothing twice."""

from __future__ import annotations

import asyncio
import os
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.civil_affairs import CivilAffairsAdapter, looks_like_utf8
from adapters.filedrop import DUPLICATE, GIVEN_UP, PROCESSED, REFUSED, SUPERSEDED, FileDropAdapter
from adapters.statistics import StatisticsAdapter
from gateway.contract import NativeChange, NativeWrite, UnmappableRow
from gateway.domain.model import PUBLISHED, StopReason, stopped
from gateway.domain.retry import PermanentError
from gateway.filedrop import ABSENT_FROM, FILE_INCIDENT_KIND
from gateway.observability import REGISTRY
from mappings import civil_affairs, statistics
from simulators.civil_affairs import SIMULATOR as CIVIL_SIMULATOR
from simulators.civil_affairs import CivilAffairsConfig
from simulators.civil_affairs import create_app as civil_app
from simulators.clock import BEIJING
from simulators.lists.files import FileDropSimulator
from simulators.statistics import SIMULATOR as STATISTICS_SIMULATOR
from simulators.statistics import StatisticsConfig
from simulators.statistics import create_app as statistics_app
from tests.list_simulators import Sim, running

STATISTICS_MAPPING = statistics.StatisticsMapping()
CIVIL_MAPPING = civil_affairs.CivilAffairsMapping()


def statistics_adapter(drop: Path, state: Path, **options: Any) -> StatisticsAdapter:
    return StatisticsAdapter(
        drop_dir=drop,
        state_dir=state,
        key_fields=statistics.KEY_FIELDS,
        default_kind=statistics.LIST_KIND,
        **{"scan_interval_s": 0, "settle_s": 0, **options},
    )


def civil_adapter(drop: Path, state: Path, **options: Any) -> CivilAffairsAdapter:
    return CivilAffairsAdapter(
        drop_dir=drop,
        state_dir=state,
        key_fields=civil_affairs.KEY_FIELDS,
        kind_field=civil_affairs.KIND_FIELD,
        **{"scan_interval_s": 0, "settle_s": 0, **options},
    )


class Drop:
    """A department's simulator writing into `drop`, and an adapter reading it."""

    def __init__(self, sim: Sim, adapter: FileDropAdapter, drop: Path, state: Path) -> None:
        self.sim = sim
        self.adapter = adapter
        self.drop = drop
        self.state = state
        self.cursor: str | None = None

    async def upload(self) -> list[dict[str, Any]]:
        return list((await self.sim.admin("POST", "/admin/upload"))["files"])

    async def fault(self, name: str) -> None:
        await self.sim.admin("POST", "/admin/faults", json={name: True})

    async def changes(self) -> list[NativeChange]:
        """Everything new in the feed since the last call, paged small."""
        got: list[NativeChange] = []
        while True:
            page = await self.adapter.fetch_changes(self.cursor, 2)
            got.extend(page.changes)
            assert page.cursor or not got
            self.cursor = page.cursor or self.cursor
            if not page.has_more:
                return got


def simulator(sim: Sim) -> FileDropSimulator:
    key = STATISTICS_SIMULATOR if sim.app.get(STATISTICS_SIMULATOR) is not None else CIVIL_SIMULATOR
    found: FileDropSimulator = sim.app[key]
    return found


def complete_bytes(sim: Sim) -> bytes:
    """What the department's export would have written now: to finish a half-written transfer."""
    job = simulator(sim)
    today = sim.clock.now().astimezone(BEIJING).date()
    rows = [row for row in job.book.rows if job.dialect.in_snapshot(row, today)]
    return job.dialect.render(rows, sim.clock.now(), wrong_encoding=False)


@asynccontextmanager
async def open_drop(department: str, tmp_path: Path) -> AsyncIterator[Drop]:
    drop, state = tmp_path / "drop", tmp_path / "state"
    if department == "statistics":
        make: Any = lambda clock: StatisticsConfig(clock=clock, drop_dir=drop)  # noqa: E731
        factory: Any = statistics_app
        adapter: FileDropAdapter = statistics_adapter(drop, state)
    else:
        make = lambda clock: CivilAffairsConfig(clock=clock, drop_dir=drop)  # noqa: E731
        factory = civil_app
        adapter = civil_adapter(drop, state)
    async with running(department, factory, make) as sim:
        try:
            yield Drop(sim, adapter, drop, state)
        finally:
            await adapter.close()


@pytest.fixture
async def stats_drop(tmp_path: Path) -> AsyncIterator[Drop]:
    async with open_drop("statistics", tmp_path) as drop:
        yield drop


@pytest.fixture
async def civil_drop(tmp_path: Path) -> AsyncIterator[Drop]:
    async with open_drop("civil_affairs", tmp_path) as drop:
        yield drop


@pytest.fixture(params=["statistics", "civil_affairs"])
async def either_drop(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Drop]:
    async with open_drop(request.param, tmp_path) as drop:
        yield drop


def states(changes: list[NativeChange], mapping: Any) -> dict[str, str]:
    """document number → the state the mapping reads from each change (last one wins)."""
    out: dict[str, str] = {}
    for change in changes:
        observation = mapping.to_observation(change)
        if observation is not None:
            out[observation.facts.document_number] = observation.target.label
    return out


def by_doc(changes: list[NativeChange], field: str) -> dict[str, NativeChange]:
    return {str(change.row[field]): change for change in changes}


async def load(drop: Drop, index: int, **changed: str) -> None:
    """Change register row `index` in the department's system."""
    row = (await drop.sim.records())[index]
    await drop.sim.admin("POST", "/admin/load", json={"records": [{**row, **changed}]})


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_statistics_first_snapshot_every_row_once_the_later_row_of_a_key_wins(stats_drop: Drop) -> None:
    changes = await stats_drop.changes()
    [uploaded] = (await stats_drop.sim.admin("GET", "/admin/files"))["files"]
    assert len(changes) == 4  # five sheet rows, one key twice
    assert {c.kind for c in changes} == {statistics.LIST_KIND}
    rows = by_doc(changes, "认定文书编号")
    assert rows["甘统严信认〔2025〕9号"].row["处理处罚情况"] == "罚款人民币10万元"  # the clerk's correction
    assert rows["甘统严信认〔2025〕9号"].row["企业名称"] == "酒泉示例𠮷祥新能源有限公司"
    assert rows["甘统严信认〔2025〕4号"].row["认定日期"] == "2025-04-18"  # the date cell
    assert rows["甘统严信认〔2025〕4号"].row["公示截止日期"] == "2028年4月17日"
    assert "序号" not in rows["甘统严信认〔2025〕4号"].row  # a line number, not data
    assert rows["兰统严信认〔2024〕1号"].row["移出日期"] == "2026.11.20"
    assert states(changes, STATISTICS_MAPPING) == {
        "甘统严信认〔2025〕4号": "published",
        "庆统严信认〔2025〕2号": "published",
        "甘统严信认〔2025〕9号": "published",
        "兰统严信认〔2024〕1号": "stopped:removed",  # no reason given: removed, not guessed
    }
    assert all(c.changed_at == datetime(2026, 11, 26, 9, 0, tzinfo=BEIJING) for c in changes)  # the name's stamp
    [taken] = await stats_drop.adapter.files()
    assert (taken.name, taken.sha256, taken.size, taken.rows, taken.outcome) == (
        uploaded["name"],
        uploaded["sha256"],
        uploaded["size"],
        5,
        PROCESSED,
    )
    assert stats_drop.cursor == f"{uploaded['name']}:4"
    assert await stats_drop.changes() == []  # nothing new, the cursor stays
    assert stats_drop.cursor == f"{uploaded['name']}:4"


async def test_three_snapshots_added_changed_removed_and_the_listing_is_the_last_snapshot(civil_drop: Drop) -> None:
    first = await civil_drop.changes()
    assert states(first, CIVIL_MAPPING) == {
        "甘民社严〔2025〕3号": "published",
        "甘民社严〔2025〕7号": "published",
    }  # the 活动异常名录 rows are read but not tracked
    assert {c.kind for c in first} == {"严重违法失信名单", "活动异常名录"}
    assert (
        by_doc(first, "列入决定书文号")["甘民社严〔2025〕7号"].row["列入事由"] == "弄虚作假办理变更登记被撤销变更登记"
    )

    # Second snapshot: one new serious-list row (GB18030-only characters), one changed.
    [one, *_] = await civil_drop.sim.records()
    added = {
        **one,
        "社会组织名称": "甘肃省示例䶮𠮷慈善基金会",
        "统一社会信用代码": "53620000MA72MA041X",
        "列入决定书文号": "甘民社严〔2026〕11号",
        "列入日期": "2026-10-09",
    }
    changed = {**one, "列入事由": "被列入活动异常名录届满2年仍未整改"}
    await civil_drop.sim.admin("POST", "/admin/load", json={"records": [added, changed]})
    await civil_drop.upload()
    second = await civil_drop.changes()
    assert sorted(c.row["列入决定书文号"] for c in second) == ["甘民社严〔2025〕3号", "甘民社严〔2026〕11号"]
    [new] = [c for c in second if c.row["列入决定书文号"] == "甘民社严〔2026〕11号"]
    observation = CIVIL_MAPPING.to_observation(new)
    assert observation is not None and observation.facts.subject_name == "甘肃省示例䶮𠮷慈善基金会"
    assert observation.target == PUBLISHED

    # Third: a removal with date and reason; the feed says so, with the row still in the file.
    civil_drop.sim.clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=BEIJING))
    key = {"统一社会信用代码": "53620000MA72MA033W", "列入决定书文号": "甘民社严〔2025〕7号"}
    await civil_drop.sim.admin("POST", "/admin/remove", json={**key, "date": "2026-11-28", "reason": "已整改"})
    await civil_drop.upload()
    [removal] = await civil_drop.changes()
    observation = CIVIL_MAPPING.to_observation(removal)
    assert observation is not None
    assert observation.target == stopped(StopReason.REMOVED) and observation.target.on == date(2026, 11, 28)
    assert observation.decided_on == date(2026, 11, 28)

    # The listing is the last snapshot, each key once, and agrees with the feed folded.
    listed: dict[str, NativeChange] = {}
    for kind in civil_affairs.LIST_KINDS:
        async for page in civil_drop.adapter.list_all(kind, 2):
            for change in page.rows:
                assert change.native_id not in listed
                listed[str(change.native_id)] = change
    folded: dict[str, NativeChange] = {}
    for change in [*first, *second, removal]:
        folded[str(change.native_id)] = change
    assert listed == folded
    assert len(listed) == 5


async def test_the_thirty_day_tail_then_absence(stats_drop: Drop) -> None:
    await stats_drop.changes()
    job = stats_drop.sim
    # A removal the department made 40 days ago: no snapshot ever showed it as removed.
    job.clock.set(datetime(2026, 6, 1, 9, 0, tzinfo=BEIJING))
    gone = {"统一社会信用代码": "91620302MA72TJ01XA", "认定文书编号": "甘统严信认〔2025〕4号"}
    await job.admin("POST", "/admin/remove", json={**gone, "date": "2026-04-20", "reason": "已整改"})
    # The row removed on 2026-11-20 is still in its tail on 12-20, out of it on 12-21.
    job.clock.set(datetime(2026, 12, 20, 9, 0, tzinfo=BEIJING))
    await stats_drop.upload()
    [absent] = await stats_drop.changes()
    assert absent.row["认定文书编号"] == "甘统严信认〔2025〕4号" and absent.row[ABSENT_FROM]
    observation = STATISTICS_MAPPING.to_observation(absent)
    assert observation is not None
    assert observation.target == stopped(StopReason.REMOVED) and observation.target.on is None  # not guessed
    job.clock.set(datetime(2026, 12, 21, 9, 0, tzinfo=BEIJING))
    await stats_drop.upload()
    [tail_over] = await stats_drop.changes()
    assert tail_over.row["认定文书编号"] == "兰统严信认〔2024〕1号" and tail_over.row[ABSENT_FROM]
    observation = STATISTICS_MAPPING.to_observation(tail_over)
    assert observation is not None  # the removal the tail showed stays what it was
    assert observation.target == stopped(StopReason.REMOVED) and observation.target.on == date(2026, 11, 20)
    listed = [
        c.row["认定文书编号"] async for page in stats_drop.adapter.list_all(statistics.LIST_KIND, 10) for c in page.rows
    ]
    assert sorted(listed) == ["庆统严信认〔2025〕2号", "甘统严信认〔2025〕9号"]


async def test_an_absence_past_the_rows_own_end_date_is_an_expiry(stats_drop: Drop) -> None:
    await stats_drop.changes()
    clock = stats_drop.sim.clock
    clock.set(datetime(2028, 6, 1, 9, 0, tzinfo=BEIJING))  # 甘…4号's 公示截止日期 2028-04-17 is past
    assert (await stats_drop.sim.admin("POST", "/admin/expire"))["expired"] == 1
    clock.set(datetime(2028, 7, 15, 9, 0, tzinfo=BEIJING))  # 庆…2号's 2028-06-29 too; 甘…4号's tail is over
    assert (await stats_drop.sim.admin("POST", "/admin/expire"))["expired"] == 1
    await stats_drop.upload()
    changes = by_doc(await stats_drop.changes(), "认定文书编号")
    assert set(changes) == {"甘统严信认〔2025〕4号", "庆统严信认〔2025〕2号", "兰统严信认〔2024〕1号"}
    # Absent, and the snapshot is past the row's own end date: the date proves expiry.
    absent = STATISTICS_MAPPING.to_observation(changes["甘统严信认〔2025〕4号"])
    assert absent is not None and ABSENT_FROM in changes["甘统严信认〔2025〕4号"].row
    assert absent.target == stopped(StopReason.EXPIRED) and absent.target.on == date(2028, 4, 18)
    # In its tail: the file's own signal, 公示期满 on its 移出日期.
    shown = STATISTICS_MAPPING.to_observation(changes["庆统严信认〔2025〕2号"])
    assert shown is not None and changes["庆统严信认〔2025〕2号"].row["移出原因"] == "公示期满"
    assert shown.target == stopped(StopReason.EXPIRED) and shown.target.on == date(2028, 7, 15)


async def test_a_half_written_file_is_held_back_then_taken_when_complete(either_drop: Drop) -> None:
    drop = either_drop
    department = drop.adapter.system
    mapping: Any = STATISTICS_MAPPING if department == "statistics" else CIVIL_MAPPING
    before = states(await drop.changes(), mapping)
    held_before = metric("creditgw_filedrop_files_total", system=department, outcome=PROCESSED)
    records = await drop.sim.records()
    doc = "认定文书编号" if department == "statistics" else "列入决定书文号"
    what = "处理处罚情况" if department == "statistics" else "列入事由"
    await drop.sim.admin("POST", "/admin/load", json={"records": [{**records[0], what: "更正后的内容"}]})
    await drop.fault("half_written")
    [half] = await drop.upload()
    assert half["kind"] == "half_written"
    assert await drop.changes() == []  # nothing of it: above all, no removal of every row
    assert await drop.adapter.held() == [half["name"]]
    assert metric("creditgw_filedrop_files_held", system=department) == 1
    assert await drop.changes() == []  # tried again, still incomplete
    # The transfer completes under the same name.
    (drop.drop / half["name"]).write_bytes(complete_bytes(drop.sim))
    [change] = await drop.changes()
    assert change.row[doc] == records[0][doc] and change.row[what] == "更正后的内容"
    assert await drop.adapter.held() == []
    assert metric("creditgw_filedrop_files_held", system=department) == 0
    assert metric("creditgw_filedrop_files_total", system=department, outcome=PROCESSED) == held_before + 1
    assert [f.outcome for f in await drop.adapter.files()] == [PROCESSED, PROCESSED]
    assert states(await drop.changes(), mapping) == {}
    assert before  # the first snapshot was read


async def test_a_half_written_file_that_never_completes_is_given_up_visibly(stats_drop: Drop) -> None:
    await stats_drop.changes()
    await stats_drop.fault("half_written")
    [half] = await stats_drop.upload()
    assert await stats_drop.changes() == []
    await stats_drop.sim.admin(
        "POST", "/admin/load", json={"records": [{**(await stats_drop.sim.records())[1], "法定代表人": "孙某"}]}
    )
    [later] = await stats_drop.upload()
    changes = await stats_drop.changes()
    # The later, complete snapshot is taken; the half one can only be older: given up, reported.
    assert [c.kind for c in changes] == [statistics.LIST_KIND, FILE_INCIDENT_KIND]
    assert changes[0].row["法定代表人"] == "孙某"
    incident = changes[1]
    assert incident.row["name"] == half["name"] and incident.row["outcome"] == GIVEN_UP
    with pytest.raises(UnmappableRow, match=f"file {half['name']}.*incomplete.*{later['name']}") as raised:
        STATISTICS_MAPPING.to_observation(incident)
    assert raised.value.field == "file"
    outcomes = {f.name: f.outcome for f in await stats_drop.adapter.files()}
    assert outcomes[half["name"]] == GIVEN_UP and outcomes[later["name"]] == PROCESSED
    assert await stats_drop.adapter.held() == []


async def test_a_held_file_is_given_up_after_the_hold_limit(tmp_path: Path) -> None:
    drop, state = tmp_path / "drop", tmp_path / "state"
    make = lambda clock: CivilAffairsConfig(clock=clock, drop_dir=drop, upload_on_start=False)  # noqa: E731
    async with running("civil_affairs", civil_app, make) as sim:
        now = [datetime.now(BEIJING)]
        adapter = civil_adapter(drop, state, hold_limit_s=600, clock=lambda: now[0])
        try:
            await sim.admin("POST", "/admin/faults", json={"half_written": True})
            [half] = (await sim.admin("POST", "/admin/upload"))["files"]
            assert (await adapter.fetch_changes(None, 10)).changes == []
            now[0] = now[0].replace(year=now[0].year + 1)  # long past the limit, still incomplete
            [incident] = (await adapter.fetch_changes(None, 10)).changes
            assert incident.kind == FILE_INCIDENT_KIND and incident.row["name"] == half["name"]
            assert "still incomplete after 600 s" in incident.row["reason"]
        finally:
            await adapter.close()


async def test_a_duplicate_upload_is_taken_once(stats_drop: Drop) -> None:
    await stats_drop.changes()
    await stats_drop.sim.admin(
        "POST", "/admin/load", json={"records": [{**(await stats_drop.sim.records())[0], "企业地址": "新地址"}]}
    )
    await stats_drop.fault("duplicate_upload")
    original, duplicate = await stats_drop.upload()
    [change] = await stats_drop.changes()
    assert change.row["企业地址"] == "新地址"
    taken = {f.name: f for f in await stats_drop.adapter.files()}
    assert taken[original["name"]].outcome == PROCESSED
    assert (
        taken[duplicate["name"]].outcome == DUPLICATE
        and taken[duplicate["name"]].detail == f"same bytes as {original['name']}"
    )
    assert taken[duplicate["name"]].sha256 == original["sha256"]


async def test_a_file_in_the_wrong_encoding_is_refused_visibly(civil_drop: Drop) -> None:
    await civil_drop.changes()
    refused_before = metric("creditgw_filedrop_files_total", system="civil_affairs", outcome=REFUSED)
    await civil_drop.sim.admin(
        "POST", "/admin/load", json={"records": [{**(await civil_drop.sim.records())[0], "列入事由": "新事由"}]}
    )
    await civil_drop.fault("wrong_encoding")
    [wrong] = await civil_drop.upload()
    [incident] = await civil_drop.changes()
    assert incident.kind == FILE_INCIDENT_KIND and incident.row["problem"] == "wrong_encoding"
    with pytest.raises(UnmappableRow, match=f"file {wrong['name']}.*refused: the file is UTF-8, not GB18030"):
        CIVIL_MAPPING.to_observation(incident)
    assert metric("creditgw_filedrop_files_total", system="civil_affairs", outcome=REFUSED) == refused_before + 1
    # The next correct upload carries the change; nothing of the refused file was applied.
    await civil_drop.upload()
    [change] = await civil_drop.changes()
    assert change.row["列入事由"] == "新事由" and change.row["社会组织名称"] == "甘肃省示例𠮷祥文化促进会"


async def test_a_restart_with_the_same_state_takes_nothing_twice(civil_drop: Drop) -> None:
    first = await civil_drop.changes()
    await civil_drop.fault("duplicate_upload")
    await civil_drop.upload()
    assert await civil_drop.changes() == []
    files = await civil_drop.adapter.files()
    await civil_drop.adapter.close()
    again = civil_adapter(civil_drop.drop, civil_drop.state)
    try:
        assert (await again.fetch_changes(civil_drop.cursor, 10)).changes == []  # from the saved cursor
        assert await again.files() == files  # no file read a second time
        replay = await again.fetch_changes(None, 100)  # from the start: the same log, same keys
        assert [c.change_key for c in replay.changes] == [c.change_key for c in first]
    finally:
        await again.close()


async def test_the_departments_take_no_writes(stats_drop: Drop) -> None:
    assert StatisticsAdapter.takes_writes is False and CivilAffairsAdapter.takes_writes is False
    with pytest.raises(PermanentError, match="takes no writes"):
        await stats_drop.adapter.write(NativeWrite(kind=statistics.LIST_KIND, row={}, business_key="x"))


def test_utf8_is_told_from_gb18030() -> None:
    text = "名单类型,社会组织名称\r\n严重违法失信名单,甘肃省示例𠮷祥文化促进会\r\n"
    assert looks_like_utf8(text.encode("utf-8"))
    assert looks_like_utf8(text.encode("utf-8")[:-5])  # a sample cut inside a character
    assert not looks_like_utf8(text.encode("gb18030"))
    assert not looks_like_utf8(b"a,b\r\n")


async def test_a_file_modified_within_the_settle_time_waits_for_the_next_scan(civil_drop: Drop) -> None:
    waiting = civil_adapter(civil_drop.drop, civil_drop.state / "other", settle_s=3600)
    try:
        [uploaded] = (await civil_drop.sim.admin("GET", "/admin/files"))["files"]
        assert (await waiting.fetch_changes(None, 10)).changes == [] and await waiting.files() == []
        hour_ago = time.time() - 7200
        os.utime(civil_drop.drop / uploaded["name"], (hour_ago, hour_ago))
        assert len((await waiting.fetch_changes(None, 10)).changes) == 4
    finally:
        await waiting.close()


async def test_foreign_and_dot_files_are_ignored(civil_drop: Drop) -> None:
    (civil_drop.drop / ".MZT_SHZZ_SXMD_20261126100000_0009.csv.part").write_bytes(b"half")
    (civil_drop.drop / "README.txt").write_text("drop directory of the 民政厅")
    (civil_drop.drop / "TJJ_YZSXQY_20261126100000_0001.xlsx").write_bytes(b"not ours")
    await civil_drop.changes()
    assert [f.name for f in await civil_drop.adapter.files()] == ["MZT_SHZZ_SXMD_20261126090000_0001.csv"]
    assert await civil_drop.adapter.held() == []


async def test_two_replicas_sharing_the_state_take_each_file_once(civil_drop: Drop) -> None:
    other = civil_adapter(civil_drop.drop, civil_drop.state)
    try:
        for round_no in range(3):
            await load(civil_drop, 0, 列入事由=f"事由{round_no}")
            await civil_drop.upload()
            mine, theirs = await asyncio.gather(
                civil_drop.adapter.fetch_changes(None, 100), other.fetch_changes(None, 100)
            )
            assert [c.change_key for c in mine.changes] == [c.change_key for c in theirs.changes]
        files = await civil_drop.adapter.files()
        assert [f.outcome for f in files] == [PROCESSED] * 4 and files == await other.files()
    finally:
        await other.close()


async def test_a_complete_file_that_is_not_the_template_is_refused_and_the_feed_goes_on(stats_drop: Drop) -> None:
    await stats_drop.changes()
    odd = stats_drop.drop / "TJJ_YZSXQY_20261126090000_0001a.xlsx"  # after the first upload, before the next
    with zipfile.ZipFile(odd, "w") as archive:
        archive.writestr("readme.txt", "不是工作簿")
    await load(stats_drop, 0, 企业地址="新地址")
    await stats_drop.upload()
    incident, change = await stats_drop.changes()
    assert incident.kind == FILE_INCIDENT_KIND and incident.row["problem"] == "not_the_template"
    assert "not an .xlsx workbook" in incident.row["reason"]
    assert change.row["企业地址"] == "新地址"


async def test_a_file_named_before_the_last_processed_one_is_older_and_changes_nothing(civil_drop: Drop) -> None:
    await civil_drop.changes()
    await load(civil_drop, 0, 列入事由="新事由")
    [newer] = await civil_drop.upload()
    await civil_drop.changes()
    late = civil_drop.drop / "MZT_SHZZ_SXMD_20261126080000_0000.csv"  # the export of an hour earlier
    late.write_bytes((civil_drop.drop / newer["name"]).read_bytes().replace("新事由".encode("gb18030"), b"x"))
    assert await civil_drop.changes() == []
    [taken] = [f for f in await civil_drop.adapter.files() if f.name == late.name]
    assert taken.outcome == SUPERSEDED and taken.detail == f"older than {newer['name']}, already processed"
