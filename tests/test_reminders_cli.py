"""`creditgw remind [--dry-run] [--today]` as cron runs it: a real process against the simulated SMS
service (served by this test's event loop while the process runs)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp

from gateway.domain.model import PUBLISHED
from gateway.domain.plan import Observation, Policy
from gateway.store.database import open_database
from gateway.store.migrate import migrate
from gateway.sync.ingest import apply_event
from simulators.runner import start_simulators
from simulators.sms import create_app
from tests.conftest import T0, penalty_facts

ROOT = Path(__file__).resolve().parent.parent
SUBJECT = "91620102MA72ABCD94"


async def _creditgw(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    if process.returncode not in (0, 2):
        raise AssertionError(stderr.decode()[-2000:])
    return process.returncode, stdout.decode()


async def test_remind_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    facts = replace(penalty_facts(document_number="兰环罚〔2025〕12号"), decision_date=date(2025, 11, 30))
    db = open_database(url)
    await migrate(db)
    event = Observation(source="creditchina_gansu", facts=facts, target=PUBLISHED, changed_at=T0, source_version="1")
    policy = Policy(enabled_systems=frozenset())
    await db.run(lambda tx: apply_event(tx, event, source="creditchina_gansu", change_key="c", policy=policy, now=T0))
    await db.close()

    async with start_simulators(systems={"sms": create_app}) as sims, aiohttp.ClientSession() as http:
        sms_url = sims.urls["sms"]
        contact = {"uscc": SUBJECT, "mobile": "17012345678"}
        async with http.post(f"{sms_url}/admin/contacts", json={"contacts": [contact]}) as response:
            assert response.status == 200
        env = {"CREDITGW_DATABASE_URL": url, "CREDITGW_SMS__URL": sms_url}

        async def messages() -> list[dict[str, Any]]:
            async with http.get(f"{sms_url}/admin/messages") as response:
                return list((await response.json())["messages"])

        code, out = await _creditgw("remind", "--dry-run", "--today", "2026-02-25", cwd=tmp_path, env=env)
        *lines, summary = [json.loads(line) for line in out.strip().splitlines()]
        assert code == 0 and summary["dry_run"] is True and summary["due"] == 1 and summary["sent"] == 0
        assert [line["action"] for line in lines] == ["schedule_and_send"]
        assert lines[0]["record_id"] == facts.record_id and "2026年3月1日" in lines[0]["text"]
        assert await messages() == []

        code, out = await _creditgw("remind", "--today", "2026-02-25", cwd=tmp_path, env=env)
        assert code == 0 and json.loads(out)["sent"] == 1 and json.loads(out)["scheduled"] == 1
        code, out = await _creditgw("remind", "--today", "2026-02-26", cwd=tmp_path, env=env)
        assert code == 0 and json.loads(out)["sent"] == 0 and json.loads(out)["due"] == 1
        assert len(await messages()) == 1

        code, out = await _creditgw("remind", "--today", "2999-01-01", cwd=tmp_path, env=env)
        assert code == 2 and json.loads(out)["code"] == "today_in_future"
