"""Probes, metrics, request ids, server faults and the OpenAPI document."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.api.app import create_app
from gateway.api.openapi import CHECKED_IN, build_openapi, dumps
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.database import StoreError, open_database
from tests.test_api_harness import Harness, error_of, open_harness


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    async with open_harness(database_url) as harness:
        yield harness


async def test_probes_answer_when_the_database_does(api: Harness) -> None:
    live = await api.client.get("/livez")
    assert live.status == 200 and await live.json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status == 200
    body = await ready.json()
    assert body["status"] == "ready" and body["schema_version"] >= 1
    assert body["database"] == api.runtime.db.dialect.name


async def test_a_database_that_does_not_answer_is_not_ready_and_faults_are_500_json(api: Harness) -> None:
    original = api.runtime.db.run

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("connection refused (password=hunter2)")

    api.runtime.db.run = broken  # type: ignore[method-assign]
    try:
        ready = await api.client.get("/readyz")
        assert ready.status == 503
        assert (await error_of(ready))["code"] == "database_unavailable"
        assert (await api.client.get("/livez")).status == 200  # alive all the same

        fault = await api.client.get("/v1/records/rec_" + "0" * 24)
        assert fault.status == 500
        error = await error_of(fault)
        assert error == {"code": "internal_error", "message": "internal server error", "field": None}
        assert "hunter2" not in await fault.text()
    finally:
        api.runtime.db.run = original  # type: ignore[method-assign]


async def test_an_unmigrated_schema_is_not_ready(database_url: str) -> None:
    db = open_database(database_url)  # deliberately not migrated
    runtime = Runtime(Settings(database_url=database_url), db, connectors={})
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(runtime)))
    await client.start_server()
    try:
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await error_of(ready))["code"] == "schema_not_migrated"
    finally:
        await client.close()
        await runtime.close()


async def test_request_ids_are_echoed_or_generated(api: Harness) -> None:
    given = await api.client.get("/livez", headers={"X-Request-Id": "req-42.a:b"})
    assert given.headers["X-Request-Id"] == "req-42.a:b"
    generated = await api.client.get("/livez", headers={"X-Request-Id": "no spaces\tor tabs"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-Id"])
    error = await api.client.get("/nowhere")
    assert error.status == 404 and re.fullmatch(r"[0-9a-f]{32}", error.headers["X-Request-Id"])


async def test_metrics_label_requests_by_route_template(api: Harness) -> None:
    record_id = await api.seed()
    assert (await api.client.get(f"/v1/records/{record_id}")).status == 200
    assert (await api.client.get("/v1/records/rec_" + "f" * 24)).status == 404
    assert (await api.client.request("PROPFIND", "/v1/records/x")).status == 405
    assert (await api.client.get(f"/no/such/{record_id}")).status == 404

    response = await api.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    text = await response.text()
    series = "creditgw_http_request_duration_seconds_count"
    assert f'{series}{{method="GET",route="/v1/records/{{id}}",status="2xx"}}' in text
    assert f'{series}{{method="GET",route="/v1/records/{{id}}",status="4xx"}}' in text
    assert f'{series}{{method="OTHER",route="unmatched",status="4xx"}}' in text
    assert f'{series}{{method="GET",route="unmatched",status="4xx"}}' in text
    assert record_id not in text  # never a raw path in a label


async def test_the_served_document_is_the_checked_in_one(api: Harness) -> None:
    response = await api.client.get("/openapi.json")
    assert response.status == 200
    assert await response.json() == json.loads(CHECKED_IN.read_text("utf-8"))


def test_checked_in_openapi_is_current_and_valid() -> None:
    document = build_openapi()
    assert CHECKED_IN.read_text("utf-8") == dumps(document), (
        "regenerate with `creditgw openapi --output docs/openapi.json`"
    )
    validate(document)  # OpenAPI 3.1 (detected from the "openapi" field)


def test_openapi_describes_every_route_and_error(tmp_path: Any) -> None:
    document = build_openapi()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    app = create_app(Runtime(settings, open_database(settings.database_url), connectors={}))
    routed = {(r.resource.canonical, r.method.lower()) for r in app.router.routes() if r.resource is not None}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routed == documented
    error_ref = {"$ref": "#/components/schemas/Error"}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["responses"]["default"]["content"]["application/json"]["schema"] == error_ref, (
                path,
                method,
            )
            if method == "post":
                names = [p.get("$ref", "") for p in op["parameters"]]
                assert "#/components/parameters/IdempotencyKey" in names, path
    repair = document["components"]["schemas"]["RepairRequest"]
    assert repair["additionalProperties"] is False and repair["properties"]["decided_at"]["format"] == "date-time"
