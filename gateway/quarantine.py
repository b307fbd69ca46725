"""Quarantine: inbound changes the gateway cannot map or must not apply (issue 10 item 9).

A change a system's feed delivers either becomes an observation that is applied, or it is kept
here with its reason and the change as read (secrets and personal ID numbers masked), so that the
feed goes on (one bad row never stalls it), an operator sees it (`GET /v1/quarantine`,
`creditgw quarantine list|show`, the `creditgw_quarantine_open` gauge) and, after a mapping or
data fix, retries it (`creditgw quarantine retry`): it is mapped again and applied, once.

Why the masked copy suffices for a retry: the mappings never read the columns masked here (personal
ID numbers of 法定代表人 / 自然人, credentials), docs/adr/0015-quarantine-keeps-a-masked-change.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from adapters.http import SECRET_NAMES
from gateway.contract import NativeChange, SystemMapping, UnmappableRow
from gateway.domain.intake import refusal
from gateway.domain.plan import Observation, Policy
from gateway.observability import QUARANTINE_OPEN, QUARANTINED, get_logger
from gateway.store.database import Row, Tx, from_db_ts
from gateway.store.group import GroupCommitter
from gateway.store.repo import Repo
from gateway.sync.connectors import SPECS
from gateway.sync.ingest import apply_event

log = get_logger("creditgw.quarantine")

OPEN, RESOLVED = "open", "resolved"
UNMAPPABLE = "unmappable"

# Row members whose values are never kept: what adapters scrub from excerpts (credentials, the
# 双公示 ID-number columns) and the ID numbers of the GSXT and list schemas (domain.md §3.1 CerNO,
# §4.2 identi_id, lists.md legal_repre_id).
_MASKED_NAMES = frozenset(
    name.lower()
    for name in (
        *SECRET_NAMES,
        *(column for spec in SPECS.values() for column in spec.masked_fields),
        "identi_id",
        "legal_repre_id",
        "appKey",
    )
)
# A 居民身份证号码 anywhere else in a value (GB 11643: 6-digit region, birth date, sequence, check).
_ID18 = re.compile(
    r"(?<![0-9A-Za-z])([1-9]\d{5})((?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx])(?![0-9A-Za-z])"
)
_ID15 = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _id18_valid(number: str) -> bool:
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _mask_id18(match: re.Match[str]) -> str:
    number = match.group(1) + match.group(2)
    # The check digit keeps a 统一社会信用代码 or a document number made of digits from being taken
    # for an ID number; the region prefix stays, as the court's own feed shows it (domain.md §4.2).
    return match.group(1) + "*" * len(match.group(2)) if _id18_valid(number) else match.group(0)


def mask_value(value: Any) -> Any:
    if isinstance(value, str):
        value = _ID18.sub(_mask_id18, value)
        return _ID15.sub(lambda m: m.group(1) + "*" * len(m.group(2)), value)
    if isinstance(value, Mapping):
        return masked_row(value)
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    return value


def masked_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(key): ("***" if value not in (None, "") else value)
        if str(key).lower() in _MASKED_NAMES
        else mask_value(value)
        for key, value in row.items()
    }


def raw_of(change: NativeChange) -> str:
    """The change as stored in quarantine: every field of it, the row masked."""
    return json.dumps(
        {
            "change_key": change.change_key,
            "source_version": change.source_version,
            "changed_at": change.changed_at.isoformat(),
            "kind": change.kind,
            "native_id": change.native_id,
            "row": masked_row(change.row),
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def change_of(raw: str) -> NativeChange:
    stored = json.loads(raw)
    return NativeChange(
        change_key=stored["change_key"],
        source_version=stored["source_version"],
        changed_at=datetime.fromisoformat(stored["changed_at"]),
        kind=stored["kind"],
        native_id=stored["native_id"],
        row=stored["row"],
    )


@dataclass(frozen=True, kw_only=True)
class Problem:
    """Why a change goes to quarantine: `reason` is a stable code (a metric label)."""

    reason: str
    message: str
    field: str | None = None


def examine(mapping: SystemMapping, change: NativeChange) -> Observation | Problem | None:
    """The observation to apply, the problem that keeps it out, or None for a row the gateway does
    not track. One function for the poller and for a retry, so both judge a change alike."""
    try:
        observation = mapping.to_observation(change)
    except UnmappableRow as exc:  # its message may quote the value: masked like the row
        return Problem(reason=UNMAPPABLE, message=mask_value(str(exc)), field=exc.field)
    if observation is None:
        return None
    refused = refusal(observation)
    if refused is not None:
        return Problem(reason=refused.code, message=refused.message, field=refused.field)
    return observation


def quarantine(tx: Tx, *, system: str, change: NativeChange, problem: Problem, now: datetime) -> bool:
    """Keep the change (once per system and change key) and settle its inbox row; True when new."""
    repo = Repo(tx)
    new = repo.add_quarantine(
        system=system,
        change_key=change.change_key,
        kind=change.kind,
        reason=problem.reason,
        field=problem.field,
        message=problem.message,
        raw=raw_of(change),
        now=now,
    )
    if repo.claim_inbox(system, change.change_key, now):
        repo.set_inbox_outcome(system, change.change_key, None, "quarantined")
    if new:
        QUARANTINED.labels(system, problem.reason).inc()
        log.warning(
            "inbound_quarantined",
            system=system,
            kind=change.kind,
            reason=problem.reason,
            field=problem.field,
            error=problem.message,
        )
    return new


def refresh_gauge(tx: Tx, shown: set[tuple[str, str]]) -> None:
    """creditgw_quarantine_open from the table; a (system, reason) shown once is kept, at 0 once
    every such change is resolved."""
    counts = {(r["system"], r["reason"]): int(r["n"]) for r in Repo(tx).open_quarantine_counts()}
    shown.update(counts)
    for system, reason in shown:
        QUARANTINE_OPEN.labels(system, reason).set(counts.get((system, reason), 0))


# ---- retry ------------------------------------------------------------------------------------


@dataclass
class RetryReport:
    applied: dict[int, str] = field(default_factory=dict)  # id → the outcome of applying it
    still: dict[int, str] = field(default_factory=dict)  # id → the reason it stays in quarantine
    missing: list[int] = field(default_factory=list)  # unknown, or resolved already

    def as_json(self) -> dict[str, Any]:
        return {
            "applied": {str(k): v for k, v in self.applied.items()},
            "still": {str(k): v for k, v in self.still.items()},
            "missing": self.missing,
        }


async def retry(
    committer: GroupCommitter,
    *,
    policy: Policy,
    mappings: Mapping[str, SystemMapping],
    now: datetime,
    ids: Sequence[int] | None = None,
    system: str | None = None,
    reason: str | None = None,
    limit: int = 1000,
) -> RetryReport:
    """Map each open quarantined change again and apply it (each in its own transaction); what
    still cannot be applied stays open with its latest reason. Idempotent: a resolved row is never
    applied again, and applying is the inbound pipeline's own (`apply_event`)."""
    report = RetryReport()
    if ids:
        targets = list(ids)
    else:
        rows = await committer.db.run(
            lambda tx: Repo(tx).list_quarantine(status=OPEN, system=system, reason=reason, limit=limit), write=False
        )
        targets = [int(r["id"]) for r in rows]
    for item_id in targets:
        verdict = await committer.submit(partial(retry_one, item_id=item_id, policy=policy, mappings=mappings, now=now))
        if verdict is None:
            report.missing.append(item_id)
        elif verdict[0] == RESOLVED:
            report.applied[item_id] = verdict[1]
        else:
            report.still[item_id] = verdict[1]
    return report


def retry_one(
    tx: Tx, *, item_id: int, policy: Policy, mappings: Mapping[str, SystemMapping], now: datetime
) -> tuple[str, str] | None:
    """(resolved, outcome), (open, reason), or None when there is no open row `item_id`."""
    repo = Repo(tx)
    row = repo.get_quarantine(item_id, lock=True)
    if row is None or row["status"] != OPEN:
        return None
    system = row["system"]
    change = change_of(row["raw"])
    mapping = mappings.get(system)
    if mapping is None:
        repo.requarantine(item_id, reason="unknown_system", field=None, message=f"no mapping for {system}", now=now)
        return OPEN, "unknown_system"
    examined = examine(mapping, change)
    if examined is None:
        repo.resolve_quarantine(item_id, outcome="untracked", record_id=None, now=now)
        repo.set_inbox_outcome(system, change.change_key, None, "untracked")
        return RESOLVED, "untracked"
    if isinstance(examined, Problem):
        repo.requarantine(item_id, reason=examined.reason, field=examined.field, message=examined.message, now=now)
        return OPEN, examined.reason
    result = apply_event(tx, examined, source=system, change_key=None, policy=policy, now=now)
    repo.set_inbox_outcome(system, change.change_key, result.record_id, result.outcome)
    repo.resolve_quarantine(item_id, outcome=result.outcome, record_id=result.record_id, now=now)
    log.info("quarantine_retried", id=item_id, system=system, outcome=result.outcome, record_id=result.record_id)
    return RESOLVED, result.outcome


# ---- views (API and CLI) ----------------------------------------------------------------------


def view(row: Row, *, full: bool = False) -> dict[str, Any]:
    """A quarantined change as the API and the CLI show it; `full` adds the masked change itself."""
    change = json.loads(row["raw"])
    out: dict[str, Any] = {
        "id": int(row["id"]),
        "system": row["system"],
        "kind": row["kind"],
        "change_key": row["change_key"],
        "reason": row["reason"],
        "field": row["field"],
        "message": row["message"],
        "status": row["status"],
        "record_id": row["record_id"],
        "retries": int(row["retries"]),
        "outcome": row["outcome"],
        "changed_at": change["changed_at"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "resolved_at": _iso(row["resolved_at"]),
        "excerpt": _excerpt(change["row"]),
    }
    if full:
        out["change"] = change
    return out


EXCERPT_CHARS = 500


def _excerpt(row: Mapping[str, Any]) -> str:
    text = json.dumps(row, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _iso(value: Any) -> str | None:
    moment = from_db_ts(value)
    return moment.isoformat() if moment is not None else None
