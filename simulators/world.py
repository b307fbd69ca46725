"""The deterministic synthetic world both simulators start from (docs/protocols.md §4).

One `random.Random(20240524)` draws subjects, authorities and records in a fixed order, so two builds
are equal. The world is system-neutral; `creditchina_gansu_rows` and `gsxt_gansu_records` render it
into each system's native fixtures (own field names, own date formats). Every record starts
published and consistent between the two systems.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from simulators.clock import BEIJING
from simulators.codes import KIND_SEPARATOR, SPE_CAUSES
from simulators.formats import DASH_DATE, SLASH_DATE, amount_text, dash_stamp, slash_stamp
from simulators.uscc import CHARSET, make_uscc

WORLD_SEED = 20240524

SubjectKind = Literal["enterprise", "farmer_coop", "individual_business", "natural_person"]


@dataclass(frozen=True, kw_only=True)
class Subject:
    name: str
    kind: SubjectKind
    uscc: str  # "" for natural persons
    pripid: str  # GSXT's internal 主体身份代码; "" for natural persons
    legal_rep: str  # 法定代表人 / 经营者; "" for natural persons
    area_code: str


@dataclass(frozen=True, kw_only=True)
class Authority:
    name: str
    uscc: str
    area_code: str
    samr: bool  # market regulation (GSXT is the system of record for its records)
    doc_prefix: str  # prefix of its document numbers, e.g. 兰市监罚
    sector: str


@dataclass(frozen=True, kw_only=True)
class Penalty:
    doc_no: str  # 处罚决定书文号
    subject: Subject
    authority: Authority
    legacy: bool  # stored on 信用中国 in the 双公示 v1 generation
    act_type: str
    facts: str
    basis: str
    kinds: tuple[str, ...]
    fine_wan: Decimal | None
    confiscated_wan: Decimal | None
    decided_on: date
    gsxt_case_id: str  # "" when GSXT does not show it (natural persons)
    gsxt_published_on: date | None
    gsxt_changed_at: datetime | None
    creditchina_changed_at: datetime

    @property
    def samr(self) -> bool:
        return self.authority.samr

    @property
    def on_gsxt(self) -> bool:
        return self.subject.kind != "natural_person"

    @property
    def content(self) -> str:
        """处罚内容 text, amounts in yuan as decisions write them."""
        parts: list[str] = []
        for kind in self.kinds:
            if kind == "罚款" and self.fine_wan is not None:
                parts.append(f"罚款{_yuan(self.fine_wan)}元")
            elif kind == "没收违法所得" and self.confiscated_wan is not None:
                parts.append(f"没收违法所得{_yuan(self.confiscated_wan)}元")
            else:
                parts.append(kind)
        return "，".join(parts)


@dataclass(frozen=True, kw_only=True)
class AbnormalEntry:
    doc_no: str  # 列入决定书文号
    entry_id: str  # busExcList
    subject: Subject
    authority: Authority
    cause: str  # SpeCause "1".."4"
    listed_on: date
    gsxt_changed_at: datetime
    creditchina_changed_at: datetime


@dataclass(frozen=True, kw_only=True)
class World:
    seed: int
    subjects: tuple[Subject, ...]
    authorities: tuple[Authority, ...]
    penalties: tuple[Penalty, ...]
    abnormal_entries: tuple[AbnormalEntry, ...]


# --- building ---------------------------------------------------------------------------------

_AREAS = (
    ("620102", "兰州"),
    ("620103", "兰州"),
    ("620104", "兰州"),
    ("620105", "兰州"),
    ("620111", "兰州"),
    ("620200", "嘉峪关"),
    ("620302", "金昌"),
    ("620402", "白银"),
    ("620502", "天水"),
    ("620602", "武威"),
    ("620702", "张掖"),
    ("620802", "平凉"),
    ("620902", "酒泉"),
    ("621002", "庆阳"),
    ("621102", "定西"),
    ("621202", "陇南"),
    ("622901", "临夏"),
)
_BRANDS = (
    "恒达", "金城", "丝路", "陇原", "祁连", "黄河", "敦煌", "飞天", "瑞丰", "鑫源", "华泰", "天成",
    "宏远", "兴隆", "博源", "鼎盛", "昌盛", "汇通", "正和", "永辉", "西部", "长城", "德润", "嘉禾",
)  # fmt: skip
_INDUSTRIES = (
    "商贸", "食品", "建筑工程", "物流", "医药", "餐饮管理", "农业科技", "化工", "机械制造",
    "房地产开发", "环保科技", "运输", "药业", "酒业", "矿业", "电子科技",
)  # fmt: skip
_SUFFIXES = ("有限公司", "有限责任公司", "股份有限公司")
_SHOPS = ("牛肉面馆", "百货商店", "副食店", "五金门市部", "汽车修理部", "烟酒店", "服装店", "小吃店")
_CROPS = ("马铃薯种植", "中药材种植", "苹果种植", "肉羊养殖")
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
_GIVEN = "建国志强海燕丽娟国庆红梅永刚玉兰文斌春花明辉秀英德才小军"

# (name, area, document prefix, sector); SAMR offices first.
_AUTHORITIES = (
    ("甘肃省市场监督管理局", "620000", "甘市监罚", "samr"),
    ("兰州市市场监督管理局", "620100", "兰市监罚", "samr"),
    ("兰州市城关区市场监督管理局", "620102", "城市监罚", "samr"),
    ("天水市市场监督管理局", "620500", "天市监罚", "samr"),
    ("白银市市场监督管理局", "620400", "白市监罚", "samr"),
    ("酒泉市市场监督管理局", "620900", "酒市监罚", "samr"),
    ("兰州市生态环境局", "620100", "兰环罚", "environment"),
    ("甘肃省交通运输厅", "620000", "甘交罚", "transport"),
    ("兰州市应急管理局", "620100", "兰应急罚", "safety"),
    ("兰州市消防救援支队", "620100", "兰消行罚决字", "fire"),
    ("国家税务总局兰州市税务局", "620100", "兰税罚", "tax"),
    ("兰州市住房和城乡建设局", "620100", "兰建罚", "housing"),
    ("天水市卫生健康委员会", "620500", "天卫罚", "health"),
)

# Per sector: (违法行为类型, 违法事实 template, 处罚依据, possible kind lists, natural persons too?).
_Offence = tuple[str, str, str, tuple[tuple[str, ...], ...], bool]
_OFFENCES: dict[str, tuple[_Offence, ...]] = {
    "samr": (
        ("销售不符合食品安全标准的食品", "{name}销售的食品经抽样检验不符合食品安全标准",
         "《中华人民共和国食品安全法》第一百二十四条第一款", (("罚款", "没收违法所得"), ("罚款",)), False),
        ("虚假宣传", "{name}对其商品的性能、功能作虚假或者引人误解的商业宣传",
         "《中华人民共和国反不正当竞争法》第二十条第一款", (("罚款",), ("罚款", "没收违法所得")), False),
        ("未按规定明码标价", "{name}销售商品未按照规定明码标价",
         "《中华人民共和国价格法》第四十二条", (("警告", "罚款"), ("罚款",)), False),
        ("销售侵犯注册商标专用权的商品", "{name}销售侵犯他人注册商标专用权的商品",
         "《中华人民共和国商标法》第六十条第二款", (("罚款", "没收违法所得", "没收非法财物"),), False),
        ("特种设备未经定期检验继续使用", "{name}使用未经定期检验的特种设备",
         "《中华人民共和国特种设备安全法》第八十四条第一项", (("罚款",),), False),
    ),
    "environment": (
        ("超标排放大气污染物", "{name}排放的大气污染物浓度超过国家排放标准",
         "《中华人民共和国大气污染防治法》第九十九条第二项", (("罚款",), ("罚款", "责令停产停业")), False),
    ),
    "transport": (
        ("违法超限运输", "{name}的车辆违法超限运输", "《公路安全保护条例》第六十四条", (("罚款",),), True),
        ("未按规定进行道路运输车辆技术检验", "{name}的营运车辆未按规定进行安全技术检验",
         "《中华人民共和国道路运输条例》第七十条", (("罚款",),), False),
    ),
    "safety": (
        ("未按规定对从业人员进行安全生产教育和培训", "{name}未按照规定对从业人员进行安全生产教育和培训",
         "《中华人民共和国安全生产法》第九十七条第三项", (("警告", "罚款"), ("罚款",)), False),
    ),
    "fire": (
        ("占用、堵塞、封闭疏散通道、安全出口", "{name}占用、堵塞疏散通道",
         "《中华人民共和国消防法》第六十条第一款第三项", (("罚款",),), True),
    ),
    "tax": (
        ("未按照规定期限办理纳税申报", "{name}未按照规定的期限办理纳税申报和报送纳税资料",
         "《中华人民共和国税收征收管理法》第六十二条", (("罚款",),), False),
    ),
    "housing": (
        ("未取得施工许可证擅自施工", "{name}未取得施工许可证擅自施工",
         "《建设工程质量管理条例》第五十七条", (("罚款",), ("罚款", "责令停产停业")), False),
    ),
    "health": (
        ("未取得医疗机构执业许可证擅自执业", "{name}未取得医疗机构执业许可证擅自执业",
         "《医疗机构管理条例》第四十三条", (("罚款", "没收违法所得", "没收非法财物"), ("罚款",)), True),
    ),
}  # fmt: skip

_FINES_WAN = ("0.2", "0.3", "0.5", "0.8", "1", "1.5", "2", "3", "5", "8", "10", "20")
_CONFISCATIONS_WAN = ("0.05", "0.12", "0.36", "0.8", "1.25")
_FIRST_DAY = date(2024, 1, 2)
_LAST_DAY = date(2026, 6, 30)  # leaves every seeded timestamp in the past of a real clock

_ENTERPRISES = 28
_FARMER_COOPS = 2
_INDIVIDUAL_BUSINESSES = 7
_NATURAL_PERSONS = 3
_SAMR_PENALTIES = 24
_ABNORMAL_ENTRIES = 10
_OTHER_PENALTIES = 18


@lru_cache(maxsize=4)
def build_world(seed: int = WORLD_SEED) -> World:
    """The world for a seed (immutable, so cached)."""
    rng = random.Random(seed)
    authorities = tuple(_authority(rng, *spec) for spec in _AUTHORITIES)
    subjects = _subjects(rng)
    organisations = [s for s in subjects if s.kind != "natural_person"]
    enterprises = [s for s in subjects if s.kind in ("enterprise", "farmer_coop")]
    people = [s for s in subjects if s.kind == "natural_person"]
    samr = [a for a in authorities if a.samr]
    other = [a for a in authorities if not a.samr]
    numbers: dict[str, set[int]] = {}

    penalties: list[Penalty] = []
    for _ in range(_SAMR_PENALTIES):
        penalties.append(_penalty(rng, rng.choice(organisations), rng.choice(samr), numbers, legacy=False))
    for index in range(_OTHER_PENALTIES):
        if index < _NATURAL_PERSONS:
            person = people[index]
            authority = rng.choice([a for a in other if any(o[4] for o in _OFFENCES[a.sector])])
            penalties.append(_penalty(rng, person, authority, numbers, legacy=False))
        else:
            # About a third come from old front-end databases (legacy generation, no 个体工商户 column).
            legacy = index % 3 == 0
            subject = rng.choice(enterprises if legacy else organisations)
            penalties.append(_penalty(rng, subject, rng.choice(other), numbers, legacy=legacy))

    listed = rng.sample(enterprises, _ABNORMAL_ENTRIES)
    entries = tuple(_abnormal(rng, subject, rng.choice(samr), numbers) for subject in listed)
    return World(
        seed=seed,
        subjects=subjects,
        authorities=authorities,
        penalties=tuple(penalties),
        abnormal_entries=entries,
    )


def _authority(rng: random.Random, name: str, area: str, prefix: str, sector: str) -> Authority:
    # "11": registered by 机构编制, kind 机关 (domain.md §6).
    return Authority(
        name=name,
        uscc=make_uscc("11", area, _org_body(rng)),
        area_code=area,
        samr=sector == "samr",
        doc_prefix=prefix,
        sector=sector,
    )


def _subjects(rng: random.Random) -> tuple[Subject, ...]:
    names: set[str] = set()
    subjects: list[Subject] = []
    groups: tuple[tuple[int, SubjectKind, str, Callable[[random.Random, str], str]], ...] = (
        (_ENTERPRISES, "enterprise", "91", _enterprise_name),
        (_FARMER_COOPS, "farmer_coop", "93", _coop_name),
        (_INDIVIDUAL_BUSINESSES, "individual_business", "92", _shop_name),
    )
    for count, kind, prefix, make_name in groups:
        for _ in range(count):
            area, city = rng.choice(_AREAS)
            name = _fresh_name(rng, names, make_name, city)
            subjects.append(_organisation(rng, name, kind, prefix, area))
    for _ in range(_NATURAL_PERSONS):
        area, city = rng.choice(_AREAS)
        name = _fresh_name(rng, names, _masked_person_name, city)
        subjects.append(
            Subject(name=name, kind="natural_person", uscc="", pripid="", legal_rep="", area_code=area)
        )
    return tuple(subjects)


def _fresh_name(
    rng: random.Random, taken: set[str], make: Callable[[random.Random, str], str], city: str
) -> str:
    while (name := make(rng, city)) in taken:
        pass
    taken.add(name)
    return name


def _enterprise_name(rng: random.Random, city: str) -> str:
    return f"{city}{rng.choice(_BRANDS)}{rng.choice(_INDUSTRIES)}{rng.choice(_SUFFIXES)}"


def _coop_name(rng: random.Random, city: str) -> str:
    return f"{city}{rng.choice(_BRANDS)}{rng.choice(_CROPS)}农民专业合作社"


def _shop_name(rng: random.Random, city: str) -> str:
    return f"{city}{rng.choice(_SURNAMES)}记{rng.choice(_SHOPS)}"


def _masked_person_name(rng: random.Random, _city: str) -> str:
    # Published penalties of natural persons carry masked names.
    return f"{rng.choice(_SURNAMES)}某某"


def _organisation(rng: random.Random, name: str, kind: SubjectKind, prefix: str, area: str) -> Subject:
    pripid = area + "".join(rng.choice("0123456789") for _ in range(10))
    return Subject(
        name=name,
        kind=kind,
        uscc=make_uscc(prefix, area, _org_body(rng)),
        pripid=pripid,
        legal_rep=_person_name(rng),
        area_code=area,
    )


def _org_body(rng: random.Random) -> str:
    # Post-2015 codes start "MA"; older ones are 8 digits. Both must stay inside the USCC alphabet.
    if rng.random() < 0.5:
        return "MA" + "".join(rng.choice(CHARSET) for _ in range(6))
    return "".join(rng.choice("0123456789") for _ in range(8))


def _person_name(rng: random.Random) -> str:
    start = rng.randrange(0, len(_GIVEN) // 2) * 2
    return rng.choice(_SURNAMES) + _GIVEN[start : start + 2]


def _penalty(
    rng: random.Random,
    subject: Subject,
    authority: Authority,
    numbers: dict[str, set[int]],
    *,
    legacy: bool,
) -> Penalty:
    offences = _OFFENCES[authority.sector]
    if subject.kind == "natural_person":
        offences = tuple(o for o in offences if o[4])
    act_type, facts, basis, kind_options, _people = rng.choice(offences)
    kinds = rng.choice(kind_options)
    if legacy:
        kinds = kinds[:2]  # the v1 generation has two kind columns only
    decided = _day(rng)
    fine = Decimal(rng.choice(_FINES_WAN)) if "罚款" in kinds else None
    confiscated = Decimal(rng.choice(_CONFISCATIONS_WAN)) if "没收违法所得" in kinds else None
    creditchina_day = decided + timedelta(days=rng.randint(1, 5))
    doc_no = _doc_no(rng, authority.doc_prefix, decided.year, numbers)
    case_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
    if authority.samr:
        # GSXT publishes SAMR decisions first (within 20 working days); 信用中国 mirrors a day later.
        published = decided + timedelta(days=rng.randint(1, 15))
        gsxt_at = _at(rng, published)
        creditchina_at = _at(rng, published + timedelta(days=1))
    else:
        # Other departments feed 信用中国 first; GSXT collects (归集), audits and publishes later.
        creditchina_at = _at(rng, creditchina_day)
        published = creditchina_day + timedelta(days=2)
        gsxt_at = _at(rng, published)
    on_gsxt = subject.kind != "natural_person"
    return Penalty(
        doc_no=doc_no,
        subject=subject,
        authority=authority,
        legacy=legacy,
        act_type=act_type,
        facts=facts.format(name=subject.name),
        basis=basis,
        kinds=kinds,
        fine_wan=fine,
        confiscated_wan=confiscated,
        decided_on=decided,
        gsxt_case_id=case_id if on_gsxt else "",
        gsxt_published_on=published if on_gsxt else None,
        gsxt_changed_at=gsxt_at if on_gsxt else None,
        creditchina_changed_at=creditchina_at,
    )


def _abnormal(
    rng: random.Random, subject: Subject, authority: Authority, numbers: dict[str, set[int]]
) -> AbnormalEntry:
    listed = _day(rng)
    prefix = authority.doc_prefix.removesuffix("罚") + "异入"
    gsxt_at = _at(rng, listed)
    return AbnormalEntry(
        doc_no=_doc_no(rng, prefix, listed.year, numbers, width=4),
        entry_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        subject=subject,
        authority=authority,
        cause=rng.choice(sorted(SPE_CAUSES)),
        listed_on=listed,
        gsxt_changed_at=gsxt_at,
        creditchina_changed_at=_at(rng, listed + timedelta(days=1)),
    )


def _doc_no(
    rng: random.Random, prefix: str, year: int, numbers: dict[str, set[int]], *, width: int = 0
) -> str:
    taken = numbers.setdefault(f"{prefix}{year}", set())
    while True:
        number = rng.randint(1, 400)
        if number not in taken:
            taken.add(number)
            return f"{prefix}〔{year}〕{number:0{width}d}号"


def _day(rng: random.Random) -> date:
    return _FIRST_DAY + timedelta(days=rng.randint(0, (_LAST_DAY - _FIRST_DAY).days))


def _at(rng: random.Random, day: date) -> datetime:
    moment = time(rng.randint(8, 17), rng.randint(0, 59), rng.randint(0, 59))
    return datetime.combine(day, moment, tzinfo=BEIJING)


def _yuan(wan: Decimal) -> str:
    return amount_text(wan * 10000)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- rendering: 信用中国（甘肃） -------------------------------------------------------------------

_CREDITCHINA_LB: dict[SubjectKind, str] = {
    "enterprise": "法人及非法人组织",
    "farmer_coop": "法人及非法人组织",
    "individual_business": "个体工商户",
    "natural_person": "自然人",
}
_PUBLISHED_STATUS = {"CF_ZT": "0", "GSZT": "1", "ZZYY": "", "ZZRQ": ""}


def creditchina_gansu_rows(world: World) -> list[dict[str, str]]:
    """Native 信用中国 rows (ROWTYPE CF/YC, SJC, no ID: the platform numbers them), by SJC."""
    rows = [_cf_row(p) for p in world.penalties] + [_yc_row(e) for e in world.abnormal_entries]
    rows.sort(key=lambda row: row["SJC"])
    return rows


def _cf_row(penalty: Penalty) -> dict[str, str]:
    row = {"ROWTYPE": "CF"}
    row.update(_cf_legacy_columns(penalty) if penalty.legacy else _cf_current_columns(penalty))
    row.update(_PUBLISHED_STATUS)
    row["SJC"] = slash_stamp(penalty.creditchina_changed_at)
    return row


def _cf_current_columns(penalty: Penalty) -> dict[str, str]:
    subject, authority = penalty.subject, penalty.authority
    return {
        "CF_XDR_MC": subject.name,
        "CF_XDR_LB": _CREDITCHINA_LB[subject.kind],
        "CF_XDR_SHXYM": subject.uscc,
        "CF_FRDB": subject.legal_rep,
        "CF_WSH": penalty.doc_no,
        "CF_WFXW": penalty.act_type,
        "CF_SY": penalty.facts,
        "CF_YJ": penalty.basis,
        "CF_CFLB": KIND_SEPARATOR.join(penalty.kinds),
        "CF_NR": penalty.content,
        "CF_NR_FK": amount_text(penalty.fine_wan) if penalty.fine_wan is not None else "",
        "CF_NR_WFFF": amount_text(penalty.confiscated_wan) if penalty.confiscated_wan is not None else "",
        "CF_JDRQ": penalty.decided_on.strftime(SLASH_DATE),
        "CF_YXQ": _add_years(penalty.decided_on, 1).strftime(SLASH_DATE),
        "CF_GSJZQ": _add_years(penalty.decided_on, 3).strftime(SLASH_DATE),
        "CF_CFJG": authority.name,
        "CF_CFJGDM": authority.uscc,
        "CF_SJLY": authority.name,
        "CF_SJLYDM": authority.uscc,
        "BZ": "",
    }


def _cf_legacy_columns(penalty: Penalty) -> dict[str, str]:
    subject, authority = penalty.subject, penalty.authority
    return {
        "CF_WSH": penalty.doc_no,
        "CF_CFMC": f"{subject.name}{penalty.act_type}案",
        "CF_CFLB1": penalty.kinds[0],
        "CF_CFLB2": penalty.kinds[1] if len(penalty.kinds) > 1 else "",
        "CF_SY": penalty.facts,
        "CF_YJ": penalty.basis,
        "CF_XDR_MC": subject.name,
        "CF_XDR_SHXYM": subject.uscc,
        "CF_XDR_ZDM": subject.uscc[8:17],
        "CF_FR": subject.legal_rep,
        "CF_JG": penalty.content,
        "CF_JDRQ": penalty.decided_on.strftime(SLASH_DATE),
        "CF_XZJG": authority.name,
        "CF_XZJGDM": authority.uscc,
        "DFBM": authority.area_code,
    }


def _yc_row(entry: AbnormalEntry) -> dict[str, str]:
    row = {
        "ROWTYPE": "YC",
        "YC_QYMC": entry.subject.name,
        "YC_TYSHXYDM": entry.subject.uscc,
        "YC_LRYY": SPE_CAUSES[entry.cause],
        "YC_LRYYDM": entry.cause,
        "YC_LRRQ": entry.listed_on.strftime(SLASH_DATE),
        "YC_JDJG": entry.authority.name,
        "YC_JDJGDM": entry.authority.uscc,
        "YC_WSH": entry.doc_no,
    }
    row.update(_PUBLISHED_STATUS)
    row["SJC"] = slash_stamp(entry.creditchina_changed_at)
    return row


# --- rendering: GSXT（甘肃） ----------------------------------------------------------------------

_GSXT_ENT_TYPE: dict[SubjectKind, str] = {
    "enterprise": "企业",
    "farmer_coop": "农专社",
    "individual_business": "个体工商户",
}


def gsxt_gansu_records(world: World) -> dict[str, list[dict[str, Any]]]:
    """Native GSXT records per table, each table ordered by updateTime."""
    punish = [_punish(p) for p in world.penalties if p.samr]
    other = [_otherpunish(p) for p in world.penalties if not p.samr and p.on_gsxt]
    anomalies = [_opanomaly(e) for e in world.abnormal_entries]
    tables = {"punish": punish, "otherpunish": other, "opanomaly": anomalies}
    for records in tables.values():
        records.sort(key=lambda record: str(record["updateTime"]))
    return tables


def _punish(penalty: Penalty) -> dict[str, Any]:
    subject, authority = penalty.subject, penalty.authority
    assert penalty.gsxt_published_on is not None and penalty.gsxt_changed_at is not None
    return {
        "caseId": penalty.gsxt_case_id,
        "priPID": subject.pripid,
        "uniSCID": subject.uscc,
        "entName": subject.name,
        "entType": _GSXT_ENT_TYPE[subject.kind],
        "penDecNo": penalty.doc_no,
        "illegActType": penalty.act_type,
        "penType": KIND_SEPARATOR.join(penalty.kinds),
        "penAm": float(penalty.fine_wan) if penalty.fine_wan is not None else None,
        "forfAm": float(penalty.confiscated_wan) if penalty.confiscated_wan is not None else None,
        "penContent": penalty.content,
        "penDecIssDate": penalty.decided_on.strftime(DASH_DATE),
        "pubDate": penalty.gsxt_published_on.strftime(DASH_DATE),
        "judAuth": authority.name,
        "judAuthCode": authority.uscc,
        "pubFlag": "1",
        "stopType": "",
        "stopDate": "",
        "updateTime": dash_stamp(penalty.gsxt_changed_at),
    }


def _otherpunish(penalty: Penalty) -> dict[str, Any]:
    record = _punish(penalty)
    update_time = record.pop("updateTime")
    record.update({"auditState": "1", "auditOpin": "同意公示", "updateTime": update_time})
    return record


def _opanomaly(entry: AbnormalEntry) -> dict[str, Any]:
    return {
        "busExcList": entry.entry_id,
        "priPID": entry.subject.pripid,
        "uniSCID": entry.subject.uscc,
        "entName": entry.subject.name,
        "speCause": entry.cause,
        "speCauseCN": SPE_CAUSES[entry.cause],
        "abnTime": entry.listed_on.strftime(DASH_DATE),
        "decOrg": entry.authority.name,
        "decOrgCode": entry.authority.uscc,
        "penDecNo": entry.doc_no,
        "isMove": "0",
        "remExcpres": "",
        "remExcpresCN": "",
        "remDate": "",
        "reDecOrg": "",
        "updateTime": dash_stamp(entry.gsxt_changed_at),
    }
