"""Overload: drive a real `serve` far past what it delivers and count what it accepts, sheds and delivers.

    python -m bench.overload [--backend sqlite|postgresql] [--records 3000] [--clients 64]
                             [--seconds 20] [--bound 300]

`python -m simulators` and `creditgw serve` run as processes; R published 信用中国 penalties are
loaded and mirrored first. Then C clients send one repair per record as fast as they are answered,
for S seconds: a 202 is acknowledged; a 503 `overloaded` is shed, and that client waits the
Retry-After it was given before its next request (the record goes back to the queue). serve's RSS
and the outbox backlog are sampled every second. Afterwards the outbox drains and every
acknowledged repair is checked in both systems. Prints a summary and one JSON line; exit 0 only
when every acknowledged repair was delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.crash import CRASH_SETTINGS, wait_polling
from bench.databases import BACKENDS, fresh_database
from bench.end_to_end import bench_client, serve_argv, serve_env
from bench.gateway_client import GatewayClient
from bench.probe import StoreProbe
from bench.processes import LOCALHOST, free_port, rss_kib, run_bounded, spawn
from bench.records import SyntheticPenalty, penalties
from bench.report import json_line, machine
from bench.sandbox import CREDITCHINA, GSXT, load_creditchina, running_simulators
from gateway.clients import new_key
from gateway.sandbox import Sandbox as SystemsView
from gateway.signing import Credentials


async def run(args: argparse.Namespace) -> int:
    work_dir = Path(tempfile.mkdtemp(prefix="creditgw-overload-"))
    pool = penalties(0, args.records)
    try:
        with fresh_database(args.backend, work_dir, "overload") as url:
            async with running_simulators(work_dir) as sandbox, aiohttp.ClientSession() as session:
                await load_creditchina(session, sandbox.urls[CREDITCHINA], pool)
                key = new_key()
                credentials = await bench_client(url, key, read=True)
                settings = {
                    **CRASH_SETTINGS,
                    "CREDITGW_LOG_LEVEL": "WARNING",
                    "CREDITGW_OVERLOAD_OUTBOX_PENDING": str(args.bound),
                }
                env = serve_env(settings, key=key, database_url=url, urls=sandbox.urls)
                port = free_port()
                probe = StoreProbe(url)
                view = SystemsView(session, sandbox.urls)
                try:
                    async with spawn("serve", serve_argv(port), log_dir=work_dir, env=env) as serve:
                        await serve.wait_for(r"creditgw listening on", timeout_s=120)
                        await wait_polling(
                            "records mirrored", mirrored(probe, view, pool), timeout_s=120 + len(pool) / 5
                        )
                        doc = await drive(args, f"http://{LOCALHOST}:{port}", credentials, pool, serve.pid, probe)
                        drain_started = time.monotonic()
                        await wait_polling("the outbox to drain", drained(probe), timeout_s=600)
                        doc["drain_after_s"] = round(time.monotonic() - drain_started, 1)
                        doc["rss_after_drain_kib"] = rss_kib(serve.pid)
                    shown = await view.views()
                    acked = doc.pop("acknowledged")
                    doc["delivered"] = sum(
                        1
                        for record_id in acked
                        if all(shown[s][record_id].label == "stopped:repaired" for s in (CREDITCHINA, GSXT))
                    )
                finally:
                    await probe.close()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    doc = {"benchmark": "overload", "backend": args.backend, "machine": machine(), **doc}
    print(
        f"{args.backend}: {doc['accepted']} accepted, {doc['shed']} shed, {doc['delivered']} delivered;"
        f" backlog at most {doc['pending_max']} (bound {args.bound}); serve RSS {doc['rss_kib'][0]}"
        f" → max {max(doc['rss_kib'])} KiB; outbox drained {doc['drain_after_s']} s after the load",
        flush=True,
    )
    print(json_line(doc), flush=True)
    return 0 if doc["delivered"] == doc["accepted"] else 1


def mirrored(probe: StoreProbe, view: SystemsView, pool: list[SyntheticPenalty]) -> Callable[[], Awaitable[bool]]:
    documents = {p.document_number for p in pool}

    async def check() -> bool:
        rows = await view.records(GSXT, published=True)
        shown = sum(1 for r in rows if r.get("penDecNo") in documents)
        return shown == len(documents) and await probe.open_deliveries() == 0

    return check


def drained(probe: StoreProbe) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await probe.open_deliveries() == 0

    return check


async def drive(
    args: argparse.Namespace,
    base: str,
    credentials: Credentials,
    pool: list[SyntheticPenalty],
    pid: int,
    probe: StoreProbe,
) -> dict[str, Any]:
    queue = list(reversed(pool))
    statuses: Counter[str] = Counter()
    acknowledged: list[str] = []
    rss: list[int] = []
    pending: list[int] = []
    deadline = time.monotonic() + args.seconds

    async def client() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as own:
            gateway = GatewayClient(own, credentials=credentials, base_url=base)
            while queue and time.monotonic() < deadline:
                record = queue.pop()
                key = f"overload-{record.record_id}"
                answer = await gateway.submit_repair(record.decision("repair"), idempotency_key=key)
                statuses[f"{answer.status} {answer.code}".strip()] += 1
                if answer.status == 202:
                    acknowledged.append(record.record_id)
                    continue
                queue.insert(0, record)  # not taken: sent again later
                if answer.retry_after_s is not None:  # a client that honours Retry-After
                    await asyncio.sleep(answer.retry_after_s)

    async def sample() -> None:
        while time.monotonic() < deadline:
            rss.append(rss_kib(pid))
            pending.append(await probe.open_deliveries())
            await asyncio.sleep(1.0)

    started = time.monotonic()
    await asyncio.gather(sample(), *(client() for _ in range(args.clients)))
    seconds = time.monotonic() - started
    shed = sum(n for status, n in statuses.items() if status.startswith("503"))
    return {
        "clients": args.clients,
        "seconds": round(seconds, 1),
        "bound": args.bound,
        "accepted": len(acknowledged),
        "shed": shed,
        "accepted_per_s": round(len(acknowledged) / seconds, 1),
        "statuses": dict(statuses),
        "pending_max": max(pending, default=0),
        "pending_samples": pending,
        "rss_kib": rss,
        "acknowledged": acknowledged,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__)
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite")
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--bound", type=int, default=300, help="CREDITGW_OVERLOAD_OUTBOX_PENDING of the run")
    args = parser.parse_args(argv)
    return run_bounded(lambda: run(args), budget_s=1200)


if __name__ == "__main__":
    raise SystemExit(main())
