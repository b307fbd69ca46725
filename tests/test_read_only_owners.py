"""Owners that take no writes (`SystemAdapter.takes_writes` False: the list authorities, which decide
and publish in their own systems): the plan never targets them, an API decision about their records
is refused and changes nothing (single requests and batches), and the expiry sweep leaves their
records to their own expiry signal (docs/adr/0028)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import pytest

from gateway.api.decisions import DecisionRequest, apply_batch
from gateway.api.errors import ApiError
from gateway.clients import ALL, Grant, Scope
from gateway.contract import ChangePage, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, stopped
from gateway.domain.plan import Action, Decision, DecisionRefused, Observation, Outcome, Policy, plan
from gateway.runtime import Runtime, policy_from
from gateway.settings import Settings
from gateway.store.database import open_database
from gateway.store.migrate import migrate
from gateway.sync import connectors
from gateway.sync.connectors import ConnectorSpec
from gateway.sync.ingest import apply_event
from mappings.creditchina_gansu import CreditChinaGansuMapping
from tests.test_api_harness import CC, GS, NOW, Harness, error_of, open_harness

COURT = System.COURT.value
T0 = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)
POLICY = Policy(enabled_systems=frozenset({CC, GS, COURT}), read_only=frozenset({COURT}))


def court_facts(number: str = "（２０２４）甘０１０２执１２３号") -> RecordFacts:
    return RecordFacts(
        category=Category.COURT_DISHONEST,
        authority_name="兰州市城关区人民法院",
        authority_code="A20",
        document_number=number,
        authority_domain=AuthorityDomain.OTHER,
        subject_name="兰州某商贸有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="91620102MA72ABCD94",
        subject_code_checksum_ok=True,
        decision_date=date(2024, 2, 20),
        violation="有履行能力而拒不履行生效法律文书确定义务",
    )


def listed_by_court(facts: RecordFacts, target: Any = PUBLISHED, version: str = "000001") -> Observation:
    return Observation(source=COURT, facts=facts, target=target, changed_at=T0, source_version=version)


# ---- the plan (pure) --------------------------------------------------------------------------


def test_the_owner_s_listing_and_removal_go_to_the_mirrors_only() -> None:
    facts = court_facts()
    created = plan(listed_by_court(facts), None, {}, POLICY)
    assert created.outcome is Outcome.CREATED and [d.system for d in created.deliveries] == [CC]
    assert created.record is not None
    removed = plan(
        listed_by_court(facts, stopped(StopReason.REMOVED, date(2024, 5, 1)), "000002"), created.record, {}, POLICY
    )
    assert [d.system for d in removed.deliveries] == [CC] and removed.deliveries[0].state.on == date(2024, 5, 1)
    assert POLICY.decision_targets(facts) == (CC,) and POLICY.mirrors(facts) == (CC,)
    assert not POLICY.takes_writes(COURT) and POLICY.takes_writes(CC)


@pytest.mark.parametrize("action", [Action.REMOVE, Action.EXPIRE, Action.WITHDRAW])
def test_every_decision_on_a_read_only_owner_s_record_is_refused(action: Action) -> None:
    record = plan(listed_by_court(court_facts()), None, {}, POLICY).record
    decision = Decision(
        record_id=court_facts().record_id, action=action, decided_at=T0 + timedelta(days=1), decided_by="x"
    )
    with pytest.raises(DecisionRefused) as refused:
        plan(decision, record, {}, POLICY)
    assert refused.value.code == "owner_decides_in_its_own_system" and COURT in refused.value.message
    # Without the read-only flag the same decision is planned (what the flag changes, and only that).
    assert plan(decision, record, {}, replace(POLICY, read_only=frozenset())).outcome is Outcome.CHANGED


def test_a_mirror_that_diverges_is_set_back_but_a_read_only_system_is_never_written() -> None:
    facts = court_facts()
    record = plan(listed_by_court(facts), None, {}, POLICY).record
    rogue = Observation(source=CC, facts=facts, target=stopped(StopReason.REMOVED), changed_at=T0, source_version="9")
    set_back = plan(rogue, record, {}, POLICY)
    assert set_back.outcome is Outcome.SET_BACK and [d.system for d in set_back.deliveries] == [CC]
    # Were 信用中国 read-only, its divergence would be audited, never written back.
    frozen = plan(rogue, record, {}, replace(POLICY, read_only=frozenset({COURT, CC})))
    assert frozen.deliveries == () and [a.kind for a in frozen.audit] == ["mirror_divergence"]


# ---- configuration: the read-only set comes from the connectors ---------------------------------


class _ReadOnlyAdapter(SystemAdapter):
    system = COURT
    takes_writes: ClassVar[bool] = False

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        return ChangePage(changes=[], cursor="", has_more=False)

    async def write(self, write: NativeWrite) -> WriteResult:
        raise AssertionError("never written")

    async def close(self) -> None:
        return None


def test_policy_from_takes_the_read_only_systems_from_their_connector_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ConnectorSpec(
        name=COURT,
        settings_model=Settings,
        adapter=lambda _settings, _url: _ReadOnlyAdapter(),
        adapter_class=_ReadOnlyAdapter,
        mapping=CreditChinaGansuMapping(),
        kind_field="kind",
    )
    monkeypatch.setitem(connectors.SPECS, COURT, spec)  # type: ignore[index]
    assert spec.takes_writes is False
    policy = policy_from(Settings(), {CC, GS, COURT})
    assert policy.read_only == frozenset({COURT})


# ---- the API, over real HTTP on both databases --------------------------------------------------


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    async with open_harness(database_url) as harness:
        harness.runtime.policy = POLICY
        yield harness


async def _seed_court(harness: Harness, facts: RecordFacts) -> str:
    event = listed_by_court(facts)
    await harness.runtime.db.run(
        lambda tx: apply_event(tx, event, source=COURT, change_key=facts.record_id, policy=POLICY, now=T0)
    )
    return facts.record_id


async def test_the_api_refuses_a_decision_on_a_read_only_owner_s_record_and_changes_nothing(api: Harness) -> None:
    record_id = await _seed_court(api, court_facts())
    before = await api.snapshot()
    body = {
        "record": {"record_id": record_id},
        "action": "remove",
        "decided_at": (T0 + timedelta(days=2)).isoformat(),
        "decided_by": "兰州市城关区人民法院",
    }
    response = await api.post_repair(body)
    assert response.status == 409
    error = await error_of(response)
    assert error["code"] == "owner_decides_in_its_own_system" and error["field"] == "record"
    assert COURT in error["message"]
    assert await api.snapshot() == before


async def test_a_batch_refuses_it_too_and_decides_the_others(api: Harness) -> None:
    court_id = await _seed_court(api, court_facts())
    other_id = await _seed_court(api, court_facts("（２０２４）甘０１０２执９９号"))
    grant = Grant(
        client_id="c", scopes=frozenset({Scope.DECIDE}), authorities=frozenset({ALL}), categories=frozenset({ALL})
    )

    def request(n: int, record_id: str) -> DecisionRequest:
        decision = Decision(
            record_id=record_id, action=Action.REMOVE, decided_at=T0 + timedelta(days=2), decided_by="法院"
        )
        return DecisionRequest(
            client="c", key=f"k{n}", fingerprint=f"h{n}", decision=decision, subject_code=None, source="api:c",
            grant=grant, policy=POLICY, now=NOW, repair_id=f"rep_{n:024x}",
        )  # fmt: skip

    requests: Sequence[DecisionRequest] = [request(1, court_id), request(2, other_id)]
    outcomes = await api.runtime.db.run(lambda tx: apply_batch(tx, requests))
    for outcome in outcomes:
        assert isinstance(outcome, ApiError) and (outcome.status, outcome.code) == (
            409,
            "owner_decides_in_its_own_system",
        )
    assert await api.count("outbox") == 2  # the two listings' deliveries to 信用中国, nothing more


# ---- the expiry sweep --------------------------------------------------------------------------


async def test_the_sweep_leaves_a_read_only_owner_s_list_to_its_own_expiry_signal(database_url: str) -> None:
    db = open_database(database_url)
    await migrate(db)
    runtime = Runtime(Settings(database_url=database_url, systems=[CC, GS]), db, {}, clock=lambda: NOW)
    runtime.policy = POLICY
    try:
        facts = replace(court_facts(), decision_date=date(2019, 1, 2))  # any period is long over
        event = listed_by_court(facts)
        await db.run(lambda tx: apply_event(tx, event, source=COURT, change_key="c1", policy=POLICY, now=T0))
        report = await runtime.sweep(today=date(2026, 12, 3))
        assert (report.scanned, report.expired, dict(report.skipped)) == (1, 0, {"owner_signals_expiry": 1})
        assert report.deliveries == {}
    finally:
        await runtime.close()
