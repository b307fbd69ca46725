"""Reconciliation runs, their per-pair progress and their findings (migration 0010; docs/adr/0022).

Every function takes an open transaction (`Tx`, inside `Database.run`), so a caller stores a batch
of findings, the pair's checkpoint and the heals those findings queued in one transaction: a run
killed between two batches resumes from the checkpoint with exactly the findings stored so far.

A run is held by one process at a time through `lease_owner`/`lease_until` (renewed while it works);
a run whose holder died is taken over (`take_over_run`) and resumed pair by pair.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.store.database import Row, Tx, from_db_ts


class RunMode(StrEnum):
    CHECK = "check"  # find and report
    HEAL = "heal"  # find, heal what the gateway can decide, report the rest
    DRY_RUN = "dry_run"  # find and report what a heal would send; send nothing


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # the run completed (whether or not it found divergences)
    FAILED = "failed"


class PairStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class FindingAction(StrEnum):
    NONE = "none"  # nothing to do (a check run), or nothing the gateway may do
    HEAL_QUEUED = "heal_queued"  # a delivery (or the owner's observation) went through the outbox
    WOULD_HEAL = "would_heal"  # a dry run: what a heal would have sent
    NOT_HEALABLE = "not_healable"  # a human must act; `action_reason` says why


@dataclass(frozen=True, kw_only=True)
class Scope:
    """What a run covers: one system's pairs (as owner or mirror) and/or one category; None = all."""

    system: str | None = None
    category: str | None = None

    def as_text(self) -> str:
        return json.dumps({"category": self.category, "system": self.system}, sort_keys=True)

    @classmethod
    def from_text(cls, text: str) -> Scope:
        data = json.loads(text)
        return cls(system=data.get("system"), category=data.get("category"))


@dataclass(frozen=True, kw_only=True)
class PairKey:
    category: str
    owner_system: str
    mirror_system: str


@dataclass(frozen=True, kw_only=True)
class PairProgress:
    run_id: str
    category: str
    owner_system: str
    mirror_system: str
    status: PairStatus
    owner_rows: int  # rows of the owner's listing read (the last, complete read on a resumed run)
    mirror_rows: int
    unreadable: int  # rows a mapping could not read (quarantined, not compared)
    kinds: dict[str, int]  # findings by kind
    heals: int  # deliveries (and owner observations) queued by heals
    checkpoint: str | None  # the last identity key whose findings are stored
    error: str | None
    updated_at: datetime

    @property
    def key(self) -> PairKey:
        return PairKey(category=self.category, owner_system=self.owner_system, mirror_system=self.mirror_system)

    @property
    def findings(self) -> int:
        return sum(self.kinds.values())


@dataclass(frozen=True, kw_only=True)
class Run:
    run_id: str
    mode: RunMode
    scope: Scope
    status: RunStatus
    origin: str  # "cli" or "schedule"
    started_at: datetime
    finished_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    findings: int
    heals: int
    error: str | None
    pairs: tuple[PairProgress, ...] = ()

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, kw_only=True)
class NewFinding:
    """A finding to store; `seq` is given by `store_progress`."""

    kind: str
    side: str | None
    identity_key: str
    record_id: str | None
    owner_value: Mapping[str, Any] | None
    mirror_value: Mapping[str, Any] | None
    detail: Mapping[str, Any] = field(default_factory=dict)
    action: FindingAction = FindingAction.NONE
    action_reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class StoredFinding:
    run_id: str
    seq: int
    kind: str
    category: str
    owner_system: str
    mirror_system: str
    side: str | None
    identity_key: str
    record_id: str | None
    owner_value: dict[str, Any] | None
    mirror_value: dict[str, Any] | None
    detail: dict[str, Any]
    action: FindingAction
    action_reason: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seq": self.seq,
            "kind": self.kind,
            "category": self.category,
            "owner_system": self.owner_system,
            "mirror_system": self.mirror_system,
            "side": self.side,
            "identity_key": self.identity_key,
            "record_id": self.record_id,
            "owner_value": self.owner_value,
            "mirror_value": self.mirror_value,
            "detail": self.detail,
            "action": self.action.value,
            "action_reason": self.action_reason,
        }


def _dumps(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _ts(value: Any) -> datetime:
    stamp = from_db_ts(value)
    if stamp is None:
        raise ValueError("a required timestamp is NULL")
    return stamp


def _loads(text: str | None) -> dict[str, Any] | None:
    return None if text is None else dict(json.loads(text))


# ---- runs ---------------------------------------------------------------------------------------


def create_run(
    tx: Tx,
    *,
    run_id: str,
    mode: RunMode,
    scope: Scope,
    origin: str,
    owner: str,
    lease_until: datetime,
    now: datetime,
) -> Run:
    tx.execute(
        "INSERT INTO reconcile_runs (run_id, mode, scope, status, origin, started_at, finished_at, lease_owner,"
        " lease_until, findings, heals, error) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, 0, 0, NULL)",
        (run_id, mode.value, scope.as_text(), RunStatus.RUNNING.value, origin, now, owner, lease_until),
    )
    run = get_run(tx, run_id)
    assert run is not None
    return run


def unfinished_run(tx: Tx, *, mode: RunMode, scope: Scope) -> Run | None:
    """The newest run of this mode and scope still marked running (its holder alive or not)."""
    row = tx.one(
        "SELECT * FROM reconcile_runs WHERE status = 'running' AND scope = ? AND mode = ?"
        " ORDER BY started_at DESC, run_id DESC LIMIT 1",
        (scope.as_text(), mode.value),
    )
    return None if row is None else _run(tx, row)


def take_over_run(
    tx: Tx, run_id: str, *, owner: str, lease_until: datetime, now: datetime, previous_owner_dead: bool = False
) -> bool:
    """Hold a running run: True when its lease has passed (or its holder is known dead, and is still
    the one named), False when another process holds it."""
    row = tx.one("SELECT lease_owner FROM reconcile_runs WHERE run_id = ? AND status = 'running'", (run_id,))
    if row is None:
        return False
    if previous_owner_dead:
        changed = tx.execute(
            "UPDATE reconcile_runs SET lease_owner = ?, lease_until = ? WHERE run_id = ? AND status = 'running'"
            " AND (lease_owner = ? OR lease_until < ?)",
            (owner, lease_until, run_id, row["lease_owner"], now),
        )
    else:
        changed = tx.execute(
            "UPDATE reconcile_runs SET lease_owner = ?, lease_until = ? WHERE run_id = ? AND status = 'running'"
            " AND (lease_until IS NULL OR lease_until < ? OR lease_owner = ?)",
            (owner, lease_until, run_id, now, owner),
        )
    return changed == 1


def renew_run_lease(tx: Tx, run_id: str, *, owner: str, lease_until: datetime) -> bool:
    """False when the run is no longer this process's (taken over, or finished)."""
    return (
        tx.execute(
            "UPDATE reconcile_runs SET lease_until = ? WHERE run_id = ? AND lease_owner = ? AND status = 'running'",
            (lease_until, run_id, owner),
        )
        == 1
    )


def finish_run(tx: Tx, run_id: str, *, status: RunStatus, error: str | None, now: datetime) -> None:
    tx.execute(
        "UPDATE reconcile_runs SET status = ?, finished_at = ?, error = ?, lease_owner = NULL, lease_until = NULL"
        " WHERE run_id = ?",
        (status.value, now, error, run_id),
    )


def get_run(tx: Tx, run_id: str) -> Run | None:
    row = tx.one("SELECT * FROM reconcile_runs WHERE run_id = ?", (run_id,))
    return None if row is None else _run(tx, row)


def list_runs(tx: Tx, *, limit: int = 50, before: str | None = None) -> list[Run]:
    """Runs newest first; `before` is the run id the previous page ended with (a cursor)."""
    if before is None:
        rows = tx.all("SELECT * FROM reconcile_runs ORDER BY started_at DESC, run_id DESC LIMIT ?", (limit,))
    else:
        rows = tx.all(
            "SELECT r.* FROM reconcile_runs r, reconcile_runs b WHERE b.run_id = ?"
            " AND (r.started_at < b.started_at OR (r.started_at = b.started_at AND r.run_id < b.run_id))"
            " ORDER BY r.started_at DESC, r.run_id DESC LIMIT ?",
            (before, limit),
        )
    return [_run(tx, row, with_pairs=False) for row in rows]


def last_succeeded_run(tx: Tx) -> Run | None:
    row = tx.one(
        "SELECT * FROM reconcile_runs WHERE status = 'succeeded' ORDER BY finished_at DESC, run_id DESC LIMIT 1"
    )
    return None if row is None else _run(tx, row)


def _run(tx: Tx, row: Row, *, with_pairs: bool = True) -> Run:
    pairs = tuple(pairs_of(tx, row["run_id"])) if with_pairs else ()
    return Run(
        run_id=row["run_id"],
        mode=RunMode(row["mode"]),
        scope=Scope.from_text(row["scope"]),
        status=RunStatus(row["status"]),
        origin=row["origin"],
        started_at=_ts(row["started_at"]),
        finished_at=from_db_ts(row["finished_at"]),
        lease_owner=row["lease_owner"],
        lease_until=from_db_ts(row["lease_until"]),
        findings=int(row["findings"]),
        heals=int(row["heals"]),
        error=row["error"],
        pairs=pairs,
    )


# ---- pairs --------------------------------------------------------------------------------------


def start_pair(tx: Tx, run_id: str, pair: PairKey, *, now: datetime) -> PairProgress:
    """The pair's progress, created on first use: a resumed run finds its checkpoint here."""
    existing = pair_progress(tx, run_id, pair)
    if existing is not None:
        return existing
    tx.execute(
        "INSERT INTO reconcile_pairs (run_id, category, owner_system, mirror_system, status, owner_rows, mirror_rows,"
        " unreadable, kinds, heals, checkpoint, error, updated_at) VALUES (?, ?, ?, ?, ?, 0, 0, 0, '{}', 0, NULL,"
        " NULL, ?)",
        (run_id, pair.category, pair.owner_system, pair.mirror_system, PairStatus.RUNNING.value, now),
    )
    created = pair_progress(tx, run_id, pair)
    assert created is not None
    return created


def pair_progress(tx: Tx, run_id: str, pair: PairKey) -> PairProgress | None:
    row = tx.one(
        "SELECT * FROM reconcile_pairs WHERE run_id = ? AND category = ? AND owner_system = ? AND mirror_system = ?",
        (run_id, pair.category, pair.owner_system, pair.mirror_system),
    )
    return None if row is None else _pair(row)


def pairs_of(tx: Tx, run_id: str) -> list[PairProgress]:
    rows = tx.all(
        "SELECT * FROM reconcile_pairs WHERE run_id = ? ORDER BY category, owner_system, mirror_system", (run_id,)
    )
    return [_pair(row) for row in rows]


def _pair(row: Row) -> PairProgress:
    return PairProgress(
        run_id=row["run_id"],
        category=row["category"],
        owner_system=row["owner_system"],
        mirror_system=row["mirror_system"],
        status=PairStatus(row["status"]),
        owner_rows=int(row["owner_rows"]),
        mirror_rows=int(row["mirror_rows"]),
        unreadable=int(row["unreadable"]),
        kinds={str(k): int(v) for k, v in json.loads(row["kinds"]).items()},
        heals=int(row["heals"]),
        checkpoint=row["checkpoint"],
        error=row["error"],
        updated_at=_ts(row["updated_at"]),
    )


def store_progress(
    tx: Tx,
    run_id: str,
    pair: PairKey,
    findings: Sequence[NewFinding],
    *,
    checkpoint: str | None,
    heals: int,
    now: datetime,
) -> list[int]:
    """Store a batch of a pair's findings and move its checkpoint, in the caller's transaction (which
    also holds the heals those findings queued). Returns the findings' sequence numbers."""
    start = int(tx.scalar("SELECT COALESCE(MAX(seq), 0) AS n FROM reconcile_findings WHERE run_id = ?", (run_id,)))
    rows = []
    kinds: dict[str, int] = {}
    for offset, finding in enumerate(findings, start=1):
        kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
        rows.append(
            (
                run_id,
                start + offset,
                finding.kind,
                pair.category,
                pair.owner_system,
                pair.mirror_system,
                finding.side,
                finding.identity_key,
                finding.record_id,
                _dumps(finding.owner_value),
                _dumps(finding.mirror_value),
                _dumps(finding.detail) or "{}",
                finding.action.value,
                finding.action_reason,
            )
        )
    tx.executemany(
        "INSERT INTO reconcile_findings (run_id, seq, kind, category, owner_system, mirror_system, side,"
        " identity_key, record_id, owner_value, mirror_value, detail, action, action_reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    current = pair_progress(tx, run_id, pair)
    if current is None:
        raise ValueError(f"pair {pair} of run {run_id} was never started")
    merged = dict(current.kinds)
    for kind, n in kinds.items():
        merged[kind] = merged.get(kind, 0) + n
    tx.execute(
        "UPDATE reconcile_pairs SET kinds = ?, heals = heals + ?, checkpoint = ?, updated_at = ?"
        " WHERE run_id = ? AND category = ? AND owner_system = ? AND mirror_system = ?",
        (
            json.dumps(merged, sort_keys=True),
            heals,
            checkpoint,
            now,
            run_id,
            pair.category,
            pair.owner_system,
            pair.mirror_system,
        ),
    )
    tx.execute(
        "UPDATE reconcile_runs SET findings = findings + ?, heals = heals + ? WHERE run_id = ?",
        (len(findings), heals, run_id),
    )
    return [start + offset for offset in range(1, len(findings) + 1)]


def finish_pair(
    tx: Tx,
    run_id: str,
    pair: PairKey,
    *,
    status: PairStatus,
    owner_rows: int,
    mirror_rows: int,
    unreadable: int,
    error: str | None,
    now: datetime,
) -> None:
    tx.execute(
        "UPDATE reconcile_pairs SET status = ?, owner_rows = ?, mirror_rows = ?, unreadable = ?, error = ?,"
        " updated_at = ? WHERE run_id = ? AND category = ? AND owner_system = ? AND mirror_system = ?",
        (
            status.value,
            owner_rows,
            mirror_rows,
            unreadable,
            error,
            now,
            run_id,
            pair.category,
            pair.owner_system,
            pair.mirror_system,
        ),
    )


# ---- findings -----------------------------------------------------------------------------------


def list_findings(
    tx: Tx,
    run_id: str,
    *,
    after_seq: int = 0,
    limit: int = 100,
    kind: str | None = None,
    system: str | None = None,
    category: str | None = None,
) -> list[StoredFinding]:
    """A run's findings in sequence order, `limit` after `after_seq` (a cursor); `system` matches
    the owner or the mirror of the pair."""
    where = ["run_id = ?", "seq > ?"]
    params: list[Any] = [run_id, after_seq]
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    if system is not None:
        where.append("(owner_system = ? OR mirror_system = ?)")
        params += [system, system]
    if category is not None:
        where.append("category = ?")
        params.append(category)
    params.append(limit)
    rows = tx.all(f"SELECT * FROM reconcile_findings WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?", params)
    return [_finding(row) for row in rows]


def finding_counts(tx: Tx, run_id: str) -> list[tuple[str, str, str, str, int]]:
    """(category, owner system, mirror system, kind, count) for a run: the report's tables."""
    rows = tx.all(
        "SELECT category, owner_system, mirror_system, kind, COUNT(*) AS n FROM reconcile_findings WHERE run_id = ?"
        " GROUP BY category, owner_system, mirror_system, kind ORDER BY category, owner_system, mirror_system, kind",
        (run_id,),
    )
    return [(r["category"], r["owner_system"], r["mirror_system"], r["kind"], int(r["n"])) for r in rows]


def _finding(row: Row) -> StoredFinding:
    return StoredFinding(
        run_id=row["run_id"],
        seq=int(row["seq"]),
        kind=row["kind"],
        category=row["category"],
        owner_system=row["owner_system"],
        mirror_system=row["mirror_system"],
        side=row["side"],
        identity_key=row["identity_key"],
        record_id=row["record_id"],
        owner_value=_loads(row["owner_value"]),
        mirror_value=_loads(row["mirror_value"]),
        detail=_loads(row["detail"]) or {},
        action=FindingAction(row["action"]),
        action_reason=row["action_reason"],
    )


def all_findings(tx: Tx, run_id: str) -> Iterable[StoredFinding]:
    """Every finding of a run (small runs, tests and reports); pages internally."""
    after = 0
    out: list[StoredFinding] = []
    while True:
        page = list_findings(tx, run_id, after_seq=after, limit=1000)
        out += page
        if len(page) < 1000:
            return out
        after = page[-1].seq
