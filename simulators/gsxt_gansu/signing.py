"""Request signatures of the GSXT JSON API: sign = md5_hex(appKey + secret + requestTime)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from simulators.formats import parse_compact_stamp


def sign(app_key: str, secret: str, request_time: str) -> str:
    return hashlib.md5(f"{app_key}{secret}{request_time}".encode()).hexdigest()


def refusal(body: Mapping[str, Any], credentials: Mapping[str, str], now: datetime, max_skew_s: float) -> str | None:
    """Why a body's signature is refused (errCode 1001), or None when it is good."""
    app_key, request_time, signature = body.get("appKey"), body.get("requestTime"), body.get("sign")
    if not all(isinstance(value, str) and value for value in (app_key, request_time, signature)):
        return "appKey, requestTime and sign are required"
    assert isinstance(app_key, str) and isinstance(request_time, str) and isinstance(signature, str)
    secret = credentials.get(app_key)
    if secret is None:
        return "unknown appKey"
    sent_at = parse_compact_stamp(request_time)
    if sent_at is None:
        return "requestTime must be yyyyMMddHHmmss"
    if abs((now - sent_at).total_seconds()) > max_skew_s:
        return f"requestTime is more than {int(max_skew_s)} s away from the server clock"
    if not hmac.compare_digest(signature.lower(), sign(app_key, secret, request_time)):
        return "bad sign"
    return None
