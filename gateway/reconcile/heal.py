"""What a reconciliation does about each finding (docs/adr/0022), per kind:

- the owner's listing is the truth: where the gateway's canonical state or content differs from
  the owner's row (a feed missed it), the owner's row is ingested as the owner's observation through
  the feed's own path (`apply_event`: inbox, plan, fan-out), never written back to the owner;
- a mirror missing the record, showing another state, or other carried fields gets the canonical
  state re-delivered through the outbox, at a new version (ADR 0004: the mirror may remember the
  old idempotency key), under the record's lock (ADR 0012) — unless a delivery is queued already;
- what the gateway cannot decide — a record only the mirror has, one identity twice in a system,
  a stop in a mirror that is a repair window for the category — is reported and, in a heal run,
  put in the quarantine with the reason, for a human to act on.

A check run only reports (action `none`); a dry run works out the same actions without writing
anything (`would_heal`), reading under the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from gateway.domain.model import Publicity, mirrored_values
from gateway.domain.plan import AuditEntry, Delivery, Observation, Plan, Policy
from gateway.domain.plan import Outcome as PlanOutcome
from gateway.domain.reconcile import Finding, FindingKind, Side
from gateway.domain.rules import withheld_reason
from gateway.quarantine import Problem, change_of, examine, quarantine
from gateway.reconcile.pairs import Pair
from gateway.store import reconciliations as rs
from gateway.store.database import Tx
from gateway.store.repo import Repo
from gateway.sync.connectors import SPECS, Connector
from gateway.sync.ingest import apply_event
from gateway.sync.plan_writer import PlanWriter

Action = rs.FindingAction


@dataclass(frozen=True, kw_only=True)
class RowView:
    """A listed row of one side at a finding's key (the first, when duplicated)."""

    record_id: str
    values: dict[str, Any]
    raw: str  # the native change as quarantine keeps it (masked)
    count: int


@dataclass(frozen=True, kw_only=True)
class Outcome:
    action: rs.FindingAction
    reason: str | None = None
    heals: int = 0
    record_id: str | None = None


class Healer:
    def __init__(
        self, *, mode: rs.RunMode, policy: Policy, connectors: Mapping[str, Connector], pair: Pair, run_id: str
    ) -> None:
        self.mode = mode
        self.policy = policy
        self.connectors = connectors
        self.pair = pair
        self.run_id = run_id

    @property
    def writes(self) -> bool:
        return self.mode is rs.RunMode.HEAL

    def handle(
        self, tx: Tx, finding: Finding, owner: RowView | None, mirror: RowView | None, *, now: datetime
    ) -> Outcome:
        row = owner or mirror
        record_id = row.record_id if row is not None else None
        known = record_id is not None and Repo(tx).load_record(record_id) is not None
        outcome = self._decide(tx, finding, owner, mirror, now=now)
        # The record id is kept only where the gateway holds the record (a link to its page).
        if outcome.record_id is None and known:
            outcome = replace(outcome, record_id=record_id)
        return outcome

    def _decide(
        self, tx: Tx, finding: Finding, owner: RowView | None, mirror: RowView | None, *, now: datetime
    ) -> Outcome:
        kind = finding.kind
        if self.mode is rs.RunMode.CHECK:
            return Outcome(action=Action.NONE)
        if kind is FindingKind.DUPLICATE:
            side_row = owner if finding.side is Side.OWNER else mirror
            system = self.pair.owner if finding.side is Side.OWNER else self.pair.mirror
            reason = f"{system} lists this identity {finding.count} times: a human must merge or delete the extra rows"
            return self._to_quarantine(tx, "reconcile_duplicate", system, side_row, finding, reason, now)
        if kind is FindingKind.EXTRA_IN_MIRROR:
            reason = (
                f"{self.pair.mirror} publishes a record its owner {self.pair.owner} does not list: the owner must"
                " confirm it or the mirror remove it"
            )
            return self._to_quarantine(tx, "reconcile_extra_in_mirror", self.pair.mirror, mirror, finding, reason, now)
        if kind is FindingKind.FOREIGN_STOP:
            windows = self.policy.repair_windows.get(self.pair.category, frozenset())
            if finding.side is Side.OWNER or finding.stopped_by in windows:
                reason = (
                    f"stopped by {finding.stopped_by}, a repair window for {self.pair.category.value}: the owner"
                    f" {self.pair.owner} must decide"
                )
                system = self.pair.owner if finding.side is Side.OWNER else self.pair.mirror
                row = owner if finding.side is Side.OWNER else mirror
                return self._to_quarantine(tx, "reconcile_foreign_stop", system, row, finding, reason, now)
            # 多头修复 in a mirror: set back to the owner's state, like the feed does (plan._mirror_report).
        return self._owner_truth(tx, owner, now=now)

    # ---- the owner's row is the truth ------------------------------------------------------------

    def _owner_truth(self, tx: Tx, owner: RowView | None, *, now: datetime) -> Outcome:
        if owner is None:
            return Outcome(action=Action.NOT_HEALABLE, reason="the owner lists no row to take the state from")
        mirror = self.pair.mirror
        spec = SPECS.get(mirror)
        if spec is None or not spec.takes_writes or mirror not in self.connectors:
            return Outcome(action=Action.NOT_HEALABLE, reason=f"{mirror} takes no writes from the gateway")
        observation = self._observation(owner)
        if isinstance(observation, str):
            return Outcome(action=Action.NOT_HEALABLE, reason=observation)
        repo = Repo(tx)
        record_id = observation.facts.record_id
        current = repo.load_record(record_id)
        stale = (
            current is None
            or current.state.target != observation.target
            # The owner's values, its gaps filled from what the gateway knows, against the gateway's.
            or mirrored_values(current.facts) != mirrored_values(observation.facts.overlay(current.facts))
            or not current.state.authoritative
        )
        heals = 0
        steps: list[str] = []
        if stale:
            steps.append(f"ingest {self.pair.owner}'s row (the gateway's state differs from its owner's listing)")
            if self.writes:
                change = change_of(owner.raw)
                apply_event(
                    tx,
                    observation,
                    source=self.pair.owner,
                    change_key=f"reconcile:{change.change_key}",
                    policy=self.policy,
                    now=now,
                )
                heals += 1
                current = repo.load_record(record_id)
        if current is None or not current.state.authoritative:
            if not self.writes and stale:
                steps.append(f"then deliver the owner's state to {mirror}")
                return Outcome(action=Action.WOULD_HEAL, reason="; ".join(steps))
            return Outcome(action=Action.NOT_HEALABLE, reason="the gateway holds no owner's state for the record")
        if withheld_reason(current.facts, mirror) is not None and current.state.target.status is Publicity.PUBLISHED:
            return Outcome(
                action=Action.NONE,
                reason=f"{mirror}'s rules do not publish the record (docs/adr/0014): the sweep stops its copy",
                record_id=record_id,
            )
        writer = PlanWriter(tx)
        writer.read([record_id])  # locked first (ADR 0012), then its links and queue
        link = writer.links(record_id).get(mirror)
        if link is not None and link.queued:
            steps.append(f"a delivery to {mirror} is queued already")
            return self._done(steps, heals, record_id)
        steps.append(f"deliver the canonical state ({current.state.target.label}) to {mirror} at a new version")
        if self.writes:
            version = current.state.version + 1
            bumped = replace(current, state=replace(current.state, version=version))
            delivery = Delivery(
                record_id=record_id,
                system=mirror,
                state=current.state.target,
                version=version,
                decided_at=current.state.decided_at,
            )
            audit = AuditEntry(
                kind="reconcile_redelivery",
                actor="reconcile",
                after=current.state.target,
                after_version=version,
                detail={"system": mirror, "run_id": self.run_id},
            )
            # The same state at a new version, through the one plan writer: no repair starts.
            result = Plan(
                outcome=PlanOutcome.CHANGED, record=bumped, changed=True, deliveries=(delivery,), audit=(audit,)
            )
            writer.add(None, result, source="reconcile", policy=None, now=now)
            writer.flush()
            heals += 1
        return self._done(steps, heals, record_id)

    def _done(self, steps: list[str], heals: int, record_id: str) -> Outcome:
        action = Action.HEAL_QUEUED if self.writes else Action.WOULD_HEAL
        return Outcome(action=action, reason="; ".join(steps), heals=heals, record_id=record_id)

    def _observation(self, owner: RowView) -> Observation | str:
        change = change_of(owner.raw)
        found = examine(self.connectors[self.pair.owner].mapping, change)
        if found is None:
            return "the owner's row is not one the gateway tracks"
        if isinstance(found, Problem):
            return f"the owner's row cannot be read: {found.message}"
        return found

    def _to_quarantine(
        self,
        tx: Tx,
        reason_code: str,
        system: str,
        row: RowView | None,
        finding: Finding,
        reason: str,
        now: datetime,
    ) -> Outcome:
        if row is None or not self.writes:
            return Outcome(action=Action.NOT_HEALABLE, reason=reason)
        change = change_of(row.raw)
        # One quarantine row per (system, kind, identity), whatever the run: runs do not pile up.
        keyed = replace(change, change_key=f"reconcile:{finding.kind.value}:{finding.key}")
        quarantine(
            tx,
            system=system,
            change=keyed,
            problem=Problem(reason=reason_code, message=reason, field=None),
            now=now,
        )
        return Outcome(action=Action.NOT_HEALABLE, reason=f"{reason} (quarantined)")
