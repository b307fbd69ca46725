"""The dispatcher: claim due deliveries with a lease, send them, record the outcome.

At most one delivery per (record, target) is in flight (the claim query and a unique index both
say so); each carries its deterministic idempotency key; failures are classified by the adapter
and turned into a retry time or a dead letter by the pure retry policy.

Each target system has its own lane: its own claim loop and its own concurrency limit, so a
system that hangs holds up only its own deliveries, never those to a healthy one (issue 10 #12).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from gateway.contract import NativeWrite, WriteResult
from gateway.domain.model import CanonicalRecord
from gateway.domain.retry import (
    DeliveryError,
    FailureKind,
    PermanentError,
    RetryableError,
    RetryPolicy,
    Verdict,
    decide,
)
from gateway.domain.sla import missed
from gateway.observability import DELIVERIES, DELIVERY_LATENCY, LAST_SUCCESS, SYNC_DEADLINE_MISSED, get_logger
from gateway.pressure import Outage
from gateway.store.bulk import Bulk
from gateway.store.database import StoreUnavailable, Tx, now_utc
from gateway.store.group import GroupCommitter
from gateway.store.repo import OutboxItem, Repo
from gateway.sync.connectors import Connector

log = get_logger("creditgw.dispatcher")

_Completed = tuple[bool, date | None]  # (lease still held, sync deadline of the repair's target)


class Dispatcher:
    def __init__(
        self,
        committer: GroupCommitter,
        connectors: Mapping[str, Connector],
        *,
        owner: str,
        retry: RetryPolicy,
        target_retry: Mapping[str, RetryPolicy] | None = None,
        lease_s: float = 60.0,
        batch: int = 32,
        concurrency: int = 8,
        target_concurrency: Mapping[str, int] | None = None,
        idle_s: float = 0.2,
        clock: Callable[[], datetime] = now_utc,
        rng: random.Random | None = None,
        on_outcome: Callable[[OutboxItem, str], None] | None = None,
    ) -> None:
        self.committer = committer
        # Told each delivery's outcome (delivered, ignored, retry, dead) once it is recorded.
        self.on_outcome = on_outcome
        self.connectors = connectors
        self.owner = owner
        self.retry = retry
        self.target_retry = dict(target_retry or {})  # a target's own policy (SMS reminders)
        self.lease = timedelta(seconds=lease_s)
        self.batch = batch
        self.idle_s = idle_s
        self.clock = clock
        self.rng = rng or random.Random()
        # Calls in flight, per target: `concurrency` unless the target has its own limit.
        limits = {target: (target_concurrency or {}).get(target, concurrency) for target in connectors}
        self._slots = {target: asyncio.Semaphore(limit) for target, limit in limits.items()}
        self._wakes: list[asyncio.Event] = []
        # Outcomes of deliveries that finish together are recorded together (gateway/store/bulk.py).
        self._completions: Bulk[tuple[OutboxItem, str | None, datetime, str | None], _Completed] = Bulk(
            committer,
            self._complete,
            lambda done: lambda tx: self._complete(tx, [done])[0],
            max_batch=committer.max_batch,
            name="completions",
        )

    def wake(self) -> None:
        """New work was queued: skip the idle wait (keeps accept→delivered latency low)."""
        for event in self._wakes:
            event.set()

    async def run(self, stop: asyncio.Event) -> None:
        """One lane per target system, and one for deliveries to systems without an adapter."""
        lanes: list[str | None] = [*sorted(self.connectors), None]
        await asyncio.gather(*(self._lane(stop, target) for target in lanes))

    async def _lane(self, stop: asyncio.Event, target: str | None) -> None:
        wake = asyncio.Event()
        self._wakes.append(wake)
        outage = Outage(f"dispatch-{target or 'orphans'}", max_s=10.0)
        try:
            while not stop.is_set():
                wake.clear()  # before the claim, so a wake during it is not lost
                wait_s = self.idle_s
                try:
                    handled = await self.run_once(target) if target is not None else await self._orphans()
                    outage.succeeded()
                except StoreUnavailable as exc:
                    handled, wait_s = 0, outage.failed(exc, self.idle_s)  # quiet, backing off
                except Exception:
                    log.exception("dispatch_cycle_failed", target=target)
                    handled = 0
                if handled == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait() if outage.failures else wake.wait(), timeout=wait_s)
        finally:
            self._wakes.remove(wake)

    async def _orphans(self) -> int:
        """Deliveries to systems no adapter is configured for: dead letters, checked now and then."""
        return await self.run_once(None, other_than=sorted(self.connectors))

    async def run_once(self, target: str | None = None, *, other_than: Sequence[str] = ()) -> int:
        """Claim one batch (to `target` only, when given) and deliver it; returns how many
        deliveries were handled."""
        now = self.clock()
        targets = set(self.connectors)

        def _claim(tx: Tx) -> list[tuple[OutboxItem, CanonicalRecord | None]]:
            repo = Repo(tx)
            claimed = repo.claim(now, self.batch, self.owner, now + self.lease, target=target, other_than=other_than)
            records = repo.load_records(sorted({item.record_id for item in claimed}))
            return [(item, records.get(item.record_id)) for item in claimed]

        claimed = await self.committer.submit(_claim)
        if not claimed:
            return 0
        rows: dict[str, list[tuple[OutboxItem, CanonicalRecord | None]]] = {}
        singles = []
        for item, record in claimed:
            if item.target not in targets:
                singles.append(self._no_adapter(item))
            elif self.connectors[item.target].adapter.max_rows_per_write > 1:
                rows.setdefault(item.target, []).append((item, record))
            else:
                singles.append(self._deliver(item, record))
        batches = []
        for target, items in rows.items():
            size = self.connectors[target].adapter.max_rows_per_write
            batches += [self._deliver_rows(target, items[i : i + size]) for i in range(0, len(items), size)]
        await asyncio.gather(*singles, *batches)
        return len(claimed)

    async def _deliver(self, item: OutboxItem, record: CanonicalRecord | None) -> None:
        bound = _bound(item)
        async with self._slots[item.target]:
            try:
                write = self._write_for(item, record)
            except DeliveryError as exc:
                await self._failed(item, exc, bound, business_key=None)
                return
            try:
                result = await self.connectors[item.target].adapter.write(write)
            except DeliveryError as exc:
                await self._failed(item, exc, bound, business_key=write.business_key)
                return
            except Exception as exc:  # an adapter bug or an unclassified transport error
                bound.exception("delivery_unclassified_error")
                await self._failed(item, RetryableError(f"{type(exc).__name__}: {exc}"), bound, write.business_key)
                return
        await self._succeeded(item, result.native_id, bound)

    async def _deliver_rows(self, target: str, items: list[tuple[OutboxItem, CanonicalRecord | None]]) -> None:
        """Several deliveries to a system that takes many rows per call: one call, one outcome per row."""
        prepared: list[tuple[OutboxItem, NativeWrite, Any]] = []
        unmappable = []
        for item, record in items:
            try:
                prepared.append((item, self._write_for(item, record), _bound(item)))
            except DeliveryError as exc:
                unmappable.append(self._failed(item, exc, _bound(item), business_key=None))
        outcomes: list[WriteResult | DeliveryError] = []
        if prepared:
            async with self._slots[target]:
                try:
                    outcomes = await self.connectors[target].adapter.write_many([w for _, w, _ in prepared])
                except Exception as exc:  # an adapter bug or an unclassified transport error
                    log.exception("delivery_unclassified_error", target=target, rows=len(prepared))
                    outcomes = [RetryableError(f"{type(exc).__name__}: {exc}")] * len(prepared)
        await asyncio.gather(
            *unmappable,
            *(
                self._failed(item, outcome, bound, write.business_key)
                if isinstance(outcome, DeliveryError)
                else self._succeeded(item, outcome.native_id, bound)
                for (item, write, bound), outcome in zip(prepared, outcomes, strict=True)
            ),
        )

    def _write_for(self, item: OutboxItem, record: CanonicalRecord | None) -> NativeWrite:
        """The target's native row for a delivery; PermanentError when it cannot be built."""
        if record is None:
            raise PermanentError("record vanished from the store")
        build = self.connectors[item.target].build_write
        if build is not None:  # a target whose writes are built from the record and the row itself
            return build(item, record)
        try:
            return self.connectors[item.target].mapping.to_write(
                record.facts, item.state, idempotency_key=item.idempotency_key, decided_at=item.decided_at
            )
        except ValueError as exc:  # the mapping cannot express the record for this system
            raise PermanentError(f"mapping: {exc}") from exc

    def _complete(self, tx: Tx, done: list[tuple[OutboxItem, str | None, datetime, str | None]]) -> list[_Completed]:
        """Record deliveries as done, several at once; per delivery: kept (the lease still held)
        and the sync deadline of its repair on that target."""
        repo = Repo(tx)
        now = max(at for _, _, at, _ in done)
        items = [item for item, _, _, _ in done]
        notes = {item.id: note for item, _, _, note in done if note is not None}
        kept = repo.complete_many([(item, native_id) for item, native_id, _, _ in done], self.owner, now, notes=notes)
        delivered = [i for i, k in zip(items, kept, strict=True) if k and i.repair_id]
        deadlines = repo.deadlines_of([(i.repair_id, i.target) for i in delivered if i.repair_id])
        return [
            (k, deadlines.get((i.repair_id, i.target)) if k and i.repair_id else None)
            for i, k in zip(items, kept, strict=True)
        ]

    async def _succeeded(
        self, item: OutboxItem, native_id: str | None, bound: Any, outcome: str = "delivered", note: str | None = None
    ) -> None:
        now = self.clock()
        kept, due = await self._completions.submit((item, native_id, now, note))
        DELIVERIES.labels(item.target, outcome).inc()
        if kept and self.on_outcome is not None:
            self.on_outcome(item, outcome)
        if kept:
            DELIVERY_LATENCY.labels(item.target).observe(max(0.0, (now - item.created_at).total_seconds()))
            LAST_SUCCESS.labels(item.target).set(time.time())
            bound.info("delivery_succeeded", outcome=outcome)
            if due is not None and missed(due, now):
                SYNC_DEADLINE_MISSED.labels(item.target).inc()
                bound.warning("sync_deadline_missed", repair_id=item.repair_id, due=due.isoformat())
        else:
            bound.warning("delivery_lease_lost")

    async def _failed(self, item: OutboxItem, exc: DeliveryError, bound: Any, business_key: str | None) -> None:
        now = self.clock()
        decision = decide(
            exc.kind,
            attempts=item.attempts,
            now=now,
            policy=self.target_retry.get(item.target, self.retry),
            rng=self.rng,
            retry_after=exc.retry_after,
        )
        if decision.verdict is Verdict.DONE:
            await self._succeeded(item, None, bound, outcome="ignored", note=exc.message)
            return
        if decision.verdict is Verdict.RETRY:
            assert decision.next_attempt_at is not None
            next_at = decision.next_attempt_at
            left = await self.committer.submit(
                lambda tx: Repo(tx).reschedule(item, self.owner, next_at, exc.message, now)
            )
            DELIVERIES.labels(item.target, "retry").inc()
            if left and self.on_outcome is not None:
                self.on_outcome(item, "retry")
            bound.warning("delivery_retry_scheduled", kind=exc.kind.value, error=exc.message, next_attempt_at=next_at)
            return
        context = {
            **exc.context(),
            "target": item.target,
            "record_id": item.record_id,
            "version": item.version,
            "state": item.state.label,
            "business_key": business_key,
            "attempts": item.attempts,
            "first_enqueued_at": item.created_at.isoformat(),
            "dead_at": now.isoformat(),
            "exhausted": exc.kind is not FailureKind.PERMANENT,
        }
        dead = await self.committer.submit(lambda tx: Repo(tx).dead_letter(item, self.owner, context, now))
        DELIVERIES.labels(item.target, "dead").inc()
        if dead and self.on_outcome is not None:
            self.on_outcome(item, "dead")
        bound.error("delivery_dead_lettered", kind=exc.kind.value, error=exc.message, status=exc.status)

    async def _no_adapter(self, item: OutboxItem) -> None:
        await self._failed(
            item,
            PermanentError(f"no adapter configured for {item.target}"),
            log.bind(record_id=item.record_id, target=item.target),
            business_key=None,
        )


def _bound(item: OutboxItem) -> Any:
    return log.bind(record_id=item.record_id, target=item.target, version=item.version, attempt=item.attempts)


async def release_leases(committer: GroupCommitter, owner: str, *, now: datetime) -> int:
    """Return the deliveries `owner` still leases to pending (it is shutting down)."""

    def _release(tx: Tx) -> int:
        repo = Repo(tx)
        return sum(
            repo.reschedule(item, owner, now, "released: its worker shut down before finishing", now)
            for item in repo.leased_by(owner)
        )

    return await committer.submit(_release)


async def reap_expired_leases(committer: GroupCommitter, *, now: datetime) -> int:
    """Return deliveries whose lease ran out (their worker died) to pending."""

    def _reap(tx: Tx) -> int:
        repo = Repo(tx)
        count = 0
        for item in repo.expired_leases(now):
            if repo.reschedule(item, None, now, "lease expired: worker stopped before finishing", now):
                count += 1
        return count

    return await committer.submit(_reap)
