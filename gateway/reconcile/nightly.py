"""The nightly reconciliation in `serve`: once per Beijing night across every replica.

At `reconcile_at` (HH:MM Beijing time) every replica wakes and tries to claim the night's slot
(gateway/schedule.py); one wins and runs, the others see the slot taken and sleep. The winner
renews the slot's lease while it runs; if it dies, the lease passes and another replica (or the
same one restarted) claims the slot again and resumes the unfinished run from its checkpoints.

A replica started after the night's time runs a slot nobody claimed only within
`reconcile_catch_up_s` (60 s by default: replicas that were up wake at the time itself; a replica
started hours later does not launch a full run at start-up). A slot claimed and never finished is
resumed whenever a replica sees it (within a day).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial

from gateway.domain.plan import Policy
from gateway.observability import get_logger
from gateway.quality import refresh_quality
from gateway.reconcile.run import Reconciler, RunInProgress, options_from
from gateway.schedule import (
    SlotClaim,
    claim_slot,
    daily_slot,
    finish_slot,
    next_daily_moment,
    parse_daily_time,
    renew_slot,
    slot_unfinished,
)
from gateway.settings import Settings
from gateway.store import reconciliations as rs
from gateway.store.database import Database
from gateway.sync.connectors import Connector

log = get_logger("creditgw.reconcile.nightly")

JOB = "reconcile"
RESUME_WITHIN = timedelta(hours=24)


class Nightly:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        reconciler: Reconciler,
        *,
        owner: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.db = db
        self.reconciler = reconciler
        self.owner = owner
        self.clock = clock
        self.at = parse_daily_time(settings.reconcile_at)
        self.lease = timedelta(seconds=settings.reconcile_lease_s)
        self.catch_up = timedelta(seconds=settings.reconcile_catch_up_s)
        self.mode = rs.RunMode.HEAL if settings.reconcile_heal else rs.RunMode.CHECK

    async def loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            wait_s = self.lease.total_seconds() / 2  # back soon: a holder that died is taken over
            try:
                await self.tick(stop)
                wait_s = min(wait_s, (next_daily_moment(self.clock(), self.at) - self.clock()).total_seconds())
            except Exception:
                log.exception("nightly_reconcile_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(1.0, wait_s))

    async def tick(self, stop: asyncio.Event) -> bool:
        """Look at the latest night once: run it here if it is due (or unfinished) and this replica
        claims it. True when it ran here."""
        now = self.clock()
        slot, moment = daily_slot(now, self.at)
        if now - moment <= self.catch_up or (
            now - moment <= RESUME_WITHIN
            and await self.db.run(partial(slot_unfinished, job=JOB, slot=slot), write=False)
        ):
            return await self.try_slot(slot, stop)
        return False

    async def try_slot(self, slot: str, stop: asyncio.Event) -> bool:
        """Run the slot if this replica claims it; True when it ran here."""
        now = self.clock()
        claim = await self.db.run(
            partial(claim_slot, job=JOB, slot=slot, owner=self.owner, lease_until=now + self.lease, now=now)
        )
        log.info("nightly_slot", job=JOB, slot=slot, claimed=claim is not None, claims=claim.claims if claim else None)
        if claim is None:
            return False
        keeper = asyncio.create_task(self._keep(claim), name="reconcile-slot-lease")
        try:
            run = await self._run(stop)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if run is None:
            return False  # stopping: the slot's lease passes and another replica resumes it
        try:  # the same nightly run reports data-collection quality (issue 13 item 7)
            await refresh_quality(self.db, self.settings, self.clock())
        except Exception:
            log.exception("nightly_quality_failed")
        done_at = self.clock()
        await self.db.run(lambda tx: finish_slot(tx, claim, outcome=f"{run.status.value} {run.run_id}", now=done_at))
        return True

    async def _run(self, stop: asyncio.Event) -> rs.Run | None:
        while not stop.is_set():
            try:
                run = await self.reconciler.start_or_resume(mode=self.mode, scope=rs.Scope(), origin="schedule")
            except RunInProgress as exc:
                # The previous holder's run lease has not passed yet (it died moments ago).
                log.info("nightly_run_waits", reason=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=max(1.0, self.lease.total_seconds() / 3))
                continue
            return await self.reconciler.execute(run)
        return None

    async def _keep(self, claim: SlotClaim) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.lease.total_seconds() / 3))
            until = self.clock() + self.lease
            try:
                await self.db.run(partial(renew_slot, claim=claim, lease_until=until))
            except Exception as exc:  # the database is away: the next renewal may work
                log.warning("nightly_lease_not_renewed", error=str(exc)[:200])


def nightly_from(
    settings: Settings,
    db: Database,
    connectors: Mapping[str, Connector],
    policy: Policy,
    *,
    owner: str,
    clock: Callable[[], datetime],
) -> Nightly:
    reconciler = Reconciler(db, connectors, policy, options=options_from(settings), clock=clock, owner=owner)
    return Nightly(settings, db, reconciler, owner=owner, clock=clock)
