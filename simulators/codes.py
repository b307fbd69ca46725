"""Code tables shared by the world and both simulated systems (domain.md §2.3, §3.1)."""

from __future__ import annotations

# 行政处罚法 art. 9 kinds; anything else must be spelled "其他-<name>" or "其他".
PENALTY_KINDS = frozenset(
    {
        "警告",
        "通报批评",
        "罚款",
        "没收违法所得",
        "没收非法财物",
        "暂扣许可证件",
        "降低资质等级",
        "吊销许可证件",
        "限制开展生产经营活动",
        "责令停产停业",
        "责令关闭",
        "限制从业",
        "行政拘留",
    }
)
KIND_SEPARATOR = ";"

# 列入经营异常名录原因 (SpeCause).
SPE_CAUSES = {
    "1": "未依照《企业信息公示暂行条例》第八条规定的期限公示年度报告",
    "2": "未在责令的期限内公示有关企业信息",
    "3": "公示企业信息隐瞒真实情况、弄虚作假",
    "4": "通过登记的住所或者经营场所无法联系",
}

# 移出经营异常名录原因 (remExcpres) and the listing causes each may end. None = any cause.
REM_EXCPRES: dict[str, tuple[str, frozenset[str] | None]] = {
    "1": ("【已补报年度报告】", frozenset({"1"})),
    "2": ("【已履行公示义务】", frozenset({"2"})),
    "3": ("【已更正公示信息】", frozenset({"3"})),
    "4": ("【已变更登记住所】", frozenset({"4"})),
    "5": ("【已重新取得联系】", frozenset({"4"})),
    "6": ("【列入异常届满】", None),
    "7": ("企业注（吊）销，不再列入", None),
}


def bad_penalty_kind(joined: str) -> str | None:
    """The first kind of a `;`-joined list that is not a known literal, or None when all are fine."""
    for kind in joined.split(KIND_SEPARATOR):
        if kind not in PENALTY_KINDS and not (kind == "其他" or kind.startswith("其他-")):
            return kind
    return None


def removal_pairs(spe_cause: str, rem_excpres: str) -> bool:
    """Whether a removal reason may end a listing with this cause (domain.md §3.1 table)."""
    entry = REM_EXCPRES.get(rem_excpres)
    if entry is None:
        return False
    allowed = entry[1]
    return allowed is None or spe_cause in allowed
