"""Reading what a client sent — body, query, path — into validated values or an `ApiError`.

Every check here happens before any database work, so a bad request can never leave a trace.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.api.errors import ApiError, from_validation

M = TypeVar("M", bound=BaseModel)

MAX_ID = 2**63 - 1  # outbox ids are BIGINT; a larger number must not reach the driver


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Python keeps the last of duplicate keys silently; for a decision that ambiguity is refused.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _check_media_type(request: web.Request) -> None:
    if request.content_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"expected Content-Type application/json, got {request.content_type}",
            field="Content-Type",
        )
    charset = request.charset
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type", "request bodies must be UTF-8", field="Content-Type")


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request body is larger than {max_bytes} bytes")


async def read_json(request: web.Request, *, max_bytes: int) -> Any:
    """The parsed JSON body (any JSON value; callers decide what shape they accept)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)  # refuse before reading a byte
    _check_media_type(request)
    raw = await request.read()  # aiohttp stops at client_max_size (413) for chunked bodies too
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from exc


def has_body(request: web.Request) -> bool:
    return request.body_exists and request.content_length != 0


def as_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_body", "request body must be a JSON object")
    return payload


def parse_body(model: type[M], payload: dict[str, Any]) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise from_validation(exc) from exc


def parse_query(request: web.Request, model: type[M]) -> M:
    """Query parameters into `model` (extra="forbid": an unknown parameter is an error, not a no-op)."""
    raw: dict[str, str] = {}
    for name in request.query:
        values = request.query.getall(name)
        if len(values) > 1:
            raise ApiError(422, "invalid_parameter", f"{name} given more than once", field=name)
        raw[name] = values[0]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise from_validation(exc, code="invalid_parameter") from exc


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise ApiError(422, "invalid_parameter", f"{name} must be a positive integer", field=name)
    return int(raw)
