"""失信被执行人 (court) adapter and mapping against the real simulator: the feed contract, the HTTP
fault contract, and the court's own awkward rows (full-width 案号, masked IDs, lower-case codes, a
deletion without a reason)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.court import KIND, CourtAdapter
from adapters.http import InCallRetry
from gateway.contract import NativeChange, SystemAdapter, SystemMapping, UnmappableRow
from gateway.domain.categories import Category, SubjectType
from gateway.domain.model import PUBLISHED, StopReason, stopped
from gateway.domain.retry import PermanentError
from mappings.court import PERSONAL_ID_FIELDS, CourtMapping
from simulators.clock import BEIJING, ManualClock
from simulators.court import SIMULATOR, CourtConfig, create_app
from tests.adapter_contract import FAST_RETRY, FeedContract, Harness, HttpFaultContract, drain, listing

CLIENT_ID, CLIENT_SECRET = "creditgw", "court-Secret-7"
COURT = "兰州市城关区人民法院"


def court_row(number: int, **changes: Any) -> dict[str, Any]:
    """A fresh row of a company, as the court keys it in."""
    row = {
        "dishonest_id": str(620200000 + number),
        "fydm": "A20",
        "executed_nm": f"兰州示例{number}号商贸有限公司",
        "executed_nature": "法人或其他组织",
        "uni_social_crd_cd": "91620102MA72CT0140",
        "legal_repre": "张某某",
        "executed_court": COURT,
        "exe_area": "甘肃",
        "enforce_basis": f"(2025)甘0102民初{number}号",
        "fil_dt": "2025-11-3",
        "case_no": f"(2026)甘0102执{number}号",
        "effect_doc_obli": "支付货款",
        "executed_perfor": "全部未履行",
        "dishonest_behav": "有履行能力而拒不履行生效法律文书确定义务",
        "publish_dt": "2026-1-5",
    }
    row.update(changes)
    return row


class CourtHarness(Harness):
    system = "court"
    secrets = (CLIENT_SECRET,)
    listing_kinds = (KIND,)
    takes_writes = False
    idempotent_reads = True
    listing_drops_removed = True
    busy_codes = ("50301",)
    _mapping = CourtMapping()

    def __init__(self, server: TestServer, admin: aiohttp.ClientSession, clock: ManualClock) -> None:
        super().__init__(server, admin)
        self.clock = clock

    def build(self, *, timeout: float, page_size: int, retry: InCallRetry) -> SystemAdapter:
        return CourtAdapter(
            base_url=self.url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            timeout=timeout,
            page_size=page_size,
            retry=retry,
            secret_fields=PERSONAL_ID_FIELDS,
        )

    @property
    def mapping(self) -> SystemMapping:
        return self._mapping

    def cursor_position(self, cursor: str) -> Any:
        return int(cursor or 0)

    def business_key_label(self, facts: Any) -> str:
        return f"{facts.document_number}|{facts.authority_name}"

    def native_label(self, change: NativeChange) -> str:
        return f"{change.row.get('case_no')}|{change.row.get('executed_court')}"

    async def seed_native(self, count: int, start: int) -> list[str]:
        rows = [court_row(start + i) for i in range(count)]
        await self.admin("POST", "/admin/load", {"records": rows})
        return [f"{row['case_no']}|{row['executed_court']}" for row in rows]

    async def remove_native(self, label: str) -> None:
        case_no, court = label.split("|")
        body = {"case_no": case_no, "executed_court": court, "kind": "early", "reason": "1", "date": "2026-06-01"}
        await self.admin("POST", "/admin/remove", body)

    async def expire_tokens(self) -> bool:
        self.clock.advance(7200 + 1)  # the court's tokens live 7200 s
        return True


@pytest.fixture
async def court() -> AsyncIterator[CourtHarness]:
    clock = ManualClock(datetime(2026, 11, 26, 9, 0, tzinfo=BEIJING))
    config = CourtConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, clock=clock)
    server = TestServer(create_app(config))
    await server.start_server()
    async with aiohttp.ClientSession() as admin:
        harness = CourtHarness(server, admin, clock)
        try:
            yield harness
        finally:
            await harness.close()
            await server.close()


class TestCourtAdapter(FeedContract, HttpFaultContract):
    @pytest.fixture
    async def harness(self, court: CourtHarness) -> AsyncIterator[Harness]:
        yield court


# --- the court's own rows, mapped ---------------------------------------------------------------


async def _seed_observations(court: CourtHarness) -> dict[str, Any]:
    _, changes, _ = await drain(court.make())
    mapped = {change.row["dishonest_id"]: court.mapping.to_observation(change) for change in changes}
    return mapped


async def test_full_width_case_numbers_are_one_identity_with_half_width(court: CourtHarness) -> None:
    seen = await _seed_observations(court)
    full_width = seen["620100002"]
    assert full_width.facts.document_number == "（２０２５）甘０１０３执恢５４号"  # verbatim, as the court typed it
    assert full_width.facts.identity.document_number == "(2025)甘0103执恢54号"  # the identity is normalised
    # The same case typed with half-width digits by another clerk is the same record.
    half = court.mapping.to_observation(
        NativeChange(
            change_key="x",
            source_version="",
            changed_at=full_width.changed_at,
            kind=KIND,
            native_id="1",
            row={**court_row(1), "case_no": "(2025)甘0103执恢54号", "executed_court": "兰州市七里河区人民法院"},
        )
    )
    assert half is not None and half.facts.record_id == full_width.facts.record_id
    assert full_width.facts.category is Category.COURT_DISHONEST
    assert full_width.facts.authority_name == "兰州市七里河区人民法院"
    assert full_width.facts.decision_date == date(2025, 1, 27)  # publish_dt 2025-1-27, unpadded


async def test_natural_persons_keep_their_id_number_masked_as_given_and_codes_are_folded(court: CourtHarness) -> None:
    seen = await _seed_observations(court)
    rows = {r["dishonest_id"]: r for r in (await court.admin("GET", "/admin/records"))["records"]}
    for dishonest_id, shape in (("620100003", r"\d{4}\*{10}\d{4}"), ("620100004", r"\d{6}\*{12}")):
        person = seen[dishonest_id].facts
        assert person.subject_type is SubjectType.NATURAL_PERSON and person.subject_code is None
        # Exactly as the court masked it (mirrored masked on 信用中国; ADR 0028), never unmasked.
        assert person.subject_id_masked == rows[dishonest_id]["identi_id"]
        assert re.fullmatch(shape, person.subject_id_masked or ""), person.subject_id_masked
    assert seen["620100004"].facts.subject_name == "𠮷某"
    lower = seen["620100005"].facts
    assert lower.subject_code == "91620502MA72TX0183" and lower.subject_type is SubjectType.LEGAL_ENTITY
    assert {o.target for o in seen.values()} == {PUBLISHED}


async def test_a_deletion_without_a_reason_is_a_removal_on_its_day(court: CourtHarness) -> None:
    adapter = court.make()
    cursor, _, _ = await drain(adapter)
    body = {"case_no": "(2024)甘0502执901号", "executed_court": "天水市秦州区人民法院", "date": "2026-03-09"}
    await court.admin("POST", "/admin/remove", {**body, "kind": "early", "reason": ""})
    _, changes, _ = await drain(adapter, cursor)
    (deleted,) = changes
    assert deleted.row["action"] == "DELETE" and deleted.row["deleteReason"] is None
    observation = court.mapping.to_observation(deleted)
    assert observation is not None
    assert observation.target == stopped(StopReason.REMOVED, date(2026, 3, 9))
    assert observation.target.on == date(2026, 3, 9) and observation.decided_on == date(2026, 3, 9)
    assert observation.facts.subject_code == "91620502MA72TX0183"


async def test_a_deletion_at_the_end_of_the_period_is_expiry(court: CourtHarness) -> None:
    adapter = court.make()
    cursor, _, _ = await drain(adapter)
    body = {"case_no": "(2024)甘0102执3301号", "executed_court": COURT, "date": "2026-12-30"}
    await court.admin("POST", "/admin/remove", {**body, "kind": "expiry", "reason": "7"})
    _, changes, _ = await drain(adapter, cursor)
    observation = court.mapping.to_observation(changes[-1])
    assert observation is not None and observation.target == stopped(StopReason.EXPIRED, date(2026, 12, 30))


def test_unreadable_deletions_are_unmappable_naming_the_field() -> None:
    mapping = CourtMapping()
    base = {**court_row(5), "action": "DELETE", "deleteDate": "2026-3-9", "deleteReason": "1", "expired": False}
    cases = {
        "deleteDate": {**base, "deleteDate": ""},
        "deleteReason": {**base, "deleteReason": "9"},
        "executed_nature": {**base, "executed_nature": "其他"},
        "uni_social_crd_cd": {**base, "uni_social_crd_cd": "not-a-code"},
        "case_no": {**base, "case_no": " "},
        "publish_dt": {**base, "publish_dt": "2026-13-40"},
    }
    for field, row in cases.items():
        change = NativeChange(
            change_key="k", source_version="", changed_at=datetime.now(BEIJING), kind=KIND, native_id="1", row=row
        )
        with pytest.raises(UnmappableRow) as caught:
            mapping.to_observation(change)
        assert caught.value.field == field
    contradiction = {**base, "deleteReason": "1", "expired": True}
    change = NativeChange(
        change_key="k", source_version="", changed_at=datetime.now(BEIJING), kind=KIND, native_id="1", row=contradiction
    )
    with pytest.raises(UnmappableRow):
        mapping.to_observation(change)


# --- transport specifics ----------------------------------------------------------------------


async def test_the_token_is_renewed_once_and_reused(court: CourtHarness) -> None:
    adapter = court.make()
    for _ in range(3):
        await adapter.fetch_changes(None, 5)
    await court.expire_tokens()
    await adapter.fetch_changes(None, 5)
    await adapter.fetch_changes(None, 5)
    requests = (await court.stats())["requests"]
    assert requests["auth/token"] == {"0": 2}
    assert requests["sxbzxr/changes"] == {"0": 5, "40101": 1}  # one refused, sent again


async def test_a_wrong_secret_is_permanent_and_not_echoed(court: CourtHarness) -> None:
    adapter = CourtAdapter(base_url=court.url, client_id=CLIENT_ID, client_secret="wrong-Secret", retry=FAST_RETRY)
    try:
        with pytest.raises(PermanentError) as caught:
            await adapter.fetch_changes(None, 5)
        assert (caught.value.status, caught.value.code) == (401, "40101")
        assert "wrong-Secret" not in repr(caught.value.context()) + str(caught.value)
    finally:
        await adapter.close()


async def test_writes_are_refused_the_list_is_read_only(court: CourtHarness) -> None:
    from gateway.contract import NativeWrite

    adapter = court.make()
    assert adapter.takes_writes is False
    with pytest.raises(PermanentError):
        await adapter.write(NativeWrite(kind=KIND, row={}, business_key="x", idempotency_key="k"))
    with pytest.raises(PermanentError):
        court.mapping.to_write(
            court.mapping.to_observation(
                NativeChange(
                    change_key="k",
                    source_version="",
                    changed_at=datetime.now(BEIJING),
                    kind=KIND,
                    native_id="1",
                    row=court_row(9),
                )
            ).facts,  # type: ignore[union-attr]
            PUBLISHED,
            idempotency_key="k",
        )


async def test_a_deletion_during_the_listing_skips_no_row(court: CourtHarness) -> None:
    """Paging is by page number: a deletion of a row already listed shifts the rest forward. The
    listing notices the total change, steps back, and reads every remaining row once."""
    await court.seed_native(12, start=100)
    adapter = court.make()
    everything = [row.native_id for page in await listing(adapter, KIND, page_size=5) for row in page]
    pages = adapter.list_all(KIND, 5)
    first = await anext(pages)
    gone = first.rows[0].row
    await court.admin("POST", "/admin/remove", {"case_no": gone["case_no"], "executed_court": gone["executed_court"]})
    rest = [row.native_id async for page in pages for row in page.rows]
    listed = [row.native_id for row in first.rows] + rest
    assert listed == everything
    assert len(set(listed)) == len(listed)


async def test_logs_carry_neither_the_secret_nor_a_token(court: CourtHarness) -> None:
    from structlog.testing import capture_logs

    adapter = court.make()
    with capture_logs() as logs:
        await adapter.fetch_changes(None, 5)
        await court.expire_tokens()
        await adapter.fetch_changes(None, 5)
    tokens = list(court.server.app[SIMULATOR]._tokens)  # the simulator's side: what was issued
    assert logs and len(tokens) == 2
    text = repr(logs)
    assert CLIENT_SECRET not in text and not any(token in text for token in tokens)


async def test_a_gap_in_the_versions_stops_the_cursor_before_it() -> None:
    """A court answer missing version 3 (lost in its own paging): versions 1-2 are taken, the
    cursor stays at 2 and the next poll asks from there, so version 3 is never skipped."""
    from aiohttp import web

    served: list[int] = []
    log_rows = {v: {"version": v, "action": "PUBLISH", "record": court_row(v)} for v in (1, 2, 3, 4)}

    async def token(_request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "data": {"accessToken": "t", "expiresIn": 7200}})

    async def changes(request: web.Request) -> web.Response:
        after = int(request.query["fromVersion"])
        served.append(after)
        # The first answer lacks version 3; asked again, the court serves it.
        versions = [1, 2, 4] if after == 0 else [v for v in (1, 2, 3, 4) if v > after]
        items = [log_rows[v] for v in versions]
        return web.json_response({"code": 0, "data": {"changes": items, "latestVersion": 4, "hasMore": False}})

    app = web.Application()
    app.router.add_post("/api/v1/auth/token", token)
    app.router.add_get("/api/v1/sxbzxr/changes", changes)
    server = TestServer(app)
    await server.start_server()
    adapter = CourtAdapter(base_url=str(server.make_url("")).rstrip("/"), client_id="c", client_secret="s")
    try:
        first = await adapter.fetch_changes(None, 10)
        assert [c.change_key for c in first.changes] == ["v:1", "v:2"]
        assert first.cursor == "2" and first.has_more
        second = await adapter.fetch_changes(first.cursor, 10)
        assert [c.change_key for c in second.changes] == ["v:3", "v:4"] and second.cursor == "4"
        assert not second.has_more
        assert served == [0, 2]
    finally:
        await adapter.close()
        await server.close()
