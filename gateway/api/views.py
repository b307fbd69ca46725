"""Domain values and store rows → response models. Pure: no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from gateway.api.models import (
    AuditView,
    DeadLetterDetail,
    DeadLetterView,
    RepairLinks,
    RepairProgress,
    RepairSummary,
    SelfLink,
    StateView,
    SystemLinkView,
    TargetProgressView,
    TargetView,
)
from gateway.domain import sla
from gateway.domain.model import CanonicalRecord, LinkState, TargetState
from gateway.store.database import Row, from_db_ts
from gateway.store.repo import OutboxItem, TargetProgress

# A repair is complete when no target still has something to receive.
_DONE = frozenset({TargetProgress.DELIVERED, TargetProgress.IN_SYNC})


def record_href(record_id: str) -> str:
    return f"/v1/records/{record_id}"


def repair_href(repair_id: str) -> str:
    return f"/v1/repairs/{repair_id}"


def repair_links(repair_id: str, record_id: str) -> RepairLinks:
    return RepairLinks(self_link=repair_href(repair_id), record=record_href(record_id))


def target_view(target: TargetState | None) -> TargetView | None:
    if target is None:
        return None
    return TargetView(status=target.status, reason=target.reason, label=target.label)


def state_view(record: CanonicalRecord) -> StateView:
    state = record.state
    return StateView(
        status=state.target.status,
        reason=state.target.reason,
        label=state.target.label,
        version=state.version,
        decided_by=state.decided_by,
        decided_at=state.decided_at,
        authoritative=state.authoritative,
    )


def system_views(links: Mapping[str, LinkState]) -> list[SystemLinkView]:
    return [
        SystemLinkView(
            system=link.system,
            native_id=link.native_id,
            written_version=link.written_version,
            written=target_view(link.written_target),
            seen=target_view(link.seen_target),
            seen_source_version=link.seen_source_version,
            queued=link.queued,
        )
        for _, link in sorted(links.items())
    ]


def audit_view(row: Row) -> AuditView:
    detail: Any = json.loads(row["detail"]) if row["detail"] else {}
    return AuditView(
        id=int(row["id"]),
        at=row["at"],
        kind=row["kind"],
        actor=row["actor"],
        before_state=row["before_state"],
        before_version=row["before_version"],
        after_state=row["after_state"],
        after_version=row["after_version"],
        detail=detail if isinstance(detail, dict) else {"value": detail},
    )


def repair_summary(row: Row) -> RepairSummary:
    return RepairSummary(
        repair_id=row["repair_id"],
        action=row["action"],
        source=row["source"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        accepted_at=row["accepted_at"],
        version=row["version"],
        outcome=row["outcome"],
        links=SelfLink(self_link=repair_href(row["repair_id"])),
    )


# Still to reach the target: what the sync deadline is judged against while undelivered.
_OUTSTANDING = frozenset(
    {TargetProgress.PENDING, TargetProgress.IN_FLIGHT, TargetProgress.RETRYING, TargetProgress.DEAD}
)
# Statuses whose outbox row still says what went wrong last and when the next attempt is due.
_UNDER_WAY = frozenset({TargetProgress.PENDING, TargetProgress.IN_FLIGHT, TargetProgress.RETRYING})


def target_progress_view(t: Row, now: datetime) -> TargetProgressView:
    due = date.fromisoformat(str(t["due_on"])) if t.get("due_on") else None
    delivered_at = t["delivered_at"] if t["status"] == TargetProgress.DELIVERED else None
    under_way = t["status"] in _UNDER_WAY
    judged = sla.standing(
        due,
        delivered_at=delivered_at,
        in_sync=t["status"] == TargetProgress.IN_SYNC,
        outstanding=t["status"] in _OUTSTANDING,
        now=now,
    )
    return TargetProgressView(
        system=t["target"],
        status=t["status"],
        outbox_id=t["outbox_id"],
        attempts=int(t["attempts"] or 0),  # no outbox row (in_sync): never attempted
        updated_at=t["updated_at"],
        delivered_at=t["delivered_at"],
        # A new attempt in flight keeps showing why the one before failed (the outbox row has it).
        last_error=t["last_error"] or (t.get("outbox_last_error") if under_way else None),
        next_attempt_at=from_db_ts(t.get("next_attempt_at")) if t["status"] == TargetProgress.RETRYING else None,
        deadline=due,
        deadline_estimated=bool(t.get("due_estimated")),
        deadline_met=judged.met,
        overdue=judged.overdue,
    )


def repair_progress(repair: Row, targets: list[Row], *, now: datetime) -> RepairProgress:
    """`now` judges the sync deadlines (overdue, or met so far)."""
    views = [target_progress_view(t, now) for t in targets]
    return RepairProgress(
        repair_id=repair["repair_id"],
        record_id=repair["record_id"],
        action=repair["action"],
        source=repair["source"],
        decided_by=repair["decided_by"],
        decided_at=repair["decided_at"],
        accepted_at=repair["accepted_at"],
        version=repair["version"],
        outcome=repair["outcome"],
        complete=all(v.status in _DONE for v in views),
        targets=views,
        links=repair_links(repair["repair_id"], repair["record_id"]),
    )


def _dead_letter_fields(item: OutboxItem) -> dict[str, Any]:
    state = target_view(item.state)
    assert state is not None
    return {
        "id": item.id,
        "record_id": item.record_id,
        "target": item.target,
        "version": item.version,
        "state": state,
        "idempotency_key": item.idempotency_key,
        "repair_id": item.repair_id,
        "attempts": item.attempts,
        "replays": item.replays,
        "last_error": item.last_error,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "finished_at": item.finished_at,
    }


def dead_letter_view(item: OutboxItem) -> DeadLetterView:
    return DeadLetterView(**_dead_letter_fields(item))


def dead_letter_detail(item: OutboxItem) -> DeadLetterDetail:
    return DeadLetterDetail(**_dead_letter_fields(item), dead_context=item.dead_context)
