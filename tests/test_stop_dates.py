"""Issue 10 item 5: every date the gateway writes comes from the field that means that date. A table
per written target field (信用中国 CF and YC rows, GSXT otherpunish), and the regression over
loopback HTTP on both databases: a GSXT removal of 2026-12-02 whose feed item is stamped 2026-06-30
was written to 信用中国 as ZZRQ 2026/06/30."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import pytest

from gateway.contract import NativeChange
from gateway.domain.categories import AuthorityDomain, Category
from gateway.domain.model import PUBLISHED, RecordFacts, StopReason, TargetState, stopped
from gateway.runtime import Runtime
from gateway.sandbox import Sandbox
from mappings.creditchina_gansu import CreditChinaGansuMapping
from mappings.gsxt_gansu import GsxtGansuMapping
from simulators import start_simulators
from tests.conftest import penalty_facts
from tests.test_sync_end_to_end import fast_settings

CC, GS = "creditchina_gansu", "gsxt_gansu"
DECIDED = date(2026, 1, 5)  # the decision / listing date
PUBLISHED_ON = date(2026, 2, 6)  # GSXT's publication date
STOPPED_ON = date(2026, 12, 2)  # the stop date the stopping system states (remDate, stopDate, ZZRQ)
FEED_STAMP = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)  # the feed item's updateTime / SJC: no date of the record
DECISION_AT = datetime(2026, 7, 14, 17, 30, tzinfo=UTC)  # an API decision: 2026-07-15 in Beijing
TODAY = date(2026, 8, 1)  # the mapping's fallback, never wanted here

MEANINGS = {"decision": DECIDED, "publication": PUBLISHED_ON, "stop": STOPPED_ON}


def _penalty() -> RecordFacts:
    return replace(penalty_facts(), decision_date=DECIDED, publication_date=PUBLISHED_ON)


def _listing() -> RecordFacts:
    return replace(
        penalty_facts(authority_name="兰州市市场监督管理局", domain=AuthorityDomain.MARKET_REGULATION),
        category=Category.ABNORMAL_OPERATIONS,
        penalty_kinds=(),
        listing_cause="1",
        decision_date=DECIDED,
    )


# (case, mapping, facts, native date field, its date format, the meaning of the date it must hold)
WRITTEN_DATES = [
    ("信用中国 CF CF_JDRQ", CreditChinaGansuMapping, _penalty, "CF_JDRQ", "%Y/%m/%d", "decision"),
    ("信用中国 CF ZZRQ", CreditChinaGansuMapping, _penalty, "ZZRQ", "%Y/%m/%d", "stop"),
    ("信用中国 YC YC_LRRQ", CreditChinaGansuMapping, _listing, "YC_LRRQ", "%Y/%m/%d", "decision"),
    ("信用中国 YC ZZRQ", CreditChinaGansuMapping, _listing, "ZZRQ", "%Y/%m/%d", "stop"),
    ("GSXT otherpunish penDecIssDate", GsxtGansuMapping, _penalty, "penDecIssDate", "%Y-%m-%d", "decision"),
    ("GSXT otherpunish stopDate", GsxtGansuMapping, _penalty, "stopDate", "%Y-%m-%d", "stop"),
]


# Every stop reason each target writes (GSXT penalties have no removal: a list's reason).
CASES = [
    pytest.param(*w[1:], reason, id=f"{w[0]} {reason.value}")
    for w in WRITTEN_DATES
    for reason in StopReason
    if not (w[1] is GsxtGansuMapping and reason is StopReason.REMOVED)
]


@pytest.mark.parametrize(("mapping", "make", "field", "fmt", "meaning", "reason"), CASES)
def test_every_written_date_comes_from_the_field_that_means_it(
    mapping: Any, make: Any, field: str, fmt: str, meaning: str, reason: StopReason
) -> None:
    m = mapping(today=lambda: TODAY)
    facts = make()
    # A stop another system reported with its own stop date, delivered with the feed's stamp.
    reported = m.to_write(facts, stopped(reason, STOPPED_ON), idempotency_key="k", decided_at=FEED_STAMP).row
    assert reported[field] == MEANINGS[meaning].strftime(fmt)
    # A decision (API, sweep) without a stated stop date: its own day in Beijing, never today.
    decided = m.to_write(facts, stopped(reason), idempotency_key="k", decided_at=DECISION_AT).row
    expected = date(2026, 7, 15) if meaning == "stop" else MEANINGS[meaning]
    assert decided[field] == expected.strftime(fmt)
    # Published: no stop date at all.
    shown = m.to_write(facts, PUBLISHED, idempotency_key="k", decided_at=FEED_STAMP).row
    assert shown[field] == ("" if meaning == "stop" else MEANINGS[meaning].strftime(fmt))


def test_the_publication_date_is_never_written() -> None:
    row = GsxtGansuMapping(today=lambda: TODAY).to_write(_penalty(), PUBLISHED, idempotency_key="k").row
    assert "pubDate" not in row and PUBLISHED_ON.isoformat() not in row.values()


@pytest.mark.parametrize(
    ("mapping", "kind", "row", "field"),
    [
        (GsxtGansuMapping, "opanomaly", {"isMove": "1", "remExcpres": "1", "remDate": "2026-12-02"}, "remDate"),
        (GsxtGansuMapping, "opanomaly", {"isMove": "2", "remDate": "2026-12-02"}, "remDate"),
        (GsxtGansuMapping, "punish", {"pubFlag": "0", "stopType": "1", "stopDate": "2026-12-02"}, "stopDate"),
        (CreditChinaGansuMapping, "CF", {"GSZT": "0", "ZZYY": "01", "ZZRQ": "2026/12/02"}, "ZZRQ"),
    ],
    ids=["opanomaly removal", "opanomaly revocation", "punish stop", "信用中国 stop"],
)
def test_a_reported_stop_carries_its_stop_date(mapping: Any, kind: str, row: dict[str, Any], field: str) -> None:
    base = _native(kind)
    observation = mapping(today=lambda: TODAY).to_observation(
        NativeChange(
            change_key="c", source_version="1", changed_at=FEED_STAMP, kind=kind, native_id=None, row={**base, **row}
        )
    )
    assert observation is not None and observation.target.on == STOPPED_ON
    assert observation.target == replace(observation.target, on=None)  # the date is not the state's identity


def _native(kind: str) -> dict[str, Any]:
    if kind == "opanomaly":
        return {
            "entName": "甘肃示例科技有限公司",
            "uniSCID": "91620102MA72ABCD94",
            "speCause": "1",
            "abnTime": "2026-01-05",
            "decOrg": "兰州市市场监督管理局",
            "decOrgCode": "11620100MB0000001X",
            "penDecNo": "兰市监异入〔2026〕1号",
        }
    if kind == "punish":
        return {
            "entName": "甘肃示例科技有限公司",
            "uniSCID": "91620102MA72ABCD94",
            "entType": "企业",
            "penDecNo": "兰市监罚〔2026〕1号",
            "penType": "罚款",
            "penDecIssDate": "2026-01-05",
            "pubDate": "2026-02-06",
            "judAuth": "兰州市市场监督管理局",
            "judAuthCode": "11620100MB0000001X",
        }
    return {
        "ROWTYPE": "CF",
        "CF_XDR_MC": "甘肃示例科技有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": "91620102MA72ABCD94",
        "CF_WSH": "兰环罚〔2026〕1号",
        "CF_CFLB": "罚款",
        "CF_JDRQ": "2026/01/05",
        "CF_CFJG": "兰州市生态环境局",
        "CF_CFJGDM": "11620100MB0000000X",
        "CF_ZT": "0",
    }


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[tuple[Runtime, Sandbox]]:
    sims = await start_simulators()
    runtime = await Runtime.open(fast_settings(database_url), urls=dict(sims.urls))
    http = aiohttp.ClientSession()
    try:
        runtime.start()
        for poller in runtime.pollers.values():
            await poller.poll_once()
        yield runtime, Sandbox(http, sims.urls)
    finally:
        await http.close()
        await runtime.close()
        await sims.close()


async def _row_on_creditchina(sandbox: Sandbox, columns: tuple[str, str], key: tuple[str, str]) -> dict[str, Any]:
    """The 信用中国 row of `key` once it shows a stop (generous deadline: the machine is slow)."""
    wsh_column, code_column = columns
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        rows = await sandbox.records(CC)
        found = [r for r in rows if (r.get(wsh_column), r.get(code_column)) == key and r.get("GSZT") == "0"]
        if found or asyncio.get_running_loop().time() > deadline:
            assert found, f"{key} never stopped on 信用中国"
            return found[0]
        await asyncio.sleep(0.1)


# (GSXT table, its key's code field, 信用中国 row kind's columns, the stop, the ZZYY and ZZRQ expected)
GSXT_STOPS = [
    (
        "opanomaly",
        "decOrgCode",
        ("YC_WSH", "YC_JDJGDM"),
        {"isMove": "1", "remExcpres": "1", "remExcpresCN": "", "remDate": "2026-12-02"},  # cause 1 pairs with 1
        ("04", "2026/12/02"),
    ),
    (
        "punish",
        "judAuthCode",
        ("CF_WSH", "CF_CFJGDM"),
        {"pubFlag": "0", "stopType": "1", "stopDate": "2026-11-03"},
        ("01", "2026/11/03"),
    ),
]


@pytest.mark.parametrize(
    ("table", "code_field", "cc_key", "stop", "expected"), GSXT_STOPS, ids=["removal", "penalty stop"]
)
async def test_a_gsxt_stop_reaches_creditchina_with_its_own_date(
    running: tuple[Runtime, Sandbox],
    table: str,
    code_field: str,
    cc_key: tuple[str, str],
    stop: dict[str, str],
    expected: tuple[str, str],
) -> None:
    _, sandbox = running
    on_cc = {(r.get(cc_key[0]), r.get(cc_key[1])) for r in await sandbox.records(CC, published=True)}
    shown = [
        r
        for r in await sandbox.records(GS, published=True)
        if r["table"] == table
        and (r["penDecNo"], r[code_field]) in on_cc
        # the removal's 移出原因 1 must pair with its 列入原因 (else it is quarantined, gateway/domain/intake.py)
        and (table != "opanomaly" or r.get("speCause") == "1")
    ]
    assert shown, f"the seed has no {table} record shown on both systems"
    record = {k: v for k, v in shown[0].items() if k != "table"}
    record.update(stop, updateTime="2026-06-30 10:00:00")  # the feed item's stamp: not the stop's date
    await sandbox._json("POST", GS, "/admin/load", json={"table": table, "records": [record]})
    row = await _row_on_creditchina(sandbox, cc_key, (record["penDecNo"], record[code_field]))
    assert (row["ZZYY"], row["ZZRQ"]) == expected


def test_a_stop_date_belongs_to_a_stop_and_is_not_the_state_identity() -> None:
    """(Stored in records.stopped_on / outbox.state_stopped_on, migration 0006: the tests above
    carry it from GSXT's feed through both tables to 信用中国.)"""
    state = TargetState(status=stopped(StopReason.REMOVED).status, reason=StopReason.REMOVED, on=STOPPED_ON)
    with pytest.raises(ValueError, match="only a stop"):
        TargetState(status=PUBLISHED.status, on=STOPPED_ON)
    assert state == stopped(StopReason.REMOVED)
