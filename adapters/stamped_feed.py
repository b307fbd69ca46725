"""A feed read by update time: "rows stamped at or after T, in (stamp, key) order, by offset pages".

The tax bureau (`gxsj`, docs/protocols.md §7) and the emergency-management department (`gxsj`,
§9) offer no change log, only their current rows filtered by an inclusive update-time bound. Both
stamps have whole seconds, so (as with 信用中国's SJC, ADR 0011, issue 9 cause 2) several rows, or
several contents of one row, can share a second, and a page boundary can fall inside a second:

- the cursor is the greatest stamp read plus, for that second, each row's content digest and how
  many contents of it were read there (`StampCursor`); the next read starts on that second again
  (inclusive) and skips a row only when its content is the one remembered, so rows of that second
  that were past the page boundary, or that arrive later in the same second, are still read;
- when every row of a page sits on the cursor's second, the read goes on to the next page within
  the call, otherwise a second holding more rows than a page could never be passed;
- a row read again with another content in the same second is a new change, numbered after the
  earlier ones (its source version sorts after theirs), even a content it had before.

A repeated or shuffled page is harmless: rows are taken once per content and put in feed order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from gateway.contract import ChangePage, ListingPage, NativeChange, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.beijing import BEIJING
from gateway.domain.retry import PermanentError

STAMP_FORMAT = "%Y%m%d%H%M%S"  # the cursor's second, Beijing time (both lists' query format)

# (since or None for the beginning, offset, page size) → (rows of that page, rows matching in all)
PageQuery = Callable[[datetime | None, int, int], Awaitable[tuple[list[Mapping[str, Any]], int]]]


def content_digest(row: Mapping[str, Any]) -> str:
    """Every column of a row, as a short digest: two reads of a row in one second are one change
    only when this is equal."""
    canonical = json.dumps(sorted((str(k), str(v)) for k, v in row.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _key_hash(key: str) -> str:
    # Keys hold 文号 with brackets and CJK text: the cursor keeps a hash of each, not the key.
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def stamp_text(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime(STAMP_FORMAT)


@dataclass(frozen=True)
class StampCursor:
    """`since` (yyyyMMddHHmmss, Beijing; "" for the beginning) and, for the rows read in that
    second, key hash → (content digest, contents read there). Text: `since|hash:digest:n;…`."""

    since: str = ""
    seen: Mapping[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> StampCursor:
        """ValueError when the text is not a cursor of this kind."""
        if not text:
            return cls()
        since, _, tail = text.partition("|")
        datetime.strptime(since, STAMP_FORMAT)
        if len(since) != 14:
            raise ValueError(f"not a stamp: {since!r}")
        seen: dict[str, tuple[str, int]] = {}
        for entry in tail.split(";") if tail else ():
            key, digest, count = entry.split(":")
            seen[key] = (digest, int(count))
        return cls(since, seen)

    @property
    def moment(self) -> datetime | None:
        if not self.since:
            return None
        return datetime.strptime(self.since, STAMP_FORMAT).replace(tzinfo=BEIJING)

    def render(self) -> str:
        if not self.seen:
            return self.since
        entries = ";".join(f"{key}:{digest}:{n}" for key, (digest, n) in sorted(self.seen.items()))
        return f"{self.since}|{entries}"


@dataclass(frozen=True, kw_only=True)
class StampedFeed:
    """One list's feed: how to query a page, and how to read a row's key and stamp (ValueError
    when a row has none: such a row has no place in the feed)."""

    kind: str  # NativeChange.kind of every row
    query: PageQuery
    key_of: Callable[[Mapping[str, Any]], str]
    stamp_of: Callable[[Mapping[str, Any]], datetime]
    on_unusable: Callable[[str], None] = lambda reason: None

    async def read(self, cursor: str | None, page_size: int) -> ChangePage:
        start = StampCursor.parse(cursor)
        since = start.moment
        offset = 0
        read: list[tuple[str, datetime, Mapping[str, Any]]] = []
        newest = since
        while True:
            rows, total = await self.query(since, offset, page_size)
            offset += page_size
            page = list(self._stamped(rows))
            read.extend(page)
            stamps = [stamp for _, stamp, _ in page]
            if stamps:
                newest = max(stamps) if newest is None else max(newest, *stamps)
            more = total > offset
            stuck = since is not None and bool(page) and all(stamp == since for stamp in stamps)
            if not (more and stuck):
                break
        changes, seen = self._new_contents(read, start, since)
        if newest is None:
            return ChangePage(changes=[], cursor=start.render(), has_more=False)
        kept = {key: content for (key, at), content in seen.items() if at == newest}
        return ChangePage(changes=changes, cursor=StampCursor(stamp_text(newest), kept).render(), has_more=more)

    async def listing(self, page_size: int) -> AsyncIterator[ListingPage]:
        """Every row held now, each in its current state: the feed read from its beginning (the
        query returns current rows, not history), in pages of at most `page_size`."""
        cursor: str | None = None
        while True:
            page = await self.read(cursor, page_size)
            for chunk in range(0, len(page.changes), page_size):
                yield ListingPage(rows=page.changes[chunk : chunk + page_size])
            if not page.has_more or page.cursor == cursor:
                return
            cursor = page.cursor

    def _stamped(self, rows: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, datetime, Mapping[str, Any]]]:
        for row in rows:
            try:
                yield self.key_of(row), self.stamp_of(row), row
            except (ValueError, KeyError, TypeError) as exc:
                self.on_unusable(str(exc))

    def _new_contents(
        self, read: Sequence[tuple[str, datetime, Mapping[str, Any]]], start: StampCursor, since: datetime | None
    ) -> tuple[list[NativeChange], dict[tuple[str, datetime], tuple[str, int]]]:
        seen: dict[tuple[str, datetime], tuple[str, int]] = {}
        if since is not None:
            seen = {(hashed, since): content for hashed, content in start.seen.items()}
        changes: list[NativeChange] = []
        for key, stamp, row in sorted(read, key=lambda item: (item[1], item[0])):
            place = (_key_hash(key), stamp)
            digest = content_digest(row)
            last = seen.get(place)
            if last is not None and last[0] == digest:
                continue  # the cursor's second read again, or a repeated page
            occurrence = 1 if last is None else last[1] + 1
            seen[place] = (digest, occurrence)
            changes.append(self._change(key, stamp, row, digest, occurrence))
        return changes, seen

    def _change(self, key: str, stamp: datetime, row: Mapping[str, Any], digest: str, occurrence: int) -> NativeChange:
        version = stamp.astimezone(BEIJING).isoformat()
        return NativeChange(
            change_key=f"{self.kind}:{key}@{stamp_text(stamp)}/{occurrence}#{digest}",
            # A later content within the same second sorts after the earlier ones and before the
            # next second ("…:02+08:00" < "…:02+08:00/0002" < "…:03+08:00").
            source_version=version if occurrence == 1 else f"{version}/{occurrence:04d}",
            changed_at=stamp.astimezone(UTC),
            kind=self.kind,
            native_id=key,
            row=dict(row),
        )


__all__ = ["PageQuery", "StampCursor", "StampedFeed", "content_digest", "stamp_text"]


class StampedFeedAdapter(SystemAdapter):
    """A read-only list authority whose feed is a `StampedFeed` (tax, emergency): subclasses set
    `system`, `kind`, `_feed`, `_page_size` and `_log`, and describe their authority's wording."""

    takes_writes: ClassVar[bool] = False
    kind: ClassVar[str]
    decider: ClassVar[str]  # who decides and removes in its own system, for the refusal of writes
    _feed: StampedFeed
    _page_size: int
    _log: Any

    async def write(self, write: NativeWrite) -> WriteResult:
        raise PermanentError(
            f"{self.system} takes no writes: {self.decider} decides and removes in its own system", code="read_only"
        )

    def cursor_at(self, moment: datetime) -> str | None:
        """The feed is by update time (whole seconds, inclusive): the second of `moment`."""
        return stamp_text(moment)

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        try:
            page = await self._feed.read(cursor, max(1, min(page_size, self._page_size)))
        except ValueError as exc:
            raise PermanentError(f"{self.system}: not a cursor of this feed: {cursor!r}") from exc
        (self._log.info if page.changes else self._log.debug)(
            "changes_fetched", changes=len(page.changes), has_more=page.has_more
        )
        return page

    async def list_all(self, kind: str, page_size: int) -> AsyncIterator[ListingPage]:
        if kind != self.kind:
            raise PermanentError(f"{self.system} lists only {self.kind!r}, not {kind!r}", code="bad_kind")
        async for page in self._feed.listing(max(1, min(page_size, self._page_size))):
            yield page
