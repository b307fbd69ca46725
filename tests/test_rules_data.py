"""The rule data is ONE source: the evaluator and the guidance read the same values, every rule is
reachable from guidance, every fact carries a source and a confidence marker, and the rules
package stays pure."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System, owner_of
from gateway.domain.rules import (
    Confidence,
    Period,
    Sourced,
    all_guidance,
    allowed_removal_reasons,
    evaluate,
    guidance,
    removal_reason_matches,
)
from gateway.domain.rules import data as rule_data
from gateway.domain.rules.schema import Channel, ListRegime, Rulebook, UniformPenaltyRegime
from gateway.domain.rules.sources import Note
from tests.test_rules_evaluate import facts, listed

CC = System.CREDITCHINA_GANSU


def _walk(value: Any) -> Iterator[Any]:
    """Every value nested in a piece of rule data (dataclasses, tuples, frozensets)."""
    yield value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name))
    elif isinstance(value, tuple | list | frozenset | set):
        for item in value:
            yield from _walk(item)


def test_changing_a_period_in_the_rule_data_changes_guidance_and_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    record = facts()  # Order 58: minimum 3 months from 2025-01-15
    before = evaluate(record, CC, today=date(2025, 5, 1))
    assert before.minimum is not None and before.minimum.last_day == date(2025, 4, 15)

    order58 = rule_data.RULEBOOK.regime("ndrc_order_58")
    assert isinstance(order58, UniformPenaltyRegime)
    longer = replace(order58, minimum=replace(order58.minimum, value=Period.of_months(5)))
    book = replace(
        rule_data.RULEBOOK, regimes=tuple(longer if r.id == longer.id else r for r in rule_data.RULEBOOK.regimes)
    )
    monkeypatch.setattr(rule_data, "RULEBOOK", book)

    after = evaluate(record, CC, today=date(2025, 5, 1))
    assert after.minimum is not None and after.minimum.last_day == date(2025, 6, 15)
    assert after.eligible is False
    rule = next(r for r in guidance(Category.ADMIN_PENALTY).rules if r.id == "ndrc_order_58")
    minimums = [p.period.value for p in rule.periods if p.kind == "minimum"]
    assert Period.of_months(5) in minimums and Period.of_months(3) not in minimums


def test_every_regime_and_every_period_is_reachable_from_guidance() -> None:
    shown: dict[str, set[Period]] = {}
    for found in all_guidance():
        for rule in found.rules:
            shown.setdefault(rule.id, set()).update(p.period.value for p in rule.periods)
    for regime in rule_data.RULEBOOK.regimes:
        assert regime.id in shown, f"{regime.id} is not reachable from guidance"
        periods = {v.value for v in _walk(regime) if isinstance(v, Sourced) and isinstance(v.value, Period)}
        periods |= {v for v in _walk(regime) if isinstance(v, Period)}
        assert periods <= shown[regime.id], (regime.id, periods - shown[regime.id])


def test_every_condition_and_exclusion_is_in_guidance() -> None:
    texts = {
        n.text
        for found in all_guidance()
        for rule in found.rules
        for n in (*rule.conditions, *rule.exclusions, *rule.notes, *((rule.effect,) if rule.effect else ()))
    }
    for regime in rule_data.RULEBOOK.regimes:
        for note in (*regime.all_conditions(), *regime.notes, *regime.exclusions()):
            assert note.text in texts, (regime.id, note.code)


def test_every_fact_has_a_source_and_a_marker() -> None:
    book = rule_data.RULEBOOK
    for value in _walk(book):
        if isinstance(value, Sourced | Note | Channel):
            assert value.source.strip(), value
            assert value.confidence in (Confidence.VERIFIED, Confidence.RECALLED, Confidence.INFERRED), value
    markers = {v.confidence for v in _walk(book) if isinstance(v, Sourced | Note | Channel)}
    assert markers == {Confidence.VERIFIED, Confidence.RECALLED, Confidence.INFERRED}


def test_markers_of_domain_md_are_kept() -> None:
    book = rule_data.RULEBOOK

    def regime(regime_id: str) -> ListRegime:
        found = book.regime(regime_id)
        assert isinstance(found, ListRegime)
        return found

    assert regime("mohrss_order_45").maximum.confidence is Confidence.VERIFIED  # type: ignore[union-attr]
    assert regime("spc_dishonest_2017").maximum.confidence is Confidence.RECALLED  # type: ignore[union-attr]
    assert regime("samr_order_44").early_after.confidence is Confidence.RECALLED  # type: ignore[union-attr]
    assert regime("sat_order_54").maximum.confidence is Confidence.RECALLED  # type: ignore[union-attr]
    order58 = book.regime("ndrc_order_58")
    assert isinstance(order58, UniformPenaltyRegime)
    assert order58.minimum.confidence is Confidence.VERIFIED
    assert order58.not_published_alone.confidence is Confidence.RECALLED


def test_guidance_routes_follow_the_ownership_table() -> None:
    for found in all_guidance():
        assert found.routes
        for route in found.routes:
            domains = [route.authority_domain] if route.authority_domain else list(AuthorityDomain)
            for domain in domains:
                assert route.owner is owner_of(found.category, domain), (found.category, route.applies_when)
        assert found.responsible_units.source.endswith(f"row {list(Category).index(found.category) + 1}")


def test_guidance_of_the_penalty_category_names_both_windows_and_the_seed_sites() -> None:
    found = guidance(Category.ADMIN_PENALTY)
    owners = {route.owner for route in found.routes}
    assert owners == {System.CREDITCHINA_GANSU, System.GSXT_GANSU}
    urls = {c.url for route in found.routes for c in route.where_to_apply}
    assert {"https://credit.gansu.gov.cn", "https://www.creditchina.gov.cn"} <= urls
    assert [r.id for r in found.rules] == ["ndrc_order_58", "ndrc_order_36", "samr_order_45"]


def test_rulebook_refuses_inconsistent_data() -> None:
    book = rule_data.RULEBOOK
    with pytest.raises(ValueError, match="unique"):
        Rulebook(regimes=(*book.regimes, book.regimes[0]), guides=book.guides)
    with pytest.raises(ValueError, match="one guide per category"):
        Rulebook(regimes=book.regimes, guides=book.guides[1:])
    order36 = book.regime("ndrc_order_36")
    overlapping = replace(order36, id="x", applies_from=date(2026, 3, 1))
    with pytest.raises(ValueError, match="overlap"):
        Rulebook(regimes=(*[r for r in book.regimes if r.id != order36.id], overlapping), guides=book.guides)


@pytest.mark.parametrize(
    ("cause", "reason", "expected"),
    [
        ("1", "1", True),
        ("1", "2", False),
        ("2", "2", True),
        ("3", "3", True),
        ("3", "4", False),
        ("4", "4", True),
        ("4", "5", True),
        ("4", "1", False),
        ("2", "6", True),  # 届满: the registry's own, any cause
        ("3", "7", True),  # 注吊销: any cause
        (None, "7", True),
        (None, "1", None),  # cause unknown: cannot be judged, not guessed
        ("1", "9", False),  # no such reason
    ],
)
def test_abnormal_list_removal_pairing(cause: str | None, reason: str, expected: bool | None) -> None:
    assert removal_reason_matches(cause, reason) is expected


def test_allowed_removal_reasons() -> None:
    assert allowed_removal_reasons("4") == {"4", "5", "6", "7"}
    assert allowed_removal_reasons("9") == {"6", "7"}


def test_guidance_shows_overrides_as_configured() -> None:
    from gateway.domain.rules import ListOverride, RuleOverrides

    pinned = RuleOverrides(
        gsxt_low_fine_below_wan_yuan={SubjectType.LEGAL_ENTITY: __import__("decimal").Decimal("1")},
        lists={Category.COURT_DISHONEST: ListOverride(maximum_months=30)},
    )
    court = guidance(Category.COURT_DISHONEST, overrides=pinned).rules[0]
    maximum = next(p for p in court.periods if p.kind == "maximum")
    assert maximum.period.value == Period.of_months(30) and maximum.period.confidence is Confidence.CONFIGURED
    penalty = next(r for r in guidance(Category.ADMIN_PENALTY, overrides=pinned).rules if r.id == "samr_order_45")
    low = next(n for n in penalty.exclusions if n.code == "low_fine_legal_entity")
    assert low.confidence is Confidence.CONFIGURED and " 1 万元" in low.text
    assert evaluate(listed(Category.COURT_DISHONEST), System.COURT, today=date(2025, 2, 1), overrides=pinned).maximum


@pytest.mark.parametrize("path", [*Path("gateway/domain/rules").glob("*.py"), Path("gateway/domain/workdays.py")])
def test_rules_and_calendar_are_pure(path: Path) -> None:
    banned = {
        "aiohttp",
        "sqlite3",
        "psycopg",
        "psycopg_pool",
        "asyncio",
        "socket",
        "requests",
        "tenacity",
        "pydantic",
        "pydantic_settings",
        "chinese_calendar",
        "gateway.settings",
        "gateway.store",
        "gateway.api",
        "os",
        "time",
        "pathlib",
        "io",
    }
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert name not in banned and name.split(".")[0] not in banned, f"{path} imports {name}"
        if isinstance(node, ast.Attribute) and node.attr in {"today", "now", "utcnow"}:
            raise AssertionError(f"{path} reads a clock ({node.attr})")


def test_settings_build_overrides_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from decimal import Decimal

    from gateway.settings import Settings

    monkeypatch.setenv("CREDITGW_RULES__GSXT_LOW_FINE_BELOW_WAN_YUAN__LEGAL_ENTITY", "3")
    monkeypatch.setenv("CREDITGW_RULES__LISTS__COURT_DISHONEST__MAXIMUM_MONTHS", "24")
    monkeypatch.setenv("CREDITGW_RULES__LISTS__WAGE_ARREARS__EARLY_REMOVAL_AFTER_MONTHS", "0")
    overrides = Settings().rules.overrides()  # type: ignore[call-arg]
    assert overrides.gsxt_low_fine_below_wan_yuan == {SubjectType.LEGAL_ENTITY: Decimal("3")}
    wage = evaluate(listed(Category.WAGE_ARREARS), System.HRSS, today=date(2025, 1, 16), overrides=overrides)
    assert wage.minimum is None and wage.eligible is True
    court = evaluate(listed(Category.COURT_DISHONEST), System.COURT, today=date(2025, 1, 16), overrides=overrides)
    assert court.maximum is not None and court.maximum.last_day == date(2027, 1, 15)


def test_settings_refuse_overrides_that_name_no_list() -> None:
    from pydantic import ValidationError

    from gateway.settings import Settings

    with pytest.raises(ValidationError, match="no list regime"):
        Settings.model_validate({"rules": {"lists": {"admin_penalty": {"maximum_months": 12}}}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"rules": {"gsxt_low_fine_below_wan_yuan": {"legal_entity": "-1"}}})
    with pytest.raises(ValidationError):
        Settings.model_validate({"rules": {"lists": {"court_dishonest": {"maximum_months": 0}}}})
