"""GSXT（甘肃） adapter: signed JSON API, cursor change feed (docs/protocols.md §2).

- Every body carries `appKey`, `requestTime` (Beijing time, `yyyyMMddHHmmss`) and
  `sign = md5_hex(appKey + secret + requestTime)`; each attempt is signed afresh, so a retry never
  resends a stale requestTime.
- Writes go to `/api/<table>/save` (`otherpunish`, `othersxmd`) with `requestId` = the delivery's idempotency key: GSXT
  answers a repeated requestId with its first answer and applies nothing.
- The change feed's cursor is opaque and stored as given; change keys are `seq:<n>`.

errCode 1001 (signature or time refused) is permanent — wrong appKey or secret cannot heal by
waiting — except when our clock is more than GSXT's tolerance away from the `Date` header of its
answer: then the signature was right and the clock is wrong, which an operator fixes (NTP) without
touching the deliveries, so it is raised as retryable.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import structlog

from adapters.http import FieldRejected, HttpClient, HttpResponse, InCallRetry, log_context
from gateway.contract import ChangePage, ListingPage, NativeChange, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.beijing import BEIJING
from gateway.domain.retry import DeliveryError, PermanentError, RetryableError
from gateway.feedtime import parse_beijing_timestamp, seq_source_version

SAVE_PATHS: Mapping[str, str] = {
    "otherpunish": "/api/otherpunish/save",
    "othersxmd": "/api/othersxmd/save",  # other departments' lists (protocols.md §2b)
}
CHANGES_PATH = "/api/changes"
RECORDS_PATH = "/api/records"
MAX_PAGE_SIZE = 1000  # protocol limit of /api/changes
MAX_CLOCK_SKEW_S = 300.0  # GSXT refuses a requestTime further than this from its clock
JSON_CONTENT_TYPE = "application/json"

# errCodes (docs/protocols.md §2) → failure class.
BAD_SIGNATURE = "1001"
INVALID = "2001"
UNKNOWN_RECORD = "2002"
BAD_PAGE_SIZE = "2003"
BUSY = "3001"
ERR_CODE_CLASSES: Mapping[str, type[DeliveryError]] = {
    INVALID: FieldRejected,
    UNKNOWN_RECORD: PermanentError,  # a state change for a record GSXT does not hold
    BAD_PAGE_SIZE: PermanentError,
    BUSY: RetryableError,
}

log = structlog.get_logger(__name__)


def change_from_item(item: Mapping[str, Any], native_id_fields: Mapping[str, str] | None = None) -> NativeChange:
    """A change-feed item as a NativeChange. ValueError when seq, table or updateTime is missing.
    `native_id_fields` names each table's id column (the mapping's data, given by the connector)."""
    seq = item.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValueError(f"item without an integer seq: {seq!r}")
    table = item.get("table")
    if not isinstance(table, str) or not table:
        raise ValueError(f"item {seq} without a table")
    record = item.get("record")
    if not isinstance(record, Mapping):
        raise ValueError(f"item {seq} without a record")
    id_field = (native_id_fields or {}).get(table)
    native_id = record.get(id_field) if id_field else None
    return NativeChange(
        change_key=f"seq:{seq}",
        source_version=seq_source_version(seq),
        changed_at=parse_beijing_timestamp(str(item.get("updateTime", ""))),
        kind=table,
        native_id=str(native_id) if native_id else None,
        row=dict(record),
    )


def dumps(body: Mapping[str, Any]) -> bytes:
    """JSON with Decimal amounts written as exact JSON numbers (json would need a float, which
    can round): each Decimal goes in as a unique placeholder string that is then replaced."""
    marker = uuid.uuid4().hex
    numbers: dict[str, str] = {}

    def placeholder(value: object) -> object:
        if isinstance(value, Decimal):
            token = f"{marker}:{len(numbers)}"
            numbers[f'"{token}"'] = format(value, "f")
            return token
        if isinstance(value, Mapping):
            return {key: placeholder(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [placeholder(item) for item in value]
        return value

    text = json.dumps(placeholder(body), ensure_ascii=False)
    for token, number in numbers.items():
        text = text.replace(token, number)
    return text.encode("utf-8")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class GsxtGansuAdapter(SystemAdapter):
    system = "gsxt_gansu"

    def __init__(
        self,
        *,
        base_url: str,
        app_key: str,
        secret: str,
        timeout: float = 10.0,
        page_size: int = 500,
        clock: Callable[[], datetime] | None = None,
        retry: InCallRetry | None = None,
        native_id_fields: Mapping[str, str] | None = None,
    ) -> None:
        self._native_id_fields = dict(native_id_fields or {})
        self._app_key = app_key
        self._secret = secret
        self._page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self._clock = clock or _utc_now
        self._http = HttpClient(system=self.system, base_url=base_url, timeout=timeout, retry=retry)
        self._http.add_secret(secret)
        self._log = log.bind(system=self.system)

    async def close(self) -> None:
        await self._http.close()

    # --- writes -------------------------------------------------------------------------------

    async def write(self, write: NativeWrite) -> WriteResult:
        path = SAVE_PATHS.get(write.kind)
        if path is None:
            raise PermanentError(
                f"{self.system}: only {', '.join(SAVE_PATHS)} records are written, not {write.kind!r}",
                code="bad_kind",
            )
        if not write.idempotency_key:
            # Without it a resend could apply twice and GSXT's answer replay cannot work.
            raise PermanentError(f"{self.system}: a write needs an idempotency key", code="no_request_id")
        try:
            data = await self._call(
                path,
                {"requestId": write.idempotency_key, "record": write.row},
                business_key=write.business_key,
            )
        except DeliveryError as exc:
            self._log.warning("write_failed", business_key=write.business_key, **log_context(exc))
            raise
        # Each table answers with its own id column (caseId, sxmdId).
        answer = data if isinstance(data, Mapping) else {}
        case_id = answer.get("caseId") or answer.get("sxmdId")
        applied = answer.get("applied")
        self._log.info("write_applied", business_key=write.business_key, applied=applied)
        return WriteResult(native_id=str(case_id) if case_id else None, detail={"applied": applied})

    # --- change feed --------------------------------------------------------------------------

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        size = max(1, min(page_size, self._page_size))
        data = await self._call(CHANGES_PATH, {"cursor": cursor or "", "pageSize": size})
        ordered = self._items(data, "changes")
        next_cursor = data.get("nextCursor")
        new_cursor = next_cursor if isinstance(next_cursor, str) and next_cursor else (cursor or "")
        has_more = bool(data.get("hasMore"))
        # An empty poll (every poll_interval_s, per system) is debug; one that found changes is info.
        (self._log.info if ordered else self._log.debug)("changes_fetched", changes=len(ordered), has_more=has_more)
        return ChangePage(changes=ordered, cursor=new_cursor, has_more=has_more)

    # --- full listing -------------------------------------------------------------------------

    async def list_all(self, kind: str, page_size: int) -> AsyncIterator[ListingPage]:
        """Every record of table `kind`, in business-key order, each as its latest feed item."""
        size = max(1, min(page_size, self._page_size))
        after = ""
        while True:
            data = await self._call(RECORDS_PATH, {"table": kind, "after": after, "pageSize": size})
            yield ListingPage(rows=self._items(data, "records"))
            next_after = data.get("nextAfter")
            if not data.get("hasMore") or not isinstance(next_after, str) or next_after in ("", after):
                return
            after = next_after

    def _items(self, data: Any, what: str) -> list[NativeChange]:
        """The items of a feed or listing page, each once, in seq order (a shuffled page is put
        back in order)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("items"), list):
            raise RetryableError(f"{self.system} {what}: answer without items", code="bad_answer")
        changes: dict[str, NativeChange] = {}
        for item in data["items"]:
            try:
                change = change_from_item(item, self._native_id_fields)
            except (ValueError, AttributeError) as exc:
                # An item without seq/table/time has no place in the feed: a GSXT defect that
                # only reconciliation can surface. Skip it loudly rather than stall the feed.
                self._log.error("change_item_unusable", reason=str(exc), call=what)
                continue
            changes.setdefault(change.change_key, change)
        return sorted(changes.values(), key=lambda change: change.source_version)

    # --- signed calls -------------------------------------------------------------------------

    def signature(self) -> dict[str, str]:
        request_time = self._clock().astimezone(BEIJING).strftime("%Y%m%d%H%M%S")
        # md5 is GSXT's choice (protocols.md §2), not ours; it authenticates, it does not protect.
        sign = hashlib.md5(f"{self._app_key}{self._secret}{request_time}".encode()).hexdigest()
        return {"appKey": self._app_key, "requestTime": request_time, "sign": sign}

    async def _call(self, path: str, params: Mapping[str, Any], *, business_key: str | None = None) -> Any:
        async def attempt() -> Any:
            body = dumps({**self.signature(), **params})
            response = await self._http.post(path, data=body, content_type=JSON_CONTENT_TYPE)
            return self._data_of(response, path)

        context = {"business_key": business_key} if business_key else None
        return await self._http.with_retries(attempt, name=path, context=context)

    def _data_of(self, response: HttpResponse, path: str) -> Any:
        payload = _json(response.body)
        err_code = str(payload.get("errCode", "")) if isinstance(payload, Mapping) else ""
        if err_code == BAD_SIGNATURE:
            raise self._signature_refused(response, payload, path)
        if not response.ok:
            raise self._http.error_for(response, path=path)
        if not isinstance(payload, Mapping):
            raise RetryableError(
                f"{self.system} {path}: unreadable answer",
                status=response.status,
                body_excerpt=self._http.excerpt(response.body),
            )
        if payload.get("result") == 1:
            return payload.get("data")
        message = f"{self.system} {path}: errCode {err_code or '?'}: {payload.get('msg', '')}"
        error_class = ERR_CODE_CLASSES.get(err_code, PermanentError)
        excerpt = self._http.excerpt(response.body)
        if error_class is FieldRejected:
            field = payload.get("field")
            raise FieldRejected(
                f"{message} (field {field or '?'})",
                field=str(field) if field else None,
                status=response.status,
                code=err_code,
                body_excerpt=excerpt,
            )
        raise error_class(message, status=response.status, code=err_code or None, body_excerpt=excerpt)

    def _signature_refused(self, response: HttpResponse, payload: Any, path: str) -> DeliveryError:
        skew = self._clock_skew(response)
        message = f"{self.system} {path}: errCode 1001: {payload.get('msg', '')}"
        excerpt = self._http.excerpt(response.body)
        if skew is not None and abs(skew) > MAX_CLOCK_SKEW_S:
            self._log.error("clock_skew_suspected", skew_s=round(skew, 1))
            return RetryableError(
                f"{message} (our clock is {skew:+.0f} s off GSXT's)",
                status=response.status,
                code=BAD_SIGNATURE,
                body_excerpt=excerpt,
            )
        return PermanentError(
            f"{message} (check appKey and secret)",
            status=response.status,
            code=BAD_SIGNATURE,
            body_excerpt=excerpt,
        )

    def _clock_skew(self, response: HttpResponse) -> float | None:
        """Our clock minus the server's, from its Date header (one-second resolution)."""
        header = response.headers.get("Date")
        if not header:
            return None
        try:
            server_now = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        return (self._clock() - server_now).total_seconds()


def _json(body: bytes) -> Any:
    try:
        # Amounts are JSON numbers: read them as Decimal, never float.
        return json.loads(body, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


__all__ = ["GsxtGansuAdapter", "change_from_item", "dumps"]
