"""Reconciliation runs over the API (issue 13 item 3): runs, one run, its findings (paged, filtered
by kind, system, category), the run's report as JSON, CSV or an HTML page, a page per record of the
report, and presigned links that open the pages in a browser (docs/adr/0023).

A client sees only the findings of records it may see (`Grant.visible()`), like every other read;
counts are of those findings too. Run-level totals of work done (rows read, heals sent) are
operational figures, shown as they are.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import structlog
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway import signing
from gateway.api.auth import (
    CLIENT,
    GATEKEEPER,
    LINK,
    LINK_DEFAULT_TTL_S,
    LINK_MAX_TTL_S,
    link_resource,
)
from gateway.api.errors import ApiError, json_response
from gateway.api.inputs import parse_query
from gateway.api.keys import RUNTIME
from gateway.api.models import PAGE_LIMIT, RECORD_ID_PATTERN
from gateway.api.views import record_href
from gateway.clients import Grant
from gateway.domain.categories import Category, System
from gateway.domain.model import CanonicalRecord, LinkState
from gateway.domain.reconcile import FindingKind
from gateway.observability import get_logger
from gateway.reconcile_report import (
    PAGE_HEADERS,
    ROWS_PER_TABLE,
    RecordPage,
    Report,
    ReportTable,
    about_system,
    content_security_policy,
    csv_chunk,
    differences,
    identity_of,
    render_record_html,
    render_report_html,
    table_order,
)
from gateway.store.database import Tx
from gateway.store.reconcile_reads import (
    Visible,
    visible_counts,
    visible_findings,
    visible_pair_counts,
    visible_totals,
)
from gateway.store.reconciliations import PairProgress, Run, StoredFinding, get_run, list_runs
from gateway.store.repo import Repo

log = get_logger("creditgw.api.reconciliations")

RUN_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
_RUN_ID = re.compile(RUN_ID_PATTERN)
_RECORD_ID = re.compile(RECORD_ID_PATTERN)
RUN_PAGE_LIMIT = 100
CSV_BATCH = 1000  # findings read per transaction while streaming a CSV


# ---- query and answer models --------------------------------------------------------------------


class LinkParameters(BaseModel):
    """The parameters of a presigned link (docs/adr/0023): absent on a signed request."""

    model_config = ConfigDict(extra="forbid")

    link_client: str | None = Field(None, description="Presigned link: the client it was minted for.")
    link_expires: str | None = Field(None, description="Presigned link: Unix seconds after which it fails.")
    link_algorithm: str | None = Field(None, description="Presigned link: `HMAC-SHA256` or `HMAC-SM3`.")
    link_signature: str | None = Field(None, description="Presigned link: its signature (docs/adr/0023).")


class ReconciliationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: str | None = Field(
        None, pattern=RUN_ID_PATTERN, description="Resume after this run id (`next_after` of the last page)."
    )
    limit: int = Field(20, ge=1, le=RUN_PAGE_LIMIT)


class FindingFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: FindingKind | None = None
    system: System | None = Field(None, description="Findings of pairs this system is the owner or the mirror of.")
    category: Category | None = None


class FindingQuery(FindingFilters):
    after: int = Field(0, ge=0, le=2**62, description="Resume after this sequence number (`next_after`).")
    limit: int = Field(100, ge=1, le=PAGE_LIMIT)


class ReportQuery(FindingFilters, LinkParameters):
    format: Literal["html", "json", "csv"] | None = Field(
        None,
        description="`html`, `json` or `csv`; without it the Accept header decides (text/html, text/csv), else JSON.",
    )


class RecordPageQuery(LinkParameters):
    pass


class ReportLinkQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_s: int = Field(
        LINK_DEFAULT_TTL_S, ge=60, le=LINK_MAX_TTL_S, description="How long the link opens the report (seconds)."
    )


class RunScopeView(BaseModel):
    system: str | None
    category: str | None


class PairView(BaseModel):
    category: str
    owner_system: str
    mirror_system: str
    status: str
    owner_rows: int
    mirror_rows: int
    unreadable: int = Field(description="Rows a mapping could not read (quarantined, not compared).")
    findings: int = Field(description="Findings of this pair the client may see.")
    heals: int
    error: str | None


class RunLinks(BaseModel):
    self_link: str = Field(serialization_alias="self")
    findings: str
    report: str


class RunView(BaseModel):
    run_id: str
    mode: str
    scope: RunScopeView
    status: str
    origin: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    findings: int = Field(description="Findings the client may see.")
    heals: int
    error: str | None
    pairs: list[PairView] = Field(description="Per category and owner/mirror pair (empty in lists).")
    links: RunLinks


class RunPage(BaseModel):
    items: list[RunView]
    next_after: str | None


class IdentityView(BaseModel):
    category: str
    authority_code: str
    document_number: str


class DifferenceView(BaseModel):
    name: str
    owner: str
    mirror: str


class FindingLinks(BaseModel):
    record: str | None


class FindingView(BaseModel):
    run_id: str
    seq: int
    kind: str
    category: str
    owner_system: str
    mirror_system: str
    system: str = Field(description="The system the finding is about (the listing a duplicate was seen in).")
    side: str | None
    identity_key: str = Field(description="category, authority code and document number joined by U+001F.")
    identity: IdentityView
    record_id: str | None
    owner_value: dict[str, Any] | None
    mirror_value: dict[str, Any] | None
    differences: list[DifferenceView]
    detail: dict[str, Any]
    action: str
    action_reason: str | None
    links: FindingLinks


class FindingPage(BaseModel):
    items: list[FindingView]
    next_after: int | None


class ReportTableView(BaseModel):
    system: str
    kind: str
    count: int
    findings: list[FindingView] = Field(description=f"The first {ROWS_PER_TABLE}; the CSV has all.")


class ReportView(BaseModel):
    run: RunView
    tables: list[ReportTableView]


class ReportLinkView(BaseModel):
    url: str = Field(description="Opens the report in a browser until `expires_at`, for this client only.")
    path: str = Field(description="The same link without scheme and host (behind a proxy, join it to its address).")
    expires_at: AwareDatetime


# ---- views --------------------------------------------------------------------------------------


def run_href(run_id: str) -> str:
    return f"/v1/reconciliations/{run_id}"


def _pair_view(pair: PairProgress, findings: int) -> PairView:
    return PairView(
        category=pair.category,
        owner_system=pair.owner_system,
        mirror_system=pair.mirror_system,
        status=pair.status.value,
        owner_rows=pair.owner_rows,
        mirror_rows=pair.mirror_rows,
        unreadable=pair.unreadable,
        findings=findings,
        heals=pair.heals,
        error=pair.error,
    )


def run_view(run: Run, findings: int, pair_findings: dict[tuple[str, str, str], int] | None = None) -> RunView:
    counts = pair_findings or {}
    href = run_href(run.run_id)
    return RunView(
        run_id=run.run_id,
        mode=run.mode.value,
        scope=RunScopeView(system=run.scope.system, category=run.scope.category),
        status=run.status.value,
        origin=run.origin,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_s=run.duration_s,
        findings=findings,
        heals=run.heals,
        error=run.error,
        pairs=[
            _pair_view(p, counts.get((p.category, p.owner_system, p.mirror_system), 0))
            for p in (run.pairs if pair_findings is not None else ())
        ],
        links=RunLinks(self_link=href, findings=f"{href}/findings", report=f"{href}/report"),
    )


def finding_view(finding: StoredFinding) -> FindingView:
    identity = identity_of(finding.identity_key)
    return FindingView(
        run_id=finding.run_id,
        seq=finding.seq,
        kind=finding.kind,
        category=finding.category,
        owner_system=finding.owner_system,
        mirror_system=finding.mirror_system,
        system=about_system(finding),
        side=finding.side,
        identity_key=finding.identity_key,
        identity=IdentityView(
            category=identity.category,
            authority_code=identity.authority_code,
            document_number=identity.document_number,
        ),
        record_id=finding.record_id,
        owner_value=finding.owner_value,
        mirror_value=finding.mirror_value,
        differences=[DifferenceView(name=n, owner=o, mirror=m) for n, o, m in differences(finding)],
        detail=finding.detail,
        action=finding.action.value,
        action_reason=finding.action_reason,
        links=FindingLinks(record=record_href(finding.record_id) if finding.record_id else None),
    )


# ---- reads --------------------------------------------------------------------------------------


def _run_id(request: web.Request) -> str:
    run_id = request.match_info["id"]
    if not _RUN_ID.match(run_id):
        raise _run_not_found(run_id)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    return run_id


def _run_not_found(run_id: str) -> ApiError:
    return ApiError(404, "reconciliation_not_found", f"no reconciliation run {run_id}", field="id")


def _filters(query: FindingFilters) -> dict[str, str | None]:
    return {
        "kind": query.kind.value if query.kind else None,
        "system": query.system.value if query.system else None,
        "category": query.category.value if query.category else None,
    }


def _read_report(run_id: str, visible: Visible, filters: dict[str, str | None]) -> Any:
    def read(tx: Tx) -> Report | None:
        run = get_run(tx, run_id)
        if run is None:
            return None
        pair_findings = visible_pair_counts(tx, run_id, visible=visible)
        tables = []
        for system, kind, count in table_order(visible_counts(tx, run_id, visible=visible)):
            if filters["kind"] not in (None, kind):
                continue
            rows = visible_findings(
                tx,
                run_id,
                visible=visible,
                kind=kind,
                about=system,
                system=filters["system"],
                category=filters["category"],
                limit=ROWS_PER_TABLE,
            )
            if filters["system"] is not None or filters["category"] is not None:
                if not rows:
                    continue
                count = _count_filtered(tx, run_id, visible, kind, system, filters)
            tables.append(ReportTable(system=system, kind=kind, count=count, findings=tuple(rows)))
        return Report(
            run=run,
            total=sum(t.count for t in tables),
            pair_findings=pair_findings,
            tables=tuple(tables),
        )

    return read


def _count_filtered(
    tx: Tx, run_id: str, visible: Visible, kind: str, system: str, filters: dict[str, str | None]
) -> int:
    """A table's count under the system and category filters (rare: read in pages)."""
    total, after = 0, 0
    while True:
        page = visible_findings(
            tx,
            run_id,
            visible=visible,
            kind=kind,
            about=system,
            system=filters["system"],
            category=filters["category"],
            after_seq=after,
            limit=CSV_BATCH,
        )
        total += len(page)
        if len(page) < CSV_BATCH:
            return total
        after = page[-1].seq


async def list_reconciliations(request: web.Request) -> web.Response:
    query = parse_query(request, ReconciliationQuery)
    visible = request[CLIENT].visible()

    def read(tx: Tx) -> tuple[list[Run], dict[str, int]]:
        runs = list_runs(tx, limit=query.limit, before=query.after)
        return runs, visible_totals(tx, [r.run_id for r in runs], visible=visible)

    runs, totals = await request.app[RUNTIME].db.run(read, write=False)
    page = RunPage(
        items=[run_view(run, totals.get(run.run_id, 0)) for run in runs],
        next_after=runs[-1].run_id if len(runs) == query.limit else None,
    )
    return json_response(page.model_dump(mode="json", by_alias=True))


async def get_reconciliation(request: web.Request) -> web.Response:
    run_id = _run_id(request)
    visible = request[CLIENT].visible()

    def read(tx: Tx) -> tuple[Run, dict[tuple[str, str, str], int]] | None:
        run = get_run(tx, run_id)
        return None if run is None else (run, visible_pair_counts(tx, run_id, visible=visible))

    found = await request.app[RUNTIME].db.run(read, write=False)
    if found is None:
        raise _run_not_found(run_id)
    run, pair_findings = found
    view = run_view(run, sum(pair_findings.values()), pair_findings)
    return json_response(view.model_dump(mode="json", by_alias=True))


async def list_reconciliation_findings(request: web.Request) -> web.Response:
    query = parse_query(request, FindingQuery)
    run_id = _run_id(request)
    visible = request[CLIENT].visible()

    def read(tx: Tx) -> list[StoredFinding] | None:
        if get_run(tx, run_id) is None:
            return None
        return visible_findings(
            tx, run_id, visible=visible, after_seq=query.after, limit=query.limit, **_filters(query)
        )

    findings = await request.app[RUNTIME].db.run(read, write=False)
    if findings is None:
        raise _run_not_found(run_id)
    page = FindingPage(
        items=[finding_view(f) for f in findings],
        next_after=findings[-1].seq if len(findings) == query.limit else None,
    )
    return json_response(page.model_dump(mode="json", by_alias=True))


# ---- the report ---------------------------------------------------------------------------------

_FORMAT_OF = {"text/html": "html", "text/csv": "csv", "application/json": "json"}


def negotiate(accept: str | None) -> str:
    """The first of text/html, text/csv, application/json that Accept names with q > 0, in the
    order it lists them (a browser lists text/html first); JSON when none."""
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        fmt = _FORMAT_OF.get(media.lower())
        if fmt is not None:
            return fmt
    return "json"


async def _link_for(request: web.Request, grant: Grant) -> dict[str, str]:
    """The link the page's own links carry: the one it was opened with, or (opened with a signed
    request) one minted for the same client with the default lifetime."""
    link = request.get(LINK)
    if link is not None:
        return dict(link)
    algorithm = request.headers.get(signing.ALGORITHM_HEADER, signing.HMAC_SHA256)
    return await request.app[GATEKEEPER].mint_link(
        grant.client_id,
        link_resource(request),
        expires=int(time.time()) + LINK_DEFAULT_TTL_S,
        algorithm=algorithm if algorithm in signing.ALGORITHMS else signing.HMAC_SHA256,
    )


def _page(text: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/html",
        charset="utf-8",
        headers={**PAGE_HEADERS, "Content-Security-Policy": content_security_policy()},
    )


async def get_reconciliation_report(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, ReportQuery)
    run_id = _run_id(request)
    grant = request[CLIENT]
    visible = grant.visible()
    fmt = query.format or negotiate(request.headers.get("Accept"))
    filters = _filters(query)
    runtime = request.app[RUNTIME]
    if fmt == "csv":
        return await _stream_csv(request, run_id, visible, filters)
    report = await runtime.db.run(_read_report(run_id, visible, filters), write=False)
    if report is None:
        raise _run_not_found(run_id)
    if fmt == "json":
        view = ReportView(
            run=run_view(report.run, report.total, dict(report.pair_findings)),
            tables=[
                ReportTableView(
                    system=t.system, kind=t.kind, count=t.count, findings=[finding_view(f) for f in t.findings]
                )
                for t in report.tables
            ],
        )
        response = json_response(view.model_dump(mode="json", by_alias=True), headers=dict(PAGE_HEADERS))
        response.headers["Vary"] = "Accept"
        return response
    link = await _link_for(request, grant)
    response = _page(render_report_html(report, link=link, now=runtime.clock()))
    response.headers["Vary"] = "Accept"
    return response


async def _stream_csv(
    request: web.Request, run_id: str, visible: Visible, filters: dict[str, str | None]
) -> web.StreamResponse:
    """Every visible finding (under the filters), read and written a batch at a time: memory does
    not grow with the run."""
    db = request.app[RUNTIME].db

    def batch(after: int) -> Any:
        def read(tx: Tx) -> list[StoredFinding] | None:
            if after == 0 and get_run(tx, run_id) is None:
                return None
            return visible_findings(tx, run_id, visible=visible, after_seq=after, limit=CSV_BATCH, **filters)

        return read

    first = await db.run(batch(0), write=False)
    if first is None:
        raise _run_not_found(run_id)
    response = web.StreamResponse(
        headers={
            **PAGE_HEADERS,
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="reconciliation-{run_id}.csv"',
            "Vary": "Accept",
        }
    )
    await response.prepare(request)
    findings, header = first, True
    while True:
        await response.write(csv_chunk(findings, header=header).encode("utf-8"))
        header = False
        if len(findings) < CSV_BATCH:
            break
        findings = await db.run(batch(findings[-1].seq), write=False)
    await response.write_eof()
    return response


def _record_rows(record: CanonicalRecord) -> dict[str, Any]:
    facts = record.facts
    return {
        "record_id": record.record_id,
        "类别": facts.category.value,
        "认定机关": facts.authority_name,
        "认定机关代码": facts.authority_code,
        "文书号": facts.document_number,
        "主体": facts.subject_name,
        "公示状态": record.state.target.label,
        "版本": record.state.version,
        "权威系统": facts.owner,
        "镜像系统": "、".join(facts.mirrors),
    }


def _system_rows(record: CanonicalRecord, links: dict[str, LinkState]) -> list[dict[str, Any]]:
    out = []
    for system, link in sorted(links.items()):
        out.append(
            {
                "system": system,
                "role": "权威" if system == record.facts.owner else "镜像",
                "written": link.written_target.label if link.written_target else None,
                "seen": link.seen_target.label if link.seen_target else None,
            }
        )
    return out


async def get_reconciliation_record(request: web.Request) -> web.Response:
    parse_query(request, RecordPageQuery)
    run_id = _run_id(request)
    record_id = request.match_info["record_id"]
    grant = request[CLIENT]
    visible = grant.visible()
    runtime = request.app[RUNTIME]

    def read(tx: Tx) -> RecordPage | None:
        run = get_run(tx, run_id)
        if run is None:
            raise _run_not_found(run_id)
        if not _RECORD_ID.match(record_id):
            return None
        # Only a record this run found something about, and only findings this client may see:
        # the link opens one run's report, not the gateway's records.
        findings = visible_findings(tx, run_id, visible=visible, record_id=record_id, limit=PAGE_LIMIT)
        if not findings:
            return None
        repo = Repo(tx)
        record = repo.load_record(record_id)
        links = repo.load_links(record_id) if record is not None else {}
        return RecordPage(
            run=run,
            record_id=record_id,
            record=_record_rows(record) if record is not None else None,
            systems=_system_rows(record, links) if record is not None else [],
            findings=findings,
        )

    page = await runtime.db.run(read, write=False)
    if page is None:
        raise ApiError(
            404,
            "record_not_found",
            f"run {run_id} found nothing this client may see about {record_id}",
            field="record_id",
        )
    link = await _link_for(request, grant)
    return _page(render_record_html(page, link=link, now=runtime.clock()))


async def get_reconciliation_report_link(request: web.Request) -> web.Response:
    query = parse_query(request, ReportLinkQuery)
    run_id = _run_id(request)
    grant = request[CLIENT]
    runtime = request.app[RUNTIME]
    if await runtime.db.run(lambda tx: get_run(tx, run_id), write=False) is None:
        raise _run_not_found(run_id)
    expires = int(time.time()) + query.ttl_s
    algorithm = request.headers.get(signing.ALGORITHM_HEADER, signing.HMAC_SHA256)
    link = await request.app[GATEKEEPER].mint_link(
        grant.client_id,
        link_resource(request),
        expires=expires,
        algorithm=algorithm if algorithm in signing.ALGORITHMS else signing.HMAC_SHA256,
    )
    path = f"{run_href(run_id)}/report?{urlencode(link)}"
    log.info("report_link_issued", run_id=run_id, expires=expires)  # never the link itself
    view = ReportLinkView(
        url=str(request.url.with_path("/").with_query(None)).rstrip("/") + path,
        path=path,
        expires_at=datetime.fromtimestamp(expires, UTC),
    )
    return json_response(view.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
