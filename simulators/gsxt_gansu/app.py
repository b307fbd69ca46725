"""GSXT（甘肃） simulator: signed JSON API, audit gate, cursor change feed (docs/protocols.md §2)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from simulators.admin import (
    AdminError,
    Stats,
    json_response,
    read_json_object,
    require_str,
    wants_published_only,
)
from simulators.assembly import assemble
from simulators.clock import Clock, SystemClock
from simulators.codes import REM_EXCPRES, removal_pairs
from simulators.expiring import Expiring
from simulators.faults import DEFAULT_FAULT_SEED, FaultState
from simulators.formats import DASH_DATE
from simulators.gsxt_gansu import collected, serious, signing
from simulators.gsxt_gansu.store import GsxtStore, decode_after, decode_cursor, encode_after, encode_cursor
from simulators.gsxt_gansu.tables import (
    AMOUNT_FIELDS,
    FIELDS,
    KEY_FIELDS,
    TABLES,
    Key,
    blank_record,
    key_label,
    key_of,
)
from simulators.gsxt_gansu.validation import CONTENT_FIELDS, amount, validate_record
from simulators.world import WORLD_SEED, build_world, gsxt_gansu_records

# errCodes (docs/protocols.md §2).
BAD_SIGNATURE, INVALID, UNKNOWN_RECORD, BAD_PAGE_SIZE, BUSY = "1001", "2001", "2002", "2003", "3001"


@dataclass(kw_only=True)
class GsxtConfig:
    credentials: dict[str, str] = field(default_factory=lambda: {"creditgw": "gsxt-secret"})
    max_skew_s: float = 300.0
    auto_audit: bool = True
    request_id_ttl_s: float = 24 * 3600.0
    max_page_size: int = 1000
    default_page_size: int = 100
    clock: Clock = field(default_factory=SystemClock)
    world_seed: int = WORLD_SEED
    fault_seed: int = DEFAULT_FAULT_SEED
    # Seed the 严重违法失信名单 (`seriousillegal`) with its fixtures. Off by default while the gateway's
    # GSXT mapping does not read that table yet: its change-feed items would be quarantined.
    serious_list: bool = False


class GsxtError(Exception):
    """A refused API call: HTTP status plus the `{"result": 0, "errCode", "msg", "field"}` body."""

    def __init__(self, err_code: str, msg: str, field: str = "", status: int = 200) -> None:
        super().__init__(msg)
        self.err_code = err_code
        self.msg = msg
        self.field = field
        self.status = status

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"result": 0, "errCode": self.err_code, "msg": self.msg}
        if self.field:
            body["field"] = self.field
        return body


class GsxtSimulator:
    """State and handlers of one simulated GSXT（甘肃） node."""

    def __init__(self, config: GsxtConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.store = GsxtStore()
        self.faults = FaultState(config.fault_seed)
        self.stats = Stats()
        self.auto_audit = config.auto_audit
        self._request_ids: Expiring[str, dict[str, Any]] = Expiring(timedelta(seconds=config.request_id_ttl_s))
        self._duplicated_after: set[int] = set()
        self._pripids: dict[str, str] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the seed records and feed; faults, stats, requestIds and admin config cleared."""
        tables = gsxt_gansu_records(build_world(self.config.world_seed))
        if self.config.serious_list:
            tables = {**tables, serious.TABLE: [dict(record) for record in serious.SERIOUS_FIXTURES]}
        self.store.load_seed(tables)
        self._pripids = {r["uniSCID"]: r["priPID"] for records in tables.values() for r in records}
        self.faults.clear()
        self.stats.clear()
        self.auto_audit = self.config.auto_audit
        self._request_ids.clear()
        self._duplicated_after.clear()

    # --- API ----------------------------------------------------------------------------------

    async def otherpunish_save(self, request: web.Request) -> web.Response:
        return await self._save_call(request, "otherpunish/save", self._save)

    async def othersxmd_save(self, request: web.Request) -> web.Response:
        return await self._save_call(request, f"{collected.TABLE}/save", self._save_collected)

    async def _save_call(
        self, request: web.Request, operation: str, save: Callable[[Any], dict[str, Any]]
    ) -> web.Response:
        try:
            body = await self._signed_body(request)
            request_id = body.get("requestId")
            if not isinstance(request_id, str) or not request_id:
                raise GsxtError(INVALID, "requestId is required", "requestId")
            remembered = self._request_ids.get(request_id, self.clock.now())
            if remembered is not None:
                self.stats.request(operation, "replay")
                return json_response(remembered)
            answer = _ok(save(body.get("record")))
        except GsxtError as error:
            self.stats.request(operation, error.err_code)
            return json_response(error.body(), status=error.status)
        # Only applied answers are remembered: a refused write changed nothing and may be resent,
        # corrected, under the same requestId.
        self._request_ids.put(request_id, answer, self.clock.now())
        self.stats.request(operation, "ok")
        return json_response(answer)

    async def changes(self, request: web.Request) -> web.Response:
        return await self._read_call(request, "changes", self._changes_page)

    async def records(self, request: web.Request) -> web.Response:
        return await self._read_call(request, "records", self._records_page)

    async def _read_call(
        self, request: web.Request, operation: str, page: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> web.Response:
        try:
            answer = _ok(page(await self._signed_body(request)))
        except GsxtError as error:
            self.stats.request(operation, error.err_code)
            return json_response(error.body(), status=error.status)
        self.stats.request(operation, "ok")
        return json_response(answer)

    def _records_page(self, body: dict[str, Any]) -> dict[str, Any]:
        table = body.get("table")
        if table not in TABLES:
            raise GsxtError(INVALID, f"table must be one of {', '.join(TABLES)}", "table")
        token = body.get("after", "")
        after = None if token == "" else decode_after(token) if isinstance(token, str) else None
        if token != "" and after is None:
            raise GsxtError(INVALID, "after is not one this server issued", "after")
        size = body.get("pageSize", self.config.default_page_size)
        limit = self.config.max_page_size
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= limit:
            raise GsxtError(BAD_PAGE_SIZE, f"pageSize must be 1-{limit}", "pageSize")
        items, has_more = self.store.listing_after(table, after, size)
        next_after = encode_after(key_of(table, items[-1].record)) if items else token
        shown = self.faults.maybe_shuffle(items)
        return {"items": [item.to_json() for item in shown], "nextAfter": next_after, "hasMore": has_more}

    async def _signed_body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GsxtError(INVALID, "body is not JSON", "body", status=400) from exc
        if not isinstance(body, dict):
            raise GsxtError(INVALID, "body must be a JSON object", "body", status=400)
        config = self.config
        problem = signing.refusal(body, config.credentials, self.clock.now(), config.max_skew_s)
        if problem is not None:
            raise GsxtError(BAD_SIGNATURE, problem, status=401)
        return body

    def _save(self, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise GsxtError(INVALID, "record must be an object", "record")
        error = validate_record(record)
        if error is not None:
            raise GsxtError(INVALID, error.message, error.field)
        if self.faults.rejects(record["penDecNo"]):
            raise GsxtError(INVALID, "refused (fault injection)", "penDecNo")
        key = key_of("otherpunish", record)
        existing = self.store.get("otherpunish", key)
        if existing is None:
            if record.get("pubFlag") == "0" or record.get("stopType"):
                raise GsxtError(UNKNOWN_RECORD, "no such record to change the state of", "penDecNo")
            created = self._new_otherpunish(record)
            self._put("otherpunish", created)
            if self.auto_audit:
                self._audit(key, approve=True, opinion="")
            return {"caseId": created["caseId"], "applied": True}
        applied = self._put("otherpunish", _apply_client_write(existing, record))
        return {"caseId": existing["caseId"], "applied": applied}

    def _save_collected(self, record: Any) -> dict[str, Any]:
        """A listing collected from its deciding department: published at once (no audit: the
        department decided it); a removal or restoration of a held row applies as sent."""
        if not isinstance(record, dict):
            raise GsxtError(INVALID, "record must be an object", "record")
        error = collected.validate(record)
        if error is not None:
            raise GsxtError(INVALID, error.message, error.field)
        if self.faults.rejects(record["penDecNo"]):
            raise GsxtError(INVALID, "refused (fault injection)", "penDecNo")
        table = collected.TABLE
        key = key_of(table, record)
        existing = self.store.get(table, key)
        if existing is None and (record.get("isMove") or "0") != "0":
            raise GsxtError(UNKNOWN_RECORD, "no such listing to remove", "penDecNo")
        updated = dict(existing) if existing is not None else blank_record(table)
        if existing is None:
            updated[collected.ID_FIELD] = hashlib.md5(f"{table}|{key[0]}|{key[1]}".encode()).hexdigest()
        for name in collected.CONTENT_FIELDS:
            if name in record and not (name == "priPID" and not record[name]):
                updated[name] = record[name] or ""
        if not updated["priPID"]:
            updated["priPID"] = self._pripid(record["uniSCID"])
        is_move = record.get("isMove") or "0"
        moved = is_move != "0"
        updated.update(
            isMove=is_move,
            remType=(record.get("remType") or "") if moved else "",
            remDate=(record.get("remDate") or "") if moved else "",
        )
        applied = self._put(table, updated)
        return {collected.ID_FIELD: updated[collected.ID_FIELD], "applied": applied}

    def _new_otherpunish(self, record: dict[str, Any]) -> dict[str, Any]:
        created = blank_record("otherpunish")
        created.update(_content(record))
        key = key_of("otherpunish", record)
        # Deterministic ids keep demo runs reproducible.
        created["caseId"] = hashlib.md5(f"otherpunish|{key[0]}|{key[1]}".encode()).hexdigest()
        if not created["priPID"]:
            created["priPID"] = self._pripid(record["uniSCID"])
        # Collected (归集) penalties wait for GSXT's audit before they are published.
        created.update(auditState="0", auditOpin="", pubFlag="0", pubDate="")
        return created

    def _pripid(self, uni_scid: str) -> str:
        known = self._pripids.get(uni_scid.upper())
        if known is not None:
            return known
        digits = str(int(hashlib.md5(uni_scid.encode()).hexdigest(), 16))
        return (uni_scid[2:8] + digits)[:16]

    def _audit(self, key: Key, *, approve: bool, opinion: str) -> tuple[dict[str, Any], bool]:
        record = self.store.get("otherpunish", key)
        assert record is not None
        if approve:
            today = self.clock.now().date().strftime(DASH_DATE)
            record.update(auditState="1", auditOpin=opinion or "同意公示", pubFlag="1")
            record["pubDate"] = record["pubDate"] or today
        else:
            record.update(auditState="2", auditOpin=opinion or "不予公示", pubFlag="0")
        return record, self._put("otherpunish", record)

    def _put(self, table: str, record: dict[str, Any]) -> bool:
        changed = self.store.put(table, record, self.clock.now())
        if changed:
            self.stats.write(key_label(table, key_of(table, record)))
        return changed

    def _changes_page(self, body: dict[str, Any]) -> dict[str, Any]:
        cursor = body.get("cursor", "")
        after = decode_cursor(cursor) if isinstance(cursor, str) else None
        if after is None:
            raise GsxtError(INVALID, "cursor is not one this server issued", "cursor")
        size = body.get("pageSize", self.config.default_page_size)
        limit = self.config.max_page_size
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= limit:
            raise GsxtError(BAD_PAGE_SIZE, f"pageSize must be 1-{limit}", "pageSize")
        items = self.store.items_after(after, size)
        last = items[-1].seq if items else after
        next_cursor, has_more = encode_cursor(last), last < self.store.last_seq
        # A duplicated page: the cursor does not advance, so the same page comes again once.
        if items and after not in self._duplicated_after and self.faults.duplicate_page():
            self._duplicated_after.add(after)
            next_cursor, has_more = encode_cursor(after), True
        shown = self.faults.maybe_shuffle(items)
        return {"items": [item.to_json() for item in shown], "nextCursor": next_cursor, "hasMore": has_more}

    # --- fault hooks --------------------------------------------------------------------------

    async def busy_response(self, _request: web.Request) -> web.StreamResponse:
        return json_response(GsxtError(BUSY, "system busy, retry later").body())

    async def operation_of(self, request: web.Request) -> str:
        return request.path.removeprefix("/api/")

    # --- admin --------------------------------------------------------------------------------

    async def admin_load(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        table = _table(body)
        records = body.get("records")
        if not isinstance(records, list):
            raise AdminError(400, "invalid_json", "records must be a list", "records")
        prepared = [self._loaded_record(table, index, r) for index, r in enumerate(records, start=1)]
        changed = 0
        for record in prepared:
            now = None if record["updateTime"] else self.clock.now()
            if self.store.put(table, record, now):
                changed += 1
                self.stats.write(key_label(table, key_of(table, record)))
        return json_response({"loaded": len(prepared), "changed": changed})

    def _loaded_record(self, table: str, index: int, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise AdminError(400, "invalid_record", f"record {index} must be an object", "records")
        for name in record:
            if name not in FIELDS[table]:
                raise AdminError(400, "invalid_record", f"record {index}: unknown field {name}", name)
        for name in KEY_FIELDS[table]:
            if not isinstance(record.get(name), str) or not record[name]:
                raise AdminError(400, "invalid_record", f"record {index}: {name} is required", name)
        key = key_of(table, record)
        loaded = self.store.get(table, key) or blank_record(table)
        loaded.update(record)
        id_field = {"opanomaly": "busExcList", serious.TABLE: "illCompId", collected.TABLE: collected.ID_FIELD}.get(
            table, "caseId"
        )
        if not loaded[id_field]:
            loaded[id_field] = hashlib.md5(f"{table}|{key[0]}|{key[1]}".encode()).hexdigest()
        return loaded

    async def admin_records(self, request: web.Request) -> web.Response:
        table = request.query.get("table")
        if table is not None and table not in TABLES:
            raise AdminError(400, "invalid_value", f"table must be one of {', '.join(TABLES)}", "table")
        records = self.store.records(table, published_only=wants_published_only(request))
        return json_response({"records": [{"table": name, **record} for name, record in records]})

    async def admin_repair(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        table = _table(body)
        restore = body.get("restore") is True
        today = self.clock.now().date().strftime(DASH_DATE)
        if table == collected.TABLE:
            key = (require_str(body, "penDecNo"), require_str(body, "decOrgCode"))
            record = _collected_repaired(self._existing(table, key), body, today, restore=restore)
        elif table == serious.TABLE:
            key = (require_str(body, "penDecNo"), require_str(body, "decOrgCode"))
            record = _serious_repaired(self._existing(table, key), body, self.clock.now().date(), restore=restore)
        elif table == "opanomaly":
            key = (require_str(body, "penDecNo"), require_str(body, "decOrgCode"))
            record = self._existing(table, key)
            if restore:
                record.update(isMove="0", remExcpres="", remExcpresCN="", remDate="", reDecOrg="")
            else:
                reason = require_str(body, "remExcpres")
                _check_pairing(str(record["speCause"]), reason)
                record.update(isMove="1", remExcpres=reason, remExcpresCN=REM_EXCPRES[reason][0])
                record.update(remDate=today, reDecOrg=record["decOrg"])
        else:
            key = (require_str(body, "penDecNo"), require_str(body, "judAuthCode"))
            record = self._existing(table, key)
            if restore:
                record.update(stopType="", stopDate="", pubFlag="1")
            else:
                record.update(stopType="1", stopDate=today, pubFlag="0")
        changed = self._put(table, record)
        return json_response({"changed": changed, "record": {"table": table, **record}})

    async def admin_audit(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        key = (require_str(body, "penDecNo"), require_str(body, "judAuthCode"))
        self._existing("otherpunish", key)
        approve = body.get("approve", True)
        opinion = body.get("auditOpin", "")
        if not isinstance(approve, bool) or not isinstance(opinion, str):
            raise AdminError(400, "invalid_value", "approve is a boolean, auditOpin a string", "approve")
        record, changed = self._audit(key, approve=approve, opinion=opinion)
        return json_response({"changed": changed, "record": {"table": "otherpunish", **record}})

    async def admin_get_config(self, _request: web.Request) -> web.Response:
        return json_response({"auto_audit": self.auto_audit})

    async def admin_set_config(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        for name, value in body.items():
            if name != "auto_audit":
                raise AdminError(400, "invalid_value", f"unknown setting {name}", name)
            if not isinstance(value, bool):
                raise AdminError(400, "invalid_value", "auto_audit must be a boolean", name)
            self.auto_audit = value
        return json_response({"auto_audit": self.auto_audit})

    async def admin_stats(self, _request: web.Request) -> web.Response:
        return json_response(self.stats.to_json(self.faults))

    async def admin_reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return json_response({"reset": True, "records": len(self.store)})

    def _existing(self, table: str, key: Key) -> dict[str, Any]:
        record = self.store.get(table, key)
        if record is None:
            raise AdminError(404, "not_found", f"no {table} record with this business key", "penDecNo")
        return record


SIMULATOR = web.AppKey("gsxt_gansu", GsxtSimulator)


def create_app(config: GsxtConfig | None = None) -> web.Application:
    """The aiohttp application of a fresh GSXT（甘肃） simulator (seed data loaded)."""
    simulator = GsxtSimulator(config or GsxtConfig())
    post = {
        "/api/otherpunish/save": simulator.otherpunish_save,
        f"/api/{collected.TABLE}/save": simulator.othersxmd_save,
        "/api/changes": simulator.changes,
        "/api/records": simulator.records,
        "/admin/load": simulator.admin_load,
        "/admin/repair": simulator.admin_repair,
        "/admin/audit": simulator.admin_audit,
        "/admin/config": simulator.admin_set_config,
        "/admin/reset": simulator.admin_reset,
    }
    get = {
        "/admin/records": simulator.admin_records,
        "/admin/config": simulator.admin_get_config,
        "/admin/stats": simulator.admin_stats,
    }
    return assemble(simulator, SIMULATOR, post=post, get=get)


def _ok(data: dict[str, Any]) -> dict[str, Any]:
    return {"result": 1, "msg": "ok", "data": data}


def _content(record: dict[str, Any]) -> dict[str, Any]:
    """The content fields a client sent, amounts as numbers."""
    content: dict[str, Any] = {}
    for name in CONTENT_FIELDS:
        if name not in record or (name == "priPID" and not record[name]):
            continue  # an absent priPID is GSXT's to fill in, never to blank out
        value = record[name]
        content[name] = amount(value) if name in AMOUNT_FIELDS else (value or "")
    return content


def _apply_client_write(existing: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """An update of a held record: content overwritten, state changes applied at once."""
    updated = dict(existing)
    updated.update(_content(record))
    if "stopType" in record:
        stop_type = record["stopType"] or ""
        updated.update(stopType=stop_type, stopDate=(record.get("stopDate") or "") if stop_type else "")
        if stop_type:
            updated["pubFlag"] = "0"
    if record.get("pubFlag") == "0":
        updated["pubFlag"] = "0"
    elif record.get("pubFlag") == "1" and updated["auditState"] == "1":
        # Publishing again ends any stop; an unaudited record waits for the audit instead.
        updated.update(pubFlag="1", stopType="", stopDate="")
    return updated


def _table(body: dict[str, Any]) -> str:
    table = body.get("table")
    if table not in TABLES:
        raise AdminError(400, "invalid_value", f"table must be one of {', '.join(TABLES)}", "table")
    assert isinstance(table, str)
    return table


def _serious_repaired(record: dict[str, Any], body: dict[str, Any], today: date, *, restore: bool) -> dict[str, Any]:
    """An operator's removal (or restoration) of a 严重违法失信名单 entry; the row is kept."""
    if restore:
        record.update(isMove="0", remType="", remDate="", remExcpresRea="", reDecOrg="")
        return record
    rem_type = require_str(body, "remType")
    if rem_type not in serious.REM_TYPES:
        raise AdminError(400, "invalid_value", "remType must be 1-4", "remType")
    if record["isMove"] != "0":
        raise AdminError(409, "not_listed", "the entry is not on the list", "penDecNo")
    listed = date.fromisoformat(str(record["abnTime"]))
    earliest = serious.earliest_removal(listed, rem_type)
    if today < earliest:
        message = f"remType {rem_type} is possible from {earliest.isoformat()} (listed {listed.isoformat()})"
        raise AdminError(409, "too_early", message, "remType")
    reason = body.get("remExcpresRea") or serious.REM_TYPES[rem_type][0]
    if not isinstance(reason, str):
        raise AdminError(400, "invalid_value", "remExcpresRea must be a string", "remExcpresRea")
    record.update(isMove="1", remType=rem_type, remDate=today.strftime(DASH_DATE), remExcpresRea=reason)
    record["reDecOrg"] = record["decOrg"]
    return record


def _collected_repaired(record: dict[str, Any], body: dict[str, Any], today: str, *, restore: bool) -> dict[str, Any]:
    """An operator's removal (or restoration) of a collected listing, as its department would send it."""
    if restore:
        record.update(isMove="0", remType="", remDate="")
        return record
    rem_type = require_str(body, "remType")
    if rem_type not in collected.REM_TYPES:
        raise AdminError(400, "invalid_value", f"remType must be one of {', '.join(collected.REM_TYPES)}", "remType")
    record.update(isMove="1", remType=rem_type, remDate=today)
    return record


def _check_pairing(spe_cause: str, reason: str) -> None:
    if reason not in REM_EXCPRES:
        raise AdminError(400, "invalid_value", "remExcpres must be 1-7", "remExcpres")
    if not removal_pairs(spe_cause, reason):
        message = f"remExcpres {reason} {REM_EXCPRES[reason][0]} cannot end a listing with speCause {spe_cause}"
        raise AdminError(400, "invalid_pairing", message, "remExcpres")


__all__ = ["SIMULATOR", "GsxtConfig", "GsxtSimulator", "create_app"]
