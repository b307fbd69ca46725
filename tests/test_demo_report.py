"""The demo's per-category report (gateway/demo.py) and the agreement it rests on
(gateway/domain/agreement.py): pure, no simulators."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from gateway.demo import category_owners, category_reports
from gateway.domain.agreement import disagreements
from gateway.domain.categories import Category
from gateway.domain.model import PUBLISHED, CanonicalRecord, PublicityState, StopReason, TargetState, stopped
from tests.adapter_contract import CONTRACT_FACTS

CC, GS = "creditchina_gansu", "gsxt_gansu"
AT = datetime(2026, 12, 3, tzinfo=UTC)


def record(category: Category, n: int, target: TargetState = PUBLISHED) -> CanonicalRecord:
    facts = CONTRACT_FACTS[category](n)
    state = PublicityState(target=target, version=1, decided_by="owner", decided_at=AT)
    return CanonicalRecord(record_id=facts.record_id, facts=facts, state=state)


def test_owners_and_mirrors_per_category() -> None:
    assert category_owners(Category.SAMR_SERIOUS) == ([GS], [CC])
    assert category_owners(Category.COURT_DISHONEST) == (["court"], [CC])
    owners, mirrors = category_owners(Category.ADMIN_PENALTY)
    assert set(owners) == set(mirrors) == {CC, GS}  # each owns some penalties and mirrors the other's


def test_a_stopped_record_a_system_does_not_hold_is_in_agreement_a_published_one_is_not() -> None:
    removed = record(Category.SAMR_SERIOUS, 1, stopped(StopReason.REMOVED))
    listed = record(Category.SAMR_SERIOUS, 2)
    publishers = {r.record_id: (GS, CC) for r in (removed, listed)}
    views = {GS: {removed.record_id: stopped(StopReason.REMOVED), listed.record_id: PUBLISHED}, CC: {}}
    [off] = disagreements([removed, listed], views, publishers)
    assert (off.record_id, off.system, off.found) == (listed.record_id, CC, None)


def test_each_category_counts_its_own_records_and_a_left_out_one_never_agrees() -> None:
    good = record(Category.SAMR_SERIOUS, 1)
    bad = record(Category.ABNORMAL_OPERATIONS, 2)
    court = record(Category.COURT_DISHONEST, 3)
    views = {GS: {good.record_id: PUBLISHED, bad.record_id: PUBLISHED}, CC: {good.record_id: PUBLISHED}}
    publishers = {r.record_id: (GS, CC) for r in (good, bad)}
    remaining = disagreements([good, bad, court], views, publishers)
    reports = {r.category: r for r in category_reports([good, bad, court], remaining, {CC, GS})}
    assert len(reports) == 9
    samr = reports["samr_serious"]
    assert (samr.records, samr.agreeing, samr.disagreeing, samr.agrees) == (1, 1, 0, True)
    abnormal = reports["abnormal_operations"]
    assert (abnormal.records, abnormal.disagreeing, abnormal.agrees) == (1, 1, False)
    left = reports["court_dishonest"]
    assert not left.connected and not left.agrees and left.records == 0 and "court" in left.note
    empty = reports["admin_penalty"]
    assert empty.connected and not empty.agrees and empty.note == "no records: nothing to compare"
    # Connected, the court's record counts like any other (and a provisional record does not).
    provisional = replace(court, state=replace(court.state, authoritative=False))
    both = {r.category: r for r in category_reports([court, provisional], [], {CC, GS, "court"})}
    assert both["court_dishonest"].records == 1 and both["court_dishonest"].agrees
