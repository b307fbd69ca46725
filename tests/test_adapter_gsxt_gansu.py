"""GSXT（甘肃） adapter against the real simulator (contract suite plus signed-JSON specifics)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.creditchina_gansu import change_from_row
from adapters.gsxt_gansu import GsxtGansuAdapter
from adapters.http import InCallRetry
from gateway.contract import NativeChange, NativeWrite, SystemAdapter, SystemMapping
from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.model import PUBLISHED, StopReason, stopped
from gateway.domain.retry import PermanentError, RetryableError
from mappings.creditchina_gansu import CreditChinaGansuMapping
from mappings.gsxt_gansu import NATIVE_ID_FIELDS, GsxtGansuMapping
from simulators.gsxt_gansu import GsxtConfig, create_app
from simulators.gsxt_gansu.store import decode_cursor
from simulators.world import build_world, creditchina_gansu_rows
from tests.adapter_contract import (
    CONTRACT_FACTS,
    FAST_RETRY,
    AdapterContract,
    Harness,
    contract_facts,
    drain,
    listing,
    of_record,
)

APP_KEY, SECRET = "creditgw-test", "gsxt-Secret-42"


class GsxtHarness(Harness):
    system = "gsxt_gansu"
    secrets = (SECRET,)
    categories = (Category.ADMIN_PENALTY, Category.WORK_SAFETY)
    listing_kinds = ("punish", "otherpunish", "opanomaly", "seriousillegal", "othersxmd")
    _mapping = GsxtGansuMapping()

    def build(self, *, timeout: float, page_size: int, retry: InCallRetry) -> SystemAdapter:
        return GsxtGansuAdapter(
            base_url=self.url,
            app_key=APP_KEY,
            secret=SECRET,
            timeout=timeout,
            page_size=page_size,
            retry=retry,
            native_id_fields=NATIVE_ID_FIELDS,
        )

    @property
    def mapping(self) -> SystemMapping:
        return self._mapping

    def cursor_position(self, cursor: str) -> Any:
        return decode_cursor(cursor)  # test-only peek: the adapter treats it as opaque

    def business_key_label(self, facts: Any) -> str:
        table = "othersxmd" if facts.category is Category.WORK_SAFETY else "otherpunish"
        return f"{table}:{facts.document_number}|{facts.authority_code}"

    async def seed_native(self, count: int, start: int) -> list[str]:
        # Other departments' penalties as GSXT holds them, numbered far from the write tests'.
        records = [dict(self.write_for(contract_facts(500 + start + i)).row) for i in range(count)]
        await self.admin("POST", "/admin/load", {"table": "otherpunish", "records": records})
        return [f"otherpunish:{r['penDecNo']}|{r['judAuthCode']}" for r in records]

    async def remove_native(self, label: str) -> None:
        table, key = label.split(":", 1)
        document, authority = key.split("|")
        await self.admin("POST", "/admin/repair", {"table": table, "penDecNo": document, "judAuthCode": authority})

    def native_label(self, change: NativeChange) -> str:
        row = change.row
        by_org = ("opanomaly", "seriousillegal", "othersxmd")
        authority = row.get("decOrgCode") if change.kind in by_org else row.get("judAuthCode")
        return f"{change.kind}:{row.get('penDecNo')}|{authority}"


@pytest.fixture
async def gsxt() -> AsyncIterator[GsxtHarness]:
    server = TestServer(create_app(GsxtConfig(credentials={APP_KEY: SECRET})))
    await server.start_server()
    async with aiohttp.ClientSession() as admin:
        harness = GsxtHarness(server, admin)
        try:
            yield harness
        finally:
            await harness.close()
            await server.close()


class TestGsxtGansuAdapter(AdapterContract):
    @pytest.fixture
    async def harness(self, gsxt: GsxtHarness) -> AsyncIterator[Harness]:
        yield gsxt


# --- GSXT specifics ---------------------------------------------------------------------------


async def test_same_request_id_is_answered_once(gsxt: GsxtHarness) -> None:
    adapter = gsxt.make()
    write = gsxt.write_for(contract_facts(60))
    first = await adapter.write(write)
    second = await adapter.write(write)
    assert first.native_id == second.native_id
    assert (await gsxt.stats())["requests"]["otherpunish/save"] == {"ok": 1, "replay": 1}


async def test_bad_secret_is_permanent(gsxt: GsxtHarness) -> None:
    adapter = GsxtGansuAdapter(base_url=gsxt.url, app_key=APP_KEY, secret="not-it", retry=FAST_RETRY)
    try:
        with pytest.raises(PermanentError) as caught:
            await adapter.fetch_changes(None, 10)
        assert (caught.value.code, caught.value.status) == ("1001", 401)
        assert "not-it" not in repr(caught.value.context())
    finally:
        await adapter.close()


async def test_clock_skew_is_retryable_not_a_dead_letter(gsxt: GsxtHarness) -> None:
    adapter = GsxtGansuAdapter(
        base_url=gsxt.url,
        app_key=APP_KEY,
        secret=SECRET,
        retry=FAST_RETRY,
        clock=lambda: datetime.now(UTC) + timedelta(minutes=20),
    )
    try:
        with pytest.raises(RetryableError) as caught:
            await adapter.fetch_changes(None, 10)
        assert caught.value.code == "1001"
    finally:
        await adapter.close()


async def test_natural_person_is_refused_by_gsxt_too(gsxt: GsxtHarness) -> None:
    """The mapping never builds such a record; should one reach GSXT it is a validation error."""
    adapter = gsxt.make()
    facts = contract_facts(61)
    row = dict(gsxt.write_for(facts).row, entType="自然人")
    write = NativeWrite(kind="otherpunish", row=row, business_key="x", idempotency_key="np-1")
    with pytest.raises(PermanentError) as caught:
        await adapter.write(write)
    assert getattr(caught.value, "field", None) == "entType"


async def test_a_work_safety_listing_and_its_removal_round_trip_through_gsxt(gsxt: GsxtHarness) -> None:
    """The mirrored row maps back to the owner's record (identity verbatim), removal date and all."""
    adapter = gsxt.make()
    cursor, _, _ = await drain(adapter)
    facts = replace(CONTRACT_FACTS[Category.WORK_SAFETY](62), authority_code="甘肃省应急管理厅")
    removed = stopped(StopReason.EXPIRED, date(2028, 1, 5))
    await adapter.write(gsxt.write_for(facts))
    await adapter.write(gsxt.write_for(facts, removed))
    _, changes, _ = await drain(adapter, cursor)
    assert [o.target for o in of_record(gsxt.mapping, changes, facts)] == [PUBLISHED, removed]
    listed = [row for page in await listing(adapter, "othersxmd") for row in page]
    assert [o.target for o in of_record(gsxt.mapping, listed, facts)] == [removed]


async def test_a_person_on_a_list_is_refused_by_gsxt_too(gsxt: GsxtHarness) -> None:
    adapter = gsxt.make()
    row = dict(gsxt.write_for(CONTRACT_FACTS[Category.WORK_SAFETY](63)).row, entType="自然人", uniSCID="")
    write = NativeWrite(kind="othersxmd", row=row, business_key="x", idempotency_key="np-2")
    with pytest.raises(PermanentError) as caught:
        await adapter.write(write)
    assert getattr(caught.value, "field", None) == "entType"
    assert [row for page in await listing(adapter, "othersxmd") for row in page] == []


async def test_only_otherpunish_is_written(gsxt: GsxtHarness) -> None:
    adapter = gsxt.make()
    with pytest.raises(PermanentError):
        await adapter.write(NativeWrite(kind="punish", row={}, business_key="x", idempotency_key="k"))
    with pytest.raises(PermanentError):
        await adapter.write(NativeWrite(kind="otherpunish", row={}, business_key="x", idempotency_key=""))


async def test_every_creditchina_penalty_gsxt_collects_is_accepted(gsxt: GsxtHarness) -> None:
    """信用中国's seed penalties of enterprises by other departments (both generations), written
    here as GSXT's collected copy: GSXT's own validation accepts every record this mapping builds."""
    creditchina = CreditChinaGansuMapping()
    adapter = gsxt.make()
    written = 0
    for index, row in enumerate(creditchina_gansu_rows(build_world()), start=1):
        observation = creditchina.to_observation(change_from_row({**row, "ID": str(index)}))
        assert observation is not None
        facts = observation.facts
        if (
            facts.authority_domain is not AuthorityDomain.OTHER
            or facts.subject_type is SubjectType.NATURAL_PERSON
            or row["ROWTYPE"] != "CF"
        ):
            continue
        await adapter.write(gsxt.mapping.to_write(facts, PUBLISHED, idempotency_key=f"cc-{index}"))
        written += 1
    assert written > 0
    _, changes, _ = await drain(gsxt.make())
    assert changes


async def test_changes_within_one_second_are_each_read() -> None:
    """Issue 9, cause 2, checked on GSXT's feed style: its `updateTime` has whole seconds too, but
    each change is its own feed item with its own `seq`, and the key is the seq: a record repaired,
    restored and repaired again within one second gives three changes, in order, none lost."""
    from simulators.clock import BEIJING, ManualClock

    second = datetime(2026, 11, 2, 10, 0, 0, tzinfo=BEIJING)
    held = ManualClock(second)
    server = TestServer(create_app(GsxtConfig(credentials={APP_KEY: SECRET}, clock=held)))
    await server.start_server()
    adapter = GsxtGansuAdapter(
        base_url=str(server.make_url("")).rstrip("/"),
        app_key=APP_KEY,
        secret=SECRET,
        clock=lambda: held.now().astimezone(UTC),
        retry=FAST_RETRY,
    )
    try:
        async with aiohttp.ClientSession() as admin:
            harness = GsxtHarness(server, admin)
            cursor, _, _ = await drain(adapter)
            rows = (await harness.admin("GET", "/admin/records?published=true"))["records"]
            row = next(r for r in rows if r["table"] == "punish")
            key = {"table": "punish", "penDecNo": row["penDecNo"], "judAuthCode": row["judAuthCode"]}
            seen = []
            for step, restore in enumerate((False, True, False)):
                held.set(second + timedelta(milliseconds=100 + 300 * step))
                assert (await harness.admin("POST", "/admin/repair", {**key, "restore": restore}))["changed"]
                cursor, changes, _ = await drain(adapter, cursor)
                assert len(changes) == 1, changes
                seen.append(changes[0])
    finally:
        await adapter.close()
        await server.close()
    assert [change.row["pubFlag"] for change in seen] == ["0", "1", "0"]
    assert len({change.change_key for change in seen}) == 3
    assert [c.source_version for c in seen] == sorted(c.source_version for c in seen)
    assert len({change.changed_at for change in seen}) == 1  # one second
