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
from simulators.world_data import (
    AREAS,
    AUTHORITIES,
    BRANDS,
    CROPS,
    GIVEN,
    INDUSTRIES,
    OFFENCES,
    SHOPS,
    SUFFIXES,
    SURNAMES,
)

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
    authorities = tuple(_authority(rng, *spec) for spec in AUTHORITIES)
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
            authority = rng.choice([a for a in other if any(o[4] for o in OFFENCES[a.sector])])
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
            area, city = rng.choice(AREAS)
            name = _fresh_name(rng, names, make_name, city)
            subjects.append(_organisation(rng, name, kind, prefix, area))
    for _ in range(_NATURAL_PERSONS):
        area, city = rng.choice(AREAS)
        name = _fresh_name(rng, names, _masked_person_name, city)
        subjects.append(Subject(name=name, kind="natural_person", uscc="", pripid="", legal_rep="", area_code=area))
    return tuple(subjects)


def _fresh_name(rng: random.Random, taken: set[str], make: Callable[[random.Random, str], str], city: str) -> str:
    while (name := make(rng, city)) in taken:
        pass
    taken.add(name)
    return name


def _enterprise_name(rng: random.Random, city: str) -> str:
    return f"{city}{rng.choice(BRANDS)}{rng.choice(INDUSTRIES)}{rng.choice(SUFFIXES)}"


def _coop_name(rng: random.Random, city: str) -> str:
    return f"{city}{rng.choice(BRANDS)}{rng.choice(CROPS)}农民专业合作社"


def _shop_name(rng: random.Random, city: str) -> str:
    return f"{city}{rng.choice(SURNAMES)}记{rng.choice(SHOPS)}"


def _masked_person_name(rng: random.Random, _city: str) -> str:
    # Published penalties of natural persons carry masked names.
    return f"{rng.choice(SURNAMES)}某某"


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
    start = rng.randrange(0, len(GIVEN) // 2) * 2
    return rng.choice(SURNAMES) + GIVEN[start : start + 2]


def _penalty(
    rng: random.Random,
    subject: Subject,
    authority: Authority,
    numbers: dict[str, set[int]],
    *,
    legacy: bool,
) -> Penalty:
    offences = OFFENCES[authority.sector]
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


def _doc_no(rng: random.Random, prefix: str, year: int, numbers: dict[str, set[int]], *, width: int = 0) -> str:
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
