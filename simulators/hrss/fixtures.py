"""The HR department's own 前置库 rows (docs/protocols.md §8), in the order it wrote them.

Awkward on purpose: a responsible person with a masked ID number beside the unit listed under the
same decision, a lower-case USCC, a GB18030-only character (𠮷), one object updated twice, and a
removal (`d`) without a reason.
"""

from __future__ import annotations

from typing import Any

_UNIT = {
    "DXBH": "RS2025-0007-1",
    "RDWSH": "甘人社失惩〔2025〕7号",
    "DXLX": "1",
    "DXMC": "兰州示例建筑劳务有限公司",
    "TYSHXYDM": "91620121MA72RN01XM",
    "ZJHM": "",
    "FDDBR": "何某某",
    "SSDW": "",
    "LRSY": "拖欠农民工工资86万元，经责令限期支付逾期未支付",
    "SJJE": "860000.00",
    "RDBM": "甘肃省人力资源和社会保障厅",
    "RDBMDM": "11620000MA72RN0959",
    "LRRQ": "2025-03-10",
    "LRQX": "2028-03-09",
    "YCLX": "",
    "YCRQ": "",
    "YCYY": "",
}

HRSS_ROWS: list[dict[str, Any]] = [
    {**_UNIT, "CZBZ": "i", "CZSJ": "2025-03-10 09:00:00.000"},
    {
        # The unit's legal representative, listed under the same decision; ID number masked.
        **_UNIT,
        "DXBH": "RS2025-0007-2",
        "DXLX": "2",
        "DXMC": "何某某",
        "TYSHXYDM": "",
        "ZJHM": "6201**********2516",
        "FDDBR": "",
        "SSDW": "兰州示例建筑劳务有限公司",
        "CZBZ": "i",
        "CZSJ": "2025-03-10 09:00:00.000",
    },
    {
        "DXBH": "RS2025-0019-1",
        "RDWSH": "嘉人社失惩〔2025〕19号",
        "DXLX": "1",
        "DXMC": "嘉峪关示例𠮷安建设工程有限公司",
        "TYSHXYDM": "91620702ma72rn0284",  # lower case, as typed
        "ZJHM": "",
        "FDDBR": "罗某",
        "SSDW": "",
        "LRSY": "拖欠农民工工资31万元",
        "SJJE": "310000.00",
        "RDBM": "嘉峪关市人力资源和社会保障局",
        "RDBMDM": "11620000MA72RN0959",
        "LRRQ": "2025-06-02",
        "LRQX": "2028-06-01",
        "YCLX": "",
        "YCRQ": "",
        "YCYY": "",
        "CZBZ": "i",
        "CZSJ": "2025-06-02 10:30:00.000",
    },
]
# The same object updated twice (the amount corrected, then the reason reworded).
HRSS_ROWS.append({**HRSS_ROWS[2], "SJJE": "312500.00", "CZBZ": "u", "CZSJ": "2025-06-03 08:00:00.000"})
HRSS_ROWS.append(
    {**HRSS_ROWS[3], "LRSY": "拖欠农民工工资31.25万元，逾期未支付", "CZBZ": "u", "CZSJ": "2025-06-03 08:00:05.000"}
)
# Removed early, without a reason recorded.
HRSS_ROWS.append(
    {
        **_UNIT,
        "DXBH": "RS2024-0031-1",
        "RDWSH": "天人社失惩〔2024〕31号",
        "DXMC": "天水示例劳务派遣有限公司",
        "TYSHXYDM": "91620502MA72TX0183",
        "FDDBR": "邓某",
        "LRSY": "拖欠农民工工资12万元",
        "SJJE": "120000.00",
        "RDBM": "天水市人力资源和社会保障局",
        "LRRQ": "2024-08-20",
        "LRQX": "2027-08-19",
        "CZBZ": "i",
        "CZSJ": "2024-08-20 15:00:00.000",
    }
)
HRSS_ROWS.append(
    {**HRSS_ROWS[5], "YCLX": "02", "YCRQ": "2025-09-01", "YCYY": "", "CZBZ": "d", "CZSJ": "2025-09-01 11:00:00.000"}
)
