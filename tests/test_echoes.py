"""Echoes are recognised by what we wrote, not by clocks (issue 9 causes 1 and 4, issue 10 item 4,
docs/adr/0011): the real store (SQLite file and PostgreSQL), `apply_event`, the claim and the
acknowledgement of deliveries, and detection of a system that ends showing something else."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.domain.model import PUBLISHED, StopReason, TargetState, stopped
from gateway.domain.plan import FEED_CATCH_UP, Action, Decision, Observation, Policy
from gateway.store.database import Database, Tx
from gateway.store.repo import Repo
from gateway.sync.ingest import ApplyResult, apply_event
from tests.conftest import T0, penalty_facts

CC, GS = "creditchina_gansu", "gsxt_gansu"
POLICY = Policy(enabled_systems=frozenset({CC, GS}))
REPAIRED = stopped(StopReason.REPAIRED)
FACTS = penalty_facts()
RID = FACTS.record_id


def _report(source: str, target: TargetState, *, seq: int, at: datetime) -> Observation:
    return Observation(
        source=source,
        facts=FACTS,
        target=target,
        changed_at=at,
        source_version=f"{seq:06d}",
        native_id=f"{source}-1",
    )


def _observe(tx: Tx, source: str, target: TargetState, *, seq: int, at: datetime) -> ApplyResult:
    report = _report(source, target, seq=seq, at=at)
    return apply_event(tx, report, source=source, change_key=f"{source}-{seq}", policy=POLICY, now=at)


def _decide(tx: Tx, action: Action, *, decided_at: datetime, now: datetime) -> ApplyResult:
    decision = Decision(record_id=RID, action=action, decided_at=decided_at, decided_by="兰州市生态环境局")
    return apply_event(tx, decision, source="api:test", change_key=None, policy=POLICY, now=now)


def _deliver_all(tx: Tx, now: datetime) -> list[tuple[str, int]]:
    """Claim every due delivery and record each as acknowledged by its system."""
    repo = Repo(tx)
    claimed = repo.claim(now, 100, "w", now + timedelta(minutes=1))
    repo.complete_many([(item, f"{item.target}-1") for item in claimed], "w", now)
    return [(item.target, item.version) for item in claimed]


def _audit(tx: Tx) -> list[tuple[str, str]]:
    return [(row["kind"], row["actor"]) for row in Repo(tx).audit_of(RID)]


def _pending(tx: Tx) -> list[tuple[str, int, str]]:
    rows = tx.all("SELECT target, version, state_status FROM outbox WHERE status IN ('pending', 'in_flight')")
    return sorted((r["target"], int(r["version"]), r["state_status"]) for r in rows)


async def test_owner_echo_of_our_v2_read_after_v3_keeps_v3(db: Database) -> None:
    """Cause 1. A repair (v2) is written to 信用中国 (the owner) and GSXT; revoke_repair (v3), dated
    before 信用中国 stamped our write, is accepted; then 信用中国's feed reports its echo of v2. The
    old owner path compared 信用中国's change time with v3's decision time, took the echo for the
    owner's own repair, reverted v3, audited `state_changed by creditchina_gansu` and stopped GSXT
    again."""
    t = T0

    def scenario(tx: Tx) -> tuple[Any, ...]:
        _observe(tx, CC, PUBLISHED, seq=1, at=t)
        _deliver_all(tx, t)  # the first sync to GSXT
        _observe(tx, GS, PUBLISHED, seq=1, at=t + timedelta(seconds=5))  # its echo
        _decide(tx, Action.REPAIR, decided_at=t + timedelta(minutes=1), now=t + timedelta(minutes=1))
        assert sorted(_deliver_all(tx, t + timedelta(minutes=2))) == [(CC, 2), (GS, 2)]
        # Decided at 00:02:30, accepted at 00:03; 信用中国 stamped our v2 write at 00:02:50.
        _decide(tx, Action.REVOKE_REPAIR, decided_at=t + timedelta(minutes=2, seconds=30), now=t + timedelta(minutes=3))
        echo = _observe(tx, CC, REPAIRED, seq=2, at=t + timedelta(minutes=2, seconds=50))
        record = Repo(tx).load_record(RID)
        return echo, record, _audit(tx), _pending(tx)

    echo, record, audit, pending = await db.run(scenario)
    assert echo.outcome == "echo"
    assert record is not None and record.state.target == PUBLISHED and record.state.version == 3
    assert ("state_changed", CC) not in audit
    assert pending == [(CC, 3, "published"), (GS, 3, "published")]  # v3 still on its way, nothing else


async def test_mirror_echo_of_an_intermediate_write_is_no_divergence(db: Database) -> None:
    """Cause 4. repair (v2), revoke_repair (v3), repair (v4) all reach GSXT before its feed is read;
    the feed then reports v3's echo, stamped later than the catch-up window after v4. The old
    mirror path remembered only v4: a false `mirror_divergence` by gsxt_gansu and a set-back."""
    t = T0

    def scenario(tx: Tx) -> tuple[Any, ...]:
        _observe(tx, CC, PUBLISHED, seq=1, at=t)
        _deliver_all(tx, t)
        _observe(tx, GS, PUBLISHED, seq=1, at=t + timedelta(seconds=5))  # the echo of the first sync
        for minute, action in ((1, Action.REPAIR), (2, Action.REVOKE_REPAIR), (3, Action.REPAIR)):
            moment = t + timedelta(minutes=minute)
            _decide(tx, action, decided_at=moment, now=moment)
            _deliver_all(tx, moment)
        late = t + timedelta(minutes=3) + FEED_CATCH_UP + timedelta(minutes=10)
        echo_v3 = _observe(tx, GS, PUBLISHED, seq=7, at=late)
        echo_v4 = _observe(tx, GS, REPAIRED, seq=8, at=late + timedelta(seconds=1))
        history = tx.all("SELECT version FROM writes WHERE system = ? ORDER BY version", (GS,))
        return echo_v3, echo_v4, _audit(tx), _pending(tx), [int(r["version"]) for r in history]

    echo_v3, echo_v4, audit, pending, history = await db.run(scenario)
    assert echo_v3.outcome == "echo" and echo_v4.outcome == "unchanged"
    assert not [entry for entry in audit if entry[0] == "mirror_divergence"]
    assert pending == []  # no set-back write
    assert history == []  # GSXT reported v4: no write of ours awaits its echo any more


async def test_a_2025_penalty_touched_later_takes_a_repair_decided_before_the_touch(db: Database) -> None:
    """Issue 10 item 4: the record's decision time came from the feed row's change time (SJC), so
    a repair dated before the row was last touched got 409 stale_decision."""
    touched = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    old_penalty = replace(FACTS, decision_date=date(2025, 3, 10))

    def scenario(tx: Tx) -> ApplyResult:
        report = replace(_report(CC, PUBLISHED, seq=1, at=touched), facts=old_penalty)
        apply_event(tx, report, source=CC, change_key="cc-1", policy=POLICY, now=touched)
        return _decide(tx, Action.REPAIR, decided_at=datetime(2026, 10, 9, 2, 0, tzinfo=UTC), now=touched)

    result = await db.run(scenario)
    assert result.outcome == "changed" and result.version == 2


async def test_a_write_the_system_never_reports_is_detected_after_the_catch_up_window(db: Database) -> None:
    """Detection: after a delivery, a system still showing something else once the feed had time
    to report our write is counted per system; its echo of the write clears it."""
    t = T0

    def deliver_repair(tx: Tx) -> None:
        _observe(tx, CC, PUBLISHED, seq=1, at=t)
        _deliver_all(tx, t)
        _observe(tx, GS, PUBLISHED, seq=1, at=t + timedelta(seconds=5))
        _decide(tx, Action.REPAIR, decided_at=t + timedelta(minutes=1), now=t + timedelta(minutes=1))
        _deliver_all(tx, t + timedelta(minutes=1))

    def mismatches(at: datetime) -> Any:
        return lambda tx: {r["system"]: int(r["n"]) for r in Repo(tx).target_mismatches(at - FEED_CATCH_UP)}

    await db.run(deliver_repair)
    assert await db.run(mismatches(t + timedelta(minutes=2))) == {}  # inside the window: not yet
    later = t + timedelta(minutes=1) + FEED_CATCH_UP + timedelta(seconds=1)
    assert await db.run(mismatches(later)) == {CC: 1, GS: 1}
    await db.run(lambda tx: _observe(tx, GS, REPAIRED, seq=2, at=later))
    assert await db.run(mismatches(later)) == {CC: 1}
    await db.run(lambda tx: _observe(tx, CC, REPAIRED, seq=2, at=later))
    assert await db.run(mismatches(later)) == {}


async def test_retention_keeps_the_last_unreported_write(db: Database) -> None:
    t = T0

    def scenario(tx: Tx) -> None:
        _observe(tx, CC, PUBLISHED, seq=1, at=t)
        _deliver_all(tx, t)
        _decide(tx, Action.REPAIR, decided_at=t + timedelta(minutes=1), now=t + timedelta(minutes=1))
        _deliver_all(tx, t + timedelta(minutes=1))

    await db.run(scenario)
    purged = await db.run(lambda tx: Repo(tx).purge_writes(t + timedelta(days=60), 100))
    left = await db.run(lambda tx: [(r["system"], int(r["version"])) for r in tx.all("SELECT * FROM writes")])
    assert purged == 1  # GSXT's first write (v1): v2 was acknowledged since
    assert sorted(left) == [(CC, 2), (GS, 2)]
