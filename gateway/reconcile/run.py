"""One reconciliation run: list, map, sort, diff, store (with checkpoints), heal.

Per category (in `Category` order): every system taking part lists its rows of that category once,
page by page; each row is mapped by its system's mapping (rows a mapping cannot read go to the
quarantine and are counted) and routed to the pairs it belongs to — an owner's row to (owner,
mirror) for each mirror the record has, a mirror's row to (its owner, mirror). Rows are spilled to a
temporary SQLite file (gateway/reconcile/spill.py) and read back in identity-key order, so memory
does not grow with the listings. Then per pair the diff (gateway/domain/reconcile.py) runs from the
pair's checkpoint; findings are stored in batches, each batch in one transaction with the pair's
new checkpoint and the heals it queued, so a killed run resumes with exactly the findings of an
uninterrupted one. A resumed run lists again (the spill is per process) and skips done pairs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from gateway.contract import NativeChange
from gateway.domain.categories import Category
from gateway.domain.model import MIRRORED_FIELDS, Publicity, RecordFacts, mirrored_fingerprint, mirrored_values
from gateway.domain.plan import Observation, Policy
from gateway.domain.reconcile import Diff, Entry, Finding, FindingKind, Side
from gateway.domain.rules import withheld_reason
from gateway.observability import RECONCILE_RUNS, get_logger
from gateway.quarantine import Problem, examine, masked_row, quarantine
from gateway.reconcile.heal import Healer, RowView
from gateway.reconcile.pairs import Pair, planned_pairs
from gateway.reconcile.spill import Spill, SpilledRow
from gateway.schedule import owner_is_dead, process_owner
from gateway.store import reconciliations as rs
from gateway.store.database import Database, Tx, now_utc
from gateway.sync.connectors import SPECS, Connector

log = get_logger("creditgw.reconcile")

OWNER, MIRROR = Side.OWNER.value, Side.MIRROR.value


class RunInProgress(Exception):
    """Another live process holds an unfinished run of this mode and scope."""


class ScopeError(ValueError):
    """The asked system or category is not one the run can cover (an operator's mistake)."""


@dataclass(frozen=True, kw_only=True)
class Options:
    page_size: int = 500
    batch: int = 200  # findings per transaction (one checkpoint each)
    lease_s: float = 120.0  # a run not renewed for this long may be taken over
    spill_dir: str | None = None


@dataclass
class _Counts:
    owner_rows: int = 0
    mirror_rows: int = 0


@dataclass
class _CategoryRead:
    unreadable: dict[str, int] = field(default_factory=dict)  # per system
    untracked: dict[str, int] = field(default_factory=dict)  # rows the mapping does not track


def new_run_id(now: datetime) -> str:
    """Sortable by start time, unique across replicas."""
    return f"rc_{now.strftime('%Y%m%dT%H%M%SZ')}_{uuid.uuid4().hex[:8]}"


class Reconciler:
    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        policy: Policy,
        *,
        options: Options | None = None,
        clock: Callable[[], datetime] = now_utc,
        owner: str | None = None,
        on_stored: Callable[[str, rs.PairKey, str | None], None] | None = None,
    ) -> None:
        self.db = db
        self.connectors = connectors
        self.policy = policy
        self.options = options or Options()
        self.clock = clock
        self.owner = owner or process_owner()
        # Called after each stored batch (run id, pair, checkpoint): tests stop a run there.
        self.on_stored = on_stored
        self.listings = {name: SPECS[name].listings for name in connectors if name in SPECS}

    # ---- scope --------------------------------------------------------------------------------

    def pairs(self, scope: rs.Scope) -> list[Pair]:
        category = None
        if scope.category is not None:
            try:
                category = Category(scope.category)
            except ValueError:
                raise ScopeError(
                    f"--category {scope.category!r} is not a category (known: {', '.join(c.value for c in Category)})"
                ) from None
        if scope.system is not None and scope.system not in self.connectors:
            raise ScopeError(
                f"--system {scope.system!r} is not one of CREDITGW_SYSTEMS ({', '.join(sorted(self.connectors))})"
            )
        return planned_pairs(self.listings, systems=set(self.connectors), system=scope.system, category=category)

    # ---- the run ------------------------------------------------------------------------------

    async def start_or_resume(self, *, mode: rs.RunMode, scope: rs.Scope, origin: str) -> rs.Run:
        """The unfinished run of this mode and scope when its holder is gone (resumed), else a new
        one; RunInProgress when a live process holds it."""
        self.pairs(scope)  # refuse a bad scope before anything is stored
        now = self.clock()
        lease_until = now + timedelta(seconds=self.options.lease_s)

        def _claim(tx: Tx) -> rs.Run:
            found = rs.unfinished_run(tx, mode=mode, scope=scope)
            if found is not None:
                dead = owner_is_dead(found.lease_owner)
                if rs.take_over_run(
                    tx, found.run_id, owner=self.owner, lease_until=lease_until, now=now, previous_owner_dead=dead
                ):
                    resumed = rs.get_run(tx, found.run_id)
                    assert resumed is not None
                    return resumed
                raise RunInProgress(
                    f"reconciliation run {found.run_id} ({mode.value}) is running in {found.lease_owner}"
                    f" (lease until {found.lease_until:%Y-%m-%d %H:%M:%S} UTC); wait for it or let its lease pass"
                )
            return rs.create_run(
                tx,
                run_id=new_run_id(now),
                mode=mode,
                scope=scope,
                origin=origin,
                owner=self.owner,
                lease_until=lease_until,
                now=now,
            )

        run = await self.db.run(_claim)
        if run.pairs:
            log.info(
                "reconcile_resumed", run_id=run.run_id, mode=mode.value, done=sum(p.status == "done" for p in run.pairs)
            )
        else:
            log.info("reconcile_started", run_id=run.run_id, mode=mode.value, scope=scope.as_text())
        return run

    async def run(self, *, mode: rs.RunMode, scope: rs.Scope, origin: str = "cli") -> rs.Run:
        run = await self.start_or_resume(mode=mode, scope=scope, origin=origin)
        return await self.execute(run)

    async def execute(self, run: rs.Run) -> rs.Run:
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lease(run.run_id, lost), name="reconcile-lease")
        error: str | None = None
        try:
            done = {p.key for p in run.pairs if p.status is rs.PairStatus.DONE}
            pairs = self.pairs(run.scope)
            for category in Category:
                todo = [p for p in pairs if p.category is category and _key(p) not in done]
                if todo:
                    await self._category(run, category, todo, lost)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.error("reconcile_failed", run_id=run.run_id, error=error)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        status = rs.RunStatus.FAILED if error else rs.RunStatus.SUCCEEDED
        finished_at = self.clock()
        await self.db.run(lambda tx: rs.finish_run(tx, run.run_id, status=status, error=error, now=finished_at))
        RECONCILE_RUNS.labels(status.value).inc()
        final = await self.db.run(lambda tx: rs.get_run(tx, run.run_id), write=False)
        assert final is not None
        log.info(
            "reconcile_finished",
            run_id=run.run_id,
            status=status.value,
            findings=final.findings,
            heals=final.heals,
            duration_s=final.duration_s,
        )
        return final

    async def _keep_lease(self, run_id: str, lost: asyncio.Event) -> None:
        every = max(1.0, self.options.lease_s / 3)
        while True:
            await asyncio.sleep(every)
            until = self.clock() + timedelta(seconds=self.options.lease_s)
            try:
                held = await self.db.run(
                    partial(rs.renew_run_lease, run_id=run_id, owner=self.owner, lease_until=until)
                )
            except Exception as exc:  # the database is away: the next renewal may work
                log.warning("reconcile_lease_not_renewed", run_id=run_id, error=str(exc)[:200])
                continue
            if not held:
                lost.set()
                return

    # ---- one category -------------------------------------------------------------------------

    async def _category(self, run: rs.Run, category: Category, pairs: list[Pair], lost: asyncio.Event) -> None:
        spill = Spill(self.options.spill_dir)
        try:
            read = await self._list(category, pairs, spill)
            for index, pair in enumerate(pairs):
                if lost.is_set():
                    raise RunInProgress(f"run {run.run_id} was taken over by another process")
                await self._pair(run, pair, index, spill, read)
        finally:
            spill.close()

    async def _list(self, category: Category, pairs: list[Pair], spill: Spill) -> _CategoryRead:
        read = _CategoryRead()
        systems = sorted({p.owner for p in pairs} | {p.mirror for p in pairs})
        for system in systems:
            connector = self.connectors[system]
            for kind in self.listings[system][category]:
                async for page in connector.adapter.list_all(kind, self.options.page_size):
                    await self._page(system, connector, category, pairs, page.rows, spill, read)
        return read

    async def _page(
        self,
        system: str,
        connector: Connector,
        category: Category,
        pairs: list[Pair],
        rows: list[NativeChange],
        spill: Spill,
        read: _CategoryRead,
    ) -> None:
        routed: list[tuple[int, str, SpilledRow]] = []
        problems: list[tuple[NativeChange, Problem]] = []
        for change in rows:
            found = examine(connector.mapping, change)
            if found is None:
                read.untracked[system] = read.untracked.get(system, 0) + 1
                continue
            if isinstance(found, Problem):
                problems.append((change, found))
                continue
            if found.facts.category is not category:
                continue  # a kind holding several categories: the other category's run reads it
            routed += self._route(system, found, change, pairs)
        if problems:
            now = self.clock()

            def _keep(tx: Tx) -> None:
                for change, problem in problems:
                    quarantine(tx, system=system, change=change, problem=problem, now=now)

            await self.db.run(_keep)
            read.unreadable[system] = read.unreadable.get(system, 0) + len(problems)
        if routed:
            spill.add(routed)

    def _route(
        self, system: str, observation: Observation, change: NativeChange, pairs: list[Pair]
    ) -> list[tuple[int, str, SpilledRow]]:
        facts = observation.facts
        owner = facts.owner.value
        mirrors = {m.value for m in facts.mirrors}
        out: list[tuple[int, str, SpilledRow]] = []
        payload = _payload(observation, change)
        for index, pair in enumerate(pairs):
            if pair.owner != owner:
                continue
            if system == pair.owner and pair.mirror in mirrors:
                status = observation.target.status
                if status is Publicity.PUBLISHED and withheld_reason(facts, pair.mirror) is not None:
                    # The mirror's rules do not publish it (docs/adr/0014): not shown there is right.
                    status = Publicity.STOPPED
                stopped_by = system if status is Publicity.STOPPED else None  # the owner's own stop
                out.append((index, OWNER, _row(facts, status, stopped_by, payload)))
            elif system == pair.mirror:
                stopped_by = system if observation.target.status is Publicity.STOPPED else None
                out.append((index, MIRROR, _row(facts, observation.target.status, stopped_by, payload)))
        return out

    # ---- one pair -----------------------------------------------------------------------------

    async def _pair(self, run: rs.Run, pair: Pair, index: int, spill: Spill, read: _CategoryRead) -> None:
        key = _key(pair)
        started = self.clock()
        progress = await self.db.run(lambda tx: rs.start_pair(tx, run.run_id, key, now=started))
        spill.align_fields(index)
        spill.attribute_mirror_stops(index, pair.owner)
        diff = Diff(
            spill.entries(index, OWNER, after=progress.checkpoint),
            spill.entries(index, MIRROR, after=progress.checkpoint),
            owner_system=pair.owner,
            mirror_system=pair.mirror,
            fields=MIRRORED_FIELDS,
            after=progress.checkpoint,
        )
        healer = Healer(
            mode=run.mode,
            policy=self.policy,
            connectors=self.connectors,
            pair=pair,
            run_id=run.run_id,
        )
        batch: list[tuple[Finding, RowView | None, RowView | None, int]] = []
        for finding in diff:
            if finding.kind is FindingKind.MISSING_IN_MIRROR and finding.owner_status is Publicity.STOPPED:
                continue  # a stopped record needs no copy where it never was (plan._first_fan_out)
            owner_rows = spill.rows_of(index, OWNER, finding.key)
            mirror_rows = spill.rows_of(index, MIRROR, finding.key)
            batch.append((finding, _view(owner_rows), _view(mirror_rows), len(owner_rows) + len(mirror_rows)))
            if len(batch) >= self.options.batch:
                await self._store(run, key, batch, healer, diff.checkpoint)
                batch = []
        await self._store(run, key, batch, healer, diff.checkpoint)
        counts = _Counts(owner_rows=spill.count(index, OWNER), mirror_rows=spill.count(index, MIRROR))
        unreadable = read.unreadable.get(pair.owner, 0) + read.unreadable.get(pair.mirror, 0)
        finished = self.clock()
        await self.db.run(
            lambda tx: rs.finish_pair(
                tx,
                run.run_id,
                key,
                status=rs.PairStatus.DONE,
                owner_rows=counts.owner_rows,
                mirror_rows=counts.mirror_rows,
                unreadable=unreadable,
                error=None,
                now=finished,
            )
        )

    async def _store(
        self,
        run: rs.Run,
        key: rs.PairKey,
        batch: list[tuple[Finding, RowView | None, RowView | None, int]],
        healer: Healer,
        checkpoint: str | None,
    ) -> None:
        now = self.clock()

        def _write(tx: Tx) -> None:
            stored: list[rs.NewFinding] = []
            heals = 0
            for finding, owner, mirror, _ in batch:
                outcome = healer.handle(tx, finding, owner, mirror, now=now)
                heals += outcome.heals
                stored.append(
                    rs.NewFinding(
                        kind=finding.kind.value,
                        side=finding.side.value if finding.side else None,
                        identity_key=finding.key,
                        record_id=outcome.record_id,
                        owner_value=owner.values if owner else None,
                        mirror_value=mirror.values if mirror else None,
                        detail=_detail(finding),
                        action=outcome.action,
                        action_reason=outcome.reason,
                    )
                )
            rs.store_progress(tx, run.run_id, key, stored, checkpoint=checkpoint, heals=heals, now=now)

        await self.db.run(_write)
        if self.on_stored is not None:
            self.on_stored(run.run_id, key, checkpoint)


def _key(pair: Pair) -> rs.PairKey:
    return rs.PairKey(category=pair.category.value, owner_system=pair.owner, mirror_system=pair.mirror)


def _payload(observation: Observation, change: NativeChange) -> dict[str, Any]:
    facts = observation.facts
    values = dict(zip(MIRRORED_FIELDS, mirrored_values(facts), strict=True))
    return {
        "values": {
            "state": observation.target.label,
            "native_id": change.native_id,
            "kind": change.kind,
            "subject_name": facts.subject_name,
            **values,
        },
        "change": _raw(change),
    }


def _raw(change: NativeChange) -> str:
    """The change as quarantine keeps it (`raw_of`: row masked), numbers as text: GSXT's JSON
    amounts arrive as Decimal, which the mappings read back from text alike."""
    return json.dumps(
        {
            "change_key": change.change_key,
            "source_version": change.source_version,
            "changed_at": change.changed_at.isoformat(),
            "kind": change.kind,
            "native_id": change.native_id,
            "row": masked_row(change.row),
        },
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )


def _row(facts: RecordFacts, status: Publicity, stopped_by: str | None, payload: dict[str, Any]) -> SpilledRow:
    # A stand-in (a legacy 事由 standing for the violation) is no statement of the field.
    carried = zip(MIRRORED_FIELDS, mirrored_values(facts), strict=True)
    values = tuple(None if name in facts.stand_ins else value for name, value in carried)
    entry = Entry(facts.identity.key, mirrored_fingerprint(values), status, stopped_by, values)
    return SpilledRow(
        entry=entry, record_id=facts.record_id, values=payload["values"], change={"raw": payload["change"]}
    )


def _view(rows: list[tuple[str, dict[str, Any]]]) -> RowView | None:
    if not rows:
        return None
    record_id, payload = rows[0]
    return RowView(record_id=record_id, values=payload["values"], raw=payload["change"]["raw"], count=len(rows))


def _detail(finding: Finding) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if finding.owner_status is not None:
        detail["owner_status"] = finding.owner_status.value
    if finding.mirror_status is not None:
        detail["mirror_status"] = finding.mirror_status.value
    if finding.fields:
        detail["fields"] = [{"name": f.name, "owner": f.owner, "mirror": f.mirror} for f in finding.fields]
    if finding.kind is FindingKind.DUPLICATE:
        detail["count"] = finding.count
    if finding.stopped_by is not None:
        detail["stopped_by"] = finding.stopped_by
    return detail


def options_from(settings: Any) -> Options:
    return Options(
        page_size=settings.reconcile_page_size,
        batch=settings.reconcile_batch,
        lease_s=settings.reconcile_lease_s,
    )
