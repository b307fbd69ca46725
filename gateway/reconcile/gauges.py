"""The reconciliation gauges, read from the stored runs: every replica exports the last completed
run whoever made it (the nightly job on another replica, or `creditgw reconcile`)."""

from __future__ import annotations

from gateway.observability import (
    RECONCILE_DURATION,
    RECONCILE_FINDINGS,
    RECONCILE_HEALS,
    RECONCILE_LAST_SUCCESS,
    RECONCILE_ROWS,
)
from gateway.store import reconciliations as rs
from gateway.store.database import Tx


def refresh_reconcile_gauges(tx: Tx, shown: set[tuple[str, ...]]) -> None:
    """`shown`: label sets exported before, kept at 0 when the last run no longer has them."""
    run = rs.last_succeeded_run(tx)
    if run is None or run.finished_at is None:
        RECONCILE_LAST_SUCCESS.set(0)
        return
    RECONCILE_LAST_SUCCESS.set(run.finished_at.timestamp())
    RECONCILE_DURATION.set(run.duration_s or 0.0)
    RECONCILE_HEALS.set(run.heals)
    rows: dict[tuple[str, str], int] = {}
    findings: dict[tuple[str, str], int] = {}
    for pair in run.pairs:
        rows[(pair.owner_system, "owner")] = rows.get((pair.owner_system, "owner"), 0) + pair.owner_rows
        rows[(pair.mirror_system, "mirror")] = rows.get((pair.mirror_system, "mirror"), 0) + pair.mirror_rows
        for kind, n in pair.kinds.items():
            findings[(kind, pair.mirror_system)] = findings.get((kind, pair.mirror_system), 0) + n
    for kind in (
        "missing_in_mirror",
        "extra_in_mirror",
        "state_mismatch",
        "field_mismatch",
        "duplicate",
        "foreign_stop",
    ):
        for pair in run.pairs:
            findings.setdefault((kind, pair.mirror_system), 0)
    for (system, side), n in rows.items():
        RECONCILE_ROWS.labels(system, side).set(n)
        shown.add(("rows", system, side))
    for (kind, system), n in findings.items():
        RECONCILE_FINDINGS.labels(kind, system).set(n)
        shown.add(("findings", kind, system))
    for label in shown:
        if label[0] == "rows" and (label[1], label[2]) not in rows:
            RECONCILE_ROWS.labels(label[1], label[2]).set(0)
        elif label[0] == "findings" and (label[1], label[2]) not in findings:
            RECONCILE_FINDINGS.labels(label[1], label[2]).set(0)
