"""The cost of a repair: `creditgw`'s API against the minimal durable accept, same client, same run.

    python -m bench.accept_ratio [--seconds 8] [--warmup 1] [--concurrency 32]
                                 [--backends sqlite,postgresql] [--records N] [--keep] [--budget S]
                                 [--profile DIR]

Per backend, one database is migrated and seeded by the gateway's own code (`bench.ingest_server
prepare`: 3 × N published records, steady state), and four servers, each in its own process, are
loaded one after the other by the same closed-loop client (bench/load.py), each repairing its own
N records (every request a different record, a unique Idempotency-Key):
1. the bare aiohttp handler of bench.ingest (the HTTP stack's ceiling; printed, not targeted);
2. the reference server (bench/reference_server.py): validation, Idempotency-Key, the gateway's rows
   per decision, group commit, nothing else (its docstring says exactly what it skips);
3. the gateway (`create_app` as in bench.ingest: JSON logs at INFO, metrics, signed requests);
4. the reference again. The ratio divides the gateway's rate by the mean of the two reference runs,
   which bracket it in time; their spread shows how much the machine moved.

Figures: accepted decisions/s, ratio (target ≥ 0.9), CPU per accepted decision of the server process
and (PostgreSQL) of every `postgres` process, p50/p99 latency. Prints a table, a verdict line per
backend and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.budget import per_unit_ms
from bench.databases import BACKENDS, PG_DSN, fresh_database, postgres_available
from bench.ingest import bare_baseline, repair_factory, serve_and_load
from bench.ingest_server import PREPARED
from bench.load import LoadResult
from bench.processes import cpu_seconds, postgres_cpu_seconds, python_module, run_bounded, spawn
from bench.records import SyntheticPenalty
from bench.report import json_line, machine, table, verdict
from bench.stats import ratio, rounded

TARGET_RATIO = 0.9
# Above the faster server's rate on the 2-core machine, req/s: records per server and window.
_RATE_CEILING = {"sqlite": 2000.0, "postgresql": 1200.0}
# Seeding speed, records/s, with a wide margin for a busy machine (sizes the timeouts only).
_SEED_RATE = {"sqlite": 150.0, "postgresql": 40.0}


@dataclass(frozen=True, kw_only=True)
class Options:
    seconds: float
    warmup_s: float
    concurrency: int
    backends: tuple[str, ...]
    records: int | None
    keep: bool
    profile_dir: Path | None = None
    budget_s: float = 0.0


def own_postgres_cpu_seconds() -> float:
    """CPU time so far of the PostgreSQL backends serving this benchmark's child processes (the one
    server under load): their sockets to port 5432, matched to `pg_stat_activity.client_port`. On a
    shared machine `postgres_cpu_seconds` (every postgres process) also counts other people's work."""
    import psycopg

    me = str(os.getpid())
    inodes: set[str] = set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError):
            if entry.name.isdigit() and (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == me:
                for fd in (entry / "fd").iterdir():
                    with contextlib.suppress(OSError):
                        target = os.readlink(fd)
                        if target.startswith("socket:["):
                            inodes.add(target[8:-1])
    ports: list[int] = []
    for listing in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(listing).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes and fields[2].endswith(":1538"):  # remote port 5432
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    if not ports:
        return math.nan
    with psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5) as conn:
        pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s)", [ports])]
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def records_per_server(options: Options, backend: str) -> int:
    if options.records is not None:
        return options.records
    return math.ceil(_RATE_CEILING[backend] * (options.warmup_s + options.seconds) / 1000) * 1000


async def prepare(url: str, records: int, work_dir: Path, label: str) -> None:
    argv = python_module("bench.ingest_server", "prepare", "--database-url", url, "--records", str(records))
    async with spawn(label, argv, log_dir=work_dir) as child:
        await child.wait_for(rf"^{PREPARED} ", timeout_s=120 + records / _SEED_RATE[label.split("-")[0]])
        await asyncio.to_thread(child.proc.wait, 120)  # closed cleanly, not stopped mid-close


async def measure_backend(
    backend: str, options: Options, work_dir: Path
) -> tuple[dict[str, Any], list[list[Any]], str]:
    n = records_per_server(options, backend)
    ids = [SyntheticPenalty(i).record_id for i in range(3 * n)]
    slices = {"reference-1": ids[:n], "gateway": ids[n : 2 * n], "reference-2": ids[2 * n :]}
    also = (
        {"postgresql": postgres_cpu_seconds, "postgres_own": own_postgres_cpu_seconds}
        if backend == "postgresql"
        else None
    )
    runs: dict[str, LoadResult] = {}
    common = {"concurrency": options.concurrency, "seconds": options.seconds, "warmup_s": options.warmup_s}
    runs["bare"] = await bare_baseline(f"{backend}-bare", work_dir=work_dir, **common)  # type: ignore[arg-type]
    with fresh_database(backend, work_dir, f"{backend}_accept") as url:
        await prepare(url, 3 * n, work_dir, f"{backend}-prepare")
        for name, record_ids in slices.items():
            argv = (
                python_module("bench.reference_server", "--database-url", url)
                if name.startswith("reference")
                else python_module("bench.ingest_server", "gateway", "--database-url", url, "--records", "0")
            )
            label = f"{backend}-{name}"
            runs[name], _ = await serve_and_load(
                label,
                argv,
                repair_factory(record_ids, run=label),
                work_dir=work_dir,
                ready_timeout_s=120,
                also_cpu=also,
                warmup_requests=max(1, n // 5),
                profile_dir=options.profile_dir,
                **common,  # type: ignore[arg-type]
            )
    refs = [runs["reference-1"], runs["reference-2"]]
    ref_rate = sum(r.rate for r in refs) / 2
    gateway = runs["gateway"]
    met = gateway.rate >= TARGET_RATIO * ref_rate and gateway.errors == 0 and gateway.completed > 0
    figures: dict[str, Any] = {name: _figures(result) for name, result in runs.items()}
    figures["reference_rps"] = rounded(ref_rate, 1)
    figures["reference_spread"] = rounded(abs(refs[0].rate - refs[1].rate) / ref_rate if ref_rate else math.nan)
    figures["ratio"] = rounded(ratio(gateway.rate, ref_rate))
    figures["ratio_to_bare"] = rounded(ratio(gateway.rate, runs["bare"].rate))
    figures["reference_ratio_to_bare"] = rounded(ratio(ref_rate, runs["bare"].rate))
    figures["target_met"] = met
    rows = [_row(backend, name, result) for name, result in runs.items()]
    line = (
        f"{backend}: gateway / reference {ratio(gateway.rate, ref_rate):.2f} (target ≥ {TARGET_RATIO:.2f})"
        f" {verdict(met)} [reference {refs[0].rate:,.0f} and {refs[1].rate:,.0f}/s, gateway {gateway.rate:,.0f}/s,"
        f" bare {runs['bare'].rate:,.0f}/s]; server CPU per accepted decision: gateway"
        f" {_ms(gateway, 'server'):.3f} ms, reference {_ms(refs[0], 'server'):.3f}/{_ms(refs[1], 'server'):.3f} ms"
    )
    if backend == "postgresql":
        line += (
            f"; its own postgres backends: gateway {_ms(gateway, 'postgres_own'):.3f} ms,"
            f" reference {_ms(refs[0], 'postgres_own'):.3f}/{_ms(refs[1], 'postgres_own'):.3f} ms"
            f" (every postgres process on the machine: gateway {_ms(gateway, 'postgresql'):.3f} ms,"
            f" reference {_ms(refs[0], 'postgresql'):.3f}/{_ms(refs[1], 'postgresql'):.3f} ms)"
        )
    for result in runs.values():
        if result.exhausted:
            line += f"; {result.label}: records ran out after {result.seconds:.1f} s"
    return figures, rows, line


def _ms(result: LoadResult, process: str) -> float:
    """CPU ms per accepted decision of `server`, `client` or an `also_cpu` process (NaN if unknown)."""
    spent = {"server": result.server_cpu_s, "client": result.client_cpu_s, **result.other_cpu_s}.get(process)
    return math.nan if spent is None else per_unit_ms(spent, result.completed)


def _figures(result: LoadResult) -> dict[str, Any]:
    return {
        **result.as_json(),
        "cpu_ms_per_accepted": {
            name: rounded(_ms(result, name), 4) for name in ("server", "client", *result.other_cpu_s)
        },
    }


HEADERS = (
    "backend",
    "server",
    "accepted/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "server ms/dec",
    "own pg ms/dec",
    "all pg ms/dec",
    "client ms/dec",
)


def _row(backend: str, name: str, result: LoadResult) -> list[Any]:
    latency = result.latency
    return [
        backend,
        name,
        result.rate,
        latency.p50 * 1000,
        latency.p99 * 1000,
        result.errors,
        _ms(result, "server"),
        _ms(result, "postgres_own"),
        _ms(result, "postgresql"),
        _ms(result, "client"),
    ]


async def run(options: Options) -> int:
    work_dir = Path(tempfile.mkdtemp(prefix="creditgw-bench-accept-"))
    print(
        f"accept ratio benchmark: {options.seconds:g} s per server after {options.warmup_s:g} s warm-up,"
        f" {options.concurrency} concurrent clients, backends {', '.join(options.backends)}"
        f" (budget {options.budget_s:.0f} s); work dir {work_dir}",
        flush=True,
    )
    document: dict[str, Any] = {
        "benchmark": "accept_ratio",
        "seconds": options.seconds,
        "warmup_s": options.warmup_s,
        "concurrency": options.concurrency,
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
            print(f"{backend}: seeding, bare handler, reference, gateway, reference again", flush=True)
            figures, backend_rows, line = await measure_backend(backend, options, work_dir)
            document["backends"][backend] = figures
            rows += backend_rows
            lines.append(line)
    finally:
        if not options.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    print()
    print(table(HEADERS, rows))
    print(
        "(ms/dec: CPU time per accepted decision over the measured window; own pg: the server's PostgreSQL"
        " backends; all pg: every postgres process on this shared machine)"
    )
    print()
    for line in lines:
        print(line)
    errors = sum(
        figures[name]["errors"]
        for figures in document["backends"].values()
        for name in ("bare", "reference-1", "gateway", "reference-2")
        if name in figures
    )
    document["errors"] = errors
    print(json_line(document), flush=True)
    return 0 if errors == 0 else 1


def default_budget(options: Options) -> float:
    total = 30.0
    for backend in options.backends:
        seeding = 120 + 3 * records_per_server(options, backend) / _SEED_RATE[backend]
        total += seeding + 4 * (options.warmup_s + options.seconds + 60)  # start, load, stop
    return total


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.accept_ratio", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per server (default 8)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each window (default 1)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent client workers (default 32)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,postgresql")
    parser.add_argument("--records", type=int, help="records per server (default: enough for the window)")
    parser.add_argument("--budget", type=float, help="hard limit on the whole run, seconds (default: computed)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server logs, SQLite files)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy profile of each server into DIR")
    args = parser.parse_args(argv)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        parser.error(f"--backends: unknown {unknown}; choose from {', '.join(BACKENDS)}")
    if args.records is not None and args.records < 5:
        parser.error("--records: at least 5 per server")
    options = Options(
        seconds=args.seconds,
        warmup_s=args.warmup,
        concurrency=args.concurrency,
        backends=backends,
        records=args.records,
        keep=args.keep,
        profile_dir=args.profile,
    )
    return replace(options, budget_s=args.budget if args.budget is not None else default_budget(options))


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    return run_bounded(lambda: run(options), budget_s=options.budget_s)


if __name__ == "__main__":
    sys.exit(main())
