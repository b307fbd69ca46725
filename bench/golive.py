"""Go-live from full listings (`creditgw golive`, gateway/golive.py) against a plain bulk write of the
same rows into the same indexed tables, measured in the same run.

N synthetic penalties (bench/records.py): 信用中国 owns them (a `CF` row each), GSXT mirrors them as
`otherpunish` rows — all but `--missing` of them (those are owed a delivery), and `--stopped` of the
mirror's rows show the record stopped (a 多头修复: set back). Both listings are generated page by
page in the benchmark process, each row as the adapter would hand it over (`NativeChange`); the time
spent generating them is measured and taken out of the go-live's time (the listing's transport is
not what this measures).

1. **go-live** — `go_live()` on a fresh, migrated database: map every row (the real mappings and
   intake checks), group by record, plan (`plan_record`), COPY (PostgreSQL) or executemany
   (SQLite) in transactions of `--chunk` records, ANALYZE at the end;
2. **baseline** — on another fresh database, the very rows go-live wrote (computed again, untimed,
   chunk by chunk), written by `gateway.store.load.write` alone in the same transactions, then
   ANALYZE: the plain COPY / executemany of the same rows into the same indexed tables.

Ratio = go-live records/s ÷ baseline records/s (target ≥ 0.7). CPU per record: this process (the
planning and the driver) and, on PostgreSQL, every `postgres` process, over each measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.databases import fresh_database, postgres_available
from bench.processes import CpuMeter, cpu_seconds, postgres_cpu_seconds, rss_kib
from bench.records import SyntheticPenalty
from bench.report import json_line, machine, table, verdict
from bench.stats import ratio, rounded
from gateway.contract import ChangePage, ListingPage, NativeChange, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.categories import System
from gateway.domain.golive import RecordLoad, plan_record
from gateway.domain.model import PUBLISHED
from gateway.domain.plan import Policy
from gateway.golive import GoLiveReport, go_live, read_listings
from gateway.store.database import open_database
from gateway.store.load import analyze, rows_of, write
from gateway.store.migrate import migrate
from gateway.sync.connectors import MAPPINGS, Connector
from mappings.gsxt_gansu import AUDIT_STATE_APPROVED, GsxtGansuMapping

CC, GS = System.CREDITCHINA_GANSU.value, System.GSXT_GANSU.value
TARGET = 0.7
PAGE = 1000
_SJC = datetime(2025, 11, 1, 8, 0, 0)  # Beijing time of every row's last change
_CHANGED_AT = (_SJC - timedelta(hours=8)).replace(tzinfo=UTC)


class Generator:
    """Pages of both listings, made on demand; `seconds` is the time spent making them."""

    def __init__(self, n: int, missing: float, stopped: float) -> None:
        self.n = n
        self.missing_every = round(1 / missing) if missing else 0
        self.stopped_every = round(1 / stopped) if stopped else 0
        self.seconds = 0.0  # wall time spent generating
        self.cpu_seconds = 0.0  # CPU time of the generating thread (the event loop's)
        self._gsxt = GsxtGansuMapping()

    def mirrored(self, i: int) -> bool:
        return not (self.missing_every and i % self.missing_every == self.missing_every - 1)

    def stopped(self, i: int) -> bool:
        return bool(self.stopped_every) and i % self.stopped_every == self.stopped_every // 2

    def creditchina(self, i: int) -> NativeChange:
        row = SyntheticPenalty(i).creditchina_row(_SJC)
        row["ID"] = str(i + 1)
        return NativeChange(
            change_key=f"CF:{i + 1}:{row['SJC']}",
            source_version=row["SJC"],
            changed_at=_CHANGED_AT,
            kind="CF",
            native_id=str(i + 1),
            row=row,
        )

    def gsxt(self, i: int) -> NativeChange:
        written = self._gsxt.to_write(SyntheticPenalty(i).facts(), PUBLISHED, idempotency_key="")
        row: dict[str, Any] = {
            k: (float(v) if isinstance(v, Decimal) else v) for k, v in written.row.items()
        }  # JSON numbers, as GSXT answers
        row.update(table="otherpunish", caseId=f"OP{i:09d}", auditState=AUDIT_STATE_APPROVED, pubDate="2025-11-01")
        if self.stopped(i):
            row.update(pubFlag="0", stopType="1", stopDate="2025-10-30")
        return NativeChange(
            change_key=f"otherpunish:{i}:1",
            source_version=f"{i + 1:012d}",
            changed_at=_CHANGED_AT,
            kind="otherpunish",
            native_id=row["caseId"],
            row=row,
        )

    def pages(self, system: str) -> Iterator[list[NativeChange]]:
        for start in range(0, self.n, PAGE):
            began = time.perf_counter()
            began_cpu = time.thread_time()
            if system == CC:
                page = [self.creditchina(i) for i in range(start, min(start + PAGE, self.n))]
            else:
                page = [self.gsxt(i) for i in range(start, min(start + PAGE, self.n)) if self.mirrored(i)]
            self.seconds += time.perf_counter() - began
            self.cpu_seconds += time.thread_time() - began_cpu
            yield page


class ListingAdapter(SystemAdapter):
    """A system reduced to its full listing, served from the generator."""

    system = "bench"

    def __init__(self, system: str, generator: Generator, kinds: tuple[str, ...]) -> None:
        self._system = system
        self._generator = generator
        self._kinds = kinds

    async def list_all(self, kind: str, page_size: int) -> AsyncIterator[ListingPage]:
        if kind not in self._kinds:
            return
        for rows in self._generator.pages(self._system):
            yield ListingPage(rows=rows)

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        return ChangePage(changes=[], cursor=cursor or "", has_more=False)

    async def write(self, write: NativeWrite) -> WriteResult:
        raise NotImplementedError

    async def close(self) -> None:
        return None


KINDS = {CC: ("CF",), GS: ("otherpunish",)}


def connectors(generator: Generator) -> dict[str, Connector]:
    return {s: Connector(s, ListingAdapter(s, generator, KINDS[s]), MAPPINGS[s], PAGE) for s in (CC, GS)}


def policy() -> Policy:
    return Policy(self_deciding_owners=frozenset({GS}))


def _meter(backend: str) -> CpuMeter:
    readers: dict[str, Callable[[], float]] = {"bench": cpu_seconds}
    if backend == "postgresql":
        readers["postgres"] = postgres_cpu_seconds
    return CpuMeter(readers)


async def run_golive(url: str, backend: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    db = open_database(url)
    await migrate(db)
    generator = Generator(n, args.missing, args.stopped)
    meter = _meter(backend)
    meter.start()
    began = time.perf_counter()
    report: GoLiveReport = await go_live(
        db, connectors(generator), policy(), chunk=args.chunk, kinds=lambda s: KINDS[s], page_size=PAGE
    )
    wall = time.perf_counter() - began
    cpu = meter.stop()
    await db.close()
    return {
        "wall_s": wall - generator.seconds,
        "generate_s": generator.seconds,
        "cpu_s": {k: v - (generator.cpu_seconds if k == "bench" else 0.0) for k, v in cpu.items()},
        "records": report.records,
        "bulk": report.bulk,
        "alone": report.alone,
        "deliveries": report.deliveries,
        "outcomes": report.outcomes,
        "peak_rss_mib": rss_kib_peak() / 1024,
    }


async def run_baseline(url: str, backend: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """The same rows, planned untimed chunk by chunk, written timed."""
    db = open_database(url)
    await migrate(db)
    generator = Generator(n, args.missing, args.stopped)
    listings = await read_listings(
        connectors(generator), GoLiveReport(started_at=datetime.now(UTC)), kinds=lambda s: KINDS[s]
    )
    plan_policy = Policy(self_deciding_owners=frozenset({GS}), unread=frozenset({CC, GS}))
    ids = sorted(listings.groups)
    wall = 0.0
    cpu: dict[str, float] = {}
    rows_written = 0
    meter = _meter(backend)
    for start in range(0, len(ids), args.chunk):
        loads: list[RecordLoad] = []
        for record_id in ids[start : start + args.chunk]:
            load = plan_record(listings.groups.pop(record_id), plan_policy, listed_systems=frozenset({CC, GS}))
            assert load is not None
            loads.append(load)
        rows = rows_of(loads, datetime.now(UTC))
        rows_written += rows.count()
        meter.start()
        began = time.perf_counter()
        await db.run(lambda tx, rows=rows: write(tx, rows))  # type: ignore[misc]
        wall += time.perf_counter() - began
        for k, v in meter.stop().items():
            cpu[k] = cpu.get(k, 0.0) + v
    meter.start()
    began = time.perf_counter()
    await db.run(analyze)
    wall += time.perf_counter() - began
    for k, v in meter.stop().items():
        cpu[k] = cpu.get(k, 0.0) + v
    await db.close()
    return {"wall_s": wall, "cpu_s": cpu, "records": len(ids), "rows": rows_written}


def rss_kib_peak() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return rss_kib(0)


async def measure(backend: str, n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with fresh_database(backend, work, "golive_base") as url:
        base = await run_baseline(url, backend, n, args)
    with fresh_database(backend, work, "golive") as url:
        ours = await run_golive(url, backend, n, args)
    base_rate = n / base["wall_s"]
    ours_rate = n / ours["wall_s"]
    return {
        "baseline": {**base, "records_per_s": base_rate},
        "golive": {**ours, "records_per_s": ours_rate},
        "ratio": rounded(ratio(ours_rate, base_rate)),
        "cpu_us_per_record": {
            "baseline": {k: rounded(v / n * 1e6, 1) for k, v in base["cpu_s"].items()},
            "golive": {k: rounded(v / n * 1e6, 1) for k, v in ours["cpu_s"].items()},
        },
    }


async def amain(args: argparse.Namespace) -> int:
    doc: dict[str, Any] = {"benchmark": "golive", "machine": machine(), "records": args.records, "chunk": args.chunk}
    backends = [b for b in args.backends.split(",") if b]
    if "postgresql" in backends and (why := postgres_available()) is not None:
        print(f"postgresql skipped: {why}", file=sys.stderr)
        backends.remove("postgresql")
    with tempfile.TemporaryDirectory(prefix="bench-golive-") as tmp:
        for backend in backends:
            result = await measure(backend, args.records, args, Path(tmp))
            doc[backend] = result
            b, g = result["baseline"], result["golive"]
            print(
                f"\n{backend}: {args.records:,} records, {b['rows']:,} rows ({b['rows'] / args.records:.1f} per record)"
            )
            print(
                table(
                    ["run", "wall s", "records/s", "CPU µs/record"],
                    [
                        [
                            "baseline (write only)",
                            b["wall_s"],
                            b["records_per_s"],
                            result["cpu_us_per_record"]["baseline"],
                        ],
                        ["golive", g["wall_s"], g["records_per_s"], result["cpu_us_per_record"]["golive"]],
                    ],
                )
            )
            print(
                f"  golive: bulk {g['bulk']:,}, alone {g['alone']:,}, deliveries {g['deliveries']},"
                f" listings generated in {g['generate_s']:.1f} s (excluded), peak RSS {g['peak_rss_mib']:.0f} MiB"
            )
            print(f"  ratio {result['ratio']} (target ≥ {TARGET}): {verdict(result['ratio'] >= TARGET)}")
    print(json_line(doc))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.golive", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=20_000, help="records per transaction")
    parser.add_argument("--missing", type=float, default=0.1, help="share of records the mirror lacks")
    parser.add_argument("--stopped", type=float, default=0.001, help="share the mirror shows stopped")
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args(argv)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
