"""Issue 10 item 1: a penalty's sector (食品、药品、特种设备、安全生产、消防) is derived from what the record
carries — legal basis, authority, violation — as rule data with sources; when it cannot be told the
record is "not evaluable: sector unknown" and never gets the short minimum. Boundaries on both clocks
(decision date on 信用中国, publication date on GSXT), both regimes, and every sector the data names;
the 告知书, the reminders' day and the sweep's day follow."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from gateway.domain.categories import System
from gateway.domain.expiry import expiry_of
from gateway.domain.model import DomainFlag, RecordFacts, Severity
from gateway.domain.rules import Code, evaluate, expires_on, minimum_ends_on, schedule
from gateway.domain.rules.data import ORDER_58, RULEBOOK, SAMR_PENALTIES, SECTORS
from gateway.domain.rules.sectors import cited_statutes, derive_sectors
from gateway.domain.rules.sources import Confidence
from gateway.notice import build_notice, render_notice
from tests.conftest import penalty_facts
from tests.test_rules_evaluate import assert_maximum_boundary, assert_minimum_boundary

CC, GS = System.CREDITCHINA_GANSU, System.GSXT_GANSU
ONE = timedelta(days=1)
MULTI_SECTOR = "兰州市市场监督管理局"  # decides food, drugs, special equipment … and much else
LONG_ON_GSXT = SAMR_PENALTIES.long_early_flags.value


def penalty(**changes: Any) -> RecordFacts:
    """A penalty of a legal entity owned by 信用中国 and mirrored on GSXT, by a multi-sector authority,
    with nothing that tells its sector (decided 2025-11-30, published on GSXT 2024-02-29)."""
    base = replace(
        penalty_facts(authority_name=MULTI_SECTOR),
        decision_date=date(2025, 11, 30),
        publication_date=date(2024, 2, 29),
        penalty_kinds=("没收违法所得",),
        violation="违法行为",
    )
    return replace(base, **changes)


def _evidence() -> list[tuple[str, DomainFlag, dict[str, Any]]]:
    """Every way the rule data names to tell every sector: its statutes, authorities and words."""
    cases = []
    for marker in SECTORS.markers:
        for law in sorted(marker.laws.value):
            cases.append(
                (f"{marker.sector.value} law {law}", marker.sector, {"legal_basis": f"《中华人民共和国{law}》第十条"})
            )
        for authority in sorted(marker.authorities.value):
            cases.append(
                (
                    f"{marker.sector.value} authority {authority}",
                    marker.sector,
                    {"authority_name": f"兰州市{authority}"},
                )
            )
        for term in sorted(marker.violation_terms.value):
            cases.append((f"{marker.sector.value} term {term}", marker.sector, {"violation": f"未按规定管理{term}"}))
    return cases


EVIDENCE = _evidence()


def test_the_rule_data_names_every_sector_with_sources() -> None:
    assert {m.sector for m in SECTORS.markers} == set(DomainFlag)
    assert ORDER_58.long_minimum_flags.value <= {m.sector for m in SECTORS.markers}
    for marker in SECTORS.markers:
        for fact in (marker.laws, marker.authorities, marker.violation_terms):
            assert fact.source and fact.confidence is Confidence.INFERRED  # a design reading: marked so
        assert marker.laws.value, marker.sector  # every sector has at least its statute
    assert RULEBOOK.sectors is SECTORS


def test_a_fire_penalty_gets_the_one_year_minimum_on_creditchina() -> None:
    """The regression: a 消防救援 penalty decided 2025-11-30 was given 2026-02-28 (three months)."""
    fire = penalty(authority_name="兰州市消防救援支队", violation="占用、堵塞、封闭疏散通道、安全出口")
    assert_minimum_boundary(fire, CC, date(2026, 11, 30))
    assert minimum_ends_on(fire, CC) == date(2026, 12, 1)
    text = render_notice(build_notice(fire))
    assert "最短公示期至2026年11月30日届满，自2026年12月1日起可按规定申请信用修复" in text
    assert "2026年2月28日" not in text


@pytest.mark.parametrize(("sector", "changes"), [c[1:] for c in EVIDENCE], ids=[c[0] for c in EVIDENCE])
def test_every_sector_on_both_clocks(sector: DomainFlag, changes: dict[str, Any]) -> None:
    record = penalty(**changes)
    finding = derive_sectors(record, SECTORS)
    assert finding.known and sector in finding.sectors, finding
    # 信用中国, Order 58, decision clock: 2025-11-30 + 1 year (month end kept), maximum 3 years.
    assert_minimum_boundary(record, CC, date(2026, 11, 30))
    assert_maximum_boundary(record, CC, date(2028, 11, 30))
    # GSXT, publication clock from a leap day: 1 year for food, drugs, special equipment; else 6 months.
    gsxt_last = date(2025, 2, 28) if sector in LONG_ON_GSXT else date(2024, 8, 29)
    assert_minimum_boundary(record, GS, gsxt_last)
    assert_maximum_boundary(record, GS, date(2027, 2, 28))
    e = evaluate(record, CC, today=date(2026, 1, 1))
    assert Code.SECTOR_DERIVED in [n.code for n in e.notes]


@pytest.mark.parametrize("marker", SECTORS.markers, ids=[m.sector.value for m in SECTORS.markers])
def test_regime_switch_with_a_sector(marker: Any) -> None:
    """Order 58 up to 2026-03-31 (sector: 1 year); Order 36 from 2026-04-01 (the tier decides)."""
    law = {"legal_basis": f"《{sorted(marker.laws.value)[0]}》"}
    last_58 = penalty(decision_date=date(2026, 3, 31), **law)
    assert schedule(last_58, CC).regime is ORDER_58
    assert_minimum_boundary(last_58, CC, date(2027, 3, 31))
    first_36 = penalty(decision_date=date(2026, 4, 1), severity=Severity.GENERAL, **law)
    assert_minimum_boundary(first_36, CC, date(2026, 7, 1))
    assert_maximum_boundary(first_36, CC, date(2027, 4, 1))
    assert not schedule(replace(first_36, severity=None), CC).evaluable


def test_no_sector_when_the_legal_basis_names_none() -> None:
    price = penalty(legal_basis="《中华人民共和国价格法》第四十二条；《中华人民共和国行政处罚法》第二十八条")
    assert_minimum_boundary(price, CC, date(2026, 2, 28))  # three months, month end
    assert_minimum_boundary(price, GS, date(2024, 8, 29))  # six months from the leap day


def test_no_sector_for_an_authority_whose_remit_holds_none() -> None:
    environment = penalty(authority_name="兰州市生态环境局", violation="超标排放大气污染物")
    assert_minimum_boundary(environment, CC, date(2026, 2, 28))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"legal_basis": "《中华人民共和国行政处罚法》第二十八条"},  # procedure only: says nothing of the sector
        {"authority_name": "兰州市住房和城乡建设局", "violation": "未取得施工许可证擅自施工"},
    ],
    ids=["nothing", "procedural law only", "multi-sector authority"],
)
@pytest.mark.parametrize("system", [CC, GS])
def test_sector_unknown_is_not_evaluable_and_never_the_short_minimum(changes: dict[str, Any], system: System) -> None:
    record = penalty(**changes)
    assert not derive_sectors(record, SECTORS).known
    e = evaluate(record, system, today=date(2028, 1, 1))
    assert not e.evaluable and e.eligible is None and e.minimum is None
    assert [r.code for r in e.reasons] == [Code.SECTOR_UNKNOWN] and e.reasons[0].rule_ref
    assert minimum_ends_on(record, system) is None  # no reminder: the day is not known
    # The maximum does not depend on the sector: publicity still stops by itself (the sweep's day).
    stops = date(2028, 12, 1) if system is CC else date(2027, 3, 1)
    assert e.maximum is not None and e.maximum.first_day_after == stops
    assert expires_on(record, system) == stops


def test_sweep_and_notice_follow_an_unknown_sector() -> None:
    record = penalty()
    expiry = expiry_of(record)
    assert expiry.skip_reason is None and expiry.first_day_after == date(2028, 12, 1)
    text = render_notice(build_notice(record))
    assert "最短公示期无法计算" in text and "sector_unknown" in text
    assert "自2028年12月1日起相关信息自动停止公示" in text
    assert "可按规定申请信用修复；" not in text


def test_provincial_statutes_of_a_sector_count() -> None:
    food = penalty(legal_basis="《甘肃省食品安全条例》第三十条")
    assert derive_sectors(food, SECTORS).sectors == {DomainFlag.FOOD}
    assert cited_statutes("依据《中华人民共和国食品安全法》和《食品安全法》") == ("食品安全法",)


def test_reminders_follow_the_sector() -> None:
    """The reminder of a fire penalty falls on the one-year day; an unknown sector gets none."""
    from datetime import UTC, datetime

    from gateway.domain.model import PUBLISHED, CanonicalRecord, PublicityState
    from gateway.reminders import Due, Skip, reminder_due

    def published(facts: RecordFacts) -> CanonicalRecord:
        state = PublicityState(target=PUBLISHED, version=1, decided_by=CC, decided_at=datetime(2025, 12, 1, tzinfo=UTC))
        return CanonicalRecord(record_id=facts.record_id, facts=facts, state=state)

    fire = published(penalty(authority_name="兰州市消防救援支队"))
    assert reminder_due(fire, today=date(2026, 2, 25), lead_days=7, overrides=None) is Skip.OUTSIDE_WINDOW
    due = reminder_due(fire, today=date(2026, 11, 28), lead_days=7, overrides=None)
    assert isinstance(due, Due) and due.apply_from == date(2026, 12, 1)
    unknown = published(penalty())
    for day in (date(2026, 2, 25), date(2026, 11, 28)):
        assert reminder_due(unknown, today=day, lead_days=7, overrides=None) is Skip.NOT_APPLICABLE
