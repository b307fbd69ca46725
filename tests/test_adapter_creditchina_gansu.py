"""信用中国（甘肃） adapter against the real simulator (contract suite plus SOAP specifics)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.creditchina_gansu import CreditChinaGansuAdapter, cursor_second
from adapters.creditchina_gansu import soap as client_soap
from adapters.http import FieldRejected, InCallRetry
from gateway.contract import NativeChange, SystemAdapter, SystemMapping, WriteResult
from gateway.domain.beijing import BEIJING
from gateway.domain.categories import Category
from gateway.domain.model import PUBLISHED
from gateway.domain.retry import PermanentError, RetryableError
from gateway.feedtime import parse_beijing_timestamp
from mappings.creditchina_gansu import PERSONAL_ID_FIELDS, CreditChinaGansuMapping
from mappings.gsxt_gansu import GsxtGansuMapping
from simulators.creditchina_gansu import CreditChinaConfig, create_app
from simulators.world import build_world, gsxt_gansu_records
from tests.adapter_contract import FAST_RETRY, AdapterContract, Harness, contract_facts, drain

CONFIG = CreditChinaConfig(username="gw-user", password="gw-pass-Secret1")


class CreditChinaHarness(Harness):
    system = "creditchina_gansu"
    secrets = (CONFIG.password,)
    categories = tuple(Category)  # 信用中国 mirrors every category (lists as MD rows)
    listing_kinds = ("CF", "YC", "MD")
    _mapping = CreditChinaGansuMapping()

    def build(self, *, timeout: float, page_size: int, retry: InCallRetry) -> SystemAdapter:
        return CreditChinaGansuAdapter(
            base_url=self.url,
            username=CONFIG.username,
            password=CONFIG.password,
            timeout=timeout,
            page_size=min(page_size, 500),
            retry=retry,
            secret_fields=PERSONAL_ID_FIELDS,
        )

    @property
    def mapping(self) -> SystemMapping:
        return self._mapping

    def cursor_position(self, cursor: str) -> Any:
        return parse_beijing_timestamp(cursor_second(cursor)) if cursor else None

    def business_key_label(self, facts: Any) -> str:
        return f"CF:{facts.document_number}|{facts.authority_code}"

    async def expire_tokens(self) -> bool:
        await self.admin("POST", "/admin/expire-tokens")
        return True

    async def seed_native(self, count: int, start: int) -> list[str]:
        # Fresh record numbers far from the write tests' (contract_facts 1-320).
        rows = [{**_row_of(self, 500 + start + i), "ROWTYPE": "CF"} for i in range(count)]
        await self.admin("POST", "/admin/load", {"rows": rows})
        return [f"CF:{row['CF_WSH']}|{row['CF_CFJGDM']}" for row in rows]

    async def remove_native(self, label: str) -> None:
        document, authority = label.removeprefix("CF:").split("|")
        await self.admin("POST", "/admin/repair", {"CF_WSH": document, "CF_CFJGDM": authority, "ZZYY": "01"})

    def native_label(self, change: NativeChange) -> str:
        row = change.row
        prefix = change.kind or str(row.get("ROWTYPE", ""))
        if prefix == "YC":
            return f"YC:{row.get('YC_WSH')}|{row.get('YC_JDJGDM')}"
        if prefix == "MD":
            return f"MD:{row.get('MD_JLBH')}|{row.get('MD_RDJGDM')}"
        return f"CF:{row.get('CF_WSH')}|{row.get('CF_CFJGDM') or row.get('CF_XZJGDM')}"


@pytest.fixture
async def creditchina() -> AsyncIterator[CreditChinaHarness]:
    server = TestServer(create_app(CreditChinaConfig(username=CONFIG.username, password=CONFIG.password)))
    await server.start_server()
    async with aiohttp.ClientSession() as admin:
        harness = CreditChinaHarness(server, admin)
        try:
            yield harness
        finally:
            await harness.close()
            await server.close()


class TestCreditChinaGansuAdapter(AdapterContract):
    @pytest.fixture
    async def harness(self, creditchina: CreditChinaHarness) -> AsyncIterator[Harness]:
        yield creditchina


# --- 信用中国 specifics -----------------------------------------------------------------------


async def test_token_is_renewed_once_and_reused(creditchina: CreditChinaHarness) -> None:
    adapter = creditchina.make()
    for index in range(3):
        await adapter.write(creditchina.write_for(contract_facts(40 + index)))
    await creditchina.expire_tokens()
    await adapter.write(creditchina.write_for(contract_facts(43)))
    logins = (await creditchina.stats())["requests"]["login"]
    assert logins == {"00": 2}


async def test_bad_password_is_permanent_and_not_echoed(creditchina: CreditChinaHarness) -> None:
    adapter = CreditChinaGansuAdapter(
        base_url=creditchina.url, username=CONFIG.username, password="wrong-Pass", retry=FAST_RETRY
    )
    try:
        with pytest.raises(PermanentError) as caught:
            await adapter.write(creditchina.write_for(contract_facts(44)))
        assert caught.value.code == "01"
        assert "wrong-Pass" not in repr(caught.value.context())
    finally:
        await adapter.close()


async def test_a_stop_for_a_row_the_platform_never_held_is_done_not_a_dead_letter(
    creditchina: CreditChinaHarness,
) -> None:
    """信用中国 answers 04 (unknown key) to a stop of a row it does not hold: it publishes nothing of
    it, which is the state asked for (a list entry removed before its first copy went out)."""
    from gateway.domain.model import StopReason, stopped

    adapter = creditchina.make()
    result = await adapter.write(creditchina.write_for(contract_facts(45), stopped(StopReason.REPAIRED)))
    assert result.detail == {"code": "04", "not_held": True}
    assert (await creditchina.stats())["requests"]["importPenalyXml"] == {"04": 1}
    shown = {row.get("CF_WSH") for row in (await creditchina.admin("GET", "/admin/records"))["records"]}
    assert contract_facts(45).document_number not in shown


async def test_a_second_of_more_rows_than_a_page_is_read_through(creditchina: CreditChinaHarness) -> None:
    """Seven rows share one SJC and a page holds three: the second call starts on that second and
    must page through it within the call, or the cursor could never pass it."""
    adapter = creditchina.make()
    start, _, _ = await drain(adapter)
    second = "2026/10/01 08:00:00"
    rows = [{**_row_of(creditchina, 50 + index), "ROWTYPE": "CF", "SJC": second} for index in range(7)]
    await creditchina.admin("POST", "/admin/load", {"rows": rows})
    first = await adapter.fetch_changes(start, 3)
    assert cursor_second(first.cursor) == second and first.has_more
    stuck = await adapter.fetch_changes(first.cursor, 3)
    wanted = {row["CF_WSH"] for row in rows}
    read_first = {change.row.get("CF_WSH") for change in first.changes if change.row.get("SJC") == second}
    # The rows the first call read there are not reported again; together every row is read once.
    assert sorted([*read_first, *(change.row.get("CF_WSH") for change in stuck.changes)]) == sorted(wanted)
    # The platform's clock (its Date header) is long past that second: it is closed, the cursor
    # moves after it, and the next poll does not read its seven rows again.
    assert stuck.cursor == "2026/10/01 08:00:01" and not stuck.has_more
    assert (await adapter.fetch_changes(stuck.cursor, 3)).changes == []


async def test_a_second_the_platform_has_not_closed_is_read_again(creditchina: CreditChinaHarness) -> None:
    """Rows stamped within the last minute of the platform's clock may still gain neighbours in
    the same second: the cursor stays on that second (inclusive) and reads it again; what it read
    there already, unchanged, is not reported twice, a new row or a new content is."""
    adapter = creditchina.make()
    start, _, _ = await drain(adapter)
    now = datetime.now(BEIJING).replace(microsecond=0)
    second = now.strftime("%Y/%m/%d %H:%M:%S")
    rows = [{**_row_of(creditchina, 80 + index), "ROWTYPE": "CF", "SJC": second} for index in range(2)]
    await creditchina.admin("POST", "/admin/load", {"rows": rows})
    page = await adapter.fetch_changes(start, 50)
    assert cursor_second(page.cursor) == second
    assert {c.row.get("CF_WSH") for c in page.changes} >= {row["CF_WSH"] for row in rows}
    again = await adapter.fetch_changes(page.cursor, 50)
    assert again.changes == [] and cursor_second(again.cursor) == second
    late = {**_row_of(creditchina, 82), "ROWTYPE": "CF", "SJC": second}
    changed = {**rows[0], "GSZT": "0", "ZZYY": "01", "ZZRQ": now.strftime("%Y/%m/%d")}
    await creditchina.admin("POST", "/admin/load", {"rows": [late, changed]})
    third = await adapter.fetch_changes(again.cursor, 50)
    assert sorted((c.row["CF_WSH"], c.row["GSZT"]) for c in third.changes) == sorted(
        [(late["CF_WSH"], "1"), (rows[0]["CF_WSH"], "0")]
    )


async def test_a_row_changing_back_and_forth_within_one_second_is_read_each_time(
    creditchina: CreditChinaHarness,
) -> None:
    """Issue 9, cause 2: SJC has whole seconds, so a row repaired and restored (and repaired
    again) within one second keeps its SJC. Each content read is its own change, with its own key
    and a later feed position, even a content the row already had earlier in that second."""
    adapter = creditchina.make()
    cursor, _, _ = await drain(adapter)
    now = datetime.now(BEIJING).replace(microsecond=0)
    second = now.strftime("%Y/%m/%d %H:%M:%S")
    published = {**_row_of(creditchina, 90), "ROWTYPE": "CF", "SJC": second, "GSZT": "1", "ZZYY": "", "ZZRQ": ""}
    repaired = {**published, "GSZT": "0", "ZZYY": "01", "ZZRQ": now.strftime("%Y/%m/%d")}
    seen: list[tuple[str, str, str]] = []
    for row in (published, repaired, published, repaired):
        await creditchina.admin("POST", "/admin/load", {"rows": [row]})
        page = await adapter.fetch_changes(cursor, 50)
        assert len(page.changes) == 1, page.changes
        (change,) = page.changes
        seen.append((change.row["GSZT"], change.change_key, change.source_version))
        cursor = page.cursor
        assert (await adapter.fetch_changes(cursor, 50)).changes == []  # the same content, read again
    assert [state for state, _, _ in seen] == ["1", "0", "1", "0"]
    assert len({key for _, key, _ in seen}) == 4
    versions = [version for _, _, version in seen]
    assert versions == sorted(versions) and len(set(versions)) == 4


async def test_every_gsxt_record_mirrored_on_creditchina_is_accepted(creditchina: CreditChinaHarness) -> None:
    """GSXT's own seed records (SAMR penalties, abnormal list) written here as their mirror: the
    other side's validation accepts every row this mapping produces, and the pull reads it back."""
    from adapters.gsxt_gansu import change_from_item

    gsxt = GsxtGansuMapping()
    adapter = creditchina.make()
    tables = gsxt_gansu_records(build_world())
    seq = 0
    written = []
    for table in ("punish", "opanomaly"):
        for record in tables[table]:
            seq += 1
            item = {"seq": seq, "table": table, "updateTime": record["updateTime"], "record": record}
            observation = gsxt.to_observation(change_from_item(item))
            assert observation is not None
            facts = observation.facts
            await adapter.write(creditchina.mapping.to_write(facts, PUBLISHED, idempotency_key="k"))
            written.append(facts.record_id)
    _, changes, _ = await drain(adapter)
    pulled = {o.facts.record_id for o in map(creditchina.mapping.to_observation, changes) if o is not None}
    assert set(written) <= pulled


def _row_of(harness: CreditChinaHarness, index: int) -> dict[str, str]:
    write = harness.write_for(contract_facts(index))
    return {column: str(value) for column, value in write.row.items()}


def test_soap_values_are_escaped() -> None:
    body = client_soap.envelope("login", [("username", "a<b&c"), ("password", "]]>")])
    assert b"a&lt;b&amp;c" in body
    document = client_soap.rowdata([{"CF_WSH": "<x>"}])
    assert "&lt;x&gt;" in document


# --- several rows per call (the intake takes up to 100) ---------------------------------------


async def test_rows_go_in_batches_of_at_most_a_hundred(creditchina: CreditChinaHarness) -> None:
    adapter = creditchina.make()
    writes = [creditchina.write_for(contract_facts(200 + index)) for index in range(150)]
    outcomes = await adapter.write_many(writes)
    assert [type(o).__name__ for o in outcomes] == ["WriteResult"] * 150
    assert (await creditchina.stats())["requests"]["importPenalyXml"] == {"00": 2}
    shown = {row.get("CF_WSH") for row in (await creditchina.admin("GET", "/admin/records"))["records"]}
    assert {w.row["CF_WSH"] for w in writes} <= shown


async def test_a_refused_row_fails_alone_and_the_rest_of_its_batch_is_applied(
    creditchina: CreditChinaHarness,
) -> None:
    """The intake applies a batch whole or not at all and names the first refused row: that row
    gets its own outcome (04 unknown key: a stop with nothing to stop, done; 03 invalid field: a
    failure) and the others are sent again."""
    from gateway.domain.model import StopReason, stopped

    adapter = creditchina.make()
    good = [creditchina.write_for(contract_facts(300 + index)) for index in range(3)]
    unknown = creditchina.write_for(contract_facts(310), stopped(StopReason.REPAIRED))  # never published: 04, done
    invalid_row = {**good[0].row, "CF_WSH": "兰环罚〔2026〕9311号", "CF_XDR_SHXYM": "not-a-code"}
    invalid = replace(good[0], row=invalid_row, business_key="CF:兰环罚〔2026〕9311号")
    outcomes = await adapter.write_many([good[0], unknown, good[1], invalid, good[2]])

    assert [type(o).__name__ for o in outcomes] == [
        "WriteResult",
        "WriteResult",  # a stop of a row never held: nothing to stop
        "WriteResult",
        "FieldRejected",
        "WriteResult",
    ]
    not_held, refused_invalid = outcomes[1], outcomes[3]
    assert isinstance(not_held, WriteResult) and not_held.detail == {"code": "04", "not_held": True}
    assert isinstance(refused_invalid, FieldRejected) and refused_invalid.code == "03"
    assert refused_invalid.field == "CF_XDR_SHXYM"
    assert (await creditchina.stats())["requests"]["importPenalyXml"] == {"04": 1, "03": 1, "00": 1}
    shown = {row.get("CF_WSH") for row in (await creditchina.admin("GET", "/admin/records"))["records"]}
    assert {w.row["CF_WSH"] for w in good} <= shown
    assert not {unknown.row["CF_WSH"], invalid_row["CF_WSH"]} & shown


async def test_a_transient_failure_fails_every_row_of_the_batch_as_retryable(creditchina: CreditChinaHarness) -> None:
    adapter = creditchina.make()
    await creditchina.faults(error_rate=1.0)
    outcomes = await adapter.write_many([creditchina.write_for(contract_facts(320 + i)) for i in range(3)])
    assert all(isinstance(o, RetryableError) for o in outcomes)
