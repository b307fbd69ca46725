"""Go-live through the full listings (`creditgw golive`; docs/adr/0024-go-live-from-listings.md).

At go-live every system already holds records. Read through the feeds, they arrive one change at a
time (a few hundred records a second) and each is planned and committed on its own. Here every
listed system's full listing (`SystemAdapter.list_all`, the kinds its `ConnectorSpec.listings`
names) is read once, each row mapped and checked as the poller does (`quarantine.examine`: a row
that cannot be mapped or must not apply goes to the quarantine, never a guess), the rows grouped
by record, each group planned with the ordinary rules (`gateway.domain.golive.plan_record`), and the
resulting rows written in bulk: COPY on PostgreSQL, one executemany per table on SQLite, in
transactions of `chunk` records, planning the next chunk while the last one is written. Only real
differences are queued: a mirror that lacks a published record, or shows another state than its
owner. The few groups the bulk rows cannot express go through `apply_event`, one record at a time.

Afterwards each listed system is marked read through (its first read is done: the poller sends it
nothing "owed" again), its feed cursor is placed a margin before the listing began (where the
adapter can name a time), and the tables are ANALYZEd.

Refuses a database that holds records already unless `force`: then records already there go
through the ordinary path (the inbox answers changes it has seen: a second run changes nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from gateway.contract import NativeChange
from gateway.domain.golive import Listed, RecordLoad, apply_order, plan_record
from gateway.domain.plan import Observation, Outcome, Plan, Policy, owed_after_first_read
from gateway.observability import get_logger
from gateway.quarantine import Problem, examine, quarantine
from gateway.store.database import Database, Tx, now_utc
from gateway.store.load import analyze, rows_of, write
from gateway.store.repo import FIRST_READ_FEED, Repo
from gateway.sync.connectors import SPECS, Connector
from gateway.sync.ingest import apply_event
from gateway.sync.plan_writer import PlanWriter
from gateway.sync.poller import FEED, SETTLED

log = get_logger("creditgw.golive")

# The feed cursor goes this far before the listing began: a change made while the listing ran is
# read again by the poller (the inbox answers those it has), whatever the two clocks' skew.
CURSOR_MARGIN = timedelta(minutes=10)


class GoLiveRefused(Exception):
    """The database is not empty (and `force` was not given), or nothing can be listed."""


@dataclass
class GoLiveReport:
    started_at: datetime
    finished_at: datetime | None = None
    listed: dict[str, dict[str, int]] = field(default_factory=dict)  # system → kind → rows
    not_listed: list[str] = field(default_factory=list)  # configured systems without a listing
    records: int = 0
    bulk: int = 0  # records written by the bulk path
    alone: int = 0  # records that went through apply_event
    untracked: int = 0
    quarantined: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)  # target → queued
    outcomes: dict[str, int] = field(default_factory=dict)  # inbox outcome → changes
    cursors: dict[str, str | None] = field(default_factory=dict)  # system → feed position set

    def as_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "listed": self.listed,
            "not_listed": self.not_listed,
            "records": self.records,
            "bulk": self.bulk,
            "alone": self.alone,
            "untracked": self.untracked,
            "quarantined": self.quarantined,
            "deliveries": dict(sorted(self.deliveries.items())),
            "outcomes": dict(sorted(self.outcomes.items())),
            "cursors": self.cursors,
        }


@dataclass
class Listings:
    """Every listed row mapped, grouped by record id; the rows that could not be."""

    groups: dict[str, list[Listed]] = field(default_factory=dict)
    problems: list[tuple[str, NativeChange, Problem]] = field(default_factory=list)
    untracked: int = 0


def listing_kinds(system: str) -> tuple[str, ...]:
    """Every row kind the system lists, over all its categories (`ConnectorSpec.listings`), once."""
    spec = SPECS.get(system)
    if spec is None:
        return ()
    return tuple(dict.fromkeys(kind for kinds in spec.listings.values() for kind in kinds))


async def read_listings(
    connectors: Mapping[str, Connector],
    report: GoLiveReport,
    *,
    kinds: Callable[[str], tuple[str, ...]] = listing_kinds,
    page_size: int | None = None,
) -> Listings:
    listings = Listings()
    groups = listings.groups
    for system, connector in sorted(connectors.items()):
        wanted = kinds(system)
        if not wanted:
            report.not_listed.append(system)
            continue
        counts = report.listed.setdefault(system, {})
        for kind in wanted:
            counts[kind] = 0
            async for page in connector.adapter.list_all(kind, page_size or connector.page_size):
                counts[kind] += len(page.rows)
                for change in page.rows:
                    examined = examine(connector.mapping, change)
                    if isinstance(examined, Observation):
                        listed = Listed(change_key=change.change_key, observation=examined)
                        record_id = examined.facts.record_id
                        group = groups.get(record_id)
                        if group is None:
                            groups[record_id] = [listed]
                        else:
                            group.append(listed)
                    elif examined is None:
                        listings.untracked += 1
                    else:
                        listings.problems.append((system, change, examined))
            log.info("listing_read", system=system, kind=kind, rows=counts[kind])
    return listings


async def go_live(
    db: Database,
    connectors: Mapping[str, Connector],
    policy: Policy,
    *,
    force: bool = False,
    chunk: int = 20_000,
    clock: Callable[[], datetime] = now_utc,
    kinds: Callable[[str], tuple[str, ...]] = listing_kinds,
    page_size: int | None = None,
) -> GoLiveReport:
    report = GoLiveReport(started_at=clock())
    existing_count = await db.run(lambda tx: int(tx.scalar("SELECT COUNT(*) FROM records") or 0), write=False)
    if existing_count and not force:
        raise GoLiveRefused(
            f"the database holds {existing_count} records already; go-live loads an empty one"
            " (give --force to apply the listings through the ordinary path to records already there)"
        )
    listings = await read_listings(connectors, report, kinds=kinds, page_size=page_size)
    listed_systems = frozenset(report.listed)
    if not listed_systems:
        raise GoLiveRefused("no configured system offers a full listing; the pollers read the feeds instead")
    report.untracked = listings.untracked
    # At go-live no feed has been read: the first word goes to no system whose copy is unknown.
    plan_policy = replace(policy, unread=frozenset(connectors))
    existing: set[str] = set()
    if existing_count:
        existing = await db.run(
            lambda tx: {r["record_id"] for r in tx.all("SELECT record_id FROM records")}, write=False
        )

    record_ids = sorted(listings.groups)  # record-id order, as every unit locks (ADR 0012)
    report.records = len(record_ids)
    alone: list[str] = []
    writing: asyncio.Future[None] | None = None
    for start in range(0, len(record_ids), chunk):
        loads: list[RecordLoad] = []
        for record_id in record_ids[start : start + chunk]:
            load = None
            if record_id not in existing:
                load = plan_record(listings.groups[record_id], plan_policy, listed_systems=listed_systems)
            if load is None:
                alone.append(record_id)
            else:
                loads.append(load)
                _count(report, load)
        rows = rows_of(loads, clock())
        report.bulk += len(loads)
        if writing is not None:
            await writing  # one chunk written while the next is planned, never more
        writing = asyncio.ensure_future(db.run(lambda tx, rows=rows: write(tx, rows)))  # type: ignore[misc]
        for load in loads:
            del listings.groups[load.record.record_id]  # planned: memory goes with the chunk
    if writing is not None:
        await writing

    for record_id in alone:
        outcomes = await db.run(
            lambda tx, rid=record_id: _apply_alone(tx, listings.groups[rid], plan_policy, listed_systems, clock())  # type: ignore[misc]
        )
        report.alone += 1
        for outcome, target in outcomes:
            if target is None:
                report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
            else:
                report.deliveries[target] = report.deliveries.get(target, 0) + 1

    report.quarantined = await db.run(lambda tx: _quarantine_all(tx, listings.problems, clock()))
    report.cursors = await db.run(lambda tx: _mark_read(tx, connectors, listed_systems, report.started_at, clock()))
    await db.run(analyze)
    report.finished_at = clock()
    log.info("golive_done", **{k: v for k, v in report.as_json().items() if k in ("records", "bulk", "alone")})
    return report


def _count(report: GoLiveReport, load: RecordLoad) -> None:
    for _, _, outcome in load.inbox:
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
    for delivery in load.deliveries:
        report.deliveries[delivery.system] = report.deliveries.get(delivery.system, 0) + 1


def _apply_alone(
    tx: Tx, listed: list[Listed], policy: Policy, listed_systems: frozenset[str], now: datetime
) -> list[tuple[str, str | None]]:
    """One record through the ordinary pipeline, its rows in the owner-first order, then what each
    listed mirror is owed (as after a first read of its feed). Returns (outcome, None) per change
    and ("queued", target) per delivery owed."""
    out: list[tuple[str, str | None]] = []
    record_id = listed[0].observation.facts.record_id
    for row in apply_order(listed):
        observation = row.observation
        result = apply_event(
            tx, observation, source=observation.source, change_key=row.change_key, policy=policy, now=now
        )
        out.append((result.outcome, None))
    writer = PlanWriter(tx)
    writer.read([record_id])  # locked first (ADR 0012), then its links and queue
    record = writer.record(record_id)
    if record is None:
        return out
    read = replace(policy, unread=policy.unread - listed_systems)
    owed = [
        delivery
        for system in sorted(listed_systems)
        for delivery in owed_after_first_read(record, writer.links(record_id), system, read)
    ]
    if owed:
        # Deliveries only: the record and its links stay as they are, and no repair starts.
        owed_only = Plan(outcome=Outcome.UNCHANGED, record=record, changed=False, deliveries=tuple(owed))
        writer.add(None, owed_only, source="golive", policy=None, now=now)
        writer.flush()
    out.extend(("queued", delivery.system) for delivery in owed)
    return out


def _quarantine_all(tx: Tx, problems: list[tuple[str, NativeChange, Problem]], now: datetime) -> int:
    return sum(
        1
        for system, change, problem in problems
        if quarantine(tx, system=system, change=change, problem=problem, now=now)
    )


def _mark_read(
    tx: Tx, connectors: Mapping[str, Connector], listed: frozenset[str], started: datetime, now: datetime
) -> dict[str, str | None]:
    """Each listed system's first read is done (settled: no owed pass again), and its feed is to be
    read from a margin before the listing began, where its adapter can name that point and no
    cursor is kept yet. Where it cannot, the feed is read from its beginning: the inbox answers
    every change the listing brought."""
    repo = Repo(tx)
    placed: dict[str, str | None] = {}
    for system in sorted(listed):
        if system not in repo.first_reads():
            repo.set_cursor(system, FIRST_READ_FEED, SETTLED, now)
        position = repo.get_cursor(system, FEED)
        if position is None:
            position = connectors[system].adapter.cursor_at(started - CURSOR_MARGIN)
            if position is not None:
                repo.set_cursor(system, FEED, position, now)
        placed[system] = position
    return placed
