"""Pieces of the admin API shared by every simulator (docs/protocols.md §3)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from simulators.faults import ADMIN_PREFIX, FaultConfig, FaultConfigError, FaultState


class AdminError(Exception):
    """A refused admin request; rendered as JSON `{"code", "message", "field"}` with a 4xx status."""

    def __init__(self, status: int, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def response(self) -> web.Response:
        body = {"code": self.code, "message": self.message, "field": self.field}
        return json_response(body, status=self.status)


@web.middleware
async def admin_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AdminError as error:
        return error.response()
    except web.HTTPException as exc:
        # Unknown admin paths and methods answer in the admin error shape too.
        if not request.path.startswith(ADMIN_PREFIX) or exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return AdminError(exc.status, code, f"{request.method} {request.path}: {exc.reason}").response()


def json_response(body: Any, status: int = 200) -> web.Response:
    # ensure_ascii=False keeps Chinese readable for operators using curl.
    return web.json_response(body, status=status, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or AdminError 400."""
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdminError(400, "invalid_json", f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise AdminError(400, "invalid_json", "body must be a JSON object")
    return body


def require_str(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise AdminError(400, "missing_field", f"{field} is required (non-empty string)", field)
    return value


def wants_published_only(request: web.Request) -> bool:
    return request.query.get("published", "") in ("1", "true", "yes")


class Stats:
    """Counters behind `GET /admin/stats`."""

    def __init__(self) -> None:
        self.requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.writes: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()

    def request(self, operation: str, outcome: str) -> None:
        self.requests[operation][outcome] += 1

    def write(self, business_key: str) -> None:
        self.writes[business_key] += 1

    def flag(self, name: str) -> None:
        self.flags[name] += 1

    def clear(self) -> None:
        self.requests.clear()
        self.writes.clear()
        self.flags.clear()

    def to_json(self, faults: FaultState) -> dict[str, Any]:
        return {
            "requests": {op: dict(outcomes) for op, outcomes in sorted(self.requests.items())},
            "writes": dict(sorted(self.writes.items())),
            "flags": dict(sorted(self.flags.items())),
            "faults_injected": dict(sorted(faults.injected.items())),
        }


def add_fault_routes(app: web.Application, faults: FaultState) -> None:
    """`GET/POST/DELETE /admin/faults`: read, replace, clear the fault configuration."""

    async def get_faults(_request: web.Request) -> web.Response:
        return json_response(faults.config.to_json())

    async def set_faults(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        try:
            config = FaultConfig.from_json(body)
        except FaultConfigError as exc:
            raise AdminError(400, "invalid_fault", exc.message, exc.field) from exc
        faults.configure(config)
        return json_response(faults.config.to_json())

    async def clear_faults(_request: web.Request) -> web.Response:
        faults.clear()
        return json_response(faults.config.to_json())

    app.router.add_get("/admin/faults", get_faults)
    app.router.add_post("/admin/faults", set_faults)
    app.router.add_delete("/admin/faults", clear_faults)
