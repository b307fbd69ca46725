"""The tax bureau's own native rows (docs/protocols.md §7), after the NB `dw_nb_sw_zdsswfhmd` table.

Awkward on purpose: a legal representative's ID number with the birth-date segment masked (as the
statute has it), a lower-case 纳税人识别号, a row already removed (remove_tm set, and — as in the
observed table — no reason anywhere), a 15-digit old-style 纳税人识别号.
"""

from __future__ import annotations

from typing import Any

TAX_ROWS: list[dict[str, Any]] = [
    {
        "xh": "1",
        "tax_nm": "兰州示例能源贸易有限公司",
        "tax_no": "91620102MA72CT0140",
        "org_no": "MA72CT01-4",
        "reg_addr": "甘肃省兰州市城关区示例路1号",
        "legal_repre": "陈某某",
        "legal_repre_gender": "男",
        "legal_repre_id": "620102********1234",
        "main_illg_fact": (
            "经国家税务总局兰州市税务局第一稽查局检查，2022年1月至2023年12月采取虚假申报手段少缴增值税等税款1532000元。"
        ),
        "tax_punnish_state": "依法追缴税款1532000元，处少缴税款一倍罚款1532000元",
        "punish_basis": "《中华人民共和国税收征收管理法》第六十三条",
        "case_nature": "偷税",
        "qdwsh": "兰税一稽罚〔2025〕18号",
        "swjg_mc": "国家税务总局兰州市税务局第一稽查局",
        "entry_tm": "20250415",
        "remove_tm": "",
        "gxsj": "20250415093000",
    },
    {
        "xh": "2",
        "tax_nm": "天水示例商贸有限公司",
        "tax_no": "91620502ma72tx0183",  # lower case, as keyed in by the inspection bureau
        "org_no": "",
        "reg_addr": "甘肃省天水市秦州区示例街8号",
        "legal_repre": "刘某",
        "legal_repre_gender": "女",
        "legal_repre_id": "620502********562X",
        "main_illg_fact": "虚开增值税专用发票32份，价税合计4180000元。",
        "tax_punnish_state": "移送公安机关",
        "punish_basis": "《中华人民共和国发票管理办法》第二十一条",
        "case_nature": "虚开增值税专用发票",
        "qdwsh": "天税稽处〔2025〕7号",
        "swjg_mc": "国家税务总局天水市税务局稽查局",
        "entry_tm": "20250610",
        "remove_tm": "",
        "gxsj": "20250610100000",
    },
    {
        # Already removed (tax, fines and late fees paid): remove_tm set, no reason field exists.
        "xh": "3",
        "tax_nm": "白银示例化工有限公司",
        "tax_no": "620402710000123",  # a 15-digit 纳税人识别号 of the old style
        "org_no": "71000012-3",
        "reg_addr": "甘肃省白银市白银区示例大道6号",
        "legal_repre": "孙某",
        "legal_repre_gender": "男",
        "legal_repre_id": "620402********0018",
        "main_illg_fact": "骗取出口退税312000元。",
        "tax_punnish_state": "追缴骗取的退税款并处一倍罚款",
        "punish_basis": "《中华人民共和国税收征收管理法》第六十六条",
        "case_nature": "骗取出口退税",
        "qdwsh": "白税稽罚〔2024〕3号",
        "swjg_mc": "国家税务总局白银市税务局稽查局",
        "entry_tm": "20240301",
        "remove_tm": "20250901",
        "gxsj": "20250901160000",
    },
    {
        "xh": "4",
        "tax_nm": "酒泉示例𠮷祥物流有限公司",  # GB18030-only character (U+20BB7)
        "tax_no": "91620902MA72TJ0364",
        "org_no": "",
        "reg_addr": "甘肃省酒泉市肃州区示例路19号",
        "legal_repre": "",
        "legal_repre_gender": "",
        "legal_repre_id": "",
        "main_illg_fact": "走逃（失联），欠缴税款286000元。",
        "tax_punnish_state": "责令限期缴纳",
        "punish_basis": "《重大税收违法失信主体信息公布管理办法》第六条第（十）项",
        "case_nature": "走逃（失联）",
        "qdwsh": "酒税稽处〔2025〕21号",
        "swjg_mc": "国家税务总局酒泉市税务局稽查局",
        "entry_tm": "20250820",
        "remove_tm": "",
        "gxsj": "20250820083000",
    },
]
