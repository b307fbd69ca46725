"""Who may call what (docs/signing.md): clients × scopes × every route, signatures that are
replayed, stale, future-dated or tampered with, rotation, revocation, rate limits, the audit of
calls that change state — with the database unchanged after every 401 and 403."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.api.routes import ROUTES, RouteSpec
from gateway.clients import ALL, CLIENT_SCOPES, ClientStore, Scope, SecretBox
from gateway.signing import HMAC_SM3, Credentials, sign_headers
from tests.conftest import penalty_facts
from tests.reconcile_seed import seed_run
from tests.test_api_harness import NOW, SUBJECT, Harness, SigningClient, error_of, open_harness, repair_body

OWNER = penalty_facts().authority_code  # 兰州市生态环境局, the seeded penalty's deciding authority
OTHER = "11620000MB9999999Y"  # another authority (a tax bureau, say)
# Operations whose record is checked against the client's authorities and categories.
RECORD_BOUND = {"submitRepair", "getRepair", "getRecord", "getRecordEligibility", "getRecordNotice"}
# Operations that show a record only through findings the client may see (404 when it may not).
FINDING_BOUND = {"getReconciliationRecord"}


def _sees_the_record(grant: dict[str, Any]) -> bool:
    return (ALL in grant["authorities"] or OWNER in grant["authorities"]) and (
        ALL in grant["categories"] or "admin_penalty" in grant["categories"]
    )


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    async with open_harness(database_url) as harness:
        yield harness


@dataclass
class World:
    record_id: str
    repair_id: str
    dead_id: int
    run_id: str


async def _world(api: Harness) -> World:
    record_id = await api.seed()
    dead_id = await api.dead_letter()
    response = await api.post_repair(repair_body(record_id), key="world")
    assert response.status == 202, await response.text()
    run = await api.runtime.db.run(lambda tx: seed_run(tx, "run-world", now=NOW, record_id=record_id))
    return World(
        record_id=record_id, repair_id=(await response.json())["repair_id"], dead_id=dead_id, run_id=run.run_id
    )


_keys = iter(range(1_000_000))


def _request(route: RouteSpec, world: World) -> tuple[str, str, bytes | None, dict[str, str]]:
    """A request that succeeds for a client allowed to make it; routes without a sample get
    placeholder parameters (their 401 and 403 legs are still exact: auth runs before handlers)."""
    samples: dict[str, tuple[str, bytes | None]] = {  # keep in step with SAMPLED below
        "submitRepair": ("/v1/repairs", json.dumps(repair_body(world.record_id), ensure_ascii=False).encode()),
        "getRepair": (f"/v1/repairs/{world.repair_id}", None),
        "getRecord": (f"/v1/records/{world.record_id}", None),
        "getSubjectRecords": (f"/v1/subjects/{SUBJECT}/records", None),
        "getRecordEligibility": (f"/v1/records/{world.record_id}/eligibility?today=2026-05-10", None),
        "getRecordNotice": (f"/v1/records/{world.record_id}/notice", None),
        "getGuidance": ("/v1/guidance/admin_penalty", None),
        "replayDeadLetter": (f"/v1/dead-letters/{world.dead_id}/replay?dry_run=true", None),
        "getDeadLetter": (f"/v1/dead-letters/{world.dead_id}", None),
        "getReconciliation": (f"/v1/reconciliations/{world.run_id}", None),
        "listReconciliationFindings": (f"/v1/reconciliations/{world.run_id}/findings", None),
        "getReconciliationReport": (f"/v1/reconciliations/{world.run_id}/report?format=html", None),
        "getReconciliationRecord": (f"/v1/reconciliations/{world.run_id}/records/{world.record_id}", None),
        "getReconciliationReportLink": (f"/v1/reconciliations/{world.run_id}/report-link", None),
    }
    path, body = samples.get(route.operation_id, (re.sub(r"\{[^}]+\}", "x", route.path), None))
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if route.idempotent:
        headers["Idempotency-Key"] = f"m-{next(_keys)}"
    return route.method, path, body, headers


def _expected(route: RouteSpec, client: str, grant: dict[str, Any] | None) -> tuple[int | None, str | None]:
    """(status, error code); status None: any 2xx."""
    if route.scope == Scope.PUBLIC:
        return None, None
    if grant is None:
        return 401, "unauthorized"
    if route.scope not in grant["scopes"]:
        return 403, "scope_denied"
    if route.operation_id in FINDING_BOUND and not _sees_the_record(grant):
        return 404, "record_not_found"  # the run found nothing about the record that this client may see
    if route.operation_id in RECORD_BOUND:
        if ALL not in grant["authorities"] and OWNER not in grant["authorities"]:
            return 403, "authority_denied"
        if ALL not in grant["categories"] and "admin_penalty" not in grant["categories"]:
            return 403, "category_denied"
    return None, None


def _grants() -> dict[str, dict[str, Any] | None]:
    everything = {"scopes": sorted(CLIENT_SCOPES), "authorities": [ALL], "categories": [ALL]}
    grants: dict[str, dict[str, Any] | None] = {"unsigned": None, "all": everything}
    for scope in sorted(CLIENT_SCOPES):
        grants["only-" + scope.replace(":", "-")] = {**everything, "scopes": [scope]}
    grants["other-authority"] = {**everything, "authorities": [OTHER]}
    grants["owner"] = {**everything, "authorities": [OWNER], "categories": ["admin_penalty"]}
    grants["other-category"] = {**everything, "categories": ["court_dishonest"]}
    return grants


async def _send(client: SigningClient, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Any:
    return await client.request(method, path, data=body, headers=headers)


async def test_matrix_of_clients_scopes_and_routes(api: Harness) -> None:
    world = await _world(api)
    clients: dict[str, SigningClient] = {}
    for name, grant in _grants().items():
        clients[name] = await (api.signing_client(None) if grant is None else api.as_client(name, **grant))
    failures = []
    seen_2xx, seen_401, seen_403 = 0, 0, 0
    for route in ROUTES:
        for name, grant in _grants().items():
            status, code = _expected(route, name, grant)
            method, path, body, headers = _request(route, world)
            before = await api.snapshot()
            response = await _send(clients[name], method, path, body, headers)
            text = await response.text()
            label = f"{name} {route.operation_id} → {response.status}"
            if status is None:
                # A route without a sample request may answer 404 for its placeholder id, never 401/403.
                if response.status in (401, 403, 429) or (response.status >= 300 and _has_sample(route)):
                    failures.append(f"{label}, expected 2xx: {text[:200]}")
                seen_2xx += 1
                continue
            if response.status != status or json.loads(text).get("code") != code:
                failures.append(f"{label}, expected {status} {code}: {text[:200]}")
            if await api.snapshot() != before:
                failures.append(f"{label} changed the database")
            seen_401 += status == 401
            seen_403 += status == 403
    assert not failures, "\n".join(failures)
    assert seen_2xx and seen_401 and seen_403


SAMPLED = {
    "submitRepair",
    "getRepair",
    "getRecord",
    "getSubjectRecords",
    "getRecordEligibility",
    "getRecordNotice",
    "getGuidance",
    "replayDeadLetter",
    "getDeadLetter",
    "getReconciliation",
    "listReconciliationFindings",
    "getReconciliationReport",
    "getReconciliationRecord",
    "getReconciliationReportLink",
}


def _has_sample(route: RouteSpec) -> bool:
    return "{" not in route.path or route.operation_id in SAMPLED


def test_every_route_has_a_scope_and_only_probes_are_public() -> None:
    for route in ROUTES:
        assert isinstance(route.scope, Scope), route.operation_id
        assert (route.scope == Scope.PUBLIC) == (not route.path.startswith("/v1/")), route.operation_id


# ---- signatures --------------------------------------------------------------------------------


async def _root(api: Harness) -> Credentials:
    credentials = api.client.credentials
    assert credentials is not None
    return credentials


async def test_tampered_requests_are_refused_and_change_nothing(api: Harness) -> None:
    world = await _world(api)
    raw = await api.signing_client(None)
    root = await _root(api)
    body = json.dumps(repair_body(world.record_id, decided_at="2026-05-01T10:00:00+00:00"), ensure_ascii=False)
    post = body.encode()
    record = f"/v1/records/{world.record_id}"
    eligibility = f"{record}/eligibility?today=2026-05-10"

    def tamper(value: str) -> str:
        """One character changed, the last one that can be."""
        last = value[-1]
        return value[:-1] + ("0" if last != "0" else "1")

    cases: list[tuple[str, str, str, bytes, dict[str, str], dict[str, str]]] = []
    for name, method, url, data, sent_url, sent_body, extra in (
        ("body", "POST", "/v1/repairs", post, "/v1/repairs", post.replace(b"T10:", b"T11:"), {}),
        ("path", "GET", record, b"", tamper(record), b"", {}),
        ("query", "GET", eligibility, b"", eligibility.replace("05-10", "05-11"), b"", {}),
        ("query added", "GET", eligibility, b"", eligibility + "&system=gsxt_gansu", b"", {}),
    ):
        cases.append((name, method, sent_url, sent_body, sign_headers(root, method, url, data), extra))
    for header in ("X-Client-Id", "X-Timestamp", "X-Nonce", "X-Signature"):
        headers = sign_headers(root, "GET", record)
        cases.append((f"header {header}", "GET", record, b"", headers, {header: tamper(headers[header])}))
    headers = sign_headers(root, "GET", record)
    cases.append(("header algorithm", "GET", record, b"", headers, {"X-Signature-Algorithm": HMAC_SM3}))
    for header in ("X-Client-Id", "X-Timestamp", "X-Nonce", "X-Signature-Algorithm", "X-Signature"):
        headers = sign_headers(root, "GET", record)
        del headers[header]
        cases.append((f"no {header}", "GET", record, b"", headers, {}))

    before = await api.snapshot()
    for name, method, url, data, headers, extra in cases:
        sent = {**headers, **extra, "Content-Type": "application/json", "Idempotency-Key": f"t-{name}"}
        response = await raw.request(method, url, data=data or None, headers=sent)
        assert response.status == 401, (name, response.status, await response.text())
        assert (await error_of(response))["code"] == "unauthorized"
        assert await api.snapshot() == before, name
    # The same requests, untampered, pass: the refusals above are the tampering's doing.
    for method, url, data in (("POST", "/v1/repairs", post), ("GET", record, b""), ("GET", eligibility, b"")):
        sent = {**sign_headers(root, method, url, data), "Content-Type": "application/json", "Idempotency-Key": "ok"}
        response = await raw.request(method, url, data=data or None, headers=sent)
        assert response.status < 300, (url, await response.text())


async def test_replayed_expired_and_future_dated_requests_are_refused(api: Harness) -> None:
    record_id = await api.seed()
    raw = await api.signing_client(None)
    root = await _root(api)
    url = f"/v1/records/{record_id}"
    headers = sign_headers(root, "GET", url)
    assert (await raw.get(url, headers=headers)).status == 200
    for _ in range(3):
        assert (await raw.get(url, headers=headers)).status == 401  # the same nonce again

    window = api.runtime.settings.signature_window_s
    for offset in (-window - 5, window + 5, -10 * window, 10 * window):
        stale = sign_headers(root, "GET", url, timestamp=int(time.time()) + offset)
        response = await raw.get(url, headers=stale)
        assert response.status == 401, offset
        assert (await error_of(response))["code"] == "unauthorized"


async def test_a_replay_to_a_second_replica_is_refused(database_url: str) -> None:
    """Two apps on one database (one PostgreSQL schema, or one SQLite file): a nonce used on
    one replica is refused by the other."""
    async with open_harness(database_url) as first, open_harness(database_url) as second:
        record_id = await first.seed()
        root = await _root(first)
        url = f"/v1/records/{record_id}"
        to_first, to_second = await first.signing_client(None), await second.signing_client(None)
        refused = 0
        for n in range(20):
            headers = sign_headers(root, "GET", url)
            sender, replayer = (to_first, to_second) if n % 2 == 0 else (to_second, to_first)
            assert (await sender.get(url, headers=headers)).status == 200
            response = await replayer.get(url, headers=headers)
            refused += response.status == 401
        assert refused == 20


async def _post_signed(raw: SigningClient, headers: dict[str, str], data: bytes, key: str) -> tuple[int, str]:
    sent = {**headers, "Content-Type": "application/json", "Idempotency-Key": key}
    response = await raw.post("/v1/repairs", data=data, headers=sent)
    return response.status, await response.text()


async def test_a_decision_replayed_with_its_nonce_is_refused_and_changes_nothing(api: Harness) -> None:
    """POST /v1/repairs writes its nonce with the decision (gateway/api/riders.py): the same signed
    request again, alone or many at once, is 401 and writes nothing; a new nonce with the same
    Idempotency-Key is the idempotent replay."""
    record_id = await api.seed()
    raw = await api.signing_client(None)
    root = await _root(api)
    data = json.dumps(repair_body(record_id), ensure_ascii=False).encode()
    headers = sign_headers(root, "POST", "/v1/repairs", data)
    assert (await _post_signed(raw, headers, data, "once"))[0] == 202
    before = await api.snapshot()
    for status, _ in await asyncio.gather(*(_post_signed(raw, headers, data, "once") for _ in range(8))):
        assert status == 401
    assert await api.snapshot() == before
    again = sign_headers(root, "POST", "/v1/repairs", data)
    status, text = await _post_signed(raw, again, data, "once")
    assert status == 202 and json.loads(text)["record_id"] == record_id

    # Sent many times at once before any of them was stored: one is the decision, the rest 401.
    other = await api.seed(penalty_facts(document_number="兰环罚〔2026〕99号"), key="seed-2")
    data = json.dumps(repair_body(other), ensure_ascii=False).encode()
    headers = sign_headers(root, "POST", "/v1/repairs", data)
    answers = await asyncio.gather(*(_post_signed(raw, headers, data, f"burst-{n}") for n in range(8)))
    assert sorted(status for status, _ in answers) == [202] + [401] * 7
    repairs = await api.runtime.db.run(
        lambda tx: tx.all("SELECT count(*) AS n FROM repairs WHERE record_id = ?", (other,)), write=False
    )
    assert repairs[0]["n"] == 1


async def test_a_refused_decision_spends_its_nonce_too(api: Harness) -> None:
    """A decision refused before or by its unit (422 body, 409 transition) is not written with
    the decision, so the middleware stores its nonce: the same request later is 401, even once
    it would be valid."""
    record_id = await api.seed()
    raw = await api.signing_client(None)
    root = await _root(api)
    invalid = json.dumps(repair_body(record_id, action="fly"), ensure_ascii=False).encode()
    headers = sign_headers(root, "POST", "/v1/repairs", invalid)
    assert (await _post_signed(raw, headers, invalid, "bad"))[0] == 422
    assert (await _post_signed(raw, headers, invalid, "bad"))[0] == 401
    later = penalty_facts(document_number="兰环罚〔2026〕77号")
    repair = json.dumps(repair_body(later.record_id), ensure_ascii=False).encode()
    early = sign_headers(root, "POST", "/v1/repairs", repair)
    assert (await _post_signed(raw, early, repair, "early"))[0] == 404  # not known yet
    await api.seed(later, key="seed-later")
    assert (await api.post_repair(repair_body(record_id), key="repair")).status == 202
    before = await api.snapshot()
    assert (await _post_signed(raw, early, repair, "early"))[0] == 401  # now valid, but replayed
    assert await api.snapshot() == before
    audited = await api.runtime.db.run(
        lambda tx: tx.all("SELECT status FROM call_audit WHERE route = '/v1/repairs' ORDER BY id"), write=False
    )
    assert [row["status"] for row in audited] == [202]  # the accepted one only, once


async def test_a_decision_replayed_to_a_second_replica_is_refused(database_url: str) -> None:
    async with open_harness(database_url) as first, open_harness(database_url) as second:
        root = await _root(first)
        to_first, to_second = await first.signing_client(None), await second.signing_client(None)
        for n in range(4):
            facts = penalty_facts(document_number=f"兰环罚〔2026〕{n + 40}号")
            record_id = await first.seed(facts, key=f"seed-r{n}")
            data = json.dumps(repair_body(record_id), ensure_ascii=False).encode()
            headers = sign_headers(root, "POST", "/v1/repairs", data)
            sender, replayer = (to_first, to_second) if n % 2 == 0 else (to_second, to_first)
            assert (await _post_signed(sender, headers, data, f"r-{n}"))[0] == 202
            assert (await _post_signed(replayer, headers, data, f"r-{n}"))[0] == 401


async def test_rotation_keeps_both_secrets_until_the_old_one_is_retired(database_url: str) -> None:
    async with open_harness(database_url, client_cache_s=0) as api:
        old = await api.add_client("rotating")
        key = api.runtime.settings.secrets_key
        assert key is not None
        box = SecretBox.from_text(key.get_secret_value())
        secret_id, secret = await api.runtime.db.run(lambda tx: ClientStore(tx, box).rotate("rotating", now=NOW))
        new = Credentials(client_id="rotating", secret=secret)
        raw = await api.signing_client(None)
        assert (await raw.get("/v1/guidance", headers=sign_headers(old, "GET", "/v1/guidance"))).status == 200
        assert (await raw.get("/v1/guidance", headers=sign_headers(new, "GET", "/v1/guidance"))).status == 200
        await api.runtime.db.run(lambda tx: ClientStore(tx, box).retire("rotating", 1, now=NOW))
        assert (await raw.get("/v1/guidance", headers=sign_headers(old, "GET", "/v1/guidance"))).status == 401
        assert (await raw.get("/v1/guidance", headers=sign_headers(new, "GET", "/v1/guidance"))).status == 200
        await api.runtime.db.run(lambda tx: ClientStore(tx, box).revoke("rotating", now=NOW))
        assert (await raw.get("/v1/guidance", headers=sign_headers(new, "GET", "/v1/guidance"))).status == 401
        assert secret_id == 2


async def test_secrets_are_sealed_at_rest(api: Harness) -> None:
    credentials = await api.add_client("sealed")
    rows = await api.runtime.db.run(lambda tx: tx.all("SELECT * FROM client_secrets"), write=False)
    stored = json.dumps([dict(r) for r in rows], default=str)
    assert credentials.secret not in stored and credentials.secret[4:] not in stored


async def test_an_sm3_client_is_served(api: Harness) -> None:
    sm3 = await api.signing_client(await api.add_client("national", algorithm=HMAC_SM3))
    response = await sm3.get("/v1/guidance")
    assert response.status == 200


async def test_a_client_over_its_rate_gets_429_and_others_do_not(api: Harness) -> None:
    slow = await api.as_client("slow", rate_per_s=1, burst=2)
    statuses = [(await slow.get("/v1/guidance")).status for _ in range(3)]
    assert statuses[:2] == [200, 200] and statuses[2] == 429
    response = await slow.get("/v1/guidance")
    assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    assert (await error_of(response))["code"] == "rate_limited"
    assert (await api.client.get("/v1/guidance")).status == 200  # another client is not slowed


async def test_only_the_deciding_authority_may_decide(api: Harness) -> None:
    record_id = await api.seed()
    tax = await api.as_client("tax", scopes=[Scope.DECIDE, Scope.READ], authorities=[OTHER])
    before = await api.snapshot()
    response = await api.post_repair(repair_body(record_id), key="tax-1", client=tax)
    assert response.status == 403
    assert (await error_of(response))["code"] == "authority_denied"
    assert await api.snapshot() == before
    assert (await tax.get(f"/v1/records/{record_id}")).status == 403
    # The key stays usable for the client it belongs to (nothing was stored under it).
    owner = await api.as_client("env", scopes=[Scope.DECIDE], authorities=[OWNER], categories=["admin_penalty"])
    response = await api.post_repair(repair_body(record_id), key="tax-1", client=owner)
    assert response.status == 202, await response.text()


async def test_every_call_that_changes_state_is_audited_with_its_client(api: Harness) -> None:
    record_id = await api.seed()
    env = await api.as_client("env", scopes=[Scope.DECIDE, Scope.READ], authorities=[OWNER])
    assert (await api.post_repair(repair_body(record_id), key="a-1", client=env)).status == 202
    assert (await env.get(f"/v1/records/{record_id}")).status == 200
    rows = await api.runtime.db.run(
        lambda tx: tx.all("SELECT client_id, method, route, status FROM call_audit ORDER BY id"), write=False
    )
    assert [dict(r) for r in rows] == [{"client_id": "env", "method": "POST", "route": "/v1/repairs", "status": 202}]


async def test_failures_are_logged_with_their_reason_but_not_answered(
    api: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = await api.signing_client(None)
    root = await _root(api)
    headers = sign_headers(root, "GET", "/v1/guidance")
    headers["X-Signature"] = "0" * 64
    response = await raw.get("/v1/guidance", headers=headers)
    body = await error_of(response)
    assert "signature" not in body["message"].lower().replace("signing.md", "")
    assert "bad_signature" in capsys.readouterr().out
