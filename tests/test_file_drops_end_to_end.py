"""The file-drop departments through the gateway, on SQLite and PostgreSQL: both simulators upload
into the drop directories the settings name, the pollers ingest the snapshots (records of the two
list categories, owned by their departments), a removal arrives as a stopped state, the 活动异常名录
is not tracked, and a file in the wrong encoding or one that never completes is in the visible
quarantine with its reason, while the feed goes on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.domain.categories import Category
from gateway.domain.identity import RecordIdentity
from gateway.runtime import Runtime
from gateway.sandbox import simulator_configs
from gateway.settings import Settings
from gateway.store.repo import Repo
from gateway.sync.connectors import build_connectors
from simulators.civil_affairs import CivilAffairsConfig
from simulators.clock import BEIJING, ManualClock
from simulators.runner import SYSTEMS, start_simulators
from simulators.statistics import StatisticsConfig
from tests.list_simulators import START
from tests.test_sync_end_to_end import fast_settings

DEPARTMENTS = ("statistics", "civil_affairs")


@dataclass
class Stack:
    runtime: Runtime
    urls: dict[str, str]
    clock: ManualClock

    async def poll(self) -> dict[str, dict[str, int]]:
        return {name: (await poller.poll_once()).outcomes for name, poller in self.runtime.pollers.items()}

    async def state(self, category: Category, authority: str, document: str) -> str | None:
        record_id = RecordIdentity.of(category, authority, document).record_id
        record = await self.runtime.db.run(lambda tx: Repo(tx).load_record(record_id), write=False)
        return None if record is None else record.state.target.label

    async def quarantined(self) -> list[dict[str, Any]]:
        rows = await self.runtime.db.run(
            lambda tx: tx.all("SELECT system, kind, reason, field, message FROM quarantine ORDER BY id"), write=False
        )
        return [dict(row) for row in rows]


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    clock = ManualClock(START)
    drops = {name: tmp_path / "drop" / name for name in DEPARTMENTS}
    configs = {
        "statistics": StatisticsConfig(clock=clock, drop_dir=drops["statistics"]),
        "civil_affairs": CivilAffairsConfig(clock=clock, drop_dir=drops["civil_affairs"]),
    }
    own = {"state_dir": tmp_path / "state", "scan_interval_s": 0, "settle_s": 0}
    settings = fast_settings(
        database_url,
        systems=list(DEPARTMENTS),
        statistics={"drop_dir": drops["statistics"], **own},
        civil_affairs={"drop_dir": drops["civil_affairs"], **own},
    )
    async with start_simulators(systems={name: SYSTEMS[name] for name in DEPARTMENTS}, configs=configs) as sims:
        runtime = await Runtime.open(settings, urls=dict(sims.urls))
        try:
            yield Stack(runtime, dict(sims.urls), clock)
        finally:
            await runtime.close()


async def admin(stack: Stack, system: str, method: str, path: str, **kwargs: Any) -> Any:
    async with aiohttp.ClientSession() as http, http.request(method, f"{stack.urls[system]}{path}", **kwargs) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return body


async def test_snapshots_become_records_and_bad_files_are_quarantined(stack: Stack) -> None:
    outcomes = await stack.poll()
    assert outcomes["statistics"].get("created") == 4  # five sheet rows, one key twice
    assert outcomes["civil_affairs"].get("created") == 2 and outcomes["civil_affairs"].get("untracked") == 2
    serious = Category.STATISTICS_SERIOUS
    assert await stack.state(serious, "甘肃省统计局", "甘统严信认〔2025〕9号") == "published"
    assert await stack.state(serious, "兰州市统计局", "兰统严信认〔2024〕1号") == "stopped:removed"
    org = Category.SOCIAL_ORG_SERIOUS
    assert await stack.state(org, "甘肃省民政厅", "甘民社严〔2025〕3号") == "published"
    assert await stack.state(org, "兰州市民政局", "兰民社异〔2025〕41号") is None  # 活动异常名录: not tracked
    record_id = RecordIdentity.of(serious, "甘肃省统计局", "甘统严信认〔2025〕9号").record_id
    record = await stack.runtime.db.run(lambda tx: Repo(tx).load_record(record_id), write=False)
    assert record is not None and record.facts.subject_name == "酒泉示例𠮷祥新能源有限公司"
    assert record.facts.content == "罚款人民币10万元"  # the later row of the key

    # A removal in the department's system reaches the gateway with the next snapshot.
    stack.clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=BEIJING))
    key = {"统一社会信用代码": "53620000MA72MA033W", "列入决定书文号": "甘民社严〔2025〕7号"}
    await admin(stack, "civil_affairs", "POST", "/admin/remove", json={**key, "date": "2026-11-28", "reason": ""})
    # Bad files first: a wrong encoding (civil affairs), a half-written one that a later file supersedes.
    await admin(stack, "civil_affairs", "POST", "/admin/faults", json={"wrong_encoding": True})
    await admin(stack, "civil_affairs", "POST", "/admin/upload")
    await admin(stack, "statistics", "POST", "/admin/faults", json={"half_written": True})
    await admin(stack, "statistics", "POST", "/admin/upload")
    await stack.poll()
    assert await stack.state(org, "甘肃省民政厅", "甘民社严〔2025〕7号") == "published"  # refused: nothing applied
    assert await stack.state(serious, "甘肃省统计局", "甘统严信认〔2025〕9号") == "published"  # no removal of all
    await admin(stack, "civil_affairs", "POST", "/admin/upload")
    await admin(stack, "statistics", "POST", "/admin/upload")
    await stack.poll()
    assert await stack.state(org, "甘肃省民政厅", "甘民社严〔2025〕7号") == "stopped:removed"
    quarantined = await stack.quarantined()
    assert [(q["system"], q["kind"], q["reason"], q["field"]) for q in quarantined] == [
        ("civil_affairs", "file", "unmappable", "file"),
        ("statistics", "file", "unmappable", "file"),
    ]
    assert "refused: the file is UTF-8, not GB18030 as agreed" in quarantined[0]["message"]
    assert "incomplete: not a complete .xlsx" in quarantined[1]["message"]
    assert await stack.poll() == {"statistics": {}, "civil_affairs": {}}  # nothing again


async def test_the_sandbox_starts_the_departments_on_the_drop_directories_the_adapters_read(tmp_path: Path) -> None:
    own = {"state_dir": tmp_path / "state", "settle_s": 0}
    settings = Settings(
        systems=list(DEPARTMENTS),
        statistics={"drop_dir": tmp_path / "tjj", **own},
        civil_affairs={"drop_dir": tmp_path / "mzt", **own},
    )
    configs = simulator_configs(settings)  # what `serve --simulate` starts them with
    async with start_simulators(systems={name: SYSTEMS[name] for name in DEPARTMENTS}, configs=configs) as sims:
        connectors = build_connectors(settings, dict(sims.urls))
        try:
            for name, connector in connectors.items():
                page = await connector.adapter.fetch_changes(None, 100)
                assert len(page.changes) == 4, name  # the department's upload at start, read
            assert all(path.name.startswith("TJJ_YZSXQY_") for path in (tmp_path / "tjj").iterdir())
        finally:
            for connector in connectors.values():
                await connector.adapter.close()
