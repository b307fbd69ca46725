"""Who is calling, and may they: signed requests, client certificates, scopes, rate limits.

Every route names its scope in the route table (gateway/api/routes.py). For any scope but
`public` the middleware, before the handler runs:

1. authenticates — the signature (docs/signing.md) over method, path, canonical query,
   timestamp, nonce and body digest, with one of the client's (at most two) active secrets,
   the timestamp inside the window, the nonce never seen for this client (the `nonces` table,
   so a replay to another replica sharing the database fails too); with mTLS, the certificate's
   subject must name the same client. Any failure is 401 `unauthorized` with nothing more:
   which part failed is logged and counted (creditgw_auth_failures_total{reason}), never answered;
2. limits the rate per client (token bucket in each replica; 429 with Retry-After);
3. checks the route's scope (403 `scope_denied`). Handlers that touch a record then check the
   record's deciding authority and category (`require_record`: 403 `authority_denied` /
   `category_denied`), before any write, so a refusal changes nothing.

Calls that changed state (2xx on anything but GET/HEAD) are written to `call_audit` with the client.
On routes marked `riders` (POST /v1/repairs) the nonce and the audit row are written in the
decision's own unit instead (gateway/api/riders.py), and by the middleware only where the request
never reached that unit.

Routes marked `presigned` in the route table (the reconciliation report pages) also accept, in
place of the signature headers, a link the gateway minted (docs/adr/0023-presigned-report-links.md):
read-only, for one run, short-lived, checked against the client's current secrets, status and
scopes on every use; steps 2 and 3 and the handlers' visibility rules are the same.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiohttp import web
from cryptography import x509

from gateway import signing
from gateway.api.errors import ApiError, Handler
from gateway.api.riders import NonceReplayed, Riders
from gateway.clients import (
    CallAudit,
    Client,
    ClientError,
    ClientStore,
    Grant,
    NonceUse,
    Scope,
    SecretBox,
    valid_client_id,
)
from gateway.domain.model import RecordFacts
from gateway.observability import AUTH_FAILURES, RATE_LIMITED, get_logger
from gateway.runtime import Runtime
from gateway.store.database import Tx, UniqueViolation
from gateway.store.group import GroupCommitter

log = get_logger("creditgw.api.auth")

CLIENT_HEADER = signing.CLIENT_HEADER
ClientIdentity = Grant  # what handlers read under request[CLIENT]

CLIENT = web.RequestKey("client", Grant)
# The presigned link a request came with (its query parameters), for the page to link onwards with.
LINK = web.RequestKey("link", dict)
ROUTE_SCOPES = web.AppKey[dict[str, str]]("route_scopes")
PRESIGNED_ROUTES = web.AppKey[frozenset[str]]("presigned_routes")
# Routes whose handler writes the nonce and the audit row in its own unit (gateway/api/riders.py).
RIDING_ROUTES = web.AppKey[frozenset[str]]("riding_routes")
RIDERS = web.RequestKey("riders", Riders)
LINK_DEFAULT_TTL_S = 900  # 15 minutes: long enough to read a report, short enough to leak little
LINK_MAX_TTL_S = 3600
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_NONCE_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.")
_PURGE_EVERY = 1000  # nonce inserts between purges of expired nonces (per replica)
# Callers name arbitrary client ids: the cache of lookups (unknown ones too) is bounded.
_CACHE_LIMIT = 10_000


class Unauthorized(Exception):
    """Authentication failed; `reason` is for the log and the metric, never for the caller."""

    def __init__(self, reason: str, client_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.client_id = client_id


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "the request is not authenticated (see docs/signing.md)",
        headers={"WWW-Authenticate": f"{signing.SCHEME}-{signing.HMAC_SHA256}"},
    )


def require_record(grant: Grant, facts: RecordFacts) -> None:
    """谁认定、谁修复: a client acts on (and reads) only the records of the authorities it speaks
    for, in its categories. Call after the record is found and before anything is written."""
    if not grant.speaks_for(facts.authority_code):
        raise ApiError(
            403,
            "authority_denied",
            "this client does not speak for the authority that decided the record",
            field="record",
        )
    if not grant.covers(facts.category.value):
        raise ApiError(403, "category_denied", "this client may not act on records of this category", field="record")


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Gatekeeper:
    """Per app: the client cache, the rate buckets and the checks above."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        key = self.settings.secrets_key
        self.box = SecretBox.from_text(key.get_secret_value()) if key is not None else None
        self._clients: dict[str, tuple[float, Client | None]] = {}
        self._subjects: dict[str, tuple[float, Client | None]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._nonces = 0
        # Its own committer: a nonce check must not queue behind a slow batch of decisions (and
        # concurrent requests' nonces still share one commit).
        self.nonce_committer = GroupCommitter(
            runtime.db, max_batch=256, parallel=runtime.settings.group_commit_parallel
        )

    async def close(self) -> None:
        await self.nonce_committer.close()

    async def client(self, client_id: str) -> Client | None:
        """The client with its active secrets, trusted for client_cache_s (a revocation reaches
        every replica within that time)."""
        now = time.monotonic()
        cached = self._clients.get(client_id)
        if cached is not None and now - cached[0] < self.settings.client_cache_s:
            return cached[1]
        try:
            found = await self.runtime.db.run(
                lambda tx: ClientStore(tx, self.box).get(client_id, unseal=True), write=False
            )
        except ClientError:
            log.error("client_secret_unreadable", client=client_id)  # wrong or missing secrets key
            found = None
        if len(self._clients) >= _CACHE_LIMIT:
            self._clients.clear()
        self._clients[client_id] = (now, found)
        return found

    async def client_by_subject(self, subject: str) -> Client | None:
        now = time.monotonic()
        cached = self._subjects.get(subject)
        if cached is not None and now - cached[0] < self.settings.client_cache_s:
            return cached[1]
        found = await self.runtime.db.run(lambda tx: ClientStore(tx, None).by_cert_subject(subject), write=False)
        if len(self._subjects) >= _CACHE_LIMIT:
            self._subjects.clear()
        self._subjects[subject] = (now, found)
        return found

    async def authenticate(self, request: web.Request) -> tuple[Client, NonceUse | None]:
        """The calling client, and the nonce its signature carried, still to be stored (`use_nonce`
        or with the decision, gateway/api/riders.py); None when signatures are off."""
        certified = await self._certificate_client(request)
        if not self.settings.require_signature:
            # Identity from the certificate, else the (unsigned, trusted) X-Client-Id header.
            if certified is not None:
                return certified, None
            claimed = request.headers.get(CLIENT_HEADER, "")
            client = await self.client(claimed) if valid_client_id(claimed) else None
            if client is None or not client.active:
                raise Unauthorized("unknown_client", claimed or None)
            return client, None
        client, nonce = await self._verify_signature(request)
        if certified is not None and certified.client_id != client.client_id:
            raise Unauthorized("certificate_mismatch", client.client_id)
        return client, nonce

    async def authenticate_link(self, request: web.Request) -> tuple[Client, dict[str, str]]:
        """A presigned link in the query (its parameters are returned, to link onwards with)."""
        certified = await self._certificate_client(request)
        query = request.query
        if any(len(query.getall(name, [])) != 1 for name in signing.LINK_PARAMETERS):
            raise Unauthorized("missing_link_parameters")
        link = {name: query[name] for name in signing.LINK_PARAMETERS}
        client_id, expires, algorithm, given = (link[name] for name in signing.LINK_PARAMETERS)
        if not valid_client_id(client_id):
            raise Unauthorized("bad_client_id")
        if algorithm not in signing.ALGORITHMS:
            raise Unauthorized("bad_algorithm", client_id)
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            raise Unauthorized("bad_link_expiry", client_id)
        left = int(expires) - time.time()
        if left < 0:
            raise Unauthorized("expired_link", client_id)
        if left > LINK_MAX_TTL_S:  # minted by hand for longer than the gateway ever would
            raise Unauthorized("link_too_long", client_id)
        client = await self.client(client_id)
        if client is None or not client.active or not client.secrets:
            raise Unauthorized("unknown_client", client_id)
        text = signing.link_string_to_sign(
            algorithm=algorithm, client_id=client_id, resource=link_resource(request), expires=int(expires)
        )
        matched = [signing.matches(signing.signature(secret, text, algorithm), given) for secret in client.secrets]
        if not any(matched):
            raise Unauthorized("bad_link_signature", client_id)
        if certified is not None and certified.client_id != client.client_id:
            raise Unauthorized("certificate_mismatch", client.client_id)
        return client, link

    async def mint_link(self, client_id: str, resource: str, *, expires: int, algorithm: str) -> dict[str, str]:
        """A link to `resource` for this client, under its newest active secret."""
        client = await self.client(client_id)
        if client is None or not client.active or not client.secrets:
            raise ApiError(403, "client_inactive", "this client has no active secret to sign a link with")
        credentials = signing.Credentials(client_id=client_id, secret=client.secrets[-1], algorithm=algorithm)
        return signing.presign(credentials, resource, expires)

    async def _certificate_client(self, request: web.Request) -> Client | None:
        if self.settings.tls_client_ca_file is None or request.transport is None:
            return None
        ssl_object = request.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            raise Unauthorized("no_certificate")
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        client = await self.client_by_subject(subject)
        if client is None or not client.active:
            raise Unauthorized("unknown_certificate")
        return client

    async def _verify_signature(self, request: web.Request) -> tuple[Client, NonceUse]:
        headers = request.headers
        values = [headers.get(name) for name in signing.SIGNED_HEADERS]
        client_id, timestamp, nonce, algorithm, given = values
        if client_id is None or timestamp is None or nonce is None or algorithm is None or given is None:
            raise Unauthorized("missing_headers", client_id)
        if not valid_client_id(client_id):
            raise Unauthorized("bad_client_id")
        if algorithm not in signing.ALGORITHMS:
            raise Unauthorized("bad_algorithm", client_id)
        if not (8 <= len(nonce) <= 64 and set(nonce) <= _NONCE_CHARS):
            raise Unauthorized("bad_nonce", client_id)
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise Unauthorized("bad_timestamp", client_id)
        skew = int(timestamp) - time.time()
        window = self.settings.signature_window_s
        if skew < -window:
            raise Unauthorized("expired_timestamp", client_id)
        if skew > window:
            raise Unauthorized("future_timestamp", client_id)
        client = await self.client(client_id)
        if client is None or not client.active or not client.secrets:
            raise Unauthorized("unknown_client", client_id)
        body = await request.read() if request.body_exists else b""
        text = signing.string_to_sign(
            algorithm=algorithm,
            client_id=client_id,
            method=request.method,
            path=request.rel_url.raw_path,
            query=request.rel_url.raw_query_string,
            timestamp=timestamp,
            nonce=nonce,
            body=body,
        )
        # Every active secret is tried (two during a rotation), and all of them always, so the
        # time taken does not say which one matched.
        matched = [signing.matches(signing.signature(secret, text, algorithm), given) for secret in client.secrets]
        if not any(matched):
            raise Unauthorized("bad_signature", client_id)
        expires_at = datetime.fromtimestamp(int(timestamp) + window, UTC)
        return client, NonceUse(client_id=client_id, nonce=nonce, expires_at=expires_at)

    def _purge_due(self) -> bool:
        """Every _PURGE_EVERY nonces this replica stores, expired ones are deleted with it."""
        self._nonces += 1
        return self._nonces % _PURGE_EVERY == 0

    async def use_nonce(self, nonce: NonceUse) -> None:
        """Stored in the shared database (through the group committer, so concurrent requests
        share one commit): its primary key makes a second use fail on any replica."""
        await self.settle(nonce, None, purge=self._purge_due())

    def riders(self, request: web.Request, client_id: str, nonce: NonceUse | None, route: str) -> Riders:
        """The nonce and audit row a riding route's unit writes (gateway/api/riders.py)."""
        purge = nonce is not None and self._purge_due()
        return Riders(client_id=client_id, nonce=nonce, audit=call_audit(request, client_id, route), purge_nonces=purge)

    async def settle(self, nonce: NonceUse | None, answered: tuple[CallAudit, int] | None, *, purge: bool) -> None:
        """Store a nonce and/or an audit row in one unit of their own; a used nonce raises
        Unauthorized (`replayed_nonce`)."""

        def unit(tx: Tx) -> None:
            store = ClientStore(tx, None)
            store.use_nonces([nonce] if nonce is not None else [])
            store.audit_calls([answered] if answered is not None else [], datetime.now(UTC))
            if purge:
                store.purge_nonces(datetime.now(UTC))

        try:
            await self.nonce_committer.submit(unit)
        except UniqueViolation:
            raise Unauthorized("replayed_nonce", nonce.client_id if nonce else None) from None

    def throttle(self, client: Client) -> None:
        rate = client.rate_per_s or self.settings.rate_per_s
        burst = client.burst or self.settings.rate_burst
        now = time.monotonic()
        bucket = self._buckets.get(client.client_id)
        if bucket is None or bucket.rate != rate or bucket.burst != burst:
            bucket = self._buckets[client.client_id] = TokenBucket(rate=rate, burst=burst, tokens=burst, at=now)
        wait = bucket.take(now)
        if wait > 0:
            RATE_LIMITED.inc()
            raise ApiError(
                429,
                "rate_limited",
                "too many requests from this client; retry after the time in Retry-After",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    async def settle_riders(self, riders: Riders, status: int | None) -> None:
        """What a riding route's unit did not write (it was never reached, or refused): the
        nonce, and the audit row of a 2xx answer."""
        if riders.written:
            return
        answered = (riders.audit, status) if status is not None and 200 <= status < 300 else None
        await self.settle(riders.nonce, answered, purge=riders.purge_nonces)
        riders.written = True


GATEKEEPER = web.AppKey("gatekeeper", Gatekeeper)


def call_audit(request: web.Request, client_id: str, route: str) -> CallAudit:
    request_id = str(structlog.contextvars.get_contextvars().get("request_id", ""))
    return CallAudit(
        client_id=client_id, method=request.method, route=route, path=request.rel_url.raw_path, request_id=request_id
    )


def link_resource(request: web.Request) -> str:
    """What a presigned link opens: every presigned route is under one reconciliation run."""
    return f"reconciliation/{request.match_info.get('id', '')}"


async def close_gatekeeper(app: web.Application) -> None:
    await app[GATEKEEPER].close()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    scope = request.app[ROUTE_SCOPES].get(route.name or "") if route.name else None
    if scope is None or scope == Scope.PUBLIC:
        return await handler(request)  # probes, or no such route (the router's 404/405)
    gatekeeper = request.app[GATEKEEPER]
    presigned = (
        route.name in request.app[PRESIGNED_ROUTES]
        and signing.SIGNATURE_HEADER not in request.headers
        and signing.LINK_SIGNATURE in request.query
        and request.method in _SAFE_METHODS
    )
    nonce: NonceUse | None = None
    try:
        if presigned:
            client, link = await gatekeeper.authenticate_link(request)
            request[LINK] = link
        else:
            client, nonce = await gatekeeper.authenticate(request)
    except Unauthorized as exc:
        raise _refused(exc) from None
    structlog.contextvars.bind_contextvars(client=client.client_id)
    gatekeeper.throttle(client)
    if not client.grant.allows(scope):
        raise ApiError(403, "scope_denied", f"this client lacks the scope {scope!r} this route needs")
    request[CLIENT] = client.grant
    template = route.resource.canonical if route.resource is not None else request.path
    if route.name in request.app[RIDING_ROUTES] and request.method not in _SAFE_METHODS:
        return await _riding(request, handler, gatekeeper.riders(request, client.client_id, nonce, template))
    try:
        if nonce is not None:
            await gatekeeper.use_nonce(nonce)
        response = await handler(request)
        if request.method not in _SAFE_METHODS and 200 <= response.status < 300:
            answered = (call_audit(request, client.client_id, template), response.status)
            await gatekeeper.settle(None, answered, purge=False)
    except Unauthorized as exc:
        raise _refused(exc) from None
    return response


async def _riding(request: web.Request, handler: Handler, riders: Riders) -> web.StreamResponse:
    """A riding route: its unit writes nonce and audit row; what it did not, is written here."""
    gatekeeper = request.app[GATEKEEPER]
    request[RIDERS] = riders
    try:
        try:
            response = await handler(request)
        except NonceReplayed as exc:
            raise Unauthorized("replayed_nonce", exc.client_id) from None
        except Exception:
            await gatekeeper.settle_riders(riders, None)  # a replayed nonce answers 401, not the error
            raise
        await gatekeeper.settle_riders(riders, response.status)
    except Unauthorized as exc:
        raise _refused(exc) from None
    return response


def _refused(exc: Unauthorized) -> ApiError:
    AUTH_FAILURES.labels(exc.reason).inc()
    log.warning("auth_failed", reason=exc.reason, claimed_client=exc.client_id)
    return unauthorized()
