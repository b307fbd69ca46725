"""gateway/store/bulk.py: items submitted concurrently, handled together in one committer unit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.store.bulk import ALONE, Bulk
from gateway.store.database import Database, Tx
from gateway.store.group import GroupCommitter


def _echo(tx: Tx, items: list[int]) -> Sequence[int | BaseException | None]:
    return [ValueError(f"odd {i}") if i % 2 else i * 10 if i % 3 else ALONE for i in items]


def _alone(item: int) -> object:
    return lambda tx: -item


async def test_one_after_another_every_item_is_answered(db: Database) -> None:
    """A caller that submits again as soon as it is answered lands between the end of the drain's
    loop and the end of its task: it must still be taken (this hung the dispatcher once)."""
    committer = GroupCommitter(db)
    bulk: Bulk[int, int] = Bulk(committer, lambda tx, items: [i for i in items], _alone, max_batch=8, name="t")
    try:
        async with asyncio.timeout(5):  # not wait_for: its extra task would hide the gap
            for i in range(30):
                assert await bulk.submit(i) == i
    finally:
        await committer.close()


async def test_results_errors_and_alone_reach_their_callers(db: Database) -> None:
    committer = GroupCommitter(db)
    bulk: Bulk[int, int] = Bulk(committer, _echo, _alone, max_batch=4, name="t")  # type: ignore[arg-type]
    try:
        outcomes = await asyncio.gather(*(bulk.submit(i) for i in range(1, 10)), return_exceptions=True)
    finally:
        await committer.close()
    expected = [ValueError, 20, ValueError, 40, ValueError, -6, ValueError, 80, ValueError]
    for outcome, want in zip(outcomes, expected, strict=True):
        if want is ValueError:
            assert isinstance(outcome, ValueError)
        else:
            assert outcome == want


async def test_a_failed_bulk_runs_every_item_alone(db: Database) -> None:
    committer = GroupCommitter(db)

    def failing(tx: Tx, items: list[int]) -> list[int]:
        raise RuntimeError("deadlock detected")

    bulk: Bulk[int, int] = Bulk(committer, failing, _alone, max_batch=4, name="t")  # type: ignore[arg-type]
    try:
        assert await asyncio.gather(*(bulk.submit(i) for i in range(6))) == [0, -1, -2, -3, -4, -5]
    finally:
        await committer.close()
