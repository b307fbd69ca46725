"""信用中国（甘肃） mirrors every list as `MD` rows (docs/protocols.md §1 "List rows"): a record of each
list category written through the real adapter into the real simulator and read back from its pull
and its listing maps to the same canonical facts and identity, state and removal date included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.contract import NativeChange, UnmappableRow
from gateway.domain.categories import Category
from gateway.domain.model import PUBLISHED, StopReason, stopped
from mappings.creditchina_gansu import MDLB_BY_CATEGORY, CreditChinaGansuMapping
from mappings.transforms import NotWritable
from simulators.creditchina_gansu import CreditChinaConfig, create_app
from tests.adapter_contract import CONTRACT_FACTS, drain, listing, of_record
from tests.test_adapter_creditchina_gansu import CONFIG, CreditChinaHarness

LIST_CATEGORIES = tuple(MDLB_BY_CATEGORY)
MAPPING = CreditChinaGansuMapping(today=lambda: date(2026, 12, 3))


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


def test_every_list_category_has_its_own_list_code() -> None:
    assert set(LIST_CATEGORIES) == set(Category) - {Category.ADMIN_PENALTY, Category.ABNORMAL_OPERATIONS}
    assert sorted(MDLB_BY_CATEGORY.values()) == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("category", LIST_CATEGORIES, ids=lambda c: c.value)
async def test_a_list_entry_round_trips_with_its_identity_state_and_removal_date(
    creditchina: CreditChinaHarness, category: Category
) -> None:
    adapter = creditchina.make()
    facts = CONTRACT_FACTS[category](1)
    cursor, _, _ = await drain(adapter)
    write = MAPPING.to_write(facts, PUBLISHED, idempotency_key="k1")
    assert write.kind == "MD" and write.row["MD_MDLB"] == MDLB_BY_CATEGORY[category]
    assert write.row["MD_JLBH"] == facts.document_number  # verbatim (full-width 案号 stay full-width)
    assert write.row["MD_RDJGDM"] == facts.authority_code
    await adapter.write(write)
    cursor, changes, _ = await drain(adapter, cursor)
    [seen] = of_record(MAPPING, changes, facts)
    assert seen.facts == facts and seen.facts.identity == facts.identity and seen.target == PUBLISHED

    # The owner removed it on 2026-11-30: the mirror stops publication, dated that day.
    removal = stopped(StopReason.REMOVED, date(2026, 11, 30))
    await adapter.write(MAPPING.to_write(facts, removal, idempotency_key="k2"))
    _, changes, _ = await drain(adapter, cursor)
    [stop] = of_record(MAPPING, changes, facts)
    assert stop.facts == facts and stop.target == removal
    assert stop.target.on == date(2026, 11, 30) and stop.decided_on == date(2026, 11, 30)
    row = stop.native_id and next(c.row for c in changes if c.native_id == stop.native_id)
    assert row and row["MD_YCRQ"] == "2026/11/30" and row["ZZYY"] == "04"

    listed = [r for page in await listing(adapter, "MD") for r in page]
    [in_listing] = of_record(MAPPING, listed, facts)
    assert in_listing.facts == facts and in_listing.target == removal


async def test_expiry_and_withdrawal_and_a_restore_reach_the_mirror(creditchina: CreditChinaHarness) -> None:
    adapter = creditchina.make()
    facts = CONTRACT_FACTS[Category.WORK_SAFETY](2)
    for target in (
        PUBLISHED,
        stopped(StopReason.REMOVED, date(2026, 6, 1)),
        PUBLISHED,  # emergency zt 30: an early removal revoked, listed again
        stopped(StopReason.EXPIRED, date(2029, 1, 5)),
    ):
        await adapter.write(MAPPING.to_write(facts, target, idempotency_key=target.label))
        records = await creditchina.admin("GET", "/admin/records")
        [row] = [r for r in records["records"] if r["ROWTYPE"] == "MD"]
        change = NativeChange(change_key="x", source_version="1", changed_at=_now(), kind="MD", native_id="1", row=row)
        observation = MAPPING.to_observation(change)
        assert observation is not None and observation.target == target
        if target == PUBLISHED:
            assert row["MD_YCRQ"] == "" and row["ZZRQ"] == ""  # a restore clears the old removal
    withdrawn = MAPPING.to_write(facts, stopped(StopReason.WITHDRAWN, date(2029, 2, 1)), idempotency_key="w")
    assert (withdrawn.row["CF_ZT"], withdrawn.row["ZZYY"]) == ("1", "03")


async def test_a_person_s_id_number_stays_masked_and_an_unmasked_one_is_never_written_or_read(
    creditchina: CreditChinaHarness,
) -> None:
    facts = CONTRACT_FACTS[Category.COURT_DISHONEST](3)
    write = MAPPING.to_write(facts, PUBLISHED, idempotency_key="k")
    assert write.row["MD_ZJHM"] == "6201**********1234" and "MD_TYSHXYDM" not in write.row
    with pytest.raises(NotWritable) as refused:
        MAPPING.to_write(replace(facts, subject_id_masked="620102198001011234"), PUBLISHED, idempotency_key="k")
    assert refused.value.field == "MD_ZJHM"
    # An operator loaded an unmasked row by hand (the intake would refuse it): quarantined, not read.
    leaked = {**write.row, "ROWTYPE": "MD", "MD_ZJHM": "620102198001011234"}
    await creditchina.admin("POST", "/admin/load", {"rows": [leaked]})
    _, changes, _ = await drain(creditchina.make())
    [change] = [c for c in changes if c.kind == "MD"]
    with pytest.raises(UnmappableRow) as unmappable:
        MAPPING.to_observation(change)
    assert unmappable.value.field == "MD_ZJHM" and "620102198001011234" not in str(unmappable.value)


async def test_an_unknown_list_code_or_a_missing_identity_is_unmappable() -> None:
    row = dict(MAPPING.to_write(CONTRACT_FACTS[Category.TAX_MAJOR_VIOLATION](4), PUBLISHED, idempotency_key="k").row)
    for column, value in (("MD_MDLB", "99"), ("MD_RDJGDM", ""), ("MD_JLBH", " ")):
        change = NativeChange(
            change_key="x", source_version="1", changed_at=_now(), kind="MD", native_id="1", row={**row, column: value}
        )
        with pytest.raises(UnmappableRow) as caught:
            MAPPING.to_observation(change)
        assert caught.value.field == column


def test_a_list_entry_without_its_listing_reason_or_date_is_not_writable() -> None:
    facts = CONTRACT_FACTS[Category.STATISTICS_SERIOUS](5)
    for lacking, column in (
        (replace(facts, violation=None), "MD_LRYY"),
        (replace(facts, decision_date=None), "MD_LRRQ"),
    ):
        with pytest.raises(NotWritable) as caught:
            MAPPING.to_write(lacking, PUBLISHED, idempotency_key="k")
        assert caught.value.field == column


def _now() -> datetime:
    return datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


async def test_a_court_person_s_masked_id_reaches_the_mirror_as_the_court_masked_it(
    creditchina: CreditChinaHarness,
) -> None:
    """Over both simulators: the court's own rows (two mask widths) → the court mapping → an MD row
    信用中国 accepts → read back, the number exactly as the court published it."""
    from mappings.court import CourtMapping
    from simulators.court import create_app as create_court

    court = TestServer(create_court(None))
    await court.start_server()
    try:
        async with aiohttp.ClientSession() as http, http.get(str(court.make_url("/admin/records"))) as response:
            rows = (await response.json())["records"]
        people = [r for r in rows if r["identi_id"]]
        assert {len(r["identi_id"]) for r in people} == {18}
        adapter = creditchina.make()
        cursor, _, _ = await drain(adapter)
        for row in people:
            change = NativeChange(
                change_key="c", source_version="1", changed_at=_now(), kind="", native_id="1", row=row
            )
            observation = CourtMapping().to_observation(change)
            assert observation is not None and observation.facts.subject_id_masked == row["identi_id"]
            await adapter.write(MAPPING.to_write(observation.facts, PUBLISHED, idempotency_key=row["identi_id"]))
            _, changes, _ = await drain(adapter, cursor)
            [mirrored] = of_record(MAPPING, changes, observation.facts)
            assert mirrored.facts.subject_id_masked == row["identi_id"]
            # All but what MD rows have no column for (publication date, content: the mapping docstring).
            assert mirrored.facts == replace(observation.facts, publication_date=None, content=None)
    finally:
        await court.close()


@pytest.mark.parametrize("system", ["hrss", "emergency"])
def test_the_other_owners_of_persons_keep_the_masked_number_for_the_mirror(system: str) -> None:
    """The 前置库's responsible person and the emergency list's institution staff, from their own
    fixtures: the number as the department masked it, and an MD row that carries it unchanged."""
    if system == "hrss":
        from mappings.hrss import HrssMapping
        from simulators.hrss.fixtures import HRSS_ROWS

        mapping: Any = HrssMapping()
        rows = [{k: "" if v is None else v for k, v in r.items()} for r in HRSS_ROWS if r["ZJHM"]]
    else:
        from mappings.emergency import EmergencyMapping
        from simulators.emergency.fixtures import EMERGENCY_ROWS

        mapping = EmergencyMapping()
        rows = [r for r in EMERGENCY_ROWS if r["zjhm"]]
    assert rows
    for row in rows:
        change = NativeChange(change_key="c", source_version="1", changed_at=_now(), kind="", native_id="1", row=row)
        observation = mapping.to_observation(change)
        assert observation is not None
        masked = row["ZJHM" if system == "hrss" else "zjhm"]
        assert "*" in masked and observation.facts.subject_id_masked == masked
        assert MAPPING.to_write(observation.facts, PUBLISHED, idempotency_key="k").row["MD_ZJHM"] == masked
