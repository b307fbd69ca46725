"""统一社会信用代码 (GB 32100-2015): normalisation and check character.

A checksum failure is *flagged*, never a reason to reject: some early pilot codes are legally valid
but fail the check (domain.md §6). Only malformed codes (length, characters) are rejected.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(CHARSET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_SHAPE = re.compile(rf"^[{CHARSET}]{{18}}$")
# The shape as a caller may write it in a URL: ASCII, either case (JSON Schema, for the API document).
PATH_PATTERN = "^[0-9A-HJ-NP-RTUWXYa-hj-np-rtuwxy]{18}$"
# Stand-in used for individual businesses without a code; it fails the checksum by design.
PLACEHOLDER = "00000000000000000X"


def normalise(raw: str) -> str:
    """Full-width to half-width, trimmed, upper-cased (exports carry lower-case codes)."""
    return unicodedata.normalize("NFKC", raw).strip().upper()


def check_character(first17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


@dataclass(frozen=True, kw_only=True)
class UsccCheck:
    code: str
    well_formed: bool
    checksum_ok: bool


def check(raw: str) -> UsccCheck:
    code = normalise(raw)
    if not _SHAPE.match(code):
        return UsccCheck(code=code, well_formed=False, checksum_ok=False)
    return UsccCheck(code=code, well_formed=True, checksum_ok=check_character(code[:17]) == code[17])
