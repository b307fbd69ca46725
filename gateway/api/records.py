"""GET /v1/records — find records by filters — GET /v1/records/{id} — one record everywhere — and
GET /v1/subjects/{uscc}/records — one subject (统一社会信用代码) across systems."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from gateway.api.auth import CLIENT, require_record
from gateway.api.errors import ApiError, json_response
from gateway.api.inputs import parse_query
from gateway.api.keys import RUNTIME
from gateway.api.models import (
    EligibilityView,
    RecordListItem,
    RecordPage,
    RecordQuery,
    RecordView,
    SelfLink,
    SubjectRecord,
    SubjectRecords,
)
from gateway.api.rules import eligibility_views, overrides_of, standing_from, standing_of
from gateway.api.views import audit_view, record_href, repair_summary, state_view, system_views
from gateway.domain import uscc
from gateway.domain.beijing import beijing_date
from gateway.domain.model import CanonicalRecord, LinkState
from gateway.domain.rules import SubjectStanding
from gateway.store.database import Row, Tx
from gateway.store.repo import Repo, record_from_row

AUDIT_LIMIT = 50
SUBJECT_LIMIT = 500  # one subject rarely has more; beyond that the answer says `truncated`

_RECORD_ID = re.compile(r"^rec_[0-9a-f]{24}$")

_RecordRows = tuple[CanonicalRecord, dict[str, LinkState], list[Row], list[Row], SubjectStanding]


def _load_record(record_id: str) -> Callable[[Tx], _RecordRows | None]:
    def read(tx: Tx) -> _RecordRows | None:
        repo = Repo(tx)
        record = repo.load_record(record_id)
        if record is None:
            return None
        return (
            record,
            repo.load_links(record_id),
            repo.audit_of(record_id, limit=AUDIT_LIMIT),
            repo.repairs_of_record(record_id),
            standing_of(repo, record.facts),
        )

    return read


async def list_records(request: web.Request) -> web.Response:
    """Records by system, category, state, subject and last change, so an operator finds ids
    without reading the database; keyset-paged by record id."""
    query = parse_query(request, RecordQuery)
    status, _, reason = (query.state or "").partition(":")
    grant = request[CLIENT]

    def read(tx: Tx) -> list[Row]:
        return Repo(tx).find_records(
            system=query.system.value if query.system else None,
            category=query.category.value if query.category else None,
            status=status or None,
            reason=reason or None,
            subject_code=query.subject,
            updated_since=query.updated_since,
            visible=grant.visible(),  # 谁认定: a client lists only its authorities' records
            after=query.after or "",
            limit=query.limit,
        )

    rows = await request.app[RUNTIME].db.run(read, write=False)
    items = []
    for row in rows:
        items.append(RecordListItem(**_brief(record_from_row(row)), updated_at=row["updated_at"]))
    page = RecordPage(items=items, next_after=items[-1].record_id if len(items) == query.limit else None)
    return json_response(page.model_dump(mode="json", by_alias=True))


async def get_record(request: web.Request) -> web.Response:
    record_id = request.match_info["id"]
    found = None
    if _RECORD_ID.match(record_id):
        structlog.contextvars.bind_contextvars(record_id=record_id)
        found = await request.app[RUNTIME].db.run(_load_record(record_id), write=False)
    if found is None:
        raise ApiError(404, "record_not_found", f"no record {record_id}", field="id")
    record, links, audit, repairs, standing = found
    require_record(request[CLIENT], record.facts)
    runtime = request.app[RUNTIME]
    view = RecordView(
        record_id=record.record_id,
        facts=record.facts.to_json(),
        state=state_view(record),
        owner=record.facts.owner,
        mirrors=list(record.facts.mirrors),
        systems=system_views(links),
        audit=[audit_view(row) for row in audit],
        repairs=[repair_summary(row) for row in repairs],
        eligibility=eligibility_views(
            record.facts,
            today=beijing_date(runtime.clock()),
            overrides=overrides_of(runtime.settings),
            standing=standing,
        ),
        links=SelfLink(self_link=record_href(record.record_id)),
    )
    return json_response(view.model_dump(mode="json", by_alias=True))


def _brief(record: CanonicalRecord) -> dict[str, Any]:
    """The fields of RecordBrief: what names a record and where it stands."""
    facts = record.facts
    return {
        "record_id": record.record_id,
        "category": facts.category,
        "authority_name": facts.authority_name,
        "document_number": facts.document_number,
        "subject_name": facts.subject_name,
        "state": state_view(record),
        "owner": facts.owner,
        "mirrors": list(facts.mirrors),
        "links": SelfLink(self_link=record_href(record.record_id)),
    }


def _subject_record(
    record: CanonicalRecord, links: dict[str, LinkState], eligibility: list[EligibilityView]
) -> SubjectRecord:
    return SubjectRecord(**_brief(record), systems=system_views(links), eligibility=eligibility)


async def get_subject_records(request: web.Request) -> web.Response:
    raw = request.match_info["uscc"]
    checked = uscc.check(raw)  # normalises: full-width, case, spaces
    if not checked.well_formed or re.fullmatch(uscc.INPUT_PATTERN, raw) is None:
        raise ApiError(422, "invalid_uscc", "not a well-formed 统一社会信用代码", field="uscc")

    def read(tx: Tx) -> tuple[list[tuple[CanonicalRecord, dict[str, LinkState]]], bool]:
        repo = Repo(tx)
        records = repo.records_of_subject(checked.code, limit=SUBJECT_LIMIT + 1)
        return [(r, repo.load_links(r.record_id)) for r in records[:SUBJECT_LIMIT]], len(records) > SUBJECT_LIMIT

    runtime = request.app[RUNTIME]
    found, truncated = await runtime.db.run(read, write=False)
    today, overrides = beijing_date(runtime.clock()), overrides_of(runtime.settings)
    standing = standing_from(r for r, _ in found)
    view = SubjectRecords(
        subject_code=checked.code,
        checksum_ok=checked.checksum_ok,
        records=[
            _subject_record(r, links, eligibility_views(r.facts, today=today, overrides=overrides, standing=standing))
            for r, links in found
        ],
        truncated=truncated,
    )
    return json_response(view.model_dump(mode="json", by_alias=True))
