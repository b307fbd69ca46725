"""The minimal durable accept: a reference server for `POST /v1/repairs` (bench/accept_ratio.py).

    python -m bench.reference_server --database-url sqlite:///PATH | postgresql://…

Imports nothing of the project. It runs on a database that the gateway's migrations made and
`bench.seed` filled (the same tables and indexes, so index upkeep costs both the same), and does,
per request, the durable work the gateway does before its 202:
- validates the same body with a pydantic model (record by `record_id`, action, decided_at,
  decided_by, subject_code, note; unknown fields refused: 422);
- looks up (client `X-Client-Id`, Idempotency-Key): a stored answer is replayed, or 409 when the
  request hash differs;
- with group commit (every request queued while a batch commits goes into the next one, one
  transaction): reads the records (PostgreSQL: `FOR UPDATE`, in id order), refuses a missing record
  (404) or one not published (409), then writes the gateway's rows: the record's new state and
  version, one `audit` row, the `repairs` row, one `outbox` row per system, one `repair_targets`
  row per system (with its outbox id and due date), the `idempotency` row with the 202 body; commits
  (SQLite: WAL, synchronous=FULL, as the gateway) and only then answers 202.
It does not: check signatures or store nonces (the client sends `X-Client-Id` only), rate-limit,
check grants or subject codes, resolve a record by its identity, plan (`repair` only, from
`published`), coalesce with a pending delivery (none is pending after seeding; should one be, the
unique index fails the batch: 500), take `record_locks` rows, compute working-day deadlines (due
= decided date + 7 days), log, count metrics, sign responses, or retry a failed batch one by one.
Prints `READY {"port": …}` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

SYSTEMS = ("creditchina_gansu", "gsxt_gansu")
MAX_BATCH = 256
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]


class RecordRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_id: str = Field(pattern=r"^rec_[0-9a-f]{24}$")


class RepairRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record: RecordRef
    action: Literal["repair", "revoke_repair", "withdraw", "remove"]
    decided_at: AwareDatetime
    decided_by: Text
    subject_code: Annotated[str, StringConstraints(min_length=18, max_length=18)] | None = None
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


def ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class Store:
    """One connection, one writer: `write(batch)` runs in a thread and commits once per batch."""

    def __init__(self, url: str) -> None:
        self.pg = url.startswith("postgresql")
        if self.pg:
            import psycopg

            self.conn: Any = psycopg.connect(url, autocommit=True)
        else:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "wal_autocheckpoint=10000"):
                self.conn.execute(f"PRAGMA {pragma}")

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.pg else text

    def all(self, text: str, args: list[Any]) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(self.sql(text), args).fetchall())

    def many(self, text: str, rows: list[tuple[Any, ...]]) -> None:
        if self.pg:  # one statement per table: rows as a JSON array typed by the table's row type
            table, cols = text.split("(", 1)[0].split()[-1], text.split("(", 1)[1].split(")", 1)[0]
            self.conn.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{table}, %s)",
                [json.dumps([dict(zip(cols.replace(" ", "").split(","), r, strict=True)) for r in rows])],
            )
        else:
            self.conn.executemany(text, rows)

    def write(self, batch: list[tuple[str, str, str, RepairRequest]]) -> list[tuple[int, str]]:
        """(client, key, request hash, body) → (status, JSON body) per request, committed."""
        now, marks = ts(datetime.now(UTC)), ",".join("?" * len(batch))
        self.conn.execute("BEGIN" if self.pg else "BEGIN IMMEDIATE")
        try:
            stored: dict[tuple[str, str], tuple[str, int, str]] = {}
            for who in {c for c, _, _, _ in batch}:  # one statement per client: the primary key's order
                keys = [k for c, k, _, _ in batch if c == who]
                stored.update(
                    ((c, k), (h, s, b))
                    for c, k, h, s, b in self.all(
                        "SELECT client, key, request_hash, response_status, response_body FROM idempotency"
                        f" WHERE client = ? AND key IN ({','.join('?' * len(keys))})",
                        [who, *keys],
                    )
                )
            lock = " ORDER BY record_id FOR UPDATE" if self.pg else ""
            records = {
                r: (s, v)
                for r, s, v in self.all(
                    f"SELECT record_id, status, version FROM records WHERE record_id IN ({marks}){lock}",
                    [b.record.record_id for _, _, _, b in batch],
                )
            }
            answers: list[tuple[int, str]] = []
            rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in ("rec", "aud", "rep", "out", "tgt", "idem")}
            for client, key, digest, body in batch:
                record_id, decided_at = body.record.record_id, ts(body.decided_at)
                if (client, key) in stored:
                    first_hash, status, text = stored[(client, key)]
                    answers.append((status, text) if first_hash == digest else (409, _error("idempotency_conflict")))
                    continue
                status_now, version = records.pop(record_id, (None, 0))  # pop: one change per record a batch
                if status_now != "published" or body.action != "repair":
                    answers.append(
                        (404, _error("record_not_found")) if status_now is None else (409, _error("invalid_transition"))
                    )
                    continue
                repair_id = "rep_" + secrets.token_hex(12)
                rows["rec"].append(
                    ("stopped", "repaired", None, version + 1, body.decided_by, decided_at, 1, now, record_id)
                )
                rows["aud"].append(
                    (
                        record_id,
                        now,
                        "state_changed",
                        body.decided_by,
                        "published",
                        version,
                        "stopped:repaired",
                        version + 1,
                        json.dumps({"action": "repair"}),
                    )
                )
                rows["rep"].append(
                    (
                        repair_id,
                        record_id,
                        "repair",
                        "api:" + client,
                        body.decided_by,
                        decided_at,
                        now,
                        version + 1,
                        "changed",
                    )
                )
                due = (body.decided_at.date() + timedelta(days=7)).isoformat()
                for system in SYSTEMS:
                    key_of = hashlib.sha256(f"{record_id}|{system}|repaired|{version + 1}".encode()).hexdigest()[:32]
                    rows["out"].append(
                        (
                            record_id,
                            system,
                            version + 1,
                            "stopped",
                            "repaired",
                            decided_at,
                            key_of,
                            repair_id,
                            now,
                            now,
                            now,
                            None,  # state_stopped_on: a repair carries no stop date
                            "pending",
                            0,
                            0,
                        )
                    )
                    rows["tgt"].append((repair_id, system, record_id, now, due))
                text = json.dumps(
                    {
                        "repair_id": repair_id,
                        "record_id": record_id,
                        "action": "repair",
                        "outcome": "changed",
                        "version": version + 1,
                        "targets": [{"system": s, "status": "pending"} for s in SYSTEMS],
                        "links": {"self": f"/v1/repairs/{repair_id}", "record": f"/v1/records/{record_id}"},
                    }
                )
                rows["idem"].append((client, key, digest, 202, text, now, now, "done"))
                answers.append((202, text))
            self._flush(rows)
            self.conn.execute("COMMIT")
            return answers
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _flush(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        if not rows["rec"]:
            return
        if self.pg:
            self.conn.execute(
                "UPDATE records r SET status = v.status, reason = v.reason, stopped_on = v.stopped_on,"
                " version = v.version, decided_by = v.decided_by, decided_at = v.decided_at,"
                " authoritative = v.authoritative, updated_at = v.updated_at"
                " FROM json_populate_recordset(NULL::records, %s) v WHERE r.record_id = v.record_id",
                [
                    json.dumps(
                        [
                            dict(
                                zip(
                                    (
                                        "status",
                                        "reason",
                                        "stopped_on",
                                        "version",
                                        "decided_by",
                                        "decided_at",
                                        "authoritative",
                                        "updated_at",
                                        "record_id",
                                    ),
                                    r,
                                    strict=True,
                                )
                            )
                            for r in rows["rec"]
                        ]
                    )
                ],
            )
        else:
            self.conn.executemany(
                "UPDATE records SET status = ?, reason = ?, stopped_on = ?, version = ?, decided_by = ?,"
                " decided_at = ?, authoritative = ?, updated_at = ? WHERE record_id = ?",
                rows["rec"],
            )
        self.many(
            "INSERT INTO audit (record_id, at, kind, actor, before_state, before_version, after_state,"
            " after_version, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows["aud"],
        )
        self.many(
            "INSERT INTO repairs (repair_id, record_id, action, source, decided_by, decided_at, accepted_at,"
            " version, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows["rep"],
        )
        # repair_targets need the outbox ids: read back through the unique index of pending rows.
        self.many(
            "INSERT INTO outbox (record_id, target, version, state_status, state_reason, state_decided_at,"
            " idempotency_key, repair_id, next_attempt_at, created_at, updated_at, state_stopped_on, status,"
            " attempts, replays) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows["out"],
        )
        marks = ",".join("?" * len(rows["rep"]))
        ids = {
            (r, t): i
            for i, r, t in self.all(
                f"SELECT id, record_id, target FROM outbox WHERE record_id IN ({marks}) AND status = 'pending'",
                [r[1] for r in rows["rep"]],
            )
        }
        self.many(
            "INSERT INTO repair_targets (repair_id, target, outbox_id, status, updated_at, due_on,"
            " due_estimated) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(rep, system, ids[(rec, system)], "pending", now, due, 0) for rep, system, rec, now, due in rows["tgt"]],
        )
        self.many(
            "INSERT INTO idempotency (client, key, request_hash, response_status, response_body, created_at,"
            " updated_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows["idem"],
        )


def _error(code: str, message: str = "", field: str | None = None) -> str:
    return json.dumps({"code": code, "message": message or code.replace("_", " "), "field": field})


class GroupCommit:
    def __init__(self, store: Store) -> None:
        self.store, self.queue = store, asyncio.Queue[tuple[tuple[str, str, str, RepairRequest], asyncio.Future[Any]]]()

    async def submit(self, item: tuple[str, str, str, RepairRequest]) -> tuple[int, str]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((item, future))
        return await future  # type: ignore[no-any-return]

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self.queue.get_nowait())
            first: list[Any] = []  # a second decision on a record waits for the next batch
            later: list[Any] = []
            seen: set[str] = set()
            for entry in batch:
                (later if entry[0][3].record.record_id in seen else first).append(entry)
                seen.add(entry[0][3].record.record_id)
            for entry in later:
                self.queue.put_nowait(entry)
            try:
                answers = await asyncio.to_thread(self.store.write, [item for item, _ in first])
            except Exception as exc:  # the batch is rolled back: every caller hears it
                answers = [(500, _error("internal_error", type(exc).__name__))] * len(first)
            for (_, future), answer in zip(first, answers, strict=True):
                if not future.done():
                    future.set_result(answer)


def app_for(committer: GroupCommit) -> web.Application:
    async def repairs(request: web.Request) -> web.Response:
        client, key = request.headers.get("X-Client-Id", ""), request.headers.get("Idempotency-Key", "")
        if not client or not key:
            return web.Response(status=400, text=_error("missing_header"), content_type="application/json")
        try:
            payload = await request.json()
            body = RepairRequest.model_validate(payload)
        except (ValueError, ValidationError) as exc:
            return web.Response(
                status=422, text=_error("invalid_body", str(exc)[:200]), content_type="application/json"
            )
        canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256(f"POST\n/v1/repairs\n{canonical}".encode()).hexdigest()
        status, text = await committer.submit((client, key, digest, body))
        return web.Response(status=status, text=text, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/repairs", repairs)
    return app


async def serve(url: str) -> None:
    committer = GroupCommit(Store(url))
    writer = asyncio.create_task(committer.run())
    runner = web.AppRunner(app_for(committer), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    print(
        "READY " + json.dumps({"port": runner.addresses[0][1], "kind": "reference", "pg": committer.store.pg}),
        flush=True,
    )
    await stop.wait()
    await runner.cleanup()
    writer.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference_server", description=__doc__)
    parser.add_argument("--database-url", required=True)
    asyncio.run(serve(parser.parse_args().database_url))


if __name__ == "__main__":
    main()
