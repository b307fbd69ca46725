"""Who mirrors each list (gateway/domain/categories.py, ADR 0028): 信用中国（甘肃） every list; GSXT owns
the 经营异常名录 and the SAMR serious list, mirrors the work-safety list of enterprises and
个体工商户 (its `othersxmd` intake) and no other department's list; GSXT never shows a natural person."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System, mirrors_of, owner_of
from gateway.domain.model import PUBLISHED, RecordFacts
from gateway.domain.plan import Observation, Policy, plan
from tests.adapter_contract import CONTRACT_FACTS

LISTS = [c for c in Category if c is not Category.ADMIN_PENALTY]
ON_GSXT = {Category.WORK_SAFETY}
ENTERPRISES = [SubjectType.LEGAL_ENTITY, SubjectType.INDIVIDUAL_BUSINESS]


@pytest.mark.parametrize("category", [c for c in LISTS if c not in ON_GSXT], ids=lambda c: c.value)
@pytest.mark.parametrize("subject", list(SubjectType), ids=lambda s: s.value)
def test_every_other_list_is_mirrored_on_creditchina_only(category: Category, subject: SubjectType) -> None:
    for domain in AuthorityDomain:
        assert mirrors_of(category, domain, subject) == (System.CREDITCHINA_GANSU,)
        assert owner_of(category, domain) is not System.CREDITCHINA_GANSU


@pytest.mark.parametrize("subject", ENTERPRISES, ids=lambda s: s.value)
def test_the_work_safety_list_of_an_enterprise_is_mirrored_on_creditchina_and_gsxt(subject: SubjectType) -> None:
    for domain in AuthorityDomain:
        assert mirrors_of(Category.WORK_SAFETY, domain, subject) == (System.CREDITCHINA_GANSU, System.GSXT_GANSU)


def test_a_person_on_the_work_safety_list_is_never_sent_to_gsxt() -> None:
    for domain in AuthorityDomain:
        assert mirrors_of(Category.WORK_SAFETY, domain, SubjectType.NATURAL_PERSON) == (System.CREDITCHINA_GANSU,)


def test_gsxt_owns_its_two_lists_and_never_mirrors_a_person() -> None:
    for category in (Category.ABNORMAL_OPERATIONS, Category.SAMR_SERIOUS):
        assert owner_of(category, AuthorityDomain.MARKET_REGULATION) is System.GSXT_GANSU
    for category in Category:
        for domain in AuthorityDomain:
            assert System.GSXT_GANSU not in mirrors_of(category, domain, SubjectType.NATURAL_PERSON)


# ---- through the plan: what an owner's report fans out to ------------------------------------

EMERGENCY, CC, GS = System.EMERGENCY.value, System.CREDITCHINA_GANSU.value, System.GSXT_GANSU.value
POLICY = Policy(enabled_systems=frozenset({EMERGENCY, CC, GS}), read_only=frozenset({EMERGENCY}))


def _reported(facts: RecordFacts) -> Observation:
    return Observation(
        source=EMERGENCY,
        facts=facts,
        target=PUBLISHED,
        changed_at=datetime(2026, 1, 5, 2, 0, tzinfo=UTC),
        source_version="0001",
        native_id="JL1",
    )


def test_an_enterprise_on_the_work_safety_list_is_delivered_to_creditchina_and_gsxt() -> None:
    result = plan(_reported(CONTRACT_FACTS[Category.WORK_SAFETY](1)), None, {}, POLICY)
    assert sorted(d.system for d in result.deliveries) == [CC, GS]


def test_a_person_on_the_work_safety_list_is_delivered_to_creditchina_only() -> None:
    person = replace(
        CONTRACT_FACTS[Category.WORK_SAFETY](2),
        subject_type=SubjectType.NATURAL_PERSON,
        subject_code=None,
        subject_code_checksum_ok=None,
        subject_id_masked="6201**********1234",
    )
    result = plan(_reported(person), None, {}, POLICY)
    assert [d.system for d in result.deliveries] == [CC]
