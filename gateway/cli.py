"""`creditgw`: serve, demo, migrate, sweep, resync, reconcile, quality, remind, notice, dlq, quarantine, clients,
sign, openapi, check-config."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Sequence
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from gateway.observability import configure_logging, get_logger
from gateway.settings import OperatorError, Settings, load_settings, redact_url
from gateway.store.database import Tx
from gateway.store.repo import OutboxItem, Repo

if TYPE_CHECKING:
    from aiohttp import web

    from gateway.runtime import Runtime

log = get_logger("creditgw.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creditgw", description="Credit-repair sync gateway")
    parser.add_argument("--database-url", help="override CREDITGW_DATABASE_URL")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API, the dispatcher and the pollers")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--simulate", action="store_true", help="also start the simulated systems in-process")

    demo = sub.add_parser("demo", help="embedded SQLite + simulators: repairs on both sides until all agree")
    demo.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for convergence")
    demo.add_argument("--keep", action="store_true", help="keep an existing demo database instead of starting afresh")
    demo.add_argument("--verbose", action="store_true", help="show the gateway's and the simulators' logs")

    sub.add_parser("migrate", help="apply database migrations")

    sweep = sub.add_parser(
        "sweep", help="stop publicity of records whose maximum period ended (for cron); prints a JSON summary"
    )
    sweep.add_argument("--dry-run", action="store_true", help="report what would be stopped, change nothing")
    sweep.add_argument(
        "--today",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="judge expiry as of this day (default: today in Beijing); a later day needs --dry-run",
    )

    resync = sub.add_parser(
        "resync",
        help="re-read a system's change feed from a point in time (idempotent); prints a JSON summary",
    )
    resync.add_argument("--system", required=True, help="the system whose feed to re-read, e.g. creditchina_gansu")
    resync.add_argument(
        "--since",
        required=True,
        type=_moment,
        metavar="T",
        help="YYYY-MM-DD (midnight, Beijing time) or an ISO 8601 time with its offset, e.g. 2026-11-20T08:00:00+08:00",
    )

    remind = sub.add_parser(
        "remind", help="send the SMS repair reminders that are due (for cron); prints a JSON summary"
    )
    remind.add_argument(
        "--dry-run", action="store_true", help="print each reminder that would be sent (JSON lines), send nothing"
    )
    remind.add_argument(
        "--today",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="judge the reminder window as of this day (default: today in Beijing); a later day needs --dry-run",
    )

    notice = sub.add_parser("notice", help="render the 信用修复告知书 (附件2) of a penalty")
    notice.add_argument("record_id", metavar="RECORD_ID")
    notice.add_argument("--format", choices=("text", "html"), default="text")
    notice.add_argument("--output", metavar="FILE", help="write it to FILE (UTF-8) instead of standard output")

    dlq = sub.add_parser("dlq", help="dead letters")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list")
    listing.add_argument("--target")
    listing.add_argument("--after-id", type=int, default=0)
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true")
    show = dlq_sub.add_parser("show")
    show.add_argument("id", type=int)
    rep = dlq_sub.add_parser("replay", help="put dead letters back in the queue (resumable: run again to go on)")
    rep.add_argument("--target", help="replay only this target system's dead letters")
    rep.add_argument("--id", type=int, action="append", dest="ids", help="replay this dead letter (repeatable)")
    rep.add_argument("--after-id", type=int, default=0)
    rep.add_argument("--limit", type=int, default=1000)
    rep.add_argument("--dry-run", action="store_true")
    rep.add_argument("--force", action="store_true", help="ignore the loop guard (max replays)")

    quarantine = sub.add_parser("quarantine", help="inbound changes the gateway could not map or must not apply")
    q_sub = quarantine.add_subparsers(dest="quarantine_command", required=True)
    q_list = q_sub.add_parser("list")
    q_list.add_argument("--status", choices=("open", "resolved", "all"), default="open")
    q_list.add_argument("--system")
    q_list.add_argument("--reason")
    q_list.add_argument("--after-id", type=int, default=0)
    q_list.add_argument("--limit", type=int, default=100)
    q_list.add_argument("--json", action="store_true")
    q_show = q_sub.add_parser("show")
    q_show.add_argument("id", type=int)
    q_retry = q_sub.add_parser("retry", help="map the open ones again and apply them (after a mapping or data fix)")
    q_retry.add_argument("--id", type=int, action="append", dest="ids", help="retry this one (repeatable)")
    q_retry.add_argument("--system")
    q_retry.add_argument("--reason")
    q_retry.add_argument("--limit", type=int, default=1000)
    _clients_parser(sub)
    sign = sub.add_parser("sign", help="print the headers that sign one API call (docs/signing.md)")
    sign.add_argument("method", metavar="METHOD")
    sign.add_argument("url", metavar="URL", help="path with query (/v1/records/rec_…?x=1) or full URL")
    sign.add_argument("--client-id", required=True)
    sign.add_argument(
        "--secret-file", help="file holding the client secret (default: the CREDITGW_CLIENT_SECRET variable)"
    )
    sign.add_argument("--algorithm", default="HMAC-SHA256", choices=("HMAC-SHA256", "HMAC-SM3"))
    body = sign.add_mutually_exclusive_group()
    body.add_argument("--data", help="the request body, exactly as it will be sent")
    body.add_argument("--data-file", help="a file holding the request body, sent as is")
    sign.add_argument(
        "--curl", action="store_true", help="print curl -H arguments (one per line, shell-quoted) instead of headers"
    )

    reconcile_parser(sub)

    quality = sub.add_parser(
        "quality",
        help="data-collection quality per department and category (completeness, accuracy, timeliness)",
    )
    quality.add_argument("--format", choices=("json", "csv"), default="json", help="csv: the 通报 table (UTF-8, BOM)")
    quality.add_argument("--category", help="only this category, e.g. admin_penalty")
    quality.add_argument("--output", help="write to this file instead of standard output")

    openapi = sub.add_parser("openapi", help="print (or write) the OpenAPI document")
    openapi.add_argument("--output")

    sub.add_parser("check-config", help="print the effective settings, secrets redacted")
    return parser


def reconcile_parser(sub: Any) -> argparse.ArgumentParser:
    """`creditgw reconcile`'s arguments, in one place (further modes add theirs here)."""
    reconcile: argparse.ArgumentParser = sub.add_parser(
        "reconcile",
        help="compare every system's full listing with its owner's; exit 0 all agree, 3 divergence remains, 1 failed",
    )
    reconcile.add_argument("--system", help="only the pairs this system takes part in (as owner or mirror)")
    reconcile.add_argument("--category", help="only this category, e.g. admin_penalty")
    how = reconcile.add_mutually_exclusive_group()
    how.add_argument("--dry-run", action="store_true", help="report what a heal would send; send nothing")
    how.add_argument(
        "--heal",
        action="store_true",
        help="heal through the outbox, deliver, then check again (exit code of the re-check)",
    )
    how.add_argument(
        "--initial",
        action="store_true",
        help="go-live: load the canonical state from every system's full listing in bulk, queue only real"
        " differences; prints a JSON summary (docs/adr/0024)",
    )
    reconcile.add_argument(
        "--force",
        action="store_true",
        help="with --initial: also on a database holding records (those go through the ordinary path; idempotent)",
    )
    reconcile.add_argument(
        "--chunk", type=int, default=20_000, help="with --initial: records per transaction (default 20000)"
    )
    reconcile.add_argument("--format", choices=("text", "json", "csv"), default="text")
    return reconcile


def _clients_parser(sub: Any) -> None:
    clients = sub.add_parser("clients", help="API clients, their secrets and scopes (docs/signing.md)")
    csub = clients.add_subparsers(dest="clients_command", required=True)

    def grants(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--scope", action="append", dest="scopes", help="decide, read, subjects, admin:dlq, …")
        parser.add_argument(
            "--authority", action="append", dest="authorities", help="统一社会信用代码 of a deciding authority, or *"
        )
        parser.add_argument("--category", action="append", dest="categories", help="a record category, or * (all)")

    add = csub.add_parser("add", help="create a client; prints its first secret, once")
    add.add_argument("client_id", metavar="CLIENT_ID")
    add.add_argument("--name", help="what the calling system is (default: the id)")
    grants(add)
    add.add_argument("--cert-subject", help="mTLS: the RFC 4514 subject of the client's certificate")
    add.add_argument("--rate", type=int, help="requests per second (token bucket; default: rate_per_s)")
    add.add_argument("--burst", type=int, help="bucket size (default: rate_burst)")
    csub.add_parser("list", help="every client, without secrets")
    show = csub.add_parser("show", help="one client, without secrets")
    show.add_argument("client_id", metavar="CLIENT_ID")
    rotate = csub.add_parser("rotate", help="a new secret beside the current one; prints it, once")
    rotate.add_argument("client_id", metavar="CLIENT_ID")
    rotate.add_argument("--retire", type=int, metavar="SECRET_ID", help="retire this secret first")
    retire = csub.add_parser("retire", help="retire one secret (after callers moved to the new one)")
    retire.add_argument("client_id", metavar="CLIENT_ID")
    retire.add_argument("secret_id", type=int, metavar="SECRET_ID")
    revoke = csub.add_parser("revoke", help="refuse the client from now on (every secret retired)")
    revoke.add_argument("client_id", metavar="CLIENT_ID")
    scopes = csub.add_parser("scopes", help="replace a client's scopes, authorities or categories")
    scopes.add_argument("client_id", metavar="CLIENT_ID")
    grants(scopes)
    csub.add_parser("key", help="print a new secrets key (CREDITGW_SECRETS_KEY) to seal client secrets with")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except OperatorError as exc:
        # An operator's mistake: one line saying what to fix, no traceback (argparse's style).
        print(f"creditgw: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from gateway.store.database import DatabaseUnavailable

    overrides: dict[str, Any] = {}
    if args.database_url:
        overrides["database_url"] = args.database_url
    settings = load_settings(**overrides)
    try:
        return _command(args, settings)
    except DatabaseUnavailable as exc:
        raise OperatorError(
            f"cannot open the database of CREDITGW_DATABASE_URL ({redact_url(settings.database_url)}): {exc};"
            " create the database or fix the URL"
        ) from None


def _command(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(settings.log_format, settings.log_level)
    command = args.command
    if command == "check-config":
        _print_json(settings.redacted(), indent=2)
        return 0
    if command == "openapi":
        return _openapi(args.output)
    if command == "sign":
        return _sign(args)
    if command == "clients":
        return asyncio.run(_clients(settings, args))
    if command == "migrate":
        return asyncio.run(_migrate(settings))
    if command == "dlq":
        return asyncio.run(_dlq(settings, args))
    if command == "quarantine":
        return asyncio.run(_quarantine(settings, args))
    if command == "remind":
        return asyncio.run(_remind(settings, dry_run=args.dry_run, today=args.today))
    if command == "notice":
        return asyncio.run(_notice(settings, args.record_id, fmt=args.format, output=args.output))
    if command == "sweep":
        return asyncio.run(_sweep(settings, dry_run=args.dry_run, today=args.today))
    if command == "resync":
        return asyncio.run(_resync(settings, system=args.system, since=args.since))
    if command == "reconcile":
        if args.initial:
            if args.system or args.category or args.format != "text":
                raise OperatorError(
                    "--initial loads every listed system and category; it takes no --system,"
                    " --category or --format (it prints a JSON summary)"
                )
            return asyncio.run(_golive(settings, force=args.force, chunk=args.chunk))
        if args.force:
            raise OperatorError("--force goes with --initial only")
        return asyncio.run(_reconcile(settings, args))
    if command == "quality":
        return asyncio.run(_quality(settings, fmt=args.format, category=args.category, output=args.output))
    if command == "serve":
        if args.host:
            settings.host = args.host
        if args.port is not None:
            settings.port = args.port
        return asyncio.run(_serve(settings, simulate=args.simulate))
    if command == "demo":
        from gateway.demo import run_demo

        if not args.verbose:  # the summary is the output; logs would bury it
            configure_logging(settings.log_format, "WARNING")

        return asyncio.run(run_demo(settings, as_json=args.json, timeout_s=args.timeout, fresh=not args.keep))
    raise AssertionError(command)


def _fail(code: str, message: str, status: int = 2) -> int:
    """An operator's mistake: one clear JSON line, a non-zero exit, no traceback."""
    print(json.dumps({"code": code, "message": message}, ensure_ascii=False))
    return status


def _sign(args: argparse.Namespace) -> int:
    import os
    import shlex
    from pathlib import Path

    from gateway.signing import Credentials, sign_headers

    try:
        if args.secret_file:
            secret = Path(args.secret_file).read_text("utf-8").strip()
        else:
            secret = os.environ.get("CREDITGW_CLIENT_SECRET", "")
        body = Path(args.data_file).read_bytes() if args.data_file else (args.data or "").encode()
    except OSError as exc:
        return _fail("unreadable_file", f"{exc.filename}: {exc.strerror}")
    if not secret:
        return _fail("no_secret", "give the client secret with --secret-file or CREDITGW_CLIENT_SECRET")
    credentials = Credentials(client_id=args.client_id, secret=secret, algorithm=args.algorithm)
    for name, value in sign_headers(credentials, args.method, args.url, body).items():
        print(f"-H {shlex.quote(f'{name}: {value}')}" if args.curl else f"{name}: {value}")
    return 0


async def _clients(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.clients import ALL, CLIENT_SCOPES, ClientError, ClientStore, SecretBox, new_key
    from gateway.store.database import now_utc, open_database
    from gateway.store.migrate import migrate

    command = args.clients_command
    if command == "key":
        print(new_key())
        return 0
    try:
        key = settings.secrets_key
        box = SecretBox.from_text(key.get_secret_value()) if key is not None else None
    except ClientError as exc:
        return _fail("invalid_secrets_key", str(exc))
    db = open_database(settings.database_url)
    now = now_utc()
    try:
        await migrate(db)

        def work(tx: Tx) -> Any:
            store = ClientStore(tx, box)
            if command == "add":
                secret = store.add(
                    args.client_id,
                    name=args.name or args.client_id,
                    scopes=_split(args.scopes) or sorted(CLIENT_SCOPES - {"admin:clients"}),
                    authorities=_split(args.authorities),
                    categories=_split(args.categories) or [ALL],
                    cert_subject=args.cert_subject,
                    rate_per_s=args.rate,
                    burst=args.burst,
                    now=now,
                )
                return {"client_id": args.client_id, "secret_id": 1, "secret": secret, "shown": "once"}
            if command == "rotate":
                secret_id, secret = store.rotate(args.client_id, now=now, retire=args.retire)
                return {"client_id": args.client_id, "secret_id": secret_id, "secret": secret, "shown": "once"}
            if command == "retire":
                store.retire(args.client_id, args.secret_id, now=now)
            elif command == "revoke":
                store.revoke(args.client_id, now=now)
            elif command == "scopes":
                store.set_scopes(
                    args.client_id,
                    now=now,
                    scopes=_split(args.scopes) if args.scopes else None,
                    authorities=_split(args.authorities) if args.authorities else None,
                    categories=_split(args.categories) if args.categories else None,
                )
            elif command == "list":
                return [c.summary() for c in store.list()]
            found = store.get(args.client_id)
            if found is None:
                raise ClientError(f"no client {args.client_id}")
            return found.summary()

        result = await db.run(work, write=command not in ("list", "show"))
    except ClientError as exc:
        return _fail("client_error", str(exc))
    finally:
        await db.close()
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def _split(values: list[str] | None) -> list[str]:
    """Repeated options and comma-separated lists alike: --scope read,decide --scope subjects."""
    return [part for value in values or () for part in value.split(",") if part.strip()]


def _print_json(document: Any, *, indent: int | None = None) -> None:
    """A JSON document on one line (or indented) of standard output; Chinese stays readable (UTF-8)."""
    print(json.dumps(document, ensure_ascii=False, indent=indent), flush=True)


def _write_out(text: str, output: str | None) -> None:
    """To the file `output` names (UTF-8), or standard output."""
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def _openapi(output: str | None) -> int:
    from gateway.api.openapi import build_openapi, dumps

    _write_out(dumps(build_openapi()), output)
    return 0


async def _migrate(settings: Settings) -> int:
    from gateway.store.database import open_database
    from gateway.store.migrate import current_version, migrate

    db = open_database(settings.database_url)
    try:
        applied = await migrate(db)
        _print_json({"applied": applied, "version": await current_version(db)})
    finally:
        await db.close()
    return 0


async def _dlq(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.store.database import now_utc, open_database
    from gateway.store.group import GroupCommitter
    from gateway.store.migrate import migrate
    from gateway.store.repo import OutboxStatus
    from gateway.sync.dlq import replay

    db = open_database(settings.database_url)
    await migrate(db)
    committer = GroupCommitter(db)
    try:
        if args.dlq_command == "list":
            items = await db.run(
                lambda tx: Repo(tx).list_outbox(
                    status=OutboxStatus.DEAD, target=args.target, after_id=args.after_id, limit=args.limit
                ),
                write=False,
            )
            if args.json:
                _print_json([_dead_json(i) for i in items])
            else:
                for item in items:
                    print(
                        f"{item.id:>8}  {item.target:<18} {item.record_id}  v{item.version} {item.state.label:<18}"
                        f" attempts={item.attempts} replays={item.replays}  {item.last_error or ''}"
                    )
                print(f"{len(items)} dead letter(s)")
            return 0
        if args.dlq_command == "show":
            found: OutboxItem | None = await db.run(partial(_get_outbox, item_id=args.id), write=False)
            if found is None or found.status != OutboxStatus.DEAD:
                _print_json({"code": "dead_letter_not_found", "message": f"no dead letter {args.id}"})
                return 1
            _print_json(_dead_json(found), indent=2)
            return 0
        report = await replay(
            committer,
            now=now_utc(),
            target=args.target,
            ids=args.ids,
            after_id=args.after_id,
            limit=args.limit,
            dry_run=args.dry_run,
            force=args.force,
            max_replays=settings.max_replays,
        )
        _print_json(report.as_json())
        return 0
    finally:
        await committer.close()
        await db.close()


async def _quarantine(settings: Settings, args: argparse.Namespace) -> int:
    """list / show / retry; retried changes queue their deliveries for the dispatchers of `serve`."""
    from gateway import quarantine
    from gateway.runtime import policy_from, sync_sla_from
    from gateway.store.database import now_utc, open_database
    from gateway.store.group import GroupCommitter
    from gateway.store.migrate import migrate
    from gateway.sync.connectors import MAPPINGS

    db = open_database(settings.database_url)
    await migrate(db)
    committer = GroupCommitter(db)
    try:
        if args.quarantine_command == "list":
            status = None if args.status == "all" else args.status
            rows = await db.run(
                lambda tx: Repo(tx).list_quarantine(
                    status=status, system=args.system, reason=args.reason, after_id=args.after_id, limit=args.limit
                ),
                write=False,
            )
            items = [quarantine.view(row) for row in rows]
            if args.json:
                print(json.dumps(items, ensure_ascii=False))
            else:
                for item in items:
                    print(
                        f"{item['id']:>8}  {item['system']:<18} {item['kind']:<12} {item['status']:<9}"
                        f" {item['reason']}{'(' + item['field'] + ')' if item['field'] else ''}  {item['message']}"
                    )
                print(f"{len(items)} quarantined change(s)")
            return 0
        if args.quarantine_command == "show":
            row = await db.run(lambda tx: Repo(tx).get_quarantine(args.id), write=False)
            if row is None:
                print(json.dumps({"code": "quarantine_not_found", "message": f"no quarantined change {args.id}"}))
                return 1
            print(json.dumps(quarantine.view(row, full=True), ensure_ascii=False, indent=2))
            return 0
        report = await quarantine.retry(
            committer,
            policy=policy_from(settings, set(settings.systems), sync_sla_from(settings)),
            mappings=MAPPINGS,
            now=now_utc(),
            ids=args.ids,
            system=args.system,
            reason=args.reason,
            limit=args.limit,
        )
        print(json.dumps(report.as_json(), ensure_ascii=False))
        return 0
    finally:
        await committer.close()
        await db.close()


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _moment(value: str) -> datetime:
    from gateway.domain.beijing import BEIJING

    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=BEIJING)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time zone, e.g. {value}+08:00") from None
    return moment


async def _quality(settings: Settings, *, fmt: str, category: str | None, output: str | None) -> int:
    """The data-collection quality report over every record (gateway/quality.py)."""
    from pathlib import Path

    from gateway.calendar_data import load_calendar
    from gateway.domain.categories import Category
    from gateway.quality import build_report, to_csv
    from gateway.store.database import now_utc, open_database
    from gateway.store.migrate import migrate

    if category is not None and category not in {c.value for c in Category}:
        raise OperatorError(f"--category {category!r} is not one of {', '.join(c.value for c in Category)}")
    calendar = load_calendar(settings)
    db = open_database(settings.database_url)
    try:
        await migrate(db)
        now = now_utc()
        report = await db.run(lambda tx: build_report(tx, calendar=calendar, now=now, category=category), write=False)
    finally:
        await db.close()
    text = to_csv(report) if fmt == "csv" else json.dumps(report.as_json(), ensure_ascii=False) + "\n"
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise OperatorError(f"cannot write {output}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0


async def _golive(settings: Settings, *, force: bool, chunk: int) -> int:
    """Load the canonical state from the systems' full listings (gateway/golive.py); run it before
    `serve` starts its pollers. The deliveries it queues are sent by the dispatchers of `serve`."""
    from gateway.domain.retry import DeliveryError
    from gateway.golive import GoLiveRefused, go_live
    from gateway.runtime import policy_from, sync_sla_from
    from gateway.store.database import open_database
    from gateway.store.migrate import migrate
    from gateway.sync.connectors import build_connectors

    if chunk < 1:
        raise OperatorError(f"--chunk must be at least 1, not {chunk}")
    connectors = build_connectors(settings)
    db = open_database(settings.database_url)
    await migrate(db)
    try:
        report = await go_live(
            db, connectors, policy_from(settings, set(connectors), sync_sla_from(settings)), force=force, chunk=chunk
        )
    except GoLiveRefused as exc:
        raise OperatorError(str(exc)) from None
    except DeliveryError as exc:
        raise OperatorError(
            f"cannot read a full listing: {exc.message}; check the systems' URLs and credentials and run again"
        ) from None
    finally:
        for connector in connectors.values():
            await connector.adapter.close()
        await db.close()
    _print_json(report.as_json())
    return 0


async def _resync(settings: Settings, *, system: str, since: datetime) -> int:
    """Re-read one feed from `since`; the deliveries it queues are sent by the dispatchers of `serve`."""
    from gateway.domain.retry import DeliveryError
    from gateway.runtime import policy_from, sync_sla_from
    from gateway.store.database import open_database
    from gateway.store.group import GroupCommitter
    from gateway.store.migrate import migrate
    from gateway.sync.connectors import build_connectors
    from gateway.sync.poller import Poller

    if system not in settings.systems:
        raise OperatorError(f"--system {system!r} is not one of CREDITGW_SYSTEMS ({', '.join(settings.systems)})")
    connectors = build_connectors(settings)
    db = open_database(settings.database_url)
    await migrate(db)
    committer = GroupCommitter(db)
    poller = Poller(committer, connectors[system], policy_from(settings, set(connectors), sync_sla_from(settings)))
    try:
        stats = await poller.resync(since)
    except DeliveryError as exc:
        variable = f"CREDITGW_{system.upper()}__URL"
        raise OperatorError(f"cannot read the feed of {system}: {exc.message}; check {variable} and retry") from None
    finally:
        await committer.close()
        for connector in connectors.values():
            await connector.adapter.close()
        await db.close()
    _print_json(
        {
            "system": system,
            "since": since.isoformat(),
            "pages": stats.pages,
            "changes": stats.changes,
            "outcomes": dict(sorted(stats.outcomes.items())),
        }
    )
    return 0


async def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    """One reconciliation run (gateway/reconcile/); an unfinished run of the same mode and scope
    whose process died is resumed from its checkpoints."""
    from gateway.domain.retry import DeliveryError
    from gateway.reconcile import report
    from gateway.reconcile.run import Reconciler, RunInProgress, ScopeError, options_from
    from gateway.runtime import Runtime
    from gateway.store import reconciliations as rs

    mode = rs.RunMode.HEAL if args.heal else rs.RunMode.DRY_RUN if args.dry_run else rs.RunMode.CHECK
    scope = rs.Scope(system=args.system, category=args.category)
    runtime = await Runtime.open(settings)
    try:
        reconciler = Reconciler(runtime.db, runtime.connectors, runtime.policy, options=options_from(settings))
        try:
            run = await reconciler.start_or_resume(mode=mode, scope=scope, origin="cli")
        except (ScopeError, RunInProgress) as exc:
            raise OperatorError(str(exc)) from None
        run = await reconciler.execute(run)
        recheck: rs.Run | None = None
        if run.status is rs.RunStatus.SUCCEEDED and mode is rs.RunMode.HEAL and run.heals:
            await _deliver_heals(runtime, settings.reconcile_heal_wait_s)
            recheck = await reconciler.run(mode=rs.RunMode.CHECK, scope=scope, origin="cli")
        findings = await runtime.db.run(lambda tx: list(rs.all_findings(tx, run.run_id)), write=False)
        if args.format == "json":
            again = None
            if recheck is not None:
                left = await runtime.db.run(lambda tx: list(rs.all_findings(tx, recheck.run_id)), write=False)
                again = {"run": report.run_json(recheck), "findings": [f.as_json() for f in left]}
            sys.stdout.write(report.as_json(run, findings, again) + "\n")
        elif args.format == "csv":
            sys.stdout.write(report.as_csv(findings))
        else:
            sys.stdout.write(report.as_text(run, findings))
            if recheck is not None:
                sys.stdout.write("after the heals were delivered:\n")
                sys.stdout.write(report.as_text(recheck, []))
    except DeliveryError as exc:
        print(f"creditgw: reconciliation failed: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await runtime.close()
    final = recheck if recheck is not None else run
    if final.status is not rs.RunStatus.SUCCEEDED:
        print(f"creditgw: reconciliation {final.run_id} failed: {final.error}", file=sys.stderr)
        return 1
    return 3 if final.findings else 0


async def _deliver_heals(runtime: Runtime, wait_s: float) -> None:
    """Send what the heals queued (and whatever else is due) until the outbox has nothing pending
    or in flight, or `wait_s` passes; the re-check then reports whatever is still not delivered."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        handled = 0
        for target in runtime.connectors:
            handled += await runtime.dispatcher.run_once(target)
        if handled:
            continue
        depth = await runtime.db.run(lambda tx: Repo(tx).outbox_depth(), write=False)
        if not any(row["status"] in ("pending", "in_flight") and row["n"] for row in depth):
            return
        await asyncio.sleep(0.5)


async def _sweep(settings: Settings, *, dry_run: bool, today: date | None) -> int:
    """One expiry sweep; the deliveries it queues are sent by the dispatchers of `serve`."""
    from gateway.domain.sla import beijing_date
    from gateway.runtime import policy_from, sync_sla_from
    from gateway.store.database import now_utc, open_database
    from gateway.store.group import GroupCommitter
    from gateway.store.migrate import migrate
    from gateway.sync.sweep import sweep

    now = now_utc()
    if today is not None and today > beijing_date(now) and not dry_run:
        # The decisions would be dated in the future and lock the records against real ones.
        _print_json({"code": "today_in_future", "message": "--today after today (Beijing) needs --dry-run"})
        return 2
    policy = policy_from(settings, set(settings.systems), sync_sla_from(settings))
    db = open_database(settings.database_url)
    await migrate(db)
    committer = GroupCommitter(db)
    try:
        report = await sweep(
            committer,
            policy=policy,
            today=today or beijing_date(now),
            now=now,
            overrides=settings.rules.overrides(),
            batch=settings.sweep_batch,
            dry_run=dry_run,
            on_expired=_print_json if dry_run else None,  # a JSON line per record it would stop
        )
    finally:
        await committer.close()
        await db.close()
    _print_json(report.as_json())
    return 0


async def _remind(settings: Settings, *, dry_run: bool, today: date | None) -> int:
    """One reminder run: JSON lines per reminder for --dry-run, then a JSON summary."""
    from gateway.domain.beijing import beijing_date
    from gateway.reminders import ReminderJob
    from gateway.runtime import build_sms
    from gateway.store.database import now_utc, open_database
    from gateway.store.group import GroupCommitter
    from gateway.store.migrate import migrate

    if today is not None and today > beijing_date(now_utc()) and not dry_run:
        # Reminders would go out before their window opens.
        _print_json({"code": "today_in_future", "message": "--today after today (Beijing) needs --dry-run"})
        return 2
    db = open_database(settings.database_url)
    await migrate(db)
    sms = build_sms(settings)
    committer = GroupCommitter(db)
    try:
        job = ReminderJob(db, committer, sms, settings, owner=f"remind:{socket.gethostname()}:{os.getpid()}")
        report = await job.run(today=today, dry_run=dry_run, on_candidate=_print_json)
    finally:
        await committer.close()
        await sms.close()
        await db.close()
    _print_json(report.as_json())
    return 0


async def _notice(settings: Settings, record_id: str, *, fmt: str, output: str | None) -> int:
    """The 告知书 of one penalty to standard output or a file; exit 1 with a JSON error otherwise."""
    from gateway.notice import NoticeNotApplicable, build_notice, render_notice
    from gateway.store.database import open_database
    from gateway.store.migrate import migrate

    db = open_database(settings.database_url)
    try:
        await migrate(db)
        record = await db.run(lambda tx: Repo(tx).load_record(record_id), write=False)
    finally:
        await db.close()
    if record is None:
        _print_json({"code": "record_not_found", "message": f"no record {record_id}", "field": "record_id"})
        return 1
    try:
        notice = build_notice(record.facts, record_id=record.record_id, overrides=settings.rules.overrides())
    except NoticeNotApplicable as exc:
        _print_json({"code": "notice_not_applicable", "message": str(exc), "field": "record"})
        return 1
    _write_out(render_notice(notice, "html" if fmt == "html" else "text"), output)
    return 0


def _get_outbox(tx: Tx, item_id: int) -> OutboxItem | None:
    return Repo(tx).get_outbox(item_id)


def _dead_json(item: Any) -> dict[str, Any]:
    return {
        "id": item.id,
        "target": item.target,
        "record_id": item.record_id,
        "version": item.version,
        "state": item.state.label,
        "attempts": item.attempts,
        "replays": item.replays,
        "last_error": item.last_error,
        "context": item.dead_context,
        "created_at": item.created_at.isoformat(),
        "dead_at": item.finished_at.isoformat() if item.finished_at else None,
    }


async def _drain(runtime: Runtime, runner: web.AppRunner, deadline: float) -> None:
    """SIGTERM: refuse new work at once (/readyz and /v1/ writes answer 503), keep listening for
    shutdown_delay_s so load balancers notice, let the requests being served finish, close the
    listener and kept-alive connections, then let deliveries finish within what is left of the
    grace period (the rest release their leases in Runtime.stop)."""
    from gateway.api.pressure import SERVING

    loop = asyncio.get_running_loop()
    settings = runtime.settings
    runtime.pressure.draining = True
    log.info("draining", grace_s=settings.shutdown_grace_s, delay_s=settings.shutdown_delay_s)
    await asyncio.sleep(max(0.0, min(settings.shutdown_delay_s, deadline - loop.time())))
    serving = runner.app[SERVING]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(serving.idle(), timeout=max(0.0, deadline - loop.time()))
    await runner.cleanup()  # requests still running now (past the grace) are cancelled
    await runtime.stop(grace_s=deadline - loop.time())
    log.info("stopping", requests_cut=serving.count)


async def _point_at_simulated_hrss(settings: Settings, url: str) -> None:
    """The sandbox's hrss simulator made its own database: configure the 前置库 settings with it."""
    import aiohttp

    from gateway.sandbox import simulated_frontdb

    async with aiohttp.ClientSession() as http:
        try:
            found = await simulated_frontdb(http, url)
        except RuntimeError as exc:
            raise OperatorError(f"{exc}; start MariaDB or leave hrss out of CREDITGW_SYSTEMS") from None
    settings.hrss = settings.hrss.model_copy(update=found)


async def _serve(settings: Settings, *, simulate: bool) -> int:
    from aiohttp import web
    from pydantic import SecretStr

    from gateway.api.app import create_app
    from gateway.api.tls import server_ssl_context
    from gateway.clients import add_sandbox_client, new_key
    from gateway.runtime import Runtime
    from gateway.store.database import now_utc

    try:
        ssl_context = server_ssl_context(settings)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        # Like the port in use below: one line naming the settings and what to do.
        raise OperatorError(
            f"cannot load the TLS certificate, key or CA bundle (CREDITGW_TLS_CERT_FILE, CREDITGW_TLS_KEY_FILE,"
            f" CREDITGW_TLS_CLIENT_CA_FILE): {exc}; fix the files or the settings"
        ) from None
    if simulate and settings.secrets_key is None:
        settings.secrets_key = SecretStr(new_key())  # this process only: the sandbox client below
    simulators = None
    urls: dict[str, str] | None = None
    if simulate:
        from gateway.sandbox import simulator_configs
        from simulators import start_simulators

        simulators = await start_simulators(configs=simulator_configs(settings))
        urls = dict(simulators.urls)
        for name, url in urls.items():
            print(f"simulator {name} {url}", flush=True)
        if "hrss" in settings.systems and "hrss" in urls:
            try:
                await _point_at_simulated_hrss(settings, urls["hrss"])
            except OperatorError:
                await simulators.close()
                raise
    runtime = await Runtime.open(settings, urls=urls)
    if simulate and settings.secrets_key is not None:
        client_id, secret = await add_sandbox_client(runtime.db, settings.secrets_key.get_secret_value(), now=now_utc())
        # Printed on purpose, once, and only with --simulate: a sandbox to try the API with.
        print(f"SANDBOX CLIENT (simulated systems only, not for production): {client_id}", flush=True)
        print(f"SANDBOX SECRET: {secret}", flush=True)
    if settings.require_signature and settings.secrets_key is None:
        # Not fatal (probes and metrics still answer), but every /v1/ call will be refused.
        log.warning("no_secrets_key", hint="set CREDITGW_SECRETS_KEY (creditgw clients key); /v1/ calls get 401")
    # The drain (_drain) waits for requests itself; what is still running when the listener closes
    # is past the grace period and is cut short.
    runner = web.AppRunner(create_app(runtime), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        await runtime.close()
        if simulators is not None:
            await simulators.close()
        raise OperatorError(
            f"cannot listen on {settings.host}:{settings.port} (CREDITGW_HOST/CREDITGW_PORT, --host/--port):"
            f" {exc.strerror or exc}; stop what uses the port or choose another"
        ) from None
    runtime.start(sweep=True, remind=True, reconcile=True)
    scheme = "https" if ssl_context is not None else "http"
    log.info("serving", host=settings.host, port=settings.port, database=runtime.db.dialect.name, tls=scheme == "https")
    print(f"creditgw listening on {scheme}://{settings.host}:{settings.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await _drain(runtime, runner, loop.time() + settings.shutdown_grace_s)
    await runtime.close()
    if simulators is not None:
        await simulators.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
