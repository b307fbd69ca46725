"""Shared harness for the API tests: a Runtime on a real database (the `database_url` fixture runs
each test on SQLite and on PostgreSQL), the app served on 127.0.0.1, and helpers to seed records,
make dead letters and snapshot the database. No test lives here.

Every request of `Harness.client` is signed (docs/signing.md) as the harness's own client, which
holds every scope for every authority (`ROOT`); `Harness.as_client(...)` makes a client with given
scopes and authorities and returns a `SigningClient` that signs as it."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from yarl import URL

from gateway.api.app import create_app
from gateway.clients import ALL, CLIENT_SCOPES, ClientStore, SecretBox, new_key
from gateway.domain.model import PUBLISHED, RecordFacts, TargetState
from gateway.domain.plan import Observation, Policy
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.signing import Credentials, sign_headers
from gateway.store.database import Tx, open_database
from gateway.store.migrate import migrate
from gateway.store.repo import Repo
from gateway.sync.ingest import apply_event
from tests.conftest import T0, penalty_facts

CC, GS = "creditchina_gansu", "gsxt_gansu"
NOW = T0 + timedelta(days=1)  # the runtime's clock: decisions must not be dated after it
LEASE = timedelta(seconds=30)
SUBJECT = "91620102MA72ABCD94"  # penalty_facts()' subject
TABLES = (
    *("records", "links", "inbox", "outbox", "repairs", "repair_targets", "audit", "idempotency"),
    # 0009: a refused call changes no client either (a signed one spends its nonce, by design)
    *("clients", "client_secrets", "call_audit"),
)
ROOT = "harness"  # the harness's client: every scope, every authority, every category
# One secrets key for the test process, and the root client's credentials per database, so two
# harnesses on one database (two replicas) open each other's clients as real replicas do.
SECRETS_KEY = new_key()
_ROOTS: dict[str, Credentials] = {}


class SigningClient(TestClient[Any, Any]):
    """A TestClient that signs every request it sends with `credentials` (None: unsigned).
    `data` (str or bytes) or `json`, and `params`, are turned into the exact bytes and URL signed."""

    credentials: Credentials | None = None

    async def _request(self, method: str, path: Any, **kwargs: Any) -> ClientResponse:
        if self.credentials is None:
            return await super()._request(method, path, **kwargs)
        url = URL(str(path))
        params = kwargs.pop("params", None)
        if params:
            url = url.update_query(params)
        headers = dict(kwargs.pop("headers", None) or {})
        if "json" in kwargs:
            kwargs["data"] = json.dumps(kwargs.pop("json"), ensure_ascii=False)
            headers.setdefault("Content-Type", "application/json")
        data = kwargs.get("data")
        if isinstance(data, str):
            kwargs["data"] = data = data.encode()
        # A streamed body (an async generator) cannot be signed before it is sent: signed as
        # empty, it is refused, as it should be, whichever check meets it first.
        body = data if isinstance(data, bytes) else b""
        signed = sign_headers(self.credentials, method, str(url), body)
        # A test may set a signing header itself (to tamper with it): its value wins.
        kwargs["headers"] = {**signed, **headers}
        return await super()._request(method, url, **kwargs)


def repair_body(record_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "record": {"record_id": record_id},
        "action": "repair",
        "decided_at": (T0 + timedelta(hours=2)).isoformat(),
        "decided_by": "兰州市生态环境局",
    }
    body.update(overrides)
    return body


@dataclass
class Harness:
    runtime: Runtime
    client: SigningClient
    clients: list[SigningClient]

    async def add_client(
        self,
        client_id: str,
        *,
        scopes: Iterable[str] = CLIENT_SCOPES,
        authorities: Iterable[str] = (ALL,),
        categories: Iterable[str] = (ALL,),
        algorithm: str = "HMAC-SHA256",
        **options: Any,
    ) -> Credentials:
        """A client in the database (as `creditgw clients add` makes it) and its credentials."""
        key = self.runtime.settings.secrets_key
        assert key is not None
        box = SecretBox.from_text(key.get_secret_value())
        secret = await self.runtime.db.run(
            lambda tx: ClientStore(tx, box).add(
                client_id,
                name=client_id,
                scopes=scopes,
                authorities=authorities,
                categories=categories,
                now=NOW,
                **options,
            )
        )
        return Credentials(client_id=client_id, secret=secret, algorithm=algorithm)

    async def as_client(self, client_id: str, **grant: Any) -> SigningClient:
        """A second HTTP client on the same server, signing as a new client with this grant."""
        return await self.signing_client(await self.add_client(client_id, **grant))

    async def signing_client(self, credentials: Credentials | None) -> SigningClient:
        client = SigningClient(self.client.server)
        client.credentials = credentials
        self.clients.append(client)
        return client

    async def seed(
        self, facts: RecordFacts | None = None, *, target: TargetState = PUBLISHED, key: str = "seed-1"
    ) -> str:
        """A record as its owner's change feed (信用中国) reports it: version 1, published."""
        facts = facts or penalty_facts()
        event = Observation(
            source=CC, facts=facts, target=target, changed_at=T0, source_version="000001", native_id="CC-1"
        )
        policy = self.runtime.policy
        await self.runtime.db.run(lambda tx: apply_event(tx, event, source=CC, change_key=key, policy=policy, now=T0))
        return facts.record_id

    async def dead_letter(self, target: str = GS, *, at: datetime = NOW) -> int:
        """Claim the pending delivery to `target` and let it die, as the dispatcher would."""

        def _kill(tx: Tx) -> int:
            repo = Repo(tx)
            claimed = [i for i in repo.claim(at, 50, "worker-1", at + LEASE) if i.target == target]
            assert claimed, f"nothing pending for {target}"
            context = {"message": "rejected: 03 字段校验失败", "status": 200, "code": "03", "attempts": 1}
            assert repo.dead_letter(claimed[0], "worker-1", context, at)
            return claimed[0].id

        return await self.runtime.db.run(_kill)

    async def snapshot(self) -> dict[str, Any]:
        """Row counts plus the state of every record and outbox row: equal snapshots mean the
        request wrote nothing."""

        def _read(tx: Tx) -> dict[str, Any]:
            repo = Repo(tx)
            return {
                "counts": {table: repo.count(table) for table in TABLES},
                "records": tx.all("SELECT record_id, status, reason, version FROM records ORDER BY record_id"),
                "outbox": tx.all("SELECT id, status, version, replays, attempts FROM outbox ORDER BY id"),
            }

        return await self.runtime.db.run(_read, write=False)

    async def count(self, table: str) -> int:
        return await self.runtime.db.run(lambda tx: Repo(tx).count(table), write=False)

    async def post_repair(
        self, body: Mapping[str, Any], *, key: str | None = "k-1", client: SigningClient | None = None
    ) -> ClientResponse:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        sender = client or self.client
        return await sender.post("/v1/repairs", data=json.dumps(body, ensure_ascii=False), headers=headers)


@asynccontextmanager
async def open_harness(database_url: str, **settings: Any) -> AsyncIterator[Harness]:
    db = open_database(database_url)
    await migrate(db)
    settings.setdefault("secrets_key", SecretStr(SECRETS_KEY))
    runtime = Runtime(
        Settings(database_url=database_url, systems=[CC, GS], **settings),
        db,
        connectors={},
        clock=lambda: NOW,
    )
    # No connectors (nothing is delivered in these tests), but both publicity systems are enabled
    # so that decisions fan out to them as in production.
    runtime.policy = Policy(enabled_systems=frozenset({CC, GS}))
    client = SigningClient(TestServer(create_app(runtime)))
    await client.start_server()
    harness = Harness(runtime=runtime, client=client, clients=[])
    try:
        if database_url not in _ROOTS:
            _ROOTS[database_url] = await harness.add_client(ROOT)
        client.credentials = _ROOTS[database_url]
        yield harness
    finally:
        for other in harness.clients:
            await other.session.close()  # their sessions only: the server is the first client's
        await client.close()
        await runtime.close()


async def root_client(runtime: Runtime) -> SigningClient:
    """A started client of `runtime`'s API that signs as a client with every scope, authority and
    category, for tests of other things than authorisation (the runtime's settings need a secrets
    key: `fast_settings` and `open_harness` set one)."""
    key = runtime.settings.secrets_key
    assert key is not None, "the runtime has no secrets key"
    box = SecretBox.from_text(key.get_secret_value())
    client_id = f"{ROOT}-{secrets.token_hex(4)}"
    secret = await runtime.db.run(
        lambda tx: ClientStore(tx, box).add(
            client_id, name=ROOT, scopes=CLIENT_SCOPES, authorities=(ALL,), categories=(ALL,), now=NOW
        )
    )
    client = SigningClient(TestServer(create_app(runtime)))
    client.credentials = Credentials(client_id=client_id, secret=secret)
    await client.start_server()
    return client


async def error_of(response: ClientResponse) -> dict[str, Any]:
    """The body of an error response, after checking it has exactly the error shape."""
    assert response.content_type == "application/json", response.content_type
    body = await response.json()
    assert isinstance(body, dict) and set(body) == {"code", "message", "field"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in body["message"]
    return body
