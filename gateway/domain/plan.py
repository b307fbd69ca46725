"""plan(event, current) → new state and deliveries. Pure: no I/O, no clock.

The rules (DESIGN.md §4):
- a change from the record's owner (or an owner's decision through the API) moves the canonical
  state and fans out to every mirror not already known to show it; the owner's first word about a
  record goes only to mirrors known to need it (never a stop to a system that never held the record,
  nothing before a mirror's own feed was read: docs/adr/0015-quarantine-and-first-sync.md);
- an action must fit the record's category (a penalty is repaired, a list entry removed);
- a change seen only in a mirror is a divergence: audited, and the mirror is set back, unless the
  mirror is configured as a repair window for that category;
- a system reporting one of our own writes is an echo: it moves what we know the system shows,
  never the canonical state (docs/adr/0011-echoes-are-recognised-by-what-we-wrote.md);
- a system reporting the state it reported before has decided nothing new;
- per source, a report older than one already seen is stale and ignored; a decision older than
  the current state's (by the systems' decision dates, never a feed's change time) is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from gateway.domain.beijing import start_of_beijing_day
from gateway.domain.categories import Category, System
from gateway.domain.model import (
    PUBLISHED,
    CanonicalRecord,
    LinkState,
    Publicity,
    PublicityState,
    RecordFacts,
    SentWrite,
    StopReason,
    TargetState,
    state_fits,
    stopped,
)
from gateway.domain.rules import withheld_reason
from gateway.domain.sla import SyncSla


class Action(StrEnum):
    """What an owner's decision does to publicity."""

    REPAIR = "repair"  # 信用修复: stop publishing
    REVOKE_REPAIR = "revoke_repair"  # a repair decision was itself revoked: publish again
    WITHDRAW = "withdraw"  # the underlying decision was revoked (撤销)
    REMOVE = "remove"  # removed from a list
    EXPIRE = "expire"  # maximum period reached


_ACTION_RESULT: dict[Action, TargetState] = {
    Action.REPAIR: stopped(StopReason.REPAIRED),
    Action.REVOKE_REPAIR: PUBLISHED,
    Action.WITHDRAW: stopped(StopReason.WITHDRAWN),
    Action.REMOVE: stopped(StopReason.REMOVED),
    Action.EXPIRE: stopped(StopReason.EXPIRED),
}

# From which states an action may start (anything else is refused, except the no-op repeat).
_ACTION_FROM: dict[Action, frozenset[TargetState]] = {
    Action.REPAIR: frozenset({PUBLISHED}),
    Action.REVOKE_REPAIR: frozenset({stopped(StopReason.REPAIRED)}),
    Action.WITHDRAW: frozenset({PUBLISHED, stopped(StopReason.REPAIRED), stopped(StopReason.EXPIRED)}),
    Action.REMOVE: frozenset({PUBLISHED}),
    Action.EXPIRE: frozenset({PUBLISHED}),
}


def action_result(action: Action) -> TargetState:
    return _ACTION_RESULT[action]


def action_fits(category: Category, action: Action) -> bool:
    """Whether `action` applies to a record of `category` (model.STOP_REASONS_BY_CATEGORY): a
    repair's revocation fits where a repair does."""
    wanted = action_result(Action.REPAIR if action is Action.REVOKE_REPAIR else action)
    return state_fits(category, wanted)


def actions_for(category: Category) -> tuple[Action, ...]:
    return tuple(action for action in Action if action_fits(category, action))


@dataclass(frozen=True, kw_only=True)
class Observation:
    """A system's change feed reported a record with this content and state."""

    source: str
    facts: RecordFacts
    target: TargetState
    changed_at: datetime
    source_version: str  # sortable within the source's feed (e.g. SJC, zero-padded seq)
    native_id: str | None = None
    # 经营异常名录: the 移出原因 code of a removal, checked against the 列入原因 (gateway.domain.intake).
    removal_reason: str | None = None
    # The day the system says a stopped state was decided (终止日期 / stopDate / remDate), if given.
    decided_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class Decision:
    """An owner's decision, submitted through the API."""

    record_id: str
    action: Action
    decided_at: datetime
    decided_by: str
    note: str | None = None
    stopped_on: date | None = None  # a stop's own date when it is not the decision's day (expiry)


Event = Observation | Decision


class Outcome(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    UNCHANGED = "unchanged"  # in sync already, or a repeat
    ECHO = "echo"  # a mirror reported what we wrote
    STALE = "stale"  # older than something already seen
    SET_BACK = "set_back"  # mirror diverged from the owner; corrected
    PROVISIONAL = "provisional"  # only a mirror knows the record so far


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """Set `target` system's copy of the record to `state` at `version`."""

    record_id: str
    system: str
    state: TargetState
    version: int
    decided_at: datetime  # when the state was decided (systems stamp it as their 终止日期 / stopDate)

    @property
    def idempotency_key(self) -> str:
        """Deterministic: the same delivery re-enqueued or replayed carries the same key."""
        raw = f"{self.record_id}|{self.system}|{self.state.label}|{self.version}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    kind: str  # e.g. state_changed, mirror_divergence, stale_ignored, echo_ignored
    actor: str
    before: TargetState | None = None
    before_version: int | None = None
    after: TargetState | None = None
    after_version: int | None = None
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SeenUpdate:
    """Link bookkeeping for the reporting system."""

    system: str
    native_id: str | None
    target: TargetState
    source_version: str
    confirms: int | None = None  # the report is the echo of our write of this version


@dataclass(frozen=True, kw_only=True)
class Plan:
    outcome: Outcome
    record: CanonicalRecord | None  # the record to store (None: nothing to store)
    changed: bool  # record row must be written
    deliveries: tuple[Delivery, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    seen: SeenUpdate | None = None


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Configuration the rules read. Repair windows: systems allowed to act for the owner of a
    category (DESIGN.md §4; e.g. 信用中国 as the single intake window under Order 36)."""

    repair_windows: Mapping[Category, frozenset[str]] = field(default_factory=dict)
    enabled_systems: frozenset[str] | None = None  # None: every mirror in the ownership table
    # Owners whose records can only be decided inside their own system (GSXT takes no writes to
    # its own penalties or lists): a decision about them through the API is refused, except expiry,
    # which the law decides (docs/adr/0007-expiry-by-the-owners-rules.md); no decision is ever
    # delivered to them: they stop their own records, and their feed then reports it.
    self_deciding_owners: frozenset[str] = frozenset()
    # Systems that take no writes at all (`SystemAdapter.takes_writes` False: the list authorities,
    # which decide and publish in their own systems, 谁认定、谁修复): never the target of any
    # delivery, and a decision about a record they own is refused outright, expiry included: they
    # signal their removals and expiries in their own feeds (docs/adr/0028).
    read_only: frozenset[str] = frozenset()
    # The sync deadline given to every repair's targets (None: no deadlines are recorded).
    sla: SyncSla | None = None
    # Systems whose change feed the gateway has not yet read through once (go-live): what they
    # hold is unknown, so a record seen first elsewhere is not pushed to them before their feed
    # says whether they hold it already (`owed_after_first_read` then sends what they lack).
    unread: frozenset[str] = frozenset()

    def may_decide(self, system: str, facts: RecordFacts) -> bool:
        return system == facts.owner or system in self.repair_windows.get(facts.category, frozenset())

    def decision_targets(self, facts: RecordFacts) -> tuple[str, ...]:
        """Who receives a decision: every publisher, except an owner that decides only in itself
        and any system that takes no writes."""
        owner = str(facts.owner)
        skip = owner if owner in self.self_deciding_owners else None
        return tuple(s for s in self.publishers(facts) if s != skip and s not in self.read_only)

    def mirrors(self, facts: RecordFacts) -> tuple[str, ...]:
        return tuple(s for s in self._enabled(tuple(str(m) for m in facts.mirrors)) if s not in self.read_only)

    def takes_writes(self, system: str) -> bool:
        return system not in self.read_only

    def publishers(self, facts: RecordFacts) -> tuple[str, ...]:
        """Every system that shows the record: its owner first, then the mirrors."""
        return self._enabled((str(facts.owner), *(str(m) for m in facts.mirrors)))

    def _enabled(self, systems: tuple[str, ...]) -> tuple[str, ...]:
        if self.enabled_systems is None:
            return systems
        return tuple(s for s in systems if s in self.enabled_systems)


class DecisionRefused(Exception):
    """The decision cannot apply to the record as it stands; nothing changes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def plan(
    event: Event,
    current: CanonicalRecord | None,
    links: Mapping[str, LinkState],
    policy: Policy,
) -> Plan:
    if isinstance(event, Decision):
        return _plan_decision(event, current, links, policy)
    return _plan_observation(event, current, links, policy)


def _fan_out(
    record: CanonicalRecord,
    links: Mapping[str, LinkState],
    systems: tuple[str, ...],
    *,
    skip: str | None = None,
) -> tuple[Delivery, ...]:
    """Deliveries to each of `systems` not known to show the record's state already, and never a
    publication to a system whose rules do not publish the record (`withheld`)."""
    out = []
    for system in systems:
        if system == skip:
            continue
        if _withheld(record, system):
            continue
        link = links.get(system)
        if link is not None and _shows(link, record.state.target, record.state.version):
            continue
        out.append(
            Delivery(
                record_id=record.record_id,
                system=system,
                state=record.state.target,
                version=record.state.version,
                decided_at=record.state.decided_at,
            )
        )
    return tuple(out)


_SYSTEMS = frozenset(s.value for s in System)


def _withheld(record: CanonicalRecord, system: str) -> bool:
    """The record is published, and `system`'s or its owner's rules do not publish it at all (警告
    only; Order 36 轻微 by default; domain.md §8.6): the gateway never writes it there as published."""
    if record.state.target != PUBLISHED or system not in _SYSTEMS:
        return False
    # The owner's rules govern everywhere (谁认定): what its rules do not publish, no mirror shows.
    return any(withheld_reason(record.facts, s) is not None for s in dict.fromkeys((record.facts.owner.value, system)))


def withhold_copy(
    record: CanonicalRecord, links: Mapping[str, LinkState], system: str, *, actor: str, reason: str, on: date
) -> Plan | None:
    """Stop `system`'s published copy of a record its rules do not publish while its owner still
    shows it (e.g. a 警告-only penalty on GSXT that 信用中国 publishes as 一般 under Order 36): the
    same state at a new version, and one stop (公示期满, dated `on`) to that system only. None when
    the system does not withhold it, is not known to show it, or a delivery to it is queued.
    (docs/adr/0014-what-the-rules-do-not-publish.md)"""
    link = links.get(system)
    if link is None or link.queued or not _withheld(record, system):
        return None
    shown = link.written_target if link.written_version is not None else link.seen_target
    if shown != PUBLISHED:
        return None
    version = record.state.version + 1
    stop = stopped(StopReason.EXPIRED, on)
    audit = AuditEntry(
        kind="withheld_stopped",
        actor=actor,
        before=PUBLISHED,
        after=stop,
        after_version=version,
        detail={"system": system, "reason": reason},
    )
    delivery = Delivery(
        record_id=record.record_id, system=system, state=stop, version=version, decided_at=record.state.decided_at
    )
    new = replace(record, state=replace(record.state, version=version))
    return Plan(outcome=Outcome.CHANGED, record=new, changed=True, deliveries=(delivery,), audit=(audit,))


def _first_fan_out(
    record: CanonicalRecord,
    links: Mapping[str, LinkState],
    systems: tuple[str, ...],
    policy: Policy,
    *,
    skip: str,
) -> tuple[Delivery, ...]:
    """Deliveries when the owner speaks about a record for the first time (go-live, or a record new
    to the gateway). A system that has not reported the record is written only when that is known
    to change something:
    - a stopped record is sent to none of them: a system that never held it needs no stop (信用中国
      answers `04 平台无此记录`), and one that does hold it reports it and is then set back;
    - a published record is not sent to a system whose feed is still unread: it may hold the record
      already, and a write before its feed is read could overwrite its content with poorer values
      (`owed_after_first_read` sends what it lacks once its feed has been read)."""
    unknown_ok = record.state.target == PUBLISHED
    told = tuple(
        system for system in systems if _reported(links.get(system)) or (unknown_ok and system not in policy.unread)
    )
    return _fan_out(record, links, told, skip=skip)


def _reported(link: LinkState | None) -> bool:
    """Whether the gateway knows anything of this system's copy (seen, written, or on its way)."""
    return link is not None and (link.seen_target is not None or link.written_target is not None or link.queued)


def owed_after_first_read(
    record: CanonicalRecord, links: Mapping[str, LinkState], system: str, policy: Policy
) -> tuple[Delivery, ...]:
    """What `system` must still receive of `record` once its feed has been read through for the
    first time: a published record it mirrors and never reported (it does not hold it). A record
    it reported was planned with that report (unchanged, or set back)."""
    if not record.state.authoritative or record.state.target != PUBLISHED:
        return ()
    if system not in policy.mirrors(record.facts):
        return ()
    if _reported(links.get(system)):
        return ()
    return _fan_out(record, links, (system,))


def _shows(link: LinkState, target: TargetState, version: int) -> bool:
    if link.queued:
        # A queued delivery will overwrite whatever the system shows now: send the newest state
        # behind it (it replaces the pending row in place) rather than trust the old picture.
        return False
    if link.written_version is not None and link.written_version >= version:
        return link.written_target == target
    return link.seen_target == target and link.written_version is None


def _told_by(source: str, record: CanonicalRecord, policy: Policy) -> tuple[str, ...]:
    """Who must hear a change a system made itself: the mirrors when the owner made it; the owner
    too when a repair window acted for it."""
    if source == record.facts.owner:
        return policy.mirrors(record.facts)
    return policy.decision_targets(record.facts)  # never an owner that takes no writes


# How long after a write acknowledged by a system its feed may take to report it (poll interval and
# feed lag). Longer than this, a system still showing something else is a mismatch that detection
# reports (Repo.target_mismatches, creditgw_target_mismatch_records); echoes are recognised by
# what we wrote, never by this window (docs/adr/0011).
FEED_CATCH_UP = timedelta(minutes=5)


def _echo_of(link: LinkState | None, event: Observation, digest: Callable[[], str]) -> SentWrite | None:
    """The write of ours this report is the echo of, if any (None: the system's own change).
    Its feed reports in order, so once it reported our write vN no older write can echo any more:
    the candidates are the writes newer than vN showing the reported state, oldest first (its
    feed may skip writes, never go back), preferring one of the same content; else vN itself
    (the same report read again)."""
    if link is None:
        return None
    writes = list(link.writes)
    last, shows = link.written_version, link.written_target
    if last is not None and shows is not None and all(w.version != last for w in writes):
        # Our last acknowledged write, once reported (its row is gone) or from before the history.
        writes.append(SentWrite(version=last, target=shows, digest=None))
    floor = link.confirmed_version or 0
    shown = sorted((w for w in writes if w.version >= floor and w.target == event.target), key=lambda w: w.version)
    newer = [w for w in shown if w.version > floor]
    if len(newer) > 1:  # the content decides between them (computed only then: a digest costs)
        content = digest()
        newer = [w for w in newer if w.digest in (None, content)] or newer
    chosen = newer or shown
    return chosen[0] if chosen else None


def _repeats_itself(link: LinkState | None, event: Observation) -> bool:
    """The system reports the state it reported last: a re-read or a change of content only; it
    decided nothing about publicity (what it shows is not yet what was decided since)."""
    return link is not None and link.seen_target == event.target


def system_decided_at(event: Observation) -> datetime:
    """When the system says the reported state was decided, to order decisions by: the stop or
    removal day it gives for a stopped record, the decision (listing) day for a published one. The
    feed's change time only when it gives no day at all (issue 10 item 4)."""
    if event.target.status is Publicity.STOPPED:
        day = event.decided_on
    else:
        day = event.facts.decision_date or event.facts.publication_date
    return start_of_beijing_day(day) if day is not None else event.changed_at


def _plan_decision(
    event: Decision, current: CanonicalRecord | None, links: Mapping[str, LinkState], policy: Policy
) -> Plan:
    if current is None:
        raise DecisionRefused("record_not_found", f"no record {event.record_id}")
    category = current.facts.category
    if not action_fits(category, event.action):
        allowed = ", ".join(a.value for a in actions_for(category))
        raise DecisionRefused(
            "action_not_for_category", f"{event.action.value} does not apply to {category.value} records ({allowed})"
        )
    owner = str(current.facts.owner)
    if owner in policy.read_only:
        raise DecisionRefused(
            "owner_decides_in_its_own_system",
            f"{category.value} records are decided by their owner {owner}, which takes no writes: that"
            " authority records the removal in its own system and the gateway mirrors it from its feed",
        )
    if owner in policy.self_deciding_owners and event.action is not Action.EXPIRE:
        raise DecisionRefused(
            "decided_in_owner_system",
            f"{current.facts.category.value} records of this authority are repaired in {owner} itself"
            " (谁决定、谁修复); the gateway propagates that system's result",
        )
    wanted = action_result(event.action)
    state = current.state
    if state.target == wanted:
        return Plan(outcome=Outcome.UNCHANGED, record=current, changed=False)
    if event.decided_at < state.decided_at:
        raise DecisionRefused(
            "stale_decision",
            f"decision of {event.decided_at.isoformat()} is older than the record's current state "
            f"({state.decided_at.isoformat()})",
        )
    if state.target not in _ACTION_FROM[event.action]:
        raise DecisionRefused(
            "invalid_transition", f"cannot {event.action.value} a record that is {state.target.label}"
        )
    target = replace(wanted, on=event.stopped_on) if wanted.reason is not None and event.stopped_on else wanted
    new = replace(
        current,
        state=PublicityState(
            target=target, version=state.version + 1, decided_by=event.decided_by, decided_at=event.decided_at
        ),
    )
    audit = AuditEntry(
        kind="state_changed",
        actor=event.decided_by,
        before=state.target,
        before_version=state.version,
        after=wanted,
        after_version=state.version + 1,
        detail={"action": event.action.value, **({"note": event.note} if event.note else {})},
    )
    return Plan(
        outcome=Outcome.CHANGED,
        record=new,
        changed=True,
        deliveries=_fan_out(new, links, policy.decision_targets(new.facts)),
        audit=(audit,),
    )


def _plan_observation(
    event: Observation, current: CanonicalRecord | None, links: Mapping[str, LinkState], policy: Policy
) -> Plan:
    seen = SeenUpdate(
        system=event.source,
        native_id=event.native_id,
        target=event.target,
        source_version=event.source_version,
    )
    link = links.get(event.source)
    if link is not None and link.seen_source_version is not None and (event.source_version < link.seen_source_version):
        stale = AuditEntry(
            kind="stale_ignored",
            actor=event.source,
            after=event.target,
            detail={"source_version": event.source_version, "seen": link.seen_source_version},
        )
        return Plan(outcome=Outcome.STALE, record=current, changed=False, audit=(stale,))

    owner_speaks = policy.may_decide(event.source, event.facts)
    if current is None:
        return _first_sighting(event, owner_speaks, links, policy, seen)
    echo = _echo_of(link, event, lambda: event.facts.overlay(current.facts).fingerprint())
    if echo is not None and link is not None and echo.version > (link.confirmed_version or 0):
        seen = replace(seen, confirms=echo.version)  # the feed moved on: older writes can go
    if owner_speaks:
        return _owner_change(event, current, links, policy, seen, echo=echo is not None)
    return _mirror_report(event, current, link, policy, seen, echo=echo is not None)


def _first_sighting(
    event: Observation, owner_speaks: bool, links: Mapping[str, LinkState], policy: Policy, seen: SeenUpdate
) -> Plan:
    record = CanonicalRecord(
        record_id=event.facts.record_id,
        facts=event.facts,
        state=PublicityState(
            target=event.target,
            version=1,
            decided_by=event.source,
            decided_at=system_decided_at(event),
            authoritative=owner_speaks,
        ),
    )
    audit = AuditEntry(kind="record_created", actor=event.source, after=event.target, after_version=1)
    if not owner_speaks:
        # Only a mirror knows it: keep it, fan out nothing until the owner speaks.
        return Plan(outcome=Outcome.PROVISIONAL, record=record, changed=True, audit=(audit,), seen=seen)
    return Plan(
        outcome=Outcome.CREATED,
        record=record,
        changed=True,
        deliveries=_first_fan_out(record, links, _told_by(event.source, record, policy), policy, skip=event.source),
        audit=(audit,),
        seen=seen,
    )


def _owner_change(
    event: Observation,
    current: CanonicalRecord,
    links: Mapping[str, LinkState],
    policy: Policy,
    seen: SeenUpdate,
    *,
    echo: bool,
) -> Plan:
    state = current.state
    facts = event.facts.overlay(current.facts)  # the owner's content, gaps kept from what others know
    # Equal fields are equal content; only unequal ones need the digest (a re-read is mostly equal).
    same_facts = facts == current.facts or current.facts.fingerprint() == facts.fingerprint()
    target = event.target
    if state.authoritative and target != state.target and (echo or _repeats_itself(links.get(event.source), event)):
        # Not a decision of the owner: the echo of one of our earlier writes, or the state it showed
        # before a newer decision (accepted through the API) reached it. That decision is on its
        # way to the owner; the report must not undo it (issue 9, cause 1). Its content still counts.
        if same_facts:
            if echo:
                return Plan(outcome=Outcome.ECHO, record=current, changed=False, seen=seen)
            behind = AuditEntry(
                kind="stale_ignored",
                actor=event.source,
                before=state.target,
                after=event.target,
                detail={"reason": "still shows the state it reported before", "source_version": event.source_version},
            )
            return Plan(outcome=Outcome.STALE, record=current, changed=False, audit=(behind,), seen=seen)
        target = state.target
    same_state = state.target == target
    if same_state and same_facts and state.authoritative:
        return Plan(outcome=Outcome.UNCHANGED, record=current, changed=False, seen=seen)
    version = state.version + 1
    kept = same_state and state.authoritative  # new content only: the state keeps who decided it, and when
    new = CanonicalRecord(
        record_id=current.record_id,
        facts=facts,
        state=PublicityState(
            target=target,
            version=version,
            decided_by=state.decided_by if kept else event.source,
            decided_at=state.decided_at if kept else system_decided_at(event),
        ),
    )
    audit = AuditEntry(
        kind="state_changed" if not same_state else "facts_changed",
        actor=event.source,
        before=state.target,
        before_version=state.version,
        after=target,
        after_version=version,
    )
    # The owner already shows the new state: record that as written so we never push it back.
    owner_links = dict(links)
    if target == event.target:
        owner_links[event.source] = LinkState(system=event.source, written_version=version, written_target=target)
    told = _told_by(event.source, new, policy)
    if state.authoritative:
        deliveries = _fan_out(new, owner_links, told, skip=event.source)
    else:  # until now only mirrors had reported the record: the owner speaks for the first time
        deliveries = _first_fan_out(new, owner_links, told, policy, skip=event.source)
    return Plan(
        outcome=Outcome.CHANGED,
        record=new,
        changed=True,
        deliveries=deliveries,
        audit=(audit,),
        seen=seen,
    )


def _mirror_report(
    event: Observation,
    current: CanonicalRecord,
    link: LinkState | None,
    policy: Policy,
    seen: SeenUpdate,
    *,
    echo: bool,
) -> Plan:
    state = current.state
    # The mirror may know what the owner's system does not carry (GSXT's publication date):
    # keep it, without telling anybody. It never overwrites what the owner said.
    completed = current.facts.overlay(event.facts)
    notes: tuple[AuditEntry, ...] = ()
    if completed != current.facts:
        current = replace(current, facts=completed)
        notes = (AuditEntry(kind="facts_completed", actor=event.source),)
    if event.target == state.target:
        return Plan(outcome=Outcome.UNCHANGED, record=current, changed=bool(notes), audit=notes, seen=seen)
    if echo:
        # What we wrote earlier, reported back after a newer write (issue 9, cause 4): its feed is
        # catching up; the newer delivery is queued or done. No divergence, no set-back.
        return Plan(outcome=Outcome.ECHO, record=current, changed=bool(notes), audit=notes, seen=seen)
    if _repeats_itself(link, event):
        # The state it reported before (a re-read, or content only): a newer write is on its way
        # to it, or was set back already; it did nothing new.
        behind = AuditEntry(
            kind="stale_ignored",
            actor=event.source,
            after=event.target,
            detail={"reason": "still shows the state it reported before", "source_version": event.source_version},
        )
        return Plan(outcome=Outcome.STALE, record=current, changed=bool(notes), audit=(*notes, behind), seen=seen)
    if _withheld(current, event.source):
        # The mirror does not show what its rules do not publish: right, and never set back.
        return Plan(outcome=Outcome.UNCHANGED, record=current, changed=bool(notes), audit=notes, seen=seen)
    if not state.authoritative:
        # Two mirrors disagree and the owner has not spoken: nothing to enforce yet.
        divergence = AuditEntry(kind="unowned_divergence", actor=event.source, before=state.target, after=event.target)
        return Plan(
            outcome=Outcome.PROVISIONAL, record=current, changed=bool(notes), audit=(*notes, divergence), seen=seen
        )
    if not policy.takes_writes(event.source):
        # A system the gateway cannot write shows another state: audited, never written to.
        divergence = AuditEntry(
            kind="mirror_divergence",
            actor=event.source,
            before=event.target,
            after=state.target,
            detail={"owner": str(current.facts.owner), "takes_writes": "false"},
        )
        return Plan(outcome=Outcome.UNCHANGED, record=current, changed=True, audit=(*notes, divergence), seen=seen)
    # 多头修复: the mirror changed a record it does not own. Audit and set it back; a new version
    # gives the correction its own idempotency key (the mirror may remember the old one).
    version = state.version + 1
    new = replace(current, state=replace(state, version=version))
    audit = AuditEntry(
        kind="mirror_divergence",
        actor=event.source,
        before=event.target,
        after=state.target,
        after_version=version,
        detail={"owner": str(current.facts.owner), "source_version": event.source_version},
    )
    delivery = Delivery(
        record_id=current.record_id,
        system=event.source,
        state=state.target,
        version=version,
        decided_at=state.decided_at,
    )
    return Plan(
        outcome=Outcome.SET_BACK,
        record=new,
        changed=True,
        deliveries=(delivery,),
        audit=(*notes, audit),
        seen=seen,
    )


__all__ = [
    "Action",
    "AuditEntry",
    "Decision",
    "DecisionRefused",
    "Delivery",
    "Event",
    "Observation",
    "Outcome",
    "Plan",
    "Policy",
    "Publicity",
    "SeenUpdate",
    "action_fits",
    "actions_for",
    "owed_after_first_read",
    "plan",
    "withhold_copy",
]
