"""The hrss 前置库 adapter through the shared feed contract (tests/adapter_contract.py `FeedContract`),
on a real MariaDB, with the store on SQLite and PostgreSQL. Its transport faults (a locked table, a
dropped connection, rows written out of order) are in tests/test_adapter_hrss.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.frontdb import FrontDbAddress, FrontDbLimits
from adapters.hrss import Cursor, HrssAdapter
from adapters.http import InCallRetry
from gateway.contract import NativeChange, SystemAdapter, SystemMapping
from gateway.domain.model import RecordFacts
from mappings.hrss import KIND, HrssMapping
from simulators.hrss import HrssConfig, create_app
from tests.adapter_contract import FeedContract, Harness
from tests.conftest import mariadb_address

pytestmark = pytest.mark.mariadb


def seeded_unit(n: int) -> dict[str, str]:
    """A unit listed in January 2025 (so an early removal, six months on, is allowed now)."""
    row = {
        "DXBH": f"RS2026-C{n:04d}", "RDWSH": f"甘人社失惩〔2026〕{n}号", "DXLX": "1",
        "DXMC": f"兰州合同{n}劳务有限公司", "TYSHXYDM": "91620121MA72RN01XM", "LRSY": "拖欠农民工工资",
        "SJJE": "1000.00", "RDBM": "甘肃省人力资源和社会保障厅", "RDBMDM": "11620000MA72RN0959",
        "LRRQ": "2025-01-10", "LRQX": "2028-01-09",
    }  # fmt: skip
    return row


class HrssHarness(Harness):
    system = "hrss"
    takes_writes: ClassVar[bool] = False
    categories = ()
    listing_kinds = (KIND,)
    _mapping = HrssMapping()
    info: dict[str, Any]

    def build(self, *, timeout: float, page_size: int, retry: InCallRetry) -> SystemAdapter:
        return HrssAdapter(
            address=FrontDbAddress(
                host=self.info["host"],
                port=self.info["port"],
                user=self.info["user"],
                password="",
                database=self.info["database"],
            ),
            table=self.info["table"],
            limits=FrontDbLimits(statement_timeout_s=max(timeout, 1.0)),
            page_size=page_size,
            kind=KIND,
        )

    @property
    def mapping(self) -> SystemMapping:
        return self._mapping

    def cursor_position(self, cursor: str) -> Any:
        return Cursor.decode(cursor)

    def business_key_label(self, facts: RecordFacts) -> str:
        return facts.document_number.rsplit("#", 1)[-1]  # RDWSH#DXBH: the stats count by DXBH

    async def seed_native(self, count: int, start: int) -> list[str]:
        records = [seeded_unit(start + i) for i in range(count)]
        await self.admin("POST", "/admin/load", {"records": records})
        return [record["DXBH"] for record in records]

    async def remove_native(self, label: str) -> None:
        # Early removal after correction (more than six months after the 2025-01-10 listing).
        await self.admin("POST", "/admin/remove", {"DXBH": label, "kind": "early", "reason": "已清偿"})

    def native_label(self, change: NativeChange) -> str:
        return str(change.row.get("DXBH"))

    async def disorder(self) -> bool:
        await self.faults(out_of_order=True, late_s=3600)
        return True


@pytest.fixture
async def hrss_harness() -> AsyncIterator[HrssHarness]:
    host, port = mariadb_address()
    server = TestServer(create_app(HrssConfig(host=host, port=port)))
    await server.start_server()
    async with aiohttp.ClientSession() as admin:
        harness = HrssHarness(server, admin)
        try:
            harness.info = await harness.admin("GET", "/admin/info")
            yield harness
        finally:
            await harness.close()
            await server.close()


class TestHrssFeed(FeedContract):
    @pytest.fixture
    async def harness(self, hrss_harness: HrssHarness) -> AsyncIterator[Harness]:
        yield hrss_harness
