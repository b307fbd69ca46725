"""A stored reconciliation run with findings of every kind, written through the storage functions a
real run uses (gateway/store/reconciliations.py), for the API, report and browser tests. No test
lives here.

Two authorities: the seeded penalty's (OWNER, 兰州市生态环境局, whose record the harness seeds) and
another one (OTHER), so that what a client may see can be checked per finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.domain.categories import Category
from gateway.domain.identity import RecordIdentity
from gateway.store.database import Tx
from gateway.store.reconciliations import (
    FindingAction,
    NewFinding,
    PairKey,
    PairStatus,
    RunMode,
    RunStatus,
    create_run,
    finish_pair,
    finish_run,
    start_pair,
    store_progress,
)
from gateway.store.reconciliations import Scope as RunScope
from tests.conftest import penalty_facts

CC, GS = "creditchina_gansu", "gsxt_gansu"
OWNER = penalty_facts().authority_code
OTHER = "11620000MB9999999Y"
HOSTILE = "甘<script>document.title='pwned'</script>罚〔2026〕9号"  # must be shown as text
FORMULA = '=HYPERLINK("http://evil.example","点我")'  # must not be a formula in Excel


@dataclass(frozen=True)
class SeededFinding:
    seq: int
    kind: str
    category: str
    owner_system: str
    mirror_system: str
    system: str  # the system the finding is about
    authority_code: str
    document_number: str
    record_id: str | None


@dataclass(frozen=True)
class SeededRun:
    run_id: str
    findings: tuple[SeededFinding, ...]

    def visible_to(self, authorities: set[str] | None, categories: set[str] | None) -> list[SeededFinding]:
        return [
            f
            for f in self.findings
            if (authorities is None or f.authority_code in authorities)
            and (categories is None or f.category in categories)
        ]


def _key(category: Category, authority: str, document: str) -> RecordIdentity:
    return RecordIdentity.of(category, authority, document)


def seed_run(tx: Tx, run_id: str, *, now: datetime, record_id: str) -> SeededRun:
    """A finished check run over two pairs: six findings, one of every kind; `record_id` is the
    harness's seeded penalty (OWNER's), named by the first two findings."""
    facts = penalty_facts()
    penalty = PairKey(category=Category.ADMIN_PENALTY.value, owner_system=CC, mirror_system=GS)
    abnormal = PairKey(category=Category.ABNORMAL_OPERATIONS.value, owner_system=GS, mirror_system=CC)
    own = facts.identity
    hostile = _key(Category.ADMIN_PENALTY, OTHER, HOSTILE)
    formula = _key(Category.ADMIN_PENALTY, OTHER, FORMULA)
    listed = _key(Category.ABNORMAL_OPERATIONS, OWNER, "甘市监异〔2026〕3号")
    twice = _key(Category.ABNORMAL_OPERATIONS, OTHER, "甘市监异〔2026〕4号")
    published = {"status": "published", "reason": None}
    stopped = {"status": "stopped", "reason": "repaired"}
    penalty_findings = [
        NewFinding(
            kind="missing_in_mirror",
            side=None,
            identity_key=own.key,
            record_id=record_id,
            owner_value={**published, "decision_date": "2026-03-01"},
            mirror_value=None,
            action=FindingAction.WOULD_HEAL,
        ),
        NewFinding(
            kind="field_mismatch",
            side=None,
            identity_key=own.key,
            record_id=record_id,
            owner_value={**published, "decision_date": "2026-03-01", "amount": "5000"},
            mirror_value={**published, "decision_date": "2026-03-02", "amount": "5000"},
            detail={"fields": [{"name": "decision_date", "owner": "2026-03-01", "mirror": "2026-03-02"}]},
            action=FindingAction.WOULD_HEAL,
        ),
        NewFinding(
            kind="extra_in_mirror",
            side=None,
            identity_key=hostile.key,
            record_id=None,
            owner_value=None,
            mirror_value={**published, "document_number": HOSTILE},
            action=FindingAction.NOT_HEALABLE,
            action_reason="unknown to the owner: a person must decide",
        ),
        NewFinding(
            kind="state_mismatch",
            side=None,
            identity_key=formula.key,
            record_id=formula.record_id,
            owner_value=stopped,
            mirror_value=published,
            action=FindingAction.WOULD_HEAL,
        ),
    ]
    abnormal_findings = [
        NewFinding(
            kind="foreign_stop",
            side="mirror",
            identity_key=listed.key,
            record_id=listed.record_id,
            owner_value=published,
            mirror_value=stopped,
            detail={"stopped_by": CC},
            action=FindingAction.NOT_HEALABLE,
            action_reason="多头修复: stopped by a system that does not own the record",
        ),
        NewFinding(
            kind="duplicate",
            side="owner",
            identity_key=twice.key,
            record_id=twice.record_id,
            owner_value=published,
            mirror_value=published,
            detail={"count": 2},
            action=FindingAction.NOT_HEALABLE,
            action_reason="two rows of one identity at the owner",
        ),
    ]
    create_run(
        tx,
        run_id=run_id,
        mode=RunMode.DRY_RUN,
        scope=RunScope(),
        origin="cli",
        owner="tests",
        lease_until=now + timedelta(minutes=5),
        now=now,
    )
    for pair, findings, rows in ((penalty, penalty_findings, (120, 118)), (abnormal, abnormal_findings, (40, 40))):
        start_pair(tx, run_id, pair, now=now)
        store_progress(tx, run_id, pair, findings, checkpoint=max(f.identity_key for f in findings), heals=0, now=now)
        finish_pair(
            tx,
            run_id,
            pair,
            status=PairStatus.DONE,
            owner_rows=rows[0],
            mirror_rows=rows[1],
            unreadable=0,
            error=None,
            now=now,
        )
    finish_run(tx, run_id, status=RunStatus.SUCCEEDED, error=None, now=now + timedelta(seconds=3))
    seeded: list[SeededFinding] = []
    for pair, findings in ((penalty, penalty_findings), (abnormal, abnormal_findings)):
        for finding in findings:
            _category, authority, document = finding.identity_key.split("\x1f")
            seeded.append(
                SeededFinding(
                    seq=len(seeded) + 1,
                    kind=finding.kind,
                    category=pair.category,
                    owner_system=pair.owner_system,
                    mirror_system=pair.mirror_system,
                    system=pair.owner_system if finding.side == "owner" else pair.mirror_system,
                    authority_code=authority,
                    document_number=document,
                    record_id=finding.record_id,
                )
            )
    return SeededRun(run_id=run_id, findings=tuple(seeded))
