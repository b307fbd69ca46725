"""信用中国（甘肃） simulator: SOAP-style intake, token login, timestamp pull (docs/protocols.md §1)."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from simulators.admin import (
    AdminError,
    Stats,
    json_response,
    read_json_object,
    wants_published_only,
)
from simulators.assembly import Handler, assemble
from simulators.clock import Clock, SystemClock
from simulators.creditchina_gansu import soap
from simulators.creditchina_gansu.columns import CF_CURRENT, MD, YC, ZZYY_VALUES, RowKind, stored_kind
from simulators.creditchina_gansu.store import (
    RESTORED_STATUS,
    RowStore,
    StoredRow,
    key_label,
    key_of,
    stop_status,
)
from simulators.creditchina_gansu.validation import checksum_failures, validate_row
from simulators.faults import DEFAULT_FAULT_SEED, FaultState
from simulators.formats import parse_slash_stamp
from simulators.world import WORLD_SEED, build_world, creditchina_gansu_rows

# Result codes (docs/protocols.md §1).
OK, BAD_TOKEN, MALFORMED, INVALID_ROW, UNKNOWN_KEY, BUSY = "00", "01", "02", "03", "04", "99"

# path -> operations served there
SERVICES = {
    "/service/AuthService": ("login",),
    "/service/PenaltyWebService": ("importPenalyXml",),
    "/service/AbnormalWebService": ("importAbnormalXml",),
    "/service/RepairResultService": ("queryChangedRows", "queryRows"),
    "/service/CreditListService": ("importCreditListXml",),
}
_IMPORT_KINDS = {"importPenalyXml": CF_CURRENT, "importAbnormalXml": YC, "importCreditListXml": MD}
ROWTYPES = tuple(kind.rowtype for kind in (CF_CURRENT, YC, MD))  # queryRows lists one of them


@dataclass(kw_only=True)
class CreditChinaConfig:
    username: str = "creditgw"
    password: str = "creditgw-secret"
    token_ttl_s: float = 1800.0
    max_batch_rows: int = 100
    max_page_size: int = 500
    default_page_size: int = 100
    clock: Clock = field(default_factory=SystemClock)
    world_seed: int = WORLD_SEED
    fault_seed: int = DEFAULT_FAULT_SEED


class CreditChinaSimulator:
    """State and handlers of one simulated 信用中国（甘肃） platform."""

    def __init__(self, config: CreditChinaConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.store = RowStore()
        self.faults = FaultState(config.fault_seed)
        self.stats = Stats()
        self.tokens: dict[str, datetime] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the seed rows; statistics cleared. Issued tokens stay valid."""
        seed: list[tuple[RowKind, dict[str, str], datetime]] = []
        for row in creditchina_gansu_rows(build_world(self.config.world_seed)):
            kind = stored_kind(row["ROWTYPE"], row)
            stamp = parse_slash_stamp(row["SJC"])
            assert kind is not None and stamp is not None
            seed.append((kind, row, stamp))
        self.store.load_seed(seed)
        self.faults.clear()
        self.stats.clear()

    # --- SOAP ---------------------------------------------------------------------------------

    async def handle_soap(self, request: web.Request) -> web.Response:
        body = await request.read()
        allowed = SERVICES[request.path]
        try:
            call = soap.parse_call(body)
        except soap.MalformedXml as exc:
            return self._answer(allowed[0], soap.result(MALFORMED, str(exc), line="", field=""))
        if call.operation not in allowed:
            message = f"unknown operation {call.operation} at {request.path}"
            return self._answer(call.operation, soap.result(MALFORMED, message, line="", field=""))
        if call.operation == "login":
            document = self._login(call.params)
        elif not self._token_valid(call.params.get("TOKEN", "")):
            document = soap.result(BAD_TOKEN, "TOKEN 缺失、无效或已过期", line="", field="")
        elif call.operation == "queryChangedRows":
            document = self._query(call.params)
        elif call.operation == "queryRows":
            document = self._list(call.params)
        else:
            document = self._import(_IMPORT_KINDS[call.operation], call.params)
        return self._answer(call.operation, document)

    def _soap_response(self, operation: str, document: ET.Element) -> web.Response:
        # The platform's clock in the Date header (RFC 9110), as a real server sends its own time:
        # clients learn from it when a second of SJC stamps can no longer receive rows.
        date = format_datetime(self.clock.now().astimezone(UTC), usegmt=True)
        return web.Response(
            body=soap.envelope(operation, document),
            content_type="text/xml",
            charset="utf-8",
            headers={"Date": date},
        )

    def _answer(self, operation: str, document: ET.Element) -> web.Response:
        self.stats.request(operation, document.findtext("code", ""))
        return self._soap_response(operation, document)

    def _login(self, params: dict[str, str]) -> ET.Element:
        config = self.config
        # Constant-time comparison, as a real login would do (bytes: names may be non-ASCII).
        user_ok = secrets.compare_digest(params.get("username", "").encode(), config.username.encode())
        password_ok = secrets.compare_digest(params.get("password", "").encode(), config.password.encode())
        if not (user_ok and password_ok):
            return soap.result(BAD_TOKEN, "用户名或密码错误")
        now = self.clock.now()
        self.tokens = {token: expires for token, expires in self.tokens.items() if expires > now}
        token = secrets.token_hex(16)
        self.tokens[token] = now + timedelta(seconds=config.token_ttl_s)
        return soap.result(OK, "成功", token=token, expiresIn=str(int(config.token_ttl_s)))

    def _token_valid(self, token: str) -> bool:
        expires = self.tokens.get(token)
        return expires is not None and self.clock.now() < expires

    def _import(self, kind: RowKind, params: dict[str, str]) -> ET.Element:
        if "xml" not in params:
            return soap.result(MALFORMED, "缺少参数 xml", line="", field="")
        try:
            rows = soap.parse_rowdata(params["xml"])
        except soap.MalformedXml as exc:
            return soap.result(MALFORMED, str(exc), line="", field="")
        except soap.RowShapeError as exc:
            return soap.result(INVALID_ROW, exc.message, line=str(exc.line), field=exc.field)
        refusal = self._check_batch(kind, rows)
        if refusal is not None:
            return refusal
        # Every row is valid: apply them all (atomic, nothing awaits in between).
        now = self.clock.now()
        for row in rows:
            for column in checksum_failures(kind, row):
                self.stats.flag(f"uscc_checksum:{column}")
            stored, changed = self.store.put(kind, row, now)
            if changed:
                self.stats.write(key_label(stored.key))
        return soap.result(OK, "成功", line="", field="")

    def _check_batch(self, kind: RowKind, rows: list[dict[str, str]]) -> ET.Element | None:
        """The refusal of the whole batch (first offending row), or None."""
        limit = self.config.max_batch_rows
        if not rows:
            return soap.result(INVALID_ROW, "数据为空", line="0", field="ROWDATA")
        if len(rows) > limit:
            return soap.result(INVALID_ROW, f"每批最多 {limit} 行", line=str(limit + 1), field="ROWDATA")
        known: set[tuple[str, str, str]] = set()
        for line, row in enumerate(rows, start=1):
            error = validate_row(kind, row)
            if error is not None:
                return soap.result(INVALID_ROW, error.message, line=str(line), field=error.field)
            wsh_column = kind.key[0]
            if self.faults.rejects(row[wsh_column]):
                return soap.result(INVALID_ROW, "拒绝写入（故障注入）", line=str(line), field=wsh_column)
            key = key_of(kind, row)
            is_status_change = row.get("CF_ZT", "0") not in ("", "0") or row.get("GSZT") == "0"
            if is_status_change and key not in known and self.store.get(key) is None:
                message = "平台无此记录，无法变更状态"
                return soap.result(UNKNOWN_KEY, message, line=str(line), field=wsh_column)
            known.add(key)
        return None

    def _query(self, params: dict[str, str]) -> ET.Element:
        since = parse_slash_stamp(params.get("since", ""))
        if since is None:
            return soap.result(INVALID_ROW, "since 格式应为 yyyy/MM/dd HH:mm:ss", line="", field="since")
        page_no = _positive_int(params.get("pageNo", "1"))
        if page_no is None:
            return soap.result(INVALID_ROW, "pageNo 应为正整数", line="", field="pageNo")
        page_size = _positive_int(params.get("pageSize", str(self.config.default_page_size)))
        if page_size is None or page_size > self.config.max_page_size:
            message = f"pageSize 应为 1-{self.config.max_page_size}"
            return soap.result(INVALID_ROW, message, line="", field="pageSize")
        matching = self.store.changed_since(since)
        page = matching[(page_no - 1) * page_size : page_no * page_size]
        rendered = [row.render() for row in page]
        if self.faults.duplicate_page():
            rendered = rendered + rendered  # the page is served twice (clients must de-duplicate)
        rendered = self.faults.maybe_shuffle(rendered)
        document = soap.result(OK, "成功", total=str(len(matching)), pageNo=str(page_no))
        # <ROWDATA> goes before <msg> so the document reads code, total, pageNo, ROWDATA, msg.
        document.insert(3, soap.rowdata(rendered))
        return document

    def _list(self, params: dict[str, str]) -> ET.Element:
        rowtype = params.get("ROWTYPE", "")
        if rowtype not in ROWTYPES:
            return soap.result(INVALID_ROW, f"ROWTYPE 应为 {'、'.join(ROWTYPES)}", line="", field="ROWTYPE")
        after_text = params.get("afterId", "") or "0"
        if not after_text.isascii() or not after_text.isdigit():
            return soap.result(INVALID_ROW, "afterId 应为非负整数", line="", field="afterId")
        page_size = _positive_int(params.get("pageSize", str(self.config.default_page_size)))
        if page_size is None or page_size > self.config.max_page_size:
            message = f"pageSize 应为 1-{self.config.max_page_size}"
            return soap.result(INVALID_ROW, message, line="", field="pageSize")
        page, more = self.store.rows_after_id(rowtype, int(after_text), page_size)
        rendered = [row.render() for row in page]
        if self.faults.duplicate_page():
            rendered = rendered + rendered
        rendered = self.faults.maybe_shuffle(rendered)
        document = soap.result(OK, "成功", more="1" if more else "0")
        document.insert(2, soap.rowdata(rendered))
        return document

    # --- fault hooks --------------------------------------------------------------------------

    async def busy_response(self, request: web.Request) -> web.StreamResponse:
        operation = soap.sniff_operation(await request.read()) or SERVICES[request.path][0]
        document = soap.result(BUSY, "平台繁忙，请稍后重试", line="", field="")
        return self._soap_response(operation, document)

    async def operation_of(self, request: web.Request) -> str:
        if request.path not in SERVICES:
            return request.path
        return soap.sniff_operation(await request.read()) or SERVICES[request.path][0]

    # --- admin --------------------------------------------------------------------------------

    async def admin_load(self, request: web.Request) -> web.Response:
        if request.content_type in ("text/xml", "application/xml"):
            try:
                rows = soap.parse_rowdata((await request.read()).decode("utf-8"))
            except (soap.MalformedXml, UnicodeDecodeError) as exc:
                raise AdminError(400, "invalid_xml", str(exc)) from exc
            except soap.RowShapeError as exc:
                raise AdminError(400, "invalid_row", f"row {exc.line}: {exc.message}", exc.field) from exc
        else:
            body = await read_json_object(request)
            rows = _json_rows(body.get("rows"))
        loaded: list[tuple[RowKind, dict[str, str], datetime]] = []
        for index, row in enumerate(rows, start=1):
            loaded.append(self._admin_row(index, row))
        changed = 0
        for kind, row, stamp in loaded:
            stored, did_change = self.store.put(kind, row, stamp)
            if did_change:
                changed += 1
                self.stats.write(key_label(stored.key))
        return json_response({"loaded": len(loaded), "changed": changed})

    def _admin_row(self, index: int, row: dict[str, str]) -> tuple[RowKind, dict[str, str], datetime]:
        kind = stored_kind(row.get("ROWTYPE", ""), row)
        if kind is None:
            raise AdminError(400, "invalid_row", f"row {index}: ROWTYPE must be CF, YC or MD", "ROWTYPE")
        allowed = {*kind.columns, "CF_ZT", "GSZT", "ZZYY", "ZZRQ", "ROWTYPE", "SJC", "ID"}
        for column in row:
            if column not in allowed:
                raise AdminError(400, "invalid_row", f"row {index}: unknown column {column}", column)
        for column in kind.key:
            if not row.get(column):
                raise AdminError(400, "invalid_row", f"row {index}: {column} is required", column)
        stamp = self.clock.now()
        if row.get("SJC"):
            parsed = parse_slash_stamp(row["SJC"])
            if parsed is None:
                raise AdminError(400, "invalid_row", f"row {index}: SJC is yyyy/MM/dd HH:mm:ss", "SJC")
            stamp = parsed
        return kind, row, stamp

    async def admin_records(self, request: web.Request) -> web.Response:
        rows = self.store.all()
        if wants_published_only(request):
            rows = [row for row in rows if row.published]
        return json_response({"records": [row.render() for row in rows]})

    async def admin_repair(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        key = _repair_key(body)
        if self.store.get(key) is None:
            field = "MD_JLBH" if key[0] == "MD" else f"{key[0]}_WSH"
            raise AdminError(404, "not_found", "no row with this business key", field)
        if body.get("restore") is True:
            status = RESTORED_STATUS
        else:
            reason = body.get("ZZYY", "01")
            if reason not in ZZYY_VALUES:
                raise AdminError(400, "invalid_value", "ZZYY must be 01, 02, 03 or 04", "ZZYY")
            status = stop_status(reason, self.clock.now().date())
        stored, changed = self.store.set_status(key, status, self.clock.now())
        if changed:
            self.stats.write(key_label(stored.key))
        return json_response({"changed": changed, "record": stored.render()})

    async def admin_stats(self, _request: web.Request) -> web.Response:
        return json_response(self.stats.to_json(self.faults))

    async def admin_reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return json_response({"reset": True, "records": len(self.store)})

    async def admin_expire_tokens(self, _request: web.Request) -> web.Response:
        now = self.clock.now()
        expired = sum(1 for expires in self.tokens.values() if expires > now)
        self.tokens = dict.fromkeys(self.tokens, now)
        return json_response({"expired": expired})


SIMULATOR = web.AppKey("creditchina_gansu", CreditChinaSimulator)


def create_app(config: CreditChinaConfig | None = None) -> web.Application:
    """The aiohttp application of a fresh 信用中国（甘肃） simulator (seed data loaded)."""
    simulator = CreditChinaSimulator(config or CreditChinaConfig())
    routes: dict[str, Handler] = dict.fromkeys(SERVICES, simulator.handle_soap)
    routes.update(
        {
            "/admin/load": simulator.admin_load,
            "/admin/repair": simulator.admin_repair,
            "/admin/reset": simulator.admin_reset,
            "/admin/expire-tokens": simulator.admin_expire_tokens,
        }
    )
    get = {"/admin/records": simulator.admin_records, "/admin/stats": simulator.admin_stats}
    return assemble(simulator, SIMULATOR, post=routes, get=get)


def _repair_key(body: dict[str, Any]) -> tuple[str, str, str]:
    if "YC_WSH" in body or "YC_JDJGDM" in body:
        return ("YC", _text(body, "YC_WSH"), _text(body, "YC_JDJGDM"))
    if "MD_JLBH" in body or "MD_RDJGDM" in body:
        return ("MD", _text(body, "MD_JLBH"), _text(body, "MD_RDJGDM"))
    # Legacy rows are keyed by CF_XZJGDM; operators may name either column.
    org = body.get("CF_CFJGDM", body.get("CF_XZJGDM"))
    if not isinstance(org, str) or not org:
        raise AdminError(400, "missing_field", "CF_CFJGDM is required (non-empty string)", "CF_CFJGDM")
    return ("CF", _text(body, "CF_WSH"), org)


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise AdminError(400, "missing_field", f"{name} is required (non-empty string)", name)
    return value


def _json_rows(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise AdminError(400, "invalid_json", 'body must be {"rows": [...]} or a <ROWDATA> document', "rows")
    rows: list[dict[str, str]] = []
    for index, row in enumerate(value, start=1):
        if not isinstance(row, dict):
            raise AdminError(400, "invalid_row", f"row {index} must be an object", "rows")
        rows.append({str(k): "" if v is None else str(v) for k, v in row.items()})
    return rows


def _positive_int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


__all__ = ["SIMULATOR", "CreditChinaConfig", "CreditChinaSimulator", "StoredRow", "create_app"]
