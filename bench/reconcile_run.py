"""The reconciliation run over HTTP from the simulators: rows per second, CPU, and whether resident
memory grows with the listing's size.

    python -m bench.reconcile_run [--sizes 2000,8000] [--page-size 500]

For each size, a fresh pair of simulators (`python -m simulators`, a child process) gets that many
synthetic 信用中国 penalties (bench/records.py) loaded into 信用中国 only, so every one is a finding
(missing in GSXT) and the run stores as many findings as it reads rows: the heaviest check run per
row. The run is `Reconciler.run` in this process on a fresh SQLite database (wall and this
process's CPU time; the simulators' CPU is theirs), and this process's RSS is sampled every 50 ms.
The figure that matters is the RSS growth between the sizes per 1,000 rows: it should stay flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.processes import rss_kib
from bench.records import penalties
from bench.sandbox import load_creditchina, running_simulators
from gateway.reconcile.run import Options, Reconciler
from gateway.runtime import policy_from
from gateway.settings import load_settings
from gateway.store import reconciliations as rs
from gateway.store.database import open_database
from gateway.store.migrate import migrate
from gateway.sync.connectors import build_connectors


async def _one(size: int, page_size: int, work: Path) -> dict[str, float]:
    async with running_simulators(work) as sandbox:
        async with aiohttp.ClientSession() as session:
            await load_creditchina(session, sandbox.urls["creditchina_gansu"], penalties(0, size))
        settings = load_settings(systems=["creditchina_gansu", "gsxt_gansu"])
        connectors = build_connectors(settings, sandbox.urls)
        db = open_database(f"sqlite:///{work / f'gw-{size}.db'}")
        await migrate(db)
        reconciler = Reconciler(
            db, connectors, policy_from(settings, set(connectors)), options=Options(page_size=page_size, batch=500)
        )
        # The bare listing over HTTP, for where the time goes: the run lists the same rows again.
        listed = 0
        listing_started = time.monotonic()
        async for page in connectors["creditchina_gansu"].adapter.list_all("CF", page_size):
            listed += len(page.rows)
        listing_s = time.monotonic() - listing_started
        pid = os.getpid()
        base = rss_kib(pid)
        peak = base
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_kib(pid))
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        cpu = time.process_time()
        started = time.monotonic()
        run = await reconciler.run(mode=rs.RunMode.CHECK, scope=rs.Scope(category="admin_penalty"))
        wall = time.monotonic() - started
        cpu = time.process_time() - cpu
        done.set()
        await sampler
        assert run.status is rs.RunStatus.SUCCEEDED, run.error
        pair = next(p for p in run.pairs if p.owner_system == "creditchina_gansu")
        for connector in connectors.values():
            await connector.adapter.close()
        await db.close()
        return {
            "rows": pair.owner_rows,
            "findings": run.findings,
            "wall_s": wall,
            "cpu_s": cpu,
            "rows_per_s": pair.owner_rows / wall,
            "listing_s": listing_s,
            "listed": listed,
            "rss_base_kib": base,
            "rss_peak_kib": peak,
        }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2000,8000")
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as work:
        for size in sizes:
            results.append(await _one(size, args.page_size, Path(work)))
    for r in results:
        print(
            f"{int(r['rows']):>8} rows  {r['wall_s']:7.1f} s wall  {r['cpu_s']:6.1f} s CPU (this process)"
            f"  {r['rows_per_s']:7.0f} rows/s  RSS peak {r['rss_peak_kib'] / 1024:6.1f} MiB"
            f" (+{(r['rss_peak_kib'] - r['rss_base_kib']) / 1024:.1f} MiB during the run);"
            f" the bare 信用中国 listing alone: {r['listing_s']:.1f} s ({r['listed'] / r['listing_s']:.0f} rows/s)"
        )
    if len(results) >= 2:
        a, b = results[0], results[-1]
        grown = (b["rss_peak_kib"] - b["rss_base_kib"]) - (a["rss_peak_kib"] - a["rss_base_kib"])
        print(
            f"RSS added during the run: {grown / max(1.0, (b['rows'] - a['rows']) / 1000):+.1f} KiB per 1,000 more rows"
        )
    print(f"max RSS of this process (getrusage): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
