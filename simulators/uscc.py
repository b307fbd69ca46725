"""统一社会信用代码 (GB 32100-2015) arithmetic, written here on purpose.

The simulators must not share this code with the gateway: if both sides used one implementation a
bug in it would agree with itself (see docs/protocols.md, preamble).
"""

from __future__ import annotations

# The 31 characters allowed in a USCC, in value order (no I, O, S, V, Z).
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {char: value for value, char in enumerate(CHARSET)}
# W_i = 3^(i-1) mod 31 for positions 1..17.
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# GB 11714 组织机构代码 weights for its 8 body characters.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def check_char(first17: str) -> str:
    """The 18th character for the first 17 (which must already be upper-case and in CHARSET)."""
    if len(first17) != 17:
        raise ValueError("a USCC body has 17 characters")
    total = sum(_VALUES[char] * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def is_well_formed(code: str) -> bool:
    """18 characters from the USCC alphabet (case-insensitive); says nothing about the checksum."""
    return len(code) == 18 and all(char in _VALUES for char in code.upper())


def is_valid(code: str) -> bool:
    """Well formed and the check character matches."""
    if not is_well_formed(code):
        return False
    upper = code.upper()
    return upper[17] == check_char(upper[:17])


def org_code_check_char(body8: str) -> str:
    """GB 11714 check character of an 8-character organisation-code body (digits, A–Z)."""
    if len(body8) != 8:
        raise ValueError("an organisation-code body has 8 characters")
    total = sum(_org_value(char) * weight for char, weight in zip(body8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(prefix2: str, area6: str, org_body8: str) -> str:
    """Assemble a valid USCC: registration dept + kind, area code, org code (+ its check), check char."""
    body = f"{prefix2}{area6}{org_body8}{org_code_check_char(org_body8)}"
    return body + check_char(body)


def _org_value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    raise ValueError(f"not an organisation-code character: {char!r}")
