"""`creditgw demo`: embedded SQLite + in-process simulators. Seeds, repairs on both sides, waits
until every system agrees, prints what happened, and reports per category of 附件1 (owner → every
mirror: records, in agreement or not). Exit 0 only if everything converged.

A category whose owner has no connector in this build is left out of the comparison and the report
says so; it is never counted as agreeing."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from gateway.clients import Scope, add_sandbox_client, new_key
from gateway.domain.agreement import Disagreement, disagreements
from gateway.domain.categories import CATEGORY_LABELS, AuthorityDomain, Category, SubjectType, mirrors_of, owner_of
from gateway.domain.model import CanonicalRecord
from gateway.runtime import Runtime
from gateway.sandbox import REMOVAL_FOR_CAUSE, Sandbox, record_id_of, simulated_frontdb, simulator_configs
from gateway.settings import Settings
from gateway.signing import Credentials, sign_headers
from gateway.store.database import Row, Tx
from gateway.store.repo import Repo, record_from_row
from gateway.sync.connectors import SPECS

DEMO_DB = Path("var/demo.db")
CC, GS = "creditchina_gansu", "gsxt_gansu"


@dataclass
class CategoryReport:
    """One category of 附件1 in the demo: its owner(s), mirrors, and how many of its records every
    system shows as the canonical state says."""

    category: str
    label: str
    owners: list[str]
    mirrors: list[str]
    connected: bool  # every owner of the category has a connector in this run
    records: int = 0
    agreeing: int = 0
    disagreeing: int = 0
    note: str = ""

    @property
    def agrees(self) -> bool:
        return self.connected and self.records > 0 and self.disagreeing == 0


def category_owners(category: Category) -> tuple[list[str], list[str]]:
    """The systems that own and that mirror a category's records (enterprises': GSXT shows no
    natural persons), from the ownership table."""
    domains = (AuthorityDomain.MARKET_REGULATION, AuthorityDomain.OTHER)
    owners = dict.fromkeys(owner_of(category, d).value for d in domains)
    mirrors = dict.fromkeys(m.value for d in domains for m in mirrors_of(category, d, SubjectType.LEGAL_ENTITY))
    return list(owners), [m for m in mirrors if m not in owners or category is Category.ADMIN_PENALTY]


def category_reports(
    records: list[CanonicalRecord],
    remaining: list[Disagreement],
    connected: set[str],
    *,
    unavailable: Mapping[str, str] | None = None,
) -> list[CategoryReport]:
    """Per category, in 附件1's order: the records the owners' feeds gave, and those that some
    system shows otherwise than the canonical state (each record counted once). `unavailable`
    says why a system with a connector could not take part (its simulator's backing service)."""
    unavailable = unavailable or {}
    off = {d.record_id for d in remaining}
    reports = []
    for category in Category:
        owners, mirrors = category_owners(category)
        missing = [o for o in owners if o not in connected]
        report = CategoryReport(
            category=category.value,
            label=CATEGORY_LABELS[category],
            owners=owners,
            mirrors=mirrors,
            connected=not missing,
        )
        if missing:
            why = [f"{o}: {unavailable[o]}" for o in missing if o in unavailable]
            report.note = (
                f"left out: {'; '.join(why)}"
                if why
                else f"left out: no connector for {', '.join(missing)} in this build"
            )
        else:
            mine = [r for r in records if r.facts.category is category and r.state.authoritative]
            report.records = len(mine)
            report.disagreeing = sum(1 for r in mine if r.record_id in off)
            report.agreeing = report.records - report.disagreeing
            if not mine:
                report.note = "no records: nothing to compare"
        reports.append(report)
    return reports


@dataclass
class Scenario:
    name: str
    started_on: str
    record_id: str
    expected: str
    repair_id: str | None = None
    seen: dict[str, str] = field(default_factory=dict)
    latency_s: dict[str, float] = field(default_factory=dict)
    audit: list[str] = field(default_factory=list)


async def run_demo(settings: Settings, *, as_json: bool, timeout_s: float, fresh: bool) -> int:
    from simulators import start_simulators

    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    demo_settings = settings.model_copy(
        update={
            "database_url": f"sqlite:///{DEMO_DB}",
            # The demo's clients are sealed under a key of this run unless one is configured.
            "secrets_key": settings.secrets_key or SecretStr(new_key()),
            "poll_interval_s": 0.2,
            "dispatch_idle_s": 0.05,
            "retry_base_s": 0.2,
            "reaper_interval_s": 1.0,
        }
    )
    started = time.monotonic()
    # The file-drop departments upload into directories of this run, which their adapters read at once.
    drops = Path(tempfile.mkdtemp(prefix="creditgw-demo-"))
    demo_settings = demo_settings.model_copy(update=file_drop_settings(drops))
    sims = await start_simulators(configs=demo_simulator_configs(demo_settings))
    try:
        # Every system this build has a connector for and a simulator of takes part; the 前置库 only
        # where its simulator got a database (MariaDB), else it is left out and the report says why.
        unavailable: dict[str, str] = {}
        update: dict[str, Any] = {}
        if "hrss" in SPECS and "hrss" in sims.urls:
            async with aiohttp.ClientSession() as http:
                try:
                    update["hrss"] = demo_settings.hrss.model_copy(
                        update=await simulated_frontdb(http, sims.urls["hrss"])
                    )
                except RuntimeError as exc:
                    unavailable["hrss"] = str(exc)
        systems = [n for n in SPECS if n in sims.urls and n not in unavailable]
        demo_settings = demo_settings.model_copy(update={**update, "systems": systems})
        runtime = await Runtime.open(demo_settings, urls=dict(sims.urls))
    except BaseException:
        await sims.close()
        shutil.rmtree(drops, ignore_errors=True)
        raise
    runner, api_url = await _start_api(runtime)
    try:
        async with aiohttp.ClientSession() as http:
            sandbox = Sandbox(http, sims.urls)
            runtime.start()
            _say(as_json, f"simulators: {json.dumps(sims.urls)}")
            _say(as_json, f"gateway API: {api_url} (SQLite at {DEMO_DB})")
            await _drain(runtime, timeout_s)
            _say(as_json, f"initial sync: {await _count_records(runtime)} records known across both systems")
            scenarios = await _perform_repairs(sandbox, http, api_url, runtime)
            runtime.dispatcher.wake()
            for scenario in scenarios:
                _say(as_json, f"  started: {scenario.name} (on {scenario.started_on})")
            remaining = await wait_until_agreed(runtime, sandbox, timeout_s)
            await _fill_outcomes(runtime, sandbox, scenarios)
            categories = category_reports(
                await _records(runtime), remaining, set(runtime.connectors), unavailable=unavailable
            )
            included = [c for c in categories if c.connected]
            converged = (
                not remaining and all(_shown_as_expected(s) for s in scenarios) and all(c.agrees for c in included)
            )
            summary = {
                "converged": converged,
                "records": await _count_records(runtime),
                "disagreements": [d.label for d in remaining],
                "categories": [{**asdict(c), "agrees": c.agrees} for c in categories],
                "left_out": [c.category for c in categories if not c.connected],
                "scenarios": [asdict(s) for s in scenarios],
                "seconds": round(time.monotonic() - started, 2),
            }
            _print_summary(summary, as_json)
            return 0 if converged else 1
    finally:
        await runner.cleanup()
        await runtime.close()
        await sims.close()
        shutil.rmtree(drops, ignore_errors=True)


def _shown_as_expected(scenario: Scenario) -> bool:
    """Every system shows the expected state; one that holds nothing of a stopped record agrees
    (the court deletes what it removes; gateway.domain.agreement)."""
    stopped = scenario.expected.startswith("stopped")
    return all(seen == scenario.expected or (stopped and seen == "missing") for seen in scenario.seen.values())


def demo_simulator_configs(settings: Settings) -> dict[str, Any]:
    """Simulator configurations of the demo: GSXT seeds its 严重违法失信名单 too; the file-drop
    departments upload where the adapters read (as `serve --simulate`)."""
    from simulators.gsxt_gansu import GsxtConfig

    return {**simulator_configs(settings), GS: GsxtConfig(serious_list=True)}


def file_drop_settings(root: Path) -> dict[str, Any]:
    """The file-drop systems' settings for a demo run: drop and state directories under `root`,
    files taken as soon as they are complete (no scan interval, no settle time)."""
    update: dict[str, Any] = {}
    for name in ("statistics", "civil_affairs"):
        model = SPECS[name].settings_model if name in SPECS else None
        if model is not None:
            update[name] = model(drop_dir=root / name, state_dir=root / "state", scan_interval_s=0, settle_s=0)
    return update


def _say(as_json: bool, line: str) -> None:
    if not as_json:
        print(line, flush=True)


async def _start_api(runtime: Runtime) -> tuple[web.AppRunner, str]:
    from gateway.api.app import create_app

    runner = web.AppRunner(create_app(runtime), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _count_records(runtime: Runtime) -> int:
    return await runtime.db.run(lambda tx: Repo(tx).count("records"), write=False)


async def _outbox_busy(runtime: Runtime) -> int:
    def _busy(tx: Tx) -> int:
        return int(tx.scalar("SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'in_flight')") or 0)

    return await runtime.db.run(_busy, write=False)


async def _drain(runtime: Runtime, timeout_s: float, *, poll: bool = True) -> None:
    """Read every feed to its end (unless the pollers run anyway), then let the dispatcher empty
    the queue."""
    deadline = time.monotonic() + timeout_s
    if poll:
        for poller in runtime.pollers.values():
            await poller.poll_once()
    while await _outbox_busy(runtime) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def _records(runtime: Runtime) -> list[CanonicalRecord]:
    rows = await runtime.db.run(lambda tx: tx.all("SELECT * FROM records"), write=False)
    return [record_from_row(r) for r in rows]


async def wait_until_agreed(
    runtime: Runtime, sandbox: Sandbox, timeout_s: float, *, poll: bool = True
) -> list[Disagreement]:
    """Poll, drain and compare until every system shows the canonical state (or time runs out)."""
    deadline = time.monotonic() + timeout_s
    while True:
        await _drain(runtime, max(0.0, deadline - time.monotonic()), poll=poll)
        records = await _records(runtime)
        publishers = {r.record_id: runtime.policy.publishers(r.facts) for r in records}
        remaining = disagreements(records, await sandbox.views(), publishers)
        if (not remaining and not await _outbox_busy(runtime)) or time.monotonic() > deadline:
            return remaining
        await asyncio.sleep(0.1)


async def _perform_repairs(
    sandbox: Sandbox, http: aiohttp.ClientSession, api_url: str, runtime: Runtime
) -> list[Scenario]:
    gs_rows = await sandbox.records(GS, published=True)
    cc_rows = await sandbox.records(CC, published=True)
    punish = [r for r in gs_rows if r["table"] == "punish"]
    anomalies = [r for r in gs_rows if r["table"] == "opanomaly"]
    on_gsxt = {(r["judAuthCode"], r["penDecNo"]) for r in gs_rows if r["table"] == "otherpunish"}
    others = [r for r in cc_rows if r.get("ROWTYPE") == "CF" and (r.get("CF_CFJGDM"), r.get("CF_WSH")) in on_gsxt]
    scenarios = []

    def scenario(name: str, on: str, expected: str, system: str, row: Mapping[str, Any]) -> Scenario:
        record_id = record_id_of(system, row)
        assert record_id is not None
        made = Scenario(name=name, started_on=on, record_id=record_id, expected=expected)
        scenarios.append(made)
        return made

    # 1. SAMR repairs a market-regulation penalty on GSXT → 信用中国 stops publishing it.
    penalty = punish[0]
    await sandbox.repair(
        GS, {"table": "punish", "penDecNo": penalty["penDecNo"], "judAuthCode": penalty["judAuthCode"]}
    )
    scenario("GSXT repairs a market-regulation penalty", GS, "stopped:repaired", GS, penalty)

    # 2. SAMR removes an enterprise from the 经营异常名录 → 信用中国 stops publishing it.
    entry = anomalies[0]
    removal = REMOVAL_FOR_CAUSE[str(entry["speCause"])]
    payload = {"table": "opanomaly", "penDecNo": entry["penDecNo"], "decOrgCode": entry["decOrgCode"]}
    await sandbox.repair(GS, {**payload, "remExcpres": removal})
    scenario("GSXT removes an 经营异常名录 entry", GS, "stopped:removed", GS, entry)

    # 3. 信用中国（甘肃） repairs another department's penalty → GSXT stops showing it.
    row = others[0]
    await sandbox.repair(CC, {"CF_WSH": row["CF_WSH"], "CF_CFJGDM": row["CF_CFJGDM"], "ZZYY": "01"})
    scenario("信用中国（甘肃） repairs another department's penalty", CC, "stopped:repaired", CC, row)

    # 4. The deciding authority sends its decision through the gateway's API → both systems.
    decided = scenario("Authority decides a repair via POST /v1/repairs", "api", "stopped:repaired", CC, others[1])
    body = {
        "record": {"record_id": decided.record_id},
        "action": "repair",
        "decided_at": datetime.now(UTC).isoformat(),
        "decided_by": str(others[1].get("CF_CFJG") or "authority"),
    }
    # As the deciding authority's own system: a client that speaks for that authority only, signing.
    key = runtime.settings.secrets_key
    assert key is not None
    client_id, secret = await add_sandbox_client(
        runtime.db,
        key.get_secret_value(),
        prefix="demo-authority",
        scopes=[Scope.DECIDE, Scope.READ],
        authorities=[str(others[1]["CF_CFJGDM"])],
        now=datetime.now(UTC),
    )
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = {
        "Idempotency-Key": f"demo-{decided.record_id}",
        "Content-Type": "application/json",
        **sign_headers(Credentials(client_id=client_id, secret=secret), "POST", "/v1/repairs", data),
    }
    async with http.post(f"{api_url}/v1/repairs", data=data, headers=headers) as resp:
        answer = await resp.json()
        if resp.status != 202:
            raise RuntimeError(f"the API refused the demo repair: {answer}")
    decided.repair_id = answer["repair_id"]

    # 5. SAMR removes an enterprise from the 严重违法失信名单 early (信用修复, remType 2) → 信用中国's
    #    list row (MD) stops publication with 移出名单.
    serious = [r for r in gs_rows if r["table"] == "seriousillegal"]
    if serious:
        listed = serious[0]
        payload = {"table": "seriousillegal", "penDecNo": listed["penDecNo"], "decOrgCode": listed["decOrgCode"]}
        await sandbox.repair(GS, {**payload, "remType": "2"})
        scenario("GSXT removes a 严重违法失信名单 entry early", GS, "stopped:removed", GS, listed)

    # 6. Each list authority removes one of its entries in its own system → 信用中国's list row (MD)
    #    stops publication (a court deletes the row: the owner then holds nothing, which agrees).
    for system, key_fields in LIST_REMOVAL_KEYS.items():
        if system in runtime.connectors:
            removed = await _owner_removes_one(sandbox, system, key_fields)
            if removed is not None:
                scenario(f"{system} removes a list entry in its own system", system, "stopped:removed", system, removed)

    # 7. 多头修复: 信用中国 stops a SAMR penalty it does not own → audited and set back.
    rogue = next(r for r in cc_rows if r.get("ROWTYPE") == "CF" and r.get("CF_WSH") == punish[1]["penDecNo"])
    await sandbox.repair(CC, {"CF_WSH": rogue["CF_WSH"], "CF_CFJGDM": rogue["CF_CFJGDM"], "ZZYY": "01"})
    scenario("信用中国 repairs a SAMR penalty it does not own", CC, "published", CC, rogue)
    return scenarios


# The admin key of one entry on each list authority's simulator (docs/protocols.md §6), and the
# file drops, whose removal shows in the next snapshot they upload.
LIST_REMOVAL_KEYS: dict[str, tuple[str, ...]] = {
    "court": ("case_no", "executed_court"),
    "tax": ("tax_no", "qdwsh"),
    "hrss": ("DXBH",),
    "emergency": ("jlid",),
    "statistics": ("统一社会信用代码", "认定文书编号"),
    "civil_affairs": ("统一社会信用代码", "列入决定书文号"),
}
FILE_DROPS = ("statistics", "civil_affairs")
# The removal reason in each authority's own terms (the court's is its 删除原因 code: 1 已全部履行).
REMOVAL_REASONS = {"court": "1", "tax": ""}


async def _owner_removes_one(sandbox: Sandbox, system: str, key_fields: tuple[str, ...]) -> dict[str, Any] | None:
    """The authority removes the first listed entry the gateway tracks that its rules let go early
    (its own operator's act, through its admin API); the row as it was, or None."""
    for row in await sandbox.records(system, published=True):
        if record_id_of(system, row) is None:
            continue  # not a record the gateway tracks (e.g. the 活动异常名录)
        body = {name: row[name] for name in key_fields}
        reason = REMOVAL_REASONS.get(system, "信用修复，提前移出")
        answer = await sandbox.remove_entry(system, {**body, "kind": "early", "reason": reason})
        if answer is None:
            continue  # too early for this one: the next
        if system in FILE_DROPS:
            await sandbox.upload(system)
        return row
    return None


async def _fill_outcomes(runtime: Runtime, sandbox: Sandbox, scenarios: list[Scenario]) -> None:
    views = await sandbox.views()
    for scenario in scenarios:

        def _read(tx: Tx, s: Scenario = scenario) -> tuple[CanonicalRecord | None, Any, list[Row]]:
            repo = Repo(tx)
            repairs = repo.repairs_of_record(s.record_id)
            repair_id = s.repair_id or (repairs[-1]["repair_id"] if repairs else "")
            return repo.load_record(s.record_id), repo.get_repair(repair_id), repo.audit_of(s.record_id)

        record, repair, audit = await runtime.db.run(_read, write=False)
        if record is None:
            continue
        for system in runtime.policy.publishers(record.facts):
            found = views.get(system, {}).get(scenario.record_id)
            scenario.seen[system] = found.label if found else "missing"
        scenario.audit = [f"{a['kind']} by {a['actor']}" for a in reversed(audit) if a["kind"] != "record_created"]
        if repair is not None:
            head, targets = repair
            scenario.repair_id = head["repair_id"]
            for target in targets:
                if target["delivered_at"] is not None:
                    delay = (target["delivered_at"] - head["accepted_at"]).total_seconds()
                    scenario.latency_s[target["target"]] = round(delay, 3)


def _print_summary(summary: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, default=str), flush=True)
        return
    print()
    for s in summary["scenarios"]:
        print(f"• {s['name']}  [record {s['record_id']}]")
        print(f"    expected everywhere: {s['expected']}")
        for system, seen in sorted(s["seen"].items()):
            after = s["latency_s"].get(system)
            timing = f"  (delivered {after:.2f} s after acceptance)" if after is not None else ""
            shown = "holds nothing (its removal deletes the row)" if seen == "missing" else f"shows {seen}"
            print(f"    {system:<18} {shown}{timing}")
        if s["audit"]:
            print(f"    audit: {'; '.join(s['audit'])}")
    print()
    print("per category (owner → mirrors):")
    for c in summary["categories"]:
        route = f"{', '.join(c['owners'])} → {', '.join(c['mirrors']) or '(no mirror)'}"
        if not c["connected"]:
            print(f"  {c['category']:<20} {route:<48} {c['note']}")
            continue
        verdict = "agree" if c["agrees"] else "DO NOT AGREE"
        counts = f"{c['records']} records, {c['agreeing']} in agreement, {c['disagreeing']} not"
        print(f"  {c['category']:<20} {route:<48} {counts}: {verdict}{'  (' + c['note'] + ')' if c['note'] else ''}")
    print()
    state = "CONVERGED: every system agrees" if summary["converged"] else "NOT CONVERGED"
    print(f"{state} ({summary['records']} records, {summary['seconds']} s)")
    for line in summary["disagreements"]:
        print(f"  disagreement: {line}")
