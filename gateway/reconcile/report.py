"""A stored run as text, JSON or CSV (`creditgw reconcile --format`; the API can reuse them)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from gateway.store import reconciliations as rs

CSV_COLUMNS = (
    "run_id",
    "seq",
    "kind",
    "category",
    "owner_system",
    "mirror_system",
    "side",
    "identity_key",
    "record_id",
    "action",
    "action_reason",
    "detail",
    "owner_value",
    "mirror_value",
)


def run_json(run: rs.Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "mode": run.mode.value,
        "scope": {"system": run.scope.system, "category": run.scope.category},
        "status": run.status.value,
        "origin": run.origin,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_s": run.duration_s,
        "findings": run.findings,
        "heals": run.heals,
        "error": run.error,
        "pairs": [
            {
                "category": p.category,
                "owner_system": p.owner_system,
                "mirror_system": p.mirror_system,
                "status": p.status.value,
                "owner_rows": p.owner_rows,
                "mirror_rows": p.mirror_rows,
                "unreadable": p.unreadable,
                "findings": dict(sorted(p.kinds.items())),
                "heals": p.heals,
                "checkpoint": p.checkpoint,
                "error": p.error,
            }
            for p in run.pairs
        ],
    }


def as_json(run: rs.Run, findings: Iterable[rs.StoredFinding], recheck: dict[str, Any] | None = None) -> str:
    document: dict[str, Any] = {"run": run_json(run), "findings": [f.as_json() for f in findings]}
    if recheck is not None:
        document["recheck"] = recheck
    return json.dumps(document, ensure_ascii=False)


def as_csv(findings: Iterable[rs.StoredFinding]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in findings:
        row = f.as_json()
        writer.writerow(
            [
                json.dumps(row[c], ensure_ascii=False, sort_keys=True) if isinstance(row[c], dict | list) else row[c]
                for c in CSV_COLUMNS
            ]
        )
    return out.getvalue()


def _printable_key(key: str) -> str:
    return key.replace("\x1f", " | ")


def as_text(run: rs.Run, findings: Iterable[rs.StoredFinding]) -> str:
    lines = [
        f"reconciliation {run.run_id} ({run.mode.value}): {run.status.value}, {run.findings} finding(s),"
        f" {run.heals} heal(s)" + (f", {run.duration_s:.1f} s" if run.duration_s is not None else ""),
    ]
    if run.error:
        lines.append(f"  error: {run.error}")
    for p in run.pairs:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(p.kinds.items())) or "agree"
        lines.append(
            f"  {p.category:<22} {p.owner_system} → {p.mirror_system}: rows {p.owner_rows}/{p.mirror_rows},"
            f" unreadable {p.unreadable}: {kinds}"
        )
    for f in findings:
        reason = f" ({f.action_reason})" if f.action_reason else ""
        lines.append(
            f"{f.seq:>6}  {f.kind:<18} {f.owner_system} → {f.mirror_system}  {_printable_key(f.identity_key)}"
            f"  {f.action.value}{reason}"
        )
    return "\n".join(lines) + "\n"
