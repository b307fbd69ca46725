"""PUT /v1/records/{id}/classification — the Order 36 tier (轻微/一般/严重) of a penalty, as the
deciding sector classified it — and GET /v1/records/awaiting-classification — the published
penalties whose rules cannot be evaluated until someone does (issue 10 item 3).

The tier is a per-record attribute that is never guessed (domain.md §5.2, §8.5): it comes from the
信用中国 row (CF_SXCD) or from this call. The call is idempotent like every write (Idempotency-Key;
the same tier again changes nothing) and audited (`classified`, with who classified it). A tier
that makes the record unpublishable (轻微) is not acted on here: the sweep stops its published
copies with the reason (docs/adr/0014-what-the-rules-do-not-publish.md).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import structlog
from aiohttp import web

from gateway.api.auth import CLIENT, require_record
from gateway.api.errors import ApiError, json_response
from gateway.api.idempotency import idempotency_key, request_hash, run_idempotent
from gateway.api.inputs import as_object, parse_body, parse_query, read_json
from gateway.api.keys import IN_FLIGHT, RUNTIME
from gateway.api.models import (
    AwaitingClassificationPage,
    AwaitingClassificationQuery,
    AwaitingRecord,
    ClassificationRequest,
    ClassificationResult,
    SelfLink,
)
from gateway.api.views import record_href
from gateway.clients import Grant
from gateway.domain.categories import System
from gateway.domain.model import CanonicalRecord, Severity
from gateway.domain.plan import AuditEntry
from gateway.domain.rules import awaiting_tier, tier_applies, withheld_reason
from gateway.store.database import Tx
from gateway.store.repo import Repo

_RECORD_ID = re.compile(r"^rec_[0-9a-f]{24}$")
SCAN_PAGE = 500  # published penalties read per statement while looking for those awaiting a tier


def _not_found(record_id: str) -> ApiError:
    return ApiError(404, "record_not_found", f"no record {record_id}", field="id")


async def put_classification(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    client = request[CLIENT]
    key = idempotency_key(request)
    record_id = request.match_info["id"]
    payload = as_object(await read_json(request, max_bytes=runtime.settings.max_body_bytes))
    body = parse_body(ClassificationRequest, payload)
    if not _RECORD_ID.match(record_id):
        raise _not_found(record_id)
    structlog.contextvars.bind_contextvars(record_id=record_id, severity=body.severity.value)

    def work(tx: Tx, now: datetime) -> tuple[int, ClassificationResult]:
        repo = Repo(tx)
        record = repo.load_record(record_id, lock=True)
        if record is None:
            raise _not_found(record_id)
        require_record(client, record.facts)  # 谁认定、谁修复: only the deciding authority classifies
        if not tier_applies(record.facts):
            raise ApiError(
                422,
                "classification_not_applicable",
                "only administrative penalties under a rule set by tier (NDRC Order 36: decided from 2026-04-01) "
                "carry a 轻微/一般/严重 classification",
                field="severity",
            )
        previous = record.facts.severity
        changed = previous is not body.severity
        if changed:
            record = replace(record, facts=replace(record.facts, severity=body.severity))
            repo.save_record(record, now)
            detail = {
                "severity": body.severity.value,
                "previous": previous.value if previous else "",
                "client": client.client_id,
            }
            if body.note:
                detail["note"] = body.note
            repo.add_audit(record_id, [AuditEntry(kind="classified", actor=body.classified_by, detail=detail)], now)
        return 200, _result(record, previous, changed)

    stored = await run_idempotent(
        runtime.committer,
        request.app[IN_FLIGHT],
        client=client.client_id,
        key=key,
        fingerprint=request_hash(request.method, request.path, payload),
        now=runtime.clock(),
        work=work,
    )
    return stored.response()


def _result(record: CanonicalRecord, previous: Severity | None, changed: bool) -> ClassificationResult:
    facts = record.facts
    assert facts.severity is not None
    withheld = withheld_reason(facts, facts.owner)
    return ClassificationResult(
        record_id=record.record_id,
        severity=facts.severity,
        previous=previous,
        changed=changed,
        awaiting=list(awaiting_tier(facts)),
        withheld=str(withheld.code) if withheld is not None else None,
        links=SelfLink(self_link=record_href(record.record_id)),
    )


def awaiting_page(
    tx: Tx, after: str, limit: int, grant: Grant | None = None
) -> list[tuple[CanonicalRecord, tuple[System, ...]]]:
    """Up to `limit` published records awaiting a tier after `after`, in record_id order; with a
    `grant`, only those of the authorities and categories it speaks for."""
    repo = Repo(tx)
    found: list[tuple[CanonicalRecord, tuple[System, ...]]] = []
    while True:
        page = repo.published_penalties_without_tier(after, SCAN_PAGE)
        for record in page:
            systems = awaiting_tier(record.facts)
            visible = grant is None or (
                grant.speaks_for(record.facts.authority_code) and grant.covers(record.facts.category.value)
            )
            if systems and visible:
                found.append((record, systems))
                if len(found) == limit:
                    return found
        if len(page) < SCAN_PAGE:
            return found
        after = page[-1].record_id


async def list_awaiting_classification(request: web.Request) -> web.Response:
    query = parse_query(request, AwaitingClassificationQuery)
    grant = request[CLIENT]
    found = await request.app[RUNTIME].db.run(
        lambda tx: awaiting_page(tx, query.after, query.limit, grant), write=False
    )
    page = AwaitingClassificationPage(
        items=[
            AwaitingRecord(
                record_id=record.record_id,
                authority_name=record.facts.authority_name,
                authority_code=record.facts.authority_code,
                document_number=record.facts.document_number,
                subject_name=record.facts.subject_name,
                decision_date=record.facts.decision_date,
                systems=list(systems),
                links=SelfLink(self_link=record_href(record.record_id)),
            )
            for record, systems in found
        ],
        next_after=found[-1][0].record_id if len(found) == query.limit else None,
    )
    return json_response(page.model_dump(mode="json", by_alias=True))
