"""统一社会信用代码 for synthetic subjects and authorities (GB 32100-2015, domain.md §6).

Written here rather than imported from the gateway or the simulators: the benchmark feeds both, and
codes it made with either side's arithmetic would agree with that side by construction.
"""

from __future__ import annotations

# 31 characters, values 0..30 in this order (no I, O, S, V, Z).
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {char: value for value, char in enumerate(CHARSET)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, …
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 组织机构代码


def check_char(first17: str) -> str:
    """C18 = 31 − (Σ value·weight mod 31), 31 → 0, mapped back through the charset."""
    if len(first17) != 17:
        raise ValueError(f"a USCC body has 17 characters, not {len(first17)}")
    total = sum(_VALUE[char] * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def org_check_char(body8: str) -> str:
    """Check character of an 8-character organisation-code body: 11 − (Σ mod 11), 10 → X, 11 → 0."""
    if len(body8) != 8:
        raise ValueError(f"an organisation-code body has 8 characters, not {len(body8)}")
    total = sum(_org_value(char) * weight for char, weight in zip(body8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(department_kind: str, area: str, org_body: str) -> str:
    """E.g. ("91", "620102", "00001234"): 登记管理部门 + 机构类别, 行政区划, 主体标识码 (+ its check), C18."""
    body = f"{department_kind}{area}{org_body}{org_check_char(org_body)}"
    return body + check_char(body)


def is_valid(code: str) -> bool:
    upper = code.upper()
    return len(upper) == 18 and all(c in _VALUE for c in upper) and upper[17] == check_char(upper[:17])


def _org_value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    raise ValueError(f"not an organisation-code character: {char!r}")
