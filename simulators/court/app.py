"""失信被执行人 (court list) simulator: bearer-token JSON API, full listing by page, versioned change
feed in which a removal is a DELETE (docs/protocols.md §6)."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from simulators.admin import AdminError, json_response
from simulators.clock import Clock, SystemClock
from simulators.court.fixtures import COURT_ROWS
from simulators.faults import DEFAULT_FAULT_SEED
from simulators.lists.base import EXPIRY, Record, Removal, add_years, malformed_date, missing_field
from simulators.lists.http import HttpListSimulator, build_app

FIELDS = (
    "dishonest_id", "fydm", "executed_nm", "executed_nature", "gen", "age", "identi_id", "uni_social_crd_cd",
    "legal_repre", "executed_court", "exe_area", "enforce_basis", "deci_executed_unit", "fil_dt", "case_no",
    "effect_doc_obli", "executed_perfor", "performed_part", "un_performed_part", "dishonest_behav", "publish_dt",
)  # fmt: skip
NATURES = ("自然人", "法人或其他组织")
# 删除原因 (deleteReason) codes; "7" is the end of the listing period.
DELETE_REASONS = {
    "1": "已全部履行",
    "2": "执行和解协议已履行完毕",
    "3": "人民法院裁定终结执行",
    "4": "申请执行人书面申请删除",
    "5": "终结本次执行程序后两次查询无财产",
    "6": "裁定中止执行或不予执行",
    "7": "失信期限届满",
}
LISTING_YEARS = 2
_COURT_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")  # yyyy-M-d, no zero padding
_MASKED_ID = re.compile(r"[0-9]{2,6}\*{8,16}[0-9Xx]{0,4}")

# Answer codes.
OK, BAD_REQUEST, UNAUTHORIZED, BUSY = 0, 40001, 40101, 50301


def court_date(day: date) -> str:
    return f"{day.year}-{day.month}-{day.day}"


def parse_court_date(text: str) -> date | None:
    match = _COURT_DATE.fullmatch(text)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


class CourtDialect:
    name = "court"
    key_fields = ("case_no", "executed_court")
    fields = FIELDS
    stamp_field = ""  # the court's feed is versioned, rows carry no update time
    early_min_months = 0

    def seed(self) -> list[Record]:
        return [dict(row) for row in COURT_ROWS]

    def problem(self, record: Any) -> tuple[str, str] | None:
        if found := missing_field(
            record, ("dishonest_id", "executed_nm", "executed_nature", "executed_court", "case_no", "publish_dt")
        ):
            return found
        if record["executed_nature"] not in NATURES:
            return "executed_nature", "executed_nature must be 自然人 or 法人或其他组织"
        if found := malformed_date(record, ("fil_dt", "publish_dt"), parse_court_date, "yyyy-M-d"):
            return found
        identity = record.get("identi_id") or ""
        if record["executed_nature"] == "自然人" and not _MASKED_ID.fullmatch(identity):
            # The court publishes a natural person's ID number only masked.
            return "identi_id", "a natural person's identi_id must be masked (e.g. 6201**********1234)"
        return None

    def is_published(self, record: Any) -> bool:
        return True  # the court deletes what it no longer publishes

    def listed_on(self, record: Any) -> date:
        listed = parse_court_date(record["publish_dt"])
        assert listed is not None
        return listed

    def expires_on(self, record: Any) -> date:
        return add_years(self.listed_on(record), LISTING_YEARS)

    def removed(self, record: Record, removal: Removal) -> Record | None:
        if removal.reason and removal.reason not in DELETE_REASONS:
            raise AdminError(400, "invalid_value", "reason must be a 删除原因 code 1-7 (or empty)", "reason")
        return None

    def restored(self, record: Record) -> Record:
        return record

    def stamp(self, now: datetime) -> str:
        return ""


@dataclass(kw_only=True)
class CourtConfig:
    client_id: str = "creditgw"
    client_secret: str = "court-secret"
    token_ttl_s: float = 7200.0
    max_page_size: int = 100
    clock: Clock = field(default_factory=SystemClock)
    fault_seed: int = DEFAULT_FAULT_SEED


class CourtSimulator(HttpListSimulator):
    expiry_reason = "7"

    def __init__(self, config: CourtConfig) -> None:
        self.config = config
        self._tokens: dict[str, datetime] = {}
        super().__init__(CourtDialect(), config.clock, config.fault_seed)

    def on_reset(self) -> None:
        self._tokens.clear()

    # --- API ----------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return self._answer("auth/token", 400, BAD_REQUEST, "body must be a JSON object", "body")
        if body.get("clientId") != self.config.client_id or body.get("clientSecret") != self.config.client_secret:
            return self._answer("auth/token", 401, UNAUTHORIZED, "clientId or clientSecret is wrong")
        token = secrets.token_hex(16)
        self._tokens[token] = self.clock.now() + timedelta(seconds=self.config.token_ttl_s)
        data = {"accessToken": token, "expiresIn": int(self.config.token_ttl_s)}
        return self._answer("auth/token", 200, OK, "success", data=data)

    async def page(self, request: web.Request) -> web.Response:
        operation = "sxbzxr/page"
        refused = self._unauthorized(request, operation)
        if refused is not None:
            return refused
        page_num = _int_param(request, "pageNum", 1)
        page_size = _int_param(request, "pageSize", 20)
        if page_num is None or page_num < 1:
            return self._answer(operation, 400, BAD_REQUEST, "pageNum must be an integer >= 1", "pageNum")
        limit = self.config.max_page_size
        if page_size is None or not 1 <= page_size <= limit:
            return self._answer(operation, 400, BAD_REQUEST, f"pageSize must be 1-{limit}", "pageSize")
        rows = sorted(self.book.current(), key=lambda row: int(row["dishonest_id"]))
        shown = rows[(page_num - 1) * page_size : page_num * page_size]
        data: dict[str, Any] = {"total": len(rows), "pageNum": page_num, "pageSize": page_size, "list": shown}
        if shown and self.faults.duplicate_page():
            data["list"] = shown + shown  # the court's paging repeats a page's rows
        data["list"] = self.faults.maybe_shuffle(data["list"])
        return self._answer(operation, 200, OK, "success", data=data)

    async def changes(self, request: web.Request) -> web.Response:
        operation = "sxbzxr/changes"
        refused = self._unauthorized(request, operation)
        if refused is not None:
            return refused
        after = _int_param(request, "fromVersion", 0)
        limit = _int_param(request, "limit", 20)
        if after is None or after < 0:
            return self._answer(operation, 400, BAD_REQUEST, "fromVersion must be an integer >= 0", "fromVersion")
        if limit is None or not 1 <= limit <= self.config.max_page_size:
            message = f"limit must be 1-{self.config.max_page_size}"
            return self._answer(operation, 400, BAD_REQUEST, message, "limit")
        picked = self.book.changes[after : after + limit]  # version n sits at index n - 1
        items = [_change_json(change.seq, change.action, change.record, change.removal) for change in picked]
        latest = picked[-1].seq if picked else after
        data = {
            "changes": self.faults.maybe_shuffle(items),
            "latestVersion": latest,
            "hasMore": latest < len(self.book.changes),
        }
        return self._answer(operation, 200, OK, "success", data=data)

    def _unauthorized(self, request: web.Request, operation: str) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        expires = self._tokens.get(token)
        if expires is None or expires <= self.clock.now():
            return self._answer(operation, 401, UNAUTHORIZED, "access token missing, unknown or expired")
        return None

    def _answer(
        self, operation: str, status: int, code: int, msg: str, field: str = "", data: Any = None
    ) -> web.Response:
        body: dict[str, Any] = {"code": code, "msg": msg}
        if field:
            body["field"] = field
        if data is not None:
            body["data"] = data
        self.stats.request(operation, str(code))
        return json_response(body, status=status)

    async def busy_response(self, request: web.Request) -> web.StreamResponse:
        return json_response({"code": BUSY, "msg": "系统繁忙，请稍后再试"})

    async def operation_of(self, request: web.Request) -> str:
        return request.path.removeprefix("/api/v1/")


def _change_json(version: int, action: str, record: Record, removal: Removal | None) -> dict[str, Any]:
    verb = {"add": "PUBLISH", "update": "UPDATE", "delete": "DELETE"}[action]
    item: dict[str, Any] = {"version": version, "action": verb, "record": dict(record)}
    if removal is not None:
        item["deleteDate"] = court_date(removal.on)
        # A court may delete without recording why: the reason is then null, never "".
        item["deleteReason"] = removal.reason or None
        item["expired"] = removal.kind == EXPIRY
    return item


def _int_param(request: web.Request, name: str, default: int) -> int | None:
    text = request.query.get(name)
    if text is None:
        return default
    return int(text) if text.isascii() and text.isdigit() else None


SIMULATOR = web.AppKey("court", CourtSimulator)


def create_app(config: CourtConfig | None = None) -> web.Application:
    """The aiohttp application of a fresh court-list simulator (seed rows loaded)."""
    simulator = CourtSimulator(config or CourtConfig())
    post = {"/api/v1/auth/token": simulator.token}
    get = {"/api/v1/sxbzxr/page": simulator.page, "/api/v1/sxbzxr/changes": simulator.changes}
    return build_app(simulator, SIMULATOR, post=post, get=get)


__all__ = ["DELETE_REASONS", "SIMULATOR", "CourtConfig", "CourtSimulator", "create_app"]
