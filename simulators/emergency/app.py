"""安全生产严重失信主体 (emergency-management list) simulator: GET JSON signed with HMAC-SHA256 over
the sorted query, 0-based page index; a removal flips `zt` (docs/protocols.md §9)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from simulators.admin import json_response
from simulators.clock import BEIJING, Clock, SystemClock
from simulators.emergency.fixtures import EMERGENCY_ROWS
from simulators.faults import DEFAULT_FAULT_SEED
from simulators.lists.base import EXPIRY, Record, Removal, add_years, malformed_date, missing_field
from simulators.lists.http import HttpListSimulator, build_app

FIELDS = (
    "jlid", "dwmc", "tyshxydm", "zcdz", "ztlx", "zyfzr", "zjhm", "sxxwjk", "lryj", "cfjdswh", "rdjg", "rdjgdm",
    "lrrq", "glqxz", "zt", "ycrq", "ycyy", "gxsj",
)  # fmt: skip
SUBJECT_KINDS = {"1": "生产经营单位", "2": "安全评价检测检验机构", "3": "机构从业人员"}
# zt: 10 列入, 21 期满移出, 22 提前移出, 30 撤销提前移出、恢复列入.
LISTED, EXPIRED, REMOVED_EARLY, RESTORED = "10", "21", "22", "30"
STATES = (LISTED, EXPIRED, REMOVED_EARLY, RESTORED)
LISTING_YEARS = 3
EARLY_MIN_MONTHS = 12
_DATE = re.compile(r"\d{4}/\d{2}/\d{2}")
_MASKED_ID = re.compile(r"\d{2,6}\*{8,12}[\dXx]{0,4}")
_REQUEST_TIME = re.compile(r"\d{13}")


def emergency_date(day: date) -> str:
    return day.strftime("%Y/%m/%d")


def parse_emergency_date(text: str) -> date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, "%Y/%m/%d").date()
    except ValueError:
        return None


def sign(secret: str, params: Mapping[str, str]) -> str:
    """hex(HMAC-SHA256(secret, "k1=v1&k2=v2…")) over every query parameter but `sign`, keys sorted."""
    canonical = "&".join(f"{name}={params[name]}" for name in sorted(params) if name != "sign")
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


class EmergencyDialect:
    name = "emergency"
    key_fields = ("jlid",)
    fields = FIELDS
    stamp_field = "gxsj"
    early_min_months = EARLY_MIN_MONTHS

    def seed(self) -> list[Record]:
        return [dict(row) for row in EMERGENCY_ROWS]

    def problem(self, record: Any) -> tuple[str, str] | None:
        if found := missing_field(record, ("jlid", "dwmc", "ztlx", "cfjdswh", "rdjg", "lrrq", "glqxz", "zt")):
            return found
        if record["ztlx"] not in SUBJECT_KINDS:
            return "ztlx", "ztlx must be 1, 2 or 3"
        if record["zt"] not in STATES:
            return "zt", "zt must be 10, 21, 22 or 30"
        if found := malformed_date(record, ("lrrq", "glqxz", "ycrq"), parse_emergency_date, "yyyy/MM/dd"):
            return found
        if record["ztlx"] == "3" and not _MASKED_ID.fullmatch(record.get("zjhm") or ""):
            return "zjhm", "a person's zjhm is published masked (6204**********3317)"
        if record["ztlx"] != "3" and not record.get("tyshxydm"):
            return "tyshxydm", "tyshxydm is required for a unit"
        return None

    def is_published(self, record: Any) -> bool:
        return record.get("zt") in (LISTED, RESTORED)

    def listed_on(self, record: Any) -> date:
        listed = parse_emergency_date(record["lrrq"])
        assert listed is not None
        return listed

    def expires_on(self, record: Any) -> date:
        end = parse_emergency_date(record.get("glqxz") or "")
        # 管理期限至 is the last day on the list; without it, three years from listing.
        return end + timedelta(days=1) if end else add_years(self.listed_on(record), LISTING_YEARS)

    def removed(self, record: Record, removal: Removal) -> Record | None:
        record["zt"] = EXPIRED if removal.kind == EXPIRY else REMOVED_EARLY
        record["ycrq"] = emergency_date(removal.on)
        record["ycyy"] = removal.reason
        return record

    def restored(self, record: Record) -> Record:
        # An early removal obtained by fraud is revoked: the subject is listed again, period unchanged.
        record.update(zt=RESTORED, ycrq="", ycyy="")
        return record

    def stamp(self, now: datetime) -> str:
        return now.astimezone(BEIJING).isoformat(timespec="seconds")


@dataclass(kw_only=True)
class EmergencyConfig:
    credentials: dict[str, str] = field(default_factory=lambda: {"creditgw": "yjt-secret"})
    max_skew_s: float = 300.0
    max_page_size: int = 200
    clock: Clock = field(default_factory=SystemClock)
    fault_seed: int = DEFAULT_FAULT_SEED


class EmergencySimulator(HttpListSimulator):
    expiry_reason = "管理期限届满"

    def __init__(self, config: EmergencyConfig) -> None:
        self.config = config
        super().__init__(EmergencyDialect(), config.clock, config.fault_seed)

    async def list_subjects(self, request: web.Request) -> web.Response:
        operation = "sxzt/list"
        params = dict(request.query)
        refusal = self._signature_refusal(params)
        if refusal is not None:
            return self._error(operation, 401, "E1001", refusal)
        index = _int(params.get("pageIndex", "0"))
        size = _int(params.get("pageSize", "50"))
        if index is None:
            return self._error(operation, 400, "E2001", "pageIndex must be an integer >= 0", "pageIndex")
        if size is None or not 1 <= size <= self.config.max_page_size:
            message = f"pageSize must be 1-{self.config.max_page_size}"
            return self._error(operation, 400, "E2001", message, "pageSize")
        after_text = params.get("updatedAfter", "")
        after = _parse_compact(after_text) if after_text else None
        if after_text and after is None:
            return self._error(operation, 400, "E2001", "updatedAfter must be yyyyMMddHHmmss", "updatedAfter")
        rows = [row for row in self.book.current() if after is None or datetime.fromisoformat(row["gxsj"]) >= after]
        rows.sort(key=lambda row: (datetime.fromisoformat(row["gxsj"]), row["jlid"]))
        page = rows[index * size : (index + 1) * size]
        if page and self.faults.duplicate_page():
            page = page + page
        data = {"list": self.faults.maybe_shuffle(page), "pageIndex": index, "pageSize": size, "totalCount": len(rows)}
        self.stats.request(operation, "ok")
        return json_response({"success": True, "errorCode": None, "errorMsg": None, "data": data})

    def _signature_refusal(self, params: dict[str, str]) -> str | None:
        app_key, timestamp, signature = params.get("appKey"), params.get("timestamp"), params.get("sign")
        if not app_key or not timestamp or not signature:
            return "appKey, timestamp and sign are required"
        secret = self.config.credentials.get(app_key)
        if secret is None:
            return "unknown appKey"
        if not _REQUEST_TIME.fullmatch(timestamp):
            return "timestamp must be Unix milliseconds (13 digits)"
        skew = abs(self.clock.now().timestamp() - int(timestamp) / 1000)
        if skew > self.config.max_skew_s:
            return f"timestamp is more than {int(self.config.max_skew_s)} s away from the server clock"
        if not hmac.compare_digest(signature.lower(), sign(secret, params)):
            return "bad sign"
        return None

    def _error(self, operation: str, status: int, code: str, message: str, field: str = "") -> web.Response:
        self.stats.request(operation, code)
        body: dict[str, Any] = {"success": False, "errorCode": code, "errorMsg": message, "data": None}
        if field:
            body["errorField"] = field
        return json_response(body, status=status)

    async def busy_response(self, request: web.Request) -> web.StreamResponse:
        return json_response({"success": False, "errorCode": "E5003", "errorMsg": "服务繁忙", "data": None})

    async def operation_of(self, request: web.Request) -> str:
        return "sxzt/list"


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _parse_compact(text: str) -> datetime | None:
    if len(text) != 14 or not text.isdigit():
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None


SIMULATOR = web.AppKey("emergency", EmergencySimulator)


def create_app(config: EmergencyConfig | None = None) -> web.Application:
    """The aiohttp application of a fresh emergency-management list simulator (seed rows loaded)."""
    simulator = EmergencySimulator(config or EmergencyConfig())
    return build_app(simulator, SIMULATOR, get={"/openapi/aqsc/v1/sxzt/list": simulator.list_subjects})


__all__ = ["SIMULATOR", "EmergencyConfig", "EmergencySimulator", "create_app", "sign"]
