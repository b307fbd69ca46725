"""Natural persons' ID numbers (居民身份证号码) kept out of everything the gateway says.

The sources publish them masked (the court list: `410724************`, domain.md §4.2): the first
six digits (the region) shown, the rest starred. The gateway never unmasks; and if a number
arrives whole (in a free-text field, an echoed row), every answer, log line and dead letter
masks it the same way before it leaves (`mask_ids`).

A run of 18 characters is an ID number when positions 7–14 are a date of birth and the last is
the GB 11643 check character (ISO 7064 MOD 11-2); 15 digits when positions 7–12 are a date (the
pre-1999 form, no check). Checking keeps 统一社会信用代码 and document numbers, which merely look
alike, readable.
"""

from __future__ import annotations

import re
from typing import Any

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
SHOWN = 6


def _plausible_date(year: int, month: int, day: int) -> bool:
    return 1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31


def is_id_number(value: str) -> bool:
    if len(value) == 18 and value[:17].isdigit():
        if not _plausible_date(int(value[6:10]), int(value[10:12]), int(value[12:14])):
            return False
        total = sum(int(d) * w for d, w in zip(value[:17], _WEIGHTS, strict=True))
        return _CHECK[total % 11] == value[17].upper()
    if len(value) == 15 and value.isdigit():
        return _plausible_date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
    return False


def mask_id(value: str) -> str:
    return value[:SHOWN] + "*" * (len(value) - SHOWN)


def _mask_match(match: re.Match[str]) -> str:
    found = match.group(1)
    return mask_id(found) if is_id_number(found) else found


def mask_ids(text: str) -> str:
    """`text` with every whole ID number masked as the sources mask them."""
    if len(text) < 15:
        return text  # fast path: most values are short
    return _CANDIDATE.sub(_mask_match, text)


def mask_deep(value: Any) -> Any:
    """Strings inside dicts, lists and tuples masked (a dead letter's context, a log event)."""
    if isinstance(value, str):
        return mask_ids(value)
    if isinstance(value, dict):
        return {k: mask_deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_deep(v) for v in value)
    return value
