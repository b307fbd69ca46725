"""The simulated 信用中国（甘肃） and GSXT（甘肃） for the end-to-end benchmark: started as one child
process (`python -m simulators`), fed and read through their admin API (simulators/README.md)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

from bench.processes import Child, python_module, spawn
from bench.records import SyntheticPenalty

CREDITCHINA, GSXT = "creditchina_gansu", "gsxt_gansu"
BEIJING = timezone(timedelta(hours=8))  # both systems keep Beijing time
_LOAD_BATCH = 500


@dataclass(frozen=True)
class Sandbox:
    child: Child
    urls: dict[str, str]


@contextlib.asynccontextmanager
async def running_simulators(log_dir: Path, *, timeout_s: float = 30.0) -> AsyncIterator[Sandbox]:
    """Both simulators on OS-chosen ports of 127.0.0.1; stopped on exit."""
    async with spawn("simulators", python_module("simulators"), log_dir=log_dir) as child:
        found = await child.wait_for(r'^(\{.*"gsxt_gansu".*\})$', timeout_s=timeout_s)
        yield Sandbox(child=child, urls=dict(json.loads(found.group(1))))


async def load_creditchina(session: aiohttp.ClientSession, url: str, penalties: Sequence[SyntheticPenalty]) -> int:
    """Load published `CF` rows into 信用中国 (as its own operators would have); returns rows changed.

    The rows are stamped (SJC) about one second apart, the last a minute ago, after every row the
    simulator already holds (so the gateway's cursor has not passed them), as records published
    over time would be. Loaded in one go they would all share one SJC second, and since 信用中国's
    pull is inclusive of its `since` second, the gateway would re-read all of them on every poll (a
    finding of its own, see bench/README.md), which is not what this benchmark measures.
    """
    changed = 0
    last = datetime.now(BEIJING).replace(microsecond=0, tzinfo=None) - timedelta(minutes=1)
    async with session.get(f"{url}/admin/records") as resp:
        held = [r["SJC"] for r in (await resp.json())["records"] if r.get("SJC")]
    first = last - timedelta(seconds=len(penalties) - 1)
    if held:
        first = max(first, datetime.strptime(max(held), "%Y/%m/%d %H:%M:%S") + timedelta(seconds=1))
    step = (last - first) / max(1, len(penalties) - 1)
    stamps = [first + step * i for i in range(len(penalties))]
    for start in range(0, len(penalties), _LOAD_BATCH):
        batch = range(start, min(len(penalties), start + _LOAD_BATCH))
        rows = [penalties[i].creditchina_row(stamps[i]) for i in batch]
        async with session.post(f"{url}/admin/load", json={"rows": rows}) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"信用中国 /admin/load refused the rows: {resp.status} {body}")
            changed += int(body["changed"])
    return changed


@dataclass(frozen=True, kw_only=True)
class Shown:
    """How many of the given penalties each system shows published, and stopped."""

    creditchina_published: int
    creditchina_stopped: int
    gsxt_published: int
    gsxt_stopped: int


async def shown(session: aiohttp.ClientSession, urls: dict[str, str], penalties: Sequence[SyntheticPenalty]) -> Shown:
    numbers = {p.document_number for p in penalties}
    async with session.get(f"{urls[CREDITCHINA]}/admin/records") as resp:
        cc_rows = [r for r in (await resp.json())["records"] if r.get("CF_WSH") in numbers]
    async with session.get(f"{urls[GSXT]}/admin/records", params={"table": "otherpunish"}) as resp:
        gs_rows = [r for r in (await resp.json())["records"] if r.get("penDecNo") in numbers]
    cc_published = sum(1 for r in cc_rows if r.get("CF_ZT") == "0" and r.get("GSZT") == "1")
    gs_published = sum(1 for r in gs_rows if r.get("pubFlag") == "1")
    return Shown(
        creditchina_published=cc_published,
        creditchina_stopped=sum(1 for r in cc_rows if r.get("GSZT") == "0"),
        gsxt_published=gs_published,
        gsxt_stopped=sum(1 for r in gs_rows if r.get("stopType")),
    )
