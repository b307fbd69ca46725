"""The running gateway: store, connectors, dispatcher, pollers, reaper and gauges, started and
stopped together (serve, demo and the tests all use this one assembly)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from gateway.calendar_data import load_calendar
from gateway.domain.categories import Category
from gateway.domain.plan import FEED_CATCH_UP, Policy
from gateway.domain.retry import RetryPolicy
from gateway.domain.sla import SyncSla, beijing_date
from gateway.observability import (
    DATABASE_UP,
    LEASES_REAPED,
    OUTBOX_DEPTH,
    OUTBOX_OLDEST_PENDING,
    SCHEDULED_RUNS,
    SYNC_OVERDUE,
    TARGET_MISMATCH,
    get_logger,
)
from gateway.pressure import Outage, Pressure
from gateway.quarantine import refresh_gauge as refresh_quarantine_gauge
from gateway.reconcile.gauges import refresh_reconcile_gauges
from gateway.schedule import SlotClaim, claim_slot, finish_slot, renew_slot, slot_of
from gateway.settings import Settings
from gateway.store.database import Database, StoreUnavailable, from_db_ts, now_utc, open_database
from gateway.store.group import GroupCommitter
from gateway.store.migrate import migrate
from gateway.store.repo import SMS_TARGET, Repo
from gateway.sync.connectors import SPECS, Connector, build_connectors
from gateway.sync.dispatcher import Dispatcher, reap_expired_leases, release_leases
from gateway.sync.poller import Poller
from gateway.sync.sweep import SweepReport
from gateway.sync.sweep import sweep as run_sweep

if TYPE_CHECKING:
    from adapters.sms import SmsAdapter
    from gateway.reminders import ReminderReport

# Detection reads every unreported write: once a minute is plenty for an alert that waits 10.
MISMATCH_REFRESH = timedelta(seconds=60)
# Scheduled jobs: how often a replica looks whether the current slot still needs running, and the
# lease its holder renews while it runs (a dead holder's slot is run again once it lapses).
SLOT_CHECK_S = 30.0
SLOT_LEASE = timedelta(seconds=60)

log = get_logger("creditgw.runtime")


def policy_from(settings: Settings, systems: set[str], sla: SyncSla | None = None) -> Policy:
    return Policy(
        repair_windows={Category(k): frozenset(v) for k, v in settings.repair_windows.items()},
        enabled_systems=frozenset(systems),
        self_deciding_owners=frozenset(settings.self_deciding_owners),
        read_only=frozenset(name for name in systems if name in SPECS and not SPECS[name].takes_writes),
        sla=sla,
    )


def sync_sla_from(settings: Settings) -> SyncSla:
    """The sync SLA on the working-day calendar (package data, then the operator's years)."""
    return SyncSla(calendar=load_calendar(settings), working_days=settings.sync_deadline_working_days)


def build_sms(settings: Settings, urls: dict[str, str] | None = None) -> SmsAdapter:
    """The SMS service client from settings; `urls["sms"]` overrides its URL (in-process simulators)."""
    from adapters.sms import SmsAdapter

    sms = settings.sms
    return SmsAdapter(
        base_url=(urls or {}).get("sms", sms.url),
        app_id=sms.app_id,
        secret=sms.secret.get_secret_value(),
        timeout=sms.timeout_s,
    )


def retry_policy_from(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.max_attempts, base_delay=settings.retry_base_s, max_delay=settings.retry_max_s
    )


class Runtime:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        connectors: dict[str, Connector],
        *,
        clock: Callable[[], datetime] = now_utc,
        sms: SmsAdapter | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        # The SMS service (reminders) is no record-sync system: no feed, no mapping, so it is kept
        # apart from the connectors. The client opens its session only when it first sends.
        self.sms = sms if sms is not None else build_sms(settings)
        self.committer = GroupCommitter(
            db,
            max_batch=settings.group_commit_max,
            window_ms=settings.group_commit_window_ms,
            parallel=settings.group_commit_parallel,
        )
        self.connectors = connectors
        self.policy = policy_from(settings, set(connectors), sync_sla_from(settings))
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        # Reminders are deliveries to the SMS service (gateway/reminders.py): a lane of their own.
        from gateway.reminders import reminder_retry, sms_connector

        targets = dict(connectors)
        if settings.reminders_enabled and SMS_TARGET not in targets:
            targets[SMS_TARGET] = sms_connector(self.sms, settings)
        self.dispatching = False
        self.dispatcher = Dispatcher(
            self.committer,
            targets,
            owner=self.owner,
            retry=retry_policy_from(settings),
            target_retry={SMS_TARGET: reminder_retry(settings)},
            lease_s=settings.lease_s,
            batch=settings.dispatch_batch,
            concurrency=settings.dispatch_concurrency,
            # A connector's own limit, unless the operator set one.
            target_concurrency={
                **{name: c.calls_in_flight for name, c in connectors.items() if c.calls_in_flight is not None},
                **settings.dispatch_target_concurrency,
            },
            idle_s=settings.dispatch_idle_s,
            clock=clock,
        )
        self.pollers = {
            name: Poller(
                self.committer,
                c,
                self.policy,
                clock=clock,
                on_deliveries=self.dispatcher.wake,
                feeds=connectors,
                owner=self.owner,
                lease_s=settings.feed_lease_s,
            )
            for name, c in connectors.items()
        }
        self.pressure = Pressure(settings)
        self._pressure_outage = Outage("pressure")
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._overdue_targets: set[str] = set()
        self._quarantine_labels: set[tuple[str, str]] = set()
        self._reconcile_labels: set[tuple[str, ...]] = set()
        self._mismatches: dict[str, int] = {}
        self._mismatches_at: datetime | None = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        urls: dict[str, str] | None = None,
        connectors: dict[str, Connector] | None = None,
        run_migrations: bool = True,
    ) -> Runtime:
        db = open_database(settings.database_url, wait_s=settings.database_wait_s)
        if run_migrations:
            await migrate(db)
        return cls(
            settings,
            db,
            connectors if connectors is not None else build_connectors(settings, urls),
            sms=build_sms(settings, urls),
        )

    def start(
        self,
        *,
        dispatch: bool = True,
        poll: bool = True,
        sweep: bool = False,
        remind: bool = False,
        reconcile: bool = False,
    ) -> None:
        """Start the background work. `sweep`: also the hourly expiry sweep (`serve` asks for it; the
        demo and the tests do not, so that the simulated world keeps its published records)."""

        def spawn(name: str, coro: Coroutine[Any, Any, None]) -> None:
            self._tasks.append(asyncio.create_task(coro, name=name))

        self._stop.clear()
        if dispatch:
            self.dispatching = True
            spawn("dispatcher", self.dispatcher.run(self._stop))
            spawn("reaper", self._every(self.settings.reaper_interval_s, self.reap))
            spawn("retention", self._every(600.0, self.purge))
        # Scheduled jobs run once per interval across replicas, not once per replica (a slot row).
        if sweep and self.settings.sweep_enabled:
            interval = self.settings.sweep_interval_s
            spawn("sweep", self._every(min(SLOT_CHECK_S, interval), self._once_per_slot("sweep", interval, self.sweep)))
        # `remind`: the SMS reminder job (daily by default); `serve` asks for it, like the sweep.
        if remind and self.settings.reminders_enabled:
            interval = self.settings.reminder_interval_s
            reminders = self._once_per_slot("reminders", interval, self.remind)
            spawn("reminders", self._every(min(SLOT_CHECK_S, interval), reminders))
        # `reconcile`: the nightly reconciliation, once per night across replicas (gateway/reconcile/nightly.py).
        if reconcile and self.settings.reconcile_at != "off":
            from gateway.reconcile.nightly import nightly_from

            nightly = nightly_from(
                self.settings, self.db, self.connectors, self.policy, owner=self.owner, clock=self.clock
            )
            spawn("reconcile", nightly.loop(self._stop))
        if poll:
            for name, poller in self.pollers.items():
                spawn(f"poller-{name}", poller.run(self._stop, self.settings.poll_interval_s))
        spawn("gauges", self._every(5.0, self.refresh_gauges))
        spawn("pressure", self._watch_pressure())

    async def check_pressure(self) -> None:
        """Read the backlog the API sheds on; a database that does not answer is marked down (the
        API refuses at once instead of each request waiting for a connection) until it answers."""
        try:
            pending = await self.db.run(lambda tx: Repo(tx).pending_count(), write=False)
        except StoreUnavailable as exc:
            self.pressure.database_up = False
            DATABASE_UP.set(0)
            self._pressure_outage.failed(exc, self.settings.pressure_interval_s)
            return
        self.pressure.outbox_pending = pending
        self.pressure.database_up = True
        DATABASE_UP.set(1)
        self._pressure_outage.succeeded()

    async def _watch_pressure(self) -> None:
        # Not backed off: it is what notices the database is back, so it keeps its pace.
        while not self._stop.is_set():
            try:
                await self.check_pressure()
            except Exception:
                log.exception("pressure_check_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.pressure_interval_s)

    async def _every(self, interval_s: float, job: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        name = getattr(job, "__name__", "job")
        outage = Outage(name, max_s=max(30.0, interval_s))
        while not self._stop.is_set():
            wait_s = interval_s
            try:
                await job()
                outage.succeeded()
            except StoreUnavailable as exc:
                wait_s = min(interval_s, outage.failed(exc, 1.0))  # back soon, quietly
            except Exception:
                log.exception("periodic_job_failed", job=name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=wait_s)

    def _once_per_slot(
        self, job: str, interval_s: float, work: Callable[[], Coroutine[Any, Any, Any]]
    ) -> Callable[[], Coroutine[Any, Any, bool]]:
        """`work`, run at most once per slot of `interval_s` (counted from the epoch) by whichever
        replica claims the slot first (gateway/schedule.py). A holder that dies mid-run stops
        renewing its lease and another replica runs the slot again (the jobs are idempotent)."""

        async def run_slot() -> bool:
            return await self.run_slot(job, interval_s, work)

        run_slot.__name__ = job
        return run_slot

    async def run_slot(self, job: str, interval_s: float, work: Callable[[], Coroutine[Any, Any, Any]]) -> bool:
        """Run `work` for the current slot of `job` if no replica has run it; True if this one did."""
        now = self.clock()
        slot = slot_of(now, interval_s)
        claim = await self.db.run(
            lambda tx: claim_slot(tx, job=job, slot=slot, owner=self.owner, lease_until=now + SLOT_LEASE, now=now)
        )
        if claim is None:
            return False  # done this slot, or another live replica runs it
        renewing = asyncio.create_task(self._renew_slot(claim))
        outcome = "failed"
        try:
            await work()
            outcome = "done"
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            if outcome == "done":
                await self.db.run(lambda tx: finish_slot(tx, claim, outcome=outcome, now=self.clock()))
        SCHEDULED_RUNS.labels(job).inc()
        return True

    async def _renew_slot(self, claim: SlotClaim) -> None:
        while True:
            await asyncio.sleep(SLOT_LEASE.total_seconds() / 3)
            await self.db.run(partial(renew_slot, claim=claim, lease_until=self.clock() + SLOT_LEASE))

    async def reap(self) -> int:
        count = await reap_expired_leases(self.committer, now=self.clock())
        if count:
            LEASES_REAPED.inc(count)
            log.warning("leases_reaped", count=count)
            self.dispatcher.wake()
        return count

    async def sweep(self, *, today: date | None = None, dry_run: bool = False) -> SweepReport:
        """One expiry sweep (gateway/sync/sweep.py) as of `today` (default: today in Beijing)."""
        now = self.clock()
        report = await run_sweep(
            self.committer,
            policy=self.policy,
            today=today or beijing_date(now),
            now=now,
            overrides=self.settings.rules.overrides(),
            batch=self.settings.sweep_batch,
            dry_run=dry_run,
        )
        if report.deliveries and not dry_run:
            self.dispatcher.wake()
        return report

    async def remind(
        self,
        *,
        today: date | None = None,
        dry_run: bool = False,
        on_candidate: Callable[[dict[str, Any]], None] | None = None,
    ) -> ReminderReport:
        """One reminder run (gateway/reminders.py) as of `today` (default: today in Beijing)."""
        from gateway.reminders import ReminderJob

        job = ReminderJob(self.db, self.committer, self.sms, self.settings, clock=self.clock, owner=self.owner)
        # Under `serve` the dispatcher's sms lane sends what the run queues; else the run sends it.
        sending = self.dispatching and SMS_TARGET in self.dispatcher.connectors
        result = await job.run(today=today, dry_run=dry_run, drain=not sending, on_candidate=on_candidate)
        if sending:
            self.dispatcher.wake()
        return result

    async def purge(self, batch: int = 5000) -> int:
        """Delete what retention allows, in small transactions so no writer waits long."""
        now = self.clock()
        before = now - timedelta(days=self.settings.retention_days)
        keys_before = now - timedelta(days=self.settings.idempotency_retention_days)
        total = 0
        while True:
            removed = await self.committer.submit(
                lambda tx: (
                    Repo(tx).purge_finished(before, batch)
                    + Repo(tx).purge_inbox(before, batch)
                    + Repo(tx).purge_idempotency(keys_before, batch)
                    + Repo(tx).purge_writes(before, batch)
                )
            )
            total += removed
            if removed == 0:
                break
        if total:
            log.info("retention_purged", rows=total)
        return total

    async def refresh_gauges(self) -> None:
        rows = await self.db.run(lambda tx: Repo(tx).outbox_depth(), write=False)
        now = datetime.now(UTC)
        seen = set()
        for row in rows:
            OUTBOX_DEPTH.labels(row["target"], row["status"]).set(row["n"])
            seen.add((row["target"], row["status"]))
            if row["status"] == "pending":
                oldest = from_db_ts(row["oldest_at"])
                OUTBOX_OLDEST_PENDING.labels(row["target"]).set((now - oldest).total_seconds() if oldest else 0)
        for target in self.connectors:
            for state in ("pending", "in_flight", "dead"):
                if (target, state) not in seen:
                    OUTBOX_DEPTH.labels(target, state).set(0)
            if (target, "pending") not in seen:
                OUTBOX_OLDEST_PENDING.labels(target).set(0)
        today = beijing_date(self.clock())
        overdue = await self.db.run(lambda tx: Repo(tx).overdue_targets(today), write=False)
        counts = {row["target"]: int(row["n"]) for row in overdue}
        self._overdue_targets |= set(self.connectors) | set(counts)  # a target back to 0 is shown as 0
        for target in self._overdue_targets:
            SYNC_OVERDUE.labels(target).set(counts.get(target, 0))
        await self.db.run(partial(refresh_quarantine_gauge, shown=self._quarantine_labels), write=False)
        await self.db.run(partial(refresh_reconcile_gauges, shown=self._reconcile_labels), write=False)
        if self._mismatches_at is None or self.clock() - self._mismatches_at >= MISMATCH_REFRESH:
            await self.refresh_mismatches()

    async def refresh_mismatches(self) -> dict[str, int]:
        """Detection (docs/adr/0011): per system, records it was written and still shows otherwise
        a feed catch-up window later. Returns the counts it exported."""
        cutoff = self.clock() - FEED_CATCH_UP
        rows = await self.db.run(lambda tx: Repo(tx).target_mismatches(cutoff), write=False)
        counts = {row["system"]: int(row["n"]) for row in rows}
        for system in set(self.connectors) | set(counts):
            TARGET_MISMATCH.labels(system).set(counts.get(system, 0))
            if counts.get(system, 0) != self._mismatches.get(system, 0):  # logged when it moves, not every refresh
                log.warning("target_mismatch", system=system, records=counts.get(system, 0))
        self._mismatches = counts
        self._mismatches_at = self.clock()
        return counts

    async def stop(self, *, grace_s: float | None = None) -> None:
        """Stop the loops; work in flight gets `grace_s` (default: shutdown_grace_s) to finish."""
        self._stop.set()
        self.dispatching = False
        if self._tasks:
            # A call to a hanging system would hold shutdown for its whole timeout: after the grace
            # period it is cancelled, and the leases it held are released below.
            grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
            _, late = await asyncio.wait(self._tasks, timeout=max(0.0, grace))
            for task in late:
                log.warning("shutdown_cancelled_task", task=task.get_name())
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            # Deliveries this process leased and did not finish go back to pending now, for another
            # replica or the next start, instead of waiting out their lease.
            try:
                released = await release_leases(self.committer, self.owner, now=self.clock())
            except Exception as exc:  # a lost database: the leases run out on their own
                log.warning("leases_not_released", error=str(exc)[:200])
            else:
                if released:
                    log.info("leases_released", count=released)
            # The feeds too: another replica reads them at once instead of after feed_lease_s.
            for poller in self.pollers.values():
                try:
                    await poller.release()
                except Exception as exc:  # a lost database: the lease runs out on its own
                    log.warning("feed_lease_not_released", system=poller.connector.system, error=str(exc)[:200])
        self._tasks.clear()

    async def close(self) -> None:
        await self.stop()
        await self.committer.close()
        for connector in self.connectors.values():
            await connector.adapter.close()
        await self.sms.close()
        await self.db.close()
