"""The one client of the gateway's HTTP API used by the crash-and-race harness (bench/crash.py).

Every API call of the harness goes through `GatewayClient.call`: the single place that builds a
request's headers (signed as docs/signing.md says) and the single place that
turns "no answer" (connection refused while `serve` is down, a reset by a kill) into `Answer.status
None` instead of an exception. The base URL can change between calls (a restarted `serve` gets a
fresh port), so it is read per call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.signing import Credentials, sign_headers

REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True, kw_only=True)
class Answer:
    status: int | None  # None: no answer (refused, reset, timed out)
    body: bytes
    replayed: bool = False
    error: str = ""  # why there was no answer
    retry_after_s: float | None = None  # the Retry-After header of a refusal (429, 503)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        """The `code` of a JSON error answer, else ""."""
        try:
            parsed = self.json()
        except ValueError:
            return ""
        return str(parsed.get("code", "")) if isinstance(parsed, dict) else ""


class GatewayClient:
    def __init__(self, session: aiohttp.ClientSession, *, credentials: Credentials, base_url: str = "") -> None:
        self.session = session
        self.credentials = credentials
        self.base_url = base_url  # set (again) whenever `serve` (re)starts

    def headers(self, method: str, path: str, body: bytes, extra: Mapping[str, str]) -> dict[str, str]:
        """Headers of one request, signed over method, path, query and body (a fresh nonce per
        call: a resend after a kill is a new signed request carrying the same Idempotency-Key)."""
        return {**extra, **sign_headers(self.credentials, method, path, body)}

    async def call(
        self, method: str, path: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Answer:
        extra = dict(headers or {})
        if body:
            extra.setdefault("Content-Type", "application/json")
        sent = self.headers(method, path, body, extra)
        try:
            async with self.session.request(method, self.base_url + path, data=body or None, headers=sent) as resp:
                return Answer(
                    status=resp.status,
                    body=await resp.read(),
                    replayed=resp.headers.get(REPLAYED_HEADER) == "true",
                    retry_after_s=float(resp.headers["Retry-After"]) if "Retry-After" in resp.headers else None,
                )
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            return Answer(status=None, body=b"", error=f"{type(exc).__name__}: {exc}")

    async def submit_repair(self, body: bytes, *, idempotency_key: str) -> Answer:
        return await self.call("POST", "/v1/repairs", body=body, headers={"Idempotency-Key": idempotency_key})

    async def get_record(self, record_id: str) -> Answer:
        return await self.call("GET", f"/v1/records/{record_id}")
