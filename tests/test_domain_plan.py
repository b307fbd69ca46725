"""plan(): every transition, stale versions, echoes, and owner/mirror conflicts. Pure, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.domain.beijing import start_of_beijing_day
from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.model import (
    PUBLISHED,
    CanonicalRecord,
    LinkState,
    PublicityState,
    SentWrite,
    StopReason,
    TargetState,
    stopped,
)
from gateway.domain.plan import Action, Decision, DecisionRefused, Observation, Outcome, Policy, action_fits, plan
from tests.conftest import T0, penalty_facts

CC, GS = "creditchina_gansu", "gsxt_gansu"
POLICY = Policy(enabled_systems=frozenset({CC, GS}))
REPAIRED = stopped(StopReason.REPAIRED)


def observed(source: str, target: TargetState = PUBLISHED, *, at_min: int = 0, version: str = "0001", **kw: object):
    return Observation(
        source=source,
        facts=penalty_facts(**kw),  # type: ignore[arg-type]
        target=target,
        changed_at=T0 + timedelta(minutes=at_min),
        source_version=version,
        native_id=f"{source}-1",
    )


def record(target: TargetState = PUBLISHED, *, version: int = 3, authoritative: bool = True, **kw: object):
    facts = penalty_facts(**kw)  # type: ignore[arg-type]
    return CanonicalRecord(
        record_id=facts.record_id,
        facts=facts,
        state=PublicityState(target=target, version=version, decided_by=CC, decided_at=T0, authoritative=authoritative),
    )


def decision(action: Action, *, at_min: int = 10) -> Decision:
    return Decision(
        record_id=penalty_facts().record_id,
        action=action,
        decided_at=T0 + timedelta(minutes=at_min),
        decided_by="兰州市生态环境局",
    )


# ---- decisions ---------------------------------------------------------------------------------

TRANSITIONS = [
    (Action.REPAIR, PUBLISHED, REPAIRED),
    (Action.REVOKE_REPAIR, REPAIRED, PUBLISHED),
    (Action.WITHDRAW, PUBLISHED, stopped(StopReason.WITHDRAWN)),
    (Action.WITHDRAW, REPAIRED, stopped(StopReason.WITHDRAWN)),
    (Action.WITHDRAW, stopped(StopReason.EXPIRED), stopped(StopReason.WITHDRAWN)),
    (Action.REMOVE, PUBLISHED, stopped(StopReason.REMOVED)),
    (Action.EXPIRE, PUBLISHED, stopped(StopReason.EXPIRED)),
]


def fitting(action: Action, before: TargetState) -> tuple[Decision, CanonicalRecord]:
    """The decision and a record of a category it applies to (a penalty, or a list entry)."""
    current = record(before)
    if action_fits(Category.ADMIN_PENALTY, action):
        return decision(action), current
    facts = replace(
        current.facts, category=Category.ABNORMAL_OPERATIONS, authority_domain=AuthorityDomain.MARKET_REGULATION
    )
    return replace(decision(action), record_id=facts.record_id), replace(
        current, record_id=facts.record_id, facts=facts
    )


@pytest.mark.parametrize(("action", "before", "after"), TRANSITIONS)
def test_decision_moves_state_and_fans_out_to_owner_and_mirrors(action, before, after) -> None:
    result = plan(*fitting(action, before), {}, POLICY)
    assert result.outcome is Outcome.CHANGED
    assert result.record is not None
    assert result.record.state.target == after
    assert result.record.state.version == 4
    assert {d.system for d in result.deliveries} == {CC, GS}
    assert all(d.state == after and d.version == 4 for d in result.deliveries)
    assert result.audit[0].kind == "state_changed"


REFUSED = [
    (Action.REPAIR, stopped(StopReason.WITHDRAWN)),
    (Action.REPAIR, stopped(StopReason.EXPIRED)),
    (Action.REVOKE_REPAIR, stopped(StopReason.EXPIRED)),
    (Action.REMOVE, REPAIRED),
    (Action.EXPIRE, REPAIRED),
    (Action.WITHDRAW, stopped(StopReason.REMOVED)),
]


@pytest.mark.parametrize(("action", "before"), REFUSED)
def test_decision_from_a_state_it_cannot_leave_is_refused(action, before) -> None:
    with pytest.raises(DecisionRefused) as refused:
        plan(*fitting(action, before), {}, POLICY)
    assert refused.value.code == "invalid_transition"


@pytest.mark.parametrize("category", list(Category))
@pytest.mark.parametrize("action", list(Action))
def test_every_category_and_action_pair_is_checked(category: Category, action: Action) -> None:
    """Issue 10 item 6: a penalty is never removed (it is on no list); a list entry is never
    repaired as a penalty is (its repair is the removal). Checked before anything else."""
    facts = replace(penalty_facts(), category=category)
    current = CanonicalRecord(record_id=facts.record_id, facts=facts, state=record().state)
    event = replace(decision(action), record_id=facts.record_id)
    fits = action in ({Action.REPAIR, Action.REVOKE_REPAIR} if category is Category.ADMIN_PENALTY else {Action.REMOVE})
    fits = fits or action in (Action.WITHDRAW, Action.EXPIRE)
    assert action_fits(category, action) is fits
    if fits:
        return
    with pytest.raises(DecisionRefused) as refused:
        plan(event, current, {}, POLICY)
    assert refused.value.code == "action_not_for_category"


@pytest.mark.parametrize(("action", "state"), [(Action.REPAIR, REPAIRED), (Action.REVOKE_REPAIR, PUBLISHED)])
def test_a_decision_whose_result_already_holds_changes_nothing(action: Action, state: TargetState) -> None:
    result = plan(decision(action), record(state), {}, POLICY)
    assert result.outcome is Outcome.UNCHANGED
    assert result.deliveries == ()
    assert not result.changed


def test_decision_older_than_the_current_state_is_refused() -> None:
    with pytest.raises(DecisionRefused) as refused:
        plan(decision(Action.REPAIR, at_min=-5), record(PUBLISHED), {}, POLICY)
    assert refused.value.code == "stale_decision"


def test_decision_on_unknown_record_is_refused() -> None:
    with pytest.raises(DecisionRefused) as refused:
        plan(decision(Action.REPAIR), None, {}, POLICY)
    assert refused.value.code == "record_not_found"


def test_decision_skips_a_system_that_already_shows_the_new_version() -> None:
    links = {GS: LinkState(system=GS, written_version=4, written_target=REPAIRED)}
    result = plan(decision(Action.REPAIR), record(PUBLISHED), links, POLICY)
    assert [d.system for d in result.deliveries] == [CC]


# ---- observations from the owner -------------------------------------------------------------


def test_first_sighting_from_owner_creates_and_pushes_to_mirror() -> None:
    result = plan(observed(CC), None, {}, POLICY)
    assert result.outcome is Outcome.CREATED
    assert result.record is not None and result.record.state.version == 1
    assert [(d.system, d.state) for d in result.deliveries] == [(GS, PUBLISHED)]
    assert result.seen is not None and result.seen.system == CC


def test_first_sighting_skips_mirror_already_seen_showing_it() -> None:
    links = {GS: LinkState(system=GS, seen_target=PUBLISHED, seen_source_version="0001")}
    assert plan(observed(CC), None, links, POLICY).deliveries == ()


def test_owner_repair_fans_out_to_mirrors_only() -> None:
    result = plan(observed(CC, REPAIRED, at_min=5), record(PUBLISHED), {}, POLICY)
    assert result.outcome is Outcome.CHANGED
    assert [(d.system, d.state, d.version) for d in result.deliveries] == [(GS, REPAIRED, 4)]


def test_owner_report_equal_to_current_is_unchanged() -> None:
    result = plan(observed(CC, PUBLISHED, at_min=5), record(PUBLISHED), {}, POLICY)
    assert result.outcome is Outcome.UNCHANGED and result.deliveries == ()


def test_owner_content_change_is_a_new_version_delivered_to_mirrors() -> None:
    result = plan(observed(CC, PUBLISHED, at_min=5, subject_code="91330203674737244W"), record(PUBLISHED), {}, POLICY)
    assert result.outcome is Outcome.CHANGED
    assert result.audit[0].kind == "facts_changed"
    assert [d.version for d in result.deliveries] == [4]


def test_owner_feed_behind_a_newer_api_decision_does_not_undo_it() -> None:
    """The owner reported PUBLISHED; a repair accepted through the API is on its way to it; its
    feed reports PUBLISHED again (a re-read, or a content edit), stamped after the decision. It
    still shows what it showed: no decision of the owner, whatever the clocks say."""
    current = replace(record(REPAIRED), state=replace(record(REPAIRED).state, decided_at=T0 + timedelta(hours=1)))
    links = {CC: LinkState(system=CC, seen_target=PUBLISHED, seen_source_version="0001")}
    result = plan(observed(CC, PUBLISHED, at_min=90, version="0002"), current, links, POLICY)
    assert result.outcome is Outcome.STALE
    assert result.deliveries == () and not result.changed
    assert all(a.kind == "stale_ignored" for a in result.audit)


def test_report_older_than_one_already_seen_from_that_source_is_stale() -> None:
    links = {CC: LinkState(system=CC, seen_source_version="0005")}
    result = plan(observed(CC, REPAIRED, version="0004"), record(PUBLISHED), links, POLICY)
    assert result.outcome is Outcome.STALE
    assert result.audit[0].kind == "stale_ignored"
    assert result.deliveries == () and not result.changed


def test_market_regulation_penalty_is_owned_by_gsxt() -> None:
    kw = {"authority_name": "兰州市市场监督管理局", "domain": AuthorityDomain.MARKET_REGULATION}
    result = plan(observed(GS, REPAIRED, **kw), record(PUBLISHED, **kw), {}, POLICY)
    assert [(d.system, d.state) for d in result.deliveries] == [(CC, REPAIRED)]


def test_natural_person_penalty_is_never_sent_to_gsxt() -> None:
    result = plan(observed(CC, subject_type=SubjectType.NATURAL_PERSON, subject_code=None), None, {}, POLICY)
    assert result.deliveries == ()


# ---- observations from a mirror ---------------------------------------------------------------


def test_mirror_contradicting_owner_is_audited_and_set_back_with_a_new_version() -> None:
    result = plan(observed(GS, REPAIRED), record(PUBLISHED), {}, POLICY)
    assert result.outcome is Outcome.SET_BACK
    assert result.audit[0].kind == "mirror_divergence"
    assert [(d.system, d.state, d.version) for d in result.deliveries] == [(GS, PUBLISHED, 4)]
    # The correction carries its own key, so a mirror that remembers the old key applies it.
    old = plan(decision(Action.REVOKE_REPAIR), record(REPAIRED, version=3), {}, POLICY).deliveries[0]
    assert result.deliveries[0].idempotency_key != old.idempotency_key


def test_mirror_echo_of_our_write_is_recognised() -> None:
    links = {GS: LinkState(system=GS, written_version=4, written_target=REPAIRED)}
    current = record(PUBLISHED, version=5)  # repair was revoked since; our old write echoes back
    result = plan(observed(GS, REPAIRED), current, links, POLICY)
    assert result.outcome is Outcome.ECHO
    assert result.deliveries == ()


def test_a_mirror_feed_behind_our_last_write_is_not_a_divergence() -> None:
    """We wrote PUBLISHED (v2), then REPAIRED (v3), both acknowledged, before the mirror's feed was
    read: its feed now reports PUBLISHED, the echo of the first write. It is recognised as that
    write: the link moves to it, no set-back, no accusation."""
    acked = T0 + timedelta(minutes=1)
    history = (
        SentWrite(version=2, target=PUBLISHED, digest=penalty_facts().fingerprint(), acked_at=acked),
        SentWrite(version=3, target=REPAIRED, digest=penalty_facts().fingerprint(), acked_at=acked),
    )
    links = {GS: LinkState(system=GS, written_version=3, written_target=REPAIRED, written_at=acked, writes=history)}
    current = record(REPAIRED, version=3)
    result = plan(observed(GS, PUBLISHED, at_min=0), current, links, POLICY)
    assert result.outcome is Outcome.ECHO
    assert result.deliveries == () and not result.changed and result.audit == ()
    assert result.seen is not None and result.seen.target == PUBLISHED and result.seen.confirms == 2


def test_once_the_mirror_reported_our_write_a_different_state_is_a_divergence() -> None:
    acked = T0 + timedelta(minutes=1)
    confirmed = LinkState(system=GS, written_version=3, written_target=REPAIRED, written_at=acked, seen_target=REPAIRED)
    result = plan(observed(GS, PUBLISHED, at_min=2), record(REPAIRED, version=3), {GS: confirmed}, POLICY)
    assert result.outcome is Outcome.SET_BACK and result.audit[-1].kind == "mirror_divergence"


def test_a_mirror_change_long_after_our_unreported_write_is_a_divergence() -> None:
    """A write that changed nothing creates no feed item, so our write may never be reported: a
    different state stamped well after it (FEED_CATCH_UP) is the mirror's own change."""
    acked = T0 + timedelta(minutes=1)
    links = {GS: LinkState(system=GS, written_version=3, written_target=REPAIRED, written_at=acked)}
    result = plan(observed(GS, PUBLISHED, at_min=30), record(REPAIRED, version=3), links, POLICY)
    assert result.outcome is Outcome.SET_BACK


def test_mirror_in_sync_is_unchanged() -> None:
    assert plan(observed(GS, PUBLISHED), record(PUBLISHED), {}, POLICY).outcome is Outcome.UNCHANGED


def test_mirror_first_sighting_is_provisional_until_the_owner_speaks() -> None:
    result = plan(observed(GS), None, {}, POLICY)
    assert result.outcome is Outcome.PROVISIONAL
    assert result.record is not None and not result.record.state.authoritative
    assert result.deliveries == ()
    later = plan(observed(CC, REPAIRED, at_min=1), result.record, {}, POLICY)
    assert later.outcome is Outcome.CHANGED
    assert later.record is not None and later.record.state.authoritative


def test_repair_window_lets_a_mirror_act_for_the_owner() -> None:
    kw = {"authority_name": "兰州市市场监督管理局", "domain": AuthorityDomain.MARKET_REGULATION}
    policy = Policy(enabled_systems=frozenset({CC, GS}), repair_windows={Category.ADMIN_PENALTY: frozenset({CC})})
    result = plan(observed(CC, REPAIRED, **kw), record(PUBLISHED, **kw), {}, policy)
    assert result.outcome is Outcome.CHANGED
    assert [(d.system, d.state) for d in result.deliveries] == [(GS, REPAIRED)]


def test_idempotency_key_is_deterministic_and_distinguishes_state_and_version() -> None:
    a = plan(decision(Action.REPAIR), record(PUBLISHED), {}, POLICY).deliveries
    b = plan(decision(Action.REPAIR), record(PUBLISHED), {}, POLICY).deliveries
    assert [d.idempotency_key for d in a] == [d.idempotency_key for d in b]
    assert len({d.idempotency_key for d in a}) == 2


def test_a_queued_delivery_is_always_followed_by_the_newest_state() -> None:
    """The mirror was seen showing 'published', but a 'repaired' delivery is still queued: a
    revocation must be sent anyway, or the queued repair would win."""
    links = {GS: LinkState(system=GS, seen_target=PUBLISHED, seen_source_version="0001", queued=True)}
    result = plan(decision(Action.REVOKE_REPAIR), record(REPAIRED), links, POLICY)
    assert {d.system for d in result.deliveries} == {CC, GS}


def test_owner_report_keeps_facts_only_another_system_carries() -> None:
    published_on = penalty_facts().decision_date
    current = record(PUBLISHED)
    current = replace(current, facts=replace(current.facts, publication_date=published_on))
    result = plan(observed(CC, PUBLISHED, at_min=5), current, {}, POLICY)
    assert result.outcome is Outcome.UNCHANGED  # 信用中国 has no publication date: not a change


def test_mirror_fills_a_gap_in_the_facts_without_fanning_out() -> None:
    gsxt_view = replace(observed(GS), facts=replace(penalty_facts(), publication_date=penalty_facts().decision_date))
    result = plan(gsxt_view, record(PUBLISHED), {}, POLICY)
    assert result.outcome is Outcome.UNCHANGED and result.changed
    assert result.record is not None and result.record.facts.publication_date is not None
    assert [a.kind for a in result.audit] == ["facts_completed"] and result.deliveries == ()


def test_a_repair_window_never_targets_an_owner_that_takes_no_writes() -> None:
    kw = {"authority_name": "兰州市市场监督管理局", "domain": AuthorityDomain.MARKET_REGULATION}
    policy = Policy(
        enabled_systems=frozenset({CC, GS}),
        repair_windows={Category.ADMIN_PENALTY: frozenset({CC})},
        self_deciding_owners=frozenset({GS}),
    )
    result = plan(observed(CC, REPAIRED, **kw), record(PUBLISHED, **kw), {}, policy)
    assert result.outcome is Outcome.CHANGED and result.deliveries == ()


# ---- first sightings (issue 10 items 10 and 11) ----------------------------------------------


def test_a_record_first_seen_stopped_is_sent_to_no_system_that_never_reported_it() -> None:
    result = plan(observed(CC, REPAIRED), None, {}, POLICY)
    assert result.outcome is Outcome.CREATED and result.deliveries == ()


def test_a_record_first_seen_stopped_sets_back_a_mirror_that_reported_it_published() -> None:
    provisional = record(PUBLISHED, version=1, authoritative=False)
    links = {GS: LinkState(system=GS, seen_target=PUBLISHED, seen_source_version="0001")}
    result = plan(observed(CC, REPAIRED), provisional, links, POLICY)
    assert [(d.system, d.state) for d in result.deliveries] == [(GS, REPAIRED)]


def test_a_published_first_sighting_waits_for_an_unread_mirror() -> None:
    assert plan(observed(CC), None, {}, replace(POLICY, unread=frozenset({GS}))).deliveries == ()


def test_an_unread_mirror_is_owed_only_what_it_never_reported() -> None:
    from gateway.domain.plan import owed_after_first_read

    created = plan(observed(CC), None, {}, replace(POLICY, unread=frozenset({GS}))).record
    assert created is not None
    assert [d.system for d in owed_after_first_read(created, {}, GS, POLICY)] == [GS]
    seen = {GS: LinkState(system=GS, seen_target=PUBLISHED, seen_source_version="1")}
    assert owed_after_first_read(created, seen, GS, POLICY) == ()
    assert owed_after_first_read(replace(created, state=replace(created.state, target=REPAIRED)), {}, GS, POLICY) == ()


def test_a_stand_in_field_gives_way_whichever_side_was_read_first() -> None:
    """Owner first: the mirror's report completes the owner's facts (current.overlay(report));
    mirror first: the owner's report overlays the mirror's (report.overlay(current)). Both are the
    owner's facts overlaying the mirror's."""
    legacy = replace(
        penalty_facts(), violation="某公司未取得施工许可证擅自施工", content="罚款", stand_ins=frozenset({"violation"})
    )
    proper = replace(penalty_facts(), violation="未取得施工许可证擅自施工", content="另一内容")
    merged = legacy.overlay(proper)
    assert merged.violation == "未取得施工许可证擅自施工" and merged.stand_ins == frozenset()
    assert merged.content == "罚款"  # every other field: the owner's
    assert proper.overlay(legacy) == proper  # a stand-in never replaces the field itself


# ---- echoes are recognised by what we wrote (issue 9 causes 1 and 4; docs/adr/0011) --------------

FACTS_DIGEST = penalty_facts().fingerprint()


def sent(version: int, target: TargetState, *, acked: bool = True) -> SentWrite:
    return SentWrite(version=version, target=target, digest=FACTS_DIGEST, acked_at=T0 if acked else None)


def test_owner_echo_of_our_earlier_write_never_reverts_a_newer_decision() -> None:
    """Cause 1: REPAIRED (v2) was written to 信用中国 (the owner); revoke_repair (v3, decided before
    the write arrived) was accepted; 信用中国's feed then reports its echo of v2, stamped by its own
    clock after v3's decision time. An echo: no state change, no audit by 信用中国, no delivery."""
    current = replace(record(PUBLISHED, version=3), state=replace(record(PUBLISHED).state, version=3, decided_by="api"))
    links = {
        CC: LinkState(
            system=CC, written_version=2, written_target=REPAIRED, seen_target=PUBLISHED, writes=(sent(2, REPAIRED),)
        ),
        GS: LinkState(system=GS, written_version=2, written_target=REPAIRED, writes=(sent(2, REPAIRED),), queued=True),
    }
    result = plan(observed(CC, REPAIRED, at_min=60, version="0009"), current, links, POLICY)
    assert result.outcome is Outcome.ECHO
    assert not result.changed and result.deliveries == () and result.audit == ()
    assert result.seen is not None and result.seen.confirms == 2 and result.seen.target == REPAIRED


def test_an_owner_report_matching_none_of_our_writes_is_its_own_decision() -> None:
    current = record(PUBLISHED, version=3)
    links = {CC: LinkState(system=CC, seen_target=PUBLISHED, writes=(sent(2, PUBLISHED),))}
    result = plan(observed(CC, REPAIRED, at_min=60, version="0009"), current, links, POLICY)
    assert result.outcome is Outcome.CHANGED and result.audit[0].kind == "state_changed"
    assert result.audit[0].actor == CC
    assert [d.system for d in result.deliveries] == [GS]


def test_an_owner_echo_with_new_content_keeps_the_state_and_takes_the_content() -> None:
    current = record(PUBLISHED, version=3)
    links = {CC: LinkState(system=CC, seen_target=PUBLISHED, writes=(sent(2, REPAIRED),))}
    report = observed(CC, REPAIRED, version="0009")
    report = replace(report, facts=replace(report.facts, content="更正后的内容"))
    result = plan(report, current, links, POLICY)
    assert result.outcome is Outcome.CHANGED and result.record is not None
    assert result.record.state.target == PUBLISHED and result.record.facts.content == "更正后的内容"
    assert [a.kind for a in result.audit] == ["facts_changed"]


def test_mirror_echo_of_an_intermediate_write_is_no_divergence() -> None:
    """Cause 4: we wrote REPAIRED (v2), PUBLISHED (v3), REPAIRED (v4) to GSXT; its feed reports
    PUBLISHED after v4 was acknowledged. The clock-based rule remembered only v4 and called this a
    多头修复 with a set-back once the report was stamped later than the catch-up window."""
    current = record(REPAIRED, version=4)
    history = (sent(2, REPAIRED), sent(3, PUBLISHED), sent(4, REPAIRED))
    links = {GS: LinkState(system=GS, written_version=4, written_target=REPAIRED, written_at=T0, writes=history)}
    result = plan(observed(GS, PUBLISHED, at_min=60, version="0009"), current, links, POLICY)
    assert result.outcome is Outcome.ECHO
    assert result.deliveries == () and not any(a.kind == "mirror_divergence" for a in result.audit)
    assert result.seen is not None and result.seen.confirms == 3


def test_a_write_the_mirror_reported_passing_is_no_longer_an_echo() -> None:
    """Its feed reports in order: once it reported v3, a later report of v2's state is its own."""
    current = record(REPAIRED, version=4)
    history = (sent(3, PUBLISHED), sent(4, REPAIRED))
    links = {
        GS: LinkState(
            system=GS,
            written_version=4,
            written_target=REPAIRED,
            confirmed_version=4,
            seen_target=REPAIRED,
            writes=history,
        )
    }
    result = plan(observed(GS, PUBLISHED, version="0010"), current, links, POLICY)
    assert result.outcome is Outcome.SET_BACK and result.audit[-1].actor == GS


def test_a_write_sent_but_not_yet_acknowledged_is_recognised_too() -> None:
    """The system applied our write and its feed reported it before the acknowledgement was stored."""
    current = record(PUBLISHED, version=3)
    links = {GS: LinkState(system=GS, seen_target=PUBLISHED, writes=(sent(2, REPAIRED, acked=False),), queued=True)}
    result = plan(observed(GS, REPAIRED, version="0009"), current, links, POLICY)
    assert result.outcome is Outcome.ECHO and result.deliveries == ()


def test_a_mirror_repeating_the_state_it_reported_is_no_divergence() -> None:
    """GSXT showed PUBLISHED; a repair is on its way to it; its feed reports PUBLISHED again."""
    current = record(REPAIRED, version=3)
    links = {GS: LinkState(system=GS, seen_target=PUBLISHED, seen_source_version="0001", queued=True)}
    result = plan(observed(GS, PUBLISHED, version="0002"), current, links, POLICY)
    assert result.outcome is Outcome.STALE and result.deliveries == ()
    assert not any(a.kind == "mirror_divergence" for a in result.audit)


# ---- decisions are ordered by the systems' decision dates (issue 10 item 4) ----------------------


def test_first_sighting_is_dated_by_the_decision_date_not_the_feed_change_time() -> None:
    """A 2025 penalty whose 信用中国 row was touched in 2026: its state is dated 2025, so a repair
    decided before the touch is not refused as stale."""
    event = observed(CC, PUBLISHED)
    event = replace(
        event,
        facts=replace(event.facts, decision_date=date(2025, 3, 10)),
        changed_at=datetime(2026, 11, 20, 3, 0, tzinfo=UTC),
    )
    created = plan(event, None, {}, POLICY).record
    assert created is not None
    assert created.state.decided_at == start_of_beijing_day(date(2025, 3, 10))
    repair = Decision(
        record_id=created.record_id,
        action=Action.REPAIR,
        decided_at=datetime(2026, 10, 1, 2, 0, tzinfo=UTC),
        decided_by="兰州市生态环境局",
    )
    assert plan(repair, created, {}, POLICY).outcome is Outcome.CHANGED


def test_a_system_stop_is_dated_by_the_stop_day_it_gives() -> None:
    event = replace(observed(CC, REPAIRED, version="0009"), decided_on=date(2026, 6, 1))
    result = plan(event, record(PUBLISHED), {CC: LinkState(system=CC, seen_target=PUBLISHED)}, POLICY)
    assert result.record is not None
    assert result.record.state.decided_at == start_of_beijing_day(date(2026, 6, 1))


def test_a_decision_older_than_another_decision_is_still_refused() -> None:
    """The protection kept: decisions about one record apply in the order they were decided."""
    current = replace(record(REPAIRED), state=replace(record(REPAIRED).state, decided_at=T0 + timedelta(hours=2)))
    with pytest.raises(DecisionRefused) as refused:
        plan(decision(Action.REVOKE_REPAIR, at_min=60), current, {}, POLICY)
    assert refused.value.code == "stale_decision"
