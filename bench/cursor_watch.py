"""Watching the feeds' stored cursors while replicas poll side by side: a cursor must never move
back (issue 14 item 5). Two pollers reading one feed race to store their page's cursor; the store
compares and sets (gateway/sync/poller.py), so the stored position only moves forward. This reads
the `cursors` table over and over and reports every step backwards.

Positions are each feed's own: the GSXT simulator's `seq` (an opaque token to the gateway; decoded
here through the simulator's own code, the other side of the protocol), and 信用中国's SJC second
plus the rows already read in that second (adapters/creditchina_gansu `FeedCursor`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from adapters.creditchina_gansu import FeedCursor
from bench.probe import StoreProbe
from bench.sandbox import CREDITCHINA, GSXT
from gateway.feedtime import parse_beijing_timestamp
from gateway.sync.poller import FEED
from simulators.gsxt_gansu.store import decode_cursor


def _creditchina_back(before: str, after: str) -> bool:
    old, new = FeedCursor.parse(before), FeedCursor.parse(after)
    old_second, new_second = parse_beijing_timestamp(old.since), parse_beijing_timestamp(new.since)
    if new_second != old_second:
        return new_second < old_second
    # Same second: what was read in it can only grow (a row's count of contents read, too).
    return any(row not in new.seen or new.seen[row][1] < count for row, (_, count) in old.seen.items())


def _gsxt_back(before: str, after: str) -> bool:
    old, new = decode_cursor(before), decode_cursor(after)
    return old is None or new is None or new < old


MOVED_BACK: dict[str, Callable[[str, str], bool]] = {CREDITCHINA: _creditchina_back, GSXT: _gsxt_back}


@dataclass(frozen=True, kw_only=True)
class Step:
    system: str
    feed: str
    before: str
    after: str
    at: datetime


@dataclass(kw_only=True)
class CursorWatch:
    probe: StoreProbe
    every_s: float = 0.1
    moves: int = 0  # positions seen to change
    backwards: list[Step] = field(default_factory=list)
    _last: dict[tuple[str, str], str] = field(default_factory=dict)

    async def look(self) -> None:
        for (system, feed), position in (await self.probe.cursors()).items():
            if feed != FEED:  # other rows of the table are marks, not positions (e.g. first_read)
                continue
            previous = self._last.get((system, feed))
            if previous is not None and previous != position:
                self.moves += 1
                if MOVED_BACK[system](previous, position):
                    step = Step(system=system, feed=feed, before=previous, after=position, at=datetime.now())
                    self.backwards.append(step)
            self._last[(system, feed)] = position

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.look()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)
        await self.look()
