"""A full run with real secrets set — the simulated systems' credentials, the secrets key, a client
secret — and a record carrying a natural person's whole ID number: every log line, every dead
letter, every answer and the metrics are captured, and none holds a secret or a whole ID number."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from pydantic import SecretStr

from gateway.api.app import create_app
from gateway.clients import ALL, ClientStore, Scope, SecretBox, new_key
from gateway.domain.personal import is_id_number
from gateway.observability import configure_logging
from gateway.runtime import Runtime
from gateway.sandbox import Sandbox, record_id_of
from gateway.signing import Credentials, sign_headers
from gateway.store.database import now_utc
from gateway.store.repo import OutboxStatus, Repo
from simulators import start_simulators
from simulators.creditchina_gansu.app import CreditChinaConfig
from simulators.gsxt_gansu.app import GsxtConfig
from simulators.sms.app import SmsConfig
from tests.test_sync_end_to_end import CC, GS, Stack, fast_settings

PERSON_ID = "62010219900307123X"  # valid check character: a real-looking 居民身份证号码
MASKED = "620102************"
CC_PASSWORD = "cc-Real-Password-7f3a91"
GSXT_SECRET = "gsxt-Real-Secret-91b2e4"
SMS_SECRET = "sms-Real-Secret-c4d8aa"
_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")


# In the metrics' exposition a sample value's fraction can be 15 digits that read as an old-form ID
# number (a ratio printed 0.380216371002462): digits right after a decimal point are a number's.
_METRIC_CANDIDATE = re.compile(r"(?<![0-9A-Za-z.])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")


def _whole_ids(text: str, pattern: re.Pattern[str] = _CANDIDATE) -> list[str]:
    return [m for m in pattern.findall(text) if is_id_number(m)]


async def test_a_full_run_leaks_no_secret_and_no_id_number(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_key()
    configure_logging("json", "DEBUG")  # every line the gateway writes, into capsys
    sims = await start_simulators(
        configs={
            CC: CreditChinaConfig(password=CC_PASSWORD),
            GS: GsxtConfig(credentials={"creditgw": GSXT_SECRET}),
            "sms": SmsConfig(credentials={"creditgw": SMS_SECRET}),
        }
    )
    settings = fast_settings(
        database_url,
        secrets_key=SecretStr(key),
        creditchina_gansu={"password": CC_PASSWORD},
        gsxt_gansu={"secret": GSXT_SECRET},
        sms={"secret": SMS_SECRET},
    )
    runtime = await Runtime.open(settings, urls=dict(sims.urls))
    http = aiohttp.ClientSession()
    runner = web.AppRunner(create_app(runtime))
    answers: list[str] = []
    secrets: list[str] = [CC_PASSWORD, GSXT_SECRET, SMS_SECRET, key]
    try:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        stack = Stack(runtime, Sandbox(http, sims.urls))

        # A penalty of another department whose free text and legal representative carry a whole
        # ID number (a source's mistake), loaded before the gateway first reads the feed.
        cc_rows = await stack.sandbox.records(CC, published=True)
        gs_rows = await stack.sandbox.records(GS, published=True)
        on_gsxt = {(r["judAuthCode"], r["penDecNo"]) for r in gs_rows if r["table"] == "otherpunish"}
        # Another department's penalty (信用中国 owns it, GSXT mirrors it): the API may decide it.
        template = next(r for r in cc_rows if r.get("ROWTYPE") == "CF" and (r["CF_CFJGDM"], r["CF_WSH"]) in on_gsxt)
        row = {
            # Without SJC and ID the simulator stamps the row now: the gateway's next poll reads it.
            **{k: v for k, v in template.items() if isinstance(v, str) and k not in ("SJC", "ID")},
            "CF_WSH": "甘测罚〔2026〕88号",
            "CF_NR": f"对当事人（身份证号{PERSON_ID}）罚款",
            "CF_SY": f"法定代表人{PERSON_ID}未按期整改",
        }
        async with http.post(f"{sims.urls[CC]}/admin/load", json={"rows": [row]}) as resp:
            assert resp.status == 200, await resp.text()
        record_id = record_id_of(CC, row)
        assert record_id is not None

        runtime.start()
        for poller in runtime.pollers.values():
            await poller.poll_once()
        assert await stack.agreed() == []

        box = SecretBox.from_text(key)
        secret = await runtime.db.run(
            lambda tx: ClientStore(tx, box).add(
                "lz-system",
                name="兰州",
                scopes=[Scope.DECIDE, Scope.READ, Scope.ADMIN_DLQ],
                authorities=[ALL],
                now=now_utc(),
            )
        )
        secrets.append(secret)
        client = Credentials(client_id="lz-system", secret=secret)

        async def call(method: str, url: str, body: Any = None, *, sign: bool = True, **extra: str) -> int:
            data = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
            headers = {"Content-Type": "application/json", **extra}
            if sign:
                headers.update(sign_headers(client, method, url, data))
            async with http.request(method, base + url, data=data or None, headers=headers) as resp:
                answers.append(await resp.text())
                return resp.status

        decision = {
            "record": {"record_id": record_id},
            "action": "repair",
            "decided_at": now_utc().isoformat(),
            "decided_by": str(row.get("CF_CFJG", "authority")),
        }
        status = await call("POST", "/v1/repairs", decision, **{"Idempotency-Key": "leak-1"})
        assert status == 202, answers[-1]
        assert await call("POST", "/v1/repairs", decision, **{"Idempotency-Key": "leak-1"}) == 202  # replayed
        assert await call("GET", f"/v1/records/{record_id}") == 200
        assert MASKED in answers[-1] and PERSON_ID not in answers[-1]  # it flowed through, masked
        assert await call("GET", f"/v1/records/{record_id}/notice") == 200
        assert await call("GET", f"/v1/records/{record_id}", sign=False, **{"X-Client-Id": "lz-system"}) == 401
        forged = {"X-Signature": "0" * 64, "X-Client-Id": "lz-system", "X-Timestamp": "1", "X-Nonce": "abcdefgh"}
        assert await call("GET", "/v1/guidance", sign=False, **forged, **{"X-Signature-Algorithm": "HMAC-SM3"}) == 401

        # A delivery refused for good: a dead letter, with its context.
        punish = next(r for r in await stack.sandbox.records(GS, published=True) if r["table"] == "punish")
        await stack.sandbox.set_faults(CC, reject_keys=[punish["penDecNo"]])
        await stack.sandbox.repair(
            GS, {"table": "punish", "penDecNo": punish["penDecNo"], "judAuthCode": punish["judAuthCode"]}
        )
        for _ in range(400):
            dead = await runtime.db.run(
                lambda tx: Repo(tx).list_outbox(status=OutboxStatus.DEAD, limit=100), write=False
            )
            if dead:
                break
            await asyncio.sleep(0.05)
        assert dead, "no dead letter"
        assert await call("GET", "/v1/dead-letters") == 200
        assert await call("GET", f"/v1/dead-letters/{dead[0].id}") == 200
        await stack.sandbox.clear_faults(CC)
        replay = f"/v1/dead-letters/{dead[0].id}/replay"
        assert await call("POST", replay, **{"Idempotency-Key": "leak-replay"}) == 200
        assert await stack.agreed(expect={record_id: "stopped:repaired"}) == []
        # Last (the sandbox's own views cannot read it): a row the gateway cannot map, whose bad
        # value is that ID number; it is quarantined with a raw excerpt, and the poller logs why.
        broken = {**row, "CF_WSH": "甘测罚〔2026〕89号", "CF_XDR_LB": PERSON_ID}
        async with http.post(f"{sims.urls[CC]}/admin/load", json={"rows": [broken]}) as resp:
            assert resp.status == 200, await resp.text()
        await runtime.pollers[CC].poll_once()
        async with http.get(f"{base}/metrics") as resp:
            metrics = await resp.text()
        stored_dead = await runtime.db.run(
            lambda tx: tx.all("SELECT last_error, dead_context FROM outbox WHERE status = 'dead'"), write=False
        )
        stored_answers = await runtime.db.run(lambda tx: tx.all("SELECT response_body FROM idempotency"), write=False)
        quarantined = await runtime.db.run(lambda tx: tx.all("SELECT message, raw FROM quarantine"), write=False)
    finally:
        await runner.cleanup()
        await http.close()
        await runtime.close()
        await sims.close()
        captured = capsys.readouterr()
        structlog.reset_defaults()

    logs = captured.out + captured.err
    assert "auth_failed" in logs, "the capture did not see the run"
    assert "inbound_quarantined" in logs, "the broken row was not read"
    assert quarantined, "the broken row was not quarantined"
    assert MASKED in logs  # the unmappable value, logged masked
    places = {
        "log lines": logs,
        "dead letters": json.dumps([dict(r) for r in stored_dead], ensure_ascii=False, default=str),
        "stored answers": json.dumps([dict(r) for r in stored_answers], ensure_ascii=False),
        "quarantine": json.dumps([dict(r) for r in quarantined], ensure_ascii=False, default=str),
        "answers": "\n".join(answers),
        "metrics": metrics,
    }
    for place, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a secret in the {place}"
        found = _whole_ids(text, _METRIC_CANDIDATE if place == "metrics" else _CANDIDATE)
        assert found == [], f"a whole ID number in the {place}: {found}"
