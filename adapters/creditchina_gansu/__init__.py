"""信用中国（甘肃） adapter: SOAP intake with token login, timestamp pull (docs/protocols.md §1).

- Writes push `<ROW>`s to PenaltyWebService (`CF`), AbnormalWebService (`YC`) or
  CreditListService (`MD`, list entries mirrored from their owners). The
  intake has no idempotency keys; a push is an upsert on the business key and an unchanged resend
  changes nothing, so a retry is harmless.
- The token is fetched on first use, renewed shortly before `expiresIn` runs out, and renewed
  transparently when the platform answers `01` (token missing, unknown or expired): the call is then
  sent once more.
- The pull is by `SJC` (inclusive), and SJC has whole seconds: a row can change twice within one
  second and keep its SJC. The cursor is the greatest SJC read and, for that second, each row's
  content digest and how many contents of it were read there (`FeedCursor`). That second is read
  again; a row whose content is the one remembered is skipped, any other content is a new change.
  Change keys are `ID@SJC/n#digest` (the n-th content of the row read in that second), so a row
  that changes back to a content it had earlier in the same second is still a change, and the
  inbox de-duplicates what a crash made the poller read twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import structlog

from adapters.creditchina_gansu import soap
from adapters.http import FieldRejected, HttpClient, InCallRetry, log_context
from gateway.contract import ChangePage, ListingPage, NativeChange, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.retry import DeliveryError, PermanentError, RetryableError
from gateway.feedtime import format_sjc, parse_beijing_timestamp, sjc_source_version

AUTH_PATH = "/service/AuthService"
PULL_PATH = "/service/RepairResultService"
# NativeWrite.kind → (path, operation). "importPenalyXml" is the platform's own spelling.
WRITE_SERVICES: Mapping[str, tuple[str, str]] = {
    "CF": ("/service/PenaltyWebService", "importPenalyXml"),
    "YC": ("/service/AbnormalWebService", "importAbnormalXml"),
    "MD": ("/service/CreditListService", "importCreditListXml"),
}

START_CURSOR = "1970/01/01 00:00:00"
# A second of SJC stamps is taken as closed this long after the platform's own clock passed it
# (a row stamped at the start of a slow platform transaction may appear late): the cursor then
# moves past it instead of re-reading every row of that second on every poll.
SETTLED_AFTER = timedelta(seconds=60)
MAX_PAGE_SIZE = 500  # protocol limit of queryChangedRows
MAX_BATCH_ROWS = 100  # protocol limit of one ROWDATA pushed to an intake
TOKEN_MARGIN_S = 30.0  # renew this long before expiresIn runs out
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"

# Result codes (docs/protocols.md §1).
OK = "00"
TOKEN_REFUSED = "01"
MALFORMED = "02"
ROW_INVALID = "03"
UNKNOWN_KEY = "04"
BUSY = "99"

log = structlog.get_logger(__name__)


def _ends_publicity(row: Mapping[str, object]) -> bool:
    """Whether a write stops the row's publicity (GSZT 0, or a decision status other than 0): the
    kind of write the intake answers 04 for when it holds no such row (docs/protocols.md §1)."""
    return str(row.get("GSZT", "1")) == "0" or str(row.get("CF_ZT", "0")) not in ("", "0")


def row_digest(row: Mapping[str, str]) -> str:
    """What a row holds, every column, as a short digest: two reads of a row are one change only
    when this is equal (the SJC alone cannot tell two changes within one second apart)."""
    canonical = json.dumps(sorted(row.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def change_from_row(row: Mapping[str, str], occurrence: int = 1) -> NativeChange:
    """A pulled row as a feed item: the `occurrence`-th content of this row read within its SJC
    second. ValueError when it has no ID or no well-formed SJC."""
    row_id = row.get("ID", "").strip()
    sjc = row.get("SJC", "").strip()
    if not row_id:
        raise ValueError("row without ID")
    changed_at = parse_beijing_timestamp(sjc)
    version = sjc_source_version(sjc)
    return NativeChange(
        change_key=f"{row_id}@{sjc}/{occurrence}#{row_digest(row)}",
        # A later content within the same second sorts after the earlier ones and before the next
        # second ("…:02+08:00" < "…:02+08:00/0002" < "…:03+08:00"), so plan() takes it as newer.
        source_version=version if occurrence == 1 else f"{version}/{occurrence:04d}",
        changed_at=changed_at,
        kind=row.get("ROWTYPE", "").strip(),
        native_id=row_id,
        row=dict(row),
    )


@dataclass(frozen=True)
class FeedCursor:
    """Where the pull stands: the SJC second to read from (inclusive) and, for the rows read in
    that second, row ID → (content digest, contents of the row read in that second).

    As text: the SJC alone when nothing of its second is remembered (what older versions stored),
    else `SJC|ID:digest:n;ID:digest:n…` in ID order."""

    since: str
    seen: Mapping[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> FeedCursor:
        """ValueError when the text is not a cursor this adapter wrote."""
        if not text:
            return cls(START_CURSOR)
        since, _, tail = text.partition("|")
        parse_beijing_timestamp(since)
        seen: dict[str, tuple[str, int]] = {}
        for entry in tail.split(";") if tail else ():
            row_id, digest, count = entry.split(":")
            seen[row_id] = (digest, int(count))
        return cls(since, seen)

    def render(self) -> str:
        if not self.seen:
            return self.since
        entries = ";".join(f"{row_id}:{digest}:{n}" for row_id, (digest, n) in sorted(self.seen.items()))
        return f"{self.since}|{entries}"


def cursor_second(cursor: str) -> str:
    """The SJC second a cursor reads from."""
    return FeedCursor.parse(cursor).since


def _new_contents(
    read: Sequence[NativeChange], start: FeedCursor, since: datetime
) -> tuple[list[NativeChange], dict[tuple[str, datetime], tuple[str, int]]]:
    """The changes among rows read in pull order, and per (row, second) the content last read
    and how many contents were read there. A content equal to the one last read of its row in its
    second is no change (a re-read of the cursor's second, a repeated page); any other is, and is
    numbered after the ones before it, even one the row had earlier in that second."""
    seen: dict[tuple[str, datetime], tuple[str, int]] = {(row_id, since): c for row_id, c in start.seen.items()}
    changes: list[NativeChange] = []
    for change in read:
        place = (change.native_id or "", change.changed_at)
        digest = row_digest(change.row)
        last = seen.get(place)
        if last is not None and last[0] == digest:
            continue
        occurrence = 1 if last is None else last[1] + 1
        seen[place] = (digest, occurrence)
        changes.append(change if occurrence == 1 else change_from_row(change.row, occurrence))
    return changes, seen


def _feed_order(change: NativeChange) -> tuple[datetime, int, str]:
    native_id = change.native_id or ""
    return (change.changed_at, int(native_id) if native_id.isdigit() else 0, native_id)


class CreditChinaGansuAdapter(SystemAdapter):
    system = "creditchina_gansu"
    max_rows_per_write = MAX_BATCH_ROWS

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        timeout: float = 10.0,
        page_size: int = 200,
        retry: InCallRetry | None = None,
        settled_after: timedelta = SETTLED_AFTER,
        secret_fields: Sequence[str] = (),
    ) -> None:
        self._settled_after = settled_after
        self._platform_now: datetime | None = None  # from the Date header of the last answer
        self._username = username
        self._password = password
        self._page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        # secret_fields: the row columns holding ID numbers (the mapping's data, given by the connector).
        self._http = HttpClient(
            system=self.system, base_url=base_url, timeout=timeout, retry=retry, secret_fields=secret_fields
        )
        self._http.add_secret(password)
        self._token: str | None = None
        self._token_renew_at = 0.0  # time.monotonic() after which the token is renewed first
        self._login_lock = asyncio.Lock()
        self._log = log.bind(system=self.system)

    async def close(self) -> None:
        await self._http.close()

    # --- writes -------------------------------------------------------------------------------

    async def write(self, write: NativeWrite) -> WriteResult:
        outcome = (await self.write_many([write]))[0]
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    async def write_many(self, writes: Sequence[NativeWrite]) -> list[WriteResult | DeliveryError]:
        """Rows of one intake go in batches of up to 100, one call each."""
        outcomes: list[WriteResult | DeliveryError | None] = [None] * len(writes)
        by_service: dict[tuple[str, str], list[int]] = {}
        for index, write in enumerate(writes):
            service = WRITE_SERVICES.get(write.kind)
            if service is None:
                message = f"{self.system}: no intake for row kind {write.kind!r}"
                outcomes[index] = PermanentError(message, code="bad_kind")
            else:
                by_service.setdefault(service, []).append(index)
        for (path, operation), indexes in by_service.items():
            for start in range(0, len(indexes), MAX_BATCH_ROWS):
                await self._write_rows(path, operation, writes, indexes[start : start + MAX_BATCH_ROWS], outcomes)
        assert all(outcome is not None for outcome in outcomes)
        return [outcome for outcome in outcomes if outcome is not None]

    async def _write_rows(
        self,
        path: str,
        operation: str,
        writes: Sequence[NativeWrite],
        indexes: list[int],
        outcomes: list[WriteResult | DeliveryError | None],
    ) -> None:
        """One batch. The intake applies all of it or nothing and names the first row it refused
        (03, 04): that row fails alone and the others are sent again without it."""
        pending = list(indexes)
        while pending:
            document = soap.rowdata([{column: str(value) for column, value in writes[i].row.items()} for i in pending])
            label = writes[pending[0]].business_key if len(pending) == 1 else f"{len(pending)} rows"
            try:
                await self._call(path, operation, [("xml", document)], business_key=label)
            except FieldRejected as exc:
                if exc.line is None or not 1 <= exc.line <= len(pending):
                    self._fail_rows(writes, pending, exc, outcomes)
                    return
                refused = pending.pop(exc.line - 1)
                if exc.code == UNKNOWN_KEY and _ends_publicity(writes[refused].row):
                    # A stop for a row the platform never held: it publishes nothing of it, which
                    # is the state asked for (a listing removed before its first copy went out).
                    outcomes[refused] = WriteResult(native_id=None, detail={"code": UNKNOWN_KEY, "not_held": True})
                    self._log.info("stop_of_unheld_row", business_key=writes[refused].business_key)
                    continue
                self._fail_rows(writes, [refused], exc, outcomes)
                continue
            except DeliveryError as exc:
                self._fail_rows(writes, pending, exc, outcomes)
                return
            for index in pending:
                outcomes[index] = WriteResult(native_id=None, detail={"code": OK})
            self._log.info("rows_applied", rows=len(pending), operation=operation)
            return

    def _fail_rows(
        self,
        writes: Sequence[NativeWrite],
        indexes: list[int],
        exc: DeliveryError,
        outcomes: list[WriteResult | DeliveryError | None],
    ) -> None:
        for index in indexes:
            outcomes[index] = exc
            write = writes[index]
            self._log.warning("write_failed", business_key=write.business_key, kind=write.kind, **log_context(exc))

    # --- change feed --------------------------------------------------------------------------

    def cursor_at(self, moment: datetime) -> str | None:
        """The pull is by SJC (Beijing time, whole seconds, inclusive): the second of `moment`."""
        return format_sjc(moment)

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        """Rows changed at or after the cursor's second, less those read there already with the
        content they still have (`FeedCursor`). The new cursor is the greatest SJC read, never less
        than the one given; pages whose rows all sit on the cursor's second are read on within the
        call, otherwise a second holding more rows than a page would never pass."""
        try:
            start = FeedCursor.parse(cursor)
        except ValueError as exc:
            raise PermanentError(f"{self.system}: not a cursor of this feed: {cursor!r}") from exc
        since_text = start.since
        since = parse_beijing_timestamp(since_text)
        size = max(1, min(page_size, self._page_size))
        read: list[NativeChange] = []
        newest = since
        page_no = 1
        while True:
            result = await self._call(
                PULL_PATH,
                "queryChangedRows",
                [("since", since_text), ("pageNo", str(page_no)), ("pageSize", str(size))],
            )
            page = self._page_changes(result.rows)
            read.extend(page)
            newest = max([newest, *(change.changed_at for change in page)])
            total = _int(result.values.get("total"), default=0)
            more = total > page_no * size
            stuck = bool(page) and all(change.changed_at == since for change in page)
            if not (more and stuck):
                break
            page_no += 1
        changes, seen = _new_contents(read, start, since)
        ordered = sorted(changes, key=_feed_order)
        new_cursor = FeedCursor(
            format_sjc(newest),
            {row_id: content for (row_id, at), content in seen.items() if at == newest},
        ).render()
        if not more and self._platform_now is not None and self._platform_now - newest >= self._settled_after:
            # Everything up to `newest` is read and that second is closed: start after it.
            new_cursor = format_sjc(newest + timedelta(seconds=1))
        # An empty poll (every poll_interval_s, per system) is debug; one that found changes is info.
        say = self._log.info if ordered else self._log.debug
        say("changes_fetched", since=since_text, changes=len(ordered), pages=page_no)
        return ChangePage(changes=ordered, cursor=new_cursor, has_more=more)

    # --- full listing -------------------------------------------------------------------------

    async def list_all(self, kind: str, page_size: int) -> AsyncIterator[ListingPage]:
        """Every row of ROWTYPE `kind` the platform holds, by ID (queryRows: keyed by ID, so a row
        changing during the listing is neither skipped nor read twice)."""
        size = max(1, min(page_size, self._page_size))
        after = 0
        while True:
            result = await self._call(
                PULL_PATH, "queryRows", [("ROWTYPE", kind), ("afterId", str(after)), ("pageSize", str(size))]
            )
            by_id = {change.native_id: change for change in self._page_changes(result.rows)}
            rows = sorted(by_id.values(), key=lambda change: _int(change.native_id, default=0))
            yield ListingPage(rows=rows)
            last = max((_int(change.native_id, default=0) for change in rows), default=after)
            if result.values.get("more") != "1" or last <= after:
                return
            after = last

    def _page_changes(self, rows: Sequence[Mapping[str, str]]) -> list[NativeChange]:
        page: list[NativeChange] = []
        for row in rows:
            try:
                page.append(change_from_row(row))
            except ValueError as exc:
                # Without ID and SJC a row has no place in the feed; it is a platform defect that
                # only reconciliation can surface. Skip it loudly rather than stall the feed.
                self._log.error("change_row_unusable", reason=str(exc), row_id=row.get("ID"))
        return page

    # --- SOAP calls with login ----------------------------------------------------------------

    async def _call(
        self,
        path: str,
        operation: str,
        params: Sequence[tuple[str, str]],
        *,
        business_key: str | None = None,
    ) -> soap.Result:
        async def attempt() -> soap.Result:
            token = await self._current_token()
            result = await self._exchange(path, operation, [("TOKEN", token), *params])
            if result.code == TOKEN_REFUSED:
                # Expired or revoked early: log in again and send once more.
                self._log.info("token_refused_relogin", operation=operation, business_key=business_key)
                self._forget(token)
                token = await self._current_token()
                result = await self._exchange(path, operation, [("TOKEN", token), *params])
            self._raise_for_code(result, operation)
            return result

        context = {"business_key": business_key} if business_key else None
        return await self._http.with_retries(attempt, name=operation, context=context)

    async def _exchange(self, path: str, operation: str, params: Sequence[tuple[str, str]]) -> soap.Result:
        response = await self._http.post(
            path,
            data=soap.envelope(operation, params),
            content_type=SOAP_CONTENT_TYPE,
            headers={"SOAPAction": '""'},
        )
        if not response.ok:
            raise self._http.error_for(response, path=path)
        self._platform_now = _http_date(response.headers.get("Date"))
        try:
            return soap.parse_answer(response.body)
        except soap.MalformedAnswer as exc:
            # A garbled answer leaves the outcome unknown; the push is an upsert, so trying again
            # is safe.
            raise RetryableError(
                f"{self.system} {operation}: unreadable answer: {exc}",
                status=response.status,
                body_excerpt=self._http.excerpt(response.body),
            ) from exc

    async def _current_token(self) -> str:
        async with self._login_lock:
            if self._token is None or time.monotonic() >= self._token_renew_at:
                await self._login()
            assert self._token is not None
            return self._token

    def _forget(self, token: str) -> None:
        # Only the token that was refused: a concurrent call may already have fetched a new one.
        if self._token == token:
            self._token = None

    async def _login(self) -> None:
        result = await self._exchange(AUTH_PATH, "login", [("username", self._username), ("password", self._password)])
        token = result.values.get("token", "")
        if result.code == BUSY:
            raise RetryableError(f"{self.system} login: platform busy", code=BUSY)
        if result.code != OK or not token:
            # 01 at login means the credentials were refused: no retry can fix that.
            raise PermanentError(
                f"{self.system} login refused: {result.msg}",
                code=result.code,
                body_excerpt=self._http.excerpt(result.document),
            )
        self._http.add_secret(token)
        expires_in = _int(result.values.get("expiresIn"), default=0)
        self._token = token
        self._token_renew_at = time.monotonic() + max(0.0, expires_in - TOKEN_MARGIN_S)
        self._log.info("login_succeeded", expires_in_s=expires_in)

    def _raise_for_code(self, result: soap.Result, operation: str) -> None:
        code = result.code
        if code == OK:
            return
        message = f"{self.system} {operation}: code {code}: {result.msg}"
        document = self._http.excerpt(result.document)
        if code in (ROW_INVALID, UNKNOWN_KEY):
            # Both name the refused row (<line>, 1-based) and its column (<field>).
            line = _int(result.line, default=0) or None
            raise FieldRejected(
                f"{message} (row {result.line or '?'}, field {result.field or '?'})",
                field=result.field or None,
                line=line,
                code=code,
                body_excerpt=document,
            )
        if code in (BUSY, TOKEN_REFUSED):
            # 01 here means a token refused right after a fresh login: transient on their side.
            raise RetryableError(message, code=code, body_excerpt=document)
        # 02 malformed / unknown operation, anything undocumented.
        raise PermanentError(message, code=code, body_excerpt=document)


def _int(value: str | None, *, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


__all__ = ["CreditChinaGansuAdapter", "FeedCursor", "change_from_row", "cursor_second", "row_digest"]


def _http_date(value: str | None) -> datetime | None:
    """The platform's clock from an HTTP Date header; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None
