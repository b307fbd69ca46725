"""The adapter contract, run against the real simulators on 127.0.0.1 (STYLE.md §6, §8).

Three mixins, each with one factory fixture, `harness`, that a subclass overrides to start that
system's simulator and return a `Harness` that builds adapters and speaks the simulator's admin API:

- `FeedContract`, for every system the gateway reads: the change feed pages to its end, the cursor
  never goes back and nothing is lost, every seeded row maps, a removal made by the system's own
  operator shows in the feed and the listing as a stopped state, the full listing holds each row
  once and equals the change feed folded (latest item per row), and the feed ingested by the poller
  agrees with the listing on both databases. Reads only: rows come and go through the admin API.
- `WriteContract`, for a system the gateway writes to: writes and state changes show in the feed,
  resends are harmless, a refused key is a permanent failure with context, every category the
  system takes gets written.
- `HttpFaultContract`, for an HTTP system: 5xx, Retry-After, reset, hang and busy come out as the
  right failure classes, no secret is in an error, an expired token is renewed transparently.

`AdapterContract` is all three (信用中国, GSXT). The list authorities, which the gateway only reads,
take `FeedContract` (plus `HttpFaultContract` for the HTTP ones).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.http import FieldRejected, InCallRetry
from gateway.contract import NativeChange, NativeWrite, SystemAdapter, SystemMapping
from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.model import PUBLISHED, Publicity, RecordFacts, StopReason, TargetState, state_fits, stopped
from gateway.domain.plan import Observation, Policy
from gateway.domain.retry import PermanentError, RateLimitedError, RetryableError
from gateway.store.database import Database
from gateway.store.group import GroupCommitter
from gateway.sync.connectors import Connector
from gateway.sync.poller import Poller

# Short waits so the fault tests stay fast; the policy's shape is what is under test.
FAST_RETRY = InCallRetry(attempts=3, multiplier=0.01, max_wait=0.05, jitter=0.01, retry_after_cap=2.0)


def contract_facts(index: int) -> RecordFacts:
    """A fresh non-market-regulation penalty of a company: both systems accept it as a write."""
    return RecordFacts(
        category=Category.ADMIN_PENALTY,
        authority_name="兰州市生态环境局",
        authority_code="11620100MB0012345H",
        document_number=f"兰环罚〔2026〕9{index:03d}号",
        authority_domain=AuthorityDomain.OTHER,
        subject_name="兰州恒达商贸有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="91620102MA72ABCD94",
        subject_code_checksum_ok=True,
        decision_date=date(2026, 3, 5),
        penalty_kinds=("罚款", "没收违法所得"),
        violation="超标排放大气污染物",
        content="罚款2000元，没收违法所得500元",
    )


def contract_abnormal_facts(index: int) -> RecordFacts:
    """A fresh 经营异常名录 entry of a company (信用中国 mirrors GSXT's list)."""
    return RecordFacts(
        category=Category.ABNORMAL_OPERATIONS,
        authority_name="兰州市城关区市场监督管理局",
        authority_code="11620102MB1234567X",
        document_number=f"兰城市监异〔2026〕9{index:03d}号",
        authority_domain=AuthorityDomain.MARKET_REGULATION,
        subject_name="兰州恒达商贸有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="91620102MA72ABCD94",
        subject_code_checksum_ok=True,
        decision_date=date(2026, 3, 1),
        listing_cause="4",
    )


def contract_court_facts(index: int) -> RecordFacts:
    """A fresh 失信被执行人 entry of a person (court: 执行法院 code + 案号 as typed, full-width; ID masked)."""
    return RecordFacts(
        category=Category.COURT_DISHONEST,
        authority_name="兰州市城关区人民法院",
        authority_code="A20",
        document_number=f"（２０２６）甘０１０２执９{index:03d}号",
        authority_domain=AuthorityDomain.OTHER,
        subject_name="王某某",
        subject_type=SubjectType.NATURAL_PERSON,
        subject_id_masked="6201**********1234",
        decision_date=date(2026, 2, 3),
        violation="有履行能力而拒不履行生效法律文书确定义务",
    )


def contract_tax_facts(index: int) -> RecordFacts:
    """A fresh 重大税收违法失信主体 of a company (the 税务机关 has no code in its rows: its name keys it)."""
    return RecordFacts(
        category=Category.TAX_MAJOR_VIOLATION,
        authority_name="国家税务总局兰州市税务局第一稽查局",
        authority_code="国家税务总局兰州市税务局第一稽查局",
        document_number=f"兰税一稽罚〔2026〕9{index:03d}号",
        authority_domain=AuthorityDomain.OTHER,
        subject_name="兰州恒达商贸有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="91620102MA72ABCD94",
        subject_code_checksum_ok=True,
        decision_date=date(2026, 1, 20),
        violation="虚开增值税专用发票",
    )


def contract_wage_facts(index: int) -> RecordFacts:
    """A fresh 拖欠农民工工资 entry of a unit (one 认定决定书 lists several objects: `RDWSH#DXBH`)."""
    return RecordFacts(
        category=Category.WAGE_ARREARS,
        authority_name="甘肃省人力资源和社会保障厅",
        authority_code="11620000MA72RN0959",
        document_number=f"甘人社认〔2026〕9{index:03d}号#DX2026{index:04d}",
        authority_domain=AuthorityDomain.OTHER,
        subject_name="甘肃某建筑劳务有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="91620102MA72QY550X",
        subject_code_checksum_ok=True,
        decision_date=date(2026, 2, 10),
        violation="拖欠农民工工资数额达到认定拒不支付劳动报酬罪数额标准",
    )


def contract_work_safety_facts(index: int) -> RecordFacts:
    """A fresh 安全生产严重失信主体 (a producing unit)."""
    return RecordFacts(
        category=Category.WORK_SAFETY,
        authority_name="甘肃省应急管理厅",
        authority_code="11620000MA72YJ092R",
        document_number=f"JL2026{index:05d}",
        authority_domain=AuthorityDomain.OTHER,
        subject_name="兰州恒达商贸有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="91620102MA72ABCD94",
        subject_code_checksum_ok=True,
        decision_date=date(2026, 1, 5),
        violation="发生较大生产安全事故，性质恶劣",
        legal_basis="《安全生产严重失信主体名单管理办法》第五条",
    )


def contract_statistics_facts(index: int) -> RecordFacts:
    """A fresh 统计严重失信企业 (the bureau names its 认定机关 only)."""
    return RecordFacts(
        category=Category.STATISTICS_SERIOUS,
        authority_name="甘肃省统计局",
        authority_code="甘肃省统计局",
        document_number=f"甘统认〔2026〕9{index:03d}号",
        authority_domain=AuthorityDomain.OTHER,
        subject_name="甘肃某建筑劳务有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="91620102MA72QY550X",
        subject_code_checksum_ok=True,
        decision_date=date(2026, 3, 2),
        violation="提供不真实统计资料",
    )


def contract_social_org_facts(index: int) -> RecordFacts:
    """A fresh 社会组织严重违法失信名单 entry (a 民办非企业单位, USCC prefix 5)."""
    return RecordFacts(
        category=Category.SOCIAL_ORG_SERIOUS,
        authority_name="兰州市民政局",
        authority_code="兰州市民政局",
        document_number=f"兰民失〔2026〕9{index:03d}号",
        authority_domain=AuthorityDomain.OTHER,
        subject_name="兰州市某职业培训学校",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="52620100MJ72AB123C",
        subject_code_checksum_ok=True,
        decision_date=date(2026, 2, 25),
        violation="被列入活动异常名录满2年",
    )


def contract_samr_serious_facts(index: int) -> RecordFacts:
    """A fresh 市场监督管理严重违法失信名单 entry (GSXT's own; 信用中国 mirrors it)."""
    return RecordFacts(
        category=Category.SAMR_SERIOUS,
        authority_name="甘肃省市场监督管理局",
        authority_code="11620000MB1785432K",
        document_number=f"甘市监严列〔2026〕9{index:03d}号",
        authority_domain=AuthorityDomain.MARKET_REGULATION,
        subject_name="兰州恒达商贸有限公司",
        subject_type=SubjectType.LEGAL_ENTITY,
        subject_code="91620102MA72ABCD94",
        subject_code_checksum_ok=True,
        decision_date=date(2026, 1, 12),
        violation="被列入异常名录届满3年仍未履行相关义务的",
    )


# One facts factory per category: fresh, distinct records (by index) the category's writers accept.
CONTRACT_FACTS: Mapping[Category, Callable[[int], RecordFacts]] = {
    Category.ADMIN_PENALTY: contract_facts,
    Category.ABNORMAL_OPERATIONS: contract_abnormal_facts,
    Category.COURT_DISHONEST: contract_court_facts,
    Category.TAX_MAJOR_VIOLATION: contract_tax_facts,
    Category.WAGE_ARREARS: contract_wage_facts,
    Category.WORK_SAFETY: contract_work_safety_facts,
    Category.STATISTICS_SERIOUS: contract_statistics_facts,
    Category.SOCIAL_ORG_SERIOUS: contract_social_org_facts,
    Category.SAMR_SERIOUS: contract_samr_serious_facts,
}


class Harness(ABC):
    """One running simulator plus the adapter factory for it."""

    system: ClassVar[str]
    secrets: tuple[str, ...] = ()  # credentials that must never show in an error's context
    categories: ClassVar[tuple[Category, ...]] = (Category.ADMIN_PENALTY,)  # written by the gateway
    listing_kinds: ClassVar[tuple[str, ...]] = ()  # row kinds (tables, row types) the system lists
    takes_writes: ClassVar[bool] = True  # False: a system the gateway only reads (its faults hit reads)
    listing_drops_removed: ClassVar[bool] = False  # True: a removed row leaves the listing (court)
    busy_codes: ClassVar[tuple[str, ...]] = ("99", "3001")  # the system's own "busy, retry" answers
    # True for a system read with GET: aiohttp sends an idempotent request once more on a fresh
    # connection when a kept-alive one was closed under it (RFC 9112 §9.3.1), so a reset can be
    # met twice per in-call attempt.
    idempotent_reads: ClassVar[bool] = False

    def __init__(self, server: TestServer, admin: aiohttp.ClientSession) -> None:
        self.server = server
        self.url = str(server.make_url("")).rstrip("/")
        self._admin = admin
        self._adapters: list[SystemAdapter] = []

    # --- per system ---------------------------------------------------------------------------

    @abstractmethod
    def build(self, *, timeout: float, page_size: int, retry: InCallRetry) -> SystemAdapter:
        """A new adapter for this simulator (good credentials)."""

    @property
    @abstractmethod
    def mapping(self) -> SystemMapping: ...

    @abstractmethod
    def cursor_position(self, cursor: str) -> Any:
        """Where a cursor points, comparable: the test's way to see it never goes back."""

    @abstractmethod
    def business_key_label(self, facts: RecordFacts) -> str:
        """The simulator's stats label of a record's business key."""

    @abstractmethod
    async def seed_native(self, count: int, start: int) -> list[str]:
        """Load `count` fresh native rows, distinct by `start + i`, through the admin API, as the
        system's own operators list them; their business-key labels as `/admin/stats` names them."""

    @abstractmethod
    async def remove_native(self, label: str) -> None:
        """Make the system signal the removal of the row `label` (its own way), via the admin API."""

    @abstractmethod
    def native_label(self, change: NativeChange) -> str:
        """The business-key label (as `/admin/stats` names it) of a feed item or listed row."""

    async def expire_tokens(self) -> bool:
        """Expire every session token; False when the system has none."""
        return False

    async def disorder(self) -> bool:
        """Make the system repeat and shuffle what it serves; False when it has no such knob."""
        await self.faults(duplicate_pages=1.0, out_of_order=1.0)
        return True

    async def touch(self, adapter: SystemAdapter, index: int) -> None:
        """One call the gateway makes to the system, for the fault tests: a write of a fresh record
        where the system takes writes, else a read of the feed's first page."""
        if self.takes_writes:
            await adapter.write(self.write_for(contract_facts(index)))
        else:
            await adapter.fetch_changes(None, 5)

    # --- shared -------------------------------------------------------------------------------

    def make(self, *, timeout: float = 2.0, page_size: int = 500, retry: InCallRetry = FAST_RETRY) -> SystemAdapter:
        adapter = self.build(timeout=timeout, page_size=page_size, retry=retry)
        self._adapters.append(adapter)
        return adapter

    def write_for(self, facts: RecordFacts, target: TargetState = PUBLISHED, *, key: str = "") -> NativeWrite:
        return self.mapping.to_write(facts, target, idempotency_key=key or f"contract|{facts.record_id}|{target.label}")

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        async with self._admin.request(method, self.url + path, json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def faults(self, **knobs: Any) -> None:
        await self.admin("POST", "/admin/faults", knobs)

    async def clear_faults(self) -> None:
        await self.admin("DELETE", "/admin/faults")

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.admin("GET", "/admin/stats")
        return stats

    async def injected(self, kind: str) -> int:
        return int((await self.stats())["faults_injected"].get(kind, 0))

    async def close(self) -> None:
        for adapter in self._adapters:
            await adapter.close()


async def drain(
    adapter: SystemAdapter, cursor: str | None = None, page_size: int = 500, *, max_calls: int = 200
) -> tuple[str | None, list[NativeChange], list[str]]:
    """Read the feed to its end: the last cursor, every change, and every cursor seen."""
    changes: list[NativeChange] = []
    cursors: list[str] = []
    for _ in range(max_calls):
        page = await adapter.fetch_changes(cursor, page_size)
        changes.extend(page.changes)
        cursor = page.cursor
        cursors.append(page.cursor)
        if not page.has_more:
            return cursor, changes, cursors
    raise AssertionError(f"feed not drained after {max_calls} calls")


async def listing(adapter: SystemAdapter, kind: str, page_size: int = 500) -> list[list[NativeChange]]:
    """Every page of a full listing; fails if it does not end."""
    pages: list[list[NativeChange]] = []
    async for page in adapter.list_all(kind, page_size):
        pages.append(page.rows)
        assert len(pages) <= 10_000, f"the listing of {kind} does not end"
    return pages


def latest_by_row(changes: Sequence[NativeChange]) -> dict[tuple[str, str | None], NativeChange]:
    """The feed folded: each row's latest item (by source version)."""
    latest: dict[tuple[str, str | None], NativeChange] = {}
    for change in changes:
        key = (change.kind, change.native_id)
        if key not in latest or latest[key].source_version < change.source_version:
            latest[key] = change
    return latest


def observations(mapping: SystemMapping, changes: Sequence[NativeChange]) -> list[Observation]:
    found = (mapping.to_observation(change) for change in changes)
    return [observation for observation in found if observation is not None]


def of_record(mapping: SystemMapping, changes: Sequence[NativeChange], facts: RecordFacts) -> list[Observation]:
    return [o for o in observations(mapping, changes) if o.facts.record_id == facts.record_id]


class _HarnessFixture:
    @pytest.fixture
    async def harness(self) -> AsyncIterator[Harness]:
        raise NotImplementedError("subclasses start their simulator here")
        yield  # pragma: no cover


class FeedContract(_HarnessFixture):
    """What every system the gateway reads must do, with reads only (rows appear and go away
    through the simulator's admin API, as the system's own operators make them): the feed pages to
    its end, never skips and never goes back; every row maps; a removal shows in the feed and the
    listing as a stopped state; the listing holds each row once and is the feed folded; what the
    poller ingests into the store agrees with the listing on SQLite and PostgreSQL."""

    async def test_cursor_never_goes_back_and_nothing_is_lost(self, harness: Harness) -> None:
        adapter = harness.make()
        start, _, _ = await drain(adapter)
        seeded = await harness.seed_native(5, start=20)
        assert len(set(seeded)) == 5
        await harness.disorder()
        _, changes, cursors = await drain(adapter, start, page_size=2)
        positions = [harness.cursor_position(c) for c in [start or "", *cursors]]
        assert positions == sorted(positions), "the cursor went backwards"
        mapped = {harness.native_label(change) for change in changes if harness.mapping.to_observation(change)}
        assert set(seeded) <= mapped

    async def test_every_seeded_row_maps(self, harness: Harness) -> None:
        """The test that catches mapping bugs against the other side's own fixtures."""
        adapter = harness.make()
        _, changes, _ = await drain(adapter, None, page_size=7)
        assert changes
        mapped = observations(harness.mapping, changes)  # raises UnmappableRow on any bad row
        assert len({o.facts.record_id for o in mapped}) == len({c.native_id for c in changes})
        assert PUBLISHED in {o.target for o in mapped}
        # A seed row may be stopped already (a list's early removal), never in a state its category lacks.
        assert all(state_fits(o.facts.category, o.target) for o in mapped)

    async def test_a_removal_shows_in_the_feed_and_the_listing(self, harness: Harness) -> None:
        adapter = harness.make()
        (label,) = await harness.seed_native(1, start=70)
        cursor, before, _ = await drain(adapter)
        assert [target_of(harness, c) for c in before if harness.native_label(c) == label][-1:] == [PUBLISHED]
        await harness.remove_native(label)
        _, changes, _ = await drain(adapter, cursor)
        mine = [change for change in changes if harness.native_label(change) == label]
        assert mine, "the removal did not come through the feed"
        removed = target_of(harness, mine[-1])
        assert removed.status is Publicity.STOPPED and removed.reason is not None
        listed = [
            row
            for kind in harness.listing_kinds
            for page in await listing(adapter, kind)
            for row in page
            if harness.native_label(row) == label
        ]
        if harness.listing_drops_removed:
            assert listed == [], "a removed row is still listed"
        else:
            assert [target_of(harness, row) for row in listed] == [removed]

    async def test_listing_pages_end_and_hold_each_row_once(self, harness: Harness) -> None:
        adapter = harness.make()
        assert harness.listing_kinds
        await harness.seed_native(3, start=30)
        for kind in harness.listing_kinds:
            pages = await listing(adapter, kind, page_size=7)
            rows = [row for page in pages for row in page]
            assert all(len(page) <= 7 for page in pages)
            assert all(row.kind == kind and row.native_id for row in rows)
            assert len({row.native_id for row in rows}) == len(rows), f"a {kind} row was listed twice"

    async def test_listing_equals_the_union_of_the_change_feed(self, harness: Harness) -> None:
        adapter = harness.make()
        # Some history first: rows listed, one of them then removed (two feed items, one row).
        first, *_ = await harness.seed_native(3, start=50)
        await harness.remove_native(first)
        _, changes, _ = await drain(adapter, None, page_size=50)
        folded = latest_by_row(changes)
        feed = {key: dict(change.row) for key, change in folded.items()}
        listed = {
            (row.kind, row.native_id): dict(row.row)
            for kind in harness.listing_kinds
            for page in await listing(adapter, kind, page_size=50)
            for row in page
        }
        assert listed and listed == {key: feed[key] for key in listed}
        unlisted = feed.keys() - listed.keys()
        if not harness.listing_drops_removed:
            assert unlisted == set()
        assert all(target_of(harness, folded[key]).status is Publicity.STOPPED for key in unlisted)
        (removed,) = [change for change in folded.values() if harness.native_label(change) == first]
        assert target_of(harness, removed).status is Publicity.STOPPED

    async def test_listing_under_faults_is_the_same_listing(self, harness: Harness) -> None:
        adapter = harness.make()
        clean = {kind: await listing(adapter, kind, page_size=5) for kind in harness.listing_kinds}
        await harness.disorder()
        for kind, pages in clean.items():
            faulted = await listing(adapter, kind, page_size=5)
            assert [[row.row for row in page] for page in faulted] == [[row.row for row in page] for page in pages]

    async def test_the_feed_ingested_agrees_with_the_listing(self, harness: Harness, db: Database) -> None:
        """The poller reads the whole feed into the store; what the store then says this system
        shows (links.seen_*) is what the full listing maps to, record by record (a row the system
        drops from its listing when it removes it is stopped in the store)."""
        adapter = harness.make()
        (label, *_) = await harness.seed_native(2, start=60)
        await harness.remove_native(label)
        # Read before the poll: a 前置库 feed holds only the rows not yet acknowledged (hrss).
        _, changes, _ = await drain(adapter)
        committer = GroupCommitter(db)
        try:
            connector = Connector(harness.system, adapter, harness.mapping, page_size=25)
            poller = Poller(committer, connector, Policy(enabled_systems=frozenset({harness.system})))
            for _ in range(200):
                if not (await poller.poll_once()).changes:
                    break
            else:
                raise AssertionError("the feed did not end")
            rows = await db.run(
                lambda tx: tx.all(
                    "SELECT record_id, seen_status, seen_reason FROM links WHERE system = ?", (harness.system,)
                ),
                write=False,
            )
        finally:
            await committer.close()
        stored = {row["record_id"]: (row["seen_status"], row["seen_reason"]) for row in rows}
        listed_rows = [
            row for kind in harness.listing_kinds for page in await listing(adapter, kind, page_size=50) for row in page
        ]
        listed = {o.facts.record_id: state_pair(o.target) for o in observations(harness.mapping, listed_rows)}
        assert listed and {record: stored.get(record) for record in listed} == listed
        unlisted = stored.keys() - listed.keys()
        if not harness.listing_drops_removed:
            assert unlisted == set()
        assert all(stored[record][0] == Publicity.STOPPED.value for record in unlisted)
        (removed,) = {o.facts.record_id: o for o in of_label(harness, changes, label)}.values()
        assert stored[removed.facts.record_id] == state_pair(removed.target)
        assert removed.target.status is Publicity.STOPPED


class WriteContract(_HarnessFixture):
    """What a system the gateway writes to must do: writes and state changes come back through the
    feed, resends are harmless, a refused row is a permanent failure naming its field, and every
    category the system takes is written."""

    async def test_write_shows_in_the_change_feed(self, harness: Harness) -> None:
        adapter = harness.make()
        cursor, _, _ = await drain(adapter)
        facts = contract_facts(1)
        await adapter.write(harness.write_for(facts))
        _, changes, _ = await drain(adapter, cursor)
        seen = of_record(harness.mapping, changes, facts)
        assert seen, "the write did not come back through the feed"
        assert seen[-1].target == PUBLISHED
        assert seen[-1].facts.document_number == facts.document_number
        assert seen[-1].facts.subject_code == facts.subject_code

    async def test_state_change_shows_in_the_change_feed(self, harness: Harness) -> None:
        adapter = harness.make()
        facts = contract_facts(2)
        await adapter.write(harness.write_for(facts))
        cursor, _, _ = await drain(adapter)
        await adapter.write(harness.write_for(facts, stopped(StopReason.REPAIRED)))
        _, changes, _ = await drain(adapter, cursor)
        seen = of_record(harness.mapping, changes, facts)
        assert seen and seen[-1].target == stopped(StopReason.REPAIRED)

    async def test_resend_is_harmless(self, harness: Harness) -> None:
        adapter = harness.make()
        facts = contract_facts(3)
        write = harness.write_for(facts)
        label = harness.business_key_label(facts)
        await adapter.write(write)
        cursor, first, _ = await drain(adapter)
        applied = (await harness.stats())["writes"][label]
        await adapter.write(write)
        _, again, _ = await drain(adapter, cursor)
        known = {change.change_key for change in first}
        assert [c.change_key for c in again if c.change_key not in known] == []
        assert (await harness.stats())["writes"][label] == applied

    async def test_rejected_key_is_permanent_with_context(self, harness: Harness) -> None:
        adapter = harness.make()
        facts = contract_facts(10)
        await harness.faults(reject_keys=[facts.document_number])
        with pytest.raises(PermanentError) as caught:
            await adapter.write(harness.write_for(facts))
        error = caught.value
        assert isinstance(error, FieldRejected)
        assert error.field is not None
        context = error.context()
        assert context["kind"] == "permanent" and context["field"] == error.field
        assert context["code"] and context["body_excerpt"]

    async def test_rejections_carry_no_secrets(self, harness: Harness) -> None:
        adapter = harness.make()
        await harness.faults(reject_keys=[contract_facts(11).document_number])
        with pytest.raises(PermanentError) as caught:
            await adapter.write(harness.write_for(contract_facts(11)))
        text = repr(caught.value.context())
        assert harness.secrets
        for secret in harness.secrets:
            assert secret not in text

    async def test_the_written_listing_equals_the_union_of_the_change_feed(self, harness: Harness) -> None:
        adapter = harness.make()
        facts = contract_facts(50)
        await adapter.write(harness.write_for(facts))
        await adapter.write(harness.write_for(facts, stopped(StopReason.REPAIRED)))
        _, changes, _ = await drain(adapter, None, page_size=50)
        feed = {key: dict(change.row) for key, change in latest_by_row(changes).items()}
        listed = {
            (row.kind, row.native_id): dict(row.row)
            for kind in harness.listing_kinds
            for page in await listing(adapter, kind, page_size=50)
            for row in page
        }
        assert listed and listed == feed
        assert [o.target for o in of_record(harness.mapping, listed_changes(listed), facts)] == [
            stopped(StopReason.REPAIRED)
        ]

    async def test_every_category_written_shows_in_the_feed_and_the_listing(self, harness: Harness) -> None:
        adapter = harness.make()
        cursor, _, _ = await drain(adapter)
        written = [CONTRACT_FACTS[category](40 + n) for n, category in enumerate(harness.categories)]
        writes = [harness.write_for(facts) for facts in written]
        for write in writes:
            await adapter.write(write)
        _, changes, _ = await drain(adapter, cursor)
        listed = [row for kind in {w.kind for w in writes} for page in await listing(adapter, kind) for row in page]
        for facts in written:
            assert of_record(harness.mapping, changes, facts)[-1].target == PUBLISHED, facts.category
            assert [o.target for o in of_record(harness.mapping, listed, facts)] == [PUBLISHED], facts.category


class HttpFaultContract(_HarnessFixture):
    """An HTTP system's transport faults (docs/protocols.md §3 knobs) come out as the right failure
    classes, in the call the gateway makes to it (`Harness.touch`: a write where the system takes
    writes, else a read of the feed)."""

    async def test_server_errors_are_retried_in_call_then_retryable(self, harness: Harness) -> None:
        adapter = harness.make()
        await harness.faults(error_rate=1.0, error_status=503)
        with pytest.raises(RetryableError) as caught:
            await harness.touch(adapter, 4)
        assert caught.value.status == 503
        assert await harness.injected("http_503") == FAST_RETRY.attempts

    async def test_short_retry_after_is_waited_out_in_call(self, harness: Harness) -> None:
        adapter = harness.make()
        await harness.faults(rate_limit_rate=1.0, retry_after_s=1)

        async def lift_after_first_refusal() -> None:
            while await harness.injected("http_429") == 0:
                await asyncio.sleep(0.02)
            await harness.clear_faults()

        started = time.monotonic()
        lifting = asyncio.create_task(lift_after_first_refusal())
        await harness.touch(adapter, 5)
        await lifting
        assert time.monotonic() - started >= 0.9  # it waited as told

    async def test_long_retry_after_goes_back_to_the_caller_at_once(self, harness: Harness) -> None:
        adapter = harness.make()
        await harness.faults(rate_limit_rate=1.0, retry_after_s=120)
        with pytest.raises(RateLimitedError) as caught:
            await harness.touch(adapter, 6)
        assert caught.value.retry_after == 120
        assert caught.value.status == 429
        assert await harness.injected("http_429") == 1

    async def test_connection_reset_is_retryable(self, harness: Harness) -> None:
        adapter = harness.make()
        await harness.faults(reset_rate=1.0)
        with pytest.raises(RetryableError):
            await harness.touch(adapter, 7)
        resets = await harness.injected("reset")
        if harness.idempotent_reads and not harness.takes_writes:
            assert FAST_RETRY.attempts <= resets <= 2 * FAST_RETRY.attempts
        else:
            assert resets == FAST_RETRY.attempts

    async def test_hang_times_out_as_retryable(self, harness: Harness) -> None:
        adapter = harness.make(timeout=0.3)
        await harness.faults(hang_rate=1.0, hang_s=5)
        started = time.monotonic()
        with pytest.raises(RetryableError):
            await harness.touch(adapter, 8)
        assert time.monotonic() - started < 3.0

    async def test_busy_is_retryable(self, harness: Harness) -> None:
        adapter = harness.make()
        await harness.faults(busy_rate=1.0)
        with pytest.raises(RetryableError) as caught:
            await harness.touch(adapter, 9)
        assert caught.value.code in harness.busy_codes

    async def test_failures_carry_no_secrets(self, harness: Harness) -> None:
        assert harness.secrets
        adapter = harness.make()
        for knobs in ({"busy_rate": 1.0}, {"error_rate": 1.0, "error_status": 500}):
            await harness.faults(**knobs)
            with pytest.raises(RetryableError) as caught:
                await harness.touch(adapter, 11)
            text = repr(caught.value.context()) + str(caught.value)
            for secret in harness.secrets:
                assert secret not in text, knobs

    async def test_token_expiry_is_handled_transparently(self, harness: Harness) -> None:
        adapter = harness.make()
        await harness.touch(adapter, 30)
        if not await harness.expire_tokens():
            pytest.skip(f"{harness.system} has no session tokens")
        await harness.touch(adapter, 31)
        cursor, _, _ = await drain(adapter)
        assert cursor


class AdapterContract(FeedContract, WriteContract, HttpFaultContract):
    """The whole contract, for a system the gateway both reads and writes over HTTP."""


def target_of(harness: Harness, change: NativeChange) -> TargetState:
    observation = harness.mapping.to_observation(change)
    assert observation is not None, change
    return observation.target


def of_label(harness: Harness, changes: Sequence[NativeChange], label: str) -> list[Observation]:
    mine = (harness.mapping.to_observation(c) for c in changes if harness.native_label(c) == label)
    return [observation for observation in mine if observation is not None]


def state_pair(target: TargetState) -> tuple[str, str | None]:
    return target.status.value, target.reason.value if target.reason else None


def listed_changes(listed: Mapping[tuple[str, str | None], Mapping[str, Any]]) -> list[NativeChange]:
    return [
        NativeChange(
            change_key=f"list:{kind}:{native_id}",
            source_version="",
            changed_at=LISTED_AT,
            kind=kind,
            native_id=native_id,
            row=row,
        )
        for (kind, native_id), row in listed.items()
    ]


LISTED_AT = datetime(2026, 1, 1, tzinfo=UTC)
