"""Periodic file exchange: a department uploads a full snapshot of its list to a drop directory.

Every upload is written atomically (a dot-named `.part` file in the same directory, then a rename),
so a reader never sees a growing file under its final name — unless a fault asks for exactly that.
Faults are one-shot and apply to the next upload: `half_written` (the first half of the bytes under
the final name, never completed), `duplicate_upload` (the same bytes uploaded a second time under
a new name), `wrong_encoding` (a CSV written in UTF-8 instead of the agreed GB18030).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from simulators.admin import AdminError, Stats, json_response, read_json_object
from simulators.clock import BEIJING, Clock, SystemClock
from simulators.lists.base import ListBook, ListDialect, Record, admin_only_app, list_admin_routes, stats_json

FILE_FAULTS = ("half_written", "duplicate_upload", "wrong_encoding")
KEEP_REMOVED_DAYS = 30  # a removed row stays in the snapshots this long, then drops out


def iso_date(text: Any) -> date | None:
    """A register date (`yyyy-MM-dd`), or None when empty or malformed."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def shown_in_snapshot(listed: bool, removed_on: Any, today: date) -> bool:
    """Listed rows always; removed rows for KEEP_REMOVED_DAYS after their removal date."""
    if listed:
        return True
    removed = iso_date(removed_on)
    return removed is not None and today - removed <= timedelta(days=KEEP_REMOVED_DAYS)


@dataclass(kw_only=True)
class FileDropConfig:
    drop_dir: Path | None = None  # None: a fresh temporary directory, removed when the app stops
    interval_s: float = 0.0  # 0: upload only at start and on POST /admin/upload
    upload_on_start: bool = True
    clock: Clock = field(default_factory=SystemClock)


class FileDialect(ListDialect, Protocol):
    @property
    def prefix(self) -> str:
        """File names: <prefix>_<yyyyMMddHHmmss>_<upload no>.<extension>."""
        ...

    @property
    def extension(self) -> str: ...

    @property
    def supports_wrong_encoding(self) -> bool: ...

    @property
    def expiry_reason(self) -> str:
        """移出原因 written when the period ends."""
        ...

    def in_snapshot(self, record: Record, today: date) -> bool: ...

    def render(self, rows: list[Record], now: datetime, *, wrong_encoding: bool) -> bytes: ...


@dataclass
class Upload:
    name: str
    sha256: str
    size: int
    rows: int
    at: str
    kind: str  # "complete" | "half_written" | "duplicate_upload" | "wrong_encoding"


class FileDropSimulator:
    """One department's export job: its register, a drop directory, a schedule and upload faults."""

    def __init__(
        self,
        dialect: FileDialect,
        clock: Clock,
        *,
        drop_dir: Path | None,
        interval_s: float,
        upload_on_start: bool,
    ) -> None:
        self.dialect = dialect
        self.clock = clock
        self.stats = Stats()
        self.book = ListBook(dialect, clock, self.stats)
        self._own_dir = drop_dir is None
        self.drop_dir = Path(tempfile.mkdtemp(prefix=f"creditgw-{dialect.name}-")) if drop_dir is None else drop_dir
        self.interval_s = interval_s
        self.upload_on_start = upload_on_start
        self.uploads: list[Upload] = []
        self.pending: set[str] = set()
        self.injected: Counter[str] = Counter()
        self._lock = asyncio.Lock()
        self.expiry_reason = dialect.expiry_reason
        self.reset()

    def reset(self) -> None:
        self.book.reset()
        self.stats.clear()
        self.pending.clear()
        self.injected.clear()

    def faults_json(self) -> dict[str, Any]:
        body = stats_json(self.stats)
        body["faults_injected"] = dict(sorted(self.injected.items()))
        body["uploads"] = len(self.uploads)
        return body

    async def upload(self) -> list[Upload]:
        """Write one snapshot now (with whatever faults are pending); the files written."""
        async with self._lock:
            return await asyncio.to_thread(self._upload)

    def _upload(self) -> list[Upload]:
        now = self.clock.now()
        today = now.astimezone(BEIJING).date()
        rows = [row for row in self.book.rows if self.dialect.in_snapshot(row, today)]
        faults, self.pending = self.pending, set()
        for fault in sorted(faults):
            self.injected[fault] += 1
        wrong = "wrong_encoding" in faults
        data = self.dialect.render(rows, now, wrong_encoding=wrong)
        self.drop_dir.mkdir(parents=True, exist_ok=True)
        if "half_written" in faults:
            # The transfer died half-way, straight into the final name.
            name = self._next_name(now)
            (self.drop_dir / name).write_bytes(data[: len(data) // 2])
            return [self._record(name, data[: len(data) // 2], len(rows), now, "half_written")]
        written = [self._write_atomically(data, len(rows), now, "wrong_encoding" if wrong else "complete")]
        if "duplicate_upload" in faults:
            written.append(self._write_atomically(data, len(rows), now, "duplicate_upload"))
        return written

    def _write_atomically(self, data: bytes, rows: int, now: datetime, kind: str) -> Upload:
        name = self._next_name(now)
        part = self.drop_dir / f".{name}.part"
        with open(part, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, self.drop_dir / name)
        return self._record(name, data, rows, now, kind)

    def _next_name(self, now: datetime) -> str:
        stamp = now.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")
        return f"{self.dialect.prefix}_{stamp}_{len(self.uploads) + 1:04d}.{self.dialect.extension}"

    def _record(self, name: str, data: bytes, rows: int, now: datetime, kind: str) -> Upload:
        at = now.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        upload = Upload(name, hashlib.sha256(data).hexdigest(), len(data), rows, at, kind)
        self.uploads.append(upload)
        self.stats.request("upload", kind)
        return upload

    def close(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.drop_dir, ignore_errors=True)

    # --- admin --------------------------------------------------------------------------------

    async def admin_upload(self, _request: web.Request) -> web.Response:
        written = await self.upload()
        return json_response({"files": [asdict(upload) for upload in written]})

    async def admin_files(self, _request: web.Request) -> web.Response:
        return json_response({"files": [asdict(upload) for upload in self.uploads]})

    async def admin_info(self, _request: web.Request) -> web.Response:
        info = {
            "dropDir": str(self.drop_dir),
            "prefix": self.dialect.prefix,
            "extension": self.dialect.extension,
            "intervalS": self.interval_s,
        }
        return json_response(info)

    async def get_faults(self, _request: web.Request) -> web.Response:
        return json_response({name: name in self.pending for name in FILE_FAULTS})

    async def set_faults(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        chosen: set[str] = set()
        for name, value in body.items():
            if name not in FILE_FAULTS:
                raise AdminError(400, "invalid_fault", f"unknown fault knob {name!r}", name)
            if not isinstance(value, bool):
                raise AdminError(400, "invalid_fault", f"{name} must be true or false", name)
            if value:
                chosen.add(name)
        if "wrong_encoding" in chosen and not self.dialect.supports_wrong_encoding:
            message = f"{self.dialect.name} uploads .{self.dialect.extension}, which has no text encoding to get wrong"
            raise AdminError(400, "invalid_fault", message, "wrong_encoding")
        if {"half_written", "duplicate_upload"} <= chosen:
            message = "a half-written upload cannot also be duplicated"
            raise AdminError(400, "invalid_fault", message, "duplicate_upload")
        self.pending = chosen
        return await self.get_faults(request)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.pending = set()
        return await self.get_faults(request)


async def _schedule(simulator: FileDropSimulator) -> None:
    while True:
        await asyncio.sleep(simulator.interval_s)
        await simulator.upload()


def create_file_app(dialect: FileDialect, config: FileDropConfig, key: web.AppKey[Any]) -> web.Application:
    """Admin-only application: the department's native exchange is the drop directory itself."""
    simulator = FileDropSimulator(
        dialect,
        config.clock,
        drop_dir=config.drop_dir,
        interval_s=config.interval_s,
        upload_on_start=config.upload_on_start,
    )
    post, get = list_admin_routes(simulator, allow_append=True)
    post = {**post, "/admin/upload": simulator.admin_upload, "/admin/faults": simulator.set_faults}
    get = {**get, "/admin/files": simulator.admin_files, "/admin/info": simulator.admin_info}
    get["/admin/faults"] = simulator.get_faults
    app = admin_only_app(key, simulator, post=post, get=get, delete={"/admin/faults": simulator.clear_faults})

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        if simulator.upload_on_start:
            await simulator.upload()
        task = asyncio.create_task(_schedule(simulator)) if simulator.interval_s > 0 else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        simulator.close()

    app.cleanup_ctx.append(lifecycle)
    return app
