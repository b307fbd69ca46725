"""The hrss 前置库 adapter against the HR department's simulator on a real MariaDB (docs/protocols.md §8).

The department's side (rows, faults, purge, correction) is driven through the simulator's admin
API; the adapter reaches the table only by SQL, configured with the address the sandbox reads from
`/admin/info`. The poller runs over a real store (SQLite, and PostgreSQL where marked) to show when
rows are marked processed: only after the gateway durably ingested them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

import gateway.sync.poller as poller_module
from adapters.frontdb import FrontDbAddress, FrontDbLimits
from adapters.hrss import Cursor, HrssAdapter
from gateway.cli import _point_at_simulated_hrss
from gateway.contract import Ingested, NativeChange, NativeWrite
from gateway.domain.model import PUBLISHED
from gateway.domain.plan import Policy
from gateway.domain.retry import PermanentError, RetryableError
from gateway.observability import REGISTRY
from gateway.sandbox import Sandbox, simulated_frontdb
from gateway.settings import Settings
from gateway.store.database import Database
from gateway.store.group import GroupCommitter
from gateway.store.repo import Repo
from gateway.sync.connectors import Connector, build_connectors
from gateway.sync.poller import FEED, Poller
from mappings.hrss import KIND, HrssMapping
from simulators.hrss import HrssConfig, create_app
from tests.adapter_contract import drain, latest_by_row, listing
from tests.conftest import mariadb_address
from tests.list_simulators import Sim, running

pytestmark = pytest.mark.mariadb
MAPPING = HrssMapping()
FIXTURE_ROWS = 7
# The order the department wrote the fixture rows in (CZSJ, then ID): (DXBH, CZBZ).
WRITE_ORDER = [
    ("RS2024-0031-1", "i"),
    ("RS2025-0007-1", "i"),
    ("RS2025-0007-2", "i"),
    ("RS2025-0019-1", "i"),
    ("RS2025-0019-1", "u"),
    ("RS2025-0019-1", "u"),
    ("RS2024-0031-1", "d"),
]


def config(clock: Any) -> HrssConfig:
    host, port = mariadb_address()
    return HrssConfig(host=host, port=port, clock=clock)


class Hrss:
    """The simulator and adapters made for its table."""

    def __init__(self, sim: Sim, info: dict[str, Any]) -> None:
        self.sim = sim
        self.info = info
        self._adapters: list[HrssAdapter] = []

    def adapter(self, *, timeout: float = 10.0, password: str = "", table: str | None = None) -> HrssAdapter:
        adapter = HrssAdapter(
            address=FrontDbAddress(
                host=self.info["host"],
                port=self.info["port"],
                user=self.info["user"],
                password=password,
                database=self.info["database"],
            ),
            table=table or self.info["table"],
            limits=FrontDbLimits(statement_timeout_s=timeout, connect_timeout_s=10.0, pool_size=2),
            kind=KIND,
        )
        self._adapters.append(adapter)
        return adapter

    async def marks(self) -> dict[str, int]:
        return dict((await self.sim.stats())["marks"])

    async def rows(self) -> list[dict[str, Any]]:
        return list((await self.sim.admin("GET", "/admin/rows"))["rows"])

    async def load(self, *records: dict[str, Any]) -> None:
        await self.sim.admin("POST", "/admin/load", json={"records": list(records)})

    async def close(self) -> None:
        for adapter in self._adapters:
            await adapter.close()


@pytest.fixture
async def hrss() -> AsyncIterator[Hrss]:
    async with running("hrss", create_app, config) as sim:
        info = await sim.admin("GET", "/admin/info")
        assert info["available"] is True
        world = Hrss(sim, info)
        try:
            yield world
        finally:
            await world.close()


def unit(dxbh: str, **changes: Any) -> dict[str, Any]:
    row = {
        "DXBH": dxbh, "RDWSH": "甘人社失惩〔2026〕3号", "DXLX": "1", "DXMC": f"{dxbh}劳务有限公司",
        "TYSHXYDM": "91620121MA72RN01XM", "LRSY": "拖欠农民工工资", "SJJE": "1000.50",
        "RDBM": "甘肃省人力资源和社会保障厅", "RDBMDM": "11620000MA72RN0959",
        "LRRQ": "2026-11-20", "LRQX": "2029-11-19",
    }  # fmt: skip
    return {**row, **changes}


def poller_for(committer: GroupCommitter, adapter: HrssAdapter, page_size: int = 3) -> Poller:
    connector = Connector("hrss", adapter, MAPPING, page_size=page_size)
    return Poller(committer, connector, Policy(enabled_systems=frozenset({"hrss"})))


async def poll_to_end(poller: Poller) -> int:
    seen = 0
    for _ in range(50):
        changes = (await poller.poll_once()).changes
        seen += changes
        if not changes:
            return seen
    raise AssertionError("the feed did not end")


# --- the feed ---------------------------------------------------------------------------------


async def test_pending_rows_come_in_write_order_and_the_cursor_only_grows(hrss: Hrss) -> None:
    adapter = hrss.adapter()
    first = await adapter.fetch_changes(None, FIXTURE_ROWS)
    assert [(c.native_id, c.row["CZBZ"]) for c in first.changes] == WRITE_ORDER
    assert [c.source_version for c in first.changes] == sorted(c.source_version for c in first.changes)
    # Nobody marks them (no poller): paging still ends, and a second read hands the rows out again
    # (the sweep of rows still pending behind the cursor) without the cursor ever going back.
    _, changes, cursors = await drain(adapter, first.cursor, page_size=2)
    positions = [Cursor.decode(c) for c in [first.cursor, *cursors]]
    assert positions == sorted(positions)
    assert sorted(c.change_key for c in changes) == sorted(c.change_key for c in first.changes)
    assert all(c.kind == KIND and "CLZT" not in c.row for c in changes)


async def test_out_of_order_rows_behind_the_cursor_are_not_skipped(hrss: Hrss, db: Database) -> None:
    adapter = hrss.adapter()
    committer = GroupCommitter(db)
    try:
        poller = poller_for(committer, adapter)
        await hrss.load(unit("RS2026-0003-1"))  # written now (09:00): the cursor moves up to it
        assert await poll_to_end(poller) == FIXTURE_ROWS + 1
        before = Cursor.decode(await db.run(lambda tx: Repo(tx).get_cursor("hrss", FEED), write=False))
        # Rows committed late and in reverse: written at 09:10, their CZSJ says 08:10, an hour
        # behind the row already read.
        await hrss.sim.admin("POST", "/admin/faults", json={"out_of_order": True, "late_s": 3600})
        hrss.sim.clock.advance(600)
        await hrss.load(unit("RS2026-0003-2"), unit("RS2026-0003-3"))
        late = [row for row in await hrss.rows() if row["DXBH"] in ("RS2026-0003-2", "RS2026-0003-3")]
        assert all(row["CZSJ"] < "2026-11-26 09:00" for row in late)
        assert await poll_to_end(poller) == 2
        after = Cursor.decode(await db.run(lambda tx: Repo(tx).get_cursor("hrss", FEED), write=False))
    finally:
        await committer.close()
    assert after >= before  # the cursor never went back
    assert await hrss.marks() == {"success": FIXTURE_ROWS + 3}
    records = await db.run(lambda tx: tx.all("SELECT record_id FROM records"), write=False)
    assert len(records) == 4 + 3  # four objects in the fixture, and the three new ones


async def test_a_locked_table_times_out_as_retryable_and_nothing_is_marked(hrss: Hrss, db: Database) -> None:
    adapter = hrss.adapter(timeout=1.0)
    change = (await adapter.fetch_changes(None, 1)).changes[0]
    await hrss.sim.admin("POST", "/admin/faults", json={"lock_table": True})
    committer = GroupCommitter(db)
    try:
        poller = poller_for(committer, adapter)
        with pytest.raises(RetryableError) as caught:
            await poller.poll_once()
        assert caught.value.code in ("1205", "1969")  # lock wait / statement time-out, on the server
        with pytest.raises(RetryableError):
            await adapter.acknowledge([Ingested(change=change, outcome="created")])
        await hrss.sim.admin("DELETE", "/admin/faults")
        assert await hrss.marks() == {"pending": FIXTURE_ROWS}
        assert await db.run(lambda tx: Repo(tx).get_cursor("hrss", FEED), write=False) is None
        assert await poll_to_end(poller) == FIXTURE_ROWS  # once the lock is gone, it all goes through
    finally:
        await committer.close()
    assert await hrss.marks() == {"success": FIXTURE_ROWS}


async def test_dropped_connections_are_replaced_in_the_next_call(hrss: Hrss) -> None:
    adapter = hrss.adapter()
    await adapter.fetch_changes(None, 2)  # the pool now holds an open connection
    dropped = await hrss.sim.admin("POST", "/admin/faults", json={"drop_connections": True})
    assert dropped["dropped"] >= 1
    page = await adapter.fetch_changes(None, FIXTURE_ROWS)  # reconnects in the call
    assert len(page.changes) == FIXTURE_ROWS
    assert (await hrss.sim.stats())["faults_injected"]["drop_connections"] == 1


# --- marks: only after the ingest commit ------------------------------------------------------


async def test_a_poll_that_fails_before_the_ingest_commit_leaves_every_row_pending(
    hrss: Hrss, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("killed before the commit")

    committer = GroupCommitter(db)
    try:
        poller = poller_for(committer, hrss.adapter(), page_size=50)
        with monkeypatch.context() as patched:
            patched.setattr(poller_module, "apply_reports", crash)
            patched.setattr(poller_module, "apply_event", crash)
            with pytest.raises(RuntimeError, match="killed"):
                await poller.poll_once()
        assert await hrss.marks() == {"pending": FIXTURE_ROWS}
        assert await db.run(lambda tx: Repo(tx).get_cursor("hrss", FEED), write=False) is None
        assert await poll_to_end(poller) == FIXTURE_ROWS
    finally:
        await committer.close()
    assert await hrss.marks() == {"success": FIXTURE_ROWS}


class _LosesItsFirstAcknowledgement(HrssAdapter):
    """Crashes between the ingest commit and the marks, once."""

    lost = False

    async def acknowledge(self, ingested: Sequence[Ingested]) -> None:
        if not self.lost:
            self.lost = True
            raise RetryableError("the gateway died before marking")
        await super().acknowledge(ingested)


async def test_marks_lost_after_the_ingest_are_written_on_the_next_read(hrss: Hrss, db: Database) -> None:
    info = hrss.info
    adapter = _LosesItsFirstAcknowledgement(
        address=FrontDbAddress(
            host=info["host"], port=info["port"], user=info["user"], password="", database=info["database"]
        ),
        table=info["table"],
        kind=KIND,
    )
    committer = GroupCommitter(db)
    try:
        poller = poller_for(committer, adapter, page_size=50)
        with pytest.raises(RetryableError):
            await poller.poll_once()
        assert await hrss.marks() == {"pending": FIXTURE_ROWS}  # ingested, not yet marked
        assert await db.run(lambda tx: Repo(tx).get_cursor("hrss", FEED), write=False) is None
        stats = await poller.poll_once()
        assert stats.outcomes == {"duplicate": FIXTURE_ROWS}  # read again, stored once, now marked
    finally:
        await committer.close()
        await adapter.close()
    assert await hrss.marks() == {"success": FIXTURE_ROWS}


async def test_a_refused_row_is_marked_failed_with_its_reason_and_read_again_once_corrected(
    hrss: Hrss, db: Database
) -> None:
    committer = GroupCommitter(db)
    try:
        poller = poller_for(committer, hrss.adapter())
        await poll_to_end(poller)
        refused_before = _acknowledged("refused")
        await hrss.load(unit("RS2026-0004-1", TYSHXYDM="91620121MA72RN"))  # 14 characters: no code
        assert await poll_to_end(poller) == 1
        assert _acknowledged("refused") == refused_before + 1
        [failed] = [row for row in await hrss.rows() if row["CLZT"] == "2"]
        assert failed["DXBH"] == "RS2026-0004-1" and "TYSHXYDM" in failed["CLXX"]
        [kept] = await db.run(lambda tx: tx.all("SELECT * FROM quarantine WHERE system = 'hrss'"), write=False)
        assert (kept["field"], kept["status"], kept["change_key"]) == (
            "TYSHXYDM",
            "open",
            f"{failed['ID']}@{failed['CZSJ']}",
        )
        assert kept["message"] == failed["CLXX"]
        # The department corrects it: pending again, same ID, a new write time, read and taken.
        hrss.sim.clock.advance(60)
        body = {"ID": failed["ID"], "changes": {"TYSHXYDM": "91620121MA72RN01XM"}}
        await hrss.sim.admin("POST", "/admin/correct", json=body)
        assert await poll_to_end(poller) == 1
    finally:
        await committer.close()
    assert await hrss.marks() == {"success": FIXTURE_ROWS + 1}
    facts = MAPPING.to_observation(_change_of(next(r for r in await hrss.rows() if r["DXBH"] == "RS2026-0004-1")))
    [stored] = await db.run(
        lambda tx: tx.all("SELECT status FROM records WHERE record_id = ?", (facts.facts.record_id,)), write=False
    )
    assert stored["status"] == "published"


async def test_purging_processed_rows_is_harmless(hrss: Hrss, db: Database) -> None:
    committer = GroupCommitter(db)
    try:
        poller = poller_for(committer, hrss.adapter())
        await poll_to_end(poller)
        assert (await hrss.sim.admin("POST", "/admin/purge"))["purged"] == FIXTURE_ROWS
        assert await poll_to_end(poller) == 0
        hrss.sim.clock.advance(60)
        await hrss.load(unit("RS2026-0005-1"))
        assert await poll_to_end(poller) == 1
    finally:
        await committer.close()
    assert await hrss.marks() == {"success": 1}
    # What the table no longer holds is not listed (the 前置库 is an exchange, not the register).
    listed = [row.native_id for page in await listing(hrss.adapter(), KIND) for row in page]
    assert listed == ["RS2026-0005-1"]


# --- the full listing -------------------------------------------------------------------------


async def test_the_listing_is_each_objects_last_row_and_equals_the_feed_folded(hrss: Hrss) -> None:
    adapter = hrss.adapter()
    pages = await listing(adapter, KIND, page_size=2)
    assert [len(page) for page in pages] == [2, 2]
    listed = {(row.kind, row.native_id): dict(row.row) for page in pages for row in page}
    _, changes, _ = await drain(adapter, None, page_size=3)
    assert listed == {key: dict(change.row) for key, change in latest_by_row(changes).items()}
    states = {row.native_id: MAPPING.to_observation(row).target for page in pages for row in page}
    assert states["RS2025-0007-1"] == PUBLISHED
    assert states["RS2024-0031-1"].label == "stopped:removed"
    with pytest.raises(PermanentError):
        await listing(adapter, "CF")


# --- configuration and failures ---------------------------------------------------------------


async def test_wrong_credentials_and_a_missing_table_are_permanent_and_name_no_secret(hrss: Hrss) -> None:
    secret = "s3cret-Passw0rd"
    with pytest.raises(PermanentError) as caught:
        await hrss.adapter(password=secret).fetch_changes(None, 10)
    assert caught.value.code == "1045"
    assert secret not in repr(caught.value.context()) and secret not in str(caught.value)
    with pytest.raises(PermanentError) as missing:
        await hrss.adapter(table="NO_SUCH_TABLE").fetch_changes(None, 10)
    assert missing.value.code == "1146"
    with pytest.raises(ValueError, match="plain SQL name"):
        hrss.adapter(table="T; DROP TABLE X")


async def test_the_gateway_never_writes_this_list(hrss: Hrss) -> None:
    adapter = hrss.adapter()
    assert HrssAdapter.takes_writes is False
    change = (await adapter.fetch_changes(None, 1)).changes[0]
    facts = MAPPING.to_observation(change).facts
    with pytest.raises(PermanentError, match="only reads"):
        MAPPING.to_write(facts, PUBLISHED, idempotency_key="k")
    with pytest.raises(PermanentError, match="no record writes"):
        await adapter.write(NativeWrite(kind=KIND, row=dict(change.row), business_key="RS2025-0007-1"))
    assert await hrss.marks() == {"pending": FIXTURE_ROWS}


async def test_the_connector_is_configured_by_settings(hrss: Hrss) -> None:
    info = hrss.info
    settings = Settings(
        systems=["hrss"],
        hrss={"host": info["host"], "port": info["port"], "user": info["user"], "database": info["database"]},
    )
    connectors = build_connectors(settings)
    try:
        page = await connectors["hrss"].adapter.fetch_changes(None, 50)
        assert len(page.changes) == FIXTURE_ROWS
        assert connectors["hrss"].mapping is not None
    finally:
        await connectors["hrss"].adapter.close()


async def test_serve_simulate_points_the_connector_at_the_simulated_table(hrss: Hrss) -> None:
    settings = Settings(systems=["hrss"])
    await _point_at_simulated_hrss(settings, hrss.sim.url)
    assert (settings.hrss.database, settings.hrss.table) == (hrss.info["database"], hrss.info["table"])
    connectors = build_connectors(settings)
    try:
        assert len((await connectors["hrss"].adapter.fetch_changes(None, 50)).changes) == FIXTURE_ROWS
    finally:
        await connectors["hrss"].adapter.close()


async def test_without_mariadb_the_sandbox_says_so_and_views_skip_the_list() -> None:
    def unreachable(clock: Any) -> HrssConfig:
        return HrssConfig(host="127.0.0.1", port=1, clock=clock)  # nothing listens on port 1

    async with running("hrss", create_app, unreachable) as sim:
        sandbox = Sandbox(sim.http, {"hrss": sim.url})
        assert await sandbox.views() == {}
        with pytest.raises(RuntimeError, match="has no database"):
            await simulated_frontdb(sim.http, sim.url)


def _acknowledged(status: str) -> float:
    return REGISTRY.get_sample_value("creditgw_acknowledged_total", {"system": "hrss", "status": status}) or 0.0


def _change_of(row: dict[str, Any]) -> NativeChange:
    from datetime import UTC, datetime

    return NativeChange(
        change_key="test", source_version="", changed_at=datetime.now(UTC), kind=KIND, native_id=row["DXBH"], row=row
    )
