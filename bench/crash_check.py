"""What the crash-and-race harness (bench/crash.py) sent, and the judgement of what the systems show
afterwards. Pure: no I/O, so the checker itself is tested on crafted cases
(tests/test_crash_harness.py) — a checker that cannot fail proves nothing.

The rules (issue 9, "Must show"):
- **lost**: a record whose last acknowledged decision is not what 信用中国, GSXT or the gateway's
  canonical state show once everything is quiet;
- **refused**: a decision answered 4xx although it was valid after the decisions acknowledged
  before it (the gateway's state had moved away from what the authority decided);
- **over-written**: a system that changed a record more often than decisions were acknowledged for it
  (the simulators count every write that changed a row, `/admin/stats`);
- **false audits**: an audit entry naming an actor that did not act — a mirror divergence or a state
  change by a system, beyond what the harness itself did inside the systems;
- **replay mismatch**: an acknowledged request sent again (same Idempotency-Key and body) that does
  not return the stored answer;
- **unanswered**: a decision that never got an answer within the harness's patience (a harness
  or availability failure rather than a lost decision, reported apart).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PUBLISHED = "published"
REPAIRED = "stopped:repaired"
API, CREDITCHINA, GSXT = "api", "creditchina_gansu", "gsxt_gansu"
# What each action leaves every system showing (gateway.domain.plan's action results, as labels).
RESULT_OF = {"repair": REPAIRED, "revoke_repair": PUBLISHED, "withdraw": "stopped:withdrawn"}
# Decision sequences of an authority correcting itself through the API; each step is valid after
# the one before.
SEQUENCES: tuple[tuple[str, ...], ...] = (
    ("repair",),
    ("repair", "revoke_repair"),
    ("repair", "revoke_repair", "repair"),
    ("repair", "withdraw"),
    ("repair", "revoke_repair", "withdraw"),
)
# Changes made inside the systems by their own operators (the simulators' admin API), as (system,
# action): the owner repairs (and restores again); the mirror repairs on its own (多头修复, which the
# gateway must audit and set back).
OPERATOR_SEQUENCES: tuple[tuple[tuple[str, str], ...], ...] = (
    ((CREDITCHINA, "repair"),),
    ((CREDITCHINA, "repair"), (CREDITCHINA, "restore")),
    ((GSXT, "repair"),),
)
# Writes that change a row, per system, one acknowledged step may cause: a decision is written once
# to each system; the owner's own change once to itself and once mirrored; a mirror's own change
# once by its operator and once set back.
_WRITES: dict[str, dict[str, int]] = {
    API: {CREDITCHINA: 1, GSXT: 1},
    CREDITCHINA: {CREDITCHINA: 1, GSXT: 1},
    GSXT: {GSXT: 2},
}
# The audit entries one acknowledged step in a system rightly causes.
_RIGHT_AUDITS = {CREDITCHINA: f"state_changed by {CREDITCHINA}", GSXT: f"mirror_divergence by {GSXT}"}
# Audit kinds that say a system acted on the record by itself.
_SYSTEM_ACTS = frozenset({"state_changed", "facts_changed"})
_DIVERGENCES = frozenset({"mirror_divergence", "unowned_divergence"})
_EXAMPLES = 5


@dataclass(kw_only=True)
class Sent:
    """One decision: the request as first built (retries send the same bytes) and its answer."""

    key: str
    action: str
    decided_at: datetime
    backdated: bool  # dated just after the previous decision, before its write reached the systems
    body: bytes
    status: int | None = None  # the first real answer (None: never answered)
    answer: bytes = b""
    code: str = ""
    attempts: int = 0
    replayed: bool = False  # the first real answer was already a replay (sent before a kill)
    via: str = API  # or the system whose operator acted (its admin API), for OPERATOR_SEQUENCES

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(kw_only=True)
class RecordRun:
    index: int
    record_id: str
    document_number: str
    actions: tuple[str, ...]
    sent: list[Sent] = field(default_factory=list)

    @property
    def acknowledged(self) -> list[Sent]:
        return [s for s in self.sent if s.acknowledged]

    @property
    def expected(self) -> str:
        state = PUBLISHED
        for sent in self.acknowledged:
            if sent.via == API:
                state = RESULT_OF[sent.action]
            elif sent.via == CREDITCHINA:  # the owner: its change is the record's new state
                state = REPAIRED if sent.action == "repair" else PUBLISHED
            # a mirror's own change is set back: the state stays
        return state

    def allowed_writes(self, system: str) -> int:
        return sum(_WRITES[sent.via].get(system, 0) for sent in self.acknowledged)

    def right_audits(self) -> Counter[str]:
        return Counter(_RIGHT_AUDITS[s.via] for s in self.acknowledged if s.via != API)

    def describe(self) -> str:
        steps = [
            f"{'' if s.via == API else s.via + ':'}{s.action}{'(backdated)' if s.backdated else ''}"
            f"→{s.status if s.status is not None else '-'}"
            for s in self.sent
        ]
        return f"#{self.index} {self.document_number}: {' '.join(steps)}"


@dataclass(frozen=True, kw_only=True)
class Observed:
    """What was read back once everything was quiet."""

    shown: Mapping[str, Mapping[str, str]]  # system → record id → state label
    canonical: Mapping[str, str]  # record id → the gateway's state label
    audits: Mapping[str, Sequence[tuple[str, str]]]  # record id → (kind, actor), every entry
    writes: Mapping[str, Mapping[str, int]]  # system → document number → writes since the decisions began
    replays: Mapping[str, tuple[int | None, bytes]]  # idempotency key → (status, body) of the resend


@dataclass(kw_only=True)
class Findings:
    lost: list[str] = field(default_factory=list)
    lost_by_system: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    over_written: list[str] = field(default_factory=list)
    false_audits: Counter[str] = field(default_factory=Counter)  # "kind by actor" → entries
    false_audit_records: list[str] = field(default_factory=list)
    replay_mismatches: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.refused
            or self.over_written
            or self.false_audits
            or self.replay_mismatches
            or self.unanswered
        )

    def counts(self) -> dict[str, int]:
        return {
            "lost": len(self.lost),
            "refused": len(self.refused),
            "over_written": len(self.over_written),
            "false_audits": sum(self.false_audits.values()),
            "false_audit_records": len(self.false_audit_records),
            "replay_mismatches": len(self.replay_mismatches),
            "unanswered": len(self.unanswered),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            **self.counts(),
            "lost_by_system": dict(self.lost_by_system),
            "false_audits_by_kind": dict(self.false_audits),
            "examples": {
                "lost": self.lost[:_EXAMPLES],
                "refused": self.refused[:_EXAMPLES],
                "over_written": self.over_written[:_EXAMPLES],
                "false_audits": self.false_audit_records[:_EXAMPLES],
                "replay_mismatches": self.replay_mismatches[:_EXAMPLES],
                "unanswered": self.unanswered[:_EXAMPLES],
            },
        }


def _same_answer(first: bytes, again: bytes) -> bool:
    try:
        return bool(json.loads(first) == json.loads(again))
    except ValueError:
        return first == again


def judge(runs: Sequence[RecordRun], observed: Observed, *, deciders: frozenset[str]) -> Findings:
    """`deciders`: the authorities in whose name the harness decided (the only legitimate actors of
    state changes; the systems' own operators did nothing)."""
    found = Findings()
    for run in runs:
        expected = run.expected
        views = {system: shown.get(run.record_id, "absent") for system, shown in observed.shown.items()}
        views["gateway"] = observed.canonical.get(run.record_id, "absent")
        wrong = {system: label for system, label in views.items() if label != expected}
        if wrong:
            found.lost_by_system.update(wrong.keys())
            shown = ", ".join(f"{s}={label}" for s, label in sorted(views.items()))
            trail = " → ".join(f"{kind} by {actor}" for kind, actor in reversed(observed.audits.get(run.record_id, ())))
            found.lost.append(f"{run.describe()}; expected {expected}, shown {shown}; audit (oldest first): {trail}")
        for sent in run.sent:
            if sent.status is None:
                found.unanswered.append(f"{run.describe()}: {sent.key} ({sent.attempts} attempts)")
            elif not sent.acknowledged:
                found.refused.append(f"{run.describe()}: {sent.action} → {sent.status} {sent.code}")
            elif sent.via == API:
                status, body = observed.replays.get(sent.key, (None, b""))
                if status != sent.status or not _same_answer(sent.answer, body):
                    found.replay_mismatches.append(
                        f"{run.describe()}: {sent.key} first {sent.status} {sent.answer[:120]!r},"
                        f" again {status} {body[:120]!r}"
                    )
        for system, writes in observed.writes.items():
            count, allowed = writes.get(run.document_number, 0), run.allowed_writes(system)
            if count > allowed:
                found.over_written.append(f"{run.describe()}: {system} written {count}×, at most {allowed} expected")
        claims = Counter(
            f"{kind} by {actor}"
            for kind, actor in observed.audits.get(run.record_id, ())
            if kind in _DIVERGENCES or (kind in _SYSTEM_ACTS and actor not in deciders)
        )
        false = sorted((claims - run.right_audits()).elements())
        if false:
            found.false_audits.update(false)
            found.false_audit_records.append(f"{run.describe()}: {', '.join(false)}")
    return found
