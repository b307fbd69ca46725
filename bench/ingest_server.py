"""One HTTP server of the ingest benchmarks, in its own process (so the load generator and the
server do not share an event loop or a GIL):

    python -m bench.ingest_server bare
    python -m bench.ingest_server gateway --database-url URL --records N [--group-commit-max M] [--unsigned]
    python -m bench.ingest_server http-layer --database-url URL
    python -m bench.ingest_server prepare --database-url URL --records N

`bare` is the baseline: an aiohttp app whose POST handler reads the JSON body and answers 202 with
a small JSON body — the ceiling of the HTTP stack. `gateway` is the real API (`create_app`) on a
migrated database with N published records seeded and deliveries enabled for both systems (so
each repair writes its outbox rows), but no dispatcher and no pollers: ingest only.

`http-layer` is the same API with the store taken out of the request: everything `POST /v1/repairs`
does before it hands its decision over (middlewares, request id and log line, metrics, client and
Idempotency-Key checks, body parsing and validation, the request hash, the 409 guard) and the
response it sends after, but the decision is answered at once with a fixed 202 body instead of
being applied and committed. A measuring instrument, not a mode of the gateway: its ratio to the
bare handler is the ceiling that any store work then lowers.

`gateway` and `http-layer` make the client `bench` (secrets key of this run, no rate limit worth
the name) and put its credentials in the READY line; the load client signs with them
(docs/signing.md). `gateway --unsigned` turns signatures off (`require_signature=false`): the same
client, named by `X-Client-Id` alone, so the two runs differ by signing and nonce checking only.
`http-layer` runs unsigned too: the nonce is a database write, and that layer measures no store work.

`prepare` migrates and seeds a database as `gateway` does, prints `PREPARED {…}` and exits: for
servers that share one seeded database, each on its own records (bench/accept_ratio.py).

Binds 127.0.0.1 on an OS-chosen port, prints `READY {"port": …, …}` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bench.processes import LOCALHOST

if TYPE_CHECKING:  # imported where used: the bare baseline must not depend on the gateway at all
    from gateway.domain.plan import Policy
    from gateway.runtime import Runtime
    from gateway.store.database import Database

READY = "READY"
PREPARED = "PREPARED"
BENCH_CLIENT = "bench"
# High enough never to refuse the benchmark's client: the rate limit is not what is measured.
BENCH_RATE = 1_000_000


def ingest_policy(runtime: Runtime) -> Policy:
    """The runtime's policy (everything else from the settings, as in production), with deliveries
    enabled for both systems although no connector is configured (nothing is delivered here)."""
    from bench.seed import CREDITCHINA, GSXT

    return replace(
        runtime.policy, enabled_systems=frozenset({CREDITCHINA, GSXT}), self_deciding_owners=frozenset({GSXT})
    )


class _AnswerAtOnce:
    """Stands in for the API's decision bulk (`app[DECISIONS]`) in `http-layer`: answers every
    decision with the same 202 body, touching no database."""

    def __init__(self) -> None:
        from gateway.api.idempotency import StoredResponse

        self._answer = StoredResponse(status=202, body=json.dumps({"outcome": "changed"}), replayed=False)

    queued = 0  # nothing ever waits (the API's shedding reads it)

    async def submit(self, item: object) -> object:
        return self._answer


def bare_app() -> web.Application:
    async def accept(request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict):
            return web.json_response({"code": "invalid_body"}, status=422)
        return web.json_response({"repair_id": "rep_" + secrets.token_hex(12), "outcome": "changed"}, status=202)

    app = web.Application()
    app.router.add_post("/v1/repairs", accept)
    return app


async def _serve(app: web.Application, info: dict[str, Any], cleanup: Callable[[], Awaitable[None]]) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, LOCALHOST, 0)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"{READY} {json.dumps({'port': port, **info})}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await cleanup()


async def _bare() -> None:
    async def nothing() -> None:
        return None

    await _serve(bare_app(), {"kind": "bare"}, nothing)


async def add_bench_client(db: Database, key: str, *, read: bool = False) -> str:
    """The benchmarks' client (decides for every authority, rate limit out of the way; `read`: reads
    their records too), as an operator would add it with `creditgw clients add`; returns its secret."""
    from gateway.clients import ALL, ClientStore, Scope, SecretBox
    from gateway.store.database import now_utc

    return await db.run(
        lambda tx: ClientStore(tx, SecretBox.from_text(key)).add(
            BENCH_CLIENT,
            name="benchmark",
            scopes=[Scope.DECIDE, Scope.READ] if read else [Scope.DECIDE],
            authorities=[ALL],
            rate_per_s=BENCH_RATE,
            burst=BENCH_RATE,
            now=now_utc(),
        )
    )


async def _ingest_runtime(
    database_url: str, log_level: str, *, client: bool = True, **overrides: Any
) -> tuple[Runtime, dict[str, str]]:
    """The gateway's runtime as `serve` opens it (JSON logs), with the ingest policy: no connectors;
    and (unless `client` is false) the benchmark's client (its credentials, for the READY line)."""
    from pydantic import SecretStr

    from gateway.clients import new_key
    from gateway.observability import configure_logging
    from gateway.runtime import Runtime
    from gateway.settings import Settings

    key = new_key()
    settings = Settings(
        database_url=database_url, log_format="json", log_level=log_level, secrets_key=SecretStr(key), **overrides
    )
    configure_logging(settings.log_format, settings.log_level)
    runtime = await Runtime.open(settings, connectors={})
    runtime.policy = ingest_policy(runtime)
    if not client:
        return runtime, {}
    return runtime, {"client_id": BENCH_CLIENT, "secret": await add_bench_client(runtime.db, key)}


async def _gateway(
    database_url: str, records: int, group_commit_max: int | None, log_level: str, *, signed: bool
) -> None:
    from bench.seed import seed_records
    from gateway.api.app import create_app

    overrides: dict[str, Any] = {} if group_commit_max is None else {"group_commit_max": group_commit_max}
    runtime, client = await _ingest_runtime(database_url, log_level, require_signature=signed, **overrides)
    settings = runtime.settings
    started = time.perf_counter()
    await seed_records(runtime.db, runtime.policy, records)
    seed_s = time.perf_counter() - started
    runtime.start(dispatch=False, poll=False)  # the gauges only, as in production; nothing is delivered
    info = {
        "kind": "gateway",
        "backend": runtime.db.dialect.name,
        "records": records,
        "seed_s": round(seed_s, 2),
        "group_commit_max": settings.group_commit_max,
        "group_commit_window_ms": settings.group_commit_window_ms,
        "signed": signed,
        "client": client,
    }
    await _serve(create_app(runtime), info, runtime.close)


async def _prepare(database_url: str, records: int) -> None:
    """Migrate and seed a database for servers started on it later (bench/accept_ratio.py), then exit."""
    from bench.seed import seed_records

    runtime, _ = await _ingest_runtime(database_url, "WARNING", client=False)
    try:
        started = time.perf_counter()
        await seed_records(runtime.db, runtime.policy, records)
        print(f"{PREPARED} {json.dumps({'records': records, 'seed_s': round(time.perf_counter() - started, 2)})}")
    finally:
        await runtime.close()


async def _http_layer(database_url: str, log_level: str) -> None:
    from gateway.api.app import create_app
    from gateway.api.keys import DECISIONS

    runtime, _ = await _ingest_runtime(database_url, log_level, require_signature=False)
    runtime.start(dispatch=False, poll=False)
    app = create_app(runtime)
    app[DECISIONS] = _AnswerAtOnce()  # type: ignore[assignment]
    await _serve(app, {"kind": "http-layer", "backend": runtime.db.dialect.name}, runtime.close)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_server", description=__doc__)
    sub = parser.add_subparsers(dest="kind", required=True)
    sub.add_parser("bare", help="the baseline: parse the JSON body, answer 202")
    gateway = sub.add_parser("gateway", help="the real API on a fresh, seeded database")
    gateway.add_argument("--database-url", required=True)
    gateway.add_argument("--records", type=int, required=True, help="published records to seed")
    gateway.add_argument("--group-commit-max", type=int, help="Settings.group_commit_max (1 = off)")
    gateway.add_argument("--log-level", default="INFO", help="the gateway's log level (INFO, as in production)")
    gateway.add_argument("--unsigned", action="store_true", help="signatures off: X-Client-Id names the client")
    prepare = sub.add_parser("prepare", help="migrate and seed a database, then exit (no server)")
    prepare.add_argument("--database-url", required=True)
    prepare.add_argument("--records", type=int, required=True, help="published records to seed")
    layer = sub.add_parser("http-layer", help="the real API, the decision answered at once: no store work")
    layer.add_argument("--database-url", required=True)
    layer.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.kind == "bare":
        asyncio.run(_bare())
    elif args.kind == "prepare":
        asyncio.run(_prepare(args.database_url, args.records))
    elif args.kind == "http-layer":
        asyncio.run(_http_layer(args.database_url, args.log_level))
    else:
        asyncio.run(
            _gateway(args.database_url, args.records, args.group_commit_max, args.log_level, signed=not args.unsigned)
        )


if __name__ == "__main__":
    main()
