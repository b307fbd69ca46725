"""Issue 10 item 2: what the rules say is not published (警告 only on either system; Order 36 轻微 by
default) is never written to a publishing system, a mirror that does not show it is never set back,
and a copy published before is stopped by the sweep with the reason — on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from gateway.domain.expiry import expiry_decision, expiry_of
from gateway.domain.model import PUBLISHED, RecordFacts, Severity, StopReason, stopped
from gateway.domain.plan import Observation
from gateway.domain.rules import Code, withheld_reason
from gateway.observability import REGISTRY
from gateway.runtime import Runtime
from gateway.store.database import Tx
from gateway.sync.ingest import apply_event
from tests.conftest import penalty_facts
from tests.test_sweep import NOW, SEEN, cc_owned, deliver_all, record, seed
from tests.test_sweep import runtime as runtime  # the fixture: both databases, no connectors

CC, GS = "creditchina_gansu", "gsxt_gansu"
TODAY = date(2026, 11, 26)


def warning_only(document_number: str = "兰环罚〔2025〕3号") -> RecordFacts:
    """信用中国-owned, Order 58 (decided 2025-06-10), 警告 only: published on neither system."""
    return replace(cc_owned(document_number, date(2025, 6, 10)), penalty_kinds=("警告",))


def minor(document_number: str = "兰环罚〔2026〕21号") -> RecordFacts:
    """Order 36 (decided 2026-04-20) 轻微: not published by default."""
    return replace(penalty_facts(document_number=document_number), severity=Severity.MINOR)


def general_warning(document_number: str = "兰环罚〔2026〕22号") -> RecordFacts:
    """Order 36 一般 (published on 信用中国), 警告 only: GSXT does not publish it (SAMR 45号令 art. 2)."""
    return replace(penalty_facts(document_number=document_number), severity=Severity.GENERAL, penalty_kinds=("警告",))


async def outbox(runtime: Runtime, record_id: str) -> list[dict[str, Any]]:
    return await runtime.db.run(
        lambda tx: [
            dict(r)
            for r in tx.all(
                "SELECT target, state_status, state_reason, state_stopped_on FROM outbox WHERE record_id = ?"
                " ORDER BY id",
                (record_id,),
            )
        ],
        write=False,
    )


async def report(runtime: Runtime, facts: RecordFacts, source: str, target: Any, version: str) -> str:
    event = Observation(source=source, facts=facts, target=target, changed_at=SEEN, source_version=version)
    policy = runtime.policy

    def _apply(tx: Tx) -> str:
        return apply_event(tx, event, source=source, change_key=f"{source}-{version}", policy=policy, now=SEEN).outcome

    return await runtime.db.run(_apply)


def test_the_rules_say_what_is_withheld_where() -> None:
    assert withheld_reason(warning_only(), CC).code == Code.WARNING_ONLY_NOT_PUBLISHED  # type: ignore[union-attr]
    assert withheld_reason(warning_only(), GS).code == Code.WARNING_ONLY_NOT_PUBLISHED  # type: ignore[union-attr]
    assert withheld_reason(minor(), CC).code == Code.NOT_PUBLISHED_BY_DEFAULT  # type: ignore[union-attr]
    assert withheld_reason(general_warning(), CC) is None
    assert withheld_reason(general_warning(), GS).code == Code.WARNING_ONLY_NOT_PUBLISHED  # type: ignore[union-attr]
    assert withheld_reason(cc_owned(), GS) is None


@pytest.mark.parametrize(
    "make", [warning_only, minor, general_warning], ids=["warning-only", "minor", "general-warning"]
)
async def test_what_the_rules_do_not_publish_is_never_written_to_gsxt(runtime: Runtime, make: Any) -> None:
    facts = make()
    await seed(runtime, facts)
    assert [r for r in await outbox(runtime, facts.record_id) if r["state_status"] == "published"] == []
    # Control: a penalty the rules publish goes to GSXT as before.
    published = cc_owned("兰环罚〔2025〕9号", date(2025, 6, 10))
    await seed(runtime, published)
    assert [r["target"] for r in await outbox(runtime, published.record_id)] == [GS]


async def test_a_mirror_that_does_not_show_a_withheld_record_is_not_set_back(runtime: Runtime) -> None:
    facts = general_warning()
    await seed(runtime, facts)
    # GSXT (where it was shown before the fix) stops it itself: right, nothing is sent back.
    assert await report(runtime, facts, GS, stopped(StopReason.EXPIRED), "000002") == "unchanged"
    assert await outbox(runtime, facts.record_id) == []


@pytest.mark.parametrize(
    ("make", "reason"),
    [(warning_only, "warning_only_not_published"), (minor, "not_published_by_default")],
    ids=["warning-only", "minor"],
)
async def test_the_sweep_stops_an_existing_published_copy_with_its_reason(
    runtime: Runtime, make: Any, reason: str
) -> None:
    facts = make()
    await seed(runtime, facts)
    assert await report(runtime, facts, GS, PUBLISHED, "000001") == "unchanged"  # shown on GSXT from before
    before = REGISTRY.get_sample_value("creditgw_sweep_withheld_total", {"reason": reason}) or 0

    dry = await runtime.sweep(today=TODAY, dry_run=True)
    assert (dry.expired, dict(dry.withheld)) == (0, {reason: 1})
    swept = await runtime.sweep(today=TODAY)
    assert (swept.expired, dict(swept.withheld), swept.as_json()["withheld"]) == (0, {reason: 1}, {reason: 1})
    assert REGISTRY.get_sample_value("creditgw_sweep_withheld_total", {"reason": reason}) == before + 1
    # Stopped everywhere it is published, dated the day the sweep stopped it (the 终止日期 written).
    rows = await outbox(runtime, facts.record_id)
    assert {(r["target"], r["state_reason"], r["state_stopped_on"]) for r in rows} == {
        (CC, "expired", TODAY.isoformat()),
        (GS, "expired", TODAY.isoformat()),
    }
    await deliver_all(runtime)
    again = await runtime.sweep(today=date(2026, 11, 27))
    assert (again.scanned, dict(again.withheld)) == (0, {})  # idempotent: nothing published is left
    audit = await runtime.db.run(
        lambda tx: tx.all(
            "SELECT detail FROM audit WHERE record_id = ? AND kind = 'state_changed'", (facts.record_id,)
        ),
        write=False,
    )
    assert any(reason in a["detail"] and "不予公示" in a["detail"] for a in audit)


def test_the_withheld_decision_is_deterministic_and_never_older_than_the_state() -> None:
    rec = record(warning_only())
    expiry = expiry_of(rec.facts)
    assert expiry.withheld == "warning_only_not_published" and expiry.skip_reason is None
    decision = expiry_decision(rec, expiry, TODAY)
    assert decision is not None and decision.stopped_on == TODAY
    assert decision == expiry_decision(rec, expiry, TODAY)
    assert decision.decided_at >= rec.state.decided_at and NOW  # the runtime clock never dates it


async def test_the_sweep_stops_a_mirror_copy_only_the_mirrors_rules_withhold(runtime: Runtime) -> None:
    """信用中国 publishes a 一般 警告-only penalty (Order 36); GSXT, which showed it before the fix,
    does not publish 警告-only penalties: its copy alone is stopped, 信用中国 keeps it."""
    facts = general_warning()
    await seed(runtime, facts)
    assert await report(runtime, facts, GS, PUBLISHED, "000001") == "unchanged"  # GSXT shows a copy

    dry = await runtime.sweep(today=TODAY, dry_run=True)
    assert (dict(dry.withheld), dict(dry.deliveries)) == ({"warning_only_not_published": 1}, {GS: 1})
    assert await outbox(runtime, facts.record_id) == []
    swept = await runtime.sweep(today=TODAY)
    assert (swept.expired, dict(swept.withheld)) == (0, {"warning_only_not_published": 1})
    assert await outbox(runtime, facts.record_id) == [
        {"target": GS, "state_status": "stopped", "state_reason": "expired", "state_stopped_on": TODAY.isoformat()}
    ]
    record = await runtime.db.run(
        lambda tx: tx.one("SELECT status, version FROM records WHERE record_id = ?", (facts.record_id,)), write=False
    )
    assert (record["status"], record["version"]) == ("published", 2)  # the owner still shows it
    assert (await runtime.sweep(today=TODAY)).withheld == {}  # queued: not sent twice
    await deliver_all(runtime)
    assert (await runtime.sweep(today=date(2026, 11, 27))).withheld == {}  # stopped: nothing left
    # GSXT's feed echoes the stop: neither set back nor a divergence.
    assert await report(runtime, facts, GS, stopped(StopReason.EXPIRED), "000002") == "echo"
    assert [r["target"] for r in await outbox(runtime, facts.record_id)] == [GS]
