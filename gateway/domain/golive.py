"""Go-live from full listings: what every system's listing of a record implies, planned in memory.

Pure, no I/O. At go-live every system already holds records; `creditgw golive` (the bulk form of
`reconcile --initial`, docs/adr/0024) lists them all, maps each row (the ordinary mappings and the
intake checks), groups the observations by record and hands each group here. The group is planned
with the ordinary rules (`plan.plan`), in the order a first sync reading the owner's feed first
would apply them, against an in-memory picture of the record and its links; then, as after a first
read of each feed (`plan.owed_after_first_read`), every listed mirror is owed what it lacks. The
result is the rows the ordinary path would write for that record — record, links, audit, deliveries,
inbox outcomes — for the caller to write in bulk.

A group the bulk rows cannot express returns None and goes through the ordinary `apply_event`
instead: a listing that changes the state after the first word (the same record twice in the
owner's listing with different states starts a repair, with its progress rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from gateway.domain.model import CanonicalRecord, LinkState
from gateway.domain.plan import (
    AuditEntry,
    Delivery,
    Observation,
    Outcome,
    Policy,
    SeenUpdate,
    owed_after_first_read,
    plan,
)


@dataclass(frozen=True, kw_only=True)
class Listed:
    """One listing row, mapped."""

    change_key: str
    observation: Observation


@dataclass(frozen=True, kw_only=True)
class RecordLoad:
    """Everything the first sync writes for one record."""

    record: CanonicalRecord
    seen: tuple[SeenUpdate, ...]  # per reporting system, its last report
    audit: tuple[AuditEntry, ...]
    deliveries: tuple[Delivery, ...]  # one per target at most: the real differences
    inbox: tuple[tuple[str, str, str], ...]  # (system, change_key, outcome)
    collected_at: datetime | None  # the owner's own time of its row (timeliness, gateway/quality)


# Outcomes whose rows are only record, links, audit, deliveries and inbox (apply_event starts a
# repair only for a CHANGED state).
_BULK_OUTCOMES = frozenset({Outcome.CREATED, Outcome.PROVISIONAL, Outcome.UNCHANGED, Outcome.SET_BACK, Outcome.STALE})


def apply_order(listed: Sequence[Listed]) -> list[Listed]:
    """The owner's rows first (as when its feed is read first), then the others by system; rows of
    one system in listing order."""
    indexed = list(enumerate(listed))
    indexed.sort(
        key=lambda item: (
            item[1].observation.source != str(item[1].observation.facts.owner),
            item[1].observation.source,
            item[0],
        )
    )
    return [row for _, row in indexed]


def plan_record(listed: Sequence[Listed], policy: Policy, *, listed_systems: frozenset[str]) -> RecordLoad | None:
    """The rows of one record's first sync from its listed rows (all naming one record id).

    `policy.unread` must name every system whose feed has not been read (at go-live all of them):
    the first word goes nowhere unknown. `listed_systems`: the systems whose full listing was read;
    each is afterwards owed the published records it mirrors and did not list."""
    current: CanonicalRecord | None = None
    links: dict[str, LinkState] = {}
    seen: dict[str, SeenUpdate] = {}
    audit: list[AuditEntry] = []
    deliveries: dict[str, Delivery] = {}
    inbox: list[tuple[str, str, str]] = []
    keys: set[tuple[str, str]] = set()
    collected_at: datetime | None = None
    for row in apply_order(listed):
        observation = row.observation
        if (observation.source, row.change_key) in keys:
            continue  # the same change listed twice: the inbox takes it once
        keys.add((observation.source, row.change_key))
        result = plan(observation, current, links, policy)
        if result.outcome not in _BULK_OUTCOMES:
            return None
        if result.record is not None:
            current = result.record
        if collected_at is None and observation.source == str(observation.facts.owner):
            collected_at = observation.changed_at
        if result.seen is not None:
            update = result.seen
            seen[update.system] = update
            link = links.get(update.system) or LinkState(system=update.system)
            links[update.system] = replace(
                link,
                native_id=update.native_id or link.native_id,
                seen_target=update.target,
                seen_source_version=update.source_version,
            )
        audit.extend(result.audit)
        for delivery in result.deliveries:
            deliveries[delivery.system] = delivery  # a newer one replaces the pending one (enqueue)
            links[delivery.system] = replace(
                links.get(delivery.system) or LinkState(system=delivery.system), queued=True
            )
        inbox.append((observation.source, row.change_key, result.outcome.value))
    if current is None:
        return None
    read = replace(policy, unread=policy.unread - listed_systems)
    for system in sorted(listed_systems):
        for delivery in owed_after_first_read(current, links, system, read):
            deliveries[delivery.system] = delivery
            links[delivery.system] = replace(
                links.get(delivery.system) or LinkState(system=delivery.system), queued=True
            )
    return RecordLoad(
        record=current,
        seen=tuple(seen.values()),
        audit=tuple(audit),
        deliveries=tuple(deliveries[s] for s in sorted(deliveries)),
        inbox=tuple(inbox),
        collected_at=collected_at,
    )
