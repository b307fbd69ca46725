"""The OpenAPI 3.1 document, generated from the route table and the pydantic models.

OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what pydantic emits, so model schemas go
into `components/schemas` unchanged (their `$defs` merged there). The document is checked in as
docs/openapi.json; a test fails when it drifts from `build_openapi()`. Regenerate with
`creditgw openapi` or `python -m gateway.api.openapi`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.api.models import Error
from gateway.api.routes import ROUTES, Reply, RouteSpec
from gateway.clients import Scope

API_VERSION = "1.0.0"
CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"

_SCHEMAS = "#/components/schemas/"
_REF_TEMPLATE = _SCHEMAS + "{model}"
_ERROR_REF = {"$ref": _SCHEMAS + "Error"}

_PARAMETERS: dict[str, dict[str, Any]] = {
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": True,
        "description": "Scoped by client. Same key and body: the stored response; another body: 422.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x21-\\x7e]+$"},
    },
    **{
        name: {
            "name": header,
            "in": "header",
            "required": True,
            "description": description,
            "schema": {"type": "string"},
        }
        for name, header, description in (
            ("ClientId", "X-Client-Id", "The calling client (`creditgw clients add`)."),
            ("Timestamp", "X-Timestamp", "Unix seconds; accepted within the signature window (300 s)."),
            ("Nonce", "X-Nonce", "8–64 of [A-Za-z0-9._-], used once per client."),
            ("SignatureAlgorithm", "X-Signature-Algorithm", "`HMAC-SHA256` or `HMAC-SM3`."),
            ("Signature", "X-Signature", "Hex HMAC of the string to sign (docs/signing.md)."),
        )
    },
    "RequestId": {
        "name": "X-Request-Id",
        "in": "header",
        "required": False,
        # Any value is accepted (an unusable one is replaced, not refused): the schema says so.
        "description": "Correlation id, echoed back when it is 1–128 of [A-Za-z0-9._:-]; generated otherwise.",
        "schema": {"type": "string"},
    },
}

_SIGNATURE_PARAMETERS = ("ClientId", "Timestamp", "Nonce", "SignatureAlgorithm", "Signature")

_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {"description": "Correlation id of this request.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "Present (`true`) when the response is the stored one of an earlier request.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _optional(name: str) -> dict[str, Any]:
    return {**_PARAMETERS[name], "required": False}


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Error, "serialization")]
    for route in ROUTES:
        if route.body is not None:
            wanted.append((route.body, "validation"))
        if route.query is not None:
            wanted.append((route.query, "validation"))
        wanted.extend((reply.model, "serialization") for reply in route.responses.values() if reply.model)
    return list(dict.fromkeys(wanted))  # unique, in order


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query string cannot carry null: an optional parameter is simply absent."""
    branches = [b for b in schema.get("anyOf", ()) if b != {"type": "null"}]
    if "anyOf" not in schema or len(branches) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**branches[0], **rest}


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if "description" in prop:
            param["description"] = prop.pop("description")
        prop.pop("title", None)
        param["schema"] = _not_null(prop)
        params.append(param)
    return params


def _reply(reply: Reply, refs: dict[Any, Any]) -> dict[str, Any]:
    schema = refs[(reply.model, "serialization")] if reply.model is not None else dict(reply.schema or {})
    headers = {name: _ref("headers", name) for name in ("X-Request-Id", *reply.headers)}
    return {
        "description": reply.description,
        "headers": headers,
        "content": {
            **{media_type: {"schema": schema} for media_type in (reply.media_type, *reply.also_media_types)},
            **{media_type: {"schema": dict(other)} for media_type, other in reply.alternatives},
        },
    }


def _errors(route: RouteSpec) -> dict[str, dict[str, Any]]:
    errors = dict(route.errors)
    if route.scope != Scope.PUBLIC:
        errors[401] = "`unauthorized` (signature, timestamp, nonce or client refused; the reason is only logged)"
        errors[403] = ", ".join(
            filter(None, (errors.get(403), "`scope_denied`, `authority_denied`, `category_denied`"))
        )
        errors[429] = "`rate_limited` (header Retry-After)"
    if route.path.startswith("/v1/"):  # gateway/api/pressure.py, before any work
        shed = "`overloaded`, `shutting_down`, " if route.method != "GET" else ""
        errors[503] = f"{shed}`database_unavailable` (header Retry-After)"
    out = {
        str(status): {
            "description": f"Error: {codes}.",
            "headers": {"X-Request-Id": _ref("headers", "X-Request-Id")},
            "content": {"application/json": {"schema": _ERROR_REF}},
        }
        for status, codes in sorted(errors.items())
    }
    out["default"] = {
        "description": (
            "Error: `not_found` (no such route), `method_not_allowed`, or `internal_error` (a server fault)."
        ),
        "content": {"application/json": {"schema": _ERROR_REF}},
    }
    return out


def _operation(route: RouteSpec, refs: dict[Any, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": p.name,
            "in": "path",
            "required": True,
            "description": p.description,
            "schema": dict(p.schema),
        }
        for p in route.path_params
    ]
    if route.query is not None:
        parameters.extend(_query_parameters(schemas[route.query.__name__]))
    if route.idempotent:
        parameters.append(_ref("parameters", "IdempotencyKey"))
    if route.scope != Scope.PUBLIC:
        # Optional on a route that a presigned link opens instead (its link_* query parameters).
        signature = [_ref("parameters", name) for name in _SIGNATURE_PARAMETERS]
        parameters.extend(signature if not route.presigned else [_optional(name) for name in _SIGNATURE_PARAMETERS])
    parameters.append(_ref("parameters", "RequestId"))
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "x-scope": route.scope.value,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": parameters,
        "responses": {
            **{str(status): _reply(reply, refs) for status, reply in route.responses.items()},
            **_errors(route),
        },
    }
    if route.presigned:
        operation["x-presigned"] = True
    if route.description:
        operation["description"] = route.description
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    return operation


def build_openapi() -> dict[str, Any]:
    refs, top = models_json_schema(_models(), ref_template=_REF_TEMPLATE)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs, schemas)
    for route in ROUTES:  # query models became parameters; they are not bodies anyone sends
        if route.query is not None:
            schemas.pop(route.query.__name__, None)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "creditgw",
            "version": API_VERSION,
            "summary": "Credit-repair sync gateway: 信用中国（甘肃） ⇄ GSXT（甘肃） ⇄ list authorities",
            "description": (
                'Every error is `{"code", "message", "field"}` with a stable snake_case `code`. '
                "Every write (POST, PUT) needs an `Idempotency-Key`. Every `/v1/` call is signed "
                "(docs/signing.md) by a client holding the operation's scope (`x-scope`)."
            ),
        },
        "tags": [
            {"name": "repairs", "description": "Owners' decisions and their progress (进度查询)."},
            {"name": "records", "description": "Records and subjects across systems."},
            {"name": "dead-letters", "description": "Deliveries that failed for good, and their replay."},
            {"name": "guidance", "description": "Repair guidance (修复指引) from the same rule data as eligibility."},
            {"name": "reconciliations", "description": "Reconciliation runs, their findings and reports."},
            {"name": "operations", "description": "Probes, metrics, this document."},
        ],
        "paths": paths,
        "components": {"schemas": schemas, "parameters": _PARAMETERS, "headers": _HEADERS},
    }


def dumps(document: Mapping[str, Any]) -> str:
    """The checked-in form: sorted keys, two-space indent, UTF-8 text, trailing newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def load_document() -> dict[str, Any]:
    """The checked-in document when running from a checkout; generated when installed without it."""
    if CHECKED_IN.is_file():
        loaded: dict[str, Any] = json.loads(CHECKED_IN.read_text("utf-8"))
        return loaded
    return build_openapi()


def main(argv: list[str] | None = None) -> int:
    """`python -m gateway.api.openapi [PATH]` writes the document (default: docs/openapi.json)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else CHECKED_IN
    target.write_text(dumps(build_openapi()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
