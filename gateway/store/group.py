"""Group commit: many small units of work, one transaction, one fsync.

Concurrent requests each hand in a function; a committer task runs whatever is queued in one
transaction, each unit inside its own SAVEPOINT so one failing unit rolls back only itself. On
SQLite one committer runs (one writer anyway); on PostgreSQL several run side by side, each batch
on its own pooled connection, because there a batch is bound by network round trips, not by the
disk (bench/ingest.py: one batch at a time reached 0.04× a bare handler, statement round trips
dominating). If a whole batch fails — a deadlock between two batches locking the same records in
opposite orders, a lost connection — its units are run again one per transaction, so each caller
hears its own outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.observability import get_logger
from gateway.store.database import Database, Deadlock, StoreUnavailable, TransientStoreError, Tx

T = TypeVar("T")
_Unit = tuple[Callable[[Tx], Any], asyncio.Future[Any], bool]  # (work, its caller's future, gathered)
_TRANSIENT_ATTEMPTS = 5
_STOP: Any = None  # queued by close(), once per committer: everything before it is committed first

log = get_logger("creditgw.store")


class GroupCommitter:
    def __init__(self, db: Database, *, max_batch: int = 64, window_ms: float = 0.0, parallel: int = 1) -> None:
        self.db = db
        self.max_batch = max_batch
        self.window_s = window_ms / 1000
        self.parallel = 1 if db.is_single_node else max(1, parallel)
        self._queue: asyncio.Queue[_Unit | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def submit(self, fn: Callable[[Tx], T], *, gathered: bool = False) -> T:
        """Run `fn` in a shared transaction; returns once that transaction has committed.

        `gathered`: `fn` is itself a batch its caller collected (gateway/api/decisions.py), so the
        committer does not wait its window for more units before starting it."""
        if self._closed:
            raise RuntimeError("group committer is closed")
        self._tasks = [t for t in self._tasks if not t.done()]
        while len(self._tasks) < self.parallel:
            self._tasks.append(asyncio.create_task(self._run(), name=f"group-commit-{len(self._tasks)}"))
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((fn, future, gathered))
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            if self.window_s and not first[2] and self._queue.qsize() < self.max_batch:
                await asyncio.sleep(self.window_s)
            while len(batch) < self.max_batch and not self._queue.empty():
                unit = self._queue.get_nowait()
                if unit is None:
                    stopping = True
                    break
                batch.append(unit)
            await self._commit(batch)

    async def _commit(self, batch: list[_Unit], attempt: int = 1) -> None:
        outcomes: list[tuple[bool, Any]] = []

        def _all(tx: Tx) -> None:
            outcomes.clear()
            if len(batch) == 1:
                # Alone in its transaction, a unit needs no savepoint (two statements, on
                # PostgreSQL two round trips): if it fails, the transaction is rolled back whole
                # and the failure is handled below exactly as a failed unit's would be.
                outcomes.append((True, batch[0][0](tx)))
                return
            for index, (fn, _, _) in enumerate(batch):
                outcomes.append(_run_unit(tx, fn, f"unit_{index}"))

        try:
            await self.db.run(_all)
        except Exception as exc:
            if isinstance(exc, StoreUnavailable):
                # No unit can succeed alone either: everyone hears it now, not one wait per unit.
                for _, future, _ in batch:
                    _resolve(future, False, exc)
                return
            if len(batch) == 1:
                if isinstance(exc, TransientStoreError) and attempt < _TRANSIENT_ATTEMPTS:
                    await self._commit(batch, attempt + 1)  # lost a race with another batch: again
                    return
                # Nothing of it is durable; the caller hears the failure.
                _resolve(batch[0][1], False, exc)
                return
            log.warning("group_commit_batch_failed", units=len(batch), error=str(exc)[:200])
            for unit in batch:
                await self._commit([unit])
            return
        for (ok, value), (_, future, _) in zip(outcomes, batch, strict=True):
            _resolve(future, ok, value)

    @property
    def queued(self) -> int:
        """Units waiting for a batch (the commit queue the API sheds on)."""
        return self._queue.qsize()

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        self._closed = True
        running = [t for t in self._tasks if not t.done()]
        for _ in running:
            self._queue.put_nowait(_STOP)
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _run_unit(tx: Tx, fn: Callable[[Tx], Any], savepoint: str) -> tuple[bool, Any]:
    """One unit in its savepoint; a unit that lost a race (TransientStoreError) is rolled back to
    its savepoint and run again, seeing what the winner committed."""
    for attempt in range(1, _TRANSIENT_ATTEMPTS + 1):
        try:
            with tx.savepoint(savepoint):
                return True, fn(tx)
        except Deadlock:
            raise  # only rolling the whole batch back releases what the other side waits for
        except TransientStoreError as exc:
            if attempt == _TRANSIENT_ATTEMPTS:
                return False, exc
        except Exception as exc:
            return False, exc
    raise AssertionError("unreachable")


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
