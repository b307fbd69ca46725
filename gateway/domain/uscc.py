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


def _fullwidth(c: str) -> str:
    return chr(ord(c) + 0xFEE0)


# What the API takes from a caller (path, query, body), as a JSON Schema pattern the document
# states and the API checks: the 18 characters in either case, half- or full-width (as typed by
# hand), with spaces around. normalise() would take more (any NFKC form): the API does not.
_INPUT_CHARS = "".join(
    sorted({f(c) for c in CHARSET for f in (str, str.lower, _fullwidth, lambda c: _fullwidth(c.lower()))})
)
INPUT_PATTERN = f"^[ \u3000]*[{_INPUT_CHARS}]{{18}}[ \u3000]*$"
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
