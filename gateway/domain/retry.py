"""Failure classes and retry decisions. Pure: the caller passes the clock and the random source.

Short retries happen inside the call (tenacity, seconds); long ones are a `next_attempt_at` on the
outbox row (minutes to hours) so a restart loses nothing (STYLE.md §9).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class FailureKind(StrEnum):
    RETRYABLE = "retryable"  # transient: back off and try again
    RATE_LIMITED = "rate_limited"  # wait as told (Retry-After), then again
    PERMANENT = "permanent"  # dead-letter now; a person must look
    IGNORABLE = "ignorable"  # the target already is as we want: done


class DeliveryError(Exception):
    """Raised by adapters; the type says what happens next, the fields say why."""

    kind: FailureKind = FailureKind.RETRYABLE

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        body_excerpt: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body_excerpt = body_excerpt
        self.retry_after = retry_after

    def context(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "message": self.message,
            "status": self.status,
            "code": self.code,
            "body_excerpt": self.body_excerpt,
            "retry_after": self.retry_after,
        }


class RetryableError(DeliveryError):
    """A transient failure (5xx, reset, time-out, the system says it is busy)."""

    kind = FailureKind.RETRYABLE


class RateLimitedError(DeliveryError):
    """The system asked us to slow down."""

    kind = FailureKind.RATE_LIMITED


class PermanentError(DeliveryError):
    """The system refused the content; sending it again cannot help."""

    kind = FailureKind.PERMANENT


class IgnorableError(DeliveryError):
    """The system reports a state that makes the delivery unnecessary."""

    kind = FailureKind.IGNORABLE


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 10  # across restarts: attempts are counted on the outbox row
    base_delay: float = 2.0  # seconds
    max_delay: float = 3600.0
    jitter: float = 0.2  # ± fraction of the delay


class Verdict(StrEnum):
    DONE = "done"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True, kw_only=True)
class RetryDecision:
    verdict: Verdict
    next_attempt_at: datetime | None = None


def backoff(policy: RetryPolicy, attempts: int, rng: random.Random) -> float:
    """Capped exponential backoff with jitter, in seconds; `attempts` counts the failed ones."""
    delay = min(policy.max_delay, policy.base_delay * (2.0 ** max(0, attempts - 1)))
    return max(0.0, delay * (1 + rng.uniform(-policy.jitter, policy.jitter)))


def decide(
    kind: FailureKind,
    *,
    attempts: int,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    retry_after: float | None = None,
) -> RetryDecision:
    if kind is FailureKind.IGNORABLE:
        return RetryDecision(verdict=Verdict.DONE)
    if kind is FailureKind.PERMANENT or attempts >= policy.max_attempts:
        return RetryDecision(verdict=Verdict.DEAD)
    delay = backoff(policy, attempts, rng)
    if kind is FailureKind.RATE_LIMITED and retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_delay))
    return RetryDecision(verdict=Verdict.RETRY, next_attempt_at=now + timedelta(seconds=delay))
