"""GET /v1/records/{id}/notice — the 行政处罚信息信用修复告知书 (seed 附件2, 两书同达) of a penalty.

Plain text (UTF-8) by default or with `?format=text` / `Accept: text/plain`; an HTML document with
`?format=html` or `Accept: text/html`. The query parameter wins over the header. A penalty whose
dates cannot be computed still gets its notice, which says so and why (gateway/notice.py); only a
record that is not an administrative penalty is refused (422 `notice_not_applicable`).
"""

from __future__ import annotations

import re
from typing import Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.auth import CLIENT, require_record
from gateway.api.errors import ApiError
from gateway.api.inputs import parse_query
from gateway.api.keys import RUNTIME
from gateway.api.models import RECORD_ID_PATTERN
from gateway.domain.model import CanonicalRecord
from gateway.domain.personal import mask_ids
from gateway.notice import NoticeFormat, NoticeNotApplicable, build_notice, render_notice
from gateway.store.repo import Repo

_RECORD_ID = re.compile(RECORD_ID_PATTERN)
_MEDIA_TYPES: dict[NoticeFormat, str] = {"text": "text/plain", "html": "text/html"}
_FORMAT_OF: dict[str, NoticeFormat] = {media: fmt for fmt, media in _MEDIA_TYPES.items()}


class NoticeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["text", "html"] | None = Field(
        None, description="`text` (default) or `html`; overrides the Accept header."
    )


def negotiate(accept: str | None) -> NoticeFormat:
    """`html` when the Accept header prefers text/html to text/plain; otherwise `text` (the default
    for a missing header, */*, or types we do not serve)."""
    best: tuple[float, int, NoticeFormat] | None = None
    for position, part in enumerate((accept or "").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        fmt = _FORMAT_OF.get(media.lower())
        if fmt is None:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        candidate = (quality, -position, fmt)
        if best is None or candidate > best:
            best = candidate
    return best[2] if best is not None else "text"


async def get_notice(request: web.Request) -> web.Response:
    query = parse_query(request, NoticeQuery)  # before any database work
    record_id = request.match_info["id"]
    runtime = request.app[RUNTIME]
    record: CanonicalRecord | None = None
    if _RECORD_ID.match(record_id):
        structlog.contextvars.bind_contextvars(record_id=record_id)
        record = await runtime.db.run(lambda tx: Repo(tx).load_record(record_id), write=False)
    if record is None:
        raise ApiError(404, "record_not_found", f"no record {record_id}", field="id")
    require_record(request[CLIENT], record.facts)
    try:
        notice = build_notice(record.facts, record_id=record.record_id, overrides=runtime.settings.rules.overrides())
    except NoticeNotApplicable as exc:
        raise ApiError(422, "notice_not_applicable", str(exc), field="record") from None
    fmt = query.format or negotiate(request.headers.get("Accept"))
    return web.Response(
        text=mask_ids(render_notice(notice, fmt)),
        content_type=_MEDIA_TYPES[fmt],
        charset="utf-8",
        headers={"Vary": "Accept"},
    )
