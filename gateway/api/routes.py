"""The route table: one entry per operation, read by both the application (to register handlers)
and the OpenAPI builder (to describe them), so the document cannot miss or invent a route."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gateway.api import dead_letters, health, notice, records, repairs, rules
from gateway.api.errors import Handler
from gateway.api.models import (
    CategoryGuidanceView,
    DeadLetterDetail,
    DeadLetterPage,
    DeadLetterQuery,
    EligibilityQuery,
    GuidanceList,
    Liveness,
    Readiness,
    RecordEligibility,
    RecordPage,
    RecordQuery,
    RecordView,
    RepairAccepted,
    RepairPage,
    RepairProgress,
    RepairQuery,
    RepairRequest,
    ReplayOptions,
    ReplayQuery,
    ReplayReportView,
    SubjectRecords,
)
from gateway.domain.categories import Category


@dataclass(frozen=True, kw_only=True)
class Reply:
    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    schema: Mapping[str, Any] | None = None  # when there is no model (e.g. the metrics text)
    headers: tuple[str, ...] = ()  # names under components/headers
    also_media_types: tuple[str, ...] = ()  # further media types of the same schema (content negotiation)


@dataclass(frozen=True, kw_only=True)
class PathParam:
    name: str
    description: str
    schema: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    description: str = ""
    path_params: tuple[PathParam, ...] = ()
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    idempotent: bool = False  # needs Idempotency-Key
    client: bool = True  # reads X-Client-Id
    responses: Mapping[int, Reply] = field(default_factory=dict)
    errors: Mapping[int, str] = field(default_factory=dict)  # status → the codes it carries


_POST_ERRORS = {
    400: "`invalid_json`, `missing_idempotency_key`, `invalid_idempotency_key`, `invalid_client_id`",
    409: "`request_in_flight`: the first request with this Idempotency-Key is still being processed",
    413: "`body_too_large`",
    415: "`unsupported_media_type`",
}

_ID = PathParam(name="id", description="Dead letter id (outbox id).", schema={"type": "integer", "minimum": 1})
_CATEGORY = PathParam(
    name="category",
    description="Record category (seed 附件1).",
    schema={"type": "string", "enum": [c.value for c in Category]},
)

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        method="POST",
        path="/v1/repairs",
        handler=repairs.submit_repair,
        operation_id="submitRepair",
        summary="Submit an owner's decision about a record's publicity",
        tag="repairs",
        description=(
            "Accepted decisions are applied in one transaction with their deliveries to every system "
            "that publishes the record, and the response is stored under the Idempotency-Key: the "
            "same key with the same body returns it again (header `Idempotent-Replayed: true`)."
        ),
        body=RepairRequest,
        idempotent=True,
        responses={
            202: Reply(
                description="Accepted; deliveries are queued (or a stored response, replayed).",
                model=RepairAccepted,
                headers=("Idempotent-Replayed",),
            )
        },
        errors={
            **_POST_ERRORS,
            404: "`record_not_found`",
            409: "`request_in_flight`, `invalid_transition`, `stale_decision`, `decided_in_owner_system`",
            422: (
                "`invalid_body`, `unknown_field`, `validation_error`, `invalid_uscc`, `subject_mismatch`, "
                "`decided_at_in_future`, `idempotency_key_reused`"
            ),
        },
    ),
    RouteSpec(
        method="GET",
        path="/v1/repairs",
        handler=repairs.list_repairs,
        operation_id="listRepairs",
        summary="Find repairs: by record, action, source, target system, progress status, acceptance time",
        tag="repairs",
        description=(
            "Oldest accepted first, one page at a time: pass `next_after` of a page as `after` for the next. "
            "`status` (e.g. `retrying`, `dead`) with `target` finds the repairs stuck on one system."
        ),
        query=RepairQuery,
        responses={200: Reply(description="One page of repairs with their targets' status.", model=RepairPage)},
        errors={422: "`invalid_parameter` (an unknown or malformed parameter; `field` names it)"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/repairs/{id}",
        handler=repairs.get_repair,
        operation_id="getRepair",
        summary="Progress of a repair on every target system (进度查询)",
        tag="repairs",
        path_params=(PathParam(name="id", description="Repair id (`rep_…`).", schema={"type": "string"}),),
        responses={200: Reply(description="The repair and its per-target progress.", model=RepairProgress)},
        errors={404: "`repair_not_found`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/records",
        handler=records.list_records,
        operation_id="listRecords",
        summary="Find records: by system, category, state, subject, last change",
        tag="records",
        description="In record id order, one page at a time: pass `next_after` of a page as `after` for the next.",
        query=RecordQuery,
        responses={200: Reply(description="One page of records.", model=RecordPage)},
        errors={422: "`invalid_parameter` (an unknown or malformed parameter; `field` names it)"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/records/{id}",
        handler=records.get_record,
        operation_id="getRecord",
        summary="A record: facts, state, per-system copies, audit trail and repairs",
        tag="records",
        path_params=(PathParam(name="id", description="Record id (`rec_…`).", schema={"type": "string"}),),
        responses={200: Reply(description="The record.", model=RecordView)},
        errors={404: "`record_not_found`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/subjects/{uscc}/records",
        handler=records.get_subject_records,
        operation_id="getSubjectRecords",
        summary="Every record of one subject across systems",
        tag="records",
        path_params=(
            PathParam(
                name="uscc",
                description=("统一社会信用代码 (case-insensitive; a failed check character is flagged, not refused)."),
                schema={"type": "string"},
            ),
        ),
        responses={200: Reply(description="The subject's records.", model=SubjectRecords)},
        errors={422: "`invalid_uscc`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/records/{id}/eligibility",
        handler=rules.get_eligibility,
        operation_id="getRecordEligibility",
        summary="Publicity periods and repair eligibility of a record on each system that publishes it",
        tag="records",
        description=(
            "Per system (owner and mirrors): the rule set chosen by the date it counts from (NDRC Order 58 for "
            "decisions up to 2026-03-31, Order 36 from 2026-04-01, SAMR rules from the publication date on GSXT, "
            "the list authority's rule for lists), the minimum and maximum period ends as `last_day` and "
            "`first_day_after`, whether the subject may apply now, and what it must still do (`requires`). "
            "A record without the attributes a rule needs is `evaluable: false` with reasons; nothing is guessed."
        ),
        path_params=(PathParam(name="id", description="Record id (`rec_…`).", schema={"type": "string"}),),
        query=EligibilityQuery,
        responses={200: Reply(description="The evaluation on each system.", model=RecordEligibility)},
        errors={
            404: "`record_not_found`",
            422: "`invalid_parameter` (`today` not a YYYY-MM-DD date; `system` unknown or not publishing the record)",
        },
    ),
    RouteSpec(
        method="GET",
        path="/v1/records/{id}/notice",
        handler=notice.get_notice,
        operation_id="getRecordNotice",
        summary="The 行政处罚信息信用修复告知书 (seed 附件2, 两书同达) of a penalty, with its computed dates",
        tag="records",
        description=(
            "The notice an authority serves with its penalty decision, in the wording of 附件2, filled in with the "
            "record's subject, document number and deciding authority (落款) and the dates computed with the OWNER "
            "system's rules (the rule set is named): the last day of the minimum period and the first day the "
            "subject may apply, and when publicity stops by itself. A penalty whose dates cannot be computed still "
            "gets its notice, which says so and why (reason codes) — never a guessed date. Plain text (UTF-8) by "
            "default or with `?format=text` / `Accept: text/plain`; HTML with `?format=html` or `Accept: "
            "text/html` (every value escaped). The query parameter wins over the header."
        ),
        path_params=(PathParam(name="id", description="Record id (`rec_…`).", schema={"type": "string"}),),
        query=notice.NoticeQuery,
        responses={
            200: Reply(
                description="The notice: text/plain, or text/html when asked for.",
                media_type="text/plain",
                schema={"type": "string"},
                also_media_types=("text/html",),
            )
        },
        errors={
            404: "`record_not_found`",
            422: "`notice_not_applicable` (not an administrative penalty; field `record`), `invalid_parameter`",
        },
    ),
    RouteSpec(
        method="GET",
        path="/v1/guidance",
        handler=rules.list_guidance,
        operation_id="listGuidance",
        summary="Repair guidance (信用修复指引) for the nine categories",
        tag="guidance",
        description=(
            "Who repairs, conditions, materials, periods, time limits and where to apply, each fact with its "
            "source and confidence; generated from the same rule data the eligibility evaluation reads."
        ),
        responses={200: Reply(description="Guidance for every category.", model=GuidanceList)},
    ),
    RouteSpec(
        method="GET",
        path="/v1/guidance/{category}",
        handler=rules.get_guidance,
        operation_id="getGuidance",
        summary="Repair guidance (信用修复指引) for one category",
        tag="guidance",
        path_params=(_CATEGORY,),
        responses={200: Reply(description="Guidance for the category.", model=CategoryGuidanceView)},
        errors={404: "`category_not_found`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/dead-letters",
        handler=dead_letters.list_dead_letters,
        operation_id="listDeadLetters",
        summary="Dead letters, oldest first, paginated by id",
        tag="dead-letters",
        query=DeadLetterQuery,
        responses={200: Reply(description="One page of dead letters.", model=DeadLetterPage)},
        errors={422: "`invalid_parameter`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/dead-letters/{id}",
        handler=dead_letters.get_dead_letter,
        operation_id="getDeadLetter",
        summary="One dead letter with its failure context",
        tag="dead-letters",
        path_params=(_ID,),
        responses={200: Reply(description="The dead letter.", model=DeadLetterDetail)},
        errors={404: "`dead_letter_not_found`", 422: "`invalid_parameter`"},
    ),
    RouteSpec(
        method="POST",
        path="/v1/dead-letters/{id}/replay",
        handler=dead_letters.replay_dead_letter,
        operation_id="replayDeadLetter",
        summary="Replay one dead letter (loop guard: `force` past max_replays)",
        tag="dead-letters",
        description="Options go in the query (`?dry_run=true&force=false`) or in a JSON body, not both.",
        path_params=(_ID,),
        query=ReplayQuery,
        body=ReplayOptions,
        body_required=False,
        idempotent=True,
        responses={
            200: Reply(
                description="What the replay did (or would do, for a dry run).",
                model=ReplayReportView,
                headers=("Idempotent-Replayed",),
            )
        },
        errors={
            **_POST_ERRORS,
            404: "`dead_letter_not_found` (unknown, or no longer dead)",
            422: ("`invalid_parameter`, `invalid_body`, `unknown_field`, `validation_error`, `idempotency_key_reused`"),
        },
    ),
    RouteSpec(
        method="GET",
        path="/livez",
        handler=health.livez,
        operation_id="livez",
        summary="Liveness: the process is up",
        tag="operations",
        client=False,
        responses={200: Reply(description="Alive.", model=Liveness)},
    ),
    RouteSpec(
        method="GET",
        path="/readyz",
        handler=health.readyz,
        operation_id="readyz",
        summary="Readiness: the database answers and its schema is migrated",
        tag="operations",
        client=False,
        responses={200: Reply(description="Ready.", model=Readiness)},
        errors={503: "`database_unavailable`, `schema_not_migrated`"},
    ),
    RouteSpec(
        method="GET",
        path="/metrics",
        handler=health.metrics,
        operation_id="metrics",
        summary="Prometheus metrics",
        tag="operations",
        client=False,
        responses={
            200: Reply(
                description="Prometheus text exposition format.",
                media_type="text/plain",
                schema={"type": "string"},
            )
        },
    ),
    RouteSpec(
        method="GET",
        path="/openapi.json",
        handler=health.openapi_document,
        operation_id="openapi",
        summary="This document",
        tag="operations",
        client=False,
        responses={200: Reply(description="OpenAPI 3.1 document.", schema={"type": "object"})},
    ),
)
