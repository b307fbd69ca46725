"""The nine record categories of the seed's 附件1, the systems, and who owns what (谁认定、谁修复)."""

from __future__ import annotations

from enum import StrEnum


class System(StrEnum):
    CREDITCHINA_GANSU = "creditchina_gansu"
    GSXT_GANSU = "gsxt_gansu"
    COURT = "court"
    TAX = "tax"
    HRSS = "hrss"
    EMERGENCY = "emergency"
    STATISTICS = "statistics"
    CIVIL_AFFAIRS = "civil_affairs"


class Category(StrEnum):
    ADMIN_PENALTY = "admin_penalty"  # 行政处罚信息
    ABNORMAL_OPERATIONS = "abnormal_operations"  # 经营异常名录信息
    SAMR_SERIOUS = "samr_serious"  # 市场监督管理严重违法失信名单
    COURT_DISHONEST = "court_dishonest"  # 失信被执行人
    TAX_MAJOR_VIOLATION = "tax_major_violation"  # 重大税收违法失信主体
    WAGE_ARREARS = "wage_arrears"  # 拖欠农民工工资失信联合惩戒对象
    WORK_SAFETY = "work_safety"  # 安全生产严重失信主体
    STATISTICS_SERIOUS = "statistics_serious"  # 统计严重失信企业
    SOCIAL_ORG_SERIOUS = "social_org_serious"  # 社会组织严重违法失信名单


CATEGORY_LABELS: dict[Category, str] = {
    Category.ADMIN_PENALTY: "行政处罚信息",
    Category.ABNORMAL_OPERATIONS: "经营异常名录信息",
    Category.SAMR_SERIOUS: "市场监督管理严重违法失信名单信息",
    Category.COURT_DISHONEST: "失信被执行人信息",
    Category.TAX_MAJOR_VIOLATION: "重大税收违法失信主体信息",
    Category.WAGE_ARREARS: "拖欠农民工工资失信联合惩戒对象名单信息",
    Category.WORK_SAFETY: "安全生产严重违法失信主体名单信息",
    Category.STATISTICS_SERIOUS: "统计严重违法失信企业信息",
    Category.SOCIAL_ORG_SERIOUS: "社会组织严重违法失信名单",
}


class AuthorityDomain(StrEnum):
    """Whether the deciding authority is market regulation: it decides who owns a penalty."""

    MARKET_REGULATION = "market_regulation"
    OTHER = "other"


class SubjectType(StrEnum):
    LEGAL_ENTITY = "legal_entity"  # 法人及非法人组织
    INDIVIDUAL_BUSINESS = "individual_business"  # 个体工商户
    NATURAL_PERSON = "natural_person"  # 自然人


# List categories: the listing department's system owns the record and 信用中国（甘肃） mirrors it
# (seed §(四): the department shares the removal with 省信用信息共享平台, then 信用中国 updates).
_LIST_OWNERS: dict[Category, System] = {
    Category.ABNORMAL_OPERATIONS: System.GSXT_GANSU,
    Category.SAMR_SERIOUS: System.GSXT_GANSU,
    Category.COURT_DISHONEST: System.COURT,
    Category.TAX_MAJOR_VIOLATION: System.TAX,
    Category.WAGE_ARREARS: System.HRSS,
    Category.WORK_SAFETY: System.EMERGENCY,
    Category.STATISTICS_SERIOUS: System.STATISTICS,
    Category.SOCIAL_ORG_SERIOUS: System.CIVIL_AFFAIRS,
}

# Authority names that mark market regulation (SAMR and its predecessors). Used only when a
# system's row does not say which side it comes from; configuration can pin authority codes.
MARKET_REGULATION_MARKERS = ("市场监督管理", "市场监管", "工商行政管理", "食品药品监督管理")


def classify_authority(name: str) -> AuthorityDomain:
    if any(marker in name for marker in MARKET_REGULATION_MARKERS):
        return AuthorityDomain.MARKET_REGULATION
    return AuthorityDomain.OTHER


def owner_of(category: Category, authority_domain: AuthorityDomain) -> System:
    """谁认定、谁修复: the system of record for a record."""
    if category is Category.ADMIN_PENALTY:
        if authority_domain is AuthorityDomain.MARKET_REGULATION:
            return System.GSXT_GANSU
        return System.CREDITCHINA_GANSU
    return _LIST_OWNERS[category]


# Other departments' lists GSXT shows under an enterprise (lists.md §3: the work-safety list is
# published on GSXT), written to its `othersxmd` table (docs/protocols.md §2b).
GSXT_COLLECTED_LISTS = frozenset({Category.WORK_SAFETY})


def mirrors_of(category: Category, authority_domain: AuthorityDomain, subject_type: SubjectType) -> tuple[System, ...]:
    """Systems that publish the record without deciding it.

    GSXT shows only enterprise-side records (it has no natural persons), and shows other
    departments' penalties and the lists it collects (`GSXT_COLLECTED_LISTS`, ADR 0028) under
    the enterprise; every category is mirrored on 信用中国（甘肃）, which publishes all of them.
    """
    owner = owner_of(category, authority_domain)
    mirrors = [System.CREDITCHINA_GANSU] if owner is not System.CREDITCHINA_GANSU else []
    if (
        category in (Category.ADMIN_PENALTY, *GSXT_COLLECTED_LISTS)
        and owner is not System.GSXT_GANSU
        and subject_type is not SubjectType.NATURAL_PERSON
    ):
        mirrors.append(System.GSXT_GANSU)
    return tuple(mirrors)
