"""Go-live over the real simulators (issue 10 items 10 and 11): the first sync of two systems that
already hold records gives the same outcome whichever feed is read first. The owner's facts win, a
mirror's richer field is never overwritten by a poorer one, a write that changes nothing is not sent,
and a record first seen already stopped is never pushed to a system that does not hold it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.runtime import Runtime
from gateway.sandbox import Sandbox, record_id_of
from gateway.store.database import open_database
from gateway.store.migrate import migrate
from gateway.store.repo import OutboxStatus, Repo
from gateway.sync.connectors import build_connectors
from simulators import SYSTEMS, start_simulators
from simulators.clock import ManualClock
from simulators.creditchina_gansu import CreditChinaConfig
from simulators.gsxt_gansu import GsxtConfig
from tests.conftest import _drop_pg_schema, _fresh_pg_schema
from tests.test_sync_end_to_end import fast_settings

CC, GS = "creditchina_gansu", "gsxt_gansu"


def beijing_now() -> datetime:
    """The simulators' frozen clock (Beijing, naive). Both runs of a test get the same one, so the
    rows they write compare equal; GSXT checks requests against it (300 s), so it is taken when
    the test starts."""
    return (datetime.now(UTC) + timedelta(hours=8)).replace(tzinfo=None, microsecond=0)


# A legacy 信用中国 row of the seed (CF_SY is its 事由) that GSXT shows with a proper illegActType.
LEGACY_WSH = "兰建罚〔2024〕347号"
LEGACY_ILLEG_ACT_TYPE = "未取得施工许可证擅自施工"


@dataclass(frozen=True)
class Outcome:
    content: dict[str, list[dict[str, Any]]]  # every row of each system
    writes: dict[str, Counter[str]]  # writes the gateway made, per system and business key
    facts: dict[str, dict[str, Any]]  # canonical facts by record id
    outbox: list[tuple[str, str, str]]  # (record, target, state) of every delivery
    dead: int


def _extra_rows(cc_rows: list[dict[str, Any]], gs_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Records one system holds and the other does not: a published GSXT penalty (信用中国 lacks
    it: one write owed), a GSXT penalty and a 信用中国 penalty both already stopped (nobody needs a
    stop for a record it never held)."""
    punish = next(r for r in gs_rows if r["table"] == "punish")
    base = {k: v for k, v in punish.items() if k not in ("table", "caseId", "priPID")}
    only_gsxt = {**base, "penDecNo": "酒市监罚〔2024〕901号", "updateTime": "2024-05-01 10:00:00"}
    stopped_gsxt = {
        **base,
        "penDecNo": "酒市监罚〔2024〕902号",
        "pubFlag": "0",
        "stopType": "1",
        "stopDate": "2024-09-01",
        "updateTime": "2024-09-01 10:00:00",
    }
    current = next(r for r in cc_rows if r.get("ROWTYPE") == "CF" and r.get("CF_CFJG", "").endswith("生态环境局"))
    stopped_cc = {
        **{k: v for k, v in current.items() if k != "ID"},
        "CF_WSH": "兰环罚〔2024〕903号",
        "GSZT": "0",
        "ZZYY": "01",
        "ZZRQ": "2024/10/08",
        "SJC": "2024/10/08 09:00:00",
    }
    return {"punish": [only_gsxt, stopped_gsxt], "cf": [stopped_cc]}


async def _first_sync(database_url: str, order: tuple[str, str], now: datetime) -> Outcome:
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
        extra = _extra_rows(await sandbox.records(CC), await sandbox.records(GS))
        async with http.post(f"{urls[GS]}/admin/load", json={"table": "punish", "records": extra["punish"]}) as r:
            assert r.status == 200, await r.text()
        async with http.post(f"{urls[CC]}/admin/load", json={"rows": extra["cf"]}) as r:
            assert r.status == 200, await r.text()
        before = {s: Counter((await sandbox.stats(s))["writes"]) for s in (CC, GS)}

        for system in order:
            await runtime.pollers[system].poll_once()
        for _ in range(3):  # deliver, read the echoes, once more (a second pass may owe more)
            while await runtime.dispatcher.run_once():
                pass
            for system in order:
                await runtime.pollers[system].poll_once()

        after = {s: Counter((await sandbox.stats(s))["writes"]) for s in (CC, GS)}
        writes = {
            s: Counter({k: after[s][k] - before[s][k] for k in after[s] if after[s][k] != before[s][k]}) for s in after
        }

        def _stored(tx: Any) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str, str]], int]:
            facts = {r["record_id"]: json.loads(r["facts"]) for r in tx.all("SELECT record_id, facts FROM records")}
            outbox = [
                (r["record_id"], r["target"], f"{r['state_status']}:{r['state_reason'] or ''}")
                for r in tx.all("SELECT record_id, target, state_status, state_reason FROM outbox ORDER BY id")
            ]
            return facts, sorted(outbox), len(Repo(tx).list_outbox(status=OutboxStatus.DEAD))

        facts, outbox, dead = await runtime.db.run(_stored, write=False)
        content = {s: sorted(await sandbox.records(s), key=lambda r: json.dumps(r, sort_keys=True)) for s in (CC, GS)}
        return Outcome(content=content, writes=writes, facts=facts, outbox=outbox, dead=dead)
    finally:
        await runtime.close()
        await http.close()
        await sims.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def url_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    schemas: list[str] = []

    async def make(name: str) -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        schema, url = await _fresh_pg_schema()
        schemas.append(schema)
        return url

    yield make
    for schema in schemas:
        _drop_pg_schema(schema)


async def test_first_sync_is_the_same_whichever_system_is_read_first(url_factory: Any) -> None:
    now = beijing_now()
    creditchina_first = await _first_sync(await url_factory("cc_first"), (CC, GS), now)
    gsxt_first = await _first_sync(await url_factory("gs_first"), (GS, CC), now)

    for outcome in (creditchina_first, gsxt_first):
        # The one record a system lacks is written to it, once; nothing else is sent anywhere.
        assert dict(outcome.writes[CC]) == {"CF:酒市监罚〔2024〕901号|11620900860121267J": 1}
        assert dict(outcome.writes[GS]) == {}
        assert outcome.dead == 0
        # GSXT keeps its own 违法行为类型; the legacy row's 事由 never replaces it.
        [legacy] = [r for r in outcome.content[GS] if r.get("penDecNo") == LEGACY_WSH]
        assert legacy["illegActType"] == LEGACY_ILLEG_ACT_TYPE
        legacy_id = record_id_of(GS, legacy)
        assert legacy_id is not None
        assert outcome.facts[legacy_id]["violation"] == LEGACY_ILLEG_ACT_TYPE

    assert creditchina_first.content == gsxt_first.content
    assert creditchina_first.facts == gsxt_first.facts
    assert creditchina_first.outbox == gsxt_first.outbox


async def test_a_record_first_seen_stopped_is_sent_nowhere(url_factory: Any) -> None:
    outcome = await _first_sync(await url_factory("stopped"), (GS, CC), beijing_now())
    stopped = {
        record_id_of(GS, {"table": "punish", **r})
        for r in [row for row in outcome.content[GS] if row.get("penDecNo") == "酒市监罚〔2024〕902号"]
    } | {record_id_of(CC, r) for r in outcome.content[CC] if r.get("CF_WSH") == "兰环罚〔2024〕903号"}
    assert len(stopped) == 2 and None not in stopped
    assert [o for o in outcome.outbox if o[0] in stopped] == []  # not 04 平台无此记录, no dead letter
    assert not any(r.get("CF_WSH") == "酒市监罚〔2024〕902号" for r in outcome.content[CC])
    assert not any(r.get("penDecNo") == "兰环罚〔2024〕903号" for r in outcome.content[GS])
