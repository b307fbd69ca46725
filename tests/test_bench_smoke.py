"""The benchmarks still run: each in a tiny configuration, as a subprocess, on SQLite.

Only that they finish, exit 0 and end with their JSON line carrying the expected keys; never how
fast anything was (performance is measured by `python -m bench.*`, not asserted by tests). Both
run at once to keep this test short.

Independent of machine speed: the warm-up ends at the latest after a fifth of the records
(`warmup_requests` in bench/load.py), so a busy machine never finds the records used up before
the measured window opens; the budgets and timeouts are generous, as what a slow machine needs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_DSN

ROOT = Path(__file__).resolve().parent.parent

INGEST = [
    *("--seconds", "1", "--warmup", "0.2", "--concurrency", "4"),
    *("--backends", "sqlite", "--records", "400", "--budget", "240"),
]
END_TO_END = [
    *("--seconds", "1", "--warmup", "0.2", "--concurrency", "4"),
    *("--records", "90", "--backend", "sqlite", "--budget", "240"),
]


def _start(module: str, args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    last = output.strip().splitlines()[-1]
    document = json.loads(last)
    assert isinstance(document, dict), last
    return document


@pytest.mark.timeout(420)
def test_benchmarks_run_in_a_tiny_configuration() -> None:
    ingest = _start("bench.ingest", INGEST)
    end_to_end = _start("bench.end_to_end", END_TO_END)
    ingest_doc = _finish(ingest)
    e2e_doc = _finish(end_to_end)

    assert ingest_doc["benchmark"] == "ingest"
    sqlite = ingest_doc["backends"]["sqlite"]
    for key in ("baseline_rps", "baseline_runs", "gateway", "ratio", "target_met"):
        assert key in sqlite, key
    for key in ("gateway_group_commit_off", "ratio_group_commit_off", "group_commit_gain", "ratio_http_layer"):
        assert key in sqlite, key
    for key in ("rps", "completed", "errors", "latency"):
        assert key in sqlite["gateway"], key
    assert sqlite["gateway"]["errors"] == 0 and sqlite["http_layer"]["errors"] == 0
    assert set(sqlite["cpu_budget"]["spent_ms"]) == {"server", "client"}
    assert sqlite["cpu_budget"]["over"] > 0 and sqlite["cpu_budget"]["http_layer_server_ms"] > 0

    assert e2e_doc["benchmark"] == "end_to_end"
    for key in ("baseline", "max_rate", "sustainable_rps", "half_rate", "ratio", "p99_s"):
        assert key in e2e_doc, key
    for key in ("rss_kib", "rss_growth_kib_per_1000", "targets", "dead_letters", "errors"):
        assert key in e2e_doc, key
    assert set(e2e_doc["rss_kib"]) == {"ingested", "third", "end"}
    assert set(e2e_doc["targets"]) == {"ratio", "p99_s", "ingest_p99_s", "rss_growth_kib_per_1000"}
    assert "completed" in e2e_doc["fixed_rate"]["accepted"]  # how many depends on the records left
    assert e2e_doc["errors"] == 0
    assert set(e2e_doc["cpu_budget"]["spent_ms"]) == {"serve", "simulators", "client"}
    assert e2e_doc["cpu_budget"]["spent_ms"]["serve"] > 0 and e2e_doc["cpu_budget"]["over"] > 0


@pytest.mark.postgres
def test_reconcile_diff_benchmark_runs_in_a_tiny_configuration() -> None:
    """In memory, the memory child, and our side on PostgreSQL (reladiff needs its own venv: left
    out here). Correctness of what it found is checked; its speed is not."""
    env = {**os.environ, "CREDITGW_BENCH_PG_DSN": PG_DSN}
    args = ["--records", "3000", "--memory-records", "3000", "--rate", "0.02", "--repeat", "1", "--no-reladiff"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.reconcile_diff", *args, "--budget", "60"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    doc = _finish(proc)
    assert doc["benchmark"] == "reconcile_diff"
    memory = doc["in_memory"]
    assert memory["wrong_findings"] == 0 and memory["recall_ok"] is True
    assert all(memory["findings"][kind] > 0 for kind in memory["expected"]), memory["findings"]
    assert [run["records"] for run in doc["memory"]["runs"]] == [300, 3000]
    assert all(run["peak_rss_kib"] > 0 for run in doc["memory"]["runs"])
    ours = doc["postgresql"]["ours"]
    assert len(ours) == 1 and ours[0]["wrong_findings"] == 0 and ours[0]["recall_ok"] is True
    assert doc["postgresql"]["select_only"]["rows"] == sum(memory["rows"].values())
    assert set(doc["load_average"]) == {"start", "end"}


@pytest.mark.postgres
def test_golive_benchmark_runs_in_a_tiny_configuration() -> None:
    """Both backends, 300 records: the go-live and its baseline wrote the same records, the
    deliveries are the seeded differences (every 10th record missing at the mirror, one stopped
    there). Its speed is not checked."""
    env = {**os.environ, "CREDITGW_BENCH_PG_DSN": PG_DSN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.golive", "--records", "300", "--chunk", "100", "--stopped", "0.01"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    doc = _finish(proc)
    assert doc["benchmark"] == "golive"
    for backend in ("postgresql", "sqlite"):
        result = doc[backend]
        assert result["baseline"]["records"] == result["golive"]["records"] == 300
        assert result["golive"]["bulk"] == 300 and result["golive"]["alone"] == 0
        # 30 published records the mirror lacks, 3 it shows stopped (set back).
        assert result["golive"]["deliveries"] == {"gsxt_gansu": 33}
        assert result["ratio"] > 0


ACCEPT_RATIO = [
    *("--seconds", "1", "--warmup", "0.2", "--concurrency", "4", "--records", "150", "--budget", "400"),
]


def _rows_per_repair(db: Path) -> dict[str, set[tuple[int, ...]]]:
    """Per server (from the Idempotency-Key of its requests), the distinct row counts one accepted
    repair left in audit, outbox, repair_targets (with outbox id and due date) and records."""
    conn = sqlite3.connect(db)
    try:
        counts = conn.execute(
            "SELECT i.key,"
            " (SELECT count(*) FROM audit a WHERE a.record_id = r.record_id AND a.kind = 'state_changed'"
            "  AND a.after_version = r.version AND a.after_state = 'stopped:repaired'),"
            " (SELECT count(*) FROM outbox o WHERE o.repair_id = r.repair_id AND o.status = 'pending'),"
            " (SELECT count(*) FROM repair_targets t WHERE t.repair_id = r.repair_id AND t.status = 'pending'"
            "  AND t.outbox_id IS NOT NULL AND t.due_on IS NOT NULL),"
            " (SELECT count(*) FROM records c WHERE c.record_id = r.record_id AND c.version = r.version"
            "  AND c.status = 'stopped' AND c.reason = 'repaired')"
            " FROM repairs r JOIN idempotency i ON i.response_body LIKE '%' || r.repair_id || '%'"
        ).fetchall()
    finally:
        conn.close()
    found: dict[str, set[tuple[int, ...]]] = {}
    for key, *row in counts:
        found.setdefault(re.sub(r"-\d+$", "", key), set()).add(tuple(row))
    return found


@pytest.mark.timeout(420)
def test_accept_ratio_benchmark_runs_and_the_reference_writes_the_gateways_rows() -> None:
    """bench.accept_ratio on SQLite, tiny: it finishes with its JSON line, and every repair the
    reference server accepted left the same rows as every repair the gateway accepted (one audit
    row, two outbox rows, two progress rows with outbox id and due date, the record at the repair's
    version, the stored answer) — so the baseline does the work it claims to."""
    proc = _start("bench.accept_ratio", [*ACCEPT_RATIO, "--backends", "sqlite", "--keep"])
    output, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, output
    work_dir = Path(re.search(r"work dir (\S+)", output).group(1))  # type: ignore[union-attr]
    try:
        doc = json.loads(output.strip().splitlines()[-1])
        assert doc["benchmark"] == "accept_ratio" and doc["errors"] == 0
        sqlite = doc["backends"]["sqlite"]
        for key in ("bare", "reference-1", "gateway", "reference-2", "ratio", "ratio_to_bare", "target_met"):
            assert key in sqlite, key
        for run in ("reference-1", "gateway", "reference-2"):
            assert sqlite[run]["completed"] > 0 and sqlite[run]["cpu_ms_per_accepted"]["server"] > 0
        rows = _rows_per_repair(work_dir / "sqlite_accept.db")
        each = {(1, 2, 2, 1)}
        assert rows == {f"bench-sqlite-{run}": each for run in ("reference-1", "gateway", "reference-2")}, rows
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


@pytest.mark.postgres
@pytest.mark.timeout(420)
def test_accept_ratio_benchmark_runs_on_postgresql() -> None:
    env = {**os.environ, "CREDITGW_BENCH_PG_DSN": PG_DSN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.accept_ratio", *ACCEPT_RATIO, "--backends", "postgresql"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    doc = _finish(proc)
    pg = doc["backends"]["postgresql"]
    assert doc["errors"] == 0 and pg["reference-1"]["completed"] > 0 and pg["gateway"]["completed"] > 0
    assert pg["gateway"]["cpu_ms_per_accepted"]["postgresql"] > 0
