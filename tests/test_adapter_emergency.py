"""安全生产严重失信主体 (emergency) adapter and mapping against the real simulator: the feed contract,
the HTTP fault contract, the signature, and the department's own awkward rows (lower-case codes, a
masked person's ID, an early removal without a reason, zt 30 restoring a listing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.emergency import KIND, EmergencyAdapter
from adapters.http import InCallRetry
from adapters.stamped_feed import StampCursor
from gateway.contract import NativeChange, SystemAdapter, SystemMapping, UnmappableRow
from gateway.domain.categories import Category, SubjectType
from gateway.domain.model import PUBLISHED, StopReason, stopped
from gateway.domain.retry import PermanentError, RetryableError
from mappings.emergency import PERSONAL_ID_FIELDS, EmergencyMapping
from simulators.clock import BEIJING
from simulators.emergency import EmergencyConfig, create_app
from tests.adapter_contract import FAST_RETRY, FeedContract, Harness, HttpFaultContract, drain

APP_KEY, SECRET = "creditgw", "yjt-Secret-3"


def emergency_row(number: int, **changes: Any) -> dict[str, Any]:
    row = {
        "jlid": f"YJ2026{number:06d}",
        "dwmc": f"白银示例{number}号矿业有限公司",
        "tyshxydm": "91620102MA72CT0140",
        "zcdz": "甘肃省白银市白银区示例路3号",
        "ztlx": "1",
        "zyfzr": "马某某",
        "sxxwjk": "发生一起较大生产安全事故",
        "lryj": "《安全生产严重失信主体名单管理办法》第五条第（一）项",
        "cfjdswh": f"（白）应急罚〔2026〕{number}号",
        "rdjg": "白银市应急管理局",
        "rdjgdm": "11620400MA72YJ011X",
        "lrrq": "2025/01/06",
        "glqxz": "2028/01/05",
        "zt": "10",
    }
    row.update(changes)
    return row


class EmergencyHarness(Harness):
    system = "emergency"
    secrets = (SECRET,)
    listing_kinds = (KIND,)
    takes_writes = False
    idempotent_reads = True
    busy_codes = ("E5003",)
    _mapping = EmergencyMapping()

    def build(self, *, timeout: float, page_size: int, retry: InCallRetry) -> SystemAdapter:
        return EmergencyAdapter(
            base_url=self.url,
            app_key=APP_KEY,
            secret=SECRET,
            timeout=timeout,
            page_size=page_size,
            retry=retry,
            secret_fields=PERSONAL_ID_FIELDS,
        )

    @property
    def mapping(self) -> SystemMapping:
        return self._mapping

    def cursor_position(self, cursor: str) -> Any:
        return StampCursor.parse(cursor).since

    def business_key_label(self, facts: Any) -> str:
        raise AssertionError("the emergency list is keyed by jlid, which the facts do not carry")

    def native_label(self, change: NativeChange) -> str:
        return str(change.row.get("jlid"))

    async def seed_native(self, count: int, start: int) -> list[str]:
        rows = [emergency_row(start + i) for i in range(count)]
        await self.admin("POST", "/admin/load", {"records": rows})
        return [row["jlid"] for row in rows]

    async def remove_native(self, label: str) -> None:
        await self.admin("POST", "/admin/remove", {"jlid": label, "kind": "early", "reason": "", "date": "2026-06-01"})


@pytest.fixture
async def emergency() -> AsyncIterator[EmergencyHarness]:
    server = TestServer(create_app(EmergencyConfig(credentials={APP_KEY: SECRET})))
    await server.start_server()
    async with aiohttp.ClientSession() as admin:
        harness = EmergencyHarness(server, admin)
        try:
            yield harness
        finally:
            await harness.close()
            await server.close()


class TestEmergencyAdapter(FeedContract, HttpFaultContract):
    @pytest.fixture
    async def harness(self, emergency: EmergencyHarness) -> AsyncIterator[Harness]:
        yield emergency


# --- the department's own rows, mapped ----------------------------------------------------------


async def test_every_fixture_row_maps_as_the_department_states_it(emergency: EmergencyHarness) -> None:
    _, changes, _ = await drain(emergency.make())
    seen = {change.row["jlid"]: emergency.mapping.to_observation(change) for change in changes}
    unit = seen["YJ2025000101"]
    assert unit is not None and unit.facts.category is Category.WORK_SAFETY
    assert (
        unit.facts.authority_code == "11620000MA72YJ092R" and unit.facts.document_number == "（白）应急罚〔2025〕12号"
    )
    assert unit.facts.decision_date == date(2025, 3, 18)  # lrrq 2025/03/18
    lower = seen["YJ2025000102"].facts  # type: ignore[union-attr]
    assert lower.subject_code == "91620802MA72YJ025R"
    person = seen["YJ2025000103"].facts  # type: ignore[union-attr]
    assert person.subject_type is SubjectType.NATURAL_PERSON and person.subject_code is None
    # Kept exactly as the department masked it (mirrored masked on 信用中国; ADR 0028), never more.
    assert person.subject_id_masked is not None and "*" in person.subject_id_masked
    assert person.to_json()["subject_id_masked"] == person.subject_id_masked
    removed = seen["YJ2024000077"]  # zt 22 with an empty ycyy: a removal all the same
    assert removed is not None and removed.target == stopped(StopReason.REMOVED, date(2025, 6, 20))
    assert removed.target.on == date(2025, 6, 20) and removed.decided_on == date(2025, 6, 20)


async def test_a_revoked_early_removal_is_published_again(emergency: EmergencyHarness) -> None:
    adapter = emergency.make()
    cursor, _, _ = await drain(adapter)
    await emergency.admin("POST", "/admin/restore", {"jlid": "YJ2024000077"})
    _, changes, _ = await drain(adapter, cursor)
    (restored,) = changes
    assert restored.row["zt"] == "30"
    observation = emergency.mapping.to_observation(restored)
    assert observation is not None and observation.target == PUBLISHED


async def test_an_expiry_is_expired_on_its_day(emergency: EmergencyHarness) -> None:
    adapter = emergency.make()
    cursor, _, _ = await drain(adapter)
    body = {"jlid": "YJ2025000101", "kind": "expiry", "reason": "管理期限届满", "date": "2028-03-18"}
    await emergency.admin("POST", "/admin/remove", body)
    _, changes, _ = await drain(adapter, cursor)
    observation = emergency.mapping.to_observation(changes[-1])
    assert observation is not None and observation.target == stopped(StopReason.EXPIRED, date(2028, 3, 18))
    assert observation.target.on == date(2028, 3, 18)


def test_unreadable_rows_are_unmappable_naming_the_field() -> None:
    mapping = EmergencyMapping()
    cases = {
        "zt": {"zt": "99"},
        "ycrq": {"zt": "22", "ycrq": ""},
        "ztlx": {"ztlx": "7"},
        "tyshxydm": {"tyshxydm": "12345"},
        "lrrq": {"lrrq": "2025/13/01"},
        "cfjdswh": {"cfjdswh": ""},
    }
    for field, changes in cases.items():
        change = NativeChange(
            change_key="k",
            source_version="",
            changed_at=datetime.now(BEIJING),
            kind=KIND,
            native_id="1",
            row=emergency_row(1, **changes),
        )
        with pytest.raises(UnmappableRow) as caught:
            mapping.to_observation(change)
        assert caught.value.field == field


def test_an_authority_without_a_code_is_named() -> None:
    change = NativeChange(
        change_key="k",
        source_version="",
        changed_at=datetime.now(BEIJING),
        kind=KIND,
        native_id="1",
        row=emergency_row(1, rdjgdm=""),
    )
    observation = EmergencyMapping().to_observation(change)
    assert observation is not None and observation.facts.authority_code == "白银市应急管理局"


# --- transport specifics ----------------------------------------------------------------------


async def test_a_wrong_secret_is_permanent_and_not_echoed(emergency: EmergencyHarness) -> None:
    adapter = EmergencyAdapter(base_url=emergency.url, app_key=APP_KEY, secret="wrong-Secret", retry=FAST_RETRY)
    try:
        with pytest.raises(PermanentError) as caught:
            await adapter.fetch_changes(None, 5)
        assert (caught.value.status, caught.value.code) == (401, "E1001")
        text = repr(caught.value.context()) + str(caught.value)
        assert "wrong-Secret" not in text and "sign=" not in text.replace("sign=***", "")
    finally:
        await adapter.close()


async def test_clock_skew_is_retryable_not_permanent(emergency: EmergencyHarness) -> None:
    adapter = EmergencyAdapter(
        base_url=emergency.url,
        app_key=APP_KEY,
        secret=SECRET,
        retry=FAST_RETRY,
        clock=lambda: datetime.now(UTC) + timedelta(minutes=20),
    )
    try:
        with pytest.raises(RetryableError) as caught:
            await adapter.fetch_changes(None, 5)
        assert caught.value.code == "E1001"
    finally:
        await adapter.close()


async def test_writes_are_refused_the_list_is_read_only(emergency: EmergencyHarness) -> None:
    from gateway.contract import NativeWrite

    with pytest.raises(PermanentError):
        await emergency.make().write(NativeWrite(kind=KIND, row={}, business_key="x", idempotency_key="k"))


async def test_logs_carry_neither_the_secret_nor_a_signature(emergency: EmergencyHarness) -> None:
    from structlog.testing import capture_logs

    adapter = emergency.make()
    await emergency.faults(error_rate=1.0, error_status=503)
    with capture_logs() as logs:
        with pytest.raises(RetryableError):
            await adapter.fetch_changes(None, 5)
        await emergency.clear_faults()
        await adapter.fetch_changes(None, 5)
    assert logs  # the retries and the read were logged
    text = repr(logs)
    assert SECRET not in text and "sign=" not in text and "timestamp=" not in text
