"""End to end: repairs through `creditgw serve` until both simulated systems show them.

    python -m bench.end_to_end [--seconds 10] [--records N] [--backend sqlite|postgresql]

1. Baseline: the bare aiohttp handler of bench.ingest, same client, alone on the machine.
2. The simulators (`python -m simulators`) and `creditgw serve` (fresh database, fast poll and
   dispatch settings), each in its own process. R published 信用中国-owned penalties are loaded
   into the 信用中国 simulator; the gateway reads them, mirrors them to GSXT and reads GSXT's echo
   until its outbox is empty (steady state).
3. Maximum rate: closed loop (C workers) of POST /v1/repairs, each on a different record, for T s
   (capped at 2/3 of the records, so the next phase has fresh ones); then wait until every accepted
   repair is delivered to both systems. Sustainable rate = repairs delivered to both systems per
   second, from the first acceptance to the last delivery (the gateway's own timestamps:
   repairs.accepted_at, repair_targets.delivered_at).
4. Half that rate, open loop, for T s on fresh records: accept→delivered (both systems) p50/p99.
5. Memory of the serve process (VmRSS) after the records were ingested, after the first third of
   the maximum-rate phase, and at the end; growth per 1000 repairs from the second to the third.

Prints a table, verdict lines and one final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from bench.budget import CpuBudget, per_unit_ms, usable_cores
from bench.databases import BACKENDS, fresh_database, postgres_available
from bench.ingest import bare_baseline
from bench.ingest_server import BENCH_CLIENT, add_bench_client
from bench.load import LoadResult, Request, RequestFactory, closed_loop, open_loop
from bench.probe import RepairTiming, StoreProbe
from bench.processes import (
    LOCALHOST,
    Child,
    CpuMeter,
    cpu_seconds,
    free_port,
    postgres_cpu_seconds,
    rss_kib,
    run_bounded,
    spawn,
)
from bench.profiling import profiling
from bench.records import SyntheticPenalty, penalties
from bench.report import json_line, machine, table, verdict
from bench.sandbox import CREDITCHINA, GSXT, Sandbox, Shown, load_creditchina, running_simulators, shown
from bench.stats import Summary, ratio, rounded
from gateway.clients import new_key
from gateway.signing import Credentials

TARGET_RATIO = 0.25  # sustainable end-to-end rate / bare ingest rate
TARGET_P99_S = 1.0  # accept→delivered at half the sustainable rate
FIXED_RATE = 50.0  # decisions/s of the open-loop ingest phase
TARGET_INGEST_P99_S = 0.050  # request → 202 at FIXED_RATE
SOURCE = f"api:{BENCH_CLIENT}"
# The maximum-rate phase may use 2/3 of the records, the half-rate phase gets the rest: 2/3 is
# about 1.5× what 10 s at the measured accept rate need (sqlite 240–420/s, postgresql ~110/s on
# the 2-core machine). Should the records run out, the phase ends early and says so.
DEFAULT_RECORDS = {"sqlite": 9000, "postgresql": 9000}
MIN_REPAIRS_FOR_MEMORY = 500  # fewer repairs between the samples: allocator noise, no verdict
IDLE_SAMPLE_S = 2.0  # serve's CPU with no load (pollers, gauges), measured before the repairs
# "fast poll/dispatch settings" for the serve process; everything else stays at its default.
SERVE_SETTINGS = {
    "CREDITGW_POLL_INTERVAL_S": "0.2",
    "CREDITGW_DISPATCH_IDLE_S": "0.05",
    "CREDITGW_LOG_FORMAT": "json",
    # A serve started in the minute after the nightly time would begin a reconciliation run: its
    # listing reads would be counted in the measured work (and in the simulators' request counts).
    "CREDITGW_RECONCILE_AT": "off",
}


@dataclass(frozen=True, kw_only=True)
class Options:
    seconds: float
    records: int
    backend: str
    concurrency: int
    warmup_s: float
    log_level: str
    rss_threshold_kib: float  # growth per 1000 repairs above this is flagged
    settle_timeout_s: float
    keep: bool
    profile_dir: Path | None = None
    budget_s: float = 0.0
    fixed_rate: float = FIXED_RATE  # the open-loop ingest phase (issue 14: p99 < 50 ms at 50/s); 0: none


@dataclass(frozen=True, kw_only=True)
class Delivered:
    """What became of the repairs of one phase."""

    timings: list[RepairTiming]
    drain_s: float  # from the end of the load until the last of them was delivered (or the wait gave up)

    @property
    def complete(self) -> list[RepairTiming]:
        return [t for t in self.timings if t.complete]

    @property
    def latency(self) -> Summary:
        return Summary.of([t.latency_s for t in self.complete if t.latency_s is not None])

    @property
    def rate(self) -> float:
        """Repairs delivered to every target per second, first acceptance to last delivery."""
        done = self.complete
        if len(done) < 2:
            return 0.0
        first = min(t.accepted_at for t in self.timings)
        last = max(t.last_delivered_at for t in done if t.last_delivered_at is not None)
        return len(done) / max((last - first).total_seconds(), 1e-9)

    def as_json(self) -> dict[str, Any]:
        return {
            "repairs": len(self.timings),
            "delivered_to_both": len(self.complete),
            "delivered_rps": rounded(self.rate, 1),
            "drain_s": rounded(self.drain_s, 2),
            "accept_to_delivered": self.latency.as_json("s"),
        }


class Pool:
    """The loaded records, handed out once each, in order, across the phases."""

    def __init__(self, records: Sequence[SyntheticPenalty]) -> None:
        self.records = list(records)
        self.next = 0

    def factory(self, *, limit: int, phase: str) -> tuple[RequestFactory, list[SyntheticPenalty]]:
        """Requests repairing the next fresh records, at most `limit` of them; the list fills as
        records are handed out."""
        used: list[SyntheticPenalty] = []
        end = min(len(self.records), self.next + limit)

        def make(_number: int) -> Request | None:
            if self.next >= end:
                return None
            record = self.records[self.next]
            self.next += 1
            used.append(record)
            body = {
                "record": {"record_id": record.record_id},
                "action": "repair",
                "decided_at": datetime.now(UTC).isoformat(),
                "decided_by": record.authority.name,
            }
            headers = {
                "Content-Type": "application/json",
                "Idempotency-Key": f"e2e-{phase}-{record.index}",
            }
            return Request(path="/v1/repairs", body=json.dumps(body).encode(), headers=headers)

        return make, used

    @property
    def left(self) -> int:
        return len(self.records) - self.next


async def wait_until(what: str, check: Any, *, timeout_s: float, every_s: float = 0.25) -> float:
    """Poll the async `check()` until it is true; returns the seconds waited (raises on timeout)."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(every_s)
    return time.monotonic() - started


async def drained(probe: StoreProbe, used: Sequence[SyntheticPenalty], timeout_s: float) -> Delivered:
    """Wait (bounded) until the outbox is empty, then read what became of these repairs."""
    started = time.monotonic()

    async def empty() -> bool:
        return await probe.open_deliveries() == 0

    try:
        await wait_until("deliveries drained", empty, timeout_s=timeout_s)
    except TimeoutError as exc:
        print(f"warning: {exc}; counting what was delivered", flush=True)
    drain_s = time.monotonic() - started
    timings = await probe.repair_timings([r.record_id for r in used], source=SOURCE)
    return Delivered(timings=timings, drain_s=drain_s)


def serve_env(settings: Mapping[str, str], *, key: str, database_url: str, urls: Mapping[str, str]) -> dict[str, str]:
    """The environment of a `serve` child: `settings`, the secrets key, the database and the simulators."""
    return {
        **settings,
        "CREDITGW_SECRETS_KEY": key,
        "CREDITGW_DATABASE_URL": database_url,
        "CREDITGW_CREDITCHINA_GANSU__URL": urls[CREDITCHINA],
        "CREDITGW_GSXT_GANSU__URL": urls[GSXT],
    }


def serve_argv(port: int) -> list[str]:
    program = Path(sys.executable).parent / "creditgw"
    command = [str(program)] if program.exists() else [sys.executable, "-m", "gateway.cli"]
    return [*command, "serve", "--host", LOCALHOST, "--port", str(port)]


@dataclass
class MemorySamples:
    ingested_kib: int = 0
    third_kib: int = 0
    third_repairs: int = 0
    end_kib: int = 0
    end_repairs: int = 0

    @property
    def growth_per_1000(self) -> float:
        repairs = self.end_repairs - self.third_repairs
        return (self.end_kib - self.third_kib) * 1000 / repairs if repairs > 0 else math.nan


@dataclass(frozen=True, kw_only=True)
class Phases:
    ingest_s: float  # loading the records into 信用中国 until the gateway had them mirrored to GSXT
    idle_cpu: float  # serve's CPU share of one core with no load
    before: Shown
    after: Shown
    max_load: LoadResult
    max_done: Delivered
    max_cpu_s: dict[str, float]  # CPU by process from the first acceptance to the last delivery
    half_rate: float
    half_load: LoadResult
    half_done: Delivered
    fixed_load: LoadResult
    fixed_done: Delivered
    memory: MemorySamples
    dead_letters: int


@dataclass(frozen=True, kw_only=True)
class Started:
    """The records loaded into 信用中国 before `serve` started, and when (the ingest clock starts)."""

    records: list[SyntheticPenalty]
    changed: int
    loaded_at: float


async def bench_client(url: str, key: str, *, read: bool = False) -> Credentials:
    """The client the load signs as (docs/signing.md), made in the database before `serve` starts."""
    from gateway.store.database import open_database
    from gateway.store.migrate import migrate

    db = open_database(url)
    try:
        await migrate(db)
        secret = await add_bench_client(db, key, read=read)
    finally:
        await db.close()
    return Credentials(client_id=BENCH_CLIENT, secret=secret)


async def run_phases(
    options: Options,
    serve: Child,
    base_url: str,
    sandbox: Sandbox,
    probe: StoreProbe,
    started: Started,
    credentials: Credentials,
) -> Phases:
    records, changed, loaded_at = started.records, started.changed, started.loaded_at
    pool = Pool(records)
    memory = MemorySamples()
    drain_timeout_s = max(30.0, 3 * options.seconds)
    async with aiohttp.ClientSession() as session:
        # Steady state: every record read from 信用中国, mirrored to GSXT, GSXT's echo read back.
        ids = [r.record_id for r in records]

        async def settled() -> bool:
            return await probe.records_present(ids) == len(ids) and await probe.open_deliveries() == 0

        await wait_until("records ingested and mirrored", settled, timeout_s=options.settle_timeout_s)
        ingest_s = time.monotonic() - loaded_at
        before = await shown(session, sandbox.urls, records)
        memory.ingested_kib = rss_kib(serve.pid)
        print(
            f"ingested {len(ids)} records in {ingest_s:.1f} s (loaded {changed});"
            f" GSXT shows {before.gsxt_published} of them published",
            flush=True,
        )
        idle_cpu0 = cpu_seconds(serve.pid)
        await asyncio.sleep(IDLE_SAMPLE_S)
        idle_cpu = (cpu_seconds(serve.pid) - idle_cpu0) / IDLE_SAMPLE_S

        # Maximum rate: closed loop, then wait for every accepted repair to reach both systems.
        max_records = 2 * options.records // 3
        factory, used_max = pool.factory(limit=max_records, phase="max")

        def tick(elapsed: float) -> None:
            if not memory.third_kib and elapsed >= options.seconds / 3:
                memory.third_kib = rss_kib(serve.pid)
                memory.third_repairs = len(used_max)

        print(f"maximum rate: closed loop, {options.concurrency} clients, {options.seconds:g} s", flush=True)
        meter = CpuMeter(cpu_readers(options.backend, serve, sandbox))
        meter.start()
        async with profiling(serve.pid, options.warmup_s + options.seconds, options.profile_dir, "serve-max-rate"):
            max_load = await closed_loop(
                base_url,
                factory,
                label="max-rate",
                concurrency=options.concurrency,
                seconds=options.seconds,
                warmup_s=options.warmup_s,
                server_pid=serve.pid,
                on_tick=tick,
                credentials=credentials,
                # A fifth of the records at most for the warm-up, so the window never opens on none.
                warmup_requests=max(1, max_records // 5),
            )
        max_done = await drained(probe, used_max, timeout_s=drain_timeout_s)
        max_cpu_s = meter.stop()
        if not memory.third_kib:  # the records ran out before a third of the window
            memory.third_kib, memory.third_repairs = rss_kib(serve.pid), len(used_max)

        # Half the sustainable rate, open loop, fresh records.
        half = max_done.rate / 2
        print(
            f"half rate: open loop, {half:.0f} repairs/s, {options.seconds:g} s ({pool.left} records left)", flush=True
        )
        factory, used_half = pool.factory(limit=math.ceil(half * options.seconds), phase="half")
        half_load = LoadResult(label="half-rate", seconds=0.0)
        if half > 0:
            async with profiling(serve.pid, options.seconds, options.profile_dir, "serve-half-rate"):
                half_load = await open_loop(
                    base_url,
                    factory,
                    label="half-rate",
                    rate=half,
                    seconds=options.seconds,
                    server_pid=serve.pid,
                    credentials=credentials,
                )
        half_done = await drained(probe, used_half, timeout_s=drain_timeout_s)

        # A fixed, modest rate, open loop: the latency of an answer when nothing queues.
        fixed = options.fixed_rate
        factory, used_fixed = pool.factory(limit=math.ceil(fixed * options.seconds), phase="fixed")
        fixed_load = LoadResult(label="fixed-rate", seconds=0.0)
        if fixed > 0:
            print(f"fixed rate: open loop, {fixed:.0f} repairs/s, {options.seconds:g} s ({pool.left} left)", flush=True)
            fixed_load = await open_loop(
                base_url,
                factory,
                label="fixed-rate",
                rate=fixed,
                seconds=options.seconds,
                server_pid=serve.pid,
                credentials=credentials,
            )
        fixed_done = await drained(probe, used_fixed, timeout_s=drain_timeout_s)
        memory.end_kib = rss_kib(serve.pid)
        memory.end_repairs = len(used_max) + len(used_half) + len(used_fixed)
        after = await shown(session, sandbox.urls, records)
        dead = await probe.dead_letters()
    return Phases(
        ingest_s=ingest_s,
        idle_cpu=idle_cpu,
        before=before,
        after=after,
        max_load=max_load,
        max_done=max_done,
        max_cpu_s=max_cpu_s,
        half_rate=half,
        half_load=half_load,
        half_done=half_done,
        fixed_load=fixed_load,
        fixed_done=fixed_done,
        memory=memory,
        dead_letters=dead,
    )


def cpu_readers(backend: str, serve: Child, sandbox: Sandbox) -> dict[str, Callable[[], float]]:
    """Every process that works for a repair on this machine, as CPU-time readers."""
    readers: dict[str, Callable[[], float]] = {
        "serve": partial(cpu_seconds, serve.pid),
        "simulators": partial(cpu_seconds, sandbox.child.pid),
        "client": cpu_seconds,  # this process: the load, the store probe while draining
    }
    if backend == "postgresql":
        readers["postgresql"] = postgres_cpu_seconds
    return readers


def end_to_end_budget(bare_rate: float, phases: Phases) -> CpuBudget:
    """The target rate as CPU per repair delivered to both, against every process's measured share."""
    repairs = len(phases.max_done.complete)
    return CpuBudget(
        target_per_s=TARGET_RATIO * bare_rate,
        cores=usable_cores(),
        spent_ms={name: per_unit_ms(spent, repairs) for name, spent in phases.max_cpu_s.items()},
    )


async def run(options: Options) -> int:
    work_dir = Path(tempfile.mkdtemp(prefix="creditgw-bench-e2e-"))
    print(
        f"end-to-end benchmark: {options.backend}, {options.records} records, {options.seconds:g} s per phase,"
        f" {options.concurrency} clients (budget {options.budget_s:.0f} s); work dir {work_dir}",
        flush=True,
    )
    try:
        print("baseline: bare aiohttp handler", flush=True)
        bare = await bare_baseline(
            "bare",
            concurrency=options.concurrency,
            seconds=options.seconds,
            warmup_s=options.warmup_s,
            work_dir=work_dir,
        )
        records = penalties(0, options.records)
        with fresh_database(options.backend, work_dir, "e2e") as url:
            async with running_simulators(work_dir) as sandbox:
                # The records are on 信用中国 before the gateway starts, as on a platform that
                # has published for years: stamped a second apart in the recent past, before the
                # gateway's own first writes (their SJC is "now"), so its cursor has not passed them.
                async with aiohttp.ClientSession() as session:
                    changed = await load_creditchina(session, sandbox.urls[CREDITCHINA], records)
                loaded_at = time.monotonic()
                port = free_port()
                key = new_key()
                credentials = await bench_client(url, key)
                env = serve_env(
                    {**SERVE_SETTINGS, "CREDITGW_LOG_LEVEL": options.log_level},
                    key=key,
                    database_url=url,
                    urls=sandbox.urls,
                )
                async with spawn("creditgw-serve", serve_argv(port), log_dir=work_dir, env=env) as serve:
                    await serve.wait_for(r"creditgw listening on", timeout_s=60)
                    probe = StoreProbe(url)
                    try:
                        started = Started(records=records, changed=changed, loaded_at=loaded_at)
                        phases = await run_phases(
                            options, serve, f"http://{LOCALHOST}:{port}", sandbox, probe, started, credentials
                        )
                    finally:
                        await probe.close()
    finally:
        if not options.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    return report(options, bare, phases)


def _load_row(name: str, load: LoadResult) -> list[Any]:
    return [name, load.rate, load.completed, load.errors, load.latency.p50 * 1000, load.latency.p99 * 1000, None, None]


def _delivered_row(name: str, done: Delivered) -> list[Any]:
    missing = len(done.timings) - len(done.complete)
    return [name, done.rate, len(done.complete), missing, None, None, done.latency.p50, done.latency.p99]


def report(options: Options, bare: LoadResult, phases: Phases) -> int:
    max_load, max_done = phases.max_load, phases.max_done
    half_load, half_done = phases.half_load, phases.half_done
    memory = phases.memory
    sustainable = max_done.rate
    end_ratio = ratio(sustainable, bare.rate)
    p99 = half_done.latency.p99
    growth = memory.growth_per_1000
    judged = memory.end_repairs - memory.third_repairs >= MIN_REPAIRS_FOR_MEMORY
    ratio_met = end_ratio >= TARGET_RATIO
    p99_met = not math.isnan(p99) and p99 < TARGET_P99_S and len(half_done.complete) == len(half_done.timings)
    flagged = judged and growth > options.rss_threshold_kib
    errors = max_load.errors + half_load.errors + phases.fixed_load.errors
    ingest_p99 = phases.fixed_load.latency.p99
    ingest_met = not math.isnan(ingest_p99) and ingest_p99 < TARGET_INGEST_P99_S and phases.fixed_load.errors == 0
    half_cpu = half_load.cpu_share(half_load.server_cpu_s)
    cpu_per_repair_ms = per_unit_ms(half_load.server_cpu_s, len(half_done.complete))

    print()
    rows = [
        _load_row("bare ingest (baseline)", bare),
        _load_row("max rate: accepted", max_load),
        _delivered_row("max rate: delivered to both", max_done),
        _load_row(f"half rate ({phases.half_rate:.0f}/s): accepted", half_load),
        _delivered_row("half rate: delivered to both", half_done),
        _load_row(f"fixed rate ({options.fixed_rate:.0f}/s): accepted", phases.fixed_load),
        _delivered_row("fixed rate: delivered to both", phases.fixed_done),
    ]
    print(table(("phase", "per s", "count", "errors", "http p50 ms", "http p99 ms", "a→d p50 s", "a→d p99 s"), rows))
    print("(a→d: accepted → delivered to 信用中国 and GSXT, from the gateway's own timestamps;")
    print(" errors of a delivered row: repairs not delivered to both systems when the wait ended)")
    print()
    memory_rows = [
        ["after ingest of the records", memory.ingested_kib, 0],
        ["after the first third", memory.third_kib, memory.third_repairs],
        ["at the end", memory.end_kib, memory.end_repairs],
    ]
    print(table(("serve VmRSS", "KiB", "repairs so far"), memory_rows))
    print()
    print(
        f"records: {options.records} ingested and mirrored in {phases.ingest_s:.1f} s"
        f" ({options.records / phases.ingest_s:.0f}/s); serve CPU idle {phases.idle_cpu:.2f} core,"
        f" at half rate {half_cpu or math.nan:.2f} core = {cpu_per_repair_ms:.1f} ms per repair"
    )
    print(
        f"simulators: 信用中国 shows {phases.after.creditchina_stopped}, GSXT {phases.after.gsxt_stopped} of the"
        f" {memory.end_repairs} repaired records stopped; dead letters: {phases.dead_letters}"
    )
    if max_load.exhausted:
        print(
            f"note: the maximum-rate phase used all {len(max_done.timings)} records it may (2/3 of --records)"
            f" after {max_load.seconds:.1f} s"
        )
    if half_load.exhausted:
        print("note: the half-rate phase ran out of fresh records (raise --records)")
    budget = end_to_end_budget(bare.rate, phases)
    print(
        f"{budget.describe('repair')} (maximum-rate phase, first acceptance to last delivery;"
        f" serve alone ×{budget.process_over('serve'):.1f} what one process has)"
    )
    print(f"end-to-end ratio {end_ratio:.2f} of bare ingest (target ≥ {TARGET_RATIO:.2f}) {verdict(ratio_met)}")
    print(f"accept→delivered p99 at half rate {p99:.3f} s (target < {TARGET_P99_S:.1f} s) {verdict(p99_met)}")
    if options.fixed_rate > 0:
        print(
            f"ingest p99 at {options.fixed_rate:.0f}/s, open loop: {ingest_p99 * 1000:.1f} ms"
            f" (target < {TARGET_INGEST_P99_S * 1000:.0f} ms) {verdict(ingest_met)}"
        )
    if judged:
        print(
            f"memory growth {growth:,.0f} KiB per 1000 repairs (flagged above {options.rss_threshold_kib:,.0f})"
            f" {'FLAGGED' if flagged else 'ok'}"
        )
    else:
        print(f"memory growth: too few repairs after the first third to judge (< {MIN_REPAIRS_FOR_MEMORY})")
    document = {
        "benchmark": "end_to_end",
        "backend": options.backend,
        "records": options.records,
        "seconds": options.seconds,
        "concurrency": options.concurrency,
        "log_level": options.log_level,
        "machine": machine(),
        "baseline": bare.as_json(),
        "ingest_s": rounded(phases.ingest_s, 2),
        "idle_cpu": rounded(phases.idle_cpu, 2),
        "max_rate": {"accepted": max_load.as_json(), "delivered": max_done.as_json()},
        "sustainable_rps": rounded(sustainable, 1),
        "half_rate": {
            "rate": rounded(phases.half_rate, 1),
            "accepted": half_load.as_json(),
            "delivered": half_done.as_json(),
            "cpu_ms_per_repair": rounded(cpu_per_repair_ms, 2),
        },
        "fixed_rate": {
            "rate": options.fixed_rate,
            "accepted": phases.fixed_load.as_json(),
            "delivered": phases.fixed_done.as_json(),
        },
        "cpu_budget": budget.as_json(),
        "ratio": rounded(end_ratio),
        "p99_s": rounded(p99),
        "rss_kib": {"ingested": memory.ingested_kib, "third": memory.third_kib, "end": memory.end_kib},
        "rss_repairs": {"third": memory.third_repairs, "end": memory.end_repairs},
        "rss_growth_kib_per_1000": rounded(growth, 1),
        "simulators": {
            "gsxt_published_before": phases.before.gsxt_published,
            "creditchina_stopped_after": phases.after.creditchina_stopped,
            "gsxt_stopped_after": phases.after.gsxt_stopped,
        },
        "dead_letters": phases.dead_letters,
        "errors": errors,
        "targets": {
            "ratio": {"target": TARGET_RATIO, "value": rounded(end_ratio), "met": ratio_met},
            "p99_s": {"target": TARGET_P99_S, "value": rounded(p99), "met": p99_met},
            "ingest_p99_s": {"target": TARGET_INGEST_P99_S, "value": rounded(ingest_p99, 4), "met": ingest_met},
            "rss_growth_kib_per_1000": {
                "threshold": options.rss_threshold_kib,
                "value": rounded(growth, 1),
                "judged": judged,
                "flagged": flagged,
            },
        },
    }
    print(json_line(document), flush=True)
    return 0 if errors == 0 else 1


def default_budget(options: Options) -> float:
    phases = 4 * (options.warmup_s + options.seconds) + 3 * max(30.0, 3 * options.seconds)
    return 120 + options.settle_timeout_s + phases


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.end_to_end", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per phase (default 10)")
    parser.add_argument(
        "--records",
        type=int,
        help="records loaded into 信用中国 (default: enough for 10 s at full rate: 9000 on both databases)",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite", help="gateway database (default sqlite)")
    parser.add_argument("--concurrency", type=int, default=32, help="clients of the maximum-rate phase (default 32)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds of the closed loops (default 1)")
    parser.add_argument("--log-level", default="INFO", help="the serve process's log level (default INFO)")
    parser.add_argument(
        "--rss-threshold", type=float, default=1024.0, help="KiB per 1000 repairs to flag (default 1024)"
    )
    parser.add_argument("--settle-timeout", type=float, help="seconds to wait for the records to be ingested")
    parser.add_argument("--budget", type=float, help="hard limit on the whole run, seconds (default: computed)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, SQLite file)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy profiles of serve (both phases) into DIR")
    parser.add_argument(
        "--fixed-rate", type=float, default=FIXED_RATE, help="decisions/s of the open-loop ingest phase (0: none)"
    )
    args = parser.parse_args(argv)
    records = args.records if args.records is not None else DEFAULT_RECORDS[args.backend]
    if records < 3:
        parser.error("--records: at least 3")
    options = Options(
        seconds=args.seconds,
        records=records,
        backend=args.backend,
        concurrency=args.concurrency,
        warmup_s=args.warmup,
        log_level=args.log_level,
        rss_threshold_kib=args.rss_threshold,
        settle_timeout_s=args.settle_timeout if args.settle_timeout is not None else 60 + records / 15,
        keep=args.keep,
        profile_dir=args.profile,
        fixed_rate=args.fixed_rate,
    )
    return replace(options, budget_s=args.budget if args.budget is not None else default_budget(options))


async def _checked_run(options: Options) -> int:
    if options.backend == "postgresql" and (why := postgres_available()) is not None:
        print(f"postgresql not reachable: {why}", file=sys.stderr)
        return 2
    return await run(options)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    return run_bounded(lambda: _checked_run(options), budget_s=options.budget_s)


if __name__ == "__main__":
    sys.exit(main())
