"""What the gateway refuses to apply from a feed, and how a quarantined change is masked. Pure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.domain.categories import AuthorityDomain, Category
from gateway.domain.intake import REMOVAL_REASONS, refusal
from gateway.domain.model import PUBLISHED, StopReason, TargetState, stopped
from gateway.domain.plan import Observation
from gateway.quarantine import mask_value, masked_row
from tests.conftest import T0, penalty_facts

CC, GS = "creditchina_gansu", "gsxt_gansu"
# domain.md §3.1: 移出原因 → the 列入原因 it may end (None: any).
PAIRS = {"1": {"1"}, "2": {"2"}, "3": {"3"}, "4": {"4"}, "5": {"4"}, "6": None, "7": None}


def listing(cause: str | None) -> Observation:
    facts = replace(
        penalty_facts(),
        category=Category.ABNORMAL_OPERATIONS,
        authority_domain=AuthorityDomain.MARKET_REGULATION,
        listing_cause=cause,
    )
    return Observation(source=GS, facts=facts, target=PUBLISHED, changed_at=T0, source_version="1")


def removal(cause: str | None, reason: str | None) -> Observation:
    target = stopped(StopReason.EXPIRED if reason == "6" else StopReason.REMOVED)
    return replace(listing(cause), target=target, removal_reason=reason)


@pytest.mark.parametrize("reason", sorted(PAIRS))
@pytest.mark.parametrize("cause", ["1", "2", "3", "4"])
def test_every_removal_reason_is_checked_against_the_listing_cause(cause: str, reason: str) -> None:
    refused = refusal(removal(cause, reason))
    allowed = PAIRS[reason]
    if allowed is None or cause in allowed:
        assert refused is None
    else:
        assert refused is not None and (refused.code, refused.field) == ("removal_reason_mismatch", "removal_reason")
        assert f"移出原因 {reason}" in refused.message and f"列入原因 {cause}" in refused.message


def test_the_pairing_table_is_the_domain_table() -> None:
    assert {k: (None if v[1] is None else set(v[1])) for k, v in REMOVAL_REASONS.items()} == PAIRS


@pytest.mark.parametrize(
    ("cause", "reason", "code"),
    [("4", None, "removal_reason_missing"), ("4", "9", "unknown_code_value"), (None, "1", "listing_cause_unknown")],
)
def test_a_removal_that_cannot_be_checked_is_refused(cause: str | None, reason: str | None, code: str) -> None:
    refused = refusal(removal(cause, reason))
    assert refused is not None and refused.code == code


def test_a_mirror_report_of_a_removal_is_not_checked_there() -> None:
    """信用中国 carries no 移出原因: the pairing is checked on the owner's (GSXT's) feed."""
    assert refusal(replace(removal("4", None), source=CC)) is None


@pytest.mark.parametrize(
    ("category", "target", "fits"),
    [
        (Category.ADMIN_PENALTY, stopped(StopReason.REMOVED), False),
        (Category.ADMIN_PENALTY, stopped(StopReason.REPAIRED), True),
        (Category.ABNORMAL_OPERATIONS, stopped(StopReason.REPAIRED), False),
        (Category.COURT_DISHONEST, stopped(StopReason.REMOVED), True),
        (Category.COURT_DISHONEST, PUBLISHED, True),
    ],
)
def test_a_state_the_category_does_not_have_is_refused(category: Category, target: TargetState, fits: bool) -> None:
    observation = replace(listing("4"), facts=replace(listing("4").facts, category=category), target=target)
    if target.reason is StopReason.REMOVED and category is Category.ABNORMAL_OPERATIONS:
        observation = replace(observation, removal_reason="4")
    refused = refusal(observation)
    assert (refused is None) is fits
    if not fits:
        assert refused is not None and refused.code == "state_not_for_category"


def test_personal_id_numbers_and_secrets_are_masked() -> None:
    row = {
        "CF_XDR_ZJHM": "11010519491231002X",
        "CF_FR_ZJHM": "",
        "token": "abc",
        "BZ": "身份证11010519491231002X；旧证110105491231002",
        "CF_XDR_SHXYM": "91620102MA72ABCD94",
        "CF_CFJGDM": "913502000728319549",  # digits only, but not an ID number (its check fails)
        "nested": {"password": "p", "list": ["11010519491231002x"]},
    }
    assert masked_row(row) == {
        "CF_XDR_ZJHM": "***",
        "CF_FR_ZJHM": "",
        "token": "***",
        "BZ": "身份证110105************；旧证110105*********",
        "CF_XDR_SHXYM": "91620102MA72ABCD94",
        "CF_CFJGDM": "913502000728319549",
        "nested": {"password": "***", "list": ["110105************"]},
    }
    assert mask_value(3) == 3


def test_a_mapping_error_quoting_an_id_number_is_masked_too() -> None:
    from gateway.contract import NativeChange, UnmappableRow
    from gateway.quarantine import Problem, examine

    class Quoting:
        system = CC

        def to_observation(self, change: NativeChange) -> Observation | None:
            raise UnmappableRow("CF_JDRQ: not a date: '11010519491231002X'", field="CF_JDRQ")

    change = NativeChange(change_key="k", source_version="1", changed_at=T0, kind="CF", native_id=None, row={})
    problem = examine(Quoting(), change)  # type: ignore[arg-type]
    assert problem == Problem(reason="unmappable", message="CF_JDRQ: not a date: '110105************'", field="CF_JDRQ")


@pytest.mark.parametrize(
    ("decision", "publication", "field"),
    [
        ("2026-05-02", None, "decision_date"),  # decided the day after the system recorded it (T0, Beijing)
        ("2026-04-20", "2026-04-19", "publication_date"),  # published before it was decided
    ],
)
def test_impossible_dates_are_refused(decision: str, publication: str | None, field: str) -> None:
    from datetime import date

    facts = replace(
        penalty_facts(),
        decision_date=date.fromisoformat(decision),
        publication_date=date.fromisoformat(publication) if publication else None,
    )
    observation = Observation(source=CC, facts=facts, target=PUBLISHED, changed_at=T0, source_version="1")
    refused = refusal(observation)
    assert refused is not None and (refused.code, refused.field) == ("impossible_date", field)


def test_dates_on_the_boundaries_are_possible() -> None:
    from datetime import date

    # Decided on the day the system recorded it (Beijing) and published that day.
    facts = replace(penalty_facts(), decision_date=date(2026, 5, 1), publication_date=date(2026, 5, 1))
    late_utc = T0.replace(hour=20)  # 2026-05-02 04:00 in Beijing: the decision day is not after it
    assert (
        refusal(Observation(source=CC, facts=facts, target=PUBLISHED, changed_at=late_utc, source_version="1")) is None
    )
    assert refusal(Observation(source=CC, facts=facts, target=PUBLISHED, changed_at=T0, source_version="1")) is None
