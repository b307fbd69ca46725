"""重大税收违法失信主体 (tax) adapter and mapping against the real simulator: the feed contract, the
HTTP fault contract, rows sharing a `gxsj` second across page boundaries, and the bureau's own
awkward rows (masked IDs, a lower-case 纳税人识别号, an old 15-digit number, a removal without a
reason column)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.http import InCallRetry
from adapters.stamped_feed import StampCursor
from adapters.tax import KIND, TaxAdapter, envelope
from gateway.contract import NativeChange, SystemAdapter, SystemMapping, UnmappableRow
from gateway.domain.categories import Category, SubjectType
from gateway.domain.model import PUBLISHED, StopReason, stopped
from gateway.domain.retry import PermanentError
from mappings.tax import KEY_FIELDS, PERSONAL_ID_FIELDS, TaxMapping
from simulators.clock import BEIJING, ManualClock
from simulators.tax import TaxConfig, create_app
from tests.adapter_contract import FAST_RETRY, FeedContract, Harness, HttpFaultContract, drain, listing

USERNAME, PASSWORD = "creditgw", "tax-Secret-9"


def tax_row(number: int, **changes: Any) -> dict[str, Any]:
    row = {
        "xh": str(100 + number),
        "tax_nm": f"兰州示例{number}号贸易有限公司",
        "tax_no": "91620102MA72CT0140",
        "legal_repre": "陈某",
        "legal_repre_id": "620102********1234",
        "main_illg_fact": "虚假申报少缴税款",
        "case_nature": "偷税",
        "punish_basis": "《中华人民共和国税收征收管理法》第六十三条",
        "qdwsh": f"兰税一稽罚〔2026〕{number}号",
        "swjg_mc": "国家税务总局兰州市税务局第一稽查局",
        "entry_tm": "20260105",
    }
    row.update(changes)
    return row


class TaxHarness(Harness):
    system = "tax"
    secrets = (PASSWORD,)
    listing_kinds = (KIND,)
    takes_writes = False
    busy_codes = ("9999",)
    _mapping = TaxMapping()

    def build(self, *, timeout: float, page_size: int, retry: InCallRetry) -> SystemAdapter:
        return TaxAdapter(
            base_url=self.url,
            username=USERNAME,
            password=PASSWORD,
            key_fields=KEY_FIELDS,
            timeout=timeout,
            page_size=page_size,
            retry=retry,
            secret_fields=PERSONAL_ID_FIELDS,
        )

    @property
    def mapping(self) -> SystemMapping:
        return self._mapping

    def cursor_position(self, cursor: str) -> Any:
        return StampCursor.parse(cursor).since  # yyyyMMddHHmmss: text order is time order

    def business_key_label(self, facts: Any) -> str:
        return f"{facts.subject_code}|{facts.document_number}"

    def native_label(self, change: NativeChange) -> str:
        return f"{change.row.get('tax_no')}|{change.row.get('qdwsh')}"

    async def seed_native(self, count: int, start: int) -> list[str]:
        rows = [tax_row(start + i) for i in range(count)]
        await self.admin("POST", "/admin/load", {"records": rows})
        return [f"{row['tax_no']}|{row['qdwsh']}" for row in rows]

    async def remove_native(self, label: str) -> None:
        tax_no, qdwsh = label.split("|")
        await self.admin("POST", "/admin/remove", {"tax_no": tax_no, "qdwsh": qdwsh, "date": "2026-06-01"})


@pytest.fixture
async def tax() -> AsyncIterator[TaxHarness]:
    server = TestServer(create_app(TaxConfig(credentials={USERNAME: PASSWORD})))
    await server.start_server()
    async with aiohttp.ClientSession() as admin:
        harness = TaxHarness(server, admin)
        try:
            yield harness
        finally:
            await harness.close()
            await server.close()


class TestTaxAdapter(FeedContract, HttpFaultContract):
    @pytest.fixture
    async def harness(self, tax: TaxHarness) -> AsyncIterator[Harness]:
        yield tax


# --- one gxsj second, many rows, page boundaries ----------------------------------------------


@pytest.fixture
async def held_tax() -> AsyncIterator[tuple[TaxHarness, ManualClock]]:
    """A bureau whose clock stands still: every row loaded now shares one gxsj second."""
    clock = ManualClock(datetime(2026, 11, 26, 9, 0, 0, tzinfo=BEIJING))
    server = TestServer(create_app(TaxConfig(credentials={USERNAME: PASSWORD}, clock=clock)))
    await server.start_server()
    async with aiohttp.ClientSession() as admin:
        harness = TaxHarness(server, admin)
        try:
            yield harness, clock
        finally:
            await harness.close()
            await server.close()


async def test_a_second_of_more_rows_than_a_page_is_read_whole_once(held_tax: tuple[TaxHarness, ManualClock]) -> None:
    """Seven rows share one gxsj, a page holds three: the cursor stays on that second, the rows
    past the page boundary are read on, none is lost, none is reported twice."""
    harness, _ = held_tax
    adapter = harness.make()
    start, _, _ = await drain(adapter)
    labels = await harness.seed_native(7, start=200)
    read: list[str] = []
    cursor = start
    for _ in range(20):
        page = await adapter.fetch_changes(cursor, 3)
        read.extend(harness.native_label(change) for change in page.changes)
        assert StampCursor.parse(page.cursor).since >= StampCursor.parse(cursor).since
        cursor = page.cursor
        if not page.has_more:
            break
    assert sorted(read) == sorted(labels)
    assert (await adapter.fetch_changes(cursor, 3)).changes == []  # the same second read again: nothing new


async def test_a_row_arriving_later_in_the_cursors_second_is_read(held_tax: tuple[TaxHarness, ManualClock]) -> None:
    harness, _ = held_tax
    adapter = harness.make()
    (first,) = await harness.seed_native(1, start=210)
    cursor, changes, _ = await drain(adapter)
    assert first in {harness.native_label(c) for c in changes}
    (late,) = await harness.seed_native(1, start=211)  # same second: the clock stands still
    _, again, _ = await drain(adapter, cursor)
    assert [harness.native_label(c) for c in again] == [late]


async def test_a_row_changing_back_and_forth_within_one_second_is_read_each_time(
    held_tax: tuple[TaxHarness, ManualClock],
) -> None:
    """Removed and restored (and removed again) within one gxsj second: each content read is its
    own change with its own key and a later source version."""
    harness, _ = held_tax
    adapter = harness.make()
    (label,) = await harness.seed_native(1, start=220)
    cursor, _, _ = await drain(adapter)
    tax_no, qdwsh = label.split("|")
    seen: list[NativeChange] = []
    for step in ("remove", "restore", "remove"):
        body = {"tax_no": tax_no, "qdwsh": qdwsh, **({"date": "2026-06-01"} if step == "remove" else {})}
        await harness.admin("POST", f"/admin/{step}", body)
        cursor, changes, _ = await drain(adapter, cursor)
        assert len(changes) == 1, changes
        seen.append(changes[0])
    assert [c.row["remove_tm"] for c in seen] == ["20260601", "", "20260601"]
    assert len({c.change_key for c in seen}) == 3
    versions = [c.source_version for c in seen]
    assert versions == sorted(versions) and len(set(versions)) == 3
    targets = [harness.mapping.to_observation(c).target for c in seen]  # type: ignore[union-attr]
    assert targets == [stopped(StopReason.REMOVED), PUBLISHED, stopped(StopReason.REMOVED)]


# --- the bureau's own rows, mapped --------------------------------------------------------------


async def test_every_fixture_row_maps_as_the_bureau_states_it(tax: TaxHarness) -> None:
    _, changes, _ = await drain(tax.make())
    seen = {change.row["xh"]: tax.mapping.to_observation(change) for change in changes}
    first = seen["1"]
    assert first is not None and first.facts.category is Category.TAX_MAJOR_VIOLATION
    assert first.facts.authority_name == "国家税务总局兰州市税务局第一稽查局"
    assert first.facts.decision_date == date(2025, 4, 15)  # entry_tm 20250415
    assert "*" not in repr(first.facts.to_json())  # the masked legal_repre_id is not carried
    lower = seen["2"].facts  # type: ignore[union-attr]
    assert lower.subject_code == "91620502MA72TX0183" and lower.subject_code_checksum_ok is not None
    removed = seen["3"]  # remove_tm set, no reason column, 1.5 years after entry: a removal
    assert removed is not None and removed.target == stopped(StopReason.REMOVED, date(2025, 9, 1))
    assert removed.target.on == date(2025, 9, 1)
    assert removed.facts.subject_code is None and removed.facts.subject_type is SubjectType.LEGAL_ENTITY  # 15 digits
    assert seen["4"].facts.subject_name == "酒泉示例𠮷祥物流有限公司"  # type: ignore[union-attr]


def test_a_removal_three_years_after_entry_is_expiry_and_before_entry_is_unmappable() -> None:
    mapping = TaxMapping()

    def observe(**changes: Any) -> Any:
        change = NativeChange(
            change_key="k",
            source_version="",
            changed_at=datetime.now(BEIJING),
            kind=KIND,
            native_id="1",
            row=tax_row(1, **changes),
        )
        return mapping.to_observation(change)

    assert observe(remove_tm="20290105").target == stopped(StopReason.EXPIRED, date(2029, 1, 5))
    assert observe(remove_tm="20290104").target == stopped(StopReason.REMOVED, date(2029, 1, 4))
    for field, value in (("remove_tm", "20251231"), ("remove_tm", "2026x"), ("tax_no", "123"), ("entry_tm", "")):
        with pytest.raises(UnmappableRow) as caught:
            observe(**{field: value})
        assert caught.value.field == field


# --- transport specifics ----------------------------------------------------------------------


async def test_a_wrong_password_is_permanent_and_not_echoed(tax: TaxHarness) -> None:
    adapter = TaxAdapter(
        base_url=tax.url, username=USERNAME, password="wrong-Pass", key_fields=KEY_FIELDS, retry=FAST_RETRY
    )
    try:
        with pytest.raises(PermanentError) as caught:
            await adapter.fetch_changes(None, 5)
        assert caught.value.code == "1001"
        assert "wrong-Pass" not in repr(caught.value.context()) + str(caught.value)
    finally:
        await adapter.close()


def test_the_envelope_escapes_credentials() -> None:
    body = envelope("a<b", "p&w]]>", [("gxsjq", "")]).decode()
    assert "a&lt;b" in body and "p&amp;w]]&gt;" in body


async def test_writes_are_refused_the_list_is_read_only(tax: TaxHarness) -> None:
    from gateway.contract import NativeWrite

    adapter = tax.make()
    with pytest.raises(PermanentError):
        await adapter.write(NativeWrite(kind=KIND, row={}, business_key="x", idempotency_key="k"))


async def test_the_listing_holds_removed_rows_too(tax: TaxHarness) -> None:
    rows = [row for page in await listing(tax.make(), KIND) for row in page]
    assert {row.row["xh"] for row in rows} >= {"1", "2", "3", "4"}
    assert any(row.row["remove_tm"] for row in rows)
