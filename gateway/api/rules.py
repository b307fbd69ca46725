"""Repair rules over HTTP: GET /v1/records/{id}/eligibility, GET /v1/guidance, GET /v1/guidance/{category}.

Eligibility is computed by the pure engine (gateway/domain/rules) for each system that publishes
the record, as of a day: the `today` query parameter, or today in Beijing time. Guidance is built
from the same rule data. The operator's overrides (settings `rules`) apply to both. The helpers
here also serve the `eligibility` key of the record and subject views (records.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

import structlog
from aiohttp import web

from gateway.api.auth import CLIENT, require_record
from gateway.api.errors import ApiError, json_response
from gateway.api.inputs import parse_query
from gateway.api.keys import RUNTIME
from gateway.api.models import (
    RECORD_ID_PATTERN,
    CategoryGuidanceView,
    ChannelView,
    ClockView,
    EligibilityLinks,
    EligibilityQuery,
    EligibilityView,
    FactView,
    GuidanceList,
    PeriodEndView,
    PeriodRuleView,
    ReasonView,
    RecordEligibility,
    RegimeView,
    RequirementView,
    RouteView,
    RuleView,
    SelfLink,
    SourcedDate,
)
from gateway.domain.beijing import beijing_date
from gateway.domain.categories import Category, System
from gateway.domain.model import CanonicalRecord, Publicity, RecordFacts
from gateway.domain.rules import (
    CategoryGuidance,
    Evaluation,
    Note,
    PeriodEnd,
    Reason,
    RuleOverrides,
    RuleSummary,
    SubjectStanding,
    all_guidance,
    evaluate_all,
    guidance,
    publishing_systems,
)
from gateway.domain.rules.schema import Channel, RepairRoute
from gateway.settings import Settings
from gateway.store.database import Tx
from gateway.store.repo import Repo

STANDING_LIMIT = 500  # the subject's records read to know whether it is on the abnormal/serious list

_RECORD_ID = re.compile(RECORD_ID_PATTERN)


def overrides_of(settings: Settings) -> RuleOverrides:
    return settings.rules.overrides()


def standing_from(records: Iterable[CanonicalRecord]) -> SubjectStanding:
    """What the gateway positively knows: a published 经营异常名录 / SAMR serious-list record of the
    subject. Absence proves nothing (the gateway may not hold every list), so it stays unknown."""
    published = {r.facts.category for r in records if r.state.target.status is Publicity.PUBLISHED}
    return SubjectStanding(
        on_abnormal_list=True if Category.ABNORMAL_OPERATIONS in published else None,
        on_serious_list=True if Category.SAMR_SERIOUS in published else None,
    )


def standing_of(repo: Repo, facts: RecordFacts) -> SubjectStanding:
    if facts.subject_code is None:
        return SubjectStanding()
    return standing_from(repo.records_of_subject(facts.subject_code, limit=STANDING_LIMIT))


# ---- domain values → response models --------------------------------------------------------


def _period_end(end: PeriodEnd | None, today: date) -> PeriodEndView | None:
    if end is None:
        return None
    return PeriodEndView(
        period=end.period.iso,
        label=end.period.label,
        start=end.start,
        last_day=end.last_day,
        first_day_after=end.first_day_after,
        reached=end.reached(today),
        source=end.source,
        confidence=end.confidence,
    )


def _reasons(reasons: Iterable[Reason]) -> list[ReasonView]:
    return [ReasonView(code=str(r.code), message=r.message, rule_ref=r.rule_ref) for r in reasons]


def eligibility_view(evaluation: Evaluation) -> EligibilityView:
    regime = evaluation.regime
    return EligibilityView(
        system=evaluation.system,
        role=evaluation.role,
        repaired_by=evaluation.repaired_by,
        evaluable=evaluation.evaluable,
        eligible=evaluation.eligible,
        published=evaluation.published,
        regime=None
        if regime is None
        else RegimeView(
            id=regime.id,
            name=regime.name,
            instrument=regime.instrument,
            source=regime.source,
            confidence=regime.confidence,
        ),
        clock=evaluation.clock,
        start=evaluation.start,
        minimum=_period_end(evaluation.minimum, evaluation.today),
        maximum=_period_end(evaluation.maximum, evaluation.today),
        reasons=_reasons(evaluation.reasons),
        requires=[
            RequirementView(code=r.code, message=r.message, rule_ref=r.rule_ref, confidence=r.confidence)
            for r in evaluation.requires
        ],
        notes=_reasons(evaluation.notes),
    )


def eligibility_views(
    facts: RecordFacts,
    *,
    today: date,
    overrides: RuleOverrides,
    standing: SubjectStanding,
    systems: Iterable[System] | None = None,
) -> list[EligibilityView]:
    """The evaluations of `facts` on `systems` (default: owner and mirrors), as response models."""
    found = evaluate_all(facts, systems, today=today, overrides=overrides, standing=standing)
    return [eligibility_view(e) for e in found.values()]


def _fact(note: Note) -> FactView:
    return FactView(code=note.code, text=note.text, source=note.source, confidence=note.confidence)


def _channel(channel: Channel) -> ChannelView:
    return ChannelView(name=channel.name, url=channel.url, source=channel.source, confidence=channel.confidence)


def _route(route: RepairRoute) -> RouteView:
    return RouteView(
        applies_when=route.applies_when,
        authority_domain=route.authority_domain,
        owner=route.owner,
        authority=_fact(route.authority),
        where_to_apply=[_channel(c) for c in route.where_to_apply],
        time_limits=[_fact(n) for n in route.time_limits],
        propagation=_fact(route.propagation) if route.propagation is not None else None,
    )


def _rule(rule: RuleSummary) -> RuleView:
    return RuleView(
        id=rule.id,
        name=rule.name,
        instrument=FactView(
            code=None, text=rule.instrument.value, source=rule.instrument.source, confidence=rule.instrument.confidence
        ),
        systems=list(rule.systems) if rule.systems is not None else None,
        clock=ClockView(value=rule.clock.value, source=rule.clock.source, confidence=rule.clock.confidence),
        applies_from=rule.applies_from,
        applies_until=rule.applies_until,
        in_force_from=None
        if rule.in_force_from is None
        else SourcedDate(
            value=rule.in_force_from.value, source=rule.in_force_from.source, confidence=rule.in_force_from.confidence
        ),
        effect=_fact(rule.effect) if rule.effect is not None else None,
        periods=[
            PeriodRuleView(
                kind=p.kind,
                applies_when=p.applies_when,
                period=p.period.value.iso,
                months=p.period.value.months,
                label=p.period.value.label,
                source=p.period.source,
                confidence=p.period.confidence,
            )
            for p in rule.periods
        ],
        exclusions=[_fact(n) for n in rule.exclusions],
        conditions=[_fact(n) for n in rule.conditions],
        notes=[_fact(n) for n in rule.notes],
    )


def guidance_href(category: Category) -> str:
    return f"/v1/guidance/{category.value}"


def guidance_view(found: CategoryGuidance) -> CategoryGuidanceView:
    return CategoryGuidanceView(
        category=found.category,
        label=found.label,
        responsible_units=_fact(found.responsible_units),
        routes=[_route(r) for r in found.routes],
        rules=[_rule(r) for r in found.rules],
        materials=[_fact(n) for n in found.materials],
        help_channels=[_channel(c) for c in found.help_channels],
        general_notes=[_fact(n) for n in found.general_notes],
        links=SelfLink(self_link=guidance_href(found.category)),
    )


# ---- handlers ---------------------------------------------------------------------------------


async def get_eligibility(request: web.Request) -> web.Response:
    query = parse_query(request, EligibilityQuery)  # before any database work
    record_id = request.match_info["id"]
    runtime = request.app[RUNTIME]
    found: tuple[CanonicalRecord, SubjectStanding] | None = None
    if _RECORD_ID.match(record_id):
        structlog.contextvars.bind_contextvars(record_id=record_id)

        def read(tx: Tx) -> tuple[CanonicalRecord, SubjectStanding] | None:
            repo = Repo(tx)
            record = repo.load_record(record_id)
            return None if record is None else (record, standing_of(repo, record.facts))

        found = await runtime.db.run(read, write=False)
    if found is None:
        raise ApiError(404, "record_not_found", f"no record {record_id}", field="id")
    record, standing = found
    require_record(request[CLIENT], record.facts)
    systems = publishing_systems(record.facts)
    if query.system is not None:
        if query.system not in systems:
            listed = ", ".join(s.value for s in systems)
            raise ApiError(
                422,
                "invalid_parameter",
                f"{query.system.value} does not publish this record (it is published on: {listed})",
                field="system",
            )
        systems = (query.system,)
    today = query.today or beijing_date(runtime.clock())
    view = RecordEligibility(
        record_id=record.record_id,
        today=today,
        eligibility=eligibility_views(
            record.facts, today=today, overrides=overrides_of(runtime.settings), standing=standing, systems=systems
        ),
        links=EligibilityLinks(
            self_link=f"/v1/records/{record.record_id}/eligibility", record=f"/v1/records/{record.record_id}"
        ),
    )
    return json_response(view.model_dump(mode="json", by_alias=True))


async def list_guidance(request: web.Request) -> web.Response:
    overrides = overrides_of(request.app[RUNTIME].settings)
    view = GuidanceList(categories=[guidance_view(g) for g in all_guidance(overrides=overrides)])
    return json_response(view.model_dump(mode="json", by_alias=True))


async def get_guidance(request: web.Request) -> web.Response:
    raw = request.match_info["category"]
    try:
        category = Category(raw)
    except ValueError:
        known = ", ".join(c.value for c in Category)
        raise ApiError(
            404, "category_not_found", f"no category {raw!r} (categories: {known})", field="category"
        ) from None
    found = guidance(category, overrides=overrides_of(request.app[RUNTIME].settings))
    return json_response(guidance_view(found).model_dump(mode="json", by_alias=True))
