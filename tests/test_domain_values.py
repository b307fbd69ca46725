"""USCC check character, identity normalisation, ownership and retry decisions."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from gateway.domain import uscc
from gateway.domain.categories import (
    AuthorityDomain,
    Category,
    SubjectType,
    System,
    classify_authority,
    mirrors_of,
    owner_of,
)
from gateway.domain.identity import RecordIdentity
from gateway.domain.retry import FailureKind, RetryPolicy, Verdict, backoff, decide
from tests.conftest import T0

VECTORS = [
    ("91350200776049653A", True),
    ("91350500798359476R", True),
    ("913502000728319549", True),
    ("91440101MA5CJQ4N59", True),
    ("91330203674737244W", True),
    ("91350203M0001QAY9B", False),  # legally valid pilot code that fails the checksum
    ("91350100M0001TGQXM", False),
    ("91350200776049653B", False),
    ("91620102MA72ABCD94", True),
    ("00000000000000000X", False),
]


@pytest.mark.parametrize(("code", "valid"), VECTORS)
def test_uscc_check_character_matches_published_vectors(code: str, valid: bool) -> None:
    result = uscc.check(code)
    assert result.well_formed
    assert result.checksum_ok is valid


def test_uscc_normalises_case_and_width_and_rejects_malformed() -> None:
    assert uscc.check("91330203674737244w").checksum_ok
    assert uscc.check("９１３３０２０３６７４７３７２４４Ｗ").code == "91330203674737244W"
    assert not uscc.check("91330203674737244").well_formed
    assert not uscc.check("9133020367473724IO").well_formed


def test_identity_normalises_full_width_and_spaces() -> None:
    a = RecordIdentity.of(Category.ADMIN_PENALTY, "11620100mb0000000x", "兰环罚〔2026〕 12号")
    b = RecordIdentity.of(Category.ADMIN_PENALTY, "11620100MB0000000X", "兰环罚〔２０２６〕12号")
    assert a == b and a.record_id == b.record_id
    other = RecordIdentity.of(Category.ABNORMAL_OPERATIONS, a.authority_code, "兰环罚〔2026〕12号")
    assert a.record_id != other.record_id


def test_ownership_table_follows_who_decides_who_repairs() -> None:
    assert owner_of(Category.ADMIN_PENALTY, AuthorityDomain.MARKET_REGULATION) is System.GSXT_GANSU
    assert owner_of(Category.ADMIN_PENALTY, AuthorityDomain.OTHER) is System.CREDITCHINA_GANSU
    assert owner_of(Category.ABNORMAL_OPERATIONS, AuthorityDomain.MARKET_REGULATION) is System.GSXT_GANSU
    assert owner_of(Category.COURT_DISHONEST, AuthorityDomain.OTHER) is System.COURT
    assert owner_of(Category.WAGE_ARREARS, AuthorityDomain.OTHER) is System.HRSS
    assert mirrors_of(Category.ADMIN_PENALTY, AuthorityDomain.OTHER, SubjectType.LEGAL_ENTITY) == (System.GSXT_GANSU,)
    assert mirrors_of(Category.ADMIN_PENALTY, AuthorityDomain.OTHER, SubjectType.NATURAL_PERSON) == ()
    assert mirrors_of(Category.TAX_MAJOR_VIOLATION, AuthorityDomain.OTHER, SubjectType.LEGAL_ENTITY) == (
        System.CREDITCHINA_GANSU,
    )
    assert classify_authority("兰州市市场监督管理局") is AuthorityDomain.MARKET_REGULATION
    assert classify_authority("兰州市生态环境局") is AuthorityDomain.OTHER


def test_retry_decisions() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=2, max_delay=60, jitter=0)
    rng = random.Random(1)
    retry = decide(FailureKind.RETRYABLE, attempts=1, now=T0, policy=policy, rng=rng)
    assert retry.verdict is Verdict.RETRY and retry.next_attempt_at == T0 + timedelta(seconds=2)
    later = decide(FailureKind.RETRYABLE, attempts=2, now=T0, policy=policy, rng=rng)
    assert later.next_attempt_at == T0 + timedelta(seconds=4)
    assert decide(FailureKind.RETRYABLE, attempts=3, now=T0, policy=policy, rng=rng).verdict is Verdict.DEAD
    assert decide(FailureKind.PERMANENT, attempts=1, now=T0, policy=policy, rng=rng).verdict is Verdict.DEAD
    assert decide(FailureKind.IGNORABLE, attempts=1, now=T0, policy=policy, rng=rng).verdict is Verdict.DONE
    limited = decide(FailureKind.RATE_LIMITED, attempts=1, now=T0, policy=policy, rng=rng, retry_after=30)
    assert limited.next_attempt_at == T0 + timedelta(seconds=30)
    assert backoff(policy, 20, rng) == 60  # capped


def test_backoff_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(base_delay=10, max_delay=1000, jitter=0.2)
    rng = random.Random(7)
    for attempts in range(1, 8):
        delay = backoff(policy, attempts, rng)
        nominal = min(1000, 10 * 2 ** (attempts - 1))
        assert 0.8 * nominal <= delay <= 1.2 * nominal


def test_domain_has_no_io_imports() -> None:
    import ast
    from pathlib import Path

    banned = {"aiohttp", "sqlite3", "psycopg", "psycopg_pool", "asyncio", "socket", "requests", "tenacity"}
    for path in Path("gateway/domain").glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in banned, f"{path} imports {name}"
