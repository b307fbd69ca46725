"""Inbound pipeline: a feed's changes in, written by the one plan writer (gateway/sync/plan_writer.py).

The inbox row, the new state, the audit trail, the repair's progress rows and the deliveries it
causes commit together (DESIGN.md §4), so a crash leaves either all of it or none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway.domain.plan import Observation, Outcome, Plan, Policy
from gateway.store.database import Tx
from gateway.sync.plan_writer import (
    ApplyResult,
    PlanWriter,
    action_between,
    apply_event,
    change_repair_id,
    report_estimated,
)


def apply_reports(
    tx: Tx, reports: Sequence[tuple[str, Observation]], *, source: str, policy: Policy, now: datetime
) -> list[str | None]:
    """Several reports of one feed in one unit, for the two commonest kinds (ADR 0008), `reports`
    being (change key, observation):
    - quiet reports change nothing but what the gateway knows the system shows: a system echoing a
      state the gateway wrote, or confirming one it already shows;
    - first sightings name a record the gateway does not know yet (at go-live, every record a feed
      holds): the record, its link, its audit row and its deliveries to the mirrors are written.

    Per report, in order: its outcome, or None where it does more (a change, a set-back, an audited
    stale report) or names a record already reported earlier in `reports`: that one is applied on
    its own (`apply_event`), after this unit, as ADR 0002 requires to keep lock orders safe."""
    writer = PlanWriter(tx)
    writer.read(observation.facts.record_id for _, observation in reports)
    results: list[str | None] = [None] * len(reports)
    added: list[tuple[int, int]] = []  # (index in reports, index in the flush)
    reported: set[str] = set()
    for index, (change_key, observation) in enumerate(reports):
        record_id = observation.facts.record_id
        if record_id in reported:
            continue  # alone, after the report before it
        reported.add(record_id)
        current = writer.record(record_id)
        result = writer.plan(observation, policy)
        if _quiet(result) or (current is None and result.outcome in _FIRST_SIGHT):
            position = writer.add(observation, result, source=source, policy=policy, now=now, change_key=change_key)
            added.append((index, position))
    written = writer.flush()
    for index, position in added:
        results[index] = written[position].outcome
    return results


def _quiet(result: Plan) -> bool:
    return (
        result.outcome in _QUIET
        and not result.changed
        and not result.audit
        and not result.deliveries
        and result.seen is not None
    )


_QUIET = frozenset({Outcome.UNCHANGED, Outcome.ECHO})
_FIRST_SIGHT = frozenset({Outcome.CREATED, Outcome.PROVISIONAL})

__all__ = [
    "ApplyResult",
    "action_between",
    "apply_event",
    "apply_reports",
    "change_repair_id",
    "report_estimated",
]
