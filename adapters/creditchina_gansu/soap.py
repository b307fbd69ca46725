"""SOAP 1.1 envelopes and `<ROWDATA>` documents of 信用中国（甘肃） (docs/protocols.md §1).

Requests are built with ElementTree, which escapes every value (a 文号 or a name may hold `<` or
`&`); answers are parsed with defusedxml, which refuses DTDs and entity expansion (billion laughs,
external entities) in what a remote system sends us.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NS = "http://ws.sgs.creditchina.gansu/"


class MalformedAnswer(ValueError):
    """The answer is not the SOAP envelope / result document the protocol describes."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Result:
    """The `<result>` document inside `<return>`; `rows` only for queryChangedRows."""

    code: str
    msg: str = ""
    line: str = ""
    field: str = ""
    # the other scalar children: token, expiresIn, total, pageNo, …
    values: Mapping[str, str] = dataclasses.field(default_factory=dict)
    rows: tuple[Mapping[str, str], ...] = ()
    document: str = ""  # the result document's text, for error excerpts


def envelope(operation: str, params: Sequence[tuple[str, str]]) -> bytes:
    """`<soapenv:Envelope><soapenv:Body><ws:{operation}>` with one child element per parameter.

    The prefixes are written literally (ElementTree would invent ns0/ns1): tag names are our own
    constants, values go in as text and are escaped by the serialiser.
    """
    root = ET.Element("soapenv:Envelope", {"xmlns:soapenv": SOAP_NS})
    body = ET.SubElement(root, "soapenv:Body")
    call = ET.SubElement(body, f"ws:{operation}", {"xmlns:ws": SERVICE_NS})
    for name, value in params:
        ET.SubElement(call, name).text = value
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def rowdata(rows: Iterable[Mapping[str, str]]) -> str:
    """`<ROWDATA><ROW><COLUMN>value</COLUMN>…</ROW>…</ROWDATA>` as text (sent as the `xml` param)."""
    root = ET.Element("ROWDATA")
    for row in rows:
        row_element = ET.SubElement(root, "ROW")
        for column, value in row.items():
            ET.SubElement(row_element, column).text = value
    return ET.tostring(root, encoding="unicode")


def parse_answer(body: bytes) -> Result:
    """The result document of a SOAP answer; MalformedAnswer when it is not one."""
    envelope_element = _parse(body)
    soap_body = _child(envelope_element, "Body")
    if soap_body is None or len(soap_body) == 0:
        raise MalformedAnswer("no soapenv:Body in the answer")
    response = soap_body[0]
    if _local(response.tag) == "Fault":
        raise MalformedAnswer(f"SOAP fault: {response.findtext('faultstring', '').strip()}")
    returned = _child(response, "return")
    if returned is None or not (returned.text or "").strip():
        raise MalformedAnswer(f"no <return> in {_local(response.tag)}")
    return parse_result(returned.text or "")


def parse_result(document: str) -> Result:
    root = _parse(document.encode("utf-8"))
    if _local(root.tag) != "result":
        raise MalformedAnswer(f"expected <result>, got <{_local(root.tag)}>")
    values: dict[str, str] = {}
    rows: list[dict[str, str]] = []
    for child in root:
        name = _local(child.tag)
        if name == "ROWDATA":
            rows.extend(_row(row) for row in child if _local(row.tag) == "ROW")
        else:
            values[name] = (child.text or "").strip()
    code = values.pop("code", "")
    if not code:
        raise MalformedAnswer("<result> without <code>")
    return Result(
        code=code,
        msg=values.pop("msg", ""),
        line=values.pop("line", ""),
        field=values.pop("field", ""),
        values=values,
        rows=tuple(rows),
        document=document,
    )


def _row(element: ET.Element) -> dict[str, str]:
    return {_local(column.tag): (column.text or "").strip() for column in element}


def _parse(data: bytes) -> ET.Element:
    try:
        root: ET.Element = SafeET.fromstring(data)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise MalformedAnswer(f"XML not well-formed: {exc}") from exc
    return root


def _child(element: ET.Element, local_name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == local_name:
            return child
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
