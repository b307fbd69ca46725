"""Quiet reports and first sightings of a feed page (gateway/sync/ingest.py `apply_reports`) are
written in one unit, and every other report is left to `apply_event`. Both are the same
`PlanWriter` (docs/adr/0029-one-plan-writer.md): no test compares their rows any more.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from gateway.contract import ChangePage, Ingested, NativeChange, UnmappableRow
from gateway.domain.model import PUBLISHED, StopReason, stopped
from gateway.domain.plan import Action, Decision, Observation, Policy
from gateway.store.database import Database, Tx
from gateway.store.group import GroupCommitter
from gateway.store.repo import Repo
from gateway.sync.connectors import Connector
from gateway.sync.ingest import apply_event, apply_reports
from gateway.sync.poller import Poller
from tests.conftest import T0, penalty_facts

CC, GS = "creditchina_gansu", "gsxt_gansu"
POLICY = Policy(enabled_systems=frozenset({CC, GS}))
NOW = T0 + timedelta(days=1)


def _facts(n: int) -> Any:
    return penalty_facts(document_number=f"兰环罚〔2026〕{n}号")


def _report(source: str, n: int, target: Any = PUBLISHED, version: str = "000100", minutes: int = 0) -> Observation:
    return Observation(
        source=source,
        facts=_facts(n),
        target=target,
        changed_at=T0 + timedelta(minutes=minutes),
        source_version=version,
        native_id=f"{source[:2]}-{n}",
    )


def _seed(tx: Tx) -> None:
    """Records 1–5 published by their owner (信用中国) and mirrored on GSXT; record 3 then repaired
    through the API, and that repair delivered to GSXT; two change keys already in the inbox."""
    repo = Repo(tx)
    for n in range(1, 6):
        apply_event(tx, _report(CC, n, version=f"00000{n}"), source=CC, change_key=f"cc-{n}", policy=POLICY, now=T0)
    claimed = repo.claim(T0, 50, "w", T0 + timedelta(minutes=1))
    repo.complete_many([(item, f"GS-{item.record_id[-4:]}") for item in claimed], "w", T0)
    decision = Decision(record_id=_facts(3).record_id, action=Action.REPAIR, decided_at=T0, decided_by="局")
    apply_event(tx, decision, source="api:x", change_key=None, policy=POLICY, now=T0, repair_id="rep_seed")
    for item in repo.claim(T0, 50, "w", T0 + timedelta(minutes=1)):
        if item.target == GS:
            repo.complete(item, "w", None, T0)
    repo.record_inbox(GS, [("gs-seen", _facts(1).record_id, "unchanged"), ("gs-seen-11", None, "untracked")], T0)


PAGE: list[tuple[str, Observation]] = [
    ("gs-1", _report(GS, 1)),  # GSXT confirms what it shows: quiet
    ("cc-1b", _report(CC, 1, version="000101")),  # the owner repeats itself: quiet
    ("gs-3", _report(GS, 3, stopped(StopReason.REPAIRED))),  # the echo of our delivery: quiet
    ("gs-seen", _report(GS, 5)),  # a change key already in the inbox: duplicate
    ("gs-4", _report(GS, 4, stopped(StopReason.REPAIRED), minutes=10)),  # GSXT stopped its mirror: set back
    ("cc-5b", _report(CC, 5, stopped(StopReason.REPAIRED), version="000200", minutes=5)),  # a change
    ("cc-5-old", _report(CC, 5, version="000001")),  # the same record again, and stale
    ("cc-9", _report(CC, 9)),  # a record nobody knew: first sighting, mirrored to GSXT
    ("gs-2", _report(GS, 2)),  # quiet
    ("gs-8", _report(GS, 8)),  # only the mirror knows it so far: first sighting, provisional
    ("cc-10", _report(CC, 10, version="000300")),  # first sighting ...
    ("cc-10b", _report(CC, 10, stopped(StopReason.REPAIRED), version="000301", minutes=3)),  # ... then a change
    ("gs-seen-11", _report(GS, 11)),  # a new record, but its change key is in the inbox: duplicate
]


async def _alone(db: Database, key: str, observation: Observation) -> str:
    def unit(tx: Tx) -> str:
        return apply_event(tx, observation, source=observation.source, change_key=key, policy=POLICY, now=NOW).outcome

    return await db.run(unit)


async def test_a_page_writes_quiet_reports_and_first_sightings_and_leaves_the_rest_alone(db: Database) -> None:
    await db.run(_seed)
    outcomes: list[str] = []
    for source in (GS, CC):  # the poller reads one feed at a time
        page = [(key, o) for key, o in PAGE if o.source == source]
        quiet = await db.run(
            lambda tx, page=page, source=source: apply_reports(tx, page, source=source, policy=POLICY, now=NOW)
        )
        for (key, observation), outcome in zip(page, quiet, strict=True):
            outcomes.append(outcome if outcome is not None else await _alone(db, key, observation))
        if source == GS:
            assert quiet == ["unchanged", "unchanged", "duplicate", None, "unchanged", "provisional", "duplicate"]
        else:
            assert quiet == ["unchanged", None, None, "created", "created", None]

    assert outcomes == [
        *("unchanged", "unchanged", "duplicate", "set_back", "unchanged", "provisional", "duplicate"),
        *("unchanged", "changed", "stale", "created", "created", "changed"),
    ]
    counts = await db.run(lambda tx: {t: Repo(tx).count(t) for t in ("records", "inbox")}, write=False)
    # Records 1-5 seeded, 9 and 10 first seen from 信用中国, 8 from GSXT (provisional); the inbox
    # holds every change key once (seeded 5 + 2, the page's 13 less its 2 duplicates).
    assert counts == {"records": 8, "inbox": 18}


class _Feed:
    """One page of three changes: a report, a row its system cannot have sent (unmappable), and a
    row the gateway does not track."""

    system = CC

    def __init__(self) -> None:
        stamp = T0
        self.changes = [
            NativeChange(change_key=k, source_version=k, changed_at=stamp, kind="CF", native_id=k, row={"n": k})
            for k in ("ok", "broken", "untracked")
        ]
        self.acknowledged: list[Ingested] = []

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        return ChangePage(changes=self.changes if cursor is None else [], cursor="end", has_more=False)

    async def acknowledge(self, ingested: Sequence[Ingested]) -> None:
        self.acknowledged.extend(ingested)


class _Mapping:
    system = CC

    def to_observation(self, change: NativeChange) -> Observation | None:
        if change.change_key == "broken":
            raise UnmappableRow("CF_WSH is empty", field="CF_WSH")
        return _report(CC, 7) if change.change_key == "ok" else None


async def test_a_page_with_unmappable_and_untracked_rows(db: Database) -> None:
    """Each change is mapped once; the unmappable one is quarantined (and settled as such in the
    inbox), the untracked one writes nothing, and the report is applied."""
    committer = GroupCommitter(db)
    feed = _Feed()
    poller = Poller(committer, Connector(system=CC, adapter=feed, mapping=_Mapping()), POLICY)  # type: ignore[arg-type]
    try:
        stats = await poller.poll_once()
    finally:
        await committer.close()
    assert stats.outcomes == {"created": 1, "quarantined": 1, "untracked": 1}
    inbox = await db.run(lambda tx: tx.all("SELECT change_key, outcome FROM inbox ORDER BY change_key"), write=False)
    assert [(r["change_key"], r["outcome"]) for r in inbox] == [("broken", "quarantined"), ("ok", "created")]
    [kept] = await db.run(lambda tx: tx.all("SELECT * FROM quarantine"), write=False)
    assert (kept["change_key"], kept["reason"], kept["field"], kept["status"]) == (
        "broken",
        "unmappable",
        "CF_WSH",
        "open",
    )
    # Acknowledged once ingested: how each change went, and why the refused one was refused.
    acknowledged = [(i.change.change_key, i.outcome, i.problem) for i in feed.acknowledged]
    assert acknowledged == [
        ("ok", "created", None),
        ("broken", "quarantined", kept["message"]),
        ("untracked", "untracked", None),
    ]


class _NewRecordsFeed:
    """One page: two records nobody knew."""

    system = CC

    async def acknowledge(self, ingested: Sequence[Ingested]) -> None:
        return None

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        changes = [
            NativeChange(change_key=k, source_version=k, changed_at=T0, kind="CF", native_id=k, row={"n": k})
            for k in ("new-20", "new-21")
        ]
        return ChangePage(changes=changes if cursor is None else [], cursor="end", has_more=False)


class _NewRecordsMapping:
    system = CC

    def to_observation(self, change: NativeChange) -> Observation | None:
        return _report(CC, int(change.change_key.split("-")[1]))


async def test_a_failed_bulk_unit_leaves_nothing_and_each_change_goes_alone(db: Database, monkeypatch: Any) -> None:
    """A first sighting whose record another replica created meanwhile fails the whole bulk unit
    (here: the page's insert runs twice, a real unique violation from the database). The unit is
    rolled back whole, and each change of the page then goes through `apply_event` alone."""
    original = Repo.insert_records
    failures = []

    def insert_twice(self: Repo, records: Any, now: Any) -> None:
        original(self, records, now)
        if len(records) < 2:
            return  # one change alone (the same writer, a batch of one) is left to succeed
        try:
            original(self, records, now)
        except Exception as exc:
            failures.append(type(exc).__name__)
            raise

    monkeypatch.setattr(Repo, "insert_records", insert_twice)
    committer = GroupCommitter(db)
    connector = Connector(system=CC, adapter=_NewRecordsFeed(), mapping=_NewRecordsMapping())  # type: ignore[arg-type]
    try:
        stats = await Poller(committer, connector, POLICY).poll_once()
    finally:
        await committer.close()

    assert failures == ["UniqueViolation"]
    assert stats.outcomes == {"created": 2}
    counts = await db.run(
        lambda tx: {t: Repo(tx).count(t) for t in ("records", "inbox", "outbox", "audit", "links")}, write=False
    )
    assert counts == {"records": 2, "inbox": 2, "outbox": 2, "audit": 2, "links": 2}


class _EmptyFeed:
    """GSXT's feed, read through at once (it holds nothing the test needs)."""

    system = GS

    async def acknowledge(self, ingested: Sequence[Ingested]) -> None:
        return None

    async def fetch_changes(self, cursor: str | None, page_size: int) -> ChangePage:
        return ChangePage(changes=[], cursor="end", has_more=False)


async def test_a_feed_read_through_is_sent_what_it_lacks_and_once_more_a_minute_later(db: Database) -> None:
    """A record first seen by a unit that still took GSXT for unread (its poller read the marks
    before GSXT's was written) is not lost: the second pass, a minute after the first, sends it."""
    moments = iter([NOW, NOW + timedelta(seconds=30), NOW + timedelta(minutes=2), NOW + timedelta(minutes=3)])
    clock = {"now": NOW}
    committer = GroupCommitter(db)
    gsxt = Poller(
        committer,
        Connector(system=GS, adapter=_EmptyFeed(), mapping=_Mapping()),  # type: ignore[arg-type]
        POLICY,
        clock=lambda: clock["now"],
        feeds=(CC, GS),
    )

    async def gsxt_poll() -> list[str]:
        clock["now"] = next(moments)
        await gsxt.poll_once()
        rows = await db.run(lambda tx: tx.all("SELECT target FROM outbox ORDER BY id"), write=False)
        return [r["target"] for r in rows]

    try:
        assert await gsxt_poll() == []  # first pass: nothing published yet; GSXT marked read
        stale = Policy(enabled_systems=frozenset({CC, GS}), unread=frozenset({GS}))
        await db.run(lambda tx: apply_event(tx, _report(CC, 30), source=CC, change_key="cc-30", policy=stale, now=NOW))
        assert await gsxt_poll() == []  # 30 s later: too early for the second pass
        assert await gsxt_poll() == [GS]  # the second pass sends what GSXT lacks
        assert await gsxt_poll() == [GS]  # settled: no third pass, nothing sent twice
        marks = await db.run(lambda tx: Repo(tx).first_reads(), write=False)
        assert marks[GS][0] == "settled" and CC not in marks
    finally:
        await committer.close()
