"""Go-live from the full listings (gateway/golive.py, docs/adr/0024) over the real simulators, on
both databases: the canonical state and the deliveries equal what reading the feeds produces on the
same seed, only real differences are sent, a row that cannot be mapped is quarantined, a second run
changes nothing, and a database that holds records is refused unless forced."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.records import SyntheticPenalty
from gateway.contract import ChangePage, ListingPage, NativeChange, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.plan import Policy
from gateway.golive import GoLiveRefused, go_live
from gateway.runtime import Runtime
from gateway.sandbox import Sandbox
from gateway.store.database import Database, Tx, open_database
from gateway.store.migrate import migrate
from gateway.store.repo import FIRST_READ_FEED
from gateway.sync.connectors import MAPPINGS, Connector, build_connectors
from simulators import SYSTEMS, start_simulators
from simulators.clock import ManualClock
from simulators.creditchina_gansu import CreditChinaConfig
from simulators.gsxt_gansu import GsxtConfig
from tests import test_first_sync
from tests.test_first_sync import CC, GS, _extra_rows, beijing_now
from tests.test_sync_end_to_end import fast_settings

ROOT = Path(__file__).resolve().parent.parent
url_factory = test_first_sync.url_factory  # sqlite, and postgresql when it runs

TABLES = ("records", "record_locks", "links", "audit", "outbox", "inbox", "quarantine", "repairs")


@dataclass(frozen=True)
class State:
    records: dict[str, tuple[dict[str, Any], str, str | None]]  # record id → (facts, status, reason)
    outbox: list[tuple[str, str, str]]  # (record, target, state) of every delivery
    links: set[tuple[str, str, str | None]]  # (record, system, seen status)
    quarantine: list[tuple[str, str]]  # (system, reason)
    counts: dict[str, int]


def _state(tx: Tx) -> State:
    records = {
        r["record_id"]: (json.loads(r["facts"]), r["status"], r["reason"])
        for r in tx.all("SELECT record_id, facts, status, reason FROM records")
    }
    outbox = sorted(
        (r["record_id"], r["target"], f"{r['state_status']}:{r['state_reason'] or ''}")
        for r in tx.all("SELECT record_id, target, state_status, state_reason FROM outbox")
    )
    links = {(r["record_id"], r["system"], r["seen_status"]) for r in tx.all("SELECT * FROM links")}
    quarantine = sorted((r["system"], r["reason"]) for r in tx.all("SELECT system, reason FROM quarantine"))
    counts = {t: int(tx.scalar(f"SELECT COUNT(*) FROM {t}")) for t in TABLES}
    return State(records, outbox, links, quarantine, counts)


# A 信用中国 CF row whose 行政相对人类别 is no code value: unmappable, on either path.
def _bad_row(cc_rows: list[dict[str, Any]]) -> dict[str, Any]:
    current = next(r for r in cc_rows if r.get("ROWTYPE") == "CF" and r.get("CF_CFJG", "").endswith("生态环境局"))
    return {**{k: v for k, v in current.items() if k != "ID"}, "CF_WSH": "兰环罚〔2024〕904号", "CF_XDR_LB": "外星人"}


async def _run(database_url: str, now: datetime, *, via: str) -> tuple[State, dict[str, Counter[str]], Any]:
    configs: dict[str, Any] = {CC: CreditChinaConfig(clock=ManualClock(now)), GS: GsxtConfig(clock=ManualClock(now))}
    sims = await start_simulators(systems={s: SYSTEMS[s] for s in (CC, GS)}, configs=configs)
    urls = {s: sims.urls[s] for s in (CC, GS)}
    http = aiohttp.ClientSession()
    sandbox = Sandbox(http, urls)
    settings = fast_settings(database_url)
    db = open_database(database_url)
    await migrate(db)
    runtime = Runtime(settings, db, build_connectors(settings, urls))
    try:
        cc_rows, gs_rows = await sandbox.records(CC), await sandbox.records(GS)
        extra = _extra_rows(cc_rows, gs_rows)
        async with http.post(f"{urls[GS]}/admin/load", json={"table": "punish", "records": extra["punish"]}) as r:
            assert r.status == 200, await r.text()
        async with http.post(f"{urls[CC]}/admin/load", json={"rows": [*extra["cf"], _bad_row(cc_rows)]}) as r:
            assert r.status == 200, await r.text()
        before = {s: Counter((await sandbox.stats(s))["writes"]) for s in (CC, GS)}

        report = None
        if via == "feeds":
            for system in (CC, GS):
                await runtime.pollers[system].poll_once()
        else:
            report = await go_live(db, runtime.connectors, runtime.policy)
        planned = await db.run(_state, write=False)
        if via == "listings":
            # A second go-live: refused as it is; with --force it changes nothing.
            with pytest.raises(GoLiveRefused, match=r"holds \d+ records already"):
                await go_live(db, runtime.connectors, runtime.policy)
            again = await go_live(db, runtime.connectors, runtime.policy, force=True)
            assert again.bulk == 0 and again.alone == again.records
            assert sum(again.deliveries.values()) == 0
            assert set(again.outcomes) == {"duplicate"}
            assert await db.run(_state, write=False) == planned
            marks = await db.run(
                lambda tx: {
                    r["system"]: r["position"]
                    for r in tx.all("SELECT system, position FROM cursors WHERE feed = ?", (FIRST_READ_FEED,))
                },
                write=False,
            )
            assert marks == {CC: "settled", GS: "settled"}
        while await runtime.dispatcher.run_once():
            pass
        after = {s: Counter((await sandbox.stats(s))["writes"]) for s in (CC, GS)}
        writes = {
            s: Counter({k: after[s][k] - before[s][k] for k in after[s] if after[s][k] != before[s][k]}) for s in after
        }
        return planned, writes, report
    finally:
        await runtime.close()
        await http.close()
        await sims.close()


async def test_golive_plans_what_the_feeds_would_and_sends_only_real_differences(url_factory: Any) -> None:
    now = beijing_now()
    feeds, feed_writes, _ = await _run(await url_factory("feeds"), now, via="feeds")
    listings, listing_writes, report = await _run(await url_factory("listings"), now, via="listings")

    assert listings.records == feeds.records  # facts and state of every record
    assert listings.outbox == feeds.outbox
    assert listings.links == feeds.links
    assert listings.quarantine == feeds.quarantine
    assert (CC, "unmappable") in listings.quarantine
    # Only the one record 信用中国 lacks is written, once, on either path; nothing to GSXT.
    assert dict(listing_writes[CC]) == dict(feed_writes[CC]) == {"CF:酒市监罚〔2024〕901号|11620900860121267J": 1}
    assert dict(listing_writes[GS]) == dict(feed_writes[GS]) == {}
    assert report is not None
    assert report.records == len(listings.records)
    assert report.bulk + report.alone == report.records and report.bulk > 0
    assert report.quarantined == len(listings.quarantine)
    assert report.deliveries == {CC: 1}
    assert listings.counts["records"] == listings.counts["record_locks"]
    assert listings.counts["repairs"] == 0


async def test_reconcile_initial_loads_then_refuses_a_second_run(tmp_path: Path) -> None:
    sims = await start_simulators(systems={s: SYSTEMS[s] for s in (CC, GS)})
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CREDITGW_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
        "CREDITGW_CREDITCHINA_GANSU__URL": sims.urls[CC],
        "CREDITGW_GSXT_GANSU__URL": sims.urls[GS],
        "CREDITGW_LOG_LEVEL": "WARNING",
    }

    async def golive(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "reconcile", "--initial", *args, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    try:
        code, out, err = await golive()
        assert code == 0, err[-2000:]
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["records"] > 0 and summary["bulk"] + summary["alone"] == summary["records"]
        assert set(summary["listed"]) == {CC, GS}
        code, out, err = await golive()
        assert code == 2 and "Traceback" not in err
        assert err.strip().startswith("creditgw: error:") and "--force" in err
        code, out, err = await golive("--force")
        assert code == 0, err[-2000:]
        assert sum(json.loads(out.strip().splitlines()[-1])["deliveries"].values()) == 0
    finally:
        await sims.close()


class _Listing(SystemAdapter):
    """A system reduced to a fixed full listing."""

    system = "listing"

    def __init__(self, rows: dict[str, list[NativeChange]]) -> None:
        self.rows = rows

    async def list_all(self, kind: str, page_size: int) -> AsyncIterator[ListingPage]:
        yield ListingPage(rows=self.rows.get(kind, []))

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        return ChangePage(changes=[], cursor=cursor or "", has_more=False)

    async def write(self, write: NativeWrite) -> WriteResult:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def _cf(penalty: SyntheticPenalty, row_id: int, sjc: datetime, **changes: str) -> NativeChange:
    row = {**penalty.creditchina_row(sjc), "ID": str(row_id), **changes}
    return NativeChange(
        change_key=f"CF:{row_id}:{row['SJC']}",
        source_version=row["SJC"],
        changed_at=(sjc - timedelta(hours=8)).replace(tzinfo=UTC),
        kind="CF",
        native_id=str(row_id),
        row=row,
    )


async def test_a_record_listed_twice_with_two_states_goes_through_the_ordinary_path(db: Database) -> None:
    """The owner lists one record twice (published, then stopped by a repair): the second row
    starts a repair, which the bulk rows cannot express, so that record goes through apply_event;
    the others are bulk-loaded. The outcome equals applying the same rows one by one."""
    twice, other = SyntheticPenalty(0), SyntheticPenalty(1)
    t1, t2 = datetime(2025, 11, 1, 8), datetime(2025, 11, 20, 9)
    rows = [
        _cf(twice, 1, t1),
        _cf(other, 2, t1),
        _cf(twice, 3, t2, GSZT="0", ZZYY="01", ZZRQ="2025/11/20"),
    ]
    connectors = {CC: Connector(CC, _Listing({"CF": rows}), MAPPINGS[CC])}
    policy = Policy(self_deciding_owners=frozenset({GS}), enabled_systems=frozenset({CC}))
    report = await go_live(db, connectors, policy, kinds=lambda s: ("CF",))
    assert (report.records, report.bulk, report.alone) == (2, 1, 1)

    def stored(tx: Tx) -> dict[str, Any]:
        return {
            "records": {r["record_id"]: (r["status"], r["reason"]) for r in tx.all("SELECT * FROM records")},
            "repairs": [(r["record_id"], r["action"]) for r in tx.all("SELECT record_id, action FROM repairs")],
            "outbox": tx.all("SELECT record_id, target FROM outbox"),
            "inbox": sorted((r["change_key"], r["outcome"]) for r in tx.all("SELECT * FROM inbox")),
        }

    state = await db.run(stored, write=False)
    assert state["records"] == {twice.record_id: ("stopped", "repaired"), other.record_id: ("published", None)}
    assert state["repairs"] == [(twice.record_id, "repair")]
    # 信用中国 is the only system: nothing to send anywhere.
    assert state["outbox"] == []
    assert state["inbox"] == sorted(
        [(rows[0].change_key, "created"), (rows[1].change_key, "created"), (rows[2].change_key, "changed")]
    )
