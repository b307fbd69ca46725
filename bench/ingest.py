"""Durable ingest: POST /v1/repairs on the real API against a bare aiohttp handler, same run.

    python -m bench.ingest [--seconds 8] [--concurrency 32] [--backends sqlite,postgresql]

Per backend, each server in its own process (bench/ingest_server.py), measured one after the other
with the same closed-loop client (C workers, a warm-up, then T seconds):
1. baseline: a bare aiohttp app that parses the JSON body and answers 202 (the HTTP stack's ceiling);
2. the gateway API on a fresh database with published records seeded, each request repairing a
   different record (idempotency row, record, audit, repair, progress rows and one outbox row per
   system, committed before the 202), group commit as configured by default;
3. the same with group commit off (`group_commit_max=1`), to show what group commit buys;
3b. the gateway again with signatures off (`require_signature=false`, the same client named by
   `X-Client-Id`): the difference to 2 is the price of signing (client side) and of checking the
   signature and storing the nonce (server side, docs/signing.md);
4. the API's HTTP layer alone: the same app with the decision answered at once, no store work (the
   ceiling that the store's work then lowers: how much of the gap is HTTP handling, how much is
   the durable decision);
5. the baseline again: the ratio uses the mean of the two baseline runs, which bracket the gateway
   runs in time, so a machine getting busier or quieter during the run shows as their spread.

Prints a table, a verdict line per backend ("ingest ratio X.XX (target ≥ 0.50)") and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.budget import CpuBudget, per_unit_ms, usable_cores
from bench.databases import BACKENDS, fresh_database, postgres_available
from bench.ingest_server import BENCH_CLIENT
from bench.load import LoadResult, Request, RequestFactory, closed_loop
from bench.processes import LOCALHOST, postgres_cpu_seconds, python_module, run_bounded, spawn
from bench.profiling import profiling
from bench.records import SyntheticPenalty
from bench.report import json_line, machine, table, verdict
from bench.stats import Summary, ratio, rounded
from gateway.signing import Credentials

TARGET_RATIO = 0.50
SERVER_MODULE = "bench.ingest_server"
# Seeding speed, records/s, on the 2-core benchmark machine, with margin (sizes the READY timeout).
_SEED_RATE = {"sqlite": 500.0, "postgresql": 150.0}
# About 3× the gateway's measured ingest rate, req/s: enough records are seeded that every request
# repairs a different one. Should a faster gateway run out, the window ends early and says so.
_RATE_CEILING = {"sqlite": 1500.0, "postgresql": 800.0}


@dataclass(frozen=True, kw_only=True)
class Options:
    seconds: float
    warmup_s: float
    concurrency: int
    backends: tuple[str, ...]
    records: int | None
    log_level: str
    group_commit_off: bool
    keep: bool
    profile_dir: Path | None = None
    budget_s: float = 0.0  # hard limit on the whole run (0: computed by default_budget)


def repair_factory(record_ids: list[str], *, run: str, cycle: bool = False) -> RequestFactory:
    """Request n repairs record_ids[n] (with `cycle`, record_ids[n mod len]: the bare server keeps
    nothing, so it never runs out). A unique Idempotency-Key per request."""
    decided_at = datetime.now(UTC).isoformat()

    def make(number: int) -> Request | None:
        if number >= len(record_ids) and not cycle:
            return None
        record_id = record_ids[number % len(record_ids)]
        body = {
            "record": {"record_id": record_id},
            "action": "repair",
            "decided_at": decided_at,
            "decided_by": "兰州市生态环境局",
        }
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"bench-{run}-{number}",
            # Names the client to an unsigned gateway; a signed request carries it among the signed headers.
            "X-Client-Id": BENCH_CLIENT,
        }
        return Request(path="/v1/repairs", body=json.dumps(body).encode(), headers=headers)

    return make


async def serve_and_load(
    label: str,
    argv: list[str],
    factory: RequestFactory,
    *,
    concurrency: int,
    seconds: float,
    warmup_s: float,
    work_dir: Path,
    ready_timeout_s: float,
    profile_dir: Path | None = None,
    also_cpu: Mapping[str, Callable[[], float]] | None = None,
    warmup_requests: int | None = None,
) -> tuple[LoadResult, dict[str, Any]]:
    """Start a bench.ingest_server process, wait for its READY line, run the closed loop, stop it.
    Requests are signed with the client the server made, unless it runs unsigned.
    `warmup_requests`: for a finite supply, the warm-up ends at the latest after this many."""
    async with spawn(label, argv, log_dir=work_dir) as server:
        ready = await server.wait_for(r"^READY (\{.*\})$", timeout_s=ready_timeout_s)
        info: dict[str, Any] = json.loads(ready.group(1))
        client = info.pop("client", None)
        credentials = Credentials(**client) if client is not None and info.get("signed") else None
        async with profiling(server.pid, warmup_s + seconds, profile_dir, label):
            result = await closed_loop(
                f"http://{LOCALHOST}:{info['port']}",
                factory,
                label=label,
                concurrency=concurrency,
                seconds=seconds,
                warmup_s=warmup_s,
                server_pid=server.pid,
                also_cpu=also_cpu,
                credentials=credentials,
                warmup_requests=warmup_requests,
            )
    return result, info


async def load_cycled(
    label: str, argv: list[str], *, concurrency: int, seconds: float, warmup_s: float, work_dir: Path
) -> LoadResult:
    """A server that keeps nothing of a repair (so 1000 record ids, cycled, never run out) under the
    same client and requests as the gateway."""
    record_ids = [SyntheticPenalty(i).record_id for i in range(1000)]
    result, _ = await serve_and_load(
        label,
        argv,
        repair_factory(record_ids, run=label, cycle=True),
        concurrency=concurrency,
        seconds=seconds,
        warmup_s=warmup_s,
        work_dir=work_dir,
        ready_timeout_s=60,
    )
    return result


async def bare_baseline(label: str, *, concurrency: int, seconds: float, warmup_s: float, work_dir: Path) -> LoadResult:
    """The baseline of every benchmark here: the bare aiohttp handler, same client, same requests."""
    argv = python_module(SERVER_MODULE, "bare")
    return await load_cycled(
        label, argv, concurrency=concurrency, seconds=seconds, warmup_s=warmup_s, work_dir=work_dir
    )


def records_needed(options: Options, backend: str) -> int:
    if options.records is not None:
        return options.records
    return math.ceil(_RATE_CEILING[backend] * (options.warmup_s + options.seconds) / 1000) * 1000


async def measure_gateway(
    backend: str, options: Options, work_dir: Path, *, group_commit_max: int | None, signed: bool = True
) -> tuple[LoadResult, dict[str, Any]]:
    count = records_needed(options, backend)
    name = f"{backend}-gateway" + ("-gc-off" if group_commit_max == 1 else "") + ("" if signed else "-unsigned")
    record_ids = [SyntheticPenalty(i).record_id for i in range(count)]
    with fresh_database(backend, work_dir, name.replace("-", "_")) as url:
        argv = python_module(
            SERVER_MODULE, "gateway", "--database-url", url, "--records", str(count), "--log-level", options.log_level
        )
        if group_commit_max is not None:
            argv += ["--group-commit-max", str(group_commit_max)]
        if not signed:
            argv.append("--unsigned")
        return await serve_and_load(
            name,
            argv,
            repair_factory(record_ids, run=name),
            concurrency=options.concurrency,
            seconds=options.seconds,
            warmup_s=options.warmup_s,
            work_dir=work_dir,
            ready_timeout_s=60 + count / _SEED_RATE[backend],
            profile_dir=options.profile_dir,
            also_cpu={"postgresql": postgres_cpu_seconds} if backend == "postgresql" else None,
            # At most a fifth of the records for the warm-up: the window always measures the rest.
            warmup_requests=max(1, count // 5),
        )


async def measure_http_layer(backend: str, options: Options, work_dir: Path) -> LoadResult:
    name = f"{backend}-http-layer"
    with fresh_database(backend, work_dir, name.replace("-", "_")) as url:
        argv = python_module(SERVER_MODULE, "http-layer", "--database-url", url, "--log-level", options.log_level)
        return await load_cycled(
            name,
            argv,
            concurrency=options.concurrency,
            seconds=options.seconds,
            warmup_s=options.warmup_s,
            work_dir=work_dir,
        )


HEADERS = (
    "backend",
    "gateway",
    "baseline req/s",
    "gateway req/s",
    "ratio",
    "base p50 ms",
    "base p99 ms",
    "gw p50 ms",
    "gw p99 ms",
    "gw errors",
    "gw server cpu",
    "client cpu",
)


def _row(backend: str, variant: str, base_rate: float, bases: list[LoadResult], gateway: LoadResult) -> list[Any]:
    b, g = Summary.of([x for r in bases for x in r.latencies_s]), gateway.latency
    return [
        backend,
        variant,
        base_rate,
        gateway.rate,
        ratio(gateway.rate, base_rate),
        b.p50 * 1000,
        b.p99 * 1000,
        g.p50 * 1000,
        g.p99 * 1000,
        gateway.errors,
        gateway.cpu_share(gateway.server_cpu_s),
        gateway.cpu_share(gateway.client_cpu_s),
    ]


async def measure_backend(
    backend: str, options: Options, work_dir: Path
) -> tuple[dict[str, Any], list[list[Any]], str]:
    async def baseline(n: int) -> LoadResult:
        return await bare_baseline(
            f"{backend}-bare-{n}",
            concurrency=options.concurrency,
            seconds=options.seconds,
            warmup_s=options.warmup_s,
            work_dir=work_dir,
        )

    first = await baseline(1)
    gateway, info = await measure_gateway(backend, options, work_dir, group_commit_max=None)
    off: tuple[LoadResult, dict[str, Any]] | None = None
    if options.group_commit_off:
        off = await measure_gateway(backend, options, work_dir, group_commit_max=1)
    unsigned, _ = await measure_gateway(backend, options, work_dir, group_commit_max=None, signed=False)
    layer = await measure_http_layer(backend, options, work_dir)
    second = await baseline(2)
    bases = [first, second]
    base_rate = (first.rate + second.rate) / 2
    met = gateway.rate >= TARGET_RATIO * base_rate and gateway.errors == 0 and gateway.completed > 0
    figures: dict[str, Any] = {
        "baseline_rps": rounded(base_rate, 1),
        "baseline_runs": [first.as_json(), second.as_json()],
        "baseline_spread": rounded(abs(first.rate - second.rate) / base_rate if base_rate else math.nan),
        "gateway": {**gateway.as_json(), "server": info},
        "ratio": rounded(ratio(gateway.rate, base_rate)),
        "target_met": met,
    }
    rows = [_row(backend, f"group commit max {info['group_commit_max']}", base_rate, bases, gateway)]
    line = (
        f"{backend}: ingest ratio {ratio(gateway.rate, base_rate):.2f} (target ≥ {TARGET_RATIO:.2f}) {verdict(met)}"
        f" [baseline {first.rate:,.0f} and {second.rate:,.0f} req/s]"
    )
    if off is not None:
        off_result, off_info = off
        figures["gateway_group_commit_off"] = {**off_result.as_json(), "server": off_info}
        figures["ratio_group_commit_off"] = rounded(ratio(off_result.rate, base_rate))
        figures["group_commit_gain"] = rounded(ratio(gateway.rate, off_result.rate))
        rows.append(_row(backend, "group commit off (max 1)", base_rate, bases, off_result))
        line += (
            f"; group commit off: ratio {ratio(off_result.rate, base_rate):.2f},"
            f" group commit buys ×{ratio(gateway.rate, off_result.rate):.2f}"
        )
    signing = signing_cost(gateway, unsigned)
    figures["gateway_unsigned"] = unsigned.as_json()
    figures["signing"] = {name: rounded(value, 4) for name, value in signing.items()}
    rows.append(_row(backend, "signatures off (same client)", base_rate, bases, unsigned))
    line += (
        f"; signatures off: ratio {ratio(unsigned.rate, base_rate):.2f} — signing and nonce checking cost"
        f" {signing['rate_change']:+.1%} of the rate, {signing['server_ms_per_request']:+.3f} ms server CPU and"
        f" {signing['client_ms_per_request']:+.3f} ms client CPU per request, p50 {signing['p50_ms']:+.2f} ms"
    )
    figures["http_layer"] = layer.as_json()
    figures["ratio_http_layer"] = rounded(ratio(layer.rate, base_rate))
    rows.append(_row(backend, "http layer alone (no store)", base_rate, bases, layer))
    line += f"; the HTTP layer alone (no store): ratio {ratio(layer.rate, base_rate):.2f}"
    for result in (gateway, layer, *(() if off is None else (off[0],))):
        if result.exhausted:
            line += f"; {result.label}: seeded records ran out after {result.seconds:.1f} s"
    budget = ingest_budget(base_rate, gateway)
    layer_ms = per_unit_ms(layer.server_cpu_s, layer.completed)
    figures["cpu_budget"] = {**budget.as_json(), "http_layer_server_ms": rounded(layer_ms, 3)}
    line += (
        f"\n{backend}: {budget.describe('request')}; the server alone ×{budget.process_over('server'):.1f} what"
        f" one process has (the HTTP layer alone {layer_ms:.2f} ms)"
    )
    return figures, rows, line


def signing_cost(signed: LoadResult, unsigned: LoadResult) -> dict[str, float]:
    """What signing (client) and verifying it with the nonce stored (server) add per request:
    signed minus unsigned, same client, same run (NaN where a figure is missing)."""
    return {
        "rate_change": signed.rate / unsigned.rate - 1 if unsigned.rate else math.nan,
        "server_ms_per_request": per_unit_ms(signed.server_cpu_s, signed.completed)
        - per_unit_ms(unsigned.server_cpu_s, unsigned.completed),
        "client_ms_per_request": per_unit_ms(signed.client_cpu_s, signed.completed)
        - per_unit_ms(unsigned.client_cpu_s, unsigned.completed),
        "p50_ms": (signed.latency.p50 - unsigned.latency.p50) * 1000,
        "p99_ms": (signed.latency.p99 - unsigned.latency.p99) * 1000,
    }


def ingest_budget(base_rate: float, gateway: LoadResult) -> CpuBudget:
    """The target rate as CPU per request, against the gateway's server and the load client."""
    return CpuBudget(
        target_per_s=TARGET_RATIO * base_rate,
        cores=usable_cores(),
        spent_ms={
            "server": per_unit_ms(gateway.server_cpu_s, gateway.completed),
            "client": per_unit_ms(gateway.client_cpu_s, gateway.completed),
            **{name: per_unit_ms(spent, gateway.completed) for name, spent in gateway.other_cpu_s.items()},
        },
    )


async def run(options: Options) -> int:
    work_dir = Path(tempfile.mkdtemp(prefix="creditgw-bench-ingest-"))
    print(
        f"ingest benchmark: {options.seconds:g} s per measurement after {options.warmup_s:g} s warm-up,"
        f" {options.concurrency} concurrent clients, backends {', '.join(options.backends)}"
        f" (budget {options.budget_s:.0f} s); work dir {work_dir}",
        flush=True,
    )
    document: dict[str, Any] = {
        "benchmark": "ingest",
        "seconds": options.seconds,
        "warmup_s": options.warmup_s,
        "concurrency": options.concurrency,
        "log_level": options.log_level,
        "target_ratio": TARGET_RATIO,
        "machine": machine(),
        "backends": {},
    }
    rows: list[list[Any]] = []
    lines: list[str] = []
    try:
        for backend in options.backends:
            if backend == "postgresql" and (why := postgres_available()) is not None:
                lines.append(f"{backend}: skipped, server not reachable ({why})")
                document["backends"][backend] = {"skipped": why}
                continue
            variants = "gateway, gateway with group commit off" if options.group_commit_off else "gateway"
            variants += ", gateway with signatures off, the HTTP layer alone"
            print(f"{backend}: baseline, {variants}, baseline again", flush=True)
            figures, backend_rows, line = await measure_backend(backend, options, work_dir)
            document["backends"][backend] = figures
            rows += backend_rows
            lines.append(line)
    finally:
        if not options.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    print()
    print(table(HEADERS, rows))
    print("(latencies per request as the client saw them; cpu: share of one core during the window)")
    print()
    for line in lines:
        print(line)
    errors = sum(
        run["errors"]
        for figures in document["backends"].values()
        for run in (
            *figures.get("baseline_runs", ()),
            *(
                figures[key]
                for key in ("gateway", "gateway_group_commit_off", "gateway_unsigned", "http_layer")
                if key in figures
            ),
        )
    )
    document["errors"] = errors
    print(json_line(document), flush=True)
    return 0 if errors == 0 else 1


def default_budget(options: Options) -> float:
    total = 30.0
    gateways = 3 if options.group_commit_off else 2  # signed, unsigned, group commit off
    for backend in options.backends:
        measurement = options.warmup_s + options.seconds + 20  # start, load, stop
        seeding = gateways * (60 + records_needed(options, backend) / _SEED_RATE[backend])
        total += (3 + gateways) * measurement + seeding  # 2 baselines, the HTTP layer, the gateways
    return total


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per server (default 8)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each window (default 1)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent client workers (default 32)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,postgresql")
    parser.add_argument("--records", type=int, help="records to seed per gateway (default: enough for the window)")
    parser.add_argument("--log-level", default="INFO", help="gateway log level (default INFO, as in production)")
    parser.add_argument("--no-group-commit-off", action="store_true", help="skip the group-commit-off variant")
    parser.add_argument("--budget", type=float, help="hard limit on the whole run, seconds (default: computed)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server logs, SQLite files)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy profile of each gateway server into DIR")
    args = parser.parse_args(argv)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        parser.error(f"--backends: unknown {unknown}; choose from {', '.join(BACKENDS)}")
    options = Options(
        seconds=args.seconds,
        warmup_s=args.warmup,
        concurrency=args.concurrency,
        backends=backends,
        records=args.records,
        log_level=args.log_level,
        group_commit_off=not args.no_group_commit_off,
        keep=args.keep,
        profile_dir=args.profile,
    )
    return replace(options, budget_s=args.budget if args.budget is not None else default_budget(options))


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    return run_bounded(lambda: run(options), budget_s=options.budget_s)


if __name__ == "__main__":
    sys.exit(main())
