"""One error shape for every failure: `{"code", "message", "field"}`.

`code` is stable snake_case that clients branch on; `message` is for people and may change;
`field` is the dotted path of the offending input (body field, query parameter, header) or null.
Handlers raise `ApiError`; the middleware below turns it, aiohttp's own HTTP exceptions (unknown
route, wrong method, oversize body) and unexpected faults into that shape, so no handler ever
builds an error response by hand and no stack trace ever reaches a client.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from gateway.domain.personal import mask_ids
from gateway.observability import get_logger

log = get_logger("creditgw.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A request the API refuses; the status says whose fault it is (4xx: the caller's)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field}

    def response(self) -> web.Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


def json_response(payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # ensure_ascii=False: names of authorities and subjects are Chinese; UTF-8 keeps them readable.
    return web.Response(
        # mask_ids: an answer never carries a natural person's whole ID number (gateway/domain/personal.py).
        text=mask_ids(json.dumps(payload, ensure_ascii=False)),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def dotted(loc: tuple[int | str, ...]) -> str | None:
    return ".".join(str(part) for part in loc) or None


# Error types that our own validators raise (PydanticCustomError) and that clients may branch on.
_CUSTOM_CODES = frozenset({"invalid_uscc"})


def from_validation(exc: ValidationError, *, prefix: tuple[str, ...] = (), code: str | None = None) -> ApiError:
    """The first problem of a pydantic error list, as one API error.

    An unknown field wins over other problems: it usually means the client speaks another version
    of the API, and "unknown_field" tells it so more clearly than a missing-field error would.
    """
    errors = exc.errors(include_url=False)
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    first = unknown[0] if unknown else errors[0]
    field = dotted((*prefix, *first["loc"]))
    if unknown:
        return ApiError(422, code or "unknown_field", f"unknown field {field}", field=field)
    error_type = str(first["type"])
    message = str(first["msg"])
    if code is None:
        code = error_type if error_type in _CUSTOM_CODES else "validation_error"
    return ApiError(422, code, f"{field}: {message}" if field else message, field=field)


# aiohttp raises these itself (router, body reader); the codes are part of the API contract.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _from_http(exc: web.HTTPException) -> ApiError:
    code = _HTTP_CODES.get(exc.status, f"http_{exc.status}")
    message = {
        "not_found": "no such route",
        "method_not_allowed": "method not allowed on this route",
        "body_too_large": "request body is too large",
    }.get(code, exc.reason)
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return ApiError(exc.status, code, message, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and the like are not errors
            raise
        return _from_http(exc).response()
    except Exception:
        # A real server fault: the details go to the log (with the request id), not to the client.
        log.exception("request_failed")
        return ApiError(500, "internal_error", "internal server error").response()
