"""Periodic file exchange: a department drops a full snapshot of its list into a directory on a
schedule; this transport turns consecutive snapshots into a change feed (docs/protocols.md §10–§11,
docs/adr/0027).

- **Which files**: regular files named `<prefix>_…​.<extension>` in the drop directory, in name
  order (the names carry the upload time and number). Dot-files (`.…part` uploads in progress) are
  ignored; a file modified less than `settle_s` ago is left for the next scan.
- **Each file once**: every file taken is recorded in the adapter's own state (name, size, sha256,
  rows, times, outcome). A name already recorded is never read again; a file with the same sha256
  as the last processed one (a duplicate upload under a new name) is recorded as `duplicate` and
  changes nothing; one named before the last processed one arrived late with an older snapshot
  (`superseded`, no changes).
- **Never a half-written file**: a file that does not parse as a whole (a zip without its central
  directory, a CSV whose last line has no CRLF) is held back and tried again on the next scan. It
  is given up (`incomplete`, a file incident → quarantine) once a later file has been processed —
  its snapshot is older than what the gateway now holds — or after `hold_limit_s`.
- **Never a wrong one**: a complete file that is not what the department promised (UTF-8 where
  GB18030 is agreed, not the template) is `refused`, with a file incident naming the reason.
- **Snapshot → changes**: rows are keyed by the list's key fields (the mapping's data); within one
  file the later row of a key wins. Against the last processed snapshot: a new key is an addition,
  a different row a change, a missing key an absence (the last row, marked `ABSENT_FROM`). All of
  it is computed in one SQLite transaction over a temporary table, so memory does not grow with
  the list and a file that fails half-way leaves nothing behind.

State lives in `<state_dir>/<system>.sqlite3` (the adapter's, like a cursor is the poller's): the
files taken, the files held back, the last snapshot's rows and the change log the feed pages
through. The feed's cursor is `<file name>:<n>`, the last file whose changes were read and how
many of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sqlite3
import time
import unicodedata
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import structlog

from gateway.contract import ChangePage, ListingPage, NativeChange, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.beijing import BEIJING
from gateway.domain.retry import PermanentError, RetryableError
from gateway.filedrop import ABSENT_FROM, FILE_INCIDENT_KIND, INCOMPLETE, NOT_THE_TEMPLATE
from gateway.observability import FILEDROP_FILES, FILEDROP_HELD

log = structlog.get_logger(__name__)

# Outcomes of a file (the `files` table, creditgw_filedrop_files_total).
PROCESSED = "processed"
DUPLICATE = "duplicate"
REFUSED = "refused"
GIVEN_UP = "incomplete"
SUPERSEDED = "superseded"

_STAMP = re.compile(r"_(\d{14})_")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    rows INTEGER,
    taken_at TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS held (
    name TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_try TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS current (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    row TEXT NOT NULL,
    digest TEXT NOT NULL,
    file_seq INTEGER NOT NULL,
    ord INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    file_seq INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    key TEXT,
    kind TEXT NOT NULL,
    action TEXT NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (file_seq, ord)
);
CREATE INDEX IF NOT EXISTS changes_by_key ON changes (file_seq, key);
"""


class FileProblem(Exception):
    """A file that cannot be taken as it is."""

    def __init__(self, reason: str, *, problem: str = INCOMPLETE) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problem = problem


class Incomplete(FileProblem):
    """The file does not parse as a whole (still being written, or cut short): held back."""


class Refused(FileProblem):
    """The file is complete but not what the department promised: refused, visibly."""


@dataclass(frozen=True)
class TakenFile:
    """One file of the drop directory, as recorded in the adapter's state."""

    seq: int
    name: str
    size: int
    sha256: str
    rows: int | None
    taken_at: str
    processed_at: str
    outcome: str
    detail: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


def file_time(name: str, mtime: float) -> datetime:
    """When the department made the file: the `yyyyMMddHHmmss` stamp of its name (Beijing time),
    else the file's modification time."""
    match = _STAMP.search(name)
    if match:
        try:
            return datetime.strptime(match[1], "%Y%m%d%H%M%S").replace(tzinfo=BEIJING).astimezone(UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(mtime, UTC)


def normalised_key(values: Sequence[object]) -> str:
    """A row's key as matched across snapshots: full-width forms folded (NFKC), trimmed, upper
    case, so that a clerk's retyping of the same key is the same key."""
    return "|".join(unicodedata.normalize("NFKC", str(value or "")).strip().upper() for value in values)


def sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class FileDropAdapter(SystemAdapter):
    """Base of the file-drop adapters: subclasses name the files and read their rows."""

    takes_writes: ClassVar[bool] = False
    file_prefix: ClassVar[str]
    file_extension: ClassVar[str]

    def __init__(
        self,
        *,
        drop_dir: Path,
        state_dir: Path,
        key_fields: Sequence[str],
        kind_field: str | None = None,
        default_kind: str = "",
        scan_interval_s: float = 60.0,
        settle_s: float = 5.0,
        hold_limit_s: float = 3600.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not key_fields:
            raise ValueError("a file drop needs the list's key fields")
        self.drop_dir = Path(drop_dir)
        self.state_path = Path(state_dir) / f"{self.system}.sqlite3"
        self.key_fields = tuple(key_fields)
        self.kind_field = kind_field
        self.default_kind = default_kind
        self.scan_interval_s = scan_interval_s
        self.settle_s = settle_s
        self.hold_limit_s = hold_limit_s
        self._clock = clock or _utc_now
        self._lock = asyncio.Lock()
        self._last_scan: datetime | None = None
        self._db: sqlite3.Connection | None = None
        self._log = log.bind(system=self.system)

    # --- what subclasses provide ----------------------------------------------------------

    @abstractmethod
    def read_rows(self, path: Path) -> Iterator[dict[str, str]]:
        """The file's rows in file order, each a {header: text} mapping. Raise `Incomplete` when
        the file does not parse as a whole, `Refused` when it is complete but unusable (both may
        come after some rows were yielded: nothing of the file is kept then)."""

    # --- the contract ---------------------------------------------------------------------

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        async with self._lock:
            await self._scan_if_due()
            return await asyncio.to_thread(self._page, cursor, max(1, page_size))

    def list_all(self, kind: str, page_size: int) -> AsyncIterator[ListingPage]:
        return self._list_all(kind, max(1, page_size))

    async def _list_all(self, kind: str, page_size: int) -> AsyncIterator[ListingPage]:
        """The last processed snapshot's rows of `kind` (listed rows and the removed rows it still
        shows), in key order, each as the change that set it."""
        async with self._lock:
            await self._scan_if_due()
        after = ""
        while True:
            async with self._lock:
                rows = await asyncio.to_thread(self._listing_page, kind, after, page_size)
            if rows:
                yield ListingPage(rows=[change for _key, change in rows])
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    async def write(self, write: NativeWrite) -> WriteResult:
        raise PermanentError(
            f"{self.system} takes no writes: the department decides and publishes in its own system;"
            " the gateway only reads its snapshots",
            code="read_only",
        )

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    async def scan(self) -> None:
        """Take whatever the drop directory holds now (ignoring the scan interval)."""
        async with self._lock:
            await asyncio.to_thread(self._scan)
            self._last_scan = self._clock()

    async def files(self) -> list[TakenFile]:
        """Every file taken so far, in processing order."""
        async with self._lock:
            return await asyncio.to_thread(self._files)

    async def held(self) -> list[str]:
        """Names of the files held back (not yet complete)."""
        async with self._lock:
            return await asyncio.to_thread(lambda: [r[0] for r in self._conn().execute("SELECT name FROM held")])

    # --- state ----------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.state_path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")  # a second replica sharing the state waits its turn
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def _files(self) -> list[TakenFile]:
        query = "SELECT seq, name, size, sha256, rows, taken_at, processed_at, outcome, detail FROM files ORDER BY seq"
        return [TakenFile(*row) for row in self._conn().execute(query)]

    async def _scan_if_due(self) -> None:
        now = self._clock()
        if self._last_scan is None or (now - self._last_scan).total_seconds() >= self.scan_interval_s:
            await asyncio.to_thread(self._scan)
            self._last_scan = now

    # --- scanning -------------------------------------------------------------------------

    def _candidates(self) -> list[Path]:
        try:
            entries = list(self.drop_dir.iterdir())
        except FileNotFoundError:
            # Misconfiguration or an unmounted volume: the poller reports it and tries again.
            message = f"{self.system}: drop directory {self.drop_dir} does not exist"
            raise RetryableError(message, code="no_drop_dir") from None
        suffix = f".{self.file_extension}"
        return sorted(
            (
                path
                for path in entries
                if not path.name.startswith(".")
                and path.name.startswith(f"{self.file_prefix}_")
                and path.name.endswith(suffix)
                and path.is_file()
            ),
            key=lambda path: path.name,
        )

    def _scan(self) -> None:
        db = self._conn()
        now = self._clock()
        taken = {row[0] for row in db.execute("SELECT name FROM files")}
        for path in self._candidates():
            if path.name in taken:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # moved away meanwhile
            if time.time() - stat.st_mtime < self.settle_s:  # the file system's clock, not the adapter's
                continue  # still being written, perhaps: look again on the next scan
            try:
                self._take(path, stat.st_mtime, now)
            except FileNotFoundError:
                continue  # moved away meanwhile
        self._give_up_stale_holds(now)
        FILEDROP_HELD.labels(self.system).set(db.execute("SELECT count(*) FROM held").fetchone()[0])

    def _take(self, path: Path, mtime: float, now: datetime) -> None:
        db = self._conn()
        sha256, size = sha256_of(path)
        taken_at = file_time(path.name, mtime)
        held = db.execute("SELECT sha256, attempts, first_seen FROM held WHERE name = ?", (path.name,)).fetchone()
        if held is not None and held[0] == sha256:
            return  # unchanged since it was found incomplete
        last = db.execute("SELECT sha256, name FROM files WHERE outcome = ? ORDER BY seq DESC LIMIT 1", (PROCESSED,))
        previous = last.fetchone()
        if previous is not None and previous[0] == sha256:
            self._record(path.name, size, sha256, None, taken_at, now, DUPLICATE, f"same bytes as {previous[1]}")
            return
        if previous is not None and path.name < previous[1]:
            # Arrived late: its name says it is older than the snapshot already processed.
            detail = f"older than {previous[1]}, already processed"
            self._record(path.name, size, sha256, None, taken_at, now, SUPERSEDED, detail)
            return
        db.execute("BEGIN IMMEDIATE")
        if self._taken_meanwhile(path.name):
            return
        try:
            seq, rows = self._load_snapshot(path, size, sha256, taken_at, now)
        except Incomplete as exc:
            db.execute("ROLLBACK")
            self._hold(path.name, size, sha256, now, exc.reason, held)
            return
        except Refused as exc:
            db.execute("ROLLBACK")
            self._refuse(path.name, size, sha256, taken_at, now, exc)
            return
        except (OSError, sqlite3.Error):
            db.execute("ROLLBACK")
            raise  # the disk or the state, not the file: the next scan tries again
        except Exception as exc:
            # A settled file the reader cannot make sense of: refused visibly, or it would stop
            # every later file behind it.
            db.execute("ROLLBACK")
            unreadable = Refused(f"unreadable: {type(exc).__name__}: {exc}", problem=NOT_THE_TEMPLATE)
            self._refuse(path.name, size, sha256, taken_at, now, unreadable)
            return
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("DELETE FROM held WHERE name = ?", (path.name,))
        db.execute("COMMIT")
        FILEDROP_FILES.labels(self.system, PROCESSED).inc()
        self._log.info("file_processed", file=path.name, rows=rows, sha256=sha256[:12], seq=seq)
        # Files held back from before this one can only carry an older snapshot now.
        for (name,) in db.execute("SELECT name FROM held WHERE name < ? ORDER BY name", (path.name,)).fetchall():
            self._give_up(name, now, f"a later file ({path.name}) was processed first")

    def _load_snapshot(self, path: Path, size: int, sha256: str, taken_at: datetime, now: datetime) -> tuple[int, int]:
        """Read the whole file into a temporary table (later row of a key wins), diff it against the
        last snapshot, log the changes and make it the current snapshot. Inside the caller's
        transaction."""
        db = self._conn()
        db.execute("CREATE TEMP TABLE IF NOT EXISTS incoming (key TEXT PRIMARY KEY, kind TEXT, row TEXT, digest TEXT)")
        db.execute("DELETE FROM incoming")
        count = 0
        for row in self.read_rows(path):
            missing = [name for name in self.key_fields if not str(row.get(name) or "").strip()]
            if missing:
                raise Refused(
                    f"row {count + 1} has no {', '.join(missing)}: the list's key is required on every row",
                    problem="not_the_template",
                )
            key = normalised_key([row[name] for name in self.key_fields])
            kind = str(row.get(self.kind_field) or "") if self.kind_field else self.default_kind
            text = json.dumps(row, ensure_ascii=False, sort_keys=True)
            digest = hashlib.sha256(text.encode()).hexdigest()
            db.execute("INSERT OR REPLACE INTO incoming VALUES (?, ?, ?, ?)", (key, kind, text, digest))
            count += 1
        seq = self._record_row(path.name, size, sha256, count, taken_at, now, PROCESSED, "")
        # The diff in SQL, so that no side of it is ever held in memory. Absences first: should two
        # keys of one record cross (a retyped key), the present row is the later change and wins.
        absent = db.execute(
            "INSERT INTO changes (file_seq, ord, key, kind, action, row)"
            " SELECT ?, row_number() OVER (ORDER BY key), key, kind, 'absent', json_set(row, ?, ?) FROM current"
            " WHERE key NOT IN (SELECT key FROM incoming)",
            (seq, f"$.{ABSENT_FROM}", path.name),
        ).rowcount
        db.execute(
            "INSERT INTO changes (file_seq, ord, key, kind, action, row)"
            " SELECT ?, ? + row_number() OVER (ORDER BY i.key), i.key, i.kind,"
            " CASE WHEN c.key IS NULL THEN 'added' ELSE 'changed' END, i.row"
            " FROM incoming i LEFT JOIN current c ON c.key = i.key WHERE c.key IS NULL OR c.digest <> i.digest",
            (seq, absent),
        )
        db.execute("DELETE FROM current WHERE key NOT IN (SELECT key FROM incoming)")
        db.execute(
            "INSERT OR REPLACE INTO current (key, kind, row, digest, file_seq, ord)"
            " SELECT i.key, i.kind, i.row, i.digest, ch.file_seq, ch.ord FROM incoming i"
            " JOIN changes ch ON ch.file_seq = ? AND ch.key = i.key",
            (seq,),
        )
        return seq, count

    def _record_row(
        self,
        name: str,
        size: int,
        sha256: str,
        rows: int | None,
        taken_at: datetime,
        now: datetime,
        outcome: str,
        detail: str,
    ) -> int:
        cursor = self._conn().execute(
            "INSERT INTO files (name, size, sha256, rows, taken_at, processed_at, outcome, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, size, sha256, rows, taken_at.isoformat(), now.isoformat(), outcome, detail),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _record(
        self,
        name: str,
        size: int,
        sha256: str,
        rows: int | None,
        taken_at: datetime,
        now: datetime,
        outcome: str,
        detail: str,
        *,
        incident: dict[str, Any] | None = None,
    ) -> None:
        """One file's final outcome, with its incident (if any) in the change log, atomically."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        if self._taken_meanwhile(name):
            return
        try:
            seq = self._record_row(name, size, sha256, rows, taken_at, now, outcome, detail)
            if incident is not None:
                row = {"name": name, "size": size, "sha256": sha256, "outcome": outcome, **incident}
                db.execute(
                    "INSERT INTO changes VALUES (?, 1, NULL, ?, 'incident', ?)",
                    (seq, FILE_INCIDENT_KIND, json.dumps(row, ensure_ascii=False, sort_keys=True)),
                )
            db.execute("DELETE FROM held WHERE name = ?", (name,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        FILEDROP_FILES.labels(self.system, outcome).inc()
        (self._log.warning if incident else self._log.info)(f"file_{outcome}", file=name, detail=detail)

    def _taken_meanwhile(self, name: str) -> bool:
        """Inside a write transaction: another process sharing the state (a second replica) took
        the file since this scan listed it. Then the transaction is closed and nothing is done."""
        db = self._conn()
        if db.execute("SELECT 1 FROM files WHERE name = ?", (name,)).fetchone() is None:
            return False
        db.execute("ROLLBACK")
        return True

    def _hold(self, name: str, size: int, sha256: str, now: datetime, reason: str, held: Any) -> None:
        attempts = (held[1] if held else 0) + 1
        first_seen = held[2] if held else now.isoformat()
        self._conn().execute(
            "INSERT OR REPLACE INTO held VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, size, sha256, first_seen, now.isoformat(), attempts, reason),
        )
        self._log.warning("file_held_back", file=name, reason=reason, attempts=attempts)

    def _refuse(self, name: str, size: int, sha256: str, taken_at: datetime, now: datetime, exc: FileProblem) -> None:
        incident = {"problem": exc.problem, "reason": exc.reason}
        self._record(name, size, sha256, None, taken_at, now, REFUSED, exc.reason, incident=incident)

    def _give_up(self, name: str, now: datetime, why: str) -> None:
        held = self._conn().execute("SELECT size, sha256, reason FROM held WHERE name = ?", (name,)).fetchone()
        if held is None:
            return
        size, sha256, reason = held
        detail = f"{reason}; given up: {why}"
        taken_at = file_time(name, now.timestamp())
        incident = {"problem": INCOMPLETE, "reason": detail}
        self._record(name, size, sha256, None, taken_at, now, GIVEN_UP, detail, incident=incident)

    def _give_up_stale_holds(self, now: datetime) -> None:
        limit = (now - timedelta(seconds=self.hold_limit_s)).isoformat()
        stale = self._conn().execute("SELECT name FROM held WHERE first_seen <= ? ORDER BY name", (limit,)).fetchall()
        for (name,) in stale:
            self._give_up(name, now, f"still incomplete after {self.hold_limit_s:g} s")

    # --- reading the change log -----------------------------------------------------------

    def _position(self, cursor: str | None) -> tuple[int, int]:
        if not cursor:
            return 0, 0
        name, _, count = cursor.rpartition(":")
        found = self._conn().execute("SELECT seq FROM files WHERE name = ?", (name,)).fetchone()
        if found is None or not count.isdigit():
            # The adapter's state was lost or replaced: read from the start (the inbox
            # de-duplicates what the gateway already has; nothing is skipped).
            self._log.warning("cursor_unknown", cursor=cursor)
            return 0, 0
        return int(found[0]), int(count)

    def _page(self, cursor: str | None, page_size: int) -> ChangePage:
        after = self._position(cursor)
        rows = (
            self._conn()
            .execute(
                "SELECT ch.file_seq, ch.ord, ch.key, ch.kind, ch.row, f.name, f.taken_at FROM changes ch"
                " JOIN files f ON f.seq = ch.file_seq WHERE (ch.file_seq, ch.ord) > (?, ?)"
                " ORDER BY ch.file_seq, ch.ord LIMIT ?",
                (*after, page_size + 1),
            )
            .fetchall()
        )
        page = rows[:page_size]
        changes = [self._change(*row) for row in page]
        if page:
            last = page[-1]
            cursor = f"{last[5]}:{last[1]}"
        return ChangePage(changes=changes, cursor=cursor or "", has_more=len(rows) > page_size)

    def _listing_page(self, kind: str, after: str, page_size: int) -> list[tuple[str, NativeChange]]:
        rows = (
            self._conn()
            .execute(
                "SELECT c.file_seq, c.ord, c.key, c.kind, c.row, f.name, f.taken_at FROM current c"
                " JOIN files f ON f.seq = c.file_seq WHERE c.kind = ? AND c.key > ? ORDER BY c.key LIMIT ?",
                (kind, after, page_size),
            )
            .fetchall()
        )
        return [(row[2], self._change(*row)) for row in rows]

    @staticmethod
    def _change(
        file_seq: int, ordinal: int, key: str | None, kind: str, row: str, name: str, taken_at: str
    ) -> NativeChange:
        return NativeChange(
            change_key=f"{name}#{ordinal}",
            # Sortable text: the file's place in processing order, then the change's place in it.
            source_version=f"{file_seq:020d}.{ordinal:09d}",
            changed_at=datetime.fromisoformat(taken_at),
            kind=kind,
            native_id=key,
            row=json.loads(row),
        )


def cell_text(value: object) -> str:
    """A spreadsheet cell as text: dates ISO (`yyyy-MM-dd`, the cell's own type says it is a
    date), whole numbers without `.0`, empty cells empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def row_dict(headers: Sequence[str], values: Sequence[object], skip: frozenset[str] = frozenset()) -> dict[str, str]:
    return {name: cell_text(value) for name, value in zip(headers, values, strict=False) if name and name not in skip}


def key_fields_of(headers: Mapping[str, int] | Sequence[str], key_fields: Sequence[str]) -> list[str]:
    """The key fields a header row lacks."""
    return [name for name in key_fields if name not in headers]


__all__ = [
    "DUPLICATE",
    "GIVEN_UP",
    "PROCESSED",
    "REFUSED",
    "SUPERSEDED",
    "FileDropAdapter",
    "FileProblem",
    "Incomplete",
    "Refused",
    "TakenFile",
    "cell_text",
    "file_time",
    "key_fields_of",
    "normalised_key",
    "row_dict",
]
