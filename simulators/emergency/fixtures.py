"""The emergency-management department's own native rows (docs/protocols.md §9).

Awkward on purpose: a lower-case USCC, an institution's staff member listed as a person with a
masked ID number, a row already removed early, a removal without a reason (empty `ycyy`).
"""

from __future__ import annotations

from typing import Any

EMERGENCY_ROWS: list[dict[str, Any]] = [
    {
        "jlid": "YJ2025000101",
        "dwmc": "白银示例矿业有限公司",
        "tyshxydm": "91620402MA72YJ017A",
        "zcdz": "甘肃省白银市白银区示例路3号",
        "ztlx": "1",
        "zyfzr": "马某某",
        "zjhm": "",
        "sxxwjk": "发生一起较大生产安全事故，造成3人死亡",
        "lryj": "《安全生产严重失信主体名单管理办法》第五条第（一）项",
        "cfjdswh": "（白）应急罚〔2025〕12号",
        "rdjg": "白银市应急管理局",
        "rdjgdm": "11620000MA72YJ092R",
        "lrrq": "2025/03/18",
        "glqxz": "2028/03/17",
        "zt": "10",
        "ycrq": "",
        "ycyy": "",
        "gxsj": "2025-03-18T09:12:00+08:00",
    },
    {
        # Lower-case USCC, as the department's clerks type it.
        "jlid": "YJ2025000102",
        "dwmc": "武威示例化工有限公司",
        "tyshxydm": "91620802ma72yj025r",
        "zcdz": "甘肃省平凉市崆峒区示例街5号",
        "ztlx": "1",
        "zyfzr": "周某",
        "zjhm": "",
        "sxxwjk": "未批先建危险化学品生产装置，拒不整改",
        "lryj": "《安全生产严重失信主体名单管理办法》第五条第（六）项",
        "cfjdswh": "（甘）应急罚〔2025〕3号",
        "rdjg": "甘肃省应急管理厅",
        "rdjgdm": "11620000MA72YJ092R",
        "lrrq": "2025/05/06",
        "glqxz": "2028/05/05",
        "zt": "10",
        "ycrq": "",
        "ycyy": "",
        "gxsj": "2025-05-06T15:00:00+08:00",
    },
    {
        # A 安全评价机构 staff member: a person, ID number masked as the department publishes it.
        "jlid": "YJ2025000103",
        "dwmc": "韩某",
        "tyshxydm": "",
        "zcdz": "",
        "ztlx": "3",
        "zyfzr": "",
        "zjhm": "6204**********3317",
        "sxxwjk": "出具虚假安全评价报告（所属机构：甘肃示例安全评价有限公司）",
        "lryj": "《安全生产严重失信主体名单管理办法》第五条第（九）项",
        "cfjdswh": "（甘）应急罚〔2025〕9号",
        "rdjg": "甘肃省应急管理厅",
        "rdjgdm": "11620000MA72YJ092R",
        "lrrq": "2025/07/01",
        "glqxz": "2028/06/30",
        "zt": "10",
        "ycrq": "",
        "ycyy": "",
        "gxsj": "2025-07-01T10:00:00+08:00",
    },
    {
        # Removed early without a reason given (empty ycyy).
        "jlid": "YJ2024000077",
        "dwmc": "金昌示例冶金有限公司",
        "tyshxydm": "12620000MA72YJ033K",
        "zcdz": "甘肃省金昌市金川区示例路10号",
        "ztlx": "1",
        "zyfzr": "杨某",
        "zjhm": "",
        "sxxwjk": "瞒报生产安全事故",
        "lryj": "《安全生产严重失信主体名单管理办法》第五条第（二）项",
        "cfjdswh": "（金）应急罚〔2024〕5号",
        "rdjg": "金昌市应急管理局",
        "rdjgdm": "11620000MA72YJ092R",
        "lrrq": "2024/04/02",
        "glqxz": "2027/04/01",
        "zt": "22",
        "ycrq": "2025/06/20",
        "ycyy": "",
        "gxsj": "2025-06-20T16:40:00+08:00",
    },
]
