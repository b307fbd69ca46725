"""Fuzzing the API against its own document (issue 14 item 6): schemathesis generates requests
from the served `/openapi.json`, valid and invalid (negative data), for every operation; each is
signed as a client with every scope (docs/signing.md) and sent to the real server on a real
database. Every answer must be no 5xx, conform to the document (status, content type, headers,
body schema), refuse what the document says is invalid, and a refused request must leave the
database exactly as it was (content digest before and after).

The five signature headers are dropped from the document given to the generator: they are
transport, set by the signing hook on every request (a generated signature is simply refused,
which the auth tests cover). `CREDITGW_FUZZ_EXAMPLES` sets the examples per operation and mode.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core import NOT_SET
from yarl import URL

from gateway.api.inputs import MAX_ID
from gateway.api.openapi import build_openapi
from gateway.domain import uscc
from gateway.signing import Credentials, sign_headers
from tests.reconcile_seed import seed_run
from tests.test_api_harness import NOW, SUBJECT, Harness, error_of, open_harness, repair_body

EXAMPLES = int(os.environ.get("CREDITGW_FUZZ_EXAMPLES", "30"))
SIGNATURE_HEADERS = frozenset({"X-Client-Id", "X-Timestamp", "X-Nonce", "X-Signature-Algorithm", "X-Signature"})
# Operations that take nothing but the optional X-Request-Id (any string): no negative data exists.
# getRecord, getRepair and getReconciliation: their path id is any string (an unknown one is a 404).
NO_INPUT = frozenset(
    {"livez", "readyz", "metrics", "openapi", "listGuidance", "getRecord", "getRepair", "getReconciliation"}
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class Signer(requests.auth.AuthBase):
    """Signs the prepared request: the exact URL and body bytes that go on the wire."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = request.body = body.encode()  # sent as these bytes, not latin-1
            request.headers["Content-Length"] = str(len(body))
        assert request.method is not None and request.url is not None
        # sign_headers signs the path as yarl (aiohttp's client) encodes it, e.g. `%29` as `)`;
        # requests sends what it was given, so send the form that was signed.
        request.url = str(URL(request.url))
        request.headers.update(sign_headers(self.credentials, request.method, request.url, body))
        return request


def fuzz_document(document: dict[str, Any]) -> dict[str, Any]:
    """The served document less the signature headers, which the signer sets."""
    document = copy.deepcopy(document)
    signature_refs = {
        f"#/components/parameters/{name}"
        for name, param in document["components"]["parameters"].items()
        if param["name"] in SIGNATURE_HEADERS
    }
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["parameters"] = [p for p in operation["parameters"] if p.get("$ref") not in signature_refs]
    return document


# Codes of a request refused for its form (what the document describes), as opposed to its
# meaning (unknown record, a transition the record's state forbids, a date in the future, ...).
MALFORMED = frozenset(
    {
        *("invalid_json", "invalid_body", "unknown_field", "validation_error", "invalid_parameter", "invalid_uscc"),
        *("missing_idempotency_key", "invalid_idempotency_key", "unsupported_media_type", "body_too_large"),
    }
)

# Parameters well formed per the document that the server may still refuse with `invalid_parameter`
# for what they mean: (operation, field).
REFUSED_FOR_MEANING = frozenset(
    {
        ("listRepairs", "after"),  # an opaque cursor: the document gives its alphabet, not its positions
        ("getRecordEligibility", "system"),  # a system that does not publish this record
    }
)


def refused_as_malformed(case: schemathesis.Case, response: requests.Response) -> None:
    """A request the document calls valid must not be refused as malformed: the document would
    be looser than the server."""
    if response.status_code not in (400, 413, 415, 422):
        return
    code = response.json()["code"]
    # "Options in the query or in the body, not both": OpenAPI cannot relate a query to a body,
    # so the document says it in words (the operation and both parameters' descriptions).
    both = (
        case.operation.definition.raw["operationId"] == "replayDeadLetter" and case.query and case.body is not NOT_SET
    )
    meaning = (case.operation.definition.raw["operationId"], response.json()["field"]) in REFUSED_FOR_MEANING
    assert code not in MALFORMED or both or meaning, (
        f"valid per the document, refused as {code} ({response.text}): {case.as_curl_command()}"
    )


def digest(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Tally:
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    nothing_invalid: set[str] = field(default_factory=set)
    changes: int = 0  # accepted requests that changed the database


def fuzz(
    base_url: str,
    credentials: Credentials,
    database_digest: Callable[[], str],
    tally: Tally,
    known: dict[str, dict[str, Any]],
) -> None:
    """Runs in a worker thread while the server's event loop serves (and answers `database_digest`)."""
    session = requests.Session()
    session.auth = Signer(credentials)
    served = session.get(f"{base_url}/openapi.json", timeout=30)
    assert served.status_code == 200
    schema = schemathesis.openapi.from_dict(fuzz_document(served.json()))
    state = {"digest": database_digest()}

    def examples(operation: Any, mode: GenerationMode) -> Callable[[], None]:
        checks = [*CHECKS, negative_data_rejection] if mode == GenerationMode.NEGATIVE else CHECKS

        strategy = operation.as_strategy(generation_mode=mode)
        # Random ids find nothing: half the cases name what exists (the seeded record, dead letter,
        # subject), so answers, writes and replays are fuzzed too, not only 404s.
        prefix = next((p for p in known if operation.path.startswith(p)), None)
        if prefix is not None and mode == GenerationMode.POSITIVE:
            strategy = strategy | operation.as_strategy(generation_mode=mode, path_parameters=known[prefix])

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases every run: a failure is reproducible
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def one(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, session=session, timeout=60)
            tally.cases += 1
            tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
            # Every request is signed by a client with every scope: a refusal of it is a bug.
            assert response.status_code not in (401, 403), (case.as_curl_command(), response.text)
            case.validate_response(response, checks=checks)
            if mode == GenerationMode.POSITIVE:
                refused_as_malformed(case, response)
            after = database_digest()
            if response.status_code >= 400:
                assert after == state["digest"], (
                    f"refused with {response.status_code} but the database changed: {case.as_curl_command()}"
                )
            tally.changes += after != state["digest"]
            state["digest"] = after

        return one

    for result in schema.get_all_operations():
        operation = result.ok()
        examples(operation, GenerationMode.POSITIVE)()
        try:
            examples(operation, GenerationMode.NEGATIVE)()
        except Unsatisfiable:
            # Nothing of it can be invalid (no body, no constrained parameter): checked by the caller.
            tally.nothing_invalid.add(operation.definition.raw["operationId"])


@pytest.mark.timeout(900)
async def test_fuzzed_requests_get_documented_answers_and_refusals_change_nothing(database_url: str) -> None:
    # No rate limit in the way: thousands of calls from one client.
    async with open_harness(database_url, rate_per_s=100_000, rate_burst=100_000) as api:
        known = await _seed(api)
        loop = asyncio.get_running_loop()

        def database_digest() -> str:
            return digest(asyncio.run_coroutine_threadsafe(api.snapshot(), loop).result(timeout=120))

        credentials = api.client.credentials
        assert credentials is not None
        tally = Tally()
        base_url = str(api.client.make_url("")).rstrip("/")
        await asyncio.to_thread(fuzz, base_url, credentials, database_digest, tally, known)
        # A few thousand cases across both databases; refusals and answers both reached.
        assert tally.cases >= EXAMPLES * 10, tally
        assert any(status < 300 for status in tally.statuses), tally
        assert tally.nothing_invalid <= NO_INPUT, tally
        assert tally.changes > 0, tally  # writes were fuzzed too (classification, replay)
        assert any(400 <= status < 500 for status in tally.statuses), tally
        print(
            f"fuzz: {tally.cases} cases, {tally.changes} changed the database,",
            f"statuses {dict(sorted(tally.statuses.items()))}",
        )


async def _seed(api: Harness) -> dict[str, dict[str, Any]]:
    """A published record with a dead letter, so reads and replays have something to find: the
    path parameters that name them, by path prefix."""
    record_id = await api.seed()
    dead = await api.dead_letter()
    run = await api.runtime.db.run(lambda tx: seed_run(tx, "run-fuzz", now=NOW, record_id=record_id))
    return {
        "/v1/reconciliations/{id}": {"id": run.run_id},
        "/v1/records/{id}": {"id": record_id},
        "/v1/dead-letters/{id}": {"id": dead},
        "/v1/subjects/{uscc}": {"uscc": SUBJECT},
    }


def _valid(document: dict[str, Any], name: str, instance: Any) -> bool:
    """`instance` against components/schemas/`name`, its refs resolved in the document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(instance)


def _parameter(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    for param in document["paths"][path][method]["parameters"]:
        param = document["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]] if "$ref" in param else param
        if param["name"] == name:
            return dict(param)
    raise AssertionError(f"{method} {path} has no parameter {name}")


def test_the_document_states_what_the_server_enforces() -> None:
    """Each gap the fuzzer (or issue 14) found, stated in the document."""
    document = build_openapi()
    ids = (("/v1/dead-letters/{id}", "get"), ("/v1/dead-letters/{id}/replay", "post"), ("/v1/quarantine/{id}", "get"))
    for path, method in ids:
        assert _parameter(document, path, method, "id")["schema"] == {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_ID,
        }
    code = _parameter(document, "/v1/subjects/{uscc}/records", "get", "uscc")["schema"]
    assert code == {"type": "string", "pattern": uscc.INPUT_PATTERN}
    assert _parameter(document, "/v1/records", "get", "subject")["schema"]["pattern"] == uscc.INPUT_PATTERN
    # The server replaces an unusable X-Request-Id rather than refusing the request.
    assert _parameter(document, "/livez", "get", "X-Request-Id")["schema"] == {"type": "string"}
    for name in ("dry_run", "force"):
        assert "not both" in _parameter(document, "/v1/dead-letters/{id}/replay", "post", name)["description"]
    assert "never with options in the query" in document["components"]["schemas"]["ReplayOptions"]["description"]

    record_id = "rec_" + "0" * 24
    identity = {"category": "admin_penalty", "authority_code": "11620100MB0000000X", "document_number": "1"}
    body = {"action": "repair", "decided_at": "2026-05-01T10:00:00+00:00", "decided_by": "兰州市生态环境局"}
    assert _valid(document, "RepairRequest", {**body, "record": {"record_id": record_id}})
    assert _valid(document, "RepairRequest", {**body, "record": {**identity, "record_id": None}})
    assert _valid(
        document, "RepairRequest", {**body, "record": identity, "subject_code": " ９１６２０１０２ma72abcd94 "}
    )
    assert not _valid(document, "RepairRequest", [])  # the body is an object
    assert not _valid(
        document, "RepairRequest", {**body, "record": {"record_id": record_id, "category": "admin_penalty"}}
    )
    assert not _valid(document, "RepairRequest", {**body, "record": {"record_id": None}})
    assert not _valid(document, "RepairRequest", {**body, "record": {**identity, "authority_code": "123"}})
    assert not _valid(document, "RepairRequest", {**body, "record": identity, "subject_code": "9162010"})
    assert not _valid(document, "RepairRequest", {**body, "record": identity, "decided_by": "   "})


@pytest.mark.parametrize(
    "code",
    [
        "𝟗𝟏𝟔𝟐𝟎𝟏𝟎𝟐MA72ABCD94",  # mathematical digits: NFKC makes them a code, the document does not
        "91620102MA72ABCD94\t",  # a tab is not one of the spaces the document allows
    ],
)
async def test_a_code_outside_the_documented_pattern_is_refused(database_url: str, code: str) -> None:
    async with open_harness(database_url) as api:
        await api.seed()
        before = await api.snapshot()
        response = await api.client.get(f"/v1/subjects/{quote(code)}/records")
        assert response.status == 422, await response.text()
        assert (await error_of(response))["code"] == "invalid_uscc"
        listing = await api.client.get("/v1/records", params={"subject": code})
        assert (listing.status, (await error_of(listing))["field"]) == (422, "subject")
        refused = await api.post_repair(repair_body(await api.seed(), subject_code=code))
        assert (refused.status, (await error_of(refused))["code"]) == (422, "invalid_uscc")
        assert await api.snapshot() == before
        # The forms the document allows still name the subject.
        for allowed in ("91620102ma72abcd94", " ９１６２０１０２ＭＡ７２ＡＢＣＤ９４ "):
            found = await api.client.get(f"/v1/subjects/{quote(allowed)}/records")
            assert found.status == 200, await found.text()
            assert len((await found.json())["records"]) == 1
