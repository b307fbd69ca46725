"""Bulk units: items that concurrent callers submit, handled together by one function in one unit of
the group committer.

Group commit (group.py) shares one transaction and its fsync among units, but each unit still runs
its own statements. Where many items can be handled with one statement per table — API decisions
(gateway/api/decisions.py), delivery outcomes (gateway/sync/dispatcher.py) — callers submit items
here instead. While one bulk unit commits, the next items queue, so a bulk grows with the load and a
lone item is not kept waiting; on PostgreSQL several bulks run side by side, as many as the
committer runs batches at once.

The bulk function returns one result per item, in order: a value, an exception the caller is to
hear, or ALONE, which leaves the item to `alone` — its own unit, run after the bulk committed.
When the bulk unit fails as a whole (a deadlock, a race lost to another replica), nothing of it is
kept and every one of its items runs alone, so each caller hears its own outcome.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from gateway.observability import get_logger
from gateway.store.database import StoreUnavailable, Tx
from gateway.store.group import GroupCommitter

I = TypeVar("I")  # noqa: E741 - the item type, as in the module docstring
R = TypeVar("R")

ALONE = None  # a bulk result: run this item as its own unit

log = get_logger("creditgw.store")


class Bulk(Generic[I, R]):
    def __init__(
        self,
        committer: GroupCommitter,
        run: Callable[[Tx, list[I]], Sequence[R | BaseException | None]],
        alone: Callable[[I], Callable[[Tx], R]],
        *,
        max_batch: int,
        name: str,
    ) -> None:
        self.committer = committer
        self.max_batch = max(1, max_batch)
        self.name = name
        self._run_bulk = run
        self._alone = alone
        self._queue: deque[tuple[I, asyncio.Future[R]]] = deque()
        self._drains: set[asyncio.Task[None]] = set()
        self._draining = 0

    @property
    def queued(self) -> int:
        """Items waiting to be batched."""
        return len(self._queue)

    async def submit(self, item: I) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        # Forming a batch ahead of the committer was measured to make batches smaller and the
        # whole slower (bench/ingest.py): one bulk per committer batch in flight.
        if self._draining < self.committer.parallel:
            self._draining += 1
            task = asyncio.create_task(self._drain(), name=f"bulk-{self.name}")
            self._drains.add(task)  # a reference, so the task is not collected while it runs
            task.add_done_callback(self._drains.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
                await self._run(batch)
        finally:
            # Counted down in the same step as the empty-queue check, with no await in between:
            # an item queued after it starts a new drain, one queued before is taken by this one.
            # (The task's done callback runs a step later: counting tasks there would strand an
            # item queued in between, with no drain left to take it.)
            self._draining -= 1

    async def _run(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]
        results: Sequence[R | BaseException | None]
        try:
            results = await self.committer.submit(lambda tx: self._run_bulk(tx, items), gathered=True)
        except StoreUnavailable as exc:  # alone they would fail the same way, one wait each
            results = [exc] * len(batch)
        except Exception as exc:
            log.warning("bulk_failed", bulk=self.name, items=len(batch), error=str(exc)[:200])
            results = [ALONE] * len(batch)
        alone = []
        for (item, future), result in zip(batch, results, strict=True):
            if result is ALONE:
                alone.append(self._run_alone(item, future))
            elif isinstance(result, BaseException):
                _settle(future, error=result)
            else:
                _settle(future, value=result)
        if alone:
            await asyncio.gather(*alone)

    async def _run_alone(self, item: I, future: asyncio.Future[R]) -> None:
        try:
            value = await self.committer.submit(self._alone(item))
        except Exception as exc:
            _settle(future, error=exc)
        else:
            _settle(future, value=value)


def _settle(future: asyncio.Future[R], *, value: R | None = None, error: BaseException | None = None) -> None:
    if future.done():  # the caller was cancelled (a client gone): the effects stand, nobody listens
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)  # type: ignore[arg-type]  # value is an R when error is None
