"""The crash-and-race harness (issue 9): acknowledged decisions must survive kill -9 and races.

    python -m bench.crash [--backend sqlite|postgresql] [--kills 100] [--seed N] [--records N]

1. `python -m simulators` and `creditgw serve`, each its own process (ports chosen free at run
   time; a restarted `serve` gets a fresh one). R published 信用中国-owned penalties are loaded into
   信用中国; the gateway reads them and mirrors them to GSXT (steady state, no kills yet).
2. Workers act as authorities correcting themselves: per record 1–3 decisions back to back
   (repair; repair, revoke_repair; repair, revoke_repair, repair; repair, withdraw; …), some right
   after the previous answer, some after a pause, and some dated just after the previous decision
   — before its write reached the systems. A request without an answer (serve down, connection
   reset by a kill) is sent again with the same Idempotency-Key and body until it is answered.
3. Meanwhile `serve` is SIGKILLed at random moments (a seeded RNG: the same `--seed` gives the same
   plans and kill delays) and restarted, `--kills` times; the workers stop taking new records once
   the last restart is up.
4. Convergence is awaited by polling (never by timing): until the gateway's outbox is empty and
   what both systems show has not changed for a while, within a generous deadline.
5. The checker (bench/crash_check.py) reads every system back through the simulators' admin APIs
   and the gateway's API: 0 acknowledged decisions lost, no record written more often than decided,
   0 false divergence audits, every acknowledged request replays identically.

Prints the seed first (rerun with `--seed` to replay the same plans and kill moments), a summary,
examples of every finding, and one final JSON line. Exit 0 only when nothing was found.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.crash_check import API, OPERATOR_SEQUENCES, SEQUENCES, Findings, Observed, RecordRun, Sent, judge
from bench.cursor_watch import CursorWatch
from bench.databases import BACKENDS, fresh_database, postgres_available
from bench.end_to_end import SERVE_SETTINGS, bench_client, serve_argv, serve_env
from bench.gateway_client import Answer, GatewayClient
from bench.probe import StoreProbe
from bench.processes import LOCALHOST, Child, free_port, run_bounded, spawn
from bench.records import SyntheticPenalty, penalties
from bench.report import json_line, machine
from bench.sandbox import CREDITCHINA, GSXT, Sandbox, load_creditchina, running_simulators
from gateway.clients import new_key
from gateway.sandbox import Sandbox as SystemsView
from gateway.signing import Credentials

# Faster than production, so that a short run sees many deliveries, echoes and lease take-overs.
CRASH_SETTINGS = {
    **SERVE_SETTINGS,
    "CREDITGW_LEASE_S": "5",
    "CREDITGW_REAPER_INTERVAL_S": "1",
    "CREDITGW_RETRY_BASE_S": "0.5",
    "CREDITGW_RETRY_MAX_S": "5",
    "CREDITGW_SWEEP_ENABLED": "false",
    "CREDITGW_REMINDERS_ENABLED": "false",
}
RETRY_PAUSE_S = 0.2  # between sends of an unanswered request
STABLE_S = 4.0  # quiet: outbox empty and the systems unchanged for this long (20 poll intervals)
POLL_S = 0.5
READ_CONCURRENCY = 8


@dataclass(frozen=True, kw_only=True)
class Options:
    backend: str
    kills: int
    seed: int
    records: int  # the pool loaded into 信用中国; workers stop earlier when the kills are done
    workers: int
    kill_after_s: tuple[float, float]  # a kill comes this long after serve was up (uniform)
    pause_s: float  # longest pause between two decisions of a record
    pause_share: float  # share of decisions sent after a pause (the rest back to back)
    backdate_share: float  # share of follow-up decisions dated right after the previous one
    operator_share: float  # share of records changed inside the systems by their operators instead
    request_patience_s: float  # give up on one request after this long without an answer
    replicas: int = 1  # `serve` processes sharing one PostgreSQL; requests go to them in turn
    quiet_deadline_s: float
    budget_s: float
    keep: bool


@dataclass(frozen=True, kw_only=True)
class Step:
    action: str
    pause_s: float  # before sending
    backdated: bool
    via: str = API  # or the system whose operator makes the change (its admin API)


@dataclass(kw_only=True)
class Scenario:
    """Everything random, drawn up front from the seed: the plan of every record, the kill delays."""

    plans: list[list[Step]]
    kill_delays: list[float]
    kill_targets: list[int] = field(default_factory=list)  # which replica each kill hits

    @classmethod
    def draw(cls, options: Options) -> Scenario:
        rng = random.Random(options.seed)
        plans = []
        for _ in range(options.records):
            if rng.random() < options.operator_share:
                changes = rng.choice(OPERATOR_SEQUENCES)
            else:
                changes = tuple((API, action) for action in rng.choice(SEQUENCES))
            plans.append(
                [
                    Step(
                        action=action,
                        pause_s=rng.uniform(0, options.pause_s) if rng.random() < options.pause_share else 0.0,
                        backdated=via == API and n > 0 and rng.random() < options.backdate_share,
                        via=via,
                    )
                    for n, (via, action) in enumerate(changes)
                ]
            )
        low, high = options.kill_after_s
        delays = [rng.uniform(low, high) for _ in range(options.kills)]
        targets = [rng.randrange(options.replicas) for _ in range(options.kills)]
        return cls(plans=plans, kill_delays=delays, kill_targets=targets)


@dataclass(kw_only=True)
class Kill:
    life: int
    replica: int = 0
    leases_held: int = 0  # deliveries in flight under the killed replica's leases at the kill
    after_s: float
    during_ingest: bool  # workers were still sending decisions
    restart_s: float = 0.0  # from the kill until the next serve was listening


class ServeLives:
    """One `serve` replica, started again after every kill on a fresh port."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, name: str = "serve") -> None:
        self.env = env
        self.log_dir = log_dir
        self.name = name
        self.lives = 0
        self.url = ""
        self._stack: contextlib.AsyncExitStack | None = None
        self.child: Child | None = None

    async def start(self) -> None:
        port = free_port()
        stack = contextlib.AsyncExitStack()
        name = f"{self.name}-{self.lives}"
        child = await stack.enter_async_context(spawn(name, serve_argv(port), log_dir=self.log_dir, env=self.env))
        try:
            await child.wait_for(r"creditgw listening on", timeout_s=120)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self.child = stack, child
        self.lives += 1
        self.url = f"http://{LOCALHOST}:{port}"

    async def kill(self) -> None:
        child, stack = self.child, self._stack
        assert child is not None and stack is not None
        self.url = ""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        await asyncio.to_thread(child.proc.wait)
        await stack.aclose()
        self.child = self._stack = None

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()


class Fleet:
    """The replicas of `serve` on one database (one on SQLite)."""

    def __init__(self, env: dict[str, str], log_dir: Path, replicas: int) -> None:
        names = ["serve"] if replicas == 1 else [f"serve{n}" for n in range(replicas)]
        self.replicas = [ServeLives(env, log_dir, name=name) for name in names]
        self._turn = itertools.count()

    async def start(self) -> None:
        await asyncio.gather(*(replica.start() for replica in self.replicas))

    def next_url(self) -> str:
        """The next live replica in turn (requests of one record land on different replicas)."""
        for _ in range(len(self.replicas)):
            url = self.replicas[next(self._turn) % len(self.replicas)].url
            if url:
                return url
        return f"http://{LOCALHOST}:1"  # none up for a moment (a single replica restarting): refused, resent

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.close()


class FleetClient(GatewayClient):
    """Each call goes to the next live replica."""

    def __init__(self, session: aiohttp.ClientSession, *, credentials: Credentials, fleet: Fleet) -> None:
        super().__init__(session, credentials=credentials)
        self.fleet = fleet

    async def call(
        self, method: str, path: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Answer:
        self.base_url = self.fleet.next_url()  # read by the base call before its first await
        return await super().call(method, path, body=body, headers=headers)


class Harness:
    def __init__(
        self, options: Options, scenario: Scenario, pool: Sequence[SyntheticPenalty], systems: SystemsView
    ) -> None:
        self.options = options
        self.systems = systems
        self.scenario = scenario
        self.pool = pool
        self.runs: list[RecordRun] = []
        self.kills: list[Kill] = []
        self.stop_taking = asyncio.Event()
        self.sending = 0  # workers with a record in hand
        self.orphaned: list[int] = []  # outbox ids leased by a replica when it was killed
        self._next = itertools.count()

    async def worker(self, client: GatewayClient) -> None:
        while not self.stop_taking.is_set():
            index = next(self._next)
            if index >= len(self.pool):
                return
            record = self.pool[index]
            run = RecordRun(
                index=index,
                record_id=record.record_id,
                document_number=record.document_number,
                actions=tuple(s.action for s in self.scenario.plans[index]),
            )
            self.runs.append(run)
            self.sending += 1
            try:
                await self.decide(client, record, run)
            finally:
                self.sending -= 1

    async def decide(self, client: GatewayClient, record: SyntheticPenalty, run: RecordRun) -> None:
        previous: datetime | None = None
        for number, step in enumerate(self.scenario.plans[run.index]):
            if step.pause_s:
                await asyncio.sleep(step.pause_s)
            now = datetime.now(UTC)
            if step.via != API:
                run.sent.append(await self.operate(record, run, step, now))
                continue
            decided_at = previous + timedelta(milliseconds=1) if step.backdated and previous else now
            previous = decided_at
            body = {
                "record": {"record_id": record.record_id},
                "action": step.action,
                "decided_at": decided_at.isoformat(),
                "decided_by": record.authority.name,
            }
            sent = Sent(
                key=f"crash-{self.options.seed}-{run.index}-{number}",
                action=step.action,
                decided_at=decided_at,
                backdated=step.backdated,
                body=json.dumps(body, ensure_ascii=False).encode(),
            )
            run.sent.append(sent)
            await self.send_until_answered(client, sent)

    async def operate(self, record: SyntheticPenalty, run: RecordRun, step: Step, now: datetime) -> Sent:
        """A change made inside a system by its own operator (never faulted, never killed)."""
        if step.via == GSXT:
            payload: dict[str, Any] = {
                "table": "otherpunish",
                "penDecNo": record.document_number,
                "judAuthCode": record.authority.code,
            }
        else:
            payload = {"CF_WSH": record.document_number, "CF_CFJGDM": record.authority.code}
            payload.update({"restore": True} if step.action == "restore" else {"ZZYY": "01"})
        sent = Sent(
            key=f"op-{run.index}-{len(run.sent)}",
            action=step.action,
            decided_at=now,
            backdated=False,
            body=json.dumps(payload, ensure_ascii=False).encode(),
            via=step.via,
            attempts=1,
        )
        try:
            changed = (await self.systems.repair(step.via, payload))["changed"]
        except RuntimeError as exc:  # the admin API refused: a harness error, reported as refused
            sent.status, sent.code = 400, str(exc)[:200]
            return sent
        # A change that changes nothing was not made: it is not counted as acknowledged.
        sent.status, sent.code = (200, "") if changed else (409, "unchanged")
        return sent

    async def send_until_answered(self, client: GatewayClient, sent: Sent) -> None:
        """Again with the same key and body until a real answer: no answer, a 5xx, or 409
        request_in_flight (the first try is still running) say nothing about the decision."""
        deadline = time.monotonic() + self.options.request_patience_s
        while time.monotonic() < deadline:
            sent.attempts += 1
            answer = await client.submit_repair(sent.body, idempotency_key=sent.key)
            if answer.status is not None and answer.status < 500 and answer.code != "request_in_flight":
                sent.status, sent.answer, sent.code, sent.replayed = (
                    answer.status,
                    answer.body,
                    answer.code,
                    answer.replayed,
                )
                return
            await asyncio.sleep(RETRY_PAUSE_S)

    async def killer(self, fleet: Fleet, probe: StoreProbe) -> None:
        """Kill a replica after each drawn delay and start it again; the last lives stay up."""
        for delay, target in zip(self.scenario.kill_delays, self.scenario.kill_targets, strict=True):
            await asyncio.sleep(delay)
            replica = fleet.replicas[target]
            kill = Kill(life=replica.lives - 1, replica=target, after_s=delay, during_ingest=self.sending > 0)
            which = f"serve life {kill.life}" if len(fleet.replicas) == 1 else f"{replica.name} life {kill.life}"
            print(
                f"kill {len(self.kills) + 1}/{len(self.scenario.kill_delays)}: {which}"
                f" after {delay:.2f} s ({'during ingest' if kill.during_ingest else 'fan-out only'},"
                f" {len(self.runs)} records so far)",
                flush=True,
            )
            killed_at = time.monotonic()
            assert replica.child is not None
            pid = replica.child.pid
            await replica.kill()
            # Deliveries the dead process still leases: another replica (or its next life) must take
            # them over once the lease runs out; `wait_quiet` then finds none open.
            self.orphaned.extend(await probe.leased_by_process(pid))
            kill.leases_held = len(self.orphaned) - sum(k.leases_held for k in self.kills)
            await replica.start()
            kill.restart_s = time.monotonic() - killed_at
            self.kills.append(kill)
        if self.kills:  # with --kills 0 the whole pool is decided (races alone)
            self.stop_taking.set()


async def wait_polling(what: str, check: Callable[[], Awaitable[bool]], *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(POLL_S)


@dataclass(kw_only=True)
class Quiet:
    reached: bool
    waited_s: float
    open_deliveries: int


async def wait_quiet(probe: StoreProbe, view: SystemsView, *, deadline_s: float) -> Quiet:
    """Until the outbox is empty and neither system changed for STABLE_S (bounded by the deadline)."""
    started = time.monotonic()
    last: dict[str, dict[str, str]] | None = None
    quiet_since = time.monotonic()
    open_rows = -1
    while time.monotonic() - started < deadline_s:
        shown = await shown_labels(view)
        open_rows = await probe.open_deliveries()
        if shown != last or open_rows:
            last, quiet_since = shown, time.monotonic()
        elif time.monotonic() - quiet_since >= STABLE_S:
            return Quiet(reached=True, waited_s=time.monotonic() - started, open_deliveries=0)
        await asyncio.sleep(POLL_S)
    return Quiet(reached=False, waited_s=time.monotonic() - started, open_deliveries=open_rows)


async def shown_labels(view: SystemsView) -> dict[str, dict[str, str]]:
    """record id → state label, per system the harness's penalties are published on (信用中国 and
    GSXT; the list authorities the simulators also run show none of them), read through the
    simulators' admin APIs."""
    shown = await view.views()
    return {
        system: {record_id: target.label for record_id, target in shown[system].items()}
        for system in (CREDITCHINA, GSXT)
    }


def _document_of(business_key: str) -> str:
    """`CF:<文号>|<机关代码>` or `otherpunish:<penDecNo>|<judAuthCode>` → the document number."""
    return business_key.split(":", 1)[-1].split("|", 1)[0]


async def write_counts(view: SystemsView) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for system in (CREDITCHINA, GSXT):
        writes = (await view.stats(system))["writes"]
        counts[system] = {_document_of(key): int(n) for key, n in writes.items()}
    return counts


async def read_back(
    client: GatewayClient, view: SystemsView, runs: Sequence[RecordRun], before: dict[str, dict[str, int]]
) -> Observed:
    """Everything the checker judges, read through the APIs (simulators' admin, gateway's public)."""
    shown = await shown_labels(view)
    after = await write_counts(view)
    writes = {
        system: {doc: n - before.get(system, {}).get(doc, 0) for doc, n in counts.items()}
        for system, counts in after.items()
    }
    canonical: dict[str, str] = {}
    audits: dict[str, list[tuple[str, str]]] = {}
    replays: dict[str, tuple[int | None, bytes]] = {}
    slots = asyncio.Semaphore(READ_CONCURRENCY)

    async def one(run: RecordRun) -> None:
        async with slots:
            answer = await client.get_record(run.record_id)
            if answer.status == 200:
                record = answer.json()
                canonical[run.record_id] = record["state"]["label"]
                audits[run.record_id] = [(a["kind"], a["actor"]) for a in record["audit"]]
            for sent in (s for s in run.acknowledged if s.via == API):
                again = await client.submit_repair(sent.body, idempotency_key=sent.key)
                replays[sent.key] = (again.status, again.body)

    await asyncio.gather(*(one(run) for run in runs))
    return Observed(shown=shown, canonical=canonical, audits=audits, writes=writes, replays=replays)


@dataclass(frozen=True, kw_only=True)
class Takeover:
    """What replicas (and restarts) show beyond the checker's findings."""

    orphaned: int  # deliveries leased by a replica at the moment it was killed
    unfinished: int  # of those, still pending or in flight at the end: nobody took them over
    cursor_moves: int
    cursor_backwards: list[str]  # a stored cursor that moved back (must be none)

    @property
    def clean(self) -> bool:
        return self.unfinished == 0 and not self.cursor_backwards


@dataclass(kw_only=True)
class Outcome:
    runs: list[RecordRun]
    kills: list[Kill]
    findings: Findings
    quiet: Quiet
    takeover: Takeover
    phases_s: dict[str, float] = field(default_factory=dict)


async def run(options: Options) -> Outcome:
    scenario = Scenario.draw(options)
    pool = penalties(0, options.records)
    work_dir = Path(tempfile.mkdtemp(prefix="creditgw-crash-"))
    print(f"work dir {work_dir}", flush=True)
    phases: dict[str, float] = {}
    try:
        with fresh_database(options.backend, work_dir, "crash", keep=options.keep) as url:
            async with running_simulators(work_dir) as sandbox, aiohttp.ClientSession() as session:
                return await _run(options, scenario, pool, url, sandbox, session, work_dir, phases)
    finally:
        if not options.keep:
            shutil.rmtree(work_dir, ignore_errors=True)


async def _run(
    options: Options,
    scenario: Scenario,
    pool: list[SyntheticPenalty],
    url: str,
    sandbox: Sandbox,
    session: aiohttp.ClientSession,
    work_dir: Path,
    phases: dict[str, float],
) -> Outcome:
    view = SystemsView(session, sandbox.urls)
    await load_creditchina(session, sandbox.urls[CREDITCHINA], pool)
    key = new_key()
    credentials = await bench_client(url, key, read=True)
    env = serve_env(CRASH_SETTINGS, key=key, database_url=url, urls=sandbox.urls)
    fleet = Fleet(env, work_dir, options.replicas)
    client = FleetClient(session, credentials=credentials, fleet=fleet)
    probe = StoreProbe(url)
    watch = CursorWatch(probe=probe)
    watching = asyncio.Event()
    watcher: asyncio.Task[None] | None = None
    try:
        started = time.monotonic()
        await fleet.start()
        watcher = asyncio.create_task(watch.run(watching))
        documents = {p.document_number for p in pool}

        async def mirrored() -> bool:
            rows = await view.records(GSXT, published=True)
            shown = sum(1 for r in rows if r.get("penDecNo") in documents)
            return shown == len(documents) and await probe.open_deliveries() == 0

        await wait_polling("records ingested and mirrored", mirrored, timeout_s=120 + len(pool) / 5)
        phases["settle_s"] = time.monotonic() - started
        print(f"{len(pool)} records ingested and mirrored in {phases['settle_s']:.1f} s", flush=True)
        before = await write_counts(view)

        harness = Harness(options, scenario, pool, view)
        started = time.monotonic()
        killer = asyncio.create_task(harness.killer(fleet, probe))
        workers = [asyncio.create_task(harness.worker(client)) for _ in range(options.workers)]
        await asyncio.gather(killer, *workers)
        phases["decide_s"] = time.monotonic() - started
        decided = sum(len(r.sent) for r in harness.runs)
        print(f"{decided} changes on {len(harness.runs)} records in {phases['decide_s']:.1f} s", flush=True)

        quiet = await wait_quiet(probe, view, deadline_s=options.quiet_deadline_s)
        phases["quiet_s"] = quiet.waited_s
        if not quiet.reached:
            print(f"warning: not quiet within {options.quiet_deadline_s:.0f} s; judging what is shown", flush=True)
        watching.set()
        await watcher
        observed = await read_back(client, view, harness.runs, before)
        deciders = frozenset(p.authority.name for p in pool)  # the API's actors; operators are per step
        findings = judge(harness.runs, observed, deciders=deciders)
        takeover = Takeover(
            orphaned=len(harness.orphaned),
            unfinished=await probe.unfinished(harness.orphaned),
            cursor_moves=watch.moves,
            cursor_backwards=[f"{b.system}/{b.feed}: {b.before!r} → {b.after!r}" for b in watch.backwards],
        )
        return Outcome(
            runs=harness.runs, kills=harness.kills, findings=findings, quiet=quiet, phases_s=phases, takeover=takeover
        )
    finally:
        watching.set()
        if watcher is not None and not watcher.done():
            watcher.cancel()
        await probe.close()
        await fleet.close()


def report(options: Options, outcome: Outcome) -> int:
    runs, kills, findings = outcome.runs, outcome.kills, outcome.findings
    sent = [s for r in runs for s in r.sent]
    counts = findings.counts()
    print()
    print(
        f"crash harness ({options.backend}, {options.replicas} serve, seed {options.seed}): {len(kills)} kills"
        f" ({sum(k.during_ingest for k in kills)} while decisions were sent),"
        f" {len(runs)} records, {len(sent)} changes ({sum(s.via != API for s in sent)} by the systems' operators,"
        f" {sum(s.backdated for s in sent)} decisions backdated),"
        f" {sum(s.acknowledged for s in sent)} acknowledged, {sum(s.attempts - 1 for s in sent)} resends"
        f" ({sum(s.replayed for s in sent)} answered as replays)"
    )
    restarts = f"; restarts took {max(k.restart_s for k in kills):.1f} s at most" if kills else ""
    print(f"quiet: {'yes' if outcome.quiet.reached else 'NO'} after {outcome.quiet.waited_s:.1f} s{restarts}")
    labels = {
        "lost": "records whose acknowledged decision is lost (a system or the gateway shows otherwise)",
        "refused": "decisions refused although valid after the acknowledged ones",
        "over_written": "records written more often than decided",
        "false_audits": "false audit entries (an actor that did not act)",
        "replay_mismatches": "acknowledged requests that did not replay identically",
        "unanswered": "decisions never answered",
    }
    for name, label in labels.items():
        print(f"  {counts[name]:>6}  {label}")
    if findings.lost_by_system:
        print(f"  lost by system: {dict(findings.lost_by_system)}")
    if findings.false_audits:
        print(f"  false audits by kind: {dict(findings.false_audits)}")
    for name, examples in findings.as_json()["examples"].items():
        for example in examples:
            print(f"  e.g. {name}: {example}")
    takeover = outcome.takeover
    print(
        f"  {takeover.orphaned:>6}  deliveries leased by a replica when it was killed"
        f" ({takeover.unfinished} never taken over)"
    )
    print(f"  {len(takeover.cursor_backwards):>6}  stored cursors moved back (of {takeover.cursor_moves} moves seen)")
    for step in takeover.cursor_backwards[:5]:
        print(f"  e.g. cursor back: {step}")
    ok = findings.clean and takeover.clean and outcome.quiet.reached and len(kills) == options.kills
    print(f"verdict: {'PASS' if ok else 'FAIL'} (replay with --seed {options.seed})")
    document: dict[str, Any] = {
        "benchmark": "crash",
        "backend": options.backend,
        "replicas": options.replicas,
        "seed": options.seed,
        "machine": machine(),
        "kills": len(kills),
        "kills_during_ingest": sum(k.during_ingest for k in kills),
        "records": len(runs),
        "decisions": len(sent),
        "operator_changes": sum(s.via != API for s in sent),
        "acknowledged": sum(s.acknowledged for s in sent),
        "backdated": sum(s.backdated for s in sent),
        "resends": sum(s.attempts - 1 for s in sent),
        "quiet": outcome.quiet.reached,
        "orphaned_leases": takeover.orphaned,
        "orphaned_unfinished": takeover.unfinished,
        "cursor_moves": takeover.cursor_moves,
        "cursors_moved_back": len(takeover.cursor_backwards),
        "phases_s": {k: round(v, 1) for k, v in outcome.phases_s.items()},
        "findings": findings.as_json(),
        "passed": ok,
    }
    print(json_line(document), flush=True)
    return 0 if ok else 1


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite", help="gateway database (default sqlite)")
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs of serve (100; 0: races alone)")
    parser.add_argument("--seed", type=int, help="RNG seed (default: drawn and printed)")
    parser.add_argument("--records", type=int, help="records loaded into 信用中国 (default: enough for the kills)")
    parser.add_argument("--workers", type=int, default=8, help="authorities deciding at once (default 8)")
    parser.add_argument(
        "--replicas", type=int, default=1, help="serve processes sharing the database (PostgreSQL only above 1)"
    )
    parser.add_argument("--kill-min", type=float, default=0.3, help="earliest kill after serve is up, s (0.3)")
    parser.add_argument("--kill-max", type=float, default=3.0, help="latest kill after serve is up, s (3)")
    parser.add_argument("--pause", type=float, default=1.5, help="longest pause between decisions, s (1.5)")
    parser.add_argument(
        "--operators", type=float, default=0.15, help="share of records changed by the systems' operators (0.15)"
    )
    parser.add_argument("--quiet-deadline", type=float, default=240.0, help="wait for quiet at most, s (240)")
    parser.add_argument("--budget", type=float, help="hard limit on the whole run, s (default: computed)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (serve logs, SQLite file)")
    args = parser.parse_args(argv)
    if args.kills < 0 or args.workers < 1 or args.replicas < 1 or not 0 <= args.kill_min <= args.kill_max:
        parser.error("--kills ≥ 0, --workers ≥ 1, --replicas ≥ 1, 0 ≤ --kill-min ≤ --kill-max")
    if args.replicas > 1 and args.backend != "postgresql":
        parser.error("--replicas above 1 needs --backend postgresql (SQLite is one node)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    # Measured: each worker finishes 2–3 records per life of serve; the load stops at the last kill,
    # so the pool should outlast it (a record not reached costs only its load and first read).
    records = args.records or args.kills * args.workers * 5 + 100
    budget = args.budget or 300 + records / 5 + args.kills * (args.kill_max + 20) + args.quiet_deadline
    return Options(
        backend=args.backend,
        kills=args.kills,
        seed=seed,
        records=records,
        workers=args.workers,
        kill_after_s=(args.kill_min, args.kill_max),
        pause_s=args.pause,
        pause_share=0.5,
        backdate_share=0.5,
        operator_share=args.operators,
        request_patience_s=180.0,
        replicas=args.replicas,
        quiet_deadline_s=args.quiet_deadline,
        budget_s=budget,
        keep=args.keep,
    )


async def _checked_run(options: Options) -> int:
    if options.backend == "postgresql" and (why := postgres_available()) is not None:
        print(f"postgresql not reachable: {why}", file=sys.stderr)
        return 2
    print(
        f"crash harness: seed {options.seed}, {options.backend}, {options.replicas} serve, {options.kills} kills,"
        f" {options.workers} workers,"
        f" {options.records} records in the pool (budget {options.budget_s:.0f} s)",
        flush=True,
    )
    return report(options, await run(options))


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    return run_bounded(lambda: _checked_run(options), budget_s=options.budget_s)


if __name__ == "__main__":
    sys.exit(main())
