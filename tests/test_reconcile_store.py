"""Reconciliation runs, findings and the scheduled-job lease, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from gateway import schedule
from gateway.store import reconciliations as rs
from gateway.store.database import Database, Tx
from tests.conftest import T0

PAIR = rs.PairKey(category="admin_penalty", owner_system="creditchina_gansu", mirror_system="gsxt_gansu")
SCOPE = rs.Scope(system=None, category="admin_penalty")


def _finding(key: str, kind: str = "missing_in_mirror") -> rs.NewFinding:
    return rs.NewFinding(
        kind=kind,
        side=None,
        identity_key=key,
        record_id=None,
        owner_value={"reason": "甲"},
        mirror_value=None,
        action=rs.FindingAction.WOULD_HEAL,
    )


async def test_a_run_stores_findings_with_its_checkpoint_and_pages_them(db: Database) -> None:
    def _write(tx: Tx) -> None:
        rs.create_run(
            tx,
            run_id="rc-1",
            mode=rs.RunMode.DRY_RUN,
            scope=SCOPE,
            origin="cli",
            owner="me",
            lease_until=T0 + timedelta(minutes=1),
            now=T0,
        )
        rs.start_pair(tx, "rc-1", PAIR, now=T0)
        rs.store_progress(
            tx, "rc-1", PAIR, [_finding("a"), _finding("b", "extra_in_mirror")], checkpoint="b", heals=0, now=T0
        )
        rs.store_progress(tx, "rc-1", PAIR, [_finding("c")], checkpoint="c", heals=1, now=T0)
        rs.finish_pair(
            tx, "rc-1", PAIR, status=rs.PairStatus.DONE, owner_rows=5, mirror_rows=4, unreadable=1, error=None, now=T0
        )
        rs.finish_run(tx, "rc-1", status=rs.RunStatus.SUCCEEDED, error=None, now=T0 + timedelta(seconds=3))

    await db.run(_write)
    run = await db.run(lambda tx: rs.get_run(tx, "rc-1"), write=False)
    assert run is not None and run.status is rs.RunStatus.SUCCEEDED and run.findings == 3 and run.heals == 1
    assert run.duration_s == 3 and run.scope == SCOPE
    (pair,) = run.pairs
    assert pair.kinds == {"missing_in_mirror": 2, "extra_in_mirror": 1} and pair.checkpoint == "c"
    assert (pair.owner_rows, pair.mirror_rows, pair.unreadable, pair.heals) == (5, 4, 1, 1)
    page = await db.run(lambda tx: rs.list_findings(tx, "rc-1", limit=2), write=False)
    assert [f.seq for f in page] == [1, 2] and page[0].owner_value == {"reason": "甲"}
    rest = await db.run(lambda tx: rs.list_findings(tx, "rc-1", after_seq=2), write=False)
    assert [f.identity_key for f in rest] == ["c"]
    extra = await db.run(lambda tx: rs.list_findings(tx, "rc-1", kind="extra_in_mirror"), write=False)
    assert [f.identity_key for f in extra] == ["b"]
    none = await db.run(lambda tx: rs.list_findings(tx, "rc-1", system="tax"), write=False)
    assert none == []
    assert await db.run(lambda tx: rs.last_succeeded_run(tx), write=False) == run


async def test_runs_are_listed_newest_first_with_a_cursor(db: Database) -> None:
    def _write(tx: Tx) -> None:
        for n in range(5):
            rs.create_run(
                tx,
                run_id=f"rc-{n}",
                mode=rs.RunMode.CHECK,
                scope=rs.Scope(),
                origin="cli",
                owner="me",
                lease_until=T0,
                now=T0 + timedelta(minutes=n),
            )

    await db.run(_write)
    first = await db.run(lambda tx: rs.list_runs(tx, limit=2), write=False)
    assert [r.run_id for r in first] == ["rc-4", "rc-3"]
    second = await db.run(lambda tx: rs.list_runs(tx, limit=2, before="rc-3"), write=False)
    assert [r.run_id for r in second] == ["rc-2", "rc-1"]


async def test_a_running_run_is_taken_over_only_when_its_lease_passed(db: Database) -> None:
    def _create(tx: Tx) -> None:
        rs.create_run(
            tx,
            run_id="rc-x",
            mode=rs.RunMode.CHECK,
            scope=rs.Scope(),
            origin="cli",
            owner="a",
            lease_until=T0 + timedelta(minutes=1),
            now=T0,
        )

    await db.run(_create)
    found = await db.run(lambda tx: rs.unfinished_run(tx, mode=rs.RunMode.CHECK, scope=rs.Scope()), write=False)
    assert found is not None and found.run_id == "rc-x"
    lease = T0 + timedelta(minutes=5)
    assert not await db.run(lambda tx: rs.take_over_run(tx, "rc-x", owner="b", lease_until=lease, now=T0))
    assert await db.run(
        lambda tx: rs.take_over_run(tx, "rc-x", owner="b", lease_until=lease, now=T0, previous_owner_dead=True)
    )
    assert not await db.run(lambda tx: rs.renew_run_lease(tx, "rc-x", owner="a", lease_until=lease))
    assert await db.run(lambda tx: rs.renew_run_lease(tx, "rc-x", owner="b", lease_until=lease))


async def test_a_slot_is_claimed_once_and_taken_over_after_its_lease(db: Database) -> None:
    lease = T0 + timedelta(minutes=1)

    claims = await asyncio.gather(
        *(
            db.run(
                lambda tx, o=owner: schedule.claim_slot(  # type: ignore[misc]
                    tx, job="reconcile", slot="2026-05-01", owner=o, lease_until=lease, now=T0
                )
            )
            for owner in ("a", "b", "c")
        )
    )
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and won[0].claims == 1
    later = T0 + timedelta(minutes=2)
    taken = await db.run(
        lambda tx: schedule.claim_slot(
            tx, job="reconcile", slot="2026-05-01", owner="d", lease_until=later + timedelta(minutes=1), now=later
        )
    )
    assert taken is not None and taken.claims == 2
    assert not await db.run(lambda tx: schedule.renew_slot(tx, won[0], lease_until=later))
    assert await db.run(lambda tx: schedule.finish_slot(tx, taken, outcome="succeeded", now=later))
    after = later + timedelta(hours=1)
    assert (
        await db.run(
            lambda tx: schedule.claim_slot(
                tx, job="reconcile", slot="2026-05-01", owner="e", lease_until=after, now=after
            )
        )
        is None
    )
    (row,) = await db.run(lambda tx: schedule.slots_of(tx, "reconcile"), write=False)
    assert row.owner == "d" and row.outcome == "succeeded" and row.finished_at == later


def test_daily_slots_are_beijing_days() -> None:
    at = schedule.parse_daily_time("02:30")
    # 2026-05-01 08:00 UTC is 16:00 in Beijing: the latest 02:30 was that morning.
    slot, moment = schedule.daily_slot(T0, at)
    assert slot == "2026-05-01" and moment == T0 - timedelta(hours=13, minutes=30)
    # 17:00 UTC on 04-30 is 01:00 on 05-01 in Beijing: the latest 02:30 was on 04-30.
    slot, _ = schedule.daily_slot(T0 - timedelta(hours=15), at)
    assert slot == "2026-04-30"
    assert schedule.next_daily_moment(T0, at) == moment + timedelta(days=1)
    for bad in ("2:30", "24:00", "02:60", "noon"):
        try:
            schedule.parse_daily_time(bad)
        except ValueError as exc:
            assert "HH:MM" in str(exc)
        else:
            raise AssertionError(bad)
