"""Row kinds and columns of 信用中国（甘肃） (docs/protocols.md §1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class RowKind:
    rowtype: str  # ROWTYPE: "CF" penalty, "YC" abnormal list, "MD" list entry
    legacy: bool
    columns: tuple[str, ...]  # native content columns, in the order the pull returns them
    key: tuple[str, str]  # business key: (document number, deciding-authority code)
    required: tuple[str, ...]  # required on push (current generation only is pushed)
    uscc_columns: tuple[str, ...]
    date_columns: tuple[str, ...]


CF_CURRENT = RowKind(
    rowtype="CF",
    legacy=False,
    columns=(
        "CF_XDR_MC", "CF_XDR_LB", "CF_XDR_SHXYM", "CF_FRDB", "CF_WSH", "CF_WFXW", "CF_SY", "CF_YJ",
        "CF_CFLB", "CF_NR", "CF_NR_FK", "CF_NR_WFFF", "CF_JDRQ", "CF_YXQ", "CF_GSJZQ", "CF_CFJG",
        "CF_CFJGDM", "CF_SJLY", "CF_SJLYDM", "BZ", "CF_SXCD",
    ),
    key=("CF_WSH", "CF_CFJGDM"),
    required=("CF_XDR_MC", "CF_XDR_LB", "CF_WSH", "CF_CFLB", "CF_JDRQ", "CF_CFJG", "CF_CFJGDM"),
    uscc_columns=("CF_XDR_SHXYM", "CF_CFJGDM", "CF_SJLYDM"),
    date_columns=("CF_JDRQ", "CF_YXQ", "CF_GSJZQ"),
)  # fmt: skip

CF_LEGACY = RowKind(
    rowtype="CF",
    legacy=True,
    columns=(
        "CF_WSH", "CF_CFMC", "CF_CFLB1", "CF_CFLB2", "CF_SY", "CF_YJ", "CF_XDR_MC", "CF_XDR_SHXYM",
        "CF_XDR_ZDM", "CF_FR", "CF_JG", "CF_JDRQ", "CF_XZJG", "CF_XZJGDM", "DFBM",
    ),
    key=("CF_WSH", "CF_XZJGDM"),
    required=("CF_WSH", "CF_XZJGDM"),
    uscc_columns=("CF_XDR_SHXYM", "CF_XZJGDM"),
    date_columns=("CF_JDRQ",),
)  # fmt: skip

YC = RowKind(
    rowtype="YC",
    legacy=False,
    columns=(
        "YC_QYMC", "YC_TYSHXYDM", "YC_LRYY", "YC_LRYYDM", "YC_LRRQ", "YC_JDJG", "YC_JDJGDM", "YC_WSH",
    ),
    key=("YC_WSH", "YC_JDJGDM"),
    required=("YC_QYMC", "YC_TYSHXYDM", "YC_LRYYDM", "YC_LRRQ", "YC_JDJG", "YC_JDJGDM", "YC_WSH"),
    uscc_columns=("YC_TYSHXYDM", "YC_JDJGDM"),
    date_columns=("YC_LRRQ",),
)  # fmt: skip

# List entries (名单) mirrored from their owners: the six list authorities and GSXT's serious list
# (docs/protocols.md §1, "List rows"). MD_JLBH is the owner's own identity of the entry.
MD = RowKind(
    rowtype="MD",
    legacy=False,
    columns=(
        "MD_MDLB", "MD_JLBH", "MD_DXMC", "MD_DXLB", "MD_TYSHXYDM", "MD_ZJHM", "MD_FDDBR", "MD_LRYY",
        "MD_LRYJ", "MD_WSH", "MD_RDJG", "MD_RDJGDM", "MD_LRRQ", "MD_YXQZ", "MD_YCRQ", "MD_YCYY",
    ),
    key=("MD_JLBH", "MD_RDJGDM"),
    required=("MD_MDLB", "MD_JLBH", "MD_DXMC", "MD_DXLB", "MD_LRYY", "MD_RDJG", "MD_RDJGDM", "MD_LRRQ"),
    # MD_RDJGDM identifies the deciding authority as its owner does (a 统一社会信用代码, a court's
    # 法院代码, or the name where the owner names it only): checked as a USCC only when it is one.
    uscc_columns=("MD_TYSHXYDM",),
    date_columns=("MD_LRRQ", "MD_YXQZ", "MD_YCRQ"),
)  # fmt: skip
# 名单类别 (MD_MDLB): the nine categories' lists, by owner.
MDLB_VALUES = {
    "01": "失信被执行人",
    "02": "重大税收违法失信主体",
    "03": "拖欠农民工工资失信联合惩戒对象",
    "04": "安全生产严重失信主体",
    "05": "统计严重失信企业",
    "06": "社会组织严重违法失信名单",
    "07": "市场监督管理严重违法失信名单",
}

STATUS_COLUMNS = ("CF_ZT", "GSZT", "ZZYY", "ZZRQ")
STATUS_DEFAULTS = {"CF_ZT": "0", "GSZT": "1", "ZZYY": "", "ZZRQ": ""}
# Set by the platform; tolerated on push and ignored.
PLATFORM_COLUMNS = ("ROWTYPE", "SJC", "ID")

CF_ZT_VALUES = ("0", "1", "2", "3")
ZZYY_VALUES = ("01", "02", "03", "04")
XDR_LB_VALUES = ("法人及非法人组织", "自然人", "个体工商户")
SXCD_VALUES = ("轻微", "一般", "严重")  # Order 36 失信程度; empty: not classified (yet)


def stored_kind(rowtype: str, row: Mapping[str, str]) -> RowKind | None:
    """The kind of a row loaded by an operator: a CF row without CF_XDR_LB but with CF_XZJGDM is legacy."""
    if rowtype == "YC":
        return YC
    if rowtype == "MD":
        return MD
    if rowtype == "CF":
        return CF_LEGACY if "CF_XDR_LB" not in row and "CF_XZJGDM" in row else CF_CURRENT
    return None
