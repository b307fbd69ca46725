"""失信被执行人 adapter (省法院): JSON with a bearer token, versioned change feed (docs/protocols.md §6a).

- The token comes from `POST /api/v1/auth/token` on first use, is renewed shortly before
  `expiresIn` runs out, and is renewed once, transparently, when a call is answered 401 `40101`
  (expired or unknown): the call is then sent again. A 401 of the token call itself is a wrong
  clientId/clientSecret: permanent.
- The change feed is a log with consecutive versions; the cursor is the last version read. A
  version missing from a page (a gap) stops the cursor before it, so nothing is skipped; items are
  taken once and in version order whatever order the page has.
- A removal is a deletion: the `DELETE` item carries the last row, `deleteDate`, `deleteReason`
  (null when the court recorded none) and `expired`. The item becomes one row, the record's columns
  plus those four members (`action` = `DELETE`), for the mapping to read; `PUBLISH`/`UPDATE` items
  are the record's columns alone, exactly as the listing shows the row.
- The court's feed has no change times: `changed_at` is when the court served the item (its `Date`
  header), never earlier than the change. There is therefore no `cursor_at` (resync reads from 0).
- The listing (`/sxbzxr/page`, currently published rows, by `dishonest_id`) is paged by number; a
  deletion while it runs shifts rows forward, so when `total` changes the listing steps back the
  pages the shift can span and skips ids it has already passed: rows are read once, none skipped.
- The court deletes, never writes for us: `write` refuses (the gateway only reads this list).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import structlog

from adapters.http import HttpClient, HttpResponse, InCallRetry
from gateway.contract import ChangePage, ListingPage, NativeChange, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.retry import DeliveryError, PermanentError, RetryableError
from gateway.feedtime import seq_source_version

TOKEN_PATH = "/api/v1/auth/token"
CHANGES_PATH = "/api/v1/sxbzxr/changes"
PAGE_PATH = "/api/v1/sxbzxr/page"
KIND = "sxbzxr"  # the one row kind: NativeChange.kind and the listing's kind
ID_FIELD = "dishonest_id"  # the court's row id (失信id): the listing's order and each row's native id
MAX_PAGE_SIZE = 100  # protocol limit of pageSize and limit
TOKEN_MARGIN_S = 60.0  # renew this long before expiresIn runs out
DELETE = "DELETE"
# The members of a DELETE item that travel with its row (the mapping reads them).
DELETE_MEMBERS = ("deleteDate", "deleteReason", "expired")
ACTION = "action"

# Answer codes.
OK, BAD_REQUEST, UNAUTHORIZED, BUSY = 0, 40001, 40101, 50301

log = structlog.get_logger(__name__)


class TokenRefused(PermanentError):
    """The court refused the access token: it expired or is unknown (renew and send again)."""


def change_from_item(item: Mapping[str, Any], served_at: datetime) -> NativeChange:
    """A feed item as a NativeChange. ValueError when it has no version, action or record."""
    version = item.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"item without a version: {version!r}")
    action = item.get("action")
    record = item.get("record")
    if action not in ("PUBLISH", "UPDATE", DELETE) or not isinstance(record, Mapping):
        raise ValueError(f"item {version}: action {action!r} or its record is not usable")
    row: dict[str, Any] = dict(record)
    if action == DELETE:
        row[ACTION] = DELETE
        row.update({name: item.get(name) for name in DELETE_MEMBERS})
    row_id = record.get(ID_FIELD)
    return NativeChange(
        change_key=f"v:{version}",
        source_version=seq_source_version(version),
        changed_at=served_at,
        kind=KIND,
        native_id=str(row_id) if row_id not in (None, "") else None,
        row=row,
    )


def listed_row(record: Mapping[str, Any], served_at: datetime) -> NativeChange:
    row_id = str(record.get(ID_FIELD) or "")
    return NativeChange(
        change_key=f"list:{row_id}",
        source_version="",  # the listing names no feed version
        changed_at=served_at,
        kind=KIND,
        native_id=row_id or None,
        row=dict(record),
    )


def _row_number(row: Mapping[str, Any]) -> int:
    text = str(row.get(ID_FIELD) or "")
    return int(text) if text.isdigit() else 0


class CourtAdapter(SystemAdapter):
    system = "court"
    takes_writes: ClassVar[bool] = False

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        timeout: float = 10.0,
        page_size: int = 100,
        retry: InCallRetry | None = None,
        secret_fields: Sequence[str] = (),
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        # secret_fields: the row columns holding ID numbers (the mapping's data, given by the connector).
        self._http = HttpClient(
            system=self.system, base_url=base_url, timeout=timeout, retry=retry, secret_fields=secret_fields
        )
        self._http.add_secret(client_secret)
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._token_lock = asyncio.Lock()
        self._log = log.bind(system=self.system)

    async def close(self) -> None:
        await self._http.close()

    async def write(self, write: NativeWrite) -> WriteResult:
        raise PermanentError(
            f"{self.system} takes no writes: the court decides and deletes in its own system", code="read_only"
        )

    # --- change feed --------------------------------------------------------------------------

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        after = _version_of(cursor)
        if after is None:
            raise PermanentError(f"{self.system}: not a cursor of this feed: {cursor!r}")
        size = max(1, min(page_size, self._page_size))
        data, served_at = await self._get(CHANGES_PATH, [("fromVersion", str(after)), ("limit", str(size))])
        if not isinstance(data, Mapping) or not isinstance(data.get("changes"), list):
            raise RetryableError(f"{self.system} {CHANGES_PATH}: answer without changes", code="bad_answer")
        by_version: dict[int, NativeChange] = {}
        for item in data["changes"]:
            try:
                change = change_from_item(item, served_at)
            except (ValueError, AttributeError) as exc:
                # No version or record: no place in the feed. Logged; the gap check below keeps the
                # cursor before it, so the item is asked for again, not skipped.
                self._log.error("change_item_unusable", reason=str(exc))
                continue
            by_version.setdefault(int(change.source_version), change)
        taken: list[NativeChange] = []
        last = after
        for version in sorted(by_version):
            if version != last + 1:
                break  # a gap: stop before it, ask again from here
            taken.append(by_version[version])
            last = version
        latest = data.get("latestVersion")
        has_more = bool(data.get("hasMore")) or (isinstance(latest, int) and last < latest)
        if taken or has_more:
            (self._log.info if taken else self._log.debug)("changes_fetched", changes=len(taken), has_more=has_more)
        # A page with a gap and nothing before it would repeat forever: say so, and stop here.
        if not taken and has_more and by_version:
            self._log.warning("change_feed_gap", after=after)
            has_more = False
        return ChangePage(changes=taken, cursor=str(last), has_more=has_more)

    # --- full listing -------------------------------------------------------------------------

    async def list_all(self, kind: str, page_size: int) -> AsyncIterator[ListingPage]:
        if kind != KIND:
            raise PermanentError(f"{self.system} lists only {KIND!r}, not {kind!r}", code="bad_kind")
        size = max(1, min(page_size, self._page_size))
        page_num, passed, total = 1, 0, None
        while True:
            data, served_at = await self._get(PAGE_PATH, [("pageNum", str(page_num)), ("pageSize", str(size))])
            if not isinstance(data, Mapping) or not isinstance(data.get("list"), list):
                raise RetryableError(f"{self.system} {PAGE_PATH}: answer without list", code="bad_answer")
            now_total = data.get("total") if isinstance(data.get("total"), int) else None
            if total is not None and now_total is not None and now_total != total and page_num > 1:
                # Rows were deleted or added meanwhile: the first unread row moved by up to the
                # difference. Read again from the page it may now be on; ids passed are skipped.
                page_num = max(1, page_num - -(-abs(now_total - total) // size))
                total = now_total
                continue
            total = now_total
            numbered = [(_row_number(row), row) for row in data["list"] if isinstance(row, Mapping)]
            if any(number == 0 for number, _ in numbered):
                # The court's ids are numbers (失信id); a row without one cannot be placed in the
                # listing's order. Loud, not silent: reconciliation shows the row as missing.
                self._log.error("listing_row_unusable", reason=f"row without a numeric {ID_FIELD}")
            fresh = {number: row for number, row in numbered if number > passed}
            rows = [listed_row(fresh[number], served_at) for number in sorted(fresh)]
            if rows:
                yield ListingPage(rows=rows)
                passed = max(fresh)
            if total is None or page_num * size >= total or not data["list"]:
                return
            page_num += 1

    # --- calls --------------------------------------------------------------------------------

    async def _get(self, path: str, params: Sequence[tuple[str, str]]) -> tuple[Any, datetime]:
        async def attempt() -> tuple[Any, datetime]:
            token = await self._current_token()
            response = await self._http.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
            try:
                return self._data_of(response, path), _served_at(response)
            except TokenRefused:
                # Expired or unknown: renew once and send again within this attempt.
                self._forget_token(token)
                token = await self._current_token()
                response = await self._http.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
                return self._data_of(response, path), _served_at(response)

        return await self._http.with_retries(attempt, name=path)

    async def _current_token(self) -> str:
        async with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_renew_at:
                await self._new_token()
            assert self._token is not None
            return self._token

    def _forget_token(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def _new_token(self) -> None:
        body = json.dumps({"clientId": self._client_id, "clientSecret": self._client_secret}).encode()
        response = await self._http.post(TOKEN_PATH, data=body, content_type="application/json")
        payload = _json(response.body)
        if response.status == 401:
            raise PermanentError(
                f"{self.system} {TOKEN_PATH}: clientId or clientSecret refused (check the settings)",
                status=401,
                code=str(UNAUTHORIZED),
                body_excerpt=self._http.excerpt(response.body),
            )
        data = self._checked(response, payload, TOKEN_PATH)
        token = data.get("accessToken") if isinstance(data, Mapping) else None
        expires_in = data.get("expiresIn") if isinstance(data, Mapping) else None
        if not isinstance(token, str) or not token:
            raise RetryableError(f"{self.system} {TOKEN_PATH}: answer without accessToken", code="bad_answer")
        self._http.add_secret(token)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 0.0
        self._token = token
        self._token_renew_at = time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN_S)
        self._log.info("token_renewed", expires_in_s=lifetime)

    def _data_of(self, response: HttpResponse, path: str) -> Any:
        payload = _json(response.body)
        if response.status == 401:
            raise TokenRefused(
                f"{self.system} {path}: access token refused",
                status=401,
                code=str(UNAUTHORIZED),
                body_excerpt=self._http.excerpt(response.body),
            )
        return self._checked(response, payload, path)

    def _checked(self, response: HttpResponse, payload: Any, path: str) -> Any:
        code = payload.get("code") if isinstance(payload, Mapping) else None
        excerpt = self._http.excerpt(response.body)
        if response.status == 400 and code == BAD_REQUEST:
            field = payload.get("field") if isinstance(payload, Mapping) else None
            message = f"{self.system} {path}: {payload.get('msg', '')} (parameter {field or '?'})"
            raise PermanentError(message, status=400, code=str(BAD_REQUEST), body_excerpt=excerpt)
        if not response.ok:
            raise self._http.error_for(response, path=path)
        if not isinstance(payload, Mapping):
            raise RetryableError(
                f"{self.system} {path}: unreadable answer", status=response.status, body_excerpt=excerpt
            )
        if code == OK:
            return payload.get("data")
        error: type[DeliveryError] = RetryableError if code == BUSY else PermanentError
        raise error(
            f"{self.system} {path}: code {code}: {payload.get('msg', '')}",
            status=response.status,
            code=str(code),
            body_excerpt=excerpt,
        )


def _version_of(cursor: str | None) -> int | None:
    if not cursor:
        return 0
    return int(cursor) if cursor.isascii() and cursor.isdigit() else None


def _served_at(response: HttpResponse) -> datetime:
    header = response.headers.get("Date")
    if header:
        try:
            return parsedate_to_datetime(header).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


__all__ = ["KIND", "CourtAdapter", "change_from_item"]
