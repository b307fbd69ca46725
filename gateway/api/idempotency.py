"""Idempotent POSTs (DESIGN.md §4): same key and body → the stored response; same key with another
body → 422; while the first request with the key is being processed → 409; no key → 400.

Keys are scoped by client. The check, the work and the stored response commit in ONE unit of the
group committer, so a request either leaves its effects *and* its stored response or neither;
an error raised by the work rolls the unit back and nothing is stored (errors are not replayed:
a client may fix the cause and retry with the same key).

Two layers keep concurrent requests with one key apart (docs/adr/0003-idempotency-in-flight.md):

- in this process, `InFlight` holds (client, key) while its unit is queued or running, and a
  second request gets 409 at once without touching the database;
- across replicas (PostgreSQL), the `idempotency` primary key (client, key) and the record's lock
  row serialise: the second replica's unit waits on the first one's locks (the record's lock row,
  docs/adr/0012, then the uncommitted key row), and when its INSERT of the key then fails with a
  unique violation, its work is rolled back to a savepoint and the committed row is read and
  answered — the stored response, or 422 for another body. SQLite is single-node and its
  writers are serialised by BEGIN IMMEDIATE, so there the key row is simply found.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gateway.api import riders
from gateway.api.errors import ApiError
from gateway.api.riders import Riders
from gateway.domain.personal import mask_ids
from gateway.observability import IDEMPOTENCY
from gateway.store.database import Row, Tx, UniqueViolation
from gateway.store.group import GroupCommitter
from gateway.store.repo import Repo

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")  # visible ASCII, no spaces


def idempotency_key(request: web.Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None or key == "":
        raise ApiError(
            400,
            "missing_idempotency_key",
            "every write (POST, PUT) needs an Idempotency-Key header",
            field=IDEMPOTENCY_HEADER,
        )
    if not _KEY.match(key):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1–128 visible ASCII characters",
            field=IDEMPOTENCY_HEADER,
        )
    return key


def request_hash(method: str, path: str, payload: Any) -> str:
    """What "the same request" means: method, path and the parsed body as canonical JSON, so
    key order and white space do not make two equal bodies differ."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class StoredResponse:
    status: int
    body: str  # the JSON text exactly as first sent, so a replay is byte-identical
    replayed: bool

    def response(self) -> web.Response:
        headers = {REPLAYED_HEADER: "true"} if self.replayed else None
        return web.Response(
            text=self.body,
            status=self.status,
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )


class InFlight:
    """(client, key) pairs whose first request is still being processed by this process."""

    def __init__(self) -> None:
        self._held: set[tuple[str, str]] = set()

    def __contains__(self, pair: object) -> bool:
        return pair in self._held

    @contextmanager
    def hold(self, client: str, key: str) -> Iterator[None]:
        pair = (client, key)
        if pair in self._held:
            IDEMPOTENCY.labels("in_flight").inc()
            raise ApiError(
                409,
                "request_in_flight",
                "a request with this Idempotency-Key is still being processed; retry later",
                field=IDEMPOTENCY_HEADER,
            )
        self._held.add(pair)
        try:
            yield
        finally:
            self._held.discard(pair)


# The work of one request, run inside the unit: returns the success status and response body.
Work = Callable[[Tx, datetime], tuple[int, BaseModel]]


def dump_response(model: BaseModel) -> str:
    """The answer as stored and sent; no whole ID number in either (gateway/domain/personal.py)."""
    return mask_ids(json.dumps(model.model_dump(mode="json", by_alias=True), ensure_ascii=False))


def answer_stored(stored: Row, fingerprint: str) -> StoredResponse:
    """The answer to a request whose key is already stored: its response, or 422 for another body."""
    if stored["request_hash"] != fingerprint:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
            field=IDEMPOTENCY_HEADER,
        )
    return StoredResponse(status=int(stored["response_status"]), body=stored["response_body"], replayed=True)


def idempotent_unit(
    *, client: str, key: str, fingerprint: str, now: datetime, work: Work, rider: Riders | None = None
) -> Callable[[Tx], StoredResponse]:
    """One request as one unit of the group committer: check the key, work, store the response
    (and, for a riding route, check the nonce first and write it and the audit row with the
    answer: gateway/api/riders.py)."""

    def unit(tx: Tx) -> StoredResponse:
        riders.check_one(tx, rider)
        answer = _answer(tx)
        if rider is not None:
            try:
                with tx.savepoint("riders"):
                    riders.write(tx, [(rider, answer.status)], now)
            except UniqueViolation:  # another replica stored the nonce since check_one read
                raise riders.NonceReplayed(rider.client_id) from None
        return answer

    def _answer(tx: Tx) -> StoredResponse:
        repo = Repo(tx)
        stored = repo.get_idempotent(client, key)
        if stored is not None:
            return answer_stored(stored, fingerprint)
        try:
            with tx.savepoint("idempotent_work"):
                status, model = work(tx, now)
                body = dump_response(model)
                repo.save_idempotent(client, key, fingerprint, status, body, now)
        except UniqueViolation:
            # Another replica committed this key while we worked (see module docstring); our
            # effects are rolled back to the savepoint and its answer is ours.
            stored = repo.get_idempotent(client, key)
            if stored is None:
                raise  # some other constraint: a real fault
            return answer_stored(stored, fingerprint)
        return StoredResponse(status=status, body=body, replayed=False)

    return unit


async def counted(result: Awaitable[StoredResponse]) -> StoredResponse:
    """Count what became of an idempotent request (new, replayed, key reused)."""
    try:
        stored = await result
    except ApiError as exc:
        if exc.code == "idempotency_key_reused":
            IDEMPOTENCY.labels("conflict").inc()
        raise
    IDEMPOTENCY.labels("replayed" if stored.replayed else "new").inc()
    return stored


async def run_idempotent(
    committer: GroupCommitter,
    in_flight: InFlight,
    *,
    client: str,
    key: str,
    fingerprint: str,
    now: datetime,
    work: Work,
) -> StoredResponse:
    unit = idempotent_unit(client=client, key=key, fingerprint=fingerprint, now=now, work=work)
    with in_flight.hold(client, key):
        return await counted(committer.submit(unit))
