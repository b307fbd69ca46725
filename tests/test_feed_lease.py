"""One reader per feed (docs/adr/0030): two pollers of one feed on one database — two replicas —
never ingest side by side, and a reader whose lease was taken over commits nothing more.

The race this closes (seen with three `serve` replicas on PostgreSQL, bench/crash.py --replicas 3):
信用中国's SJC has whole seconds, so two contents of one row within a second carry one source
version; replica B read the first content, replica A the second, A committed first, and B's older
content then won, losing an acknowledged restore."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest

from gateway.contract import ChangePage, NativeChange, NativeWrite, SystemAdapter, WriteResult
from gateway.domain.model import PUBLISHED, StopReason, stopped
from gateway.domain.plan import Observation, Policy
from gateway.store.database import Database
from gateway.store.group import GroupCommitter
from gateway.store.repo import Repo
from gateway.sync.connectors import Connector
from gateway.sync.poller import FEED, FeedLeaseLost, Fence, Poller
from tests.conftest import T0, penalty_facts

CC = "creditchina_gansu"
POLICY = Policy(enabled_systems=frozenset({CC}))
SECOND = "20261204011718"  # both contents below were made within this one second


class _SameSecondFeed(SystemAdapter):
    """One row changed twice within one second: published, then stopped. A reader sees the
    contents the feed held when it read (`contents`)."""

    system = CC

    def __init__(self, contents: list[str]) -> None:
        self.contents = contents
        self.reads = 0

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        self.reads += 1
        changes = [
            NativeChange(
                change_key=f"94@{SECOND}#{content}",
                source_version=SECOND,  # the same for both: the feed cannot order them
                changed_at=T0,
                kind="CF",
                native_id="94",
                row={"state": content},
            )
            for content in self.contents
        ]
        start = int(cursor.removeprefix("after-")) if cursor else 0
        return ChangePage(changes=changes[start:], cursor=f"after-{len(changes)}", has_more=False)

    async def write(self, write: NativeWrite) -> WriteResult:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class _Mapping:
    system = CC

    def to_observation(self, change: NativeChange) -> Observation:
        target = PUBLISHED if change.row["state"] == "published" else stopped(StopReason.REPAIRED)
        return Observation(
            source=CC,
            facts=penalty_facts(document_number="兰环罚〔2026〕94号"),
            target=target,
            changed_at=change.changed_at,
            source_version=change.source_version,
            native_id=change.native_id,
        )


def _poller(committer: GroupCommitter, feed: _SameSecondFeed, owner: str, clock: dict[str, Any]) -> Poller:
    connector = Connector(system=CC, adapter=feed, mapping=_Mapping())  # type: ignore[arg-type]
    return Poller(committer, connector, POLICY, owner=owner, lease_s=15, clock=lambda: clock["now"])


async def test_a_second_reader_waits_while_the_first_holds_the_feed(db: Database) -> None:
    clock = {"now": T0}
    committer = GroupCommitter(db)
    first = _poller(committer, _SameSecondFeed(["published"]), "host-a:1:a", clock)
    second_feed = _SameSecondFeed(["published", "stopped"])
    second = _poller(committer, second_feed, "host-b:2:b", clock)
    try:
        assert (await first.poll_once()).changes == 1
        stats = await second.poll_once()
        assert stats.outcomes == {"feed_read_elsewhere": 1} and second_feed.reads == 0  # it did not even read
        clock["now"] = T0 + timedelta(seconds=10)
        assert (await first.poll_once()).outcomes.get("feed_read_elsewhere") is None  # renewing its own lease
        clock["now"] = T0 + timedelta(seconds=40)  # the first reader is gone: its lease ran out
        assert (await second.poll_once()).changes == 1  # from where the first left the cursor
        assert (await first.poll_once()).outcomes == {"feed_read_elsewhere": 1}
    finally:
        await committer.close()


async def test_a_reader_that_lost_its_lease_commits_nothing_more(db: Database) -> None:
    """The stale reader's page (the older content, same second) must not land after the newer one."""
    clock = {"now": T0}
    committer = GroupCommitter(db)
    stale = _poller(committer, _SameSecondFeed(["published"]), "host-a:1:a", clock)
    try:
        assert (await stale.poll_once()).changes == 1
        record_id = penalty_facts(document_number="兰环罚〔2026〕94号").record_id

        # The stale reader holds generation 1 and has read its next page; meanwhile another reader
        # takes the feed (its lease ran out, or a resync took it) and ingests the newer content.
        generation = await db.run(
            lambda tx: Repo(tx).claim_feed(CC, FEED, "host-a:1:a", T0, T0 + timedelta(seconds=15))
        )
        assert generation == 1
        taken = await db.run(lambda tx: Repo(tx).take_feed(CC, FEED, "host-b:2:b", T0 + timedelta(seconds=15)))
        assert taken == 2
        newer = _poller(committer, _SameSecondFeed(["published", "stopped"]), "host-b:2:b", clock)
        await newer.poll_once()
        state = await db.run(lambda tx: Repo(tx).load_record(record_id), write=False)
        assert state is not None and state.state.target == stopped(StopReason.REPAIRED)

        # The stale reader's units are fenced: nothing of its page is committed.
        fence = Fence(CC, "host-a:1:a", 1)
        with pytest.raises(FeedLeaseLost):
            await db.run(fence.guard(lambda tx: Repo(tx).set_cursor(CC, FEED, "back", T0)))
        assert await db.run(lambda tx: Repo(tx).get_cursor(CC, FEED), write=False) != "back"
        assert (await stale.poll_once()).outcomes == {"feed_read_elsewhere": 1}
        again = await db.run(lambda tx: Repo(tx).load_record(record_id), write=False)
        assert again is not None and again.state.target == stopped(StopReason.REPAIRED)
    finally:
        await committer.close()


async def test_a_restarted_process_takes_over_its_dead_predecessors_feed_at_once(db: Database) -> None:
    """The previous life of `serve` on this host (a pid that no longer runs) is not waited out."""
    clock = {"now": T0}
    committer = GroupCommitter(db)
    dead = f"{socket.gethostname()}:999999999:old"  # no such pid
    await db.run(lambda tx: Repo(tx).claim_feed(CC, FEED, dead, T0, T0 + timedelta(seconds=15)))
    alive_elsewhere = "some-other-host:1:x"
    try:
        restarted = _poller(committer, _SameSecondFeed(["published"]), f"{socket.gethostname()}:1:new", clock)
        assert (await restarted.poll_once()).changes == 1
        await db.run(lambda tx: Repo(tx).take_feed(CC, FEED, alive_elsewhere, T0 + timedelta(seconds=15)))
        assert (await restarted.poll_once()).outcomes == {"feed_read_elsewhere": 1}  # another host: waited out
    finally:
        await committer.close()
