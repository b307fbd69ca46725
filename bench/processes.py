"""Child processes of a benchmark, with guaranteed cleanup, and the bounded main of every benchmark.

Every child runs in its own session (process group), writes stdout and stderr to one log file, and
is stopped — SIGTERM to its group, then SIGKILL — on every way out:
- leaving `spawn()` (normal end or exception);
- SIGTERM/SIGINT to the benchmark, or its time budget running out (`run_bounded` cancels the main
  task, so the `spawn()` contexts unwind);
- the interpreter exiting with children still registered (atexit);
- the benchmark being killed outright (Linux: the child asked for PR_SET_PDEATHSIG).

Traffic stays on 127.0.0.1: `free_port()` binds there only.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path

LOCALHOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent  # children run here, with it on PYTHONPATH
_LIVE: dict[int, str] = {}  # process group id → name, of children not yet stopped
_PR_SET_PDEATHSIG = 1
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ChildFailed(RuntimeError):
    """A child exited or did not become ready; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers that must be told their port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


# Asks the kernel to SIGKILL the process when the benchmark (its parent) dies, then becomes the real
# child by exec (the request survives exec). Done by a launcher rather than Popen(preexec_fn=…),
# which is unsafe once the benchmark has threads.
_LAUNCHER = (
    "import ctypes, os, sys; "
    f"ctypes.CDLL('libc.so.6').prctl({_PR_SET_PDEATHSIG}, {int(signal.SIGKILL)}); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_LIVE):
        _kill_group(pgid, signal.SIGKILL)
        _LIVE.pop(pgid, None)


class Child:
    def __init__(self, name: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.proc = proc
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    async def wait_for(self, pattern: str, *, timeout_s: float) -> re.Match[str]:
        """Wait until a line of the child's output matches `pattern` (a regex, searched per line)."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout_s
        while True:
            found = regex.search(self.log_text())
            if found is not None:
                return found
            if not self.alive():
                raise ChildFailed(f"{self.name} exited ({self.proc.returncode}) before {pattern!r}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ChildFailed(f"{self.name}: no {pattern!r} within {timeout_s:.0f} s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    async def stop(self, *, grace_s: float = 10.0) -> int | None:
        """SIGTERM the child's group, wait up to `grace_s`, then SIGKILL. Returns the exit code."""
        pgid = self.proc.pid  # start_new_session: the child leads its own group
        if self.alive():
            _kill_group(pgid, signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, grace_s)
            except subprocess.TimeoutExpired:
                _kill_group(pgid, signal.SIGKILL)
                await asyncio.to_thread(self.proc.wait, 5.0)
        _kill_group(pgid, signal.SIGKILL)  # anything the child left in its group
        _LIVE.pop(pgid, None)
        return self.proc.returncode


@contextlib.asynccontextmanager
async def spawn(
    name: str, argv: Sequence[str], *, log_dir: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[Child]:
    """Start `argv` as a child (its own process group, output to `log_dir/name.log`); stop it on exit."""
    log_path = log_dir / f"{name}.log"
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, _resolve(argv[0]), *argv[1:]],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    _LIVE[proc.pid] = name
    child = Child(name, proc, log_path)
    try:
        yield child
    finally:
        await asyncio.shield(child.stop())


def _resolve(program: str) -> str:
    found = program if os.sep in program else shutil.which(program)
    if found is None:
        raise ChildFailed(f"program not found: {program}")
    return found


def python_module(module: str, *args: str) -> list[str]:
    """argv running `python -m module args…` with this interpreter (the venv's)."""
    return [sys.executable, "-m", module, *args]


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS of /proc/<pid>/status), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ChildFailed(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process so far (this process when `pid` is None)."""
    if pid is None:
        return time.process_time()
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """User + system CPU time so far of every PostgreSQL server process on this machine (the local
    server the benchmark uses; a backend that exits takes its time with it, so measure over windows
    in which the gateway keeps its connections)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
            if (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
    return total


class CpuMeter:
    """CPU seconds that named processes spend between `start()` and `stop()`; each is read by a
    function returning its CPU time so far (e.g. `partial(cpu_seconds, pid)`). A process that is
    gone when it is read (it exited) measures NaN."""

    def __init__(self, readers: Mapping[str, Callable[[], float]]) -> None:
        self._readers = dict(readers)
        self._started: dict[str, float] = {}

    def start(self) -> None:
        self._started = self._read()

    def stop(self) -> dict[str, float]:
        return {name: now - self._started[name] for name, now in self._read().items()}

    def _read(self) -> dict[str, float]:
        read: dict[str, float] = {}
        for name, reader in self._readers.items():
            try:
                read[name] = reader()
            except (FileNotFoundError, ProcessLookupError):
                read[name] = math.nan
        return read


def run_bounded(main: Callable[[], Awaitable[int]], *, budget_s: float) -> int:
    """Run a benchmark's main with a hard time budget; SIGTERM/SIGINT and the budget cancel it (its
    `spawn()` contexts stop their children on the way out). Exit code: main's, 1 when a child failed
    (its log's tail is printed), 2 over budget, 130 when interrupted."""

    async def bounded() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        interrupted: list[int] = []

        def interrupt(signum: int) -> None:
            interrupted.append(signum)
            task.cancel()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, interrupt, signum)
        try:
            async with asyncio.timeout(budget_s):
                return await main()
        except TimeoutError:
            print(f"benchmark stopped: over its time budget of {budget_s:.0f} s", file=sys.stderr, flush=True)
            return 2
        except ChildFailed as exc:
            print(f"benchmark stopped: {exc}", file=sys.stderr, flush=True)
            return 1
        except asyncio.CancelledError:
            if not interrupted:
                raise
            print(f"benchmark interrupted by signal {interrupted[0]}", file=sys.stderr, flush=True)
            return 130

    try:
        return asyncio.run(bounded())
    finally:
        _kill_leftovers()
