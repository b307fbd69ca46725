"""SMS service of the 全省信用修复协同系统: signed JSON, idempotent by messageId (docs/protocols.md §5)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from simulators.admin import (
    AdminError,
    Stats,
    json_response,
    read_json_object,
    wants_published_only,
)
from simulators.assembly import assemble
from simulators.clock import Clock, SystemClock
from simulators.expiring import Expiring
from simulators.faults import DEFAULT_FAULT_SEED, FaultState
from simulators.formats import DASH_STAMP
from simulators.sms import signing
from simulators.sms.contacts import TEMPLATES, Contact, is_mobile, mask, placeholders, render, seed_contacts
from simulators.uscc import is_well_formed
from simulators.world import WORLD_SEED

# Answer codes (docs/protocols.md §5).
OK = "0"
BAD_SIGNATURE, BAD_TIMESTAMP, NONCE_REUSED = "1001", "1002", "1003"
INVALID = "2001"
NO_CONTACT, OPTED_OUT = "3001", "3002"
BUSY = "5001"

_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_BUSINESS_MEMBERS = frozenset({"messageId", "recipient", "templateCode", "params", "content"})
SINGLE_SEGMENT_CHARS = 70  # one SMS; longer texts go out in segments of 67 characters
SEGMENT_CHARS = 67


@dataclass(kw_only=True)
class SmsConfig:
    credentials: dict[str, str] = field(default_factory=lambda: {"creditgw": "sms-secret"})
    max_skew_s: float = 300.0
    # A client resends after a crash on its next run (daily by default): keep ids well beyond that.
    message_id_ttl_s: float = 30 * 86400.0
    max_content_chars: int = 500
    clock: Clock = field(default_factory=SystemClock)
    world_seed: int = WORLD_SEED
    fault_seed: int = DEFAULT_FAULT_SEED


class SmsError(Exception):
    """A refused call: HTTP status plus the `{"code", "msg", "field"}` body."""

    def __init__(self, code: str, msg: str, field: str = "", status: int = 200) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.field = field
        self.status = status

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.field:
            body["field"] = self.field
        return body


@dataclass(frozen=True, kw_only=True)
class Message:
    msg_id: str
    message_id: str
    app_id: str
    uscc: str
    mobile: str
    template_code: str
    params: dict[str, str]
    content: str
    segments: int
    received_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "msgId": self.msg_id,
            "messageId": self.message_id,
            "appId": self.app_id,
            "uscc": self.uscc,
            "mobile": mask(self.mobile),
            "templateCode": self.template_code,
            "params": dict(self.params),
            "content": self.content,
            "segments": self.segments,
            "receivedAt": self.received_at.strftime(DASH_STAMP),
        }


class SmsSimulator:
    """State and handlers of one simulated SMS service."""

    def __init__(self, config: SmsConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.faults = FaultState(config.fault_seed)
        self.stats = Stats()
        self.contacts: dict[str, Contact] = {}
        self.messages: list[Message] = []
        self._message_ids: Expiring[tuple[str, str], dict[str, Any]] = Expiring(
            timedelta(seconds=config.message_id_ttl_s)
        )
        # A nonce is accepted once within the signature window (twice the skew either side).
        self._nonces: Expiring[tuple[str, str], bool] = Expiring(timedelta(seconds=2 * config.max_skew_s))
        self.reset()

    def reset(self) -> None:
        """Back to the seed contacts; messages, remembered ids, nonces, faults and stats cleared."""
        self.contacts = seed_contacts(self.config.world_seed)
        self.messages.clear()
        self._message_ids.clear()
        self._nonces.clear()
        self.faults.clear()
        self.stats.clear()

    # --- API ----------------------------------------------------------------------------------

    async def send(self, request: web.Request) -> web.Response:
        operation = "sms/send"
        try:
            body = await self._signed_body(request)
            app_id = str(body["appId"])
            message_id = body.get("messageId")
            if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
                raise SmsError(INVALID, "messageId must be 1-64 characters of A-Z a-z 0-9 _ -", "messageId", 400)
            remembered = self._message_ids.get((app_id, message_id), self.clock.now())
            if remembered is not None:
                self.stats.request(operation, "replay")
                return json_response(remembered)
            answer = self._accept(app_id, message_id, body)
        except SmsError as error:
            self.stats.request(operation, error.code)
            return json_response(error.body(), status=error.status)
        # Only accepted messages are remembered: a refused one sent nothing and may be resent,
        # corrected, under the same messageId.
        self._message_ids.put((app_id, message_id), answer, self.clock.now())
        self.stats.request(operation, OK)
        return json_response(answer)

    async def _signed_body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SmsError(INVALID, "body is not JSON", "body", 400) from exc
        if not isinstance(body, dict):
            raise SmsError(INVALID, "body must be a JSON object", "body", 400)
        now = self.clock.now()
        try:
            app_id, nonce = signing.check(body, self.config.credentials, now, self.config.max_skew_s)
        except signing.Refusal as refusal:
            raise SmsError(refusal.code, refusal.message, status=401) from refusal
        if self._nonces.get((app_id, nonce), now):
            raise SmsError(NONCE_REUSED, "nonce already used", status=401)
        self._nonces.put((app_id, nonce), True, now)
        return body

    def _accept(self, app_id: str, message_id: str, body: dict[str, Any]) -> dict[str, Any]:
        for name in body:
            if name not in _BUSINESS_MEMBERS and name not in signing.AUTH_MEMBERS:
                raise SmsError(INVALID, f"unknown member {name}", name, 400)
        uscc = _recipient(body.get("recipient"))
        template_code, params, content = self._text(body)
        contact = self.contacts.get(uscc)
        if contact is None:
            raise SmsError(NO_CONTACT, "the recipient has no registered contact", "recipient.uscc")
        if contact.opted_out:
            raise SmsError(OPTED_OUT, "the recipient has opted out of these messages", "recipient.uscc")
        msg_id = f"SMS{len(self.messages) + 1:010d}"
        segments = 1 if len(content) <= SINGLE_SEGMENT_CHARS else math.ceil(len(content) / SEGMENT_CHARS)
        self.messages.append(
            Message(
                msg_id=msg_id,
                message_id=message_id,
                app_id=app_id,
                uscc=uscc,
                mobile=contact.mobile,
                template_code=template_code,
                params=params,
                content=content,
                segments=segments,
                received_at=self.clock.now(),
            )
        )
        self.stats.write(f"uscc:{uscc}")
        return {"code": OK, "msg": "ok", "msgId": msg_id, "segments": segments}

    def _text(self, body: dict[str, Any]) -> tuple[str, dict[str, str], str]:
        """(templateCode, params, text) of a message: a registered template with its params, or content."""
        has_template, has_content = "templateCode" in body, "content" in body
        if has_template == has_content:
            raise SmsError(INVALID, "send either templateCode with params, or content", "content", 400)
        if has_content:
            content = body["content"]
            if "params" in body:
                raise SmsError(INVALID, "params go with templateCode, not with content", "params", 400)
            if not isinstance(content, str) or not content.strip():
                raise SmsError(INVALID, "content must be a non-empty string", "content", 400)
            if len(content) > self.config.max_content_chars:
                raise SmsError(
                    INVALID, f"content is longer than {self.config.max_content_chars} characters", "content", 400
                )
            return "", {}, content
        code = body["templateCode"]
        template = TEMPLATES.get(code) if isinstance(code, str) else None
        if template is None:
            raise SmsError(INVALID, "templateCode is not a registered template", "templateCode", 400)
        params = body.get("params")
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            raise SmsError(INVALID, "params must be an object of strings", "params", 400)
        wanted = placeholders(template)
        for name in sorted(wanted | set(params)):
            if name not in wanted:
                raise SmsError(INVALID, f"the template has no parameter {name}", f"params.{name}", 400)
            if not params.get(name, "").strip():
                raise SmsError(INVALID, f"parameter {name} is required", f"params.{name}", 400)
        return str(code), dict(params), render(template, params)

    # --- fault hooks --------------------------------------------------------------------------

    async def busy_response(self, _request: web.Request) -> web.StreamResponse:
        return json_response(SmsError(BUSY, "system busy, retry later").body())

    async def operation_of(self, request: web.Request) -> str:
        return request.path.removeprefix("/api/")

    # --- admin --------------------------------------------------------------------------------

    async def admin_messages(self, request: web.Request) -> web.Response:
        uscc = request.query.get("uscc", "").strip().upper()
        message_id = request.query.get("messageId", "")
        shown = [
            m.to_json()
            for m in self.messages
            if (not uscc or m.uscc == uscc) and (not message_id or m.message_id == message_id)
        ]
        return json_response({"messages": shown})

    async def admin_records(self, request: web.Request) -> web.Response:
        """The contact registry (the records this system holds); `published=1`: only reachable ones."""
        reachable = wants_published_only(request)
        shown = [c.to_json() for c in self.contacts.values() if not (reachable and c.opted_out)]
        return json_response({"records": shown})

    async def admin_contacts(self, request: web.Request) -> web.Response:
        """Register, change or remove contacts: `{"contacts": [{"uscc", "mobile", "name", "optedOut"}]}`
        (`"remove": true` forgets one)."""
        body = await read_json_object(request)
        entries = body.get("contacts")
        if not isinstance(entries, list):
            raise AdminError(400, "invalid_json", "contacts must be a list", "contacts")
        changed = 0
        for index, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict):
                raise AdminError(400, "invalid_contact", f"contact {index} must be an object", "contacts")
            uscc = entry.get("uscc")
            if not isinstance(uscc, str) or not is_well_formed(uscc.strip()):
                raise AdminError(400, "invalid_contact", f"contact {index}: uscc is not well formed", "uscc")
            uscc = uscc.strip().upper()
            if entry.get("remove") is True:
                changed += self.contacts.pop(uscc, None) is not None
                continue
            known = self.contacts.get(uscc)
            mobile = entry.get("mobile", known.mobile if known else "")
            if not isinstance(mobile, str) or not is_mobile(mobile):
                raise AdminError(400, "invalid_contact", f"contact {index}: mobile must be 11 digits", "mobile")
            name = entry.get("name", known.name if known else "")
            opted_out = entry.get("optedOut", known.opted_out if known else False)
            if not isinstance(name, str) or not isinstance(opted_out, bool):
                raise AdminError(400, "invalid_contact", f"contact {index}: name is a string, optedOut a boolean")
            self.contacts[uscc] = Contact(uscc=uscc, name=name, mobile=mobile, opted_out=opted_out)
            changed += 1
        return json_response({"loaded": len(entries), "changed": changed, "contacts": len(self.contacts)})

    async def admin_stats(self, _request: web.Request) -> web.Response:
        return json_response(self.stats.to_json(self.faults))

    async def admin_reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return json_response({"reset": True, "records": len(self.contacts)})


SIMULATOR = web.AppKey("sms", SmsSimulator)


def create_app(config: SmsConfig | None = None) -> web.Application:
    """The aiohttp application of a fresh SMS service simulator (seed contacts loaded)."""
    simulator = SmsSimulator(config or SmsConfig())
    post = {
        "/api/sms/send": simulator.send,
        "/admin/contacts": simulator.admin_contacts,
        "/admin/reset": simulator.admin_reset,
    }
    get = {
        "/admin/messages": simulator.admin_messages,
        "/admin/records": simulator.admin_records,
        "/admin/stats": simulator.admin_stats,
    }
    return assemble(simulator, SIMULATOR, post=post, get=get)


def _recipient(value: Any) -> str:
    if not isinstance(value, dict) or set(value) != {"uscc"}:
        raise SmsError(INVALID, 'recipient must be {"uscc": "…"}', "recipient", 400)
    uscc = value["uscc"]
    if not isinstance(uscc, str) or not is_well_formed(uscc.strip()):
        raise SmsError(INVALID, "recipient.uscc is not a well-formed 统一社会信用代码", "recipient.uscc", 400)
    return uscc.strip().upper()


__all__ = ["SIMULATOR", "SmsConfig", "SmsSimulator", "create_app"]
