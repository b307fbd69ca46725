"""THE rule data: every period, exclusion, condition, channel and time limit the gateway knows,
each with its source and confidence marker from /work/shared/domain.md:

- V: verified from the source named (often a third-party mirror of the official text);
- R: recalled, NOT verified — a lead to confirm before relying on it;
- I: inference or design choice — unverified.

Both the evaluator and the guidance endpoint read `RULEBOOK` (looked up at call time), so a change
here changes both. Values marked R or I that an operator can pin are overridable in settings
(`CREDITGW_RULES__…`, see `overrides.py`). Never hard-code a rule value anywhere else.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gateway.domain.categories import AuthorityDomain, Category, SubjectType, System
from gateway.domain.model import DomainFlag, Severity
from gateway.domain.rules.periods import Period
from gateway.domain.rules.schema import (
    NOT_ON_ABNORMAL_LIST,
    NOT_ON_SERIOUS_LIST,
    AbnormalListRegime,
    CategoryGuide,
    Channel,
    Clock,
    ListingCause,
    ListRegime,
    LowFineThreshold,
    RemovalReason,
    RepairRoute,
    Rulebook,
    SamrPenaltyRegime,
    SectorMarker,
    SectorRules,
    Tier,
    TieredPenaltyRegime,
    UniformPenaltyRegime,
)
from gateway.domain.rules.sources import Confidence, Note, Sourced

V, R, INFERRED = Confidence.VERIFIED, Confidence.RECALLED, Confidence.INFERRED

SEED = "seed 甘营商〔2024〕16号"
ORDER_36_START = date(2026, 4, 1)  # NDRC Order 36 in force; Order 58 repealed (domain.md callout, §1) [V]
ORDER_58_LAST_DAY = date(2026, 3, 31)

MONTHS_3 = Period.of_months(3)
MONTHS_6 = Period.of_months(6)
YEAR_1 = Period.of_years(1)
YEARS_2 = Period.of_years(2)
YEARS_3 = Period.of_years(3)

# 行政处罚法 (2021) art. 9 kinds as exchanged in CF_CFLB (domain.md §2.3 [V as a statute quotation]),
# plus 吊销营业执照, which SAMR names on its own (45号令 art. 14(3)).
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
        "吊销营业执照",
        "限制开展生产经营活动",
        "责令停产停业",
        "责令关闭",
        "限制从业",
        "行政拘留",
    }
)


# ---- shared conditions ---------------------------------------------------------------------------

OBLIGATIONS_PERFORMED = Note(
    code="obligations_performed",
    text="完全履行行政处罚决定规定的义务（如缴清罚款）并纠正违法行为",
    source=f"{SEED} 附件2 告知书 §二; domain.md §5.1",
    confidence=V,
)
CREDIT_COMMITMENT = Note(
    code="credit_commitment",
    text="作出信用承诺",
    source=f"{SEED} §二 (依法主动纠正失信行为、履行相关义务，并作出承诺); domain.md §5.1",
    confidence=V,
)

# ---- the sector of a penalty (longer minimum periods), domain.md §5.1, §5.3, §8.5 --------------------
# The sectors are the seed's; which statutes and authorities belong to each is the gateway's reading
# of the statutes' own scope articles (I): confirm before relying on it, like every I value.

_SECTORS_SEED = f"{SEED} 附件2 告知书 §二 (食品、药品、特种设备、安全生产、消防); domain.md §5.1, §8.5"
_SECTOR_LAWS = "the statute's title and scope (art. 2) name the sector; design choice (domain.md lists no statutes)"
_SECTOR_AUTHORITIES = "the authority's remit is this sector alone (机构改革 2018 三定方案); design choice"
_SECTOR_TERMS = "the violation names the sector's object; design choice (domain.md §8.5: never guessed)"


def _marker(sector: DomainFlag, label: str, laws: set[str], authorities: set[str], terms: set[str]) -> SectorMarker:
    return SectorMarker(
        sector=sector,
        label=label,
        laws=Sourced(value=frozenset(laws), source=f"{_SECTORS_SEED}; {_SECTOR_LAWS}", confidence=INFERRED),
        authorities=Sourced(
            value=frozenset(authorities), source=f"{_SECTORS_SEED}; {_SECTOR_AUTHORITIES}", confidence=INFERRED
        ),
        violation_terms=Sourced(
            value=frozenset(terms), source=f"{_SECTORS_SEED}; {_SECTOR_TERMS}", confidence=INFERRED
        ),
    )


SECTORS = SectorRules(
    markers=(
        _marker(
            DomainFlag.FOOD,
            "食品",
            {"食品安全法", "食品安全法实施条例"},
            set(),  # market regulation decides food penalties among many others: its name says nothing
            {"食品"},
        ),
        _marker(
            DomainFlag.DRUGS,
            "药品",
            {"药品管理法", "药品管理法实施条例", "疫苗管理法"},
            {"药品监督管理局"},
            {"药品", "疫苗"},
        ),
        _marker(
            DomainFlag.SPECIAL_EQUIPMENT,
            "特种设备",
            {"特种设备安全法", "特种设备安全监察条例"},
            set(),
            {"特种设备", "锅炉", "压力容器", "压力管道", "电梯", "起重机械", "客运索道", "大型游乐设施"},
        ),
        _marker(
            DomainFlag.WORK_SAFETY,
            "安全生产",
            {"安全生产法", "安全生产许可证条例", "危险化学品安全管理条例", "生产安全事故报告和调查处理条例"},
            {"应急管理局", "应急管理厅", "安全生产监督管理局", "煤矿安全监察局"},
            {"安全生产"},
        ),
        _marker(
            DomainFlag.FIRE,
            "消防",
            {"消防法"},
            {"消防救援"},
            {"消防", "疏散通道", "安全出口"},
        ),
    ),
    procedural_laws=Sourced(
        value=frozenset({"行政处罚法", "行政强制法", "行政许可法", "行政复议法", "行政诉讼法"}),
        source="procedure statutes cited by penalties of every sector; design choice",
        confidence=INFERRED,
    ),
    outside_authorities=Sourced(
        value=frozenset({"生态环境局", "生态环境厅", "税务局", "统计局", "自然资源局", "人力资源和社会保障局"}),
        source=(
            "authorities whose remit holds none of the five sectors (their statutes: 环境保护法, 税收征收管理法, "
            "统计法, 土地管理法, 劳动法); design choice"
        ),
        confidence=INFERRED,
    ),
    authority_code=Note(
        code="authority_code_has_no_sector",
        text="处罚机关的统一社会信用代码（GB 32100）只标明登记管理部门、机构类别和行政区划，不标明领域",
        source="domain.md §6 (code structure)",
        confidence=V,
    ),
)

# ---- 信用中国 side, penalties: NDRC Order 58 (decisions up to 2026-03-31), domain.md §5.1 -----------

ORDER_58 = UniformPenaltyRegime(
    id="ndrc_order_58",
    name="NDRC Order 58 — 信用中国 penalties, decisions up to 2026-03-31",
    instrument=Sourced(
        value="《失信行为纠正后的信用信息修复管理办法（试行）》（国家发展改革委令第58号）",
        source="domain.md §1 (m.sacsnlax.com, zs531.com)",
        confidence=V,
    ),
    categories=frozenset({Category.ADMIN_PENALTY}),
    systems=frozenset({System.CREDITCHINA_GANSU}),
    clock=Sourced(
        value=Clock.DECISION_DATE,
        source="domain.md §5.1, §8.5: the period starts at the decision date (CF_JDRQ)",
        confidence=V,
    ),
    applies_until=ORDER_58_LAST_DAY,
    in_force_from=Sourced(value=date(2023, 5, 1), source="domain.md §1", confidence=V),
    effect=Note(
        code="stop_publication",
        text="在信用中国（甘肃）移除或终止公示行政处罚信息",
        source=f"{SEED} §二; domain.md §5.1 (Order 58 art. 3/5 numbering [R])",
        confidence=V,
    ),
    conditions=(OBLIGATIONS_PERFORMED, CREDIT_COMMITMENT),
    notes=(
        Note(
            code="older_regime",
            text=(
                "2023-05-01 前作出的决定原适用发改办财金〔2019〕527号（严重失信：最短6个月、最长3年），"
                "本网关按第58号令计算并提示"
            ),
            source="domain.md §5.1 (0797cx.cn/page37?article_id=15265)",
            confidence=V,
        ),
    ),
    minimum=Sourced(value=MONTHS_3, source=f"{SEED} 附件2 告知书 §二; domain.md §5.1", confidence=V),
    minimum_long=Sourced(value=YEAR_1, source=f"{SEED} 附件2 告知书 §二; domain.md §5.1", confidence=V),
    long_minimum_flags=Sourced(
        value=frozenset(DomainFlag),
        source=(
            f"{SEED} 附件2 告知书 §二 (食品、药品、特种设备、安全生产、消防); the Shenzhen copy lists only "
            "特种设备/安全生产/消防 — the Gansu seed wins for Gansu (domain.md §5.1)"
        ),
        confidence=V,
    ),
    maximum=Sourced(value=YEARS_3, source=f"{SEED} 附件2 告知书 §二; domain.md §5.1", confidence=V),
    longest_wins=Note(
        code="longest_wins",
        text="同一处罚决定含多种处罚类别的，按最长的公示期限执行",
        source="domain.md §2.1 row 18, §5.1 (Shenzhen 双公示 guidance, senqisrq.com)",
        confidence=V,
    ),
    not_published_alone=Sourced(
        value=frozenset({"警告"}),
        source="domain.md §5.1 (warning-only not published; Order 58's exact article [R])",
        confidence=R,
    ),
)

# ---- 信用中国 side, penalties: NDRC Order 36 (decisions from 2026-04-01), domain.md §5.2 -------------

_TIERS_SOURCE = "国办发〔2025〕22号 §二; NDRC Order 36 (domain.md §5.2: stockstar.com, cctv-cmpany.net)"

ORDER_36 = TieredPenaltyRegime(
    id="ndrc_order_36",
    name="NDRC Order 36 — 信用中国 penalties, decisions from 2026-04-01",
    instrument=Sourced(
        value="《信用修复管理办法》（国家发展改革委令第36号）; 国办发〔2025〕22号",
        source="domain.md §1 callout (toubiaole.com, m.law-lib.com, cctv-cmpany.net)",
        confidence=V,
    ),
    categories=frozenset({Category.ADMIN_PENALTY}),
    systems=frozenset({System.CREDITCHINA_GANSU}),
    clock=Sourced(
        value=Clock.DECISION_DATE,
        source="domain.md §5.2: 公示期限自司法、行政公务文书认定之日起开始计算",
        confidence=V,
    ),
    applies_from=ORDER_36_START,
    in_force_from=Sourced(value=ORDER_36_START, source="domain.md §1 callout", confidence=V),
    effect=Note(
        code="stop_publication_and_sharing",
        text="信用修复 = 终止公示 + 停止共享和使用（含第三方信用服务机构）+ 同步解除惩戒",
        source="NDRC Order 36 art. 3 (domain.md §5.2, §8.9)",
        confidence=V,
    ),
    conditions=(
        Note(
            code="obligations_performed",
            text="纠正失信行为并完全履行法定义务（行政处罚、异常名录、严重失信名单规定的义务）",
            source="NDRC Order 36 (domain.md §5.2, stockstar.com)",
            confidence=V,
        ),
        Note(
            code="credit_commitment",
            text="公开作出信用承诺，含对提供虚假材料承担责任",
            source="NDRC Order 36 (domain.md §5.2, stockstar.com)",
            confidence=V,
        ),
        Note(
            code="other_legal_conditions",
            text="满足法律、法规规定的其他条件",
            source="NDRC Order 36 (domain.md §5.2, stockstar.com)",
            confidence=V,
        ),
    ),
    notes=(
        Note(
            code="market_regulation_carve_out",
            text="市场监管领域信用修复依托国家企业信用信息公示系统按照国家统一规则办理",
            source="国办发〔2025〕22号 (domain.md §5.2; only a scrambled mirror, confirm on gov.cn)",
            confidence=V,
        ),
        Note(
            code="regime_by_decision_date",
            text="规则按处罚决定日期选择：2026-03-31 及以前适用第58号令，2026-04-01 起适用第36号令",
            source="domain.md §1 callout; design choice for transitional records",
            confidence=INFERRED,
        ),
    ),
    tiers=(
        Tier(
            severity=Severity.MINOR,
            label="轻微",
            published_by_default=False,
            minimum=None,
            maximum=MONTHS_3,
            source=_TIERS_SOURCE,
            confidence=V,
        ),
        Tier(
            severity=Severity.GENERAL,
            label="一般",
            published_by_default=True,
            minimum=MONTHS_3,
            maximum=YEAR_1,
            source=_TIERS_SOURCE,
            confidence=V,
        ),
        Tier(
            severity=Severity.SERIOUS,
            label="严重",
            published_by_default=True,
            minimum=YEAR_1,
            maximum=YEARS_3,
            source=_TIERS_SOURCE,
            confidence=V,
        ),
    ),
    tier_origin=Note(
        code="tier_from_source",
        text="轻微/一般/严重由行业主管部门的分类确定，是记录来源给出的属性，网关从不推断",
        source="国办发〔2025〕22号 §二 (domain.md §5.2, §8.5)",
        confidence=V,
    ),
)

# ---- GSXT side, penalties: SAMR 总局令第45号 + 市场监督管理信用修复管理办法, domain.md §5.3 ------------

_SAMR_45 = "总局令第45号《市场监督管理行政处罚信息公示规定》"
_LOW_FINE_SOURCE = (
    "UNVERIFIED default: the Gansu threshold is unknown (domain.md §5.3, §9). Borrowed from 贵州省市场监管局 "
    "(2023-12-19) and 闽市监规〔2024〕3号: 自然人 < 5000元, 法人或者其他组织 < 5万元 (不含本数); "
    "个体工商户 treated as 自然人. Set CREDITGW_RULES__GSXT_LOW_FINE_BELOW_WAN_YUAN__<subject_type>"
)

SAMR_PENALTIES = SamrPenaltyRegime(
    id="samr_order_45",
    name="SAMR Order 45 — GSXT penalty publication and early stop",
    instrument=Sourced(
        value=f"{_SAMR_45}; 《市场监督管理信用修复管理办法》（国市监信规〔2021〕3号）",
        source="domain.md §1 (LawRefBook/Laws; the 〔2021〕3号 number [R])",
        confidence=V,
    ),
    categories=frozenset({Category.ADMIN_PENALTY}),
    systems=frozenset({System.GSXT_GANSU}),
    clock=Sourced(
        value=Clock.PUBLICATION_DATE,
        source=f"{_SAMR_45} art. 13: 自公示之日起 (domain.md §5.3, §8.5)",
        confidence=V,
    ),
    in_force_from=Sourced(value=date(2021, 9, 1), source="domain.md §1", confidence=V),
    effect=Note(
        code="stop_publication_early",
        text="提前停止通过公示系统公示行政处罚信息，解除相关管理措施并共享修复信息",
        source="市场监督管理信用修复管理办法 art. 2 (domain.md §5.3)",
        confidence=V,
    ),
    conditions=(
        Note(
            code="obligations_performed",
            text="已经自觉履行行政处罚决定中规定的义务",
            source=f"{_SAMR_45} art. 14 (domain.md §5.3)",
            confidence=V,
        ),
        Note(
            code="harm_remedied",
            text="已经主动消除危害后果和不良影响",
            source=f"{_SAMR_45} art. 14 (domain.md §5.3)",
            confidence=V,
        ),
        Note(
            code="no_repeat_same_kind_penalty",
            text="未因同一类违法行为再次受到市场监管部门行政处罚",
            source=f"{_SAMR_45} art. 14 (domain.md §5.3)",
            confidence=V,
        ),
        Note(
            code=NOT_ON_ABNORMAL_LIST,
            text="未在经营异常名录中",
            source=f"{_SAMR_45} art. 14 (domain.md §5.3, §8.7)",
            confidence=V,
        ),
        Note(
            code=NOT_ON_SERIOUS_LIST,
            text="未在严重违法失信名单中",
            source=f"{_SAMR_45} art. 14 (domain.md §5.3, §8.7)",
            confidence=V,
        ),
        Note(
            code="credit_commitment",
            text="提交信用承诺书",
            source="市场监督管理信用修复管理办法 (application materials; domain.md §5.3 does not quote them)",
            confidence=R,
        ),
    ),
    notes=(
        Note(
            code="other_departments_on_gsxt",
            text="其他部门的行政处罚归集到企业名下在GSXT公示的，公示期限同样按本规则自公示之日起计算",
            source="design choice (domain.md §5.3 names only SAMR's own rules for GSXT)",
            confidence=INFERRED,
        ),
    ),
    known_kinds=Sourced(value=PENALTY_KINDS, source="行政处罚法 art. 9 (domain.md §2.3)", confidence=V),
    not_published_alone=Sourced(
        value=frozenset({"警告"}),
        source=f"{_SAMR_45} art. 2: 仅受到警告行政处罚的不予公示 (domain.md §5.1)",
        confidence=V,
    ),
    light_kinds=Sourced(
        value=frozenset({"通报批评"}),
        source=f"{_SAMR_45} art. 13 (domain.md §5.3)",
        confidence=V,
    ),
    low_fine=(
        LowFineThreshold(
            subject_type=SubjectType.LEGAL_ENTITY,
            below_wan_yuan=Decimal("5"),
            source=_LOW_FINE_SOURCE,
            confidence=INFERRED,
        ),
        LowFineThreshold(
            subject_type=SubjectType.INDIVIDUAL_BUSINESS,
            below_wan_yuan=Decimal("0.5"),
            source=_LOW_FINE_SOURCE,
            confidence=INFERRED,
        ),
        LowFineThreshold(
            subject_type=SubjectType.NATURAL_PERSON,
            below_wan_yuan=Decimal("0.5"),
            source=_LOW_FINE_SOURCE,
            confidence=INFERRED,
        ),
    ),
    light_period=Sourced(
        value=MONTHS_3,
        source=f"{_SAMR_45} art. 13: 仅受到通报批评或者较低数额罚款的，自公示之日起届满三个月停止公示",
        confidence=V,
    ),
    standard_period=Sourced(
        value=YEARS_3,
        source=f"{_SAMR_45} art. 13: 其他行政处罚信息自公示之日起届满三年停止公示",
        confidence=V,
    ),
    restriction_kinds=Sourced(
        value=frozenset({"限制从业", "限制开展生产经营活动"}),
        source=f"{_SAMR_45} art. 13: 期限超过三年的，公示期与其期限相同 (domain.md §5.3)",
        confidence=V,
    ),
    early_minimum=Sourced(
        value=MONTHS_6,
        source="市场监督管理信用修复管理办法 art. 7 (Yuanjiang guide; domain.md §5.3)",
        confidence=V,
    ),
    early_minimum_long=Sourced(
        value=YEAR_1,
        source="市场监督管理信用修复管理办法 art. 7: 食品、药品、特种设备领域满一年 (domain.md §5.3)",
        confidence=V,
    ),
    long_early_flags=Sourced(
        value=frozenset({DomainFlag.FOOD, DomainFlag.DRUGS, DomainFlag.SPECIAL_EQUIPMENT}),
        source="市场监督管理信用修复管理办法 art. 7 (domain.md §5.3)",
        confidence=V,
    ),
    heavy_kinds=Sourced(
        value=frozenset(
            {"责令停产停业", "限制开展生产经营活动", "限制从业", "降低资质等级", "吊销许可证件", "吊销营业执照"}
        ),
        source=f"{_SAMR_45} art. 14(3) (domain.md §5.3)",
        confidence=V,
    ),
    heavy_kinds_inferred=Sourced(
        value=frozenset({"责令关闭"}),
        source=f"{_SAMR_45} art. 14(3) ends with 等较重行政处罚; 责令关闭 is heavier than 责令停产停业 (design choice)",
        confidence=INFERRED,
    ),
    longest_wins=Note(
        code="longest_wins",
        text="同一处罚决定含多种处罚类别的，按最长的公示期限执行；含较重处罚的不得提前停止公示",
        source="domain.md §2.1 row 18 (Shenzhen guidance), applied to GSXT by design",
        confidence=INFERRED,
    ),
)

# ---- list authorities (谁认定、谁修复), domain.md §3.1, §3.2, §4.3, §5.4 ------------------------------

_LISTING_CLOCK_INFERRED = Sourced(
    value=Clock.DECISION_DATE,
    source="counted from the listing decision (列入决定) date: design choice, domain.md §5.4 names no clock",
    confidence=INFERRED,
)

ABNORMAL_LIST = AbnormalListRegime(
    id="samr_abnormal_list",
    name="SAMR 经营异常名录 — removal on remedying the listing cause",
    instrument=Sourced(
        value="《企业经营异常名录管理暂行办法》; 《市场监督管理信用修复管理办法》 art. 5",
        source="domain.md §3.1, §5.3 (yuanjiang.gov.cn)",
        confidence=V,
    ),
    categories=frozenset({Category.ABNORMAL_OPERATIONS}),
    systems=None,
    clock=Sourced(value=Clock.DECISION_DATE, source="列入日期 AbnTime (domain.md §3.1)", confidence=V),
    effect=Note(
        code="remove_from_list",
        text="移出经营异常名录（个体工商户：恢复正常记载状态）",
        source="市场监督管理信用修复管理办法 art. 2 (domain.md §5.3)",
        confidence=V,
    ),
    notes=(
        Note(
            code="cascade_to_serious_list",
            text="列入经营异常名录届满3年仍未履行相关义务的，列入严重违法失信名单；两条记录各自修复",
            source="domain.md §3.2, §8.8",
            confidence=V,
        ),
    ),
    maximum=Sourced(
        value=YEARS_3,
        source="异常届满日期 = 列入日期 + 3 years (ZhejiangMicroEnt, hq3009; domain.md §3.1), 移出原因 6",
        confidence=V,
    ),
    early_after=None,
    causes=(
        ListingCause(
            code="1",
            label="未依照《企业信息公示暂行条例》第八条规定的期限公示年度报告",
            removals=frozenset({"1"}),
            remedy=Note(
                code="annual_report_filed",
                text="补报并公示年度报告（移出原因 1 已补报年度报告）",
                source="市场监督管理信用修复管理办法 art. 5; pairing table domain.md §3.1",
                confidence=V,
            ),
        ),
        ListingCause(
            code="2",
            label="未在责令的期限内公示有关企业信息",
            removals=frozenset({"2"}),
            remedy=Note(
                code="disclosure_performed",
                text="履行即时信息公示义务（移出原因 2 已履行公示义务）",
                source="市场监督管理信用修复管理办法 art. 5; pairing table domain.md §3.1",
                confidence=V,
            ),
        ),
        ListingCause(
            code="3",
            label="公示企业信息隐瞒真实情况、弄虚作假",
            removals=frozenset({"3"}),
            remedy=Note(
                code="false_information_corrected",
                text="更正弄虚作假的公示信息（移出原因 3 已更正公示信息）",
                source="市场监督管理信用修复管理办法 art. 5; pairing table domain.md §3.1",
                confidence=V,
            ),
        ),
        ListingCause(
            code="4",
            label="通过登记的住所或者经营场所无法联系",
            removals=frozenset({"4", "5"}),
            remedy=Note(
                code="contact_restored",
                text="变更住所登记或重新取得联系（移出原因 4 已变更登记住所 / 5 已重新取得联系）",
                source="市场监督管理信用修复管理办法 art. 5; pairing table domain.md §3.1",
                confidence=V,
            ),
        ),
    ),
    removal_reasons=(
        RemovalReason(code="1", label="已补报年度报告", by_system=False),
        RemovalReason(code="2", label="已履行公示义务", by_system=False),
        RemovalReason(code="3", label="已更正公示信息", by_system=False),
        RemovalReason(code="4", label="已变更登记住所", by_system=False),
        RemovalReason(code="5", label="已重新取得联系", by_system=False),
        RemovalReason(code="6", label="列入异常届满", by_system=True),
        RemovalReason(code="7", label="企业注（吊）销，不再列入", by_system=True),
    ),
    any_cause_removals=frozenset({"6", "7"}),
    pairing_source=Note(
        code="pairing",
        text="列入原因 1→1, 2→2, 3→3, 4→4 或 5; 6 列入异常届满（系统）; 7 注（吊）销（任意原因）",
        source="ZhejiangMicroEnt / hq3009 code tables (domain.md §3.1)",
        confidence=V,
    ),
)

SAMR_SERIOUS_LIST = ListRegime(
    id="samr_order_44",
    name="SAMR Order 44 — 市场监督管理严重违法失信名单",
    instrument=Sourced(
        value="《市场监督管理严重违法失信名单管理办法》（总局令第44号）",
        source="domain.md §1 (number cited at bjmssf.com)",
        confidence=V,
    ),
    categories=frozenset({Category.SAMR_SERIOUS}),
    systems=None,
    clock=_LISTING_CLOCK_INFERRED,
    effect=Note(
        code="remove_from_list",
        text="提前移出严重违法失信名单",
        source="市场监督管理信用修复管理办法 art. 2 (domain.md §5.3)",
        confidence=V,
    ),
    conditions=(
        Note(
            code="obligations_performed",
            text="已经自觉履行行政处罚决定中规定的义务",
            source="总局令第44号 (domain.md §5.3; article text not verified)",
            confidence=R,
        ),
        Note(
            code="harm_remedied",
            text="已经主动消除危害后果和不良影响",
            source="总局令第44号 (domain.md §5.3; article text not verified)",
            confidence=R,
        ),
        Note(
            code="no_further_heavy_penalty",
            text="未再受到市场监管部门较重行政处罚",
            source="总局令第44号 (domain.md §5.3; article text not verified)",
            confidence=R,
        ),
        Note(
            code="restriction_ended",
            text="被处以限制从业等期限超过一年的，期限届满后方可申请",
            source="总局令第44号 art. 6 (domain.md §5.3)",
            confidence=R,
        ),
    ),
    notes=(
        Note(
            code="older_regime",
            text="2016年暂行办法：5年届满移出（2021-09-01 前列入的记录）",
            source="domain.md §3.2 (m.78911.com.cn)",
            confidence=V,
        ),
    ),
    in_force_from=Sourced(value=date(2021, 9, 1), source="domain.md §1 (总局令第44号, 2021)", confidence=R),
    # lists.md §6: 3 years from listing, then GSXT removes it automatically (remType 1); early removal
    # after ≥ 1 year (remType 2).
    maximum=Sourced(value=YEARS_3, source="总局令第44号 (lists.md §6, domain.md §3.2, §5.4)", confidence=R),
    early_after=Sourced(value=YEAR_1, source="总局令第44号 (lists.md §6, domain.md §3.2, §5.4)", confidence=R),
)


COURT_LIST = ListRegime(
    id="spc_dishonest_2017",
    name="SPC 失信被执行人名单 (2017 revision)",
    instrument=Sourced(
        value="《最高人民法院关于公布失信被执行人名单信息的若干规定》（2017年修正）",
        source="domain.md §1, §4 (LawRefBook/Laws 2013 text; sr-lvshi.com 2017 text)",
        confidence=V,
    ),
    categories=frozenset({Category.COURT_DISHONEST}),
    systems=None,
    clock=_LISTING_CLOCK_INFERRED,
    effect=Note(
        code="delete_from_list",
        text="删除失信信息（仅由法院作出）",
        source="domain.md §4.3 (谁认定谁修复; seed §(四))",
        confidence=V,
    ),
    conditions=(
        Note(
            code="obligation_performed_or_settled",
            text="已全部履行生效法律文书确定的义务、执行和解已履行完毕，或人民法院裁定终结执行",
            source="2013 规定 art. 7 (domain.md §4.3)",
            confidence=V,
        ),
    ),
    maximum=Sourced(value=YEARS_2, source="2017 规定 art. 2 (domain.md §4.3, §5.4)", confidence=R),
    early_after=None,
    maximum_caveat=Note(
        code="period_may_be_extended",
        text="纳入期限二年；有暴力、威胁方法妨碍、抗拒执行等情形的，可延长一至三年（延长由法院决定，网关不知道）",
        source="2017 规定 art. 2 (domain.md §4.3)",
        confidence=R,
    ),
)

TAX_LIST = ListRegime(
    id="sat_order_54",
    name="SAT Order 54 — 重大税收违法失信主体",
    instrument=Sourced(
        value="《重大税收违法失信主体信息公布管理办法》（国家税务总局令第54号）",
        source="domain.md §1 (comfastcdn.com, csrcare.com)",
        confidence=V,
    ),
    categories=frozenset({Category.TAX_MAJOR_VIOLATION}),
    systems=None,
    clock=Sourced(
        value=Clock.PUBLICATION_DATE,
        source="国家税务总局令第54号: 失信主体信息自公布之日起满3年的停止公布 (recalled wording)",
        confidence=R,
    ),
    in_force_from=Sourced(value=date(2022, 2, 1), source="domain.md §1", confidence=V),
    effect=Note(
        code="stop_publication",
        text="提前停止公布失信主体信息",
        source="国家税务总局令第54号 (csrcare.com: 提前停止公布 clause exists; domain.md §5.4)",
        confidence=V,
    ),
    conditions=(
        Note(
            code="tax_paid",
            text="按规定缴清税款、滞纳金和罚款",
            source="国家税务总局令第54号 (domain.md §5.4)",
            confidence=R,
        ),
    ),
    notes=(
        Note(
            code="publication_deadline",
            text="税务机关在失信主体确定文书送达后的次月15日内向社会公布",
            source="domain.md §5.4 (gugebb.cn)",
            confidence=V,
        ),
    ),
    maximum=Sourced(value=YEARS_3, source="国家税务总局令第54号 (domain.md §5.4)", confidence=R),
    early_after=None,
)

WAGE_ARREARS_LIST = ListRegime(
    id="mohrss_order_45",
    name="MOHRSS Order 45 — 拖欠农民工工资失信联合惩戒对象名单",
    instrument=Sourced(
        value="《拖欠农民工工资失信联合惩戒对象名单管理暂行办法》（人社部令第45号）",
        source="domain.md §1 (fa.113you.com)",
        confidence=V,
    ),
    categories=frozenset({Category.WAGE_ARREARS}),
    systems=None,
    clock=_LISTING_CLOCK_INFERRED,
    in_force_from=Sourced(value=date(2022, 1, 1), source="domain.md §1", confidence=V),
    effect=Note(
        code="remove_from_list",
        text="提前移出失信联合惩戒名单",
        source="人社部令第45号 (domain.md §5.4)",
        confidence=V,
    ),
    conditions=(
        Note(
            code="wages_paid",
            text="已改正拖欠工资违法行为（支付拖欠的农民工工资）",
            source="人社部令第45号 (domain.md §5.4, fa.113you.com)",
            confidence=V,
        ),
        Note(
            code="six_months_since_correction",
            text="自改正之日起满6个月（网关不知道改正日期，按列入日期计算最早可申请日）",
            source="人社部令第45号 (domain.md §5.4); counting from the listing date is a lower bound (design)",
            confidence=V,
        ),
        Note(
            code="credit_commitment",
            text="作出守信承诺",
            source="人社部令第45号 (domain.md §5.4)",
            confidence=V,
        ),
    ),
    maximum=Sourced(value=YEARS_3, source="人社部令第45号 (domain.md §5.4, fa.113you.com)", confidence=V),
    early_after=Sourced(
        value=MONTHS_6,
        source="人社部令第45号 (domain.md §5.4); counted here from the listing date as the earliest possible day",
        confidence=V,
    ),
)

WORK_SAFETY_LIST = ListRegime(
    id="mem_order_11",
    name="MEM Order 11 — 安全生产严重失信主体名单",
    instrument=Sourced(
        value="《安全生产严重失信主体名单管理办法》（应急管理部令第11号）",
        source="domain.md §1 (wenlishe.com, kmsl.gov.cn)",
        confidence=V,
    ),
    categories=frozenset({Category.WORK_SAFETY}),
    systems=None,
    clock=_LISTING_CLOCK_INFERRED,
    in_force_from=Sourced(value=date(2023, 10, 1), source="domain.md §1", confidence=V),
    effect=Note(
        code="remove_from_list",
        text="提前移出安全生产严重失信主体名单",
        source="应急管理部令第11号 (domain.md §5.4)",
        confidence=R,
    ),
    conditions=(
        Note(
            code="obligations_performed",
            text="已纠正失信行为、履行相关义务",
            source="应急管理部令第11号 (domain.md §5.4; article text not verified)",
            confidence=R,
        ),
        Note(
            code="credit_commitment",
            text="作出信用承诺",
            source="应急管理部令第11号 (domain.md §5.4; article text not verified)",
            confidence=R,
        ),
    ),
    maximum=Sourced(
        value=YEARS_3,
        source="应急管理部令第11号 (domain.md §5.4: Shanxi implementation [V], national article [R])",
        confidence=R,
    ),
    # lists.md §3: early removal once listed ≥ 12 months [V Shanxi rule]; at the 3 years the deciding
    # unit itself removes the subject and stops publication (its feed's zt 21 is the signal).
    early_after=Sourced(
        value=Period.of_months(12),
        source="应急管理部令第11号 (lists.md §3, domain.md §5.4: Shanxi implementation [V], national article [R])",
        confidence=R,
    ),
)

STATISTICS_LIST = ListRegime(
    id="nbs_order_35",
    name="NBS Order 35 — 统计严重失信企业",
    instrument=Sourced(
        value="《统计严重失信企业信用管理办法》（国家统计局令第35号）",
        source="domain.md §1 (567hw.com)",
        confidence=V,
    ),
    categories=frozenset({Category.STATISTICS_SERIOUS}),
    systems=None,
    clock=_LISTING_CLOCK_INFERRED,
    in_force_from=Sourced(value=date(2022, 5, 19), source="domain.md §1 (in force on publication)", confidence=V),
    effect=Note(
        code="remove_from_list",
        text="信用修复后停止公示统计严重失信企业信息",
        source="国家统计局令第35号 (domain.md §5.4)",
        confidence=R,
    ),
    conditions=(
        Note(
            code="corrected",
            text="已整改到位、纠正统计违法行为",
            source="国家统计局令第35号 (domain.md §5.4; article text not verified)",
            confidence=R,
        ),
        Note(
            code="credit_commitment",
            text="作出信用承诺",
            source="国家统计局令第35号 (domain.md §5.4; article text not verified)",
            confidence=R,
        ),
    ),
    notes=(
        Note(
            code="older_regime",
            text="国统字〔2019〕33号：公示1年，整改到位可提前移除但不少于6个月，整改不到位延长至2年",
            source="domain.md §5.4 (0797cx.cn)",
            confidence=V,
        ),
    ),
    maximum=Sourced(value=YEARS_3, source="国家统计局令第35号 (domain.md §5.4: likely 3 years)", confidence=R),
    # lists.md §4: 35号令 "3 years from 认定; repair possible after a minimum time (1 year [R])"; the
    # 2019 rule's 1 year / 6 months is the older regime (note above), not applied to 35号令 listings.
    early_after=Sourced(
        value=YEAR_1, source="国家统计局令第35号 (lists.md §4: 1 year [R]; confirm against the text)", confidence=R
    ),
)

SOCIAL_ORG_LIST = ListRegime(
    id="mca_order_60",
    name="MCA Order 60 — 社会组织严重违法失信名单",
    instrument=Sourced(
        value="《社会组织信用信息管理办法》（民政部令第60号）",
        source="domain.md §1 (jianbiaoku.com/webarbs/book/164191.shtml)",
        confidence=V,
    ),
    categories=frozenset({Category.SOCIAL_ORG_SERIOUS}),
    systems=None,
    clock=_LISTING_CLOCK_INFERRED,
    in_force_from=Sourced(value=date(2018, 1, 24), source="domain.md §1", confidence=V),
    effect=Note(
        code="remove_from_list",
        text="由登记管理机关移出严重违法失信名单",
        source="民政部令第60号 (secondary summary, universityage.com)",
        confidence=V,
    ),
    conditions=(
        Note(
            code="no_new_listing_grounds",
            text="列入满2年期间未再出现应当列入活动异常名录或严重违法失信名单的情形",
            source="民政部令第60号 (secondary summary, universityage.com; domain.md §5.4 [R])",
            confidence=V,
        ),
        Note(
            code="obligations_performed",
            text="因列入活动异常名录满2年而被列入的，移出前须履行相关义务或完成整改要求",
            source="民政部令第60号 (secondary summary, universityage.com)",
            confidence=V,
        ),
    ),
    maximum=None,
    maximum_caveat=Note(
        code="no_automatic_expiry",
        text="名单无已知的自动届满期限：满2年后经申请移出；被吊销登记证书、撤销登记的，完成注销登记后移出",
        source="民政部令第60号 (secondary summary, universityage.com); no fixed maximum found",
        confidence=R,
    ),
    early_after=Sourced(
        value=YEARS_2,
        source="民政部令第60号: 列入满2年方可申请移出 (secondary summary, universityage.com; domain.md §5.4 [R])",
        confidence=V,
    ),
)

# ---- guidance: who repairs, where to apply, materials, time limits (seed 附件1, §(一)–(四)) ---------

CREDIT_GANSU_SITE = Channel(
    name="信用中国（甘肃）", url="https://credit.gansu.gov.cn", source=f"{SEED} 附件2 告知书 §二", confidence=V
)
CREDITCHINA_SITE = Channel(
    name="信用中国", url="https://www.creditchina.gov.cn", source=f"{SEED} 附件2 告知书 §二", confidence=V
)
GSXT_SITE = Channel(
    name="国家企业信用信息公示系统（甘肃）信用修复专栏",
    url=None,
    source=f"{SEED} §(一), §(二) (the seed names the site, not its address)",
    confidence=V,
)
GOV_SERVICE_SITE = Channel(
    name="甘肃政务服务网“高效办成一件事”专栏（修复进度查询）",
    url=None,
    source=f"{SEED} §(二)",
    confidence=V,
)
SINGLE_WINDOW = Channel(
    name="信用中国 总窗口（2026-04-01 起统一受理，推送行业主管部门办理）",
    url="https://www.creditchina.gov.cn",
    source="NDRC Order 36 (domain.md §5.2, cctv-cmpany.net)",
    confidence=V,
)


def _department(name: str, source: str, confidence: Confidence = V) -> Channel:
    return Channel(name=name, url=None, source=source, confidence=confidence)


CREDITCHINA_REVIEW = Note(
    code="creditchina_review_10_working_days",
    text="信用中国网站自提交成功之日起10个工作日内完成信用修复审核，撤下公示信息",
    source="Qingcheng district guidance 2024-01-05 (domain.md §5.1)",
    confidence=V,
)
SHARE_RESULT = Note(
    code="share_result_3_working_days",
    text="地方信用平台网站自信用中国作出信用修复决定之日起3个工作日内将结果共享至认定单位及相关系统",
    source="Qingcheng district guidance 2024-01-05 (domain.md §5.1, §8.3)",
    confidence=V,
)
ORDER_36_DEADLINES = Note(
    code="order_36_deadlines_unverified",
    text="第36号令/国办发〔2025〕22号 §七 规定了受理、反馈和同步更新的工作日时限，具体天数未核实",
    source="domain.md §5.2 (fragments only; gov.cn content_7029483.htm)",
    confidence=R,
)
SAMR_DEADLINES = Note(
    code="samr_deadlines",
    text="市场监管部门：2个工作日内决定是否受理，受理后15个工作日内作出决定，决定后3个工作日内停止公示或移出",
    source="市场监督管理信用修复管理办法 (domain.md §5.3: to verify against the 2021 text)",
    confidence=R,
)
SAMR_PUBLISH = Note(
    code="publish_within_20_working_days",
    text="行政处罚决定作出之日起20个工作日内在公示系统公示（跨省：10+10个工作日）",
    source=f"{_SAMR_45} art. 9, 10 (domain.md §5.3)",
    confidence=V,
)
SAMR_WITHDRAW = Note(
    code="withdraw_within_3_working_days",
    text="处罚决定被变更、撤销或确认无效的，3个工作日内撤下（撤下不是信用修复）",
    source=f"{_SAMR_45} art. 11 (domain.md §5.3, §8.4)",
    confidence=V,
)
COURT_DELETE = Note(
    code="court_deletes_within_3_working_days",
    text="符合删除情形的，人民法院在3个工作日内删除失信信息",
    source="2017 规定 (domain.md §4.3)",
    confidence=R,
)

MUTUAL_RECOGNITION = Note(
    code="mutual_recognition",
    text="信用中国（甘肃）与GSXT（甘肃）修复数据共享、修复结果互认，两个系统同步修复",
    source=f"{SEED} §(二)",
    confidence=V,
)
SAMR_PUSHES = Note(
    code="samr_pushes_to_platform",
    text="市场监管部门完成修复后，由省市场监管局将修复信息同步至省信用信息共享平台，信用中国（甘肃）同步更新",
    source=f"{SEED} §(三)",
    confidence=V,
)
LIST_SHARES = Note(
    code="listing_department_shares",
    text=(
        "认定部门受理移出申请；上级部委已明确流程的按流程办理，否则认定部门将移出结果共享至上级主管单位"
        "和省信用信息共享平台，信用中国（甘肃）同步更新"
    ),
    source=f"{SEED} §(四)",
    confidence=V,
)

APPLICATION_FORM = Note(
    code="application_form",
    text="信用修复申请书",
    source="application practice of 信用中国 and SAMR (not quoted in domain.md)",
    confidence=R,
)
COMMITMENT_LETTER = Note(
    code="commitment_letter",
    text="信用承诺书（含对所提交材料真实性负责）",
    source=f"NDRC Order 36 (domain.md §5.2); {SEED} §二",
    confidence=V,
)
PERFORMANCE_PROOF = Note(
    code="performance_proof",
    text="履行义务的证明（如罚款缴纳凭证、没收款物上缴凭证）",
    source="derived from the conditions (domain.md §5.1, §5.3)",
    confidence=INFERRED,
)
CORRECTION_PROOF = Note(
    code="correction_proof",
    text="纠正违法行为、消除危害后果和不良影响的证明材料",
    source="derived from the conditions (domain.md §5.1, §5.3)",
    confidence=INFERRED,
)


def _list_route(owner: System, authority: str, source: str, where: Channel, confidence: Confidence = V) -> RepairRoute:
    return RepairRoute(
        applies_when="全部记录",
        authority_domain=None,
        owner=owner,
        authority=Note(code="listing_department", text=authority, source=source, confidence=confidence),
        where_to_apply=(where, SINGLE_WINDOW, CREDIT_GANSU_SITE),
        time_limits=(SHARE_RESULT,),
        propagation=LIST_SHARES,
    )


def _units(text: str, row: int) -> Note:
    return Note(code="responsible_units", text=text, source=f"{SEED} 附件1 row {row}", confidence=V)


GUIDES = (
    CategoryGuide(
        category=Category.ADMIN_PENALTY,
        responsible_units=_units("省经济研究院、省市场监管局", 1),
        routes=(
            RepairRoute(
                applies_when="非市场监管部门作出的行政处罚",
                authority_domain=AuthorityDomain.OTHER,
                owner=System.CREDITCHINA_GANSU,
                authority=Note(
                    code="credit_lead_department",
                    text="信用中国（甘肃）受理，各级社会信用体系建设牵头部门分级协同审核",
                    source=f"{SEED} §(二)",
                    confidence=V,
                ),
                where_to_apply=(CREDIT_GANSU_SITE, CREDITCHINA_SITE, GOV_SERVICE_SITE),
                time_limits=(CREDITCHINA_REVIEW, SHARE_RESULT, ORDER_36_DEADLINES),
                propagation=MUTUAL_RECOGNITION,
            ),
            RepairRoute(
                applies_when="市场监管部门作出的行政处罚",
                authority_domain=AuthorityDomain.MARKET_REGULATION,
                owner=System.GSXT_GANSU,
                authority=Note(
                    code="deciding_samr_office",
                    text="作出行政处罚决定的市场监管部门（谁登记、谁负责，谁决定、谁修复）",
                    source=f"{SEED} §(二); 市场监督管理信用修复管理办法 art. 4 (domain.md §5.3)",
                    confidence=V,
                ),
                where_to_apply=(GSXT_SITE, GOV_SERVICE_SITE),
                time_limits=(SAMR_DEADLINES, SAMR_PUBLISH, SAMR_WITHDRAW),
                propagation=MUTUAL_RECOGNITION,
            ),
        ),
        materials=(APPLICATION_FORM, COMMITMENT_LETTER, PERFORMANCE_PROOF, CORRECTION_PROOF),
    ),
    CategoryGuide(
        category=Category.ABNORMAL_OPERATIONS,
        responsible_units=_units("省市场监管局", 2),
        routes=(
            RepairRoute(
                applies_when="全部记录（个体工商户：经营异常状态标记）",
                authority_domain=None,
                owner=System.GSXT_GANSU,
                authority=Note(
                    code="listing_samr_office",
                    text="作出列入决定的市场监管部门（个体工商户标记：作出标记的部门）",
                    source=f"{SEED} §(三); 市场监督管理信用修复管理办法 art. 4 (domain.md §5.3)",
                    confidence=V,
                ),
                where_to_apply=(GSXT_SITE, GOV_SERVICE_SITE),
                time_limits=(SAMR_DEADLINES,),
                propagation=SAMR_PUSHES,
            ),
        ),
        materials=(
            APPLICATION_FORM,
            Note(
                code="cause_remedy_proof",
                text="与列入原因对应的材料：补报的年度报告、已公示的即时信息、更正后的信息、住所变更登记或可联系的证明",
                source="derived from the pairing table (domain.md §3.1)",
                confidence=INFERRED,
            ),
        ),
    ),
    CategoryGuide(
        category=Category.SAMR_SERIOUS,
        responsible_units=_units("省市场监管局", 3),
        routes=(
            RepairRoute(
                applies_when="全部记录",
                authority_domain=None,
                owner=System.GSXT_GANSU,
                authority=Note(
                    code="listing_samr_office",
                    text="作出列入决定的市场监管部门",
                    source=f"{SEED} §(四); 市场监督管理信用修复管理办法 art. 4 (domain.md §5.3)",
                    confidence=V,
                ),
                where_to_apply=(GSXT_SITE, GOV_SERVICE_SITE),
                time_limits=(SAMR_DEADLINES,),
                propagation=SAMR_PUSHES,
            ),
        ),
        materials=(APPLICATION_FORM, COMMITMENT_LETTER, PERFORMANCE_PROOF, CORRECTION_PROOF),
    ),
    CategoryGuide(
        category=Category.COURT_DISHONEST,
        responsible_units=_units("省法院、省经济研究院", 4),
        routes=(
            RepairRoute(
                applies_when="全部记录",
                authority_domain=None,
                owner=System.COURT,
                authority=Note(
                    code="executing_court",
                    text="作出纳入决定的执行法院（仅法院可删除）",
                    source=f"{SEED} §(四); domain.md §4.3",
                    confidence=V,
                ),
                where_to_apply=(_department("执行法院", "domain.md §4.3"),),
                time_limits=(COURT_DELETE, SHARE_RESULT),
                propagation=LIST_SHARES,
            ),
        ),
        materials=(
            Note(
                code="court_removal_proof",
                text="全部履行的凭证、执行和解协议履行完毕的证明或终结执行裁定书",
                source="derived from 2013 规定 art. 7 (domain.md §4.3)",
                confidence=INFERRED,
            ),
        ),
    ),
    CategoryGuide(
        category=Category.TAX_MAJOR_VIOLATION,
        responsible_units=_units("省税务局", 5),
        routes=(
            _list_route(
                System.TAX,
                "作出失信主体确定的税务机关（实施检查的税务机关）",
                "domain.md §5.4",
                _department("作出确定的税务机关", "domain.md §5.4", R),
                R,
            ),
        ),
        materials=(
            APPLICATION_FORM,
            Note(
                code="tax_payment_proof",
                text="缴清税款、滞纳金和罚款的凭证",
                source="derived from the condition (domain.md §5.4)",
                confidence=INFERRED,
            ),
        ),
    ),
    CategoryGuide(
        category=Category.WAGE_ARREARS,
        responsible_units=_units("省人社厅", 6),
        routes=(
            _list_route(
                System.HRSS,
                "作出列入决定的人力资源社会保障行政部门（谁执法、谁认定、谁负责）",
                "人社部令第45号 (domain.md §5.4, fa.113you.com)",
                _department("作出列入决定的人力资源社会保障行政部门", "domain.md §5.4"),
            ),
        ),
        materials=(
            APPLICATION_FORM,
            Note(
                code="wage_payment_proof",
                text="已支付拖欠农民工工资的凭证",
                source="derived from the condition (domain.md §5.4)",
                confidence=INFERRED,
            ),
            Note(
                code="commitment_letter",
                text="守信承诺书",
                source="人社部令第45号 (domain.md §5.4)",
                confidence=V,
            ),
        ),
    ),
    CategoryGuide(
        category=Category.WORK_SAFETY,
        responsible_units=_units("省应急厅", 7),
        routes=(
            _list_route(
                System.EMERGENCY,
                "作出列入决定的应急管理部门（谁处罚、谁决定、谁负责）",
                "domain.md §5.4 (kmsl.gov.cn)",
                _department("作出列入决定的应急管理部门", "domain.md §5.4"),
            ),
        ),
        materials=(APPLICATION_FORM, COMMITMENT_LETTER, CORRECTION_PROOF),
    ),
    CategoryGuide(
        category=Category.STATISTICS_SERIOUS,
        responsible_units=_units("省统计局", 8),
        routes=(
            _list_route(
                System.STATISTICS,
                "作出认定的统计机构（谁认定、谁管理、谁负责）",
                "domain.md §5.4 (tjj.shaoyang.gov.cn)",
                _department("作出认定的统计机构", "domain.md §5.4"),
            ),
        ),
        materials=(APPLICATION_FORM, COMMITMENT_LETTER, CORRECTION_PROOF),
    ),
    CategoryGuide(
        category=Category.SOCIAL_ORG_SERIOUS,
        responsible_units=_units("省民政厅", 9),
        routes=(
            _list_route(
                System.CIVIL_AFFAIRS,
                "社会组织的登记管理机关（民政部门）",
                "domain.md §5.4",
                _department("登记管理机关（民政部门）", "domain.md §5.4"),
            ),
        ),
        materials=(
            APPLICATION_FORM,
            Note(
                code="rectification_proof",
                text="履行相关义务或完成整改要求的证明",
                source="民政部令第60号 (secondary summary, universityage.com)",
                confidence=INFERRED,
            ),
        ),
    ),
)

HELP_CHANNELS = (
    CREDIT_GANSU_SITE,
    GSXT_SITE,
    GOV_SERVICE_SITE,
    Channel(name="“甘快办”APP 信用修复专栏", url=None, source=f"{SEED} §(一)", confidence=V),
    Channel(name="市（州）政务大厅、政务服务中心（线下咨询、受理）", url=None, source=f"{SEED} §(一)", confidence=V),
    Channel(name="“甘肃12345”热线（指引、流程、要件、时限咨询）", url=None, source=f"{SEED} §(一)", confidence=V),
)

GENERAL_NOTES = (
    Note(
        code="free_of_charge",
        text="开展信用修复不收取任何费用；以加快修复等理由收费的均为诈骗或违法违纪行为",
        source=f"{SEED} 附件2 告知书 §三",
        confidence=V,
    ),
    Note(
        code="maximum_stops_by_itself",
        text="最长公示期届满后，相关信息自动停止公示，无需申请",
        source=f"{SEED} 附件2 告知书 §二; domain.md §8.5",
        confidence=V,
    ),
    Note(
        code="period_arithmetic",
        text="期间开始的当日不计入；按月、年计算的，到期月的对应日为最后一日，没有对应日的，月末日为最后一日",
        source="民法典 第二百零一条、第二百零二条 (domain.md §10)",
        confidence=R,
    ),
)

RULEBOOK = Rulebook(
    regimes=(
        ORDER_58,
        ORDER_36,
        SAMR_PENALTIES,
        ABNORMAL_LIST,
        SAMR_SERIOUS_LIST,
        COURT_LIST,
        TAX_LIST,
        WAGE_ARREARS_LIST,
        WORK_SAFETY_LIST,
        STATISTICS_LIST,
        SOCIAL_ORG_LIST,
    ),
    guides=GUIDES,
    help_channels=HELP_CHANNELS,
    general_notes=GENERAL_NOTES,
    sectors=SECTORS,
)
