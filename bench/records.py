"""Synthetic penalty records for the benchmarks, numbered 0, 1, 2, …

Each is an administrative penalty of an enterprise decided by a non-market-regulation authority, so
信用中国（甘肃） owns it and GSXT（甘肃） mirrors it (as `otherpunish`): a repair through the API goes to
both systems. The same numbered record renders as canonical facts (to seed a gateway store directly)
and as a native 信用中国 `CF` row (to load into the simulator), and both name the same record id.
Every code carries a valid check character (bench/uscc.py); document numbers start at 900000 so they
never meet the simulators' seed world (numbers 1–400).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property

from bench.uscc import make_uscc
from gateway.domain.categories import AuthorityDomain, Category, SubjectType
from gateway.domain.identity import RecordIdentity
from gateway.domain.model import RecordFacts

_FIRST_NUMBER = 900_000
_SUBJECT_AREA = "620102"  # 兰州市城关区


@dataclass(frozen=True)
class _Authority:
    name: str
    area: str
    doc_prefix: str
    org_body: str
    offence: str  # 违法行为类型
    basis: str  # 处罚依据

    @cached_property
    def code(self) -> str:
        return make_uscc("11", self.area, self.org_body)  # 机构编制 / 机关


_AUTHORITIES = (
    _Authority(
        "兰州市生态环境局",
        "620100",
        "兰环罚",
        "01620001",
        "超标排放大气污染物",
        "《中华人民共和国大气污染防治法》第九十九条",
    ),
    _Authority(
        "天水市应急管理局",
        "620500",
        "天应急罚",
        "01620002",
        "未按规定开展安全生产教育和培训",
        "《中华人民共和国安全生产法》第九十七条",
    ),
    _Authority(
        "白银市交通运输局", "620400", "白交罚", "01620003", "道路运输车辆未按规定维护和检测", "《道路运输条例》第七十条"
    ),
    _Authority(
        "酒泉市自然资源局",
        "620900",
        "酒自然资罚",
        "01620004",
        "未经批准擅自占用土地",
        "《中华人民共和国土地管理法》第七十七条",
    ),
)

_FIRST_DECISION = date(2025, 3, 3)


@dataclass(frozen=True)
class SyntheticPenalty:
    index: int

    @property
    def authority(self) -> _Authority:
        return _AUTHORITIES[self.index % len(_AUTHORITIES)]

    @property
    def document_number(self) -> str:
        return f"{self.authority.doc_prefix}〔2025〕{_FIRST_NUMBER + self.index}号"

    @property
    def subject_code(self) -> str:
        return make_uscc("91", _SUBJECT_AREA, f"{70_000_000 + self.index:08d}")  # 工商 / 企业

    @property
    def subject_name(self) -> str:
        return f"甘肃陇原{self.index:06d}商贸有限公司"

    @property
    def decided_on(self) -> date:
        return _FIRST_DECISION + timedelta(days=self.index % 240)

    @property
    def fine_wan(self) -> Decimal:
        return Decimal(1 + self.index % 5)

    @property
    def content(self) -> str:
        return f"罚款{int(self.fine_wan * 10000)}元"

    @property
    def record_id(self) -> str:
        return RecordIdentity.of(Category.ADMIN_PENALTY, self.authority.code, self.document_number).record_id

    def decision(self, action: str, decided_at: datetime | None = None) -> bytes:
        """The body of a POST /v1/repairs about this record, decided by its authority (now by default)."""
        body = {
            "record": {"record_id": self.record_id},
            "action": action,
            "decided_at": (decided_at or datetime.now(UTC)).isoformat(),
            "decided_by": self.authority.name,
        }
        return json.dumps(body, ensure_ascii=False).encode()

    def facts(self) -> RecordFacts:
        """As the gateway knows the record after reading it from 信用中国."""
        return RecordFacts(
            category=Category.ADMIN_PENALTY,
            authority_name=self.authority.name,
            authority_code=self.authority.code,
            document_number=self.document_number,
            authority_domain=AuthorityDomain.OTHER,
            subject_name=self.subject_name,
            subject_type=SubjectType.LEGAL_ENTITY,
            subject_code=self.subject_code,
            subject_code_checksum_ok=True,
            decision_date=self.decided_on,
            penalty_kinds=("罚款",),
            fine_wan_yuan=self.fine_wan,
            violation=self.authority.offence,
            content=self.content,
        )

    def creditchina_row(self, sjc: datetime | None = None) -> dict[str, str]:
        """A published 信用中国 `CF` row, current 双公示 generation (docs/protocols.md §1); `sjc`
        (Beijing time) stamps its last change, else the simulator stamps it on load."""
        authority = self.authority
        row = {
            "ROWTYPE": "CF",
            "CF_XDR_MC": self.subject_name,
            "CF_XDR_LB": "法人及非法人组织",
            "CF_XDR_SHXYM": self.subject_code,
            "CF_FRDB": "张明",
            "CF_WSH": self.document_number,
            "CF_WFXW": authority.offence,
            "CF_SY": f"{self.subject_name}{authority.offence}",
            "CF_YJ": authority.basis,
            "CF_CFLB": "罚款",
            "CF_NR": self.content,
            "CF_NR_FK": str(self.fine_wan),
            "CF_NR_WFFF": "",
            "CF_JDRQ": self.decided_on.strftime("%Y/%m/%d"),
            "CF_YXQ": (self.decided_on + timedelta(days=365)).strftime("%Y/%m/%d"),
            "CF_GSJZQ": (self.decided_on + timedelta(days=3 * 365)).strftime("%Y/%m/%d"),
            "CF_CFJG": authority.name,
            "CF_CFJGDM": authority.code,
            "CF_SJLY": authority.name,
            "CF_SJLYDM": authority.code,
            "BZ": "",
            "CF_ZT": "0",
            "GSZT": "1",
            "ZZYY": "",
            "ZZRQ": "",
        }
        if sjc is not None:
            row["SJC"] = sjc.strftime("%Y/%m/%d %H:%M:%S")
        return row


def penalties(start: int, count: int) -> list[SyntheticPenalty]:
    return [SyntheticPenalty(i) for i in range(start, start + count)]
