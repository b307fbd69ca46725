"""The 行政处罚信息信用修复告知书 of the seed's 附件2 (两书同达), filled in for one penalty.

"谁处罚谁告知、一处罚一告知" (seed §(六)): the deciding authority serves this notice together with
the 行政处罚决定书. The wording follows 附件2; the values come from the record and from the rule
engine applied with the OWNER's rules (谁认定、谁修复: Order 58 / Order 36 on 信用中国（甘肃） from the
decision date, SAMR's rules on GSXT from the publication date), so the notice states exactly the
dates the eligibility endpoint and the reminders use. The general sentence of §二 is generated from
the same rule data (the Order 58 values reproduce 附件2's sentence word for word).

A penalty whose dates cannot be computed (no decision or publication date, an Order 36 record without
its tier, …) still gets its notice: §二 then says that the dates cannot be computed and why — never
a guessed date. A penalty that is not published at all, or never stopped early, says so instead of
giving a minimum period. Only administrative penalties have this notice (`NoticeNotApplicable`).

`build_notice` is pure; `render_notice` fills the jinja2 templates `notice.txt.j2` / `notice.html.j2`
(HTML autoescaped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from gateway.domain.categories import Category, SubjectType, System
from gateway.domain.model import RecordFacts
from gateway.domain.rules import Code, PeriodEnd, Reason, RuleOverrides, apply_overrides, guidance, schedule
from gateway.domain.rules.data import RULEBOOK
from gateway.domain.rules.schema import (
    Clock,
    Regime,
    RepairRoute,
    SamrPenaltyRegime,
    TieredPenaltyRegime,
    UniformPenaltyRegime,
)
from gateway.templating import cn_or, cn_period, html_environment, site_label, text_environment

NoticeFormat = Literal["text", "html"]
FORMATS: tuple[NoticeFormat, ...] = ("text", "html")
TITLE = "行政处罚信息信用修复告知书"

SYSTEM_LABELS: dict[System, str] = {
    System.CREDITCHINA_GANSU: "信用中国（甘肃）",
    System.GSXT_GANSU: "国家企业信用信息公示系统（甘肃）",
}
# 附件2 §一: where the authority reports the penalty, as the template names the two systems.
_REPORTED_TO: dict[System, str] = {
    System.CREDITCHINA_GANSU: "“信用中国”网站",
    System.GSXT_GANSU: "国家企业信用信息公示系统",
}
_CLOCK_LABELS = {
    Clock.DECISION_DATE: "作出行政处罚决定之日",
    Clock.PUBLICATION_DATE: "在国家企业信用信息公示系统公示之日",
}
_FLAG_LABELS = {
    "food": "食品",
    "drugs": "药品",
    "special_equipment": "特种设备",
    "work_safety": "安全生产",
    "fire": "消防",
}

# Why the dates cannot be given, in the notice's language (codes from gateway.domain.rules.Code).
_WHY_NOT_EVALUABLE: dict[str, str] = {
    Code.DECISION_DATE_MISSING: "记录未载明作出行政处罚决定的日期，公示期限无法计算",
    Code.PUBLICATION_DATE_MISSING: (
        "记录未载明在国家企业信用信息公示系统公示的日期（市场监管部门行政处罚信息的公示期限自公示之日起计算），公示期限无法计算"
    ),
    Code.SEVERITY_MISSING: (
        "自2026年4月1日起作出的行政处罚按轻微、一般、严重分类确定公示期限，记录未载明本次处罚的分类（由行业主管部门确定，"
        "不作推测），公示期限无法计算"
    ),
    Code.PENALTY_KINDS_MISSING: "记录未载明处罚类别，公示期限无法计算",
    Code.FINE_AMOUNT_MISSING: "记录未载明罚款金额，无法判断是否属于较低数额罚款，公示期限无法计算",
    Code.LOW_FINE_THRESHOLD_MISSING: "未设定本类主体较低数额罚款的标准，公示期限无法计算",
    Code.SECTOR_UNKNOWN: (
        "记录未载明可判断行业领域的处罚依据（食品、药品、特种设备、安全生产、消防等领域最短公示期较长），"
        "处罚机关的职责涉及多个领域，最短公示期无法计算（不作推测）"
    ),
    Code.NO_RULE_FOR_DATE: "没有适用于该日期的公示规则，公示期限无法计算",
    Code.NO_RULE_FOR_SYSTEM: "没有适用的公示规则，公示期限无法计算",
    Code.DATE_OUT_OF_RANGE: "日期超出可计算的范围，公示期限无法计算",
    Code.SYSTEM_DOES_NOT_PUBLISH: "该系统不公示此类记录",
}
_NOTES: dict[str, str] = {
    Code.LONGEST_PERIOD_WINS: "同一处罚决定含多种处罚类别的，按最长的公示期限执行。",
    Code.BEFORE_REGIME_IN_FORCE: "处罚决定早于上述规则施行之日，按上述规则计算；当时适用的规则可能不同。",
    Code.UNRECOGNISED_PENALTY_KIND: "处罚类别不属于行政处罚法第九条所列种类的，按三年公示期计算。",
}


class NoticeNotApplicable(ValueError):
    """The 告知书 of 附件2 is for administrative penalties only."""


@dataclass(frozen=True, kw_only=True)
class Notice:
    """Everything the templates print, already in the notice's words (no logic in the templates
    beyond choosing paragraphs)."""

    record_id: str
    title: str
    subject_name: str
    subject_code: str | None
    addressee: str  # 你单位 (organisations) or 你 (natural persons)
    authority_name: str
    document_number: str
    decision_date: date | None
    reported_to: str  # §一: the systems the penalty is reported to
    owner: System
    owner_label: str
    instrument: str | None  # the rule set applied (its legal instrument)
    regime_id: str | None
    general_rules: str  # §二, first sentences: the periods of the rule set
    uniform: bool  # Order 58: 附件2's own wording of the application sentence
    conditions: str  # §二: what the subject must have done (for the other rule sets)
    sites: str  # §二: where to apply
    propagation: str | None  # 修复结果互认
    evaluable: bool
    published: bool | None
    clock_label: str | None
    start: date | None
    minimum: PeriodEnd | None  # first_day_after: the first day the subject may apply
    maximum: PeriodEnd | None  # first_day_after: the first day publicity has stopped by itself
    statements: tuple[str, ...]  # why there are no dates, or no early stop
    reason_codes: tuple[str, ...]
    notes: tuple[str, ...]
    arithmetic: str | None  # 民法典 201/202, as guidance states it
    issued_on: date | None  # 落款 date: the notice is served with the decision


def route_for(facts: RecordFacts, *, overrides: RuleOverrides | None = None) -> RepairRoute | None:
    """The guidance route (who decides, where to apply) for this record: its category's route for
    the record's authority domain and owner."""
    for route in guidance(facts.category, overrides=overrides).routes:
        if route.owner is facts.owner and route.authority_domain in (None, facts.authority_domain):
            return route
    return None


def _general_rules(regime: Regime | None) -> str:
    """§二's general sentences for the rule set, from the rule data."""
    stops = "最长公示期届满后，相关信息自动停止公示。"
    if isinstance(regime, UniformPenaltyRegime):
        flags = "、".join(
            _FLAG_LABELS.get(f.value, f.value) for f in sorted(regime.long_minimum_flags.value, key=_order)
        )
        return (
            f"行政处罚信息最短公示期为{cn_period(regime.minimum.value)}，最长公示期为{cn_period(regime.maximum.value)}，"
            f"其中涉及{flags}领域行政处罚信息最短公示期{cn_period(regime.minimum_long.value)}。"
            f"最短公示期届满，方可按规定申请提前终止公示；{stops}"
        )
    if isinstance(regime, TieredPenaltyRegime):
        parts = []
        for tier in regime.tiers:
            if not tier.published_by_default:
                parts.append(f"{tier.label}失信信息原则上不予公示（确需公示的，最长不超过{cn_period(tier.maximum)}）")
            elif tier.minimum is not None:
                parts.append(
                    f"{tier.label}失信信息最短公示期为{cn_period(tier.minimum)}，最长公示期为{cn_period(tier.maximum)}"
                )
            else:
                parts.append(f"{tier.label}失信信息最长公示期为{cn_period(tier.maximum)}")
        labels = "、".join(t.label for t in regime.tiers)
        return (
            f"行政处罚信息按失信程度分为{labels}三类：{'；'.join(parts)}。"
            f"最短公示期届满，方可按规定申请提前终止公示；{stops}"
        )
    if isinstance(regime, SamrPenaltyRegime):
        light = "、".join(sorted(regime.light_kinds.value))
        restriction = "、".join(sorted(regime.restriction_kinds.value))
        heavy = "、".join(sorted(regime.heavy_kinds.value))
        long_flags = "、".join(
            _FLAG_LABELS.get(f.value, f.value) for f in sorted(regime.long_early_flags.value, key=_order)
        )
        return (
            f"市场监管部门行政处罚信息的公示期限自公示之日起计算：仅受到{light}或者较低数额罚款的，"
            f"公示期为{cn_period(regime.light_period.value)}；其他行政处罚信息公示期为"
            f"{cn_period(regime.standard_period.value)}（{restriction}期限超过三年的，公示期与其期限相同）。"
            f"公示满{cn_period(regime.early_minimum.value)}（涉及{long_flags}领域满"
            f"{cn_period(regime.early_minimum_long.value)}）方可按规定申请提前停止公示；{heavy}等较重行政处罚"
            f"不得提前停止公示。公示期届满后，相关信息自动停止公示。"
        )
    return ""


def _no_regime(candidates: tuple[Regime, ...]) -> str:
    """§二 when no rule set could be chosen (the date that chooses it is missing): say so, and which."""
    ordered = sorted(candidates, key=lambda r: r.applies_from or date.min)
    named = "；".join(f"{_span(r)}适用{_plain(r.instrument.value)}" for r in ordered)
    return (
        f"行政处罚信息的公示期限按作出处罚决定的日期适用不同规则（{named}），本记录未载明该日期，适用的规则无法确定。"
    )


def _span(regime: Regime) -> str:
    if regime.applies_from and regime.applies_until:
        return f"{regime.applies_from.isoformat()}至{regime.applies_until.isoformat()}"
    if regime.applies_until:
        return f"{regime.applies_until.isoformat()}及以前"
    if regime.applies_from:
        return f"{regime.applies_from.isoformat()}起"
    return "任何日期"


def _order(flag: object) -> int:
    order = list(_FLAG_LABELS)
    value = getattr(flag, "value", "")
    return order.index(value) if value in order else len(order)


def _plain(text: str) -> str:
    """Rule-data text as a formal notice writes it: full system names, Chinese enumeration."""
    return text.replace("GSXT（甘肃）", SYSTEM_LABELS[System.GSXT_GANSU]).replace("; ", "、")


def _statement(reason: Reason, facts: RecordFacts) -> str:
    kinds = "、".join(facts.penalty_kinds) or "—"
    if reason.code == Code.WARNING_ONLY_NOT_PUBLISHED:
        return f"本次行政处罚仅为{kinds}，依规定不予公示，无需申请信用修复"
    if reason.code == Code.NOT_PUBLISHED_BY_DEFAULT:
        return "本次行政处罚属于轻微失信信息，原则上不予公示，无需申请信用修复"
    if reason.code == Code.HEAVY_PENALTY_NO_EARLY_STOP:
        return f"本次行政处罚（{kinds}）属于较重行政处罚，不得提前停止公示，公示期届满后自动停止公示"
    if reason.code == Code.LIGHT_PENALTY_NO_EARLY_STOP:
        return "本次行政处罚仅为通报批评或者较低数额罚款，公示期届满后自动停止公示，不适用提前停止公示"
    return _WHY_NOT_EVALUABLE.get(reason.code, reason.message)


def build_notice(facts: RecordFacts, *, record_id: str | None = None, overrides: RuleOverrides | None = None) -> Notice:
    """The notice of one penalty, computed with its owner's rules. Pure."""
    if facts.category is not Category.ADMIN_PENALTY:
        raise NoticeNotApplicable(
            f"the 信用修复告知书 (附件2) is for administrative penalties, not {facts.category.value} records"
        )
    owner = facts.owner
    plan = schedule(facts, owner, overrides=overrides)
    # Without the date that chooses the rule set, §二 still states the rules: those of the only
    # candidate (GSXT: SAMR's, whatever the publication date), or which candidates there are.
    candidates = apply_overrides(RULEBOOK, overrides).regimes_for(facts.category, owner)
    regime = plan.regime or (candidates[0] if len(candidates) == 1 else None)
    route = route_for(facts, overrides=overrides)
    sites = cn_or([site_label(c) for c in route.where_to_apply]) if route is not None else ""
    conditions = "、".join(n.text for n in regime.conditions) if regime is not None else "符合所适用规则规定的修复条件"
    publishers = (owner, *facts.mirrors)
    reported = [_REPORTED_TO[s] for s in (System.CREDITCHINA_GANSU, System.GSXT_GANSU) if s in publishers]
    arithmetic = next((n.text for n in guidance(facts.category).general_notes if n.code == "period_arithmetic"), None)
    has_mirror = System.GSXT_GANSU in publishers and System.CREDITCHINA_GANSU in publishers
    return Notice(
        record_id=record_id or facts.record_id,
        title=TITLE,
        subject_name=facts.subject_name,
        subject_code=facts.subject_code,
        addressee="你" if facts.subject_type is SubjectType.NATURAL_PERSON else "你单位",
        authority_name=facts.authority_name,
        document_number=facts.document_number,
        decision_date=facts.decision_date,
        reported_to="和".join(reported),
        owner=owner,
        owner_label=SYSTEM_LABELS.get(owner, owner.value),
        instrument=_plain(regime.instrument.value) if regime is not None else None,
        regime_id=regime.id if regime is not None else None,
        general_rules=_general_rules(regime) if regime is not None else _no_regime(candidates),
        uniform=isinstance(regime, UniformPenaltyRegime),
        conditions=conditions,
        sites=sites,
        propagation=_plain(route.propagation.text) if route is not None and route.propagation and has_mirror else None,
        evaluable=plan.evaluable,
        published=plan.published if plan.evaluable else None,
        clock_label=_CLOCK_LABELS.get(plan.clock) if plan.clock is not None else None,
        start=plan.start,
        minimum=plan.minimum if plan.evaluable and not plan.blockers else None,
        # Known even when the minimum is not (sector unknown): publicity still ends by itself.
        maximum=plan.maximum if plan.published is not False and plan.maximum is not None else None,
        statements=tuple(_statement(r, facts) for r in plan.blockers),
        reason_codes=tuple(str(r.code) for r in plan.blockers),
        notes=tuple(_NOTES[str(n.code)] for n in plan.notes if str(n.code) in _NOTES),
        arithmetic=arithmetic,
        issued_on=facts.decision_date,
    )


def render_notice(notice: Notice, fmt: NoticeFormat = "text") -> str:
    """The notice as UTF-8 text or as an HTML document (every value escaped)."""
    if fmt == "html":
        return html_environment().get_template("notice.html.j2").render(n=notice)
    if fmt == "text":
        return text_environment().get_template("notice.txt.j2").render(n=notice)
    raise ValueError(f"unknown notice format {fmt!r} (text or html)")
