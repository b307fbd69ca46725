"""安全生产严重失信主体 adapter (省应急厅): JSON GET signed with HMAC-SHA256 (docs/protocols.md §9).

- Every call carries `appKey`, `timestamp` (Unix ms) and `sign` = hex HMAC-SHA256(secret,
  "k1=v1&k2=v2…") over the other parameters, keys sorted, values as sent; each attempt is signed
  afresh. The secret never travels; the signature is scrubbed from excerpts and never logged.
- `E1001` (signature or time refused) is permanent — a wrong appKey or secret does not heal —
  except when our clock is more than the department's 300 s tolerance away from the `Date` header
  of its answer: then an operator fixes the clock (NTP), and the failure is retryable.
- The list is read by `updatedAfter` (yyyyMMddHHmmss, inclusive) and 0-based `pageIndex`, rows in
  (`gxsj`, `jlid`) order: change feed and listing both go through `StampedFeed`
  (adapters/stamped_feed.py), keyed by `jlid`, so rows sharing a second are neither lost nor
  read twice.
- A removal flips `zt` (21/22), a revoked early removal flips it back (30); the mapping reads it.
  The gateway only reads this list: `write` refuses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import structlog

from adapters.http import HttpClient, HttpResponse, InCallRetry
from adapters.stamped_feed import StampedFeed, StampedFeedAdapter, stamp_text
from gateway.domain.retry import DeliveryError, PermanentError, RetryableError

LIST_PATH = "/openapi/aqsc/v1/sxzt/list"
KIND = "sxzt"  # the one row kind
ID_FIELD = "jlid"  # 记录ID: the protocol's row key and tie-break of the order
STAMP_FIELD = "gxsj"  # ISO 8601 with +08:00: the protocol's paging field
MAX_PAGE_SIZE = 200
MAX_CLOCK_SKEW_S = 300.0

BAD_SIGNATURE, BAD_PARAMETER, BUSY = "E1001", "E2001", "E5003"
ERROR_CLASSES: Mapping[str, type[DeliveryError]] = {BAD_PARAMETER: PermanentError, BUSY: RetryableError}

log = structlog.get_logger(__name__)


def sign(secret: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(f"{name}={params[name]}" for name in sorted(params) if name != "sign")
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def parse_stamp(raw: Any) -> datetime:
    """`gxsj` as an aware datetime; ValueError when it is not ISO 8601 with an offset."""
    moment = datetime.fromisoformat(str(raw or "").strip())
    if moment.tzinfo is None:
        raise ValueError(f"{STAMP_FIELD} without an offset: {raw!r}")
    return moment


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EmergencyAdapter(StampedFeedAdapter):
    system = "emergency"
    kind = KIND
    decider = "the department"

    def __init__(
        self,
        *,
        base_url: str,
        app_key: str,
        secret: str,
        timeout: float = 10.0,
        page_size: int = 200,
        retry: InCallRetry | None = None,
        clock: Callable[[], datetime] | None = None,
        secret_fields: tuple[str, ...] = (),
    ) -> None:
        self._app_key = app_key
        self._secret = secret
        self._clock = clock or _utc_now
        self._page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self._http = HttpClient(
            system=self.system, base_url=base_url, timeout=timeout, retry=retry, secret_fields=secret_fields
        )
        self._http.add_secret(secret)
        self._log = log.bind(system=self.system)
        self._feed = StampedFeed(
            kind=KIND,
            query=self._query,
            key_of=_row_key,
            stamp_of=lambda row: parse_stamp(row.get(STAMP_FIELD)),
            on_unusable=lambda reason: self._log.error("row_unusable", reason=reason),
        )

    async def close(self) -> None:
        await self._http.close()

    async def _query(self, since: datetime | None, offset: int, size: int) -> tuple[list[Mapping[str, Any]], int]:
        wanted = {"pageIndex": str(offset // size), "pageSize": str(size)}
        if since is not None:
            wanted["updatedAfter"] = stamp_text(since)

        async def attempt() -> tuple[list[Mapping[str, Any]], int]:
            params = {"appKey": self._app_key, "timestamp": str(int(self._clock().timestamp() * 1000)), **wanted}
            params["sign"] = sign(self._secret, params)
            response = await self._http.get(LIST_PATH, params=sorted(params.items()))
            return self._rows_of(response)

        return await self._http.with_retries(attempt, name=LIST_PATH)

    def _rows_of(self, response: HttpResponse) -> tuple[list[Mapping[str, Any]], int]:
        payload = _json(response.body)
        excerpt = self._http.excerpt(response.body)
        code = payload.get("errorCode") if isinstance(payload, Mapping) else None
        if code == BAD_SIGNATURE:
            raise self._signature_refused(response, excerpt)
        if not response.ok and code != BAD_PARAMETER:
            raise self._http.error_for(response, path=LIST_PATH)
        if not isinstance(payload, Mapping):
            raise RetryableError(f"{self.system}: unreadable answer", status=response.status, body_excerpt=excerpt)
        if payload.get("success") is not True:
            field = payload.get("errorField")
            detail = f" (parameter {field})" if field else ""
            error = ERROR_CLASSES.get(str(code), PermanentError)
            raise error(
                f"{self.system}: {code or '?'}: {payload.get('errorMsg', '')}{detail}",
                status=response.status,
                code=str(code) if code else None,
                body_excerpt=excerpt,
            )
        data = payload.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get("list"), list):
            raise RetryableError(f"{self.system}: answer without data.list", status=response.status, code="bad_answer")
        total = data.get("totalCount")
        return [row for row in data["list"] if isinstance(row, Mapping)], total if isinstance(total, int) else 0

    def _signature_refused(self, response: HttpResponse, excerpt: str) -> DeliveryError:
        skew = self._clock_skew(response)
        if skew is not None and abs(skew) > MAX_CLOCK_SKEW_S:
            self._log.error("clock_skew_suspected", skew_s=round(skew, 1))
            return RetryableError(
                f"{self.system}: {BAD_SIGNATURE}: our clock is {skew:+.0f} s off the department's",
                status=response.status,
                code=BAD_SIGNATURE,
                body_excerpt=excerpt,
            )
        return PermanentError(
            f"{self.system}: {BAD_SIGNATURE}: signature refused (check appKey and secret)",
            status=response.status,
            code=BAD_SIGNATURE,
            body_excerpt=excerpt,
        )

    def _clock_skew(self, response: HttpResponse) -> float | None:
        header = response.headers.get("Date")
        if not header:
            return None
        try:
            return (self._clock() - parsedate_to_datetime(header)).total_seconds()
        except (TypeError, ValueError):
            return None


def _row_key(row: Mapping[str, Any]) -> str:
    key = str(row.get(ID_FIELD) or "").strip()
    if not key:
        raise ValueError(f"row without {ID_FIELD}")
    return key


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


__all__ = ["KIND", "EmergencyAdapter", "sign"]
