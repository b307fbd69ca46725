"""Every fact of the rule data carries where it comes from and how sure we are (domain.md legend)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class Confidence(StrEnum):
    """domain.md's markers, plus one for values an operator configured."""

    VERIFIED = "V"  # wording seen in the source named next to it (often a third-party mirror)
    RECALLED = "R"  # recalled, NOT verified: a lead to confirm
    INFERRED = "I"  # inference or design choice: unverified
    CONFIGURED = "C"  # set by the operator in settings, replacing the rule data's value

    @property
    def verified(self) -> bool:
        return self is Confidence.VERIFIED


@dataclass(frozen=True, kw_only=True)
class Sourced(Generic[T]):
    """A value of the rule data with its source (instrument, article, domain.md section) and confidence."""

    value: T
    source: str
    confidence: Confidence


@dataclass(frozen=True, kw_only=True)
class Note:
    """A sourced sentence: a condition, a material, a time limit, an exclusion."""

    code: str
    text: str
    source: str
    confidence: Confidence


def configured(value: T, setting: str) -> Sourced[T]:
    """A value the operator set, replacing the rule data's one."""
    return Sourced(value=value, source=f"operator setting {setting}", confidence=Confidence.CONFIGURED)
