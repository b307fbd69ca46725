"""GSXT's 市场监督管理严重违法失信名单 (`seriousillegal`, SAMR Order 44; docs/protocols.md §2a).

Fields after the ZJ table `dw_zj_scjdgl_yzwfsx` (lists.md §6), in GSXT's camelCase. Removal keeps
the row: `isMove "1"` with date, reason and deciding office. Periods: 3 years on the list, early
removal by credit repair after at least 1 year; removal for a revoked penalty or deregistration at
any time.
"""

from __future__ import annotations

from datetime import date
from typing import Any

TABLE = "seriousillegal"
FIELDS = (
    "illCompId", "priPID", "uniSCID", "entName", "regNo", "serILLRea", "abnTime", "decOrg", "decOrgCode",
    "penDecNo", "isMove", "remType", "remDate", "remExcpresRea", "reDecOrg", "dscCity", "dscAdmRegion",
    "updateTime",
)  # fmt: skip
LISTING_YEARS = 3
EARLY_MIN_YEARS = 1
# remType: how a listing ended, with the reason text GSXT shows when the operator gives none.
REM_TYPES = {
    "1": ("列入届满3年，自动移出", LISTING_YEARS),
    "2": ("信用修复，提前移出", EARLY_MIN_YEARS),
    "3": ("据以列入的行政处罚决定被撤销", 0),
    "4": ("企业注销，自动移出", 0),
}


def earliest_removal(listed: date, rem_type: str) -> date:
    years = REM_TYPES[rem_type][1]
    try:
        return listed.replace(year=listed.year + years)
    except ValueError:  # 29 February
        return listed.replace(year=listed.year + years, day=28)


SERIOUS_FIXTURES: list[dict[str, Any]] = [
    {
        # Escalated after three years on the 经营异常名录 (the observed ZJ reason literal).
        "illCompId": "62SX2025000001",
        "priPID": "6201020000000101",
        "uniSCID": "91620102MA72CT0140",
        "entName": "兰州示例商贸有限公司",
        "regNo": "620102000012345",
        "serILLRea": "被列入异常名录届满3年仍未履行相关义务的",
        "abnTime": "2025-04-08",
        "decOrg": "兰州市市场监督管理局",
        "decOrgCode": "11620100MA72SC0001",
        "penDecNo": "兰市监严列〔2025〕6号",
        "isMove": "0",
        "remType": "",
        "remDate": "",
        "remExcpresRea": "",
        "reDecOrg": "",
        "dscCity": "兰州市",
        "dscAdmRegion": "城关区",
        "updateTime": "2025-04-08 10:00:00",
    },
    {
        # A 较重行政处罚 plus the art. 12 weighing; lower-case code as keyed in.
        "illCompId": "62SX2025000002",
        "priPID": "6205020000000207",
        "uniSCID": "91620502ma72tx0183",
        "entName": "天水示例食品有限公司",
        "regNo": "",
        "serILLRea": "生产经营不符合食品安全标准的食品，受到较重行政处罚，性质恶劣、情节严重、社会危害较大",
        "abnTime": "2025-09-15",
        "decOrg": "甘肃省市场监督管理局",
        "decOrgCode": "11620000MA72SC0002",
        "penDecNo": "甘市监严列〔2025〕2号",
        "isMove": "0",
        "remType": "",
        "remDate": "",
        "remExcpresRea": "",
        "reDecOrg": "",
        "dscCity": "天水市",
        "dscAdmRegion": "秦州区",
        "updateTime": "2025-09-15 16:20:00",
    },
    {
        # Already removed: the row stays, with date, reason and deciding office.
        "illCompId": "62SX2023000009",
        "priPID": "6204020000000033",
        "uniSCID": "91620402MA72YJ017A",
        "entName": "白银示例矿业有限公司",
        "regNo": "620402000001111",
        "serILLRea": "被列入异常名录届满3年仍未履行相关义务的",
        "abnTime": "2023-06-01",
        "decOrg": "白银市市场监督管理局",
        "decOrgCode": "11620400MA72SC0003",
        "penDecNo": "白市监严列〔2023〕1号",
        "isMove": "1",
        "remType": "4",
        "remDate": "2025-10-09",
        "remExcpresRea": "企业注销，自动移出",
        "reDecOrg": "白银市市场监督管理局",
        "dscCity": "白银市",
        "dscAdmRegion": "白银区",
        "updateTime": "2025-10-09 09:00:00",
    },
]
