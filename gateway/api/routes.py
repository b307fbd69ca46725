"""The route table: one entry per operation, read by both the application (to register handlers
and the scope each needs, gateway/api/auth.py) and the OpenAPI builder (to describe them), so the
document cannot miss or invent a route. `scope` has no default: a route without one does not build."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gateway.api import (
    classification,
    dead_letters,
    health,
    notice,
    quality,
    quarantine,
    reconciliations,
    records,
    repairs,
    rules,
)
from gateway.api.errors import Handler
from gateway.api.inputs import MAX_ID
from gateway.api.models import (
    AwaitingClassificationPage,
    AwaitingClassificationQuery,
    CategoryGuidanceView,
    ClassificationRequest,
    ClassificationResult,
    CollectionQualityQuery,
    CollectionQualityReport,
    DeadLetterDetail,
    DeadLetterPage,
    DeadLetterQuery,
    EligibilityQuery,
    GuidanceList,
    Liveness,
    QuarantineDetail,
    QuarantinePage,
    QuarantineQuery,
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
from gateway.clients import Scope
from gateway.domain import uscc
from gateway.domain.categories import Category
from gateway.reconcile_report import ROWS_PER_TABLE


@dataclass(frozen=True, kw_only=True)
class Reply:
    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    schema: Mapping[str, Any] | None = None  # when there is no model (e.g. the metrics text)
    headers: tuple[str, ...] = ()  # names under components/headers
    also_media_types: tuple[str, ...] = ()  # further media types of the same schema (content negotiation)
    alternatives: tuple[tuple[str, Mapping[str, Any]], ...] = ()  # further media types, each with its schema


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
    scope: Scope  # what the calling client must hold; Scope.PUBLIC: no client, no signature
    # Also opened with a presigned link instead of the signature headers (a browser cannot sign;
    # docs/adr/0023): read-only pages under one reconciliation run.
    presigned: bool = False
    # The nonce and the call-audit row are written in the handler's own unit, not in two more
    # transactions (gateway/api/riders.py): only a handler that passes them to its unit.
    riders: bool = False
    responses: Mapping[int, Reply] = field(default_factory=dict)
    errors: Mapping[int, str] = field(default_factory=dict)  # status → the codes it carries


_POST_ERRORS = {
    400: "`invalid_json`, `missing_idempotency_key`, `invalid_idempotency_key`",
    409: "`request_in_flight`: the first request with this Idempotency-Key is still being processed",
    413: "`body_too_large`",
    415: "`unsupported_media_type`",
}

# Ids are BIGINT: a larger number is refused (422) before it reaches the driver.
_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_ID = PathParam(name="id", description="Dead letter id (outbox id).", schema=_ID_SCHEMA)
_RUN_ID = PathParam(name="id", description="Reconciliation run id.", schema={"type": "string"})
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
        scope=Scope.DECIDE,
        summary="Submit an owner's decision about a record's publicity",
        tag="repairs",
        description=(
            "Accepted decisions are applied in one transaction with their deliveries to every system "
            "that publishes the record, and the response is stored under the Idempotency-Key: the "
            "same key with the same body returns it again (header `Idempotent-Replayed: true`)."
        ),
        body=RepairRequest,
        idempotent=True,
        riders=True,
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
            409: (
                "`request_in_flight`, `invalid_transition`, `stale_decision`, `decided_in_owner_system`,"
                " `owner_decides_in_its_own_system` (the record's owner takes no writes: it records the removal in"
                " its own system and the gateway mirrors it)"
            ),
            422: (
                "`invalid_body`, `unknown_field`, `validation_error`, `invalid_uscc` (`subject_code`, "
                "`record.authority_code`), `subject_mismatch`, `action_not_for_category` (`action`: e.g. `remove` on "
                "an administrative penalty, `repair` on a list entry), `decided_at_in_future`, `idempotency_key_reused`"
            ),
        },
    ),
    RouteSpec(
        method="GET",
        path="/v1/repairs",
        handler=repairs.list_repairs,
        operation_id="listRepairs",
        summary="Find repairs: by record, action, source, target system, progress status, acceptance time",
        scope=Scope.READ,
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
        scope=Scope.READ,
        summary="Progress of a repair on every target system (进度查询)",
        tag="repairs",
        path_params=(PathParam(name="id", description="Repair id (`rep_…`).", schema={"type": "string"}),),
        responses={200: Reply(description="The repair and its per-target progress.", model=RepairProgress)},
        errors={404: "`repair_not_found`"},
    ),
    # Before /v1/records/{id}: routes match in this order, and this path would match `{id}`.
    RouteSpec(
        method="GET",
        path="/v1/records/awaiting-classification",
        handler=classification.list_awaiting_classification,
        operation_id="listRecordsAwaitingClassification",
        summary="Published penalties whose rules cannot be evaluated until their Order 36 tier is given",
        scope=Scope.CLASSIFY,
        tag="records",
        description=(
            "Penalties decided from 2026-04-01 are published on 信用中国（甘肃） for a period set by their tier "
            "(轻微/一般/严重), which the deciding sector assigns and the gateway never guesses. These records state "
            "none yet (neither the 信用中国 column CF_SXCD nor a classification): classify them with "
            "`PUT /v1/records/{id}/classification`. Ordered by record id, paged with `after`. The gauge "
            "`creditgw_records_awaiting_classification` counts them (updated by every sweep run)."
        ),
        query=AwaitingClassificationQuery,
        responses={200: Reply(description="One page of records awaiting a tier.", model=AwaitingClassificationPage)},
        errors={422: "`invalid_parameter`"},
    ),
    RouteSpec(
        method="PUT",
        path="/v1/records/{id}/classification",
        handler=classification.put_classification,
        operation_id="putRecordClassification",
        summary="Set the Order 36 tier (轻微/一般/严重) of a penalty, as its deciding sector classified it",
        scope=Scope.CLASSIFY,
        tag="records",
        description=(
            "Idempotent (Idempotency-Key like every write; the same tier again changes nothing) and audited "
            "(`classified`, with `classified_by` and the client). The periods, eligibility, 告知书 and reminders "
            "follow at once; a 轻微 record is not published by default, and the sweep stops its published copies."
        ),
        path_params=(PathParam(name="id", description="Record id (`rec_…`).", schema={"type": "string"}),),
        body=ClassificationRequest,
        idempotent=True,
        responses={
            200: Reply(
                description="The record's tier (or the stored response, replayed).",
                model=ClassificationResult,
                headers=("Idempotent-Replayed",),
            )
        },
        errors={
            **_POST_ERRORS,
            404: "`record_not_found`",
            422: (
                "`invalid_body`, `unknown_field`, `validation_error` (field `severity`, `classified_by`, `note`), "
                "`classification_not_applicable` (not a penalty under a rule set by tier), `idempotency_key_reused`"
            ),
        },
    ),
    RouteSpec(
        method="GET",
        path="/v1/records",
        handler=records.list_records,
        operation_id="listRecords",
        summary="Find records: by system, category, state, subject, last change",
        scope=Scope.READ,
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
        scope=Scope.READ,
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
        scope=Scope.SUBJECTS,
        summary="Every record of one subject across systems",
        tag="records",
        path_params=(
            PathParam(
                name="uscc",
                description=(
                    "统一社会信用代码 (case-insensitive, full-width accepted; a failed check character is flagged, "
                    "not refused)."
                ),
                schema={"type": "string", "pattern": uscc.INPUT_PATTERN},
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
        scope=Scope.READ,
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
        scope=Scope.READ,
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
        scope=Scope.READ,
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
        scope=Scope.READ,
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
        scope=Scope.ADMIN_DLQ,
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
        scope=Scope.ADMIN_DLQ,
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
        scope=Scope.ADMIN_DLQ,
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
            422: (
                "`invalid_parameter` (also: options both in the query and in a body), `invalid_body`, `unknown_field`, "
                "`validation_error`, `idempotency_key_reused`"
            ),
        },
    ),
    RouteSpec(
        method="GET",
        path="/v1/collection-quality",
        handler=quality.get_collection_quality,
        operation_id="getCollectionQuality",
        summary="Data-collection quality per department and category: completeness, accuracy, timeliness",
        scope=Scope.READ,
        tag="records",
        description=(
            "Every stored record the client may see (its authorities and categories) judged and summed per "
            "deciding authority and category (seed 任务五, 清单管理): completeness (required fields present), "
            "accuracy (统一社会信用代码 check characters, code values, date sanity, amounts) and timeliness (working "
            "days from the decision to the owner's collection, against 20 working days on GSXT and 7 for 双公示 on "
            "信用中国). `?format=csv` gives the table for the periodic 通报 to departments: UTF-8 with a byte-order "
            "mark, so Excel and WPS open it as UTF-8. Computed on request; the nightly report refreshes the "
            "per-category metrics `creditgw_collection_quality_ratio` and `creditgw_collection_defect_records`."
        ),
        query=CollectionQualityQuery,
        responses={
            200: Reply(
                description="The report (JSON), or its CSV with `?format=csv`.",
                model=CollectionQualityReport,
                alternatives=(("text/csv", {"type": "string", "description": "UTF-8 with a byte-order mark"}),),
            )
        },
        errors={422: "`invalid_parameter`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/quarantine",
        handler=quarantine.list_quarantine,
        operation_id="listQuarantine",
        summary="Inbound changes kept out of the sync (cannot be mapped, must not be applied), oldest first",
        scope=Scope.ADMIN_QUARANTINE,
        tag="quarantine",
        description=(
            "Rows a system's feed delivered that the gateway could not map (bad code values, `isMove` null, "
            "impossible dates) or must not apply (a stop the category does not have, a 经营异常名录 removal whose "
            "移出原因 does not pair with the 列入原因). Nothing of them was applied or propagated; the feed went on. "
            "`creditgw quarantine retry` maps them again after a mapping or data fix."
        ),
        query=QuarantineQuery,
        responses={200: Reply(description="One page of quarantined changes.", model=QuarantinePage)},
        errors={422: "`invalid_parameter`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/quarantine/{id}",
        handler=quarantine.get_quarantined,
        operation_id="getQuarantined",
        summary="One quarantined change, with the whole change as read (masked)",
        scope=Scope.ADMIN_QUARANTINE,
        tag="quarantine",
        path_params=(PathParam(name="id", description="Quarantine id.", schema=_ID_SCHEMA),),
        responses={200: Reply(description="The quarantined change.", model=QuarantineDetail)},
        errors={404: "`quarantine_not_found`", 422: "`invalid_parameter`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/reconciliations",
        handler=reconciliations.list_reconciliations,
        operation_id="listReconciliations",
        summary="Reconciliation runs, newest first",
        scope=Scope.ADMIN_RECONCILE,
        tag="reconciliations",
        description=(
            "Runs of `creditgw reconcile` and of the nightly schedule, newest first, paged with `after` (`next_after` "
            "of the last page). `findings` counts the findings of records the client may see."
        ),
        query=reconciliations.ReconciliationQuery,
        responses={200: Reply(description="One page of runs.", model=reconciliations.RunPage)},
        errors={422: "`invalid_parameter`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/reconciliations/{id}",
        handler=reconciliations.get_reconciliation,
        operation_id="getReconciliation",
        summary="One reconciliation run with its per-pair counts",
        scope=Scope.ADMIN_RECONCILE,
        tag="reconciliations",
        path_params=(_RUN_ID,),
        responses={200: Reply(description="The run.", model=reconciliations.RunView)},
        errors={404: "`reconciliation_not_found`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/reconciliations/{id}/findings",
        handler=reconciliations.list_reconciliation_findings,
        operation_id="listReconciliationFindings",
        summary="A run's findings, with both sides' values and the action taken; filtered by kind, system, category",
        scope=Scope.ADMIN_RECONCILE,
        tag="reconciliations",
        description="In sequence order, paged with `after` (`next_after` of the last page); only findings of records "
        "the client may see (its authorities and categories).",
        path_params=(_RUN_ID,),
        query=reconciliations.FindingQuery,
        responses={200: Reply(description="One page of findings.", model=reconciliations.FindingPage)},
        errors={404: "`reconciliation_not_found`", 422: "`invalid_parameter`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/reconciliations/{id}/report",
        handler=reconciliations.get_reconciliation_report,
        operation_id="getReconciliationReport",
        summary="A run's report: tables per system and kind, as JSON, CSV or an HTML page",
        scope=Scope.ADMIN_RECONCILE,
        presigned=True,
        tag="reconciliations",
        description=(
            "`format=json` (the default): the run and, per system and kind, the count and the first "
            f"{ROWS_PER_TABLE} findings. `format=csv`: every finding (UTF-8 with a byte order mark, "
            "so Excel reads Chinese; CRLF lines). `format=html`: a page for a browser, with a link per finding to "
            "the record's page. Without `format`, Accept decides. Opened with signature headers or with a "
            "presigned link (`getReconciliationReportLink`; docs/adr/0023)."
        ),
        path_params=(_RUN_ID,),
        query=reconciliations.ReportQuery,
        responses={
            200: Reply(
                description="The report.",
                model=reconciliations.ReportView,
                also_media_types=("text/csv", "text/html"),
            )
        },
        errors={404: "`reconciliation_not_found`", 422: "`invalid_parameter`"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/reconciliations/{id}/records/{record_id}",
        handler=reconciliations.get_reconciliation_record,
        operation_id="getReconciliationRecord",
        summary="An HTML page of one record a run found something about, with those findings",
        scope=Scope.ADMIN_RECONCILE,
        presigned=True,
        tag="reconciliations",
        description="The page the report's links open: the record as the gateway holds it, its copy on every "
        "system, and this run's findings about it. Opened like the report (signature or presigned link).",
        path_params=(
            _RUN_ID,
            PathParam(name="record_id", description="Record id (`rec_…`).", schema={"type": "string"}),
        ),
        query=reconciliations.RecordPageQuery,
        responses={200: Reply(description="The page.", media_type="text/html", schema={"type": "string"})},
        errors={404: "`reconciliation_not_found`, `record_not_found` (or nothing the client may see)"},
    ),
    RouteSpec(
        method="GET",
        path="/v1/reconciliations/{id}/report-link",
        handler=reconciliations.get_reconciliation_report_link,
        operation_id="getReconciliationReportLink",
        summary="A short-lived presigned link that opens the run's report in a browser, for this client",
        scope=Scope.ADMIN_RECONCILE,
        tag="reconciliations",
        description=(
            "A browser cannot sign requests. The link (signed under the client's newest secret) opens only this "
            "run's report and its record pages, read-only, until it expires (`ttl_s`, at most one hour), and only "
            "while the client stays active, keeps that secret and the `admin:reconcile` scope; the pages show what "
            "the client may see. Treat it like a password until it expires (docs/adr/0023)."
        ),
        path_params=(_RUN_ID,),
        query=reconciliations.ReportLinkQuery,
        responses={200: Reply(description="The link.", model=reconciliations.ReportLinkView)},
        errors={404: "`reconciliation_not_found`", 422: "`invalid_parameter`"},
    ),
    RouteSpec(
        method="GET",
        path="/livez",
        handler=health.livez,
        operation_id="livez",
        scope=Scope.PUBLIC,
        summary="Liveness: the process is up",
        tag="operations",
        responses={200: Reply(description="Alive.", model=Liveness)},
    ),
    RouteSpec(
        method="GET",
        path="/readyz",
        handler=health.readyz,
        operation_id="readyz",
        scope=Scope.PUBLIC,
        summary="Readiness: the database answers and its schema is migrated",
        tag="operations",
        responses={200: Reply(description="Ready.", model=Readiness)},
        errors={503: "`database_unavailable`, `schema_not_migrated`, `shutting_down`"},
    ),
    RouteSpec(
        method="GET",
        path="/metrics",
        handler=health.metrics,
        operation_id="metrics",
        scope=Scope.PUBLIC,
        summary="Prometheus metrics",
        tag="operations",
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
        scope=Scope.PUBLIC,
        summary="This document",
        tag="operations",
        responses={200: Reply(description="OpenAPI 3.1 document.", schema={"type": "object"})},
    ),
)
