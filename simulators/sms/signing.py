"""Request signatures of the SMS service (docs/protocols.md §5), written here on purpose: the adapter
has its own implementation, so a disagreement between the two shows up as a failing test.

    digest    = sha256_hex(canonical JSON of the body without appId, timestamp, nonce, signature)
    signature = hmac_sha256_hex(secret, appId + "|" + timestamp + "|" + nonce + "|" + digest)

Canonical JSON: keys sorted, no whitespace (`,` and `:` separators), non-ASCII characters as
themselves, UTF-8.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

AUTH_MEMBERS = ("appId", "timestamp", "nonce", "signature")
_TIMESTAMP = re.compile(r"\d{13}")  # Unix time in milliseconds
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")


def canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def digest(body: Mapping[str, Any]) -> str:
    business = {key: value for key, value in body.items() if key not in AUTH_MEMBERS}
    return hashlib.sha256(canonical(business)).hexdigest()


def sign(app_id: str, secret: str, timestamp: str, nonce: str, body_digest: str) -> str:
    message = f"{app_id}|{timestamp}|{nonce}|{body_digest}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


class Refusal(Exception):
    """Why a signature is refused: `code` 1001 (appId/signature), 1002 (timestamp), 1003 (nonce)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check(body: Mapping[str, Any], credentials: Mapping[str, str], now: datetime, max_skew_s: float) -> tuple[str, str]:
    """(appId, nonce) of a correctly signed body; raises Refusal otherwise (the nonce is the
    caller's to check for reuse, after the signature proved who sent it)."""
    app_id, timestamp, nonce, signature = (body.get(name) for name in AUTH_MEMBERS)
    if not all(isinstance(value, str) and value for value in (app_id, timestamp, nonce, signature)):
        raise Refusal("1001", "appId, timestamp, nonce and signature are required")
    assert isinstance(app_id, str) and isinstance(timestamp, str)
    assert isinstance(nonce, str) and isinstance(signature, str)
    secret = credentials.get(app_id)
    if secret is None:
        raise Refusal("1001", "unknown appId")
    if not _NONCE.fullmatch(nonce):
        raise Refusal("1001", "nonce must be 8-64 characters of A-Z a-z 0-9 _ -")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Refusal("1002", "timestamp must be Unix time in milliseconds (13 digits)")
    skew = abs(now.timestamp() - int(timestamp) / 1000)
    if skew > max_skew_s:
        raise Refusal("1002", f"timestamp is more than {int(max_skew_s)} s away from the server clock")
    expected = sign(app_id, secret, timestamp, nonce, digest(body))
    if not hmac.compare_digest(signature.lower(), expected):
        raise Refusal("1001", "bad signature")
    return app_id, nonce
