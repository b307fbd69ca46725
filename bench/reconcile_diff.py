"""Benchmark of the reconciliation diff (`gateway.domain.reconcile`), issue 13.

`python -m bench.reconcile_diff [--records 1000000] [--memory-records 10000000] [--rate 0.001]
[--repeat 3] [--no-postgres] [--no-reladiff] [--reladiff-venv var/bench-reladiff] [--budget S]`

1. **in memory** — both listings (N rows per side, a fraction `rate` of the identities diverging,
   spread over every kind of finding) are generated into lists first ("once fetched"), then diffed
   `repeat` times: rows/s per side, CPU µs per row. Every finding is checked against the plan the
   data was made from (precision) and the counts per kind against the plan's (recall).
2. **memory** — in a fresh child process the entries are generated lazily and diffed as they come,
   at M/10 and then M rows per side; peak resident memory (VmHWM from /proc) after each. Equal
   peaks show that nothing grows with the input.
3. **against reladiff** — the same N rows per side COPYed into two PostgreSQL schemas; reladiff
   (hashdiff, its algorithm between two databases) in its own venv, then our diff reading the same
   two tables with two plain sorted SELECTs (server-side cursors), then the two SELECTs alone (the
   read cost inside our figure). Each timing covers: connect, every query, moving the rows, the diff.
Prints tables, verdict lines and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.report import json_line, machine, table, verdict
from gateway.domain.model import Publicity, mirrored_fingerprint
from gateway.domain.reconcile import Diff, Entry, Finding, FindingKind, with_values

ROOT = Path(__file__).resolve().parent.parent
PG_DSN = os.environ.get("CREDITGW_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
OWNER = "gsxt_gansu"
MIRROR = "creditchina_gansu"
PREFIX = "admin_penalty\x1f11620100MB1234567X\x1f兰市监罚〔2026〕"
TARGET_ROWS_PER_S = 400_000
TARGET_RSS_MIB = 100
TARGET_RATIO = 3.0

# Kinds of divergence seeded, and the findings each must produce.
PLAN: dict[str, frozenset[FindingKind]] = {
    "missing": frozenset({FindingKind.MISSING_IN_MIRROR}),
    "extra": frozenset({FindingKind.EXTRA_IN_MIRROR}),
    "stopped_at_mirror": frozenset({FindingKind.STATE_MISMATCH}),
    "stopped_at_owner": frozenset({FindingKind.STATE_MISMATCH}),
    "field": frozenset({FindingKind.FIELD_MISMATCH}),
    "duplicate_owner": frozenset({FindingKind.DUPLICATE}),
    "duplicate_mirror": frozenset({FindingKind.DUPLICATE}),
    "foreign_stop": frozenset({FindingKind.STATE_MISMATCH, FindingKind.FOREIGN_STOP}),
}
KINDS = tuple(PLAN)

# Content varies row to row, from a small pool so that generating costs little next to the diff.
_POOL = [
    (f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}", f"{(i % 50) / 10 + 0.1:.1f}", None, f"违法行为{i % 7}", None)
    for i in range(64)
]
_FPS = [mirrored_fingerprint(v) for v in _POOL]
_ALTERED = [(v[0], f"{float(v[1] or 0) + 1:.1f}", *v[2:]) for v in _POOL]  # a different fine
_ALTERED_FPS = [mirrored_fingerprint(v) for v in _ALTERED]


def key_of(i: int) -> str:
    return f"{PREFIX}{i:09d}号"


def divergence(i: int, rate: float) -> str | None:
    """Which divergence identity i carries, if any: scattered by a multiplicative hash."""
    h = (i * 2654435761) & 0xFFFFFFFF
    if h % 1_000_000 >= rate * 1_000_000:
        return None
    return KINDS[(h >> 20) % len(KINDS)]


def _agreed(i: int) -> tuple[Publicity, str | None]:
    """The state both sides agree on where nothing diverges: one record in ten stopped by its owner."""
    return (Publicity.STOPPED, OWNER) if i % 10 == 3 else (Publicity.PUBLISHED, None)


def owner_entries(n: int, rate: float) -> Iterator[Entry]:
    published, stopped = Publicity.PUBLISHED, Publicity.STOPPED
    for i in range(n):
        key = key_of(i)
        k = i & 63
        kind = divergence(i, rate)
        if kind == "stopped_at_owner":
            yield Entry(key, _FPS[k], stopped, OWNER, _POOL[k])
        elif kind in ("stopped_at_mirror", "foreign_stop"):
            yield Entry(key, _FPS[k], published, None, _POOL[k])
        else:
            row = Entry(key, _FPS[k], *_agreed(i), _POOL[k])
            yield row
            if kind == "duplicate_owner":
                yield row


def mirror_entries(n: int, rate: float) -> Iterator[Entry]:
    published, stopped = Publicity.PUBLISHED, Publicity.STOPPED
    for i in range(n):
        key = key_of(i)
        k = i & 63
        kind = divergence(i, rate)
        if kind is None:
            yield Entry(key, _FPS[k], *_agreed(i), _POOL[k])
        elif kind == "missing":
            pass
        elif kind == "stopped_at_mirror":
            yield Entry(key, _FPS[k], stopped, OWNER, _POOL[k])  # the gateway relayed a stop never made
        elif kind == "stopped_at_owner":
            yield Entry(key, _FPS[k], published, None, _POOL[k])
        elif kind == "field":
            yield Entry(key, _ALTERED_FPS[k], *_agreed(i), _ALTERED[k])
        elif kind == "foreign_stop":
            yield Entry(key, _FPS[k], stopped, MIRROR, _POOL[k])  # 多头修复: the mirror stopped it itself
        else:
            row = Entry(key, _FPS[k], *_agreed(i), _POOL[k])
            yield row
            if kind == "duplicate_mirror":
                yield row
            elif kind == "extra":
                yield Entry(key + "+", _FPS[k], published, None, _POOL[k])  # sorts right after `key`


def expected_counts(n: int, rate: float) -> Counter[FindingKind]:
    out: Counter[FindingKind] = Counter()
    for i in range(n):
        kind = divergence(i, rate)
        if kind is not None:
            out.update(PLAN[kind])
    return out


class Checker:
    """Checks each finding against the plan as it comes (precision) and counts them (recall),
    in constant memory."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.counts: Counter[FindingKind] = Counter()
        self.wrong = 0

    def see(self, finding: Finding) -> None:
        self.counts[finding.kind] += 1
        key = finding.key.removesuffix("+")
        kind = divergence(int(key[len(PREFIX) : -1]), self.rate)
        if kind is None or finding.kind not in PLAN[kind] or (kind == "extra") != finding.key.endswith("+"):
            self.wrong += 1
        elif finding.kind is FindingKind.FIELD_MISMATCH and [f.name for f in finding.fields] != ["fine_wan_yuan"]:
            self.wrong += 1  # the seeded field mismatches change the fine and nothing else


def run_diff(owner: Any, mirror: Any, checker: Checker | None) -> int:
    findings = 0
    for finding in Diff(owner, mirror, owner_system=OWNER, mirror_system=MIRROR):
        findings += 1
        if checker is not None:
            checker.see(finding)
    return findings


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


# --- 1. in memory ------------------------------------------------------------------------------


def in_memory(n: int, rate: float, repeat: int) -> dict[str, Any]:
    started = time.perf_counter()
    owner = list(owner_entries(n, rate))
    mirror = list(mirror_entries(n, rate))
    generate_s = time.perf_counter() - started
    runs = []
    checker = Checker(rate)
    for attempt in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        found = run_diff(owner, mirror, checker if attempt == 0 else None)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        runs.append({"wall_s": wall, "cpu_s": cpu, "findings": found})
    expected = expected_counts(n, rate)
    best = min(runs, key=lambda r: r["wall_s"])
    median = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    return {
        "rows": {"owner": len(owner), "mirror": len(mirror)},
        "generate_s": generate_s,
        "runs": runs,
        "rows_per_s_per_side_best": n / best["wall_s"],
        "rows_per_s_per_side_median": n / median["wall_s"],
        "cpu_us_per_row": 1e6 * median["cpu_s"] / (len(owner) + len(mirror)),
        # What one core would do undisturbed: the machine is shared, so wall time includes waits.
        "rows_per_s_per_side_cpu": n / median["cpu_s"] if median["cpu_s"] else None,
        "findings": {k.value: checker.counts[k] for k in FindingKind},
        "expected": {k.value: expected[k] for k in FindingKind},
        "wrong_findings": checker.wrong,
        "recall_ok": checker.counts == expected,
    }


# --- 2. memory ---------------------------------------------------------------------------------


def memory_child(sizes: list[int], rate: float) -> dict[str, Any]:
    """Runs in a fresh process: lazily generated listings, diffed as they come."""
    out: dict[str, Any] = {"baseline_rss_kib": status_kib("VmRSS"), "runs": []}
    for n in sizes:
        wall = time.perf_counter()
        found = run_diff(owner_entries(n, rate), mirror_entries(n, rate), None)
        out["runs"].append(
            {
                "records": n,
                "findings": found,
                "wall_s": time.perf_counter() - wall,
                "peak_rss_kib": status_kib("VmHWM"),
            }
        )
    return out


def memory(m: int, rate: float, timeout: float) -> dict[str, Any]:
    sizes = sorted({max(1, m // 10), m})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.reconcile_diff",
            "--memory-child",
            ",".join(map(str, sizes)),
            "--rate",
            str(rate),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- 3. against reladiff on PostgreSQL ---------------------------------------------------------

COLUMNS = ("key", "fingerprint", "status", "stopped_by", "decision_date", "fine", "confiscation", "violation", "cause")
_DDL = """
CREATE TABLE {schema}.listing (
    id bigint PRIMARY KEY, key text NOT NULL, fingerprint text NOT NULL, status text NOT NULL,
    stopped_by text, decision_date text, fine text, confiscation text, violation text, cause text
)"""


def _ids(entries: Iterator[Entry]) -> Iterator[tuple[Any, ...]]:
    """Rows with a numeric id per row (reladiff needs a unique key it can bisect; a system's own
    record id plays that part): identity i → 4i, its duplicate 4i+1, an extra row after it 4i+2."""
    last = None
    for e in entries:
        base = int(e.key.removesuffix("+")[len(PREFIX) : -1]) * 4
        row_id = base + 2 if e.key.endswith("+") else base + 1 if e.key == last else base
        last = e.key
        yield (row_id, e.key, e.fingerprint, e.status.value, e.stopped_by, *e.values)


def load(conn: Any, schema: str, rows: Iterator[tuple[Any, ...]]) -> None:
    conn.execute(_DDL.format(schema=schema))
    with conn.cursor().copy(f"COPY {schema}.listing (id, {', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    # A listing read by identity order needs that order indexed, byte-wise (see reconcile.py).
    conn.execute(f'CREATE INDEX ON {schema}.listing (key COLLATE "C")')
    conn.execute(f"ANALYZE {schema}.listing")


_STATUS = {p.value: p for p in Publicity}
# What both diffs compare per row; the carried values are read by key for the differing rows only.
LISTED = COLUMNS[:4]
VALUES = COLUMNS[4:]  # in the order of MIRRORED_FIELDS


def _fetch(schema: str, batch: int, out: queue.Queue[Any], stop: threading.Event) -> None:
    import psycopg

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    try:
        with psycopg.connect(PG_DSN) as conn, conn.cursor(name=f"listing_{schema}") as cur:
            cur.itersize = batch
            cur.execute(f'SELECT {", ".join(LISTED)} FROM {schema}.listing ORDER BY key COLLATE "C"')
            while (rows := cur.fetchmany(batch)) and not stop.is_set():
                put(rows)
        put(None)
    except Exception as exc:
        put(exc)


def select_entries(schema: str, batch: int = 10_000) -> Iterator[Entry]:
    """A plain sorted SELECT through a server-side cursor (constant memory on both ends), read
    one batch ahead by a thread so that the server makes the next batch while the diff runs."""
    status = _STATUS
    batches: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()
    reader = threading.Thread(target=_fetch, args=(schema, batch, batches, stop), daemon=True)
    reader.start()
    try:
        while (rows := batches.get()) is not None:
            if isinstance(rows, Exception):
                raise rows
            for r in rows:
                yield Entry(r[0], r[1], status[r[2]], r[3])
    finally:
        stop.set()
        reader.join()


def name_fields(conn: Any, schemas: tuple[str, str], pending: list[Finding]) -> list[Finding]:
    """Reads the carried values of the rows behind these field mismatches, by key, on both sides."""
    keys = [f.key for f in pending]
    sides = []
    for schema in schemas:
        first: dict[str, tuple[str | None, ...]] = {}
        query = f"SELECT key, {', '.join(VALUES)} FROM {schema}.listing WHERE key = ANY(%s) ORDER BY key, id"
        for row in conn.execute(query, (keys,)):
            first.setdefault(row[0], tuple(row[1:]))
        sides.append(first)
    return [with_values(f, sides[0][f.key], sides[1][f.key]) for f in pending]


def ours_on_postgres(schemas: tuple[str, str], rate: float, diff_too: bool) -> dict[str, Any]:
    import psycopg

    wall, cpu = time.perf_counter(), time.process_time()
    owner, mirror = select_entries(schemas[0]), select_entries(schemas[1])
    if not diff_too:
        rows = sum(1 for _ in owner) + sum(1 for _ in mirror)
        return {"total_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, "rows": rows}
    checker = Checker(rate)
    found = 0
    pending: list[Finding] = []
    with psycopg.connect(PG_DSN) as lookups:
        for finding in Diff(owner, mirror, owner_system=OWNER, mirror_system=MIRROR):
            found += 1
            if finding.kind is FindingKind.FIELD_MISMATCH:
                pending.append(finding)
                if len(pending) == 500:
                    for named in name_fields(lookups, schemas, pending):
                        checker.see(named)
                    pending.clear()
            else:
                checker.see(finding)
        for named in name_fields(lookups, schemas, pending) if pending else ():
            checker.see(named)
    return {
        "total_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "findings": found,
        "wrong_findings": checker.wrong,
        "counts": checker.counts,
    }


def ensure_reladiff(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "reladiff", "psycopg2-binary"], check=True)
    return python


def on_postgres(n: int, rate: float, reladiff_venv: Path | None, timeout: float) -> dict[str, Any]:
    """Both listings in two schemas; ours, reladiff, ours again (bracketing it), the SELECTs alone."""
    import psycopg

    python = ensure_reladiff(reladiff_venv) if reladiff_venv is not None else None
    tag = uuid.uuid4().hex[:8]
    schemas = (f"bench_rcd_owner_{tag}", f"bench_rcd_mirror_{tag}")
    out: dict[str, Any] = {}
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        try:
            started = time.perf_counter()
            for schema, rows in zip(
                schemas, (_ids(owner_entries(n, rate)), _ids(mirror_entries(n, rate))), strict=True
            ):
                admin.execute(f"CREATE SCHEMA {schema}")
                with psycopg.connect(PG_DSN) as conn:
                    load(conn, schema, rows)
            out["load_s"] = time.perf_counter() - started
            ours = [ours_on_postgres(schemas, rate, diff_too=True)]
            if python is not None:
                # reladiff compares the columns that tell every kind apart; ours reads those and the
                # carried values besides (it names the differing fields), so it moves more per row.
                argv = [str(python), str(ROOT / "bench" / "reladiff_run.py"), PG_DSN, *schemas, "listing", "id"]
                proc = subprocess.run(
                    [*argv, *COLUMNS[:4]], capture_output=True, text=True, timeout=timeout, check=True
                )
                out["reladiff"] = json.loads(proc.stdout.strip().splitlines()[-1])
                ours.append(ours_on_postgres(schemas, rate, diff_too=True))
            out["ours"] = ours
            out["select_only"] = ours_on_postgres(schemas, rate, diff_too=False)
        finally:
            for schema in schemas:
                admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    expected = expected_counts(n, rate)
    for run in ours:
        run["recall_ok"] = run.pop("counts") == expected
    if "reladiff" in out:
        out["ratio"] = out["reladiff"]["total_s"] / (sum(o["total_s"] for o in ours) / len(ours))
    return out


def print_postgres(pg: dict[str, Any], n: int) -> None:
    print(f"\nPostgreSQL, two schemas, {n:,} per side (COPY + index + ANALYZE {pg['load_s']:.1f} s)")
    rows: list[list[Any]] = []
    for i, o in enumerate(pg["ours"]):
        label = f"ours ({i + 1}): 2 sorted SELECTs + diff"
        rows.append(
            [
                label,
                o["total_s"],
                o["cpu_s"],
                f"{o['findings']} findings, {o['wrong_findings']} wrong, all: {o['recall_ok']}",
            ]
        )
        if i == 0 and "reladiff" in pg:
            rd = pg["reladiff"]
            diffs = f"-{rd['rows_only_in_first']} +{rd['rows_only_in_second']} rows"
            rows.append(["reladiff 0.6 hashdiff", rd["total_s"], rd["cpu_s"], diffs])
    so = pg["select_only"]
    rows.append(["2 sorted SELECTs alone", so["total_s"], so["cpu_s"], f"{so['rows']} rows"])
    print(table(["", "wall s", "client cpu s", "result"], rows))
    if "ratio" in pg:
        print(
            f"reladiff / ours (mean of the two) {pg['ratio']:.2f} ≥ {TARGET_RATIO}:"
            f" {verdict(pg['ratio'] >= TARGET_RATIO)}"
        )


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile_diff", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="rows per side (in memory, PostgreSQL)")
    parser.add_argument("--memory-records", type=int, default=10_000_000, help="rows per side, memory run (0: skip)")
    parser.add_argument("--rate", type=float, default=0.001, help="fraction of identities that diverge")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL part")
    parser.add_argument("--no-reladiff", action="store_true", help="PostgreSQL part without reladiff")
    parser.add_argument("--reladiff-venv", type=Path, default=ROOT / "var" / "bench-reladiff")
    parser.add_argument("--budget", type=float, default=None, help="seconds for each child process")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child([int(s) for s in args.memory_child.split(",")], args.rate)))
        return 0
    budget = args.budget or 60 + 2e-5 * (args.records * 20 + args.memory_records * 2)

    doc: dict[str, Any] = {
        "benchmark": "reconcile_diff",
        "machine": machine(),
        "records": args.records,
        "rate": args.rate,
        "load_average": {"start": load_average()},
    }
    mem = in_memory(args.records, args.rate, args.repeat)
    doc["in_memory"] = mem
    print(
        f"in memory, {args.records:,} per side (rows per side: owner {mem['rows']['owner']:,},"
        f" mirror {mem['rows']['mirror']:,}; generated in {mem['generate_s']:.1f} s)"
    )
    print(
        table(
            ["run", "wall s", "cpu s", "rows/s per side", "findings"],
            [
                [i + 1, r["wall_s"], r["cpu_s"], args.records / r["wall_s"], r["findings"]]
                for i, r in enumerate(mem["runs"])
            ],
        )
    )
    print(
        table(
            ["kind", "found", "seeded"],
            [[k.value, mem["findings"][k.value], mem["expected"][k.value]] for k in FindingKind],
        )
    )
    print(f"  wrong findings {mem['wrong_findings']}, every seeded one found: {mem['recall_ok']}")
    print(f"  CPU per row {mem['cpu_us_per_row']:.2f} µs")
    rate = mem["rows_per_s_per_side_median"]
    print(f"rows/s per side (median, wall) {rate:,.0f} ≥ {TARGET_ROWS_PER_S:,}: {verdict(rate >= TARGET_ROWS_PER_S)}")
    if mem["rows_per_s_per_side_cpu"]:
        print(f"rows/s per side (median, per CPU second) {mem['rows_per_s_per_side_cpu']:,.0f}")
    del mem

    if args.memory_records:
        m = memory(args.memory_records, args.rate, budget)
        doc["memory"] = m
        print(f"\nmemory, lazily generated (baseline RSS {m['baseline_rss_kib'] / 1024:.1f} MiB after imports)")
        print(
            table(
                ["records per side", "findings", "wall s", "peak RSS MiB"],
                [[r["records"], r["findings"], r["wall_s"], r["peak_rss_kib"] / 1024] for r in m["runs"]],
            )
        )
        peak = m["runs"][-1]["peak_rss_kib"] / 1024
        met = peak < TARGET_RSS_MIB
        print(f"peak RSS at {args.memory_records:,} per side {peak:.1f} MiB < {TARGET_RSS_MIB}: {verdict(met)}")

    if not args.no_postgres:
        venv = None if args.no_reladiff else args.reladiff_venv
        doc["postgresql"] = pg = on_postgres(args.records, args.rate, venv, budget)
        print_postgres(pg, args.records)
    doc["load_average"]["end"] = load_average()
    print(f"load average: start {doc['load_average']['start']}, end {doc['load_average']['end']}")
    print(json_line(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
