"""重大税收违法失信主体 adapter (省税务局): SOAP 1.1 with a WS-Security UsernameToken
(docs/protocols.md §7).

- One operation, `queryZdsswfxx`: rows with `gxsj` at or after `gxsjq` (inclusive, whole
  seconds), both states (`zt` empty), ordered by (`gxsj`, `xh`), paged by `ksh` (1-based first row)
  and `hs`. The change feed and the listing are both read through `StampedFeed`
  (adapters/stamped_feed.py): rows sharing a `gxsj` across a page boundary are neither lost nor
  read twice, and a row changing twice within one second is two changes.
- `<wsse:Password>` is plain text, as the bureau's service requires: it is a secret of the
  excerpts (scrubbed) and never logged.
- `FHDM`: `0000` ok, `1001` authentication (permanent: fix the settings), `2001` bad parameter and
  `3001` malformed request (permanent: a defect of this adapter), `9999` busy (retryable).
- A removal keeps the row with `remove_tm` set; the mapping reads it. The gateway only reads this
  list: `write` refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

import structlog
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from adapters.http import HttpClient, HttpResponse, InCallRetry
from adapters.stamped_feed import StampedFeed, StampedFeedAdapter, stamp_text
from gateway.domain.beijing import BEIJING
from gateway.domain.retry import DeliveryError, PermanentError, RetryableError

SERVICE_PATH = "/ws/ZdsswfService"
OPERATION = "queryZdsswfxx"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NS = "http://ws.zdsswf.gansu.chinatax/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
KIND = "zdsswf"  # the one row kind
STAMP_FIELD = "gxsj"  # 更新时间, yyyyMMddHHmmss Beijing: the protocol's paging field
MAX_ROWS = 200  # protocol limit of hs
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"

OK, AUTH_FAILED, BAD_PARAMETER, MALFORMED, BUSY = "0000", "1001", "2001", "3001", "9999"
FHDM_CLASSES: Mapping[str, type[DeliveryError]] = {
    AUTH_FAILED: PermanentError,
    BAD_PARAMETER: PermanentError,
    MALFORMED: PermanentError,
    BUSY: RetryableError,
}

log = structlog.get_logger(__name__)


def envelope(username: str, password: str, params: Sequence[tuple[str, str]]) -> bytes:
    """A SOAP 1.1 request of queryZdsswfxx with a UsernameToken header; values escaped."""
    fields = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in params)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:ws="{SERVICE_NS}">'
        "<soapenv:Header>"
        f'<wsse:Security xmlns:wsse="{WSSE_NS}" soapenv:mustUnderstand="1"><wsse:UsernameToken>'
        f"<wsse:Username>{escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_TYPE}">{escape(password)}</wsse:Password>'
        "</wsse:UsernameToken></wsse:Security>"
        "</soapenv:Header>"
        f"<soapenv:Body><ws:{OPERATION}>{fields}</ws:{OPERATION}></soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def parse_answer(body: bytes) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(HEAD values, ROWs) of an answer: the `<return>` element holds the DATA document as text
    (CDATA). ValueError when either layer is not that."""
    try:
        outer: Element = SafeET.fromstring(body)
    except (ParseError, DefusedXmlException) as exc:
        raise ValueError(f"answer is not XML: {exc}") from exc
    returned = next((e for e in outer.iter() if e.tag.rsplit("}", 1)[-1] == "return"), None)
    if returned is None or not (returned.text or "").strip():
        raise ValueError("answer without <return>")
    try:
        data: Element = SafeET.fromstring((returned.text or "").strip())
    except (ParseError, DefusedXmlException) as exc:
        raise ValueError(f"<return> is not a DATA document: {exc}") from exc
    head = data.find("HEAD")
    if data.tag != "DATA" or head is None:
        raise ValueError("<return> without DATA/HEAD")
    values = {child.tag: (child.text or "").strip() for child in head}
    rows = [{child.tag: (child.text or "") for child in row} for row in data.iter("ROW")]
    return values, rows


def parse_stamp(raw: Any) -> datetime:
    """`gxsj` (yyyyMMddHHmmss, Beijing) as an aware datetime; ValueError when malformed."""
    value = str(raw or "").strip()
    if len(value) != 14 or not value.isdigit():
        raise ValueError(f"{STAMP_FIELD}: not yyyyMMddHHmmss: {value!r}")
    return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)


class TaxAdapter(StampedFeedAdapter):
    system = "tax"
    kind = KIND
    decider = "the tax bureau"

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        key_fields: Sequence[str],
        timeout: float = 10.0,
        page_size: int = 200,
        retry: InCallRetry | None = None,
        secret_fields: Sequence[str] = (),
    ) -> None:
        # key_fields: the list's business key columns (the mapping's data, given by the connector).
        self._key_fields = tuple(key_fields)
        self._username = username
        self._password = password
        self._page_size = max(1, min(page_size, MAX_ROWS))
        self._http = HttpClient(
            system=self.system, base_url=base_url, timeout=timeout, retry=retry, secret_fields=secret_fields
        )
        self._http.add_secret(password)
        self._log = log.bind(system=self.system)
        self._feed = StampedFeed(
            kind=KIND,
            query=self._query,
            key_of=self._key_of,
            stamp_of=lambda row: parse_stamp(row.get(STAMP_FIELD)),
            on_unusable=lambda reason: self._log.error("row_unusable", reason=reason),
        )

    async def close(self) -> None:
        await self._http.close()

    def _key_of(self, row: Mapping[str, Any]) -> str:
        parts = [str(row.get(name) or "") for name in self._key_fields]
        if not all(parts):
            raise ValueError(f"row without its key ({', '.join(self._key_fields)})")
        return "|".join(parts)

    async def _query(self, since: datetime | None, offset: int, size: int) -> tuple[list[Mapping[str, Any]], int]:
        params = [
            ("gxsjq", stamp_text(since) if since is not None else ""),
            ("zt", ""),
            ("ksh", str(offset + 1)),
            ("hs", str(size)),
        ]

        async def attempt() -> tuple[list[Mapping[str, Any]], int]:
            body = envelope(self._username, self._password, params)
            response = await self._http.post(SERVICE_PATH, data=body, content_type=SOAP_CONTENT_TYPE)
            return self._rows_of(response)

        return await self._http.with_retries(attempt, name=OPERATION)

    def _rows_of(self, response: HttpResponse) -> tuple[list[Mapping[str, Any]], int]:
        excerpt = self._http.excerpt(response.body)
        if not response.ok:
            raise self._http.error_for(response, path=SERVICE_PATH)
        try:
            head, rows = parse_answer(response.body)
        except ValueError as exc:
            raise RetryableError(
                f"{self.system} {OPERATION}: unreadable answer: {exc}", status=response.status, body_excerpt=excerpt
            ) from exc
        code = head.get("FHDM", "")
        if code != OK:
            field = head.get("CWZD")
            detail = f" (parameter {field})" if field else ""
            error = FHDM_CLASSES.get(code, PermanentError)
            raise error(
                f"{self.system} {OPERATION}: FHDM {code or '?'}: {head.get('FHXX', '')}{detail}",
                status=response.status,
                code=code or None,
                body_excerpt=excerpt,
            )
        total = head.get("ZHS", "")
        return list(rows), int(total) if total.isdigit() else 0


__all__ = ["KIND", "TaxAdapter", "envelope", "parse_answer"]
