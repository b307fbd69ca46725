"""API clients: who may call, with which secrets, for which authorities and categories.

A client is a calling system (an authority's system, the 全省信用修复协同系统, an operator
console). Its scopes say what it may do; `authorities` (统一社会信用代码 of deciding authorities)
and `categories` say over which records (谁认定、谁修复). `*` in either means all.

Secrets are random, shown once, and stored sealed with AES-256-GCM under the gateway's secrets
key (docs/adr/0017-client-secrets-sealed-at-rest.md): HMAC needs the secret itself on the
server, so a hash would not do; a stolen database without the key yields no usable secret.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.domain.categories import Category
from gateway.store.database import Database, Row, Tx, from_db_ts, to_db_ts


class Scope(StrEnum):
    """What a route needs (gateway/api/routes.py: one per route)."""

    PUBLIC = "public"  # probes, metrics, the OpenAPI document: no client at all
    DECIDE = "decide"  # POST /v1/repairs, for the client's authorities and categories
    CLASSIFY = "classify"  # classification of the client's authorities' records
    READ = "read"  # records, repairs, eligibility, notices of the client's authorities; guidance
    SUBJECTS = "subjects"  # every record of one subject, whoever decided it
    ADMIN_DLQ = "admin:dlq"  # dead letters: list, show, replay
    ADMIN_QUARANTINE = "admin:quarantine"
    ADMIN_RECONCILE = "admin:reconcile"
    ADMIN_CLIENTS = "admin:clients"


CLIENT_SCOPES = frozenset(Scope) - {Scope.PUBLIC}
ALL = "*"
MAX_ACTIVE_SECRETS = 2
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")
KEY_BYTES = 32


class ClientError(ValueError):
    """An operator's mistake about a client (unknown id, bad scope, …): one clear line."""


def valid_client_id(value: str) -> bool:
    return bool(_CLIENT_ID.match(value))


@dataclass(frozen=True, kw_only=True)
class Grant:
    """What one client may do; checked per request (gateway/api/auth.py)."""

    client_id: str
    scopes: frozenset[str] = frozenset()
    authorities: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    @property
    def source(self) -> str:
        """How decisions from this client are recorded (repairs.source)."""
        return f"api:{self.client_id}"

    def allows(self, scope: str) -> bool:
        return scope == Scope.PUBLIC or scope in self.scopes

    def speaks_for(self, authority_code: str) -> bool:
        return ALL in self.authorities or authority_code.upper() in self.authorities

    def covers(self, category: str) -> bool:
        return ALL in self.categories or category in self.categories

    def visible(self) -> tuple[list[str] | None, list[str] | None]:
        """The authorities and categories a list may show this client (None: every one), for the
        list queries to filter by, the way `speaks_for` and `covers` judge one record."""
        authorities = None if ALL in self.authorities else sorted(self.authorities)
        categories = None if ALL in self.categories else sorted(self.categories)
        return authorities, categories


@dataclass(frozen=True, kw_only=True)
class NonceUse:
    """A signed request's nonce, stored once it is used (the `nonces` table)."""

    client_id: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class CallAudit:
    """A `call_audit` row: a call that changed state (status 2xx, not GET/HEAD)."""

    client_id: str
    method: str
    route: str  # the route's template, never the raw path's ids as a key
    path: str
    request_id: str


@dataclass(frozen=True, kw_only=True)
class Client:
    client_id: str
    name: str
    grant: Grant
    cert_subject: str | None
    rate_per_s: int | None
    burst: int | None
    status: str
    created_at: datetime
    secrets: tuple[str, ...] = field(default=(), repr=False)  # the active ones, unsealed
    secret_ids: tuple[int, ...] = ()

    @property
    def active(self) -> bool:
        return self.status == "active"

    def summary(self) -> dict[str, object]:
        """For `clients list|show`: everything but the secrets."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "status": self.status,
            "scopes": sorted(self.grant.scopes),
            "authorities": sorted(self.grant.authorities),
            "categories": sorted(self.grant.categories),
            "cert_subject": self.cert_subject,
            "rate_per_s": self.rate_per_s,
            "burst": self.burst,
            "active_secrets": list(self.secret_ids),
            "created_at": self.created_at.isoformat(),
        }


class SecretBox:
    """AES-256-GCM under the gateway's secrets key; the client id and secret id are bound in as
    associated data, so a sealed secret copied onto another client or slot does not open."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ClientError(f"the secrets key must be {KEY_BYTES} bytes (base64), got {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except ValueError:
            raise ClientError("the secrets key is not base64") from None
        return cls(key)

    def seal(self, client_id: str, secret_id: int, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), f"{client_id}/{secret_id}".encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, client_id: str, secret_id: int, sealed: str) -> str:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], f"{client_id}/{secret_id}".encode()).decode()
        except InvalidTag:
            raise ClientError("a client secret does not open with this secrets key (wrong key?)") from None


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def new_secret() -> str:
    return "cgs_" + secrets.token_urlsafe(32)


def _scopes(values: Iterable[str]) -> frozenset[str]:
    out = frozenset(v.strip() for v in values if v.strip())
    unknown = sorted(out - CLIENT_SCOPES)
    if unknown:
        raise ClientError(f"unknown scope {unknown[0]!r}; one of {', '.join(sorted(CLIENT_SCOPES))}")
    return out


def _authorities(values: Iterable[str]) -> frozenset[str]:
    out = frozenset(v.strip().upper() for v in values if v.strip())
    bad = sorted(v for v in out if v != ALL and not _USCC.match(v))
    if bad:
        raise ClientError(f"not a 统一社会信用代码: {bad[0]!r}")
    return out


def _categories(values: Iterable[str]) -> frozenset[str]:
    out = frozenset(v.strip() for v in values if v.strip())
    known = {c.value for c in Category} | {ALL}
    bad = sorted(out - known)
    if bad:
        raise ClientError(f"unknown category {bad[0]!r}; one of {', '.join(sorted(known))}")
    return out


class ClientStore:
    """The statements about clients, secrets and nonces, inside one transaction."""

    def __init__(self, tx: Tx, box: SecretBox | None) -> None:
        self.tx = tx
        self.box = box

    def _box(self) -> SecretBox:
        if self.box is None:
            raise ClientError("no secrets key: set CREDITGW_SECRETS_KEY or CREDITGW_SECRETS_KEY_FILE")
        return self.box

    def _insert_secret(self, client_id: str, secret_id: int, now: datetime) -> str:
        secret = new_secret()
        self.tx.execute(
            "INSERT INTO client_secrets (client_id, secret_id, sealed, status, created_at)"
            " VALUES (?, ?, ?, 'active', ?)",
            (client_id, secret_id, self._box().seal(client_id, secret_id, secret), to_db_ts(now)),
        )
        return secret

    def add(
        self,
        client_id: str,
        *,
        name: str,
        scopes: Iterable[str],
        authorities: Iterable[str] = (),
        categories: Iterable[str] = (ALL,),
        cert_subject: str | None = None,
        rate_per_s: int | None = None,
        burst: int | None = None,
        now: datetime,
    ) -> str:
        """Create a client and its first secret; returns the secret (shown once)."""
        if not valid_client_id(client_id):
            raise ClientError("a client id is 1–64 of A-Z a-z 0-9 . _ -")
        if self.tx.one("SELECT 1 AS x FROM clients WHERE client_id = ?", (client_id,)) is not None:
            raise ClientError(f"client {client_id} exists")
        self._box()  # no key: refuse before writing anything
        self.tx.execute(
            "INSERT INTO clients (client_id, name, scopes, authorities, categories, cert_subject, rate_per_s, burst,"
            " status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
            (
                client_id,
                name,
                json.dumps(sorted(_scopes(scopes))),
                json.dumps(sorted(_authorities(authorities))),
                json.dumps(sorted(_categories(categories))),
                cert_subject,
                rate_per_s,
                burst,
                to_db_ts(now),
                to_db_ts(now),
            ),
        )
        return self._insert_secret(client_id, 1, now)

    def _require(self, client_id: str) -> Row:
        row = self.tx.one("SELECT * FROM clients WHERE client_id = ?", (client_id,))
        if row is None:
            raise ClientError(f"no client {client_id}")
        return row

    def rotate(self, client_id: str, *, now: datetime, retire: int | None = None) -> tuple[int, str]:
        """A new secret beside the current one (both work until the older is retired); with two
        active already, the older is retired first (or `retire` names which)."""
        self._require(client_id)
        self._box()  # no key: refuse before writing anything
        active = [
            int(r["secret_id"])
            for r in self.tx.all(
                "SELECT secret_id FROM client_secrets WHERE client_id = ? AND status = 'active' ORDER BY secret_id",
                (client_id,),
            )
        ]
        if retire is not None and retire not in active:
            raise ClientError(f"client {client_id} has no active secret {retire}")
        if retire is None and len(active) >= MAX_ACTIVE_SECRETS:
            retire = active[0]
        if retire is not None:
            self.retire(client_id, retire, now=now)
        next_id = int(self.tx.scalar("SELECT MAX(secret_id) FROM client_secrets WHERE client_id = ?", (client_id,)))
        secret = self._insert_secret(client_id, next_id + 1, now)
        self._touch(client_id, now)
        return next_id + 1, secret

    def retire(self, client_id: str, secret_id: int, *, now: datetime) -> None:
        changed = self.tx.execute(
            "UPDATE client_secrets SET status = 'retired', retired_at = ? WHERE client_id = ? AND secret_id = ?"
            " AND status = 'active'",
            (to_db_ts(now), client_id, secret_id),
        )
        if not changed:
            raise ClientError(f"client {client_id} has no active secret {secret_id}")
        self._touch(client_id, now)

    def revoke(self, client_id: str, *, now: datetime) -> None:
        self._require(client_id)
        self.tx.execute(
            "UPDATE clients SET status = 'revoked', updated_at = ? WHERE client_id = ?", (to_db_ts(now), client_id)
        )
        self.tx.execute(
            "UPDATE client_secrets SET status = 'retired', retired_at = ? WHERE client_id = ? AND status = 'active'",
            (to_db_ts(now), client_id),
        )

    def set_scopes(
        self,
        client_id: str,
        *,
        now: datetime,
        scopes: Iterable[str] | None = None,
        authorities: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
    ) -> None:
        self._require(client_id)
        for column, values, check in (
            ("scopes", scopes, _scopes),
            ("authorities", authorities, _authorities),
            ("categories", categories, _categories),
        ):
            if values is not None:
                self.tx.execute(
                    f"UPDATE clients SET {column} = ? WHERE client_id = ?",  # column from the tuple above
                    (json.dumps(sorted(check(values))), client_id),
                )
        self._touch(client_id, now)

    def _touch(self, client_id: str, now: datetime) -> None:
        self.tx.execute("UPDATE clients SET updated_at = ? WHERE client_id = ?", (to_db_ts(now), client_id))

    def list(self) -> list[Client]:
        rows = self.tx.all("SELECT * FROM clients ORDER BY client_id")
        return [self._client(row, unseal=False) for row in rows]

    def get(self, client_id: str, *, unseal: bool = False) -> Client | None:
        row = self.tx.one("SELECT * FROM clients WHERE client_id = ?", (client_id,))
        return None if row is None else self._client(row, unseal=unseal)

    def by_cert_subject(self, subject: str) -> Client | None:
        row = self.tx.one("SELECT * FROM clients WHERE cert_subject = ?", (subject,))
        return None if row is None else self._client(row, unseal=False)

    def _client(self, row: Row, *, unseal: bool) -> Client:
        client_id = row["client_id"]
        sealed = self.tx.all(
            "SELECT secret_id, sealed FROM client_secrets WHERE client_id = ? AND status = 'active' ORDER BY secret_id",
            (client_id,),
        )
        opened: tuple[str, ...] = ()
        if unseal and sealed:
            box = self._box()
            opened = tuple(box.open(client_id, int(s["secret_id"]), s["sealed"]) for s in sealed)
        created = from_db_ts(row["created_at"])
        assert created is not None
        return Client(
            client_id=client_id,
            name=row["name"],
            grant=Grant(
                client_id=client_id,
                scopes=frozenset(json.loads(row["scopes"])),
                authorities=frozenset(json.loads(row["authorities"])),
                categories=frozenset(json.loads(row["categories"])),
            ),
            cert_subject=row["cert_subject"],
            rate_per_s=row["rate_per_s"],
            burst=row["burst"],
            status=row["status"],
            created_at=created,
            secrets=opened,
            secret_ids=tuple(int(s["secret_id"]) for s in sealed),
        )

    # ---- nonces ----------------------------------------------------------------------------

    def used_nonces(self, client_id: str, nonces: Sequence[str]) -> set[str]:
        """Which of these nonces this client has used (one primary-key probe each)."""
        if not nonces:
            return set()
        if self.tx.dialect.name == "postgresql":  # one statement text, one array (as Repo._in)
            rows = self.tx.all(
                "SELECT nonce FROM nonces WHERE client_id = ? AND nonce = ANY(?)", (client_id, list(nonces))
            )
        else:
            marks = ", ".join("?" * len(nonces))
            rows = self.tx.all(
                f"SELECT nonce FROM nonces WHERE client_id = ? AND nonce IN ({marks})", (client_id, *nonces)
            )
        return {row["nonce"] for row in rows}

    def use_nonces(self, uses: Sequence[NonceUse]) -> None:
        """Raises UniqueViolation when one was used already (on any replica)."""
        if uses:
            self.tx.executemany(
                "INSERT INTO nonces (client_id, nonce, expires_at) VALUES (?, ?, ?)",
                [(use.client_id, use.nonce, to_db_ts(use.expires_at)) for use in uses],
            )

    def purge_nonces(self, now: datetime) -> int:
        return self.tx.execute("DELETE FROM nonces WHERE expires_at < ?", (to_db_ts(now),))

    def audit_calls(self, calls: Sequence[tuple[CallAudit, int]], at: datetime) -> None:
        """Calls answered with these statuses at `at`."""
        if calls:
            self.tx.executemany(
                "INSERT INTO call_audit (at, client_id, method, route, path, status, request_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(to_db_ts(at), c.client_id, c.method, c.route, c.path, status, c.request_id) for c, status in calls],
            )


async def add_sandbox_client(
    db: Database,
    secrets_key: str,
    *,
    prefix: str = "sandbox",
    scopes: Iterable[str] = CLIENT_SCOPES,
    authorities: Iterable[str] = (ALL,),
    rate_per_s: int | None = None,
    burst: int | None = None,
    now: datetime,
) -> tuple[str, str]:
    """A client for the demo and `serve --simulate` (never for production): a fresh id each run,
    so a kept database's older sandbox clients (sealed under another key) stay out of the way."""
    client_id = f"{prefix}-{secrets.token_hex(4)}"
    box = SecretBox.from_text(secrets_key)
    secret = await db.run(
        lambda tx: ClientStore(tx, box).add(
            client_id,
            name="sandbox (demo only)",
            scopes=scopes,
            authorities=authorities,
            rate_per_s=rate_per_s,
            burst=burst,
            now=now,
        )
    )
    return client_id, secret
