"""Reads of stored reconciliation findings for the API and the report (docs/adr/0023), limited to
what one client may see — the way every other read is (`Grant.visible()`, gateway/clients.py).

A finding's category is a column; its deciding authority is the middle part of its identity key
(`category␟authority␟document number`, gateway/domain/identity.py), so findings of records the
gateway never stored (extra in a mirror) are judged too, without a join.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.store.database import Tx
from gateway.store.reconciliations import StoredFinding
from gateway.store.reconciliations import _finding as finding_from_row

# The system a finding is about: the listing a duplicate or a foreign stop was seen in, else the
# pair's mirror (missing, extra or different there).
ABOUT_SYSTEM = "CASE WHEN f.side = 'owner' THEN f.owner_system ELSE f.mirror_system END"

Visible = tuple[Sequence[str] | None, Sequence[str] | None]  # (authorities, categories); None: any
EVERYTHING: Visible = (None, None)
SEPARATOR = "\x1f"  # RecordIdentity.key's


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _visible_only(where: list[str], params: list[Any], visible: Visible) -> None:
    authorities, categories = visible
    if categories is not None:
        where.append(f"f.category IN ({_marks(len(categories))})" if categories else "1 = 0")
        params.extend(categories)
    if authorities is not None:
        if not authorities:
            where.append("1 = 0")
            return
        # The key starts with the row's own category; `_` in a category matches itself in LIKE, and
        # a 统一社会信用代码 has no LIKE wildcard in it.
        where.append("(" + " OR ".join("f.identity_key LIKE f.category || ?" for _ in authorities) + ")")
        params.extend(f"{SEPARATOR}{code.upper()}{SEPARATOR}%" for code in authorities)


def visible_findings(
    tx: Tx,
    run_id: str,
    *,
    visible: Visible = EVERYTHING,
    after_seq: int = 0,
    limit: int = 100,
    kind: str | None = None,
    system: str | None = None,
    category: str | None = None,
    record_id: str | None = None,
    about: str | None = None,
) -> list[StoredFinding]:
    """A run's findings in sequence order, `limit` after `after_seq`; `system` matches the pair's
    owner or mirror, `about` the system the finding is about (ABOUT_SYSTEM)."""
    where = ["f.run_id = ?", "f.seq > ?"]
    params: list[Any] = [run_id, after_seq]
    _visible_only(where, params, visible)
    for clause, value in (("f.kind = ?", kind), ("f.category = ?", category), ("f.record_id = ?", record_id)):
        if value is not None:
            where.append(clause)
            params.append(value)
    if system is not None:
        where.append("(f.owner_system = ? OR f.mirror_system = ?)")
        params += [system, system]
    if about is not None:
        where.append(f"{ABOUT_SYSTEM} = ?")
        params.append(about)
    params.append(limit)
    rows = tx.all(f"SELECT f.* FROM reconcile_findings f WHERE {' AND '.join(where)} ORDER BY f.seq LIMIT ?", params)
    return [finding_from_row(row) for row in rows]


def visible_counts(tx: Tx, run_id: str, *, visible: Visible = EVERYTHING) -> list[tuple[str, str, int]]:
    """(system the findings are about, kind, count) of the findings this client may see."""
    where = ["f.run_id = ?"]
    params: list[Any] = [run_id]
    _visible_only(where, params, visible)
    rows = tx.all(
        f"SELECT {ABOUT_SYSTEM} AS about, f.kind, COUNT(*) AS n FROM reconcile_findings f"
        f" WHERE {' AND '.join(where)} GROUP BY {ABOUT_SYSTEM}, f.kind ORDER BY 1, 2",
        params,
    )
    return [(r["about"], r["kind"], int(r["n"])) for r in rows]


def visible_pair_counts(tx: Tx, run_id: str, *, visible: Visible = EVERYTHING) -> dict[tuple[str, str, str], int]:
    """Per (category, owner system, mirror system), how many findings this client may see."""
    where = ["f.run_id = ?"]
    params: list[Any] = [run_id]
    _visible_only(where, params, visible)
    rows = tx.all(
        "SELECT f.category, f.owner_system, f.mirror_system, COUNT(*) AS n FROM reconcile_findings f"
        f" WHERE {' AND '.join(where)} GROUP BY f.category, f.owner_system, f.mirror_system",
        params,
    )
    return {(r["category"], r["owner_system"], r["mirror_system"]): int(r["n"]) for r in rows}


def visible_totals(tx: Tx, run_ids: Sequence[str], *, visible: Visible = EVERYTHING) -> dict[str, int]:
    """Per run, how many of its findings this client may see (runs without any: absent)."""
    if not run_ids:
        return {}
    where = [f"f.run_id IN ({_marks(len(run_ids))})"]
    params: list[Any] = list(run_ids)
    _visible_only(where, params, visible)
    rows = tx.all(
        f"SELECT f.run_id, COUNT(*) AS n FROM reconcile_findings f WHERE {' AND '.join(where)} GROUP BY f.run_id",
        params,
    )
    return {r["run_id"]: int(r["n"]) for r in rows}
