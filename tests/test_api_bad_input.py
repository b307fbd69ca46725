"""Bad input on every endpoint: each answer is the JSON error shape {code, message, field} with the
expected status, code and field, and the database is unchanged afterwards.

One test per backend walks the whole matrix against one seeded database (a fresh database per
case would cost a schema per case on PostgreSQL); every failing case is reported, not just the
first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from gateway.domain.beijing import start_of_beijing_day
from gateway.domain.model import StopReason, stopped
from tests.conftest import penalty_facts
from tests.test_api_harness import NOW, Harness, error_of, open_harness, repair_body

JSON = {"Content-Type": "application/json"}
OTHER_SUBJECT = "91350200776049653A"  # well formed, valid check character, not the record's


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    status: int
    code: str
    error_field: str | None = None
    body: Any = None  # JSON-encoded unless bytes/str/stream
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = "auto"  # Idempotency-Key for POSTs; None: send none


async def _chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 8192 + 1):
        yield b" " * 8192


def _cases(record_id: str, withdrawn_id: str, dead_id: int, pending_id: int, max_bytes: int) -> list[Case]:
    def repair(name: str, status: int, code: str, fld: str | None, **overrides: Any) -> Case:
        return Case(name, "POST", "/v1/repairs", status, code, fld, body=repair_body(record_id, **overrides))

    unknown_record = "rec_" + "0" * 24
    # The seeded record's state is dated by its decision date (docs/adr/0011), not the feed's time.
    decided_on = penalty_facts().decision_date
    assert decided_on is not None
    before_decision = (start_of_beijing_day(decided_on) - timedelta(hours=1)).isoformat()
    replay = f"/v1/dead-letters/{dead_id}/replay"
    return [
        # POST /v1/repairs: transport and framing
        Case("malformed json", "POST", "/v1/repairs", 400, "invalid_json", body=b'{"record": '),
        Case("invalid utf-8", "POST", "/v1/repairs", 400, "invalid_json", body=b'{"a": "\xff"}'),
        Case(
            "duplicate keys",
            "POST",
            "/v1/repairs",
            400,
            "invalid_json",
            body=b'{"action": "a", "action": "b"}',
        ),
        Case("NaN", "POST", "/v1/repairs", 400, "invalid_json", body=b'{"x": NaN}'),
        Case("empty body", "POST", "/v1/repairs", 400, "invalid_json", body=b""),
        Case("array body", "POST", "/v1/repairs", 422, "invalid_body", body=[1, 2]),
        Case("string body", "POST", "/v1/repairs", 422, "invalid_body", body='"repair"'),
        Case(
            "text/plain",
            "POST",
            "/v1/repairs",
            415,
            "unsupported_media_type",
            "Content-Type",
            body=json.dumps(repair_body(record_id)),
            headers={"Content-Type": "text/plain"},
        ),
        Case(
            "no content type",
            "POST",
            "/v1/repairs",
            415,
            "unsupported_media_type",
            "Content-Type",
            body=json.dumps(repair_body(record_id)).encode(),
            headers={"Content-Type": ""},
        ),
        Case(
            "latin-1 charset",
            "POST",
            "/v1/repairs",
            415,
            "unsupported_media_type",
            "Content-Type",
            body=json.dumps(repair_body(record_id)),
            headers={"Content-Type": "application/json; charset=latin-1"},
        ),
        Case(
            "oversize body",
            "POST",
            "/v1/repairs",
            413,
            "body_too_large",
            body=repair_body(record_id, note="x" * max_bytes),
        ),
        Case("oversize chunked body", "POST", "/v1/repairs", 413, "body_too_large", body=_chunks(max_bytes + 1)),
        Case(
            "no idempotency key",
            "POST",
            "/v1/repairs",
            400,
            "missing_idempotency_key",
            "Idempotency-Key",
            body=repair_body(record_id),
            key=None,
        ),
        Case(
            "idempotency key with space",
            "POST",
            "/v1/repairs",
            400,
            "invalid_idempotency_key",
            "Idempotency-Key",
            body=repair_body(record_id),
            key="a b",
        ),
        Case(
            "idempotency key too long",
            "POST",
            "/v1/repairs",
            400,
            "invalid_idempotency_key",
            "Idempotency-Key",
            body=repair_body(record_id),
            key="k" * 129,
        ),
        # POST /v1/repairs: the body
        repair("unknown field", 422, "unknown_field", "colour", colour="red"),
        Case(
            "unknown nested field",
            "POST",
            "/v1/repairs",
            422,
            "unknown_field",
            "record.colour",
            body=repair_body(record_id, record={"record_id": record_id, "colour": "red"}),
        ),
        repair("malformed uscc", 422, "invalid_uscc", "subject_code", subject_code="9162010"),
        repair("uscc with bad characters", 422, "invalid_uscc", "subject_code", subject_code="91620102MA72ABCDI4"),
        repair("subject mismatch", 422, "subject_mismatch", "subject_code", subject_code=OTHER_SUBJECT),
        repair("naive decided_at", 422, "validation_error", "decided_at", decided_at="2026-05-01T10:00:00"),
        repair("decided_at not a date", 422, "validation_error", "decided_at", decided_at="yesterday"),
        repair(
            "decided_at in the future",
            422,
            "decided_at_in_future",
            "decided_at",
            decided_at=(NOW + timedelta(days=1)).isoformat(),
        ),
        repair("blank decided_by", 422, "validation_error", "decided_by", decided_by="   "),
        repair("decided_by too long", 422, "validation_error", "decided_by", decided_by="x" * 201),
        repair("decided_by not a string", 422, "validation_error", "decided_by", decided_by=42),
        repair("note too long", 422, "validation_error", "note", note="x" * 501),
        repair("unknown action", 422, "validation_error", "action", action="delete"),
        repair("expire is not an owner's action", 422, "validation_error", "action", action="expire"),
        repair("malformed record_id", 422, "validation_error", "record.record_id", record={"record_id": "r1"}),
        repair("record as a string", 422, "validation_error", "record", record=record_id),
        repair(
            "both record forms",
            422,
            "validation_error",
            "record",
            record={"record_id": record_id, "category": "admin_penalty"},
        ),
        repair(
            "incomplete identity",
            422,
            "validation_error",
            "record",
            record={"category": "admin_penalty", "authority_code": "11620100MB0000000X"},
        ),
        # Issue 10 item 8: a value that cannot be a 统一社会信用代码 is refused on its field.
        repair(
            "malformed authority code",
            422,
            "invalid_uscc",
            "record.authority_code",
            record={"category": "admin_penalty", "authority_code": "123", "document_number": "兰环罚〔2026〕12号"},
        ),
        # Issue 10 item 6: the action must fit the category, known from the identity or the record.
        repair(
            "remove a penalty named by identity",
            422,
            "action_not_for_category",
            "action",
            action="remove",
            record={"category": "admin_penalty", "authority_code": "11620100MB0000000X", "document_number": "1"},
        ),
        repair(
            "repair a list entry",
            422,
            "action_not_for_category",
            "action",
            action="repair",
            record={"category": "court_dishonest", "authority_code": "11620100MB0000000X", "document_number": "1"},
        ),
        Case(
            "remove a penalty named by id",
            "POST",
            "/v1/repairs",
            422,
            "action_not_for_category",
            "action",
            body=repair_body(record_id, action="remove"),
        ),
        repair(
            "unknown category",
            422,
            "validation_error",
            "record.category",
            record={"category": "parking", "authority_code": "X", "document_number": "1"},
        ),
        Case(
            "missing decided_by",
            "POST",
            "/v1/repairs",
            422,
            "validation_error",
            "decided_by",
            body={k: v for k, v in repair_body(record_id).items() if k != "decided_by"},
        ),
        # POST /v1/repairs: the decision against the record
        repair("unknown record", 404, "record_not_found", "record", record={"record_id": unknown_record}),
        repair(
            "unknown identity",
            404,
            "record_not_found",
            "record",
            record={"category": "admin_penalty", "authority_code": "11620100MB0000000X", "document_number": "nope"},
        ),
        # A well-formed code whose check character fails is flagged, not refused: looked up as given.
        repair(
            "authority code with a bad check character",
            404,
            "record_not_found",
            "record",
            record={"category": "admin_penalty", "authority_code": "11620100MB00000001", "document_number": "x"},
        ),
        repair("stale decision", 409, "stale_decision", "decided_at", decided_at=before_decision),
        Case(
            "invalid transition",
            "POST",
            "/v1/repairs",
            409,
            "invalid_transition",
            "action",
            body=repair_body(withdrawn_id, action="repair"),  # 撤销 is final: nothing to repair
        ),
        # GET /v1/repairs/{id}
        Case("unknown repair", "GET", "/v1/repairs/rep_" + "0" * 24, 404, "repair_not_found", "id"),
        Case("malformed repair id", "GET", "/v1/repairs/nope", 404, "repair_not_found", "id"),
        # GET /v1/records/{id}, GET /v1/subjects/{uscc}/records
        Case("unknown record view", "GET", f"/v1/records/{unknown_record}", 404, "record_not_found", "id"),
        Case("malformed record id", "GET", "/v1/records/nope", 404, "record_not_found", "id"),
        Case("malformed subject", "GET", "/v1/subjects/12345/records", 422, "invalid_uscc", "uscc"),
        Case("subject with I", "GET", "/v1/subjects/91620102MA72ABCDI4/records", 422, "invalid_uscc", "uscc"),
        # GET /v1/dead-letters
        Case("limit 0", "GET", "/v1/dead-letters?limit=0", 422, "invalid_parameter", "limit"),
        Case("limit 501", "GET", "/v1/dead-letters?limit=501", 422, "invalid_parameter", "limit"),
        Case("limit abc", "GET", "/v1/dead-letters?limit=abc", 422, "invalid_parameter", "limit"),
        Case("after_id -1", "GET", "/v1/dead-letters?after_id=-1", 422, "invalid_parameter", "after_id"),
        Case("after_id huge", "GET", f"/v1/dead-letters?after_id={2**63}", 422, "invalid_parameter", "after_id"),
        Case("unknown target", "GET", "/v1/dead-letters?target=nope", 422, "invalid_parameter", "target"),
        Case("unknown parameter", "GET", "/v1/dead-letters?colour=red", 422, "invalid_parameter", "colour"),
        Case("repeated parameter", "GET", "/v1/dead-letters?limit=1&limit=2", 422, "invalid_parameter", "limit"),
        # GET /v1/dead-letters/{id}
        Case("unknown dead letter", "GET", "/v1/dead-letters/999999", 404, "dead_letter_not_found", "id"),
        Case("not dead", "GET", f"/v1/dead-letters/{pending_id}", 404, "dead_letter_not_found", "id"),
        Case("id not a number", "GET", "/v1/dead-letters/abc", 422, "invalid_parameter", "id"),
        Case("id zero", "GET", "/v1/dead-letters/0", 422, "invalid_parameter", "id"),
        Case("id beyond bigint", "GET", f"/v1/dead-letters/{2**64}", 422, "invalid_parameter", "id"),
        # POST /v1/dead-letters/{id}/replay
        Case("replay without key", "POST", replay, 400, "missing_idempotency_key", "Idempotency-Key", key=None),
        Case("replay unknown", "POST", "/v1/dead-letters/999999/replay", 404, "dead_letter_not_found", "id"),
        Case(
            "replay not dead",
            "POST",
            f"/v1/dead-letters/{pending_id}/replay",
            404,
            "dead_letter_not_found",
            "id",
        ),
        Case("replay bad id", "POST", "/v1/dead-letters/x/replay", 422, "invalid_parameter", "id"),
        Case("replay malformed json", "POST", replay, 400, "invalid_json", body=b"{"),
        Case("replay array body", "POST", replay, 422, "invalid_body", body=[]),
        Case("replay unknown field", "POST", replay, 422, "unknown_field", "colour", body={"colour": 1}),
        Case("replay non-bool", "POST", replay, 422, "validation_error", "dry_run", body={"dry_run": "yes"}),
        Case("replay bad query", "POST", replay + "?dry_run=maybe", 422, "invalid_parameter", "dry_run"),
        Case("replay unknown query", "POST", replay + "?colour=1", 422, "invalid_parameter", "colour"),
        Case(
            "replay query and body",
            "POST",
            replay + "?dry_run=true",
            422,
            "invalid_parameter",
            "dry_run",
            body={"force": True},
        ),
        Case(
            "replay text/plain",
            "POST",
            replay,
            415,
            "unsupported_media_type",
            "Content-Type",
            body="{}",
            headers={"Content-Type": "text/plain"},
        ),
        Case(
            "replay oversize",
            "POST",
            replay,
            413,
            "body_too_large",
            body={"dry_run": True, "x": "y" * max_bytes},
        ),
        # Routing
        Case("unknown route", "GET", "/v2/repairs", 404, "not_found"),
        Case("trailing slash", "GET", "/v1/repairs/", 404, "not_found"),
        Case("PUT on repairs", "PUT", "/v1/repairs", 405, "method_not_allowed"),
        Case("DELETE on repairs collection", "DELETE", "/v1/repairs", 405, "method_not_allowed"),
        Case("unknown filter on repairs", "GET", "/v1/repairs?colour=blue", 422, "invalid_parameter", "colour"),
        Case("DELETE a record", "DELETE", f"/v1/records/{record_id}", 405, "method_not_allowed"),
        Case("POST a repair's progress", "POST", "/v1/repairs/rep_" + "0" * 24, 405, "method_not_allowed"),
        Case("GET a replay", "GET", replay, 405, "method_not_allowed"),
        Case("POST to livez", "POST", "/livez", 405, "method_not_allowed"),
    ]


async def _send(api: Harness, case: Case, index: int) -> Any:
    headers = dict(case.headers)
    if case.method == "POST":
        headers.setdefault("Content-Type", "application/json")
        if case.key == "auto":
            headers["Idempotency-Key"] = f"case-{index}"
        elif case.key is not None:
            headers["Idempotency-Key"] = case.key
    if headers.get("Content-Type") == "":
        del headers["Content-Type"]
    data: Any = case.body
    if case.body is not None and not isinstance(case.body, bytes | str) and not hasattr(case.body, "__aiter__"):
        data = json.dumps(case.body, ensure_ascii=False)
    # Without a Content-Type header aiohttp labels bytes application/octet-stream.
    return await api.client.request(case.method, case.path, data=data, headers=headers)


async def _seed(api: Harness) -> tuple[str, str, int, int]:
    record_id = await api.seed()
    dead_id = await api.dead_letter()
    withdrawn = penalty_facts(document_number="兰环罚〔2026〕13号")
    # Published first: a record first seen stopped is sent nowhere, and this one needs a pending delivery.
    await api.seed(withdrawn, key="seed-2")
    withdrawn_id = await api.seed(withdrawn, target=stopped(StopReason.WITHDRAWN), key="seed-3")
    dead_letters = await (await api.client.get("/v1/dead-letters")).json()
    assert [d["id"] for d in dead_letters["items"]] == [dead_id]
    progress = await api.snapshot()
    pending_id = next(row["id"] for row in progress["outbox"] if row["status"] == "pending")
    return record_id, withdrawn_id, dead_id, pending_id


async def test_every_endpoint_answers_bad_input_with_the_error_shape_and_writes_nothing(
    database_url: str,
) -> None:
    async with open_harness(database_url) as api:
        record_id, withdrawn_id, dead_id, pending_id = await _seed(api)
        max_bytes = api.runtime.settings.max_body_bytes
        failures = []
        for index, case in enumerate(_cases(record_id, withdrawn_id, dead_id, pending_id, max_bytes)):
            before = await api.snapshot()
            response = await _send(api, case, index)
            try:
                error = await error_of(response)
                got = (response.status, error["code"], error["field"])
                if got != (case.status, case.code, case.error_field):
                    failures.append(f"{case.name}: got {got}, want {(case.status, case.code, case.error_field)}")
                if case.status == 405 and "Allow" not in response.headers:
                    failures.append(f"{case.name}: 405 without Allow")
            except AssertionError as exc:
                failures.append(f"{case.name}: not the error shape ({response.status}): {exc}")
            if await api.snapshot() != before:
                failures.append(f"{case.name}: the database changed")
        assert not failures, "\n".join(failures)
