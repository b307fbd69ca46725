"""Pollers: read each system's change feed and feed it through the inbound pipeline.

A page is ingested and its cursor saved in one transaction, so the cursor only moves past changes
that are durably stored; a crash re-reads the page and the inbox de-duplicates it.

One reader per feed (docs/adr/0030): a poller reads only under the feed's lease (`feed_leases`),
and every unit of a page checks in its own transaction that the lease is still its own. Two
replicas reading one feed side by side could otherwise commit an older report of a row after a
newer one when the feed cannot order them (信用中国's SJC has whole seconds: two contents of a row
in one second carry one source version), and the older would win.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from gateway.contract import Ingested, NativeChange, SystemAdapter
from gateway.domain.plan import Observation, Outcome, Plan, Policy, owed_after_first_read
from gateway.domain.retry import DeliveryError
from gateway.observability import ACKNOWLEDGED, INBOUND, POLL_ERRORS, get_logger
from gateway.pressure import Outage
from gateway.quarantine import Problem, examine, quarantine
from gateway.schedule import owner_is_dead
from gateway.store.database import StoreUnavailable, Tx, now_utc
from gateway.store.group import GroupCommitter
from gateway.store.repo import FIRST_READ_FEED, Repo
from gateway.sync.connectors import Connector
from gateway.sync.ingest import apply_event, apply_reports
from gateway.sync.plan_writer import PlanWriter

log = get_logger("creditgw.poller")
T = TypeVar("T")
FEED = "changes"
# First read of a feed (FIRST_READ_FEED row): "read" once its end was reached and the system was
# sent what it lacks; "settled" after a second such pass at least SETTLE_AFTER later, which catches
# records first seen by units that still took the system for unread (their poller read the marks
# before this one was written: each page reads them anew, so such a unit is at most a page old).
READ, SETTLED = "read", "settled"
SETTLE_AFTER = timedelta(minutes=1)
OWED_PAGE = 500


class FeedLeaseLost(RuntimeError):
    """This reader no longer holds the feed: what it read must not be committed."""


@dataclass(frozen=True)
class Fence:
    """The lease a page was read under; every unit of the page checks it before writing."""

    system: str
    owner: str
    generation: int

    def guard(self, unit: Callable[[Tx], T]) -> Callable[[Tx], T]:
        def guarded(tx: Tx) -> T:
            if not Repo(tx).holds_feed(self.system, FEED, self.owner, self.generation):
                raise FeedLeaseLost(f"the {self.system} feed was taken over by another reader")
            return unit(tx)

        return guarded

    @staticmethod
    def wrap(fence: Fence | None, unit: Callable[[Tx], T]) -> Callable[[Tx], T]:
        return unit if fence is None else fence.guard(unit)


@dataclass
class PollStats:
    pages: int = 0
    changes: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class Poller:
    def __init__(
        self,
        committer: GroupCommitter,
        connector: Connector,
        policy: Policy,
        *,
        clock: Callable[[], datetime] = now_utc,
        on_deliveries: Callable[[], None] | None = None,
        feeds: Iterable[str] = (),
        owner: str | None = None,
        lease_s: float = 15.0,
    ) -> None:
        self.committer = committer
        self.connector = connector
        # Who holds the feed's lease: the process's owner id, or one of this poller's own.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:poller-{id(self):x}"
        self.lease = timedelta(seconds=lease_s)
        self.policy = policy
        self.clock = clock
        self.on_deliveries = on_deliveries
        # Every system whose feed this gateway reads: which of them are still unread decides
        # what a first sighting may be sent to (Policy.unread).
        self.feeds = frozenset(feeds) | {connector.system}

    async def poll_once(self, max_pages: int = 100) -> PollStats:
        """Read until the feed has nothing more (or `max_pages`); returns what was seen.

        The reports of a page that change nothing but the links (echoes, confirmations) and those
        of records seen for the first time are one unit (`apply_reports`), which locks and creates
        its records in id order; every other change is its own unit of work, locking one record,
        so parallel batches (and other replicas' pollers) can never deadlock on two records taken
        in opposite orders. The cursor moves, by compare-and-set, only once every change of the
        page has committed. Changes of one page may commit out of order: per record, plan()
        ignores a report older than one already seen (source_version)."""
        stats = PollStats()
        system = self.connector.system
        generation = await self._claim()
        if generation is None:
            stats.outcomes["feed_read_elsewhere"] = 1  # another replica holds the feed's lease
            return stats
        fence = Fence(system, self.owner, generation)
        cursor = await self.committer.submit(lambda tx: Repo(tx).get_cursor(system, FEED))
        read_through = False
        first_reads: dict[str, tuple[str, datetime]] = {}
        policy = self.policy
        for number in range(max_pages):
            if number and await self._claim() != generation:
                stats.outcomes["feed_lease_lost"] = 1
                break
            page = await self.connector.adapter.fetch_changes(cursor, self.connector.page_size)
            first_reads = await self.committer.db.run(lambda tx: Repo(tx).first_reads(), write=False)
            policy = replace(self.policy, unread=self.feeds - first_reads.keys())
            outcomes = await self._ingest(page.changes, policy, fence)
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if failed:
                raise failed[0]  # the cursor stays: the next poll reads the page again (the inbox de-duplicates)
            await self._acknowledge(page.changes, outcomes)
            advanced = await self.committer.submit(
                fence.guard(partial(self._move_cursor, expected=cursor, position=page.cursor))
            )
            self._count(stats, page.changes, outcomes)
            if not advanced:
                # Another poller (a second replica) moved the cursor meanwhile: what we read was
                # de-duplicated by the inbox; leave the feed to it for this round.
                stats.outcomes["cursor_contended"] = stats.outcomes.get("cursor_contended", 0) + 1
                break
            cursor = page.cursor
            if not page.has_more:
                read_through = True
                break
        mark = first_reads.get(system)
        if read_through and await self._claim() != generation:
            read_through = False  # the feed went to another reader: the first-read marks are its job
        if read_through and (mark is None or (mark[0] == READ and self.clock() - mark[1] >= SETTLE_AFTER)):
            owed = await self._after_first_read(policy, settled=mark is not None)
            if owed:
                stats.outcomes["owed_after_first_read"] = owed
                if self.on_deliveries is not None:
                    self.on_deliveries()
        return stats

    async def _after_first_read(self, policy: Policy, *, settled: bool) -> int:
        """This system's feed has been read to its end: mark it read (from now on records seen
        first elsewhere are sent to it at once), then send it every published record it mirrors
        and never reported, i.e. does not hold. Paged in record-id order; idempotent (a delivery
        already queued is kept, one already written is not owed). `settled`: the second pass,
        which marks the feed settled instead."""
        system = self.connector.system
        policy = replace(policy, unread=policy.unread - {system})
        now = self.clock()
        if not settled:
            await self.committer.submit(lambda tx: Repo(tx).set_cursor(system, FIRST_READ_FEED, READ, now))
        after, owed = "", 0
        while True:
            after, count = await self.committer.submit(partial(self._owed_page, policy=policy, after=after, now=now))
            owed += count
            if not after:
                break
        if settled:
            await self.committer.submit(lambda tx: Repo(tx).set_cursor(system, FIRST_READ_FEED, SETTLED, now))
        if owed:
            log.info("first_read_fan_out", system=system, deliveries=owed)
        return owed

    def _owed_page(self, tx: Tx, policy: Policy, after: str, now: datetime) -> tuple[str, int]:
        repo = Repo(tx)
        ids = [r.record_id for r in repo.published_after(after, OWED_PAGE)]
        if not ids:
            return "", 0
        writer = PlanWriter(tx)
        writer.read(ids)  # locked in id order, like every other unit
        owed = 0
        for record_id in ids:
            record = writer.record(record_id)
            if record is None:
                continue
            deliveries = owed_after_first_read(record, writer.links(record_id), self.connector.system, policy)
            if deliveries:
                # Deliveries only: the record and its links stay as they are, and no repair starts.
                result = Plan(outcome=Outcome.UNCHANGED, record=record, changed=False, deliveries=tuple(deliveries))
                writer.add(None, result, source=self.connector.system, policy=None, now=now)
                owed += len(deliveries)
        writer.flush()
        return ids[-1], owed

    async def resync(self, since: datetime, *, max_pages: int = 100_000) -> PollStats:
        """Re-read the feed from `since` (`creditgw resync`) without touching the poll cursor.

        Changes the gateway never stored (stamped behind the cursor, say) are applied like any
        other; those it stored are duplicates in the inbox, so re-reading what is in sync changes
        nothing and a second run finds only duplicates. Changes older than `since` that the feed
        yields too (a feed whose cursor cannot name a time starts at its beginning) are skipped.

        It takes the feed's lease from whichever reader has it (a running `serve` pauses that feed
        meanwhile: two readers must not ingest one feed side by side) and hands it back at the end."""
        stats = PollStats()
        system, owner, adapter = self.connector.system, self.owner, self.connector.adapter
        now = self.clock()
        generation = await self.committer.submit(lambda tx: Repo(tx).take_feed(system, FEED, owner, now + self.lease))
        fence = Fence(system, owner, generation)
        cursor = adapter.cursor_at(since)
        try:
            for number in range(max_pages):
                if number and await self._claim() != generation:
                    raise FeedLeaseLost(f"the {system} feed was taken over by another resync")
                page = await adapter.fetch_changes(cursor, self.connector.page_size)
                wanted = [change for change in page.changes if change.changed_at >= since]
                first_reads = await self.committer.db.run(lambda tx: Repo(tx).first_reads(), write=False)
                policy = replace(self.policy, unread=self.feeds - first_reads.keys())
                outcomes = await self._ingest(wanted, policy, fence)
                failed = [o for o in outcomes if isinstance(o, BaseException)]
                if failed:
                    raise failed[0]
                await self._acknowledge(wanted, outcomes)
                self._count(stats, wanted, outcomes)
                if len(wanted) < len(page.changes):
                    before = len(page.changes) - len(wanted)
                    stats.outcomes["before_since"] = stats.outcomes.get("before_since", 0) + before
                if not page.has_more or page.cursor == cursor:
                    break
                cursor = page.cursor
        finally:
            await self.release()
        log.info("feed_resynced", system=system, since=since, changes=stats.changes, pages=stats.pages)
        return stats

    def _count(self, stats: PollStats, changes: list[NativeChange], outcomes: list[str | BaseException]) -> None:
        """A page's outcomes into the stats and the metrics; wakes the dispatcher if it queued work."""
        done = [str(o) for o in outcomes]
        stats.pages += 1
        stats.changes += len(changes)
        for outcome in done:
            stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
            INBOUND.labels(self.connector.system, outcome).inc()
        if self.on_deliveries is not None and any(o in ("created", "changed", "set_back") for o in done):
            self.on_deliveries()

    async def _claim(self) -> int | None:
        """Take or renew this feed's lease: the generation held, or None (another reader has it).
        A holder that was a process of this host which no longer runs (the previous life of a
        restarted `serve`) is taken over at once instead of after its lease."""
        system, owner, now = self.connector.system, self.owner, self.clock()

        def claim(tx: Tx) -> int | None:
            repo = Repo(tx)
            held = repo.claim_feed(system, FEED, owner, now, now + self.lease)
            # A wrong guess costs a live holder its lease, never a write: every unit checks it (Fence).
            if held is None and owner_is_dead(repo.feed_holder(system, FEED)):
                held = repo.take_feed(system, FEED, owner, now + self.lease)
            return held

        return await self.committer.submit(claim)

    async def release(self) -> None:
        """Hand the feed over at once (shutting down): another replica need not wait out the lease."""
        system, owner, now = self.connector.system, self.owner, self.clock()
        await self.committer.submit(lambda tx: Repo(tx).release_feed(system, FEED, owner, now))

    async def _ingest(
        self, changes: list[NativeChange], policy: Policy, fence: Fence | None = None
    ) -> list[str | BaseException]:
        """One outcome (or failure) per change. The reports that change nothing but the links and
        the first sightings are recorded together in one unit; every other change is its own unit,
        after it (see poll_once)."""
        system = self.connector.system
        # A feed that re-reads (信用中国's pull is inclusive of its last second) repeats changes
        # already stored: answer those from the inbox before mapping and planning them.
        keys = [change.change_key for change in changes]
        seen = await self.committer.db.run(lambda tx: Repo(tx).seen_changes(system, keys), write=False)
        settled: dict[int, str | BaseException] = {
            index: "duplicate" for index, change in enumerate(changes) if change.change_key in seen
        }
        # Each change is mapped once: a row the gateway does not track needs no unit at all; one
        # it cannot map or must not apply goes to quarantine, in its own unit.
        mapped: dict[int, Observation | Problem] = {}
        for index, change in enumerate(changes):
            if index in settled:
                continue
            examined = examine(self.connector.mapping, change)
            if examined is None:
                settled[index] = "untracked"
            else:
                mapped[index] = examined
        reports = [(index, o) for index, o in mapped.items() if isinstance(o, Observation)]
        bulk: list[str | None] = [None] * len(reports)
        if reports:
            now = self.clock()
            listed = [(changes[index].change_key, observation) for index, observation in reports]
            try:
                bulk = await self.committer.submit(
                    Fence.wrap(fence, lambda tx: apply_reports(tx, listed, source=system, policy=policy, now=now)),
                    gathered=True,
                )
            except FeedLeaseLost:
                raise
            except Exception as exc:  # a lost race, a deadlock: each change goes alone instead
                log.warning("bulk_reports_failed", system=system, changes=len(reports), error=str(exc)[:200])
        settled.update(
            (index, outcome) for (index, _), outcome in zip(reports, bulk, strict=True) if outcome is not None
        )
        alone = [index for index in mapped if index not in settled]
        ran = await asyncio.gather(
            *(
                self.committer.submit(
                    Fence.wrap(
                        fence, partial(self._ingest_one, change=changes[index], mapped=mapped[index], policy=policy)
                    )
                )
                for index in alone
            ),
            return_exceptions=True,
        )
        settled.update(zip(alone, ran, strict=True))
        return [settled[index] for index in range(len(changes))]

    async def _acknowledge(self, changes: list[NativeChange], outcomes: list[str | BaseException]) -> None:
        """Tell the system which changes are durably ingested, only now that they are (a 前置库
        marks its rows processed). A refused change says why: its quarantine reason, judged again
        for a duplicate (a change quarantined by an earlier read whose acknowledgement was lost)."""
        adapter = self.connector.adapter
        if not changes or type(adapter).acknowledge is SystemAdapter.acknowledge:
            return  # the system wants no acknowledgement (HTTP feeds): spare mapping duplicates again
        acknowledged = []
        for change, outcome in zip(changes, outcomes, strict=True):
            problem = None
            if outcome in ("quarantined", "duplicate"):
                examined = examine(self.connector.mapping, change)
                problem = examined.message if isinstance(examined, Problem) else None
            acknowledged.append(Ingested(change=change, outcome=str(outcome), problem=problem))
        await adapter.acknowledge(acknowledged)
        refused = sum(1 for item in acknowledged if item.problem is not None)
        ACKNOWLEDGED.labels(self.connector.system, "processed").inc(len(acknowledged) - refused)
        ACKNOWLEDGED.labels(self.connector.system, "refused").inc(refused)

    def _move_cursor(self, tx: Tx, expected: str | None, position: str) -> bool:
        return Repo(tx).move_cursor(self.connector.system, FEED, expected, position, self.clock())

    def _ingest_one(self, tx: Tx, change: NativeChange, mapped: Observation | Problem, policy: Policy) -> str:
        system = self.connector.system
        now = self.clock()
        if isinstance(mapped, Problem):
            # Kept, visible and retryable (gateway/quarantine.py); the feed goes on: a bad row
            # must not stall it.
            quarantine(tx, system=system, change=change, problem=mapped, now=now)
            return "quarantined"
        result = apply_event(tx, mapped, source=system, change_key=change.change_key, policy=policy, now=now)
        return result.outcome

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        outage = Outage(f"poller-{self.connector.system}")
        while not stop.is_set():
            wait_s = interval_s
            try:
                await self.poll_once()
                outage.succeeded()
            except StoreUnavailable as exc:
                wait_s = max(interval_s, outage.failed(exc, interval_s))  # quiet, backing off
            except FeedLeaseLost as exc:  # another replica (or a resync) reads it now: not an error
                log.info("feed_handed_over", system=self.connector.system, detail=str(exc))
            except DeliveryError as exc:
                POLL_ERRORS.labels(self.connector.system).inc()
                log.warning("poll_failed", system=self.connector.system, kind=exc.kind.value, error=exc.message)
            except Exception:
                POLL_ERRORS.labels(self.connector.system).inc()
                log.exception("poll_failed", system=self.connector.system)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait_s)
