"""The feed contract (tests/adapter_contract.py FeedContract) on the two file-drop departments:
their simulators write real files into a drop directory, the adapters read them. Rows come and go
through the simulators' admin API, and each change reaches the drop directory the department's
way, with an upload of its whole list (`/admin/upload`). The department's "repeat what it serves"
is a duplicate upload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.civil_affairs import CivilAffairsAdapter
from adapters.http import InCallRetry
from adapters.statistics import StatisticsAdapter
from gateway.contract import NativeChange, SystemAdapter, SystemMapping
from gateway.domain.model import RecordFacts
from mappings import civil_affairs, statistics
from simulators.civil_affairs import CivilAffairsConfig
from simulators.civil_affairs import create_app as civil_app
from simulators.clock import BEIJING, ManualClock
from simulators.statistics import StatisticsConfig
from simulators.statistics import create_app as statistics_app
from tests.adapter_contract import FeedContract, Harness
from tests.list_simulators import START


class FileDropHarness(Harness):
    takes_writes = False
    key_fields: ClassVar[tuple[str, str]]

    def __init__(self, server: TestServer, admin: aiohttp.ClientSession, drop: Path, state: Path) -> None:
        super().__init__(server, admin)
        self.drop = drop
        self.state = state

    def cursor_position(self, cursor: str) -> Any:
        name, _, count = cursor.rpartition(":")
        return (name, int(count or 0))

    def business_key_label(self, facts: RecordFacts) -> str:
        return f"{facts.subject_code}|{facts.document_number}"

    def native_label(self, change: NativeChange) -> str:
        return "|".join(str(change.row.get(name, "")) for name in self.key_fields)

    async def upload(self) -> None:
        await self.admin("POST", "/admin/upload")

    async def disorder(self) -> bool:
        await self.faults(duplicate_upload=True)
        await self.upload()
        return True

    async def seed_native(self, count: int, start: int) -> list[str]:
        rows = [self.row(start + i) for i in range(count)]
        await self.admin("POST", "/admin/load", {"records": rows})
        await self.upload()
        return ["|".join(row[name] for name in self.key_fields) for row in rows]

    async def remove_native(self, label: str) -> None:
        key = dict(zip(self.key_fields, label.split("|"), strict=True))
        await self.admin("POST", "/admin/remove", {**key, "kind": "early", "reason": "", "date": self.today})
        await self.upload()

    today: ClassVar[str]

    def row(self, index: int) -> dict[str, str]:
        raise NotImplementedError


class StatisticsHarness(FileDropHarness):
    system = "statistics"
    listing_kinds = (statistics.LIST_KIND,)
    key_fields = statistics.KEY_FIELDS
    today = "2026-11-26"

    @property
    def mapping(self) -> SystemMapping:
        return statistics.StatisticsMapping()

    def build(self, *, timeout: float, page_size: int, retry: InCallRetry) -> SystemAdapter:
        return StatisticsAdapter(
            drop_dir=self.drop,
            state_dir=self.state,
            key_fields=statistics.KEY_FIELDS,
            default_kind=statistics.LIST_KIND,
            scan_interval_s=0,
            settle_s=0,
        )

    def row(self, index: int) -> dict[str, str]:
        return {
            "企业名称": f"兰州合同测试{index}号商贸有限公司",
            "统一社会信用代码": f"91620102MA72C{index:04d}X",
            "法定代表人": "赵某",
            "企业地址": "甘肃省兰州市城关区示例路9号",
            "统计严重失信行为": "虚报统计资料",
            "处理处罚情况": "警告",
            "认定机关": "兰州市统计局",
            "认定文书编号": f"兰统严信认〔2025〕9{index:03d}号",
            "认定日期": "2025-01-10",
            "公示截止日期": "2028-01-09",
            "状态": "公示中",
            "移出日期": "",
            "移出原因": "",
        }


class CivilAffairsHarness(FileDropHarness):
    system = "civil_affairs"
    listing_kinds = civil_affairs.LIST_KINDS
    key_fields = civil_affairs.KEY_FIELDS
    today = "2027-01-05"

    @property
    def mapping(self) -> SystemMapping:
        return civil_affairs.CivilAffairsMapping()

    def build(self, *, timeout: float, page_size: int, retry: InCallRetry) -> SystemAdapter:
        return CivilAffairsAdapter(
            drop_dir=self.drop,
            state_dir=self.state,
            key_fields=civil_affairs.KEY_FIELDS,
            kind_field=civil_affairs.KIND_FIELD,
            scan_interval_s=0,
            settle_s=0,
        )

    def row(self, index: int) -> dict[str, str]:
        return {
            "名单类型": civil_affairs.SERIOUS_LIST,
            "社会组织名称": f"甘肃省合同测试{index}号促进会",
            "统一社会信用代码": f"51620102MA72C{index:04d}X",
            "登记管理机关": "甘肃省民政厅",
            "列入事由": "弄虚作假办理变更登记",
            "列入日期": "2026-06-01",
            "列入决定书文号": f"甘民社严〔2026〕9{index:03d}号",
            "作出决定机关": "甘肃省民政厅",
            "状态": "在列",
            "移出日期": "",
            "移出事由": "",
            "移出决定机关": "",
        }


@pytest.fixture
async def statistics_harness(tmp_path: Path) -> AsyncIterator[FileDropHarness]:
    drop = tmp_path / "drop"
    server = TestServer(statistics_app(StatisticsConfig(clock=ManualClock(START), drop_dir=drop)))
    await server.start_server()
    async with aiohttp.ClientSession() as admin:
        harness = StatisticsHarness(server, admin, drop, tmp_path / "state")
        try:
            yield harness
        finally:
            await harness.close()
            await server.close()


@pytest.fixture
async def civil_affairs_harness(tmp_path: Path) -> AsyncIterator[FileDropHarness]:
    """The department's register with its 活动异常名录 rows removed long ago (out of the files):
    the contract counts one record per row, and those rows are not tracked (mappings/civil_affairs)."""
    drop = tmp_path / "drop"
    clock = ManualClock(datetime(2027, 1, 5, 9, 0, tzinfo=BEIJING))  # the 2026-11-25 removal is out of the tail
    server = TestServer(civil_app(CivilAffairsConfig(clock=clock, drop_dir=drop, upload_on_start=False)))
    await server.start_server()
    async with aiohttp.ClientSession() as admin:
        harness = CivilAffairsHarness(server, admin, drop, tmp_path / "state")
        try:
            key = {"统一社会信用代码": "52620000ma72ma017a", "列入决定书文号": "兰民社异〔2025〕41号"}
            await harness.admin("POST", "/admin/remove", {**key, "kind": "early", "reason": "", "date": "2026-11-20"})
            await harness.upload()
            yield harness
        finally:
            await harness.close()
            await server.close()


class TestStatisticsFeedContract(FeedContract):
    @pytest.fixture
    async def harness(self, statistics_harness: FileDropHarness) -> AsyncIterator[Harness]:
        yield statistics_harness


class TestCivilAffairsFeedContract(FeedContract):
    @pytest.fixture
    async def harness(self, civil_affairs_harness: FileDropHarness) -> AsyncIterator[Harness]:
        yield civil_affairs_harness
