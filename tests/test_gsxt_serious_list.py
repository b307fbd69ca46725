"""GSXT's 市场监督管理严重违法失信名单 (`seriousillegal`, SAMR Order 44; docs/protocols.md §2a) read by
the real adapter from the real simulator: the change feed and the full listing map every row to
SAMR_SERIOUS facts, the removal kinds map to their stop reasons with the removal date, and the
gateway never writes the table (GSXT owns it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, datetime

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.contract import UnmappableRow
from gateway.domain.categories import Category, SubjectType, System
from gateway.domain.model import PUBLISHED, StopReason, stopped
from mappings.gsxt_gansu import GsxtGansuMapping
from mappings.transforms import NotWritable
from simulators.clock import BEIJING, ManualClock
from simulators.gsxt_gansu import GsxtConfig, create_app
from tests.adapter_contract import CONTRACT_FACTS, drain, listing, observations
from tests.test_adapter_gsxt_gansu import APP_KEY, SECRET, GsxtHarness

MAPPING = GsxtGansuMapping()
CLOCK = ManualClock(datetime(2026, 12, 3, 10, 0, tzinfo=BEIJING))  # the simulator's, set per test
LISTED = {"table": "seriousillegal", "penDecNo": "兰市监严列〔2025〕6号", "decOrgCode": "11620100MA72SC0001"}


@pytest.fixture
async def gsxt() -> AsyncIterator[GsxtHarness]:
    CLOCK.set(datetime.now(BEIJING))  # GSXT refuses requests 300 s off its clock
    server = TestServer(create_app(GsxtConfig(credentials={APP_KEY: SECRET}, serious_list=True, clock=CLOCK)))
    await server.start_server()
    async with aiohttp.ClientSession() as admin:
        harness = GsxtHarness(server, admin)
        try:
            yield harness
        finally:
            await harness.close()
            await server.close()


async def test_the_feed_and_the_listing_map_the_serious_list(gsxt: GsxtHarness) -> None:
    adapter = gsxt.make()
    _, changes, _ = await drain(adapter, None, page_size=3)
    serious = [o for o in observations(MAPPING, changes) if o.facts.category is Category.SAMR_SERIOUS]
    assert {o.native_id for o in serious} == {"62SX2025000001", "62SX2025000002", "62SX2023000009"}
    by_number = {o.facts.document_number: o for o in serious}
    lower = by_number["甘市监严列〔2025〕2号"].facts
    assert lower.subject_code == "91620502MA72TX0183"  # keyed in lower case, normalised
    assert lower.subject_type is SubjectType.LEGAL_ENTITY and lower.owner is System.GSXT_GANSU
    assert lower.mirrors == (System.CREDITCHINA_GANSU,)
    assert lower.decision_date == date(2025, 9, 15) and lower.authority_code == "11620000MA72SC0002"
    removed = by_number["白市监严列〔2023〕1号"]
    assert removed.target == stopped(StopReason.REMOVED) and removed.target.on == date(2025, 10, 9)
    assert removed.decided_on == date(2025, 10, 9)
    listed = [o for page in await listing(adapter, "seriousillegal", page_size=2) for o in observations(MAPPING, page)]
    assert {(o.facts, o.target) for o in listed} == {(o.facts, o.target) for o in serious}


@pytest.mark.parametrize(
    ("rem_type", "reason"),
    [("1", StopReason.EXPIRED), ("2", StopReason.REMOVED), ("3", StopReason.WITHDRAWN), ("4", StopReason.REMOVED)],
)
async def test_each_removal_kind_maps_to_its_stop(gsxt: GsxtHarness, rem_type: str, reason: StopReason) -> None:
    adapter = gsxt.make()
    cursor, _, _ = await drain(adapter)
    now = datetime.now(BEIJING)
    # Listed 2025-04-08: the 3 years end 2028-04-08. The operator acts on that day (GSXT's clock
    # moved there for the call only: it refuses requests 300 s off its clock).
    day = date(2028, 4, 8) if rem_type == "1" else now.date()
    CLOCK.set(datetime(day.year, day.month, day.day, 9, 0, tzinfo=BEIJING))
    await gsxt.admin("POST", "/admin/repair", {**LISTED, "remType": rem_type})
    CLOCK.set(now)
    _, changes, _ = await drain(adapter, cursor)
    [observation] = observations(MAPPING, changes)
    assert observation.target == stopped(reason) and observation.target.on == day
    await gsxt.admin("POST", "/admin/repair", {**LISTED, "restore": True})
    _, again, _ = await drain(adapter, cursor)
    assert observations(MAPPING, again)[-1].target == PUBLISHED


async def test_a_removal_without_a_type_is_a_removal_and_an_unknown_type_is_quarantined(gsxt: GsxtHarness) -> None:
    adapter = gsxt.make()
    cursor, _, _ = await drain(adapter)
    records = await gsxt.admin("GET", "/admin/records?table=seriousillegal")
    [row] = [r for r in records["records"] if r["penDecNo"] == LISTED["penDecNo"]]
    row = {k: v for k, v in row.items() if k != "table"}
    bare = {**row, "isMove": "1", "remType": "", "remDate": "2026-12-01", "remExcpresRea": ""}
    await gsxt.admin("POST", "/admin/load", {"table": "seriousillegal", "records": [bare]})
    _, changes, _ = await drain(adapter, cursor)
    [observation] = observations(MAPPING, changes)
    assert observation.target == stopped(StopReason.REMOVED) and observation.target.on == date(2026, 12, 1)
    odd = replace(changes[-1], row={**changes[-1].row, "remType": "9"})
    with pytest.raises(UnmappableRow) as caught:
        MAPPING.to_observation(odd)
    assert caught.value.field == "remType"


def test_gsxt_never_takes_a_serious_list_write() -> None:
    with pytest.raises(NotWritable):
        MAPPING.to_write(CONTRACT_FACTS[Category.SAMR_SERIOUS](1), PUBLISHED, idempotency_key="k")
