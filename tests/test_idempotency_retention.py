"""Idempotency keys expire (issue 9): a stored answer is replayed for the configured retention
(default 7 days), then purged by the retention loop, after which the key is unknown and a request
with it is new. Refusals (4xx) are never stored, so they are not replayed either. On SQLite and
PostgreSQL, through the HTTP API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.test_api_harness import NOW, open_harness, repair_body

SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("settings", "retention"), [({}, timedelta(days=7)), ({"idempotency_retention_days": 1}, timedelta(days=1))]
)
async def test_keys_are_replayed_for_the_retention_then_forgotten(
    database_url: str, settings: dict[str, Any], retention: timedelta
) -> None:
    async with open_harness(database_url, **settings) as api:
        record_id = await api.seed()
        first = await api.post_repair(repair_body(record_id), key="k-1")
        assert first.status == 202
        answer = await first.json()

        # A refusal stores nothing: the key stays free, and only the accepted request is kept.
        refused = await api.post_repair(repair_body("rec_000000000000000000000000"), key="k-404")
        assert refused.status == 404
        assert await api.count("idempotency") == 1

        # Just inside the retention: purged nothing, the same request is answered as stored.
        api.runtime.clock = lambda: NOW + retention - SECOND
        await api.runtime.purge()
        again = await api.post_repair(repair_body(record_id), key="k-1")
        assert again.status == 202 and again.headers.get("Idempotent-Replayed") == "true"
        assert await again.json() == answer
        revoke = repair_body(record_id, action="revoke_repair", decided_at=(NOW - timedelta(hours=1)).isoformat())
        assert (await api.post_repair(revoke, key="k-1")).status == 422  # the key is still taken

        # Past it: the key is purged, and the same key now carries a new request.
        api.runtime.clock = lambda: NOW + retention + SECOND
        assert await api.runtime.purge() == 1
        assert await api.count("idempotency") == 0
        new = await api.post_repair(revoke, key="k-1")
        assert new.status == 202 and new.headers.get("Idempotent-Replayed") is None
        assert (await new.json())["action"] == "revoke_repair"
