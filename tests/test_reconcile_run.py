"""The reconciliation run over real simulators (HTTP) and real databases (SQLite, PostgreSQL).

Divergences are seeded only through the simulators' admin APIs (tests/reconcile_world.py), never in
the gateway's database; the findings must equal the seeded ground truth (precision = recall = 1).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.reconcile.run import Options, Reconciler
from gateway.runtime import policy_from
from gateway.settings import load_settings
from gateway.store import reconciliations as rs
from gateway.store.database import Database, now_utc, open_database
from gateway.store.migrate import migrate
from gateway.store.repo import Repo
from gateway.sync.connectors import build_connectors
from simulators import SYSTEMS, start_simulators
from tests.reconcile_world import CC, GS, Expected, found_set, found_set_json, seed_every_kind, seed_unreadable

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def sims() -> AsyncIterator[Mapping[str, str]]:
    started = await start_simulators(systems={name: SYSTEMS[name] for name in (CC, GS)})
    try:
        yield dict(started.urls)
    finally:
        await started.close()


def _reconciler(db: Database, urls: Mapping[str, str], **kwargs: Any) -> Reconciler:
    settings = load_settings()
    connectors = build_connectors(settings, dict(urls))
    return Reconciler(db, connectors, policy_from(settings, set(connectors)), **kwargs)


async def _close(reconciler: Reconciler) -> None:
    for connector in reconciler.connectors.values():
        await connector.adapter.close()


def _precision_recall(found: set[Expected], expected: set[Expected]) -> tuple[float, float]:
    hits = len(found & expected)
    return (hits / len(found) if found else 1.0), (hits / len(expected) if expected else 1.0)


def _env(database_url: str, urls: Mapping[str, str], **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CREDITGW_DATABASE_URL": database_url,
        "CREDITGW_CREDITCHINA_GANSU__URL": urls[CC],
        "CREDITGW_GSXT_GANSU__URL": urls[GS],
        "CREDITGW_LOG_LEVEL": "WARNING",
        **extra,
    }


async def _creditgw(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real command in a child process; the event loop keeps serving the simulators meanwhile."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "reconcile",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


async def _stats(urls: Mapping[str, str]) -> dict[str, dict[str, int]]:
    async with aiohttp.ClientSession() as session:
        out = {}
        for name in (CC, GS):
            async with session.get(urls[name] + "/admin/stats") as answer:
                out[name] = (await answer.json())["writes"]
        return out


# ---- found with precision = recall = 1 ----------------------------------------------------------


async def test_every_seeded_divergence_is_found_and_nothing_else(db: Database, sims: Mapping[str, str]) -> None:
    reconciler = _reconciler(db, sims, options=Options(page_size=7, batch=2))
    try:
        clean = await reconciler.run(mode=rs.RunMode.CHECK, scope=rs.Scope())
        assert clean.status is rs.RunStatus.SUCCEEDED and clean.findings == 0, clean
        assert {(p.category, p.owner_system, p.mirror_system) for p in clean.pairs} == {
            ("admin_penalty", CC, GS),
            ("admin_penalty", GS, CC),
            ("abnormal_operations", GS, CC),
            ("samr_serious", GS, CC),  # GSXT's serious list, mirrored as 信用中国 list rows (none seeded)
        }
        expected = await seed_every_kind(sims)
        unreadable = await seed_unreadable(sims)
        run = await reconciler.run(mode=rs.RunMode.CHECK, scope=rs.Scope())
    finally:
        await _close(reconciler)
    assert run.status is rs.RunStatus.SUCCEEDED, run.error
    findings = await db.run(lambda tx: list(rs.all_findings(tx, run.run_id)), write=False)
    found = found_set(findings)
    assert _precision_recall(found, expected) == (1.0, 1.0), found ^ expected
    assert {f.kind for f in findings} == {
        "missing_in_mirror",
        "extra_in_mirror",
        "state_mismatch",
        "field_mismatch",
        "duplicate",
        "foreign_stop",
    }
    assert len(findings) == len(found)  # each once
    assert all(f.action is rs.FindingAction.NONE for f in findings)  # a check only reports
    field = next(f for f in findings if f.kind == "field_mismatch")
    assert field.detail["fields"] == [
        {"name": "decision_date", "owner": field.owner_value["decision_date"], "mirror": "2020-01-02"}  # type: ignore[index]
    ]
    assert field.mirror_value is not None and field.mirror_value["decision_date"] == "2020-01-02"
    # Rows read per side are stored per pair; the seeded extra and missing rows are counted.
    penalties = {(p.owner_system, p.mirror_system): p for p in run.pairs if p.category == "admin_penalty"}
    assert penalties[(CC, GS)].owner_rows == 15 + 2  # + the missing one and the full-width twin
    assert penalties[(CC, GS)].mirror_rows == 15 + 1  # + the extra one
    # The row 信用中国's mapping cannot read is quarantined and counted, not compared.
    assert penalties[(CC, GS)].unreadable == penalties[(GS, CC)].unreadable == 1
    quarantined = await db.run(lambda tx: Repo(tx).open_quarantine_counts(), write=False)
    assert [(r["system"], r["reason"], r["n"]) for r in quarantined] == [(CC, "unmappable", 1)]
    assert not any(unreadable in f.identity_key for f in findings)
    assert await _count_outbox(db) == 0


async def _count_outbox(db: Database) -> int:
    return await db.run(lambda tx: Repo(tx).count("outbox"), write=False)


# ---- the command: dry run, heal, exit codes -------------------------------------------------------


async def test_dry_run_reports_what_it_would_send_and_sends_nothing(database_url: str, sims: Mapping[str, str]) -> None:
    expected = await seed_every_kind(sims)
    before = await _stats(sims)
    result = await _creditgw(_env(database_url, sims), "--dry-run", "--format", "json")
    assert result.returncode == 3, result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert document["run"]["mode"] == "dry_run" and document["run"]["status"] == "succeeded"
    assert found_set_json(document["findings"]) == expected
    actions = {f["kind"]: f["action"] for f in document["findings"]}
    assert actions["missing_in_mirror"] == actions["state_mismatch"] == actions["field_mismatch"] == "would_heal"
    assert actions["extra_in_mirror"] == actions["duplicate"] == "not_healable"
    assert await _stats(sims) == before  # nothing sent to any system
    db = open_database(database_url)
    try:
        assert await _count_outbox(db) == 0
        assert await db.run(lambda tx: Repo(tx).count("records"), write=False) == 0
        assert await db.run(lambda tx: Repo(tx).count("quarantine"), write=False) == 0
    finally:
        await db.close()


async def test_heal_fixes_every_healable_divergence_and_never_writes_the_owner(
    database_url: str, sims: Mapping[str, str]
) -> None:
    expected = await seed_every_kind(sims, healable_only=True)
    before = await _stats(sims)
    env = _env(database_url, sims)
    result = await _creditgw(env, "--heal", "--format", "json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert found_set_json(document["findings"]) == expected
    assert {f["action"] for f in document["findings"]} == {"heal_queued"}
    assert document["recheck"]["run"]["mode"] == "check" and document["recheck"]["findings"] == []
    # A second, separate run finds none.
    again = await _creditgw(env, "--format", "json")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert json.loads(again.stdout)["findings"] == []
    # Only mirrors were written: GSXT's own penalties and lists, and 信用中国's own penalties, not.
    after = await _stats(sims)
    gs_written = {k for k in after[GS] if after[GS][k] != before[GS].get(k)}
    assert gs_written and all(k.startswith("otherpunish:") for k in gs_written), gs_written
    cc_written = {k for k in after[CC] if after[CC][k] != before[CC].get(k)}
    owned_by_cc = {e[4].split("\x1f")[2] for e in expected if e[2] == CC}
    assert cc_written and not any(number in k for k in cc_written for number in owned_by_cc), cc_written


async def test_divergences_a_heal_cannot_decide_remain_and_go_to_the_quarantine(
    database_url: str, sims: Mapping[str, str]
) -> None:
    expected = await seed_every_kind(sims)
    result = await _creditgw(_env(database_url, sims), "--heal", "--format", "json")
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert found_set_json(document["findings"]) == expected
    remaining = found_set_json(document["recheck"]["findings"])
    assert {e[0] for e in remaining} == {"extra_in_mirror", "duplicate"}
    db = open_database(database_url)
    try:
        reasons = await db.run(lambda tx: [r["reason"] for r in Repo(tx).open_quarantine_counts()], write=False)
    finally:
        await db.close()
    assert set(reasons) == {"reconcile_extra_in_mirror", "reconcile_duplicate"}


async def test_exit_codes_and_operator_mistakes(tmp_path: Path, sims: Mapping[str, str]) -> None:
    env = _env(f"sqlite:///{tmp_path / 'gw.db'}", sims)
    agree = await _creditgw(env, "--category", "abnormal_operations")
    assert agree.returncode == 0, agree.stdout + agree.stderr
    assert "abnormal_operations" in agree.stdout and "agree" in agree.stdout
    csv_out = await _creditgw(env, "--format", "csv", "--system", GS)
    assert csv_out.returncode == 0 and csv_out.stdout.splitlines()[0].startswith("run_id,seq,kind")
    bad = await _creditgw(env, "--category", "parking_tickets")
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "parking_tickets" in lines[0] and "Traceback" not in bad.stderr
    down = _env(f"sqlite:///{tmp_path / 'gw2.db'}", sims, CREDITGW_GSXT_GANSU__URL="http://127.0.0.1:9", **_FAST)
    failed = await _creditgw(down, "--format", "json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert json.loads(failed.stdout)["run"]["status"] == "failed"
    assert "failed" in failed.stderr.strip().splitlines()[-1]


_FAST = {"CREDITGW_GSXT_GANSU__TIMEOUT_S": "2", "CREDITGW_MAX_ATTEMPTS": "1"}


# ---- resume after SIGKILL ------------------------------------------------------------------------


class _Gate:
    """A proxy in front of GSXT that holds every call naming `word` until opened: the run is then
    certainly still running when it is killed, whatever the machine's speed."""

    def __init__(self, upstream: str, word: bytes) -> None:
        self.upstream = upstream
        self.word = word
        self.open = asyncio.Event()
        self.held = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.word in body and not self.open.is_set():
            self.held.set()
            await self.open.wait()
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                self.upstream + request.path_qs,
                data=body,
                headers={k: v for k, v in request.headers.items() if k.lower() in ("content-type",)},
            ) as answer,
        ):
            return web.Response(status=answer.status, body=await answer.read(), content_type=answer.content_type)

    async def close(self) -> None:
        self.open.set()
        if self.runner is not None:
            await self.runner.cleanup()


async def _wait_for(predicate: Any, *, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_a_run_killed_midway_resumes_and_reports_what_an_uninterrupted_run_reports(
    database_url: str, tmp_path: Path, sims: Mapping[str, str]
) -> None:
    expected = await seed_every_kind(sims)
    reference = await _creditgw(_env(f"sqlite:///{tmp_path / 'reference.db'}", sims), "--format", "json")
    assert reference.returncode == 3, reference.stderr[-2000:]
    uninterrupted = json.loads(reference.stdout)["findings"]
    assert found_set_json(uninterrupted) == expected

    gate = _Gate(sims[GS], b"opanomaly")  # the abnormal list: listed after the penalties are stored
    await gate.start()
    db = open_database(database_url)
    await migrate(db)
    try:
        env = _env(database_url, {**sims, GS: gate.url}, CREDITGW_RECONCILE_BATCH="1")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "reconcile", "--format", "json", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

        async def checkpoint_stored() -> bool:
            runs = await db.run(lambda tx: rs.list_runs(tx), write=False)
            if not runs:
                return False
            run = await db.run(lambda tx: rs.get_run(tx, runs[0].run_id), write=False)
            return run is not None and any(p.checkpoint for p in run.pairs) and gate.held.is_set()

        await _wait_for(checkpoint_stored)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        (killed,) = await db.run(lambda tx: rs.list_runs(tx), write=False)
        assert killed.status is rs.RunStatus.RUNNING and killed.findings > 0
        gate.open.set()
        resumed = await _creditgw(env, "--format", "json")
    finally:
        await gate.close()
        await db.close()
    assert resumed.returncode == 3, resumed.stderr[-3000:]
    document = json.loads(resumed.stdout)
    assert document["run"]["run_id"] == killed.run_id  # the same run, resumed
    assert document["run"]["status"] == "succeeded"

    def comparable(findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (f["kind"], f["category"], f["owner_system"], f["mirror_system"], f["identity_key"], f["side"],
             json.dumps(f["detail"], sort_keys=True), f["action"])
            for f in findings
        )  # fmt: skip

    assert comparable(document["findings"]) == comparable(uninterrupted)
    assert [f["seq"] for f in document["findings"]] == list(range(1, len(uninterrupted) + 1))


class _Killed(BaseException):
    """Stands for SIGKILL inside the process: nothing after it runs, not even the run's failure."""


async def test_a_run_stopped_inside_a_pair_resumes_from_that_pairs_checkpoint(
    db: Database, sims: Mapping[str, str]
) -> None:
    expected = await seed_every_kind(sims)
    stored: list[str | None] = []

    def stop_after_two(run_id: str, pair: rs.PairKey, checkpoint: str | None) -> None:
        stored.append(checkpoint)
        if len(stored) == 2:
            raise _Killed

    first = _reconciler(db, sims, options=Options(batch=1), on_stored=stop_after_two)
    with pytest.raises(_Killed):
        await first.run(mode=rs.RunMode.CHECK, scope=rs.Scope())
    await _close(first)
    (run,) = await db.run(lambda tx: rs.list_runs(tx), write=False)
    partial = await db.run(lambda tx: rs.get_run(tx, run.run_id), write=False)
    # Batches end at a key's last finding (a key may have two: a state mismatch and a foreign stop).
    assert partial is not None and partial.status is rs.RunStatus.RUNNING and 2 <= partial.findings < len(expected)
    (pair,) = partial.pairs
    assert pair.status is rs.PairStatus.RUNNING and pair.checkpoint == stored[-1]
    so_far = await db.run(lambda tx: list(rs.all_findings(tx, run.run_id)), write=False)
    assert so_far[-1].identity_key == pair.checkpoint  # every finding of the checkpoint's key is stored
    # Another process, after the first one's lease ran out, takes the run over and completes it.
    later = now_utc() + timedelta(minutes=10)
    second = _reconciler(db, sims, clock=lambda: later)
    try:
        done = await second.run(mode=rs.RunMode.CHECK, scope=rs.Scope())
    finally:
        await _close(second)
    assert done.run_id == run.run_id and done.status is rs.RunStatus.SUCCEEDED
    findings = await db.run(lambda tx: list(rs.all_findings(tx, run.run_id)), write=False)
    assert found_set(findings) == expected and len(findings) == len(expected)
    assert [f.seq for f in findings] == list(range(1, len(findings) + 1))
