"""重大税收违法失信主体 (tax list) simulator: SOAP 1.1 with a WS-Security UsernameToken, rows by update
time and row offset; a removal keeps the row and sets `remove_tm` (docs/protocols.md §7)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aiohttp import web
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from simulators.clock import BEIJING, Clock, SystemClock
from simulators.faults import DEFAULT_FAULT_SEED
from simulators.lists.base import Record, Removal, add_years, malformed_date, missing_field
from simulators.lists.http import HttpListSimulator, build_app
from simulators.tax.fixtures import TAX_ROWS

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NS = "http://ws.zdsswf.gansu.chinatax/"
FIELDS = (
    "xh", "tax_nm", "tax_no", "org_no", "reg_addr", "legal_repre", "legal_repre_gender", "legal_repre_id",
    "main_illg_fact", "tax_punnish_state", "punish_basis", "case_nature", "qdwsh", "swjg_mc", "entry_tm",
    "remove_tm", "gxsj",
)  # fmt: skip
PUBLICATION_YEARS = 3
# FHDM answer codes.
OK, AUTH_FAILED, BAD_PARAMETER, BAD_REQUEST, BUSY = "0000", "1001", "2001", "3001", "9999"
_DAY = re.compile(r"\d{8}")
_STAMP = re.compile(r"\d{14}")
# 隐去出生年月日号码段: area code (6), eight stars, sequence and check (4).
_MASKED_ID = re.compile(r"\d{6}\*{8}\d{3}[\dXx]")


def tax_day(day: date) -> str:
    return day.strftime("%Y%m%d")


def parse_tax_day(text: str) -> date | None:
    if not _DAY.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def parse_tax_stamp(text: str) -> datetime | None:
    if not _STAMP.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None


class TaxDialect:
    name = "tax"
    key_fields = ("tax_no", "qdwsh")
    fields = FIELDS
    stamp_field = "gxsj"
    early_min_months = 0  # early stop on paying in full, no minimum time

    def seed(self) -> list[Record]:
        return [dict(row) for row in TAX_ROWS]

    def problem(self, record: Any) -> tuple[str, str] | None:
        if found := missing_field(record, ("xh", "tax_nm", "tax_no", "qdwsh", "swjg_mc", "entry_tm")):
            return found
        if not record["xh"].isdigit():
            return "xh", "xh must be digits"
        if found := malformed_date(record, ("entry_tm", "remove_tm"), parse_tax_day, "yyyyMMdd"):
            return found
        if record.get("gxsj") and parse_tax_stamp(record["gxsj"]) is None:
            return "gxsj", "gxsj must be yyyyMMddHHmmss"
        identity = record.get("legal_repre_id") or ""
        if identity and not _MASKED_ID.fullmatch(identity):
            return "legal_repre_id", "legal_repre_id is published with the birth date masked (620102********1234)"
        return None

    def is_published(self, record: Any) -> bool:
        return not record.get("remove_tm")

    def listed_on(self, record: Any) -> date:
        listed = parse_tax_day(record["entry_tm"])
        assert listed is not None
        return listed

    def expires_on(self, record: Any) -> date:
        return add_years(self.listed_on(record), PUBLICATION_YEARS)

    def removed(self, record: Record, removal: Removal) -> Record | None:
        # The bureau's table has no reason column: an early stop and the end of publication look alike.
        record["remove_tm"] = tax_day(removal.on)
        return record

    def restored(self, record: Record) -> Record:
        record["remove_tm"] = ""
        return record

    def stamp(self, now: datetime) -> str:
        return now.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


@dataclass(kw_only=True)
class TaxConfig:
    credentials: dict[str, str] = field(default_factory=lambda: {"creditgw": "tax-secret"})
    max_rows: int = 200
    clock: Clock = field(default_factory=SystemClock)
    fault_seed: int = DEFAULT_FAULT_SEED


class TaxFault(Exception):
    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class TaxSimulator(HttpListSimulator):
    expiry_reason = ""  # the bureau records no reason

    def __init__(self, config: TaxConfig) -> None:
        self.config = config
        super().__init__(TaxDialect(), config.clock, config.fault_seed)

    async def service(self, request: web.Request) -> web.Response:
        operation = "queryZdsswfxx"
        try:
            root = _parse(await request.read())
            operation = _operation(root)
            if operation != "queryZdsswfxx":
                raise TaxFault(BAD_REQUEST, f"unknown operation {operation}")
            self._authenticate(root)
            params = {_local(child.tag): (child.text or "").strip() for child in _body(root)[0]}
            head, rows = self._query(params)
        except TaxFault as fault:
            self.stats.request(operation, fault.code)
            return _answer(operation, _data(fault.code, fault.message, field=fault.field))
        self.stats.request(operation, OK)
        return _answer(operation, _data(OK, "成功", total=head, rows=rows))

    def _authenticate(self, root: ET.Element) -> None:
        username = password = None
        for element in root.iter():
            if _local(element.tag) == "Username":
                username = (element.text or "").strip()
            elif _local(element.tag) == "Password":
                password = (element.text or "").strip()
        if not username or self.config.credentials.get(username) != password:
            raise TaxFault(AUTH_FAILED, "用户名或密码错误（WS-Security UsernameToken）")

    def _query(self, params: dict[str, str]) -> tuple[int, list[Record]]:
        since_text = params.get("gxsjq", "")
        since = parse_tax_stamp(since_text) if since_text else None
        if since_text and since is None:
            raise TaxFault(BAD_PARAMETER, "gxsjq 格式应为 yyyyMMddHHmmss", "gxsjq")
        state = params.get("zt", "")
        if state not in ("", "1", "2"):
            raise TaxFault(BAD_PARAMETER, "zt 应为 1（公布中）、2（已撤出）或空", "zt")
        start = _positive(params.get("ksh", "1"), "ksh")
        count = _positive(params.get("hs", "100"), "hs")
        if count > self.config.max_rows:
            raise TaxFault(BAD_PARAMETER, f"hs 不能超过 {self.config.max_rows}", "hs")
        rows = [
            row
            for row in self.book.current()
            if (since is None or row["gxsj"] >= since_text)
            and (state == "" or (state == "1") == self.book.dialect.is_published(row))
        ]
        rows.sort(key=lambda row: (row["gxsj"], int(row["xh"])))
        page = rows[start - 1 : start - 1 + count]
        if page and self.faults.duplicate_page():
            page = page + page
        return len(rows), self.faults.maybe_shuffle(page)

    async def busy_response(self, request: web.Request) -> web.StreamResponse:
        return _answer("queryZdsswfxx", _data(BUSY, "系统繁忙"))

    async def operation_of(self, request: web.Request) -> str:
        return "queryZdsswfxx"


def _positive(text: str, name: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise TaxFault(BAD_PARAMETER, f"{name} 应为正整数", name)
    return int(text)


def _parse(data: bytes) -> ET.Element:
    try:
        root: ET.Element = SafeET.fromstring(data)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise TaxFault(BAD_REQUEST, f"XML 格式错误: {exc}") from exc
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise TaxFault(BAD_REQUEST, "not a SOAP 1.1 envelope")
    return root


def _body(root: ET.Element) -> ET.Element:
    body = root.find(f"{{{SOAP_NS}}}Body")
    if body is None or len(body) == 0:
        raise TaxFault(BAD_REQUEST, "soapenv:Body holds no operation")
    return body


def _operation(root: ET.Element) -> str:
    return _local(_body(root)[0].tag)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _data(code: str, message: str, *, field: str = "", total: int = 0, rows: list[Record] | None = None) -> ET.Element:
    data = ET.Element("DATA")
    head = ET.SubElement(data, "HEAD")
    ET.SubElement(head, "FHDM").text = code
    ET.SubElement(head, "FHXX").text = message
    if field:
        ET.SubElement(head, "CWZD").text = field
    ET.SubElement(head, "ZHS").text = str(total)
    body = ET.SubElement(data, "BODY")
    for row in rows or []:
        element = ET.SubElement(body, "ROW")
        for name in FIELDS:
            ET.SubElement(element, name).text = str(row.get(name) or "")
    return data


def _answer(operation: str, document: ET.Element) -> web.Response:
    inner = ET.tostring(document, encoding="unicode")
    cdata = "<![CDATA[" + inner.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
        f'<ns:{operation}Response xmlns:ns="{SERVICE_NS}"><return>{cdata}</return>'
        f"</ns:{operation}Response></soapenv:Body></soapenv:Envelope>"
    )
    return web.Response(body=text.encode(), content_type="text/xml", charset="utf-8")


SIMULATOR = web.AppKey("tax", TaxSimulator)


def create_app(config: TaxConfig | None = None) -> web.Application:
    """The aiohttp application of a fresh tax-list simulator (seed rows loaded)."""
    simulator = TaxSimulator(config or TaxConfig())
    return build_app(simulator, SIMULATOR, post={"/ws/ZdsswfService": simulator.service})


__all__ = ["SIMULATOR", "TaxConfig", "TaxSimulator", "create_app"]
