"""Optional sampling profile of a server process while it is under load (`--profile DIR`).

Uses py-spy (not a project dependency: `pip install py-spy`), attached from outside, without
pausing the process (--nonblocking), every thread, idle time left out. Writes DIR/<label>.raw
(collapsed stacks: open in speedscope or flamegraph.pl) and DIR/<label>.txt: the share of samples
per thread and the functions with the largest inclusive and self shares. A profiled run is slower:
its figures are for finding where the time goes, not for comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

_LINE = re.compile(r":\d+\)$")

# Where a sample of the gateway is spent, by the first rule whose marker is in its stack. The
# units run by the group committer are on the database thread; the rest is on the event loop.
GATEWAY_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("api: the repair's unit of work (db thread)", ("run_idempotent.<locals>.unit",)),
    ("dispatcher: claim (db thread)", ("Dispatcher.run_once.<locals>._claim",)),
    ("dispatcher: record the outcome (db thread)", ("Dispatcher._succeeded", "Dispatcher._failed")),
    ("poller: ingest a page (db thread)", ("Poller._ingest",)),
    ("gauges, reaper", ("refresh_gauges", "reap_expired_leases")),
    ("db thread: begin/commit, savepoints, other", ("_run_sync", "Tx.savepoint")),
    ("dispatcher: deliver (mapping, adapter, HTTP)", ("Dispatcher._deliver",)),
    ("poller: fetch a page (adapter, HTTP, parsing)", ("Poller.poll_once",)),
    ("api: HTTP, middlewares, handler", ("web_protocol.py", "submit_repair")),
    ("event loop: waiting in select", ("EpollSelector.select",)),
)


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.asynccontextmanager
async def profiling(pid: int, seconds: float, out_dir: Path | None, label: str) -> AsyncIterator[Path | None]:
    """Sample `pid` for `seconds` (from now) when `out_dir` is given; yields the summary's path."""
    program = py_spy()
    if out_dir is None or program is None:
        if out_dir is not None:
            print("profile: py-spy not found (pip install py-spy); running without it", flush=True)
        yield None
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"{label}.raw"
    summary = out_dir / f"{label}.txt"
    argv = [program, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "200"]
    argv += ["-f", "raw", "-o", str(raw), "--threads", "--nonblocking"]
    if os.environ.get("CREDITGW_PROFILE_GIL"):
        argv.append("--gil")  # only the thread holding the GIL: where the one core goes
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield summary
    finally:
        try:
            await asyncio.to_thread(proc.wait, seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
    if raw.exists():
        summary.write_text(summarise(raw.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"profile: {summary}", flush=True)


def summarise(
    collapsed: str, *, top: int = 45, stages: tuple[tuple[str, tuple[str, ...]], ...] = GATEWAY_STAGES
) -> str:
    """Shares by stage and by thread, then inclusive and self shares per function, of py-spy's
    collapsed stacks (`stack;frames;… count` per line)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    by_stage: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        threads[frames[0]] += count
        by_stage[next((name for name, marks in stages if any(m in stack for m in marks)), "other")] += count
        functions = [_LINE.sub(")", frame) for frame in frames[1:]]
        for function in set(functions):
            inclusive[function] += count
        if functions:
            own[functions[-1]] += count
    if total == 0:
        return "no samples\n"
    lines = [f"{total} samples (share of all samples, every thread)", "", "stages:"]
    lines += [f"{n / total:7.1%}  {name}" for name, n in by_stage.most_common()]
    lines += ["", "threads:"]
    lines += [f"{n / total:7.1%}  {name}" for name, n in threads.most_common()]
    lines += ["", "inclusive:"]
    lines += [f"{n / total:7.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"{n / total:7.1%}  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines) + "\n"
