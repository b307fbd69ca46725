"""Comparing what two databases hold: the same work done two ways (a batch and one item at a
time) must leave the same rows."""

from __future__ import annotations

from typing import Any

from gateway.store.database import Tx


def dump_rows(tx: Tx) -> dict[str, Any]:
    """Every row a decision writes, without surrogate ids and write times (the two runs differ
    in those by construction); an outbox id is named by what that row delivers."""
    outbox = {
        row["id"]: (row["record_id"], row["target"], row["version"])
        for row in tx.all("SELECT id, record_id, target, version FROM outbox")
    }
    return {
        "records": tx.all(
            "SELECT record_id, status, reason, version, decided_by, decided_at, authoritative, facts_fingerprint"
            " FROM records ORDER BY record_id"
        ),
        "outbox": tx.all(
            "SELECT record_id, target, version, state_status, state_reason, state_decided_at, idempotency_key,"
            " repair_id, status, attempts FROM outbox ORDER BY record_id, target, version"
        ),
        "repairs": tx.all(
            "SELECT repair_id, record_id, action, source, decided_by, decided_at, accepted_at, version, outcome"
            " FROM repairs ORDER BY repair_id"
        ),
        "repair_targets": [
            {**row, "outbox_id": outbox.get(row["outbox_id"])}
            for row in tx.all(
                "SELECT repair_id, target, outbox_id, status, delivered_at, last_error, due_on, due_estimated"
                " FROM repair_targets ORDER BY repair_id, target"
            )
        ],
        "audit": tx.all(
            "SELECT record_id, kind, actor, before_state, before_version, after_state, after_version, detail"
            " FROM audit ORDER BY record_id, id"
        ),
        "idempotency": tx.all(
            "SELECT client, key, request_hash, response_status, response_body FROM idempotency ORDER BY client, key"
        ),
        "links": tx.all(
            "SELECT record_id, system, native_id, written_version, written_status, written_reason, seen_status,"
            " seen_reason, seen_source_version FROM links ORDER BY record_id, system"
        ),
        "inbox": tx.all("SELECT system, change_key, record_id, outcome FROM inbox ORDER BY system, change_key"),
    }
