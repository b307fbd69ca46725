"""Who is calling: the seam where signed requests and per-client scopes will plug in.

For now the client names itself with `X-Client-Id`. Idempotency keys are scoped by this identity
and decisions are recorded with source `api:<client>`. When HMAC-signed requests arrive
(DESIGN.md §7) only the authenticator changes — `create_app(..., authenticator=…)` or a new
`authenticate` — it verifies the signature and returns the identity with its scopes; nothing
downstream reads the header.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from gateway.api.errors import ApiError, Handler

CLIENT_HEADER = "X-Client-Id"
ANONYMOUS = "anonymous"
# Client ids end up in log lines, idempotency keys and the repairs.source column: keep them plain.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, kw_only=True)
class ClientIdentity:
    client_id: str

    @property
    def source(self) -> str:
        """How decisions from this client are recorded (repairs.source, audit actor context)."""
        return f"api:{self.client_id}"


Authenticator = Callable[[web.Request], ClientIdentity]

AUTHENTICATOR = web.AppKey[Authenticator]("authenticator")
CLIENT = web.RequestKey("client", ClientIdentity)


def authenticate(request: web.Request) -> ClientIdentity:
    raw = request.headers.get(CLIENT_HEADER)
    if raw is None:
        return ClientIdentity(client_id=ANONYMOUS)
    if not _CLIENT_ID.match(raw):
        raise ApiError(400, "invalid_client_id", "X-Client-Id must be 1–64 of A-Z a-z 0-9 . _ -", field=CLIENT_HEADER)
    return ClientIdentity(client_id=raw)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    identity = request.app[AUTHENTICATOR](request)
    request[CLIENT] = identity
    structlog.contextvars.bind_contextvars(client=identity.client_id)
    return await handler(request)
