"""SOAP 1.1 envelopes and `<ROWDATA>` documents of 信用中国（甘肃）.

Incoming XML is parsed with defusedxml (no DTDs, no entity expansion); answers are built with
ElementTree, which escapes text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NS = "http://ws.sgs.creditchina.gansu/"


class MalformedXml(ValueError):
    """Result code 02."""


class RowShapeError(ValueError):
    """A `<ROW>` whose columns cannot be read (result code 03 on `line`)."""

    def __init__(self, line: int, field: str, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SoapCall:
    operation: str
    params: dict[str, str]


def parse_call(body: bytes) -> SoapCall:
    """The operation (first child of soapenv:Body) and its parameters (child elements, as text)."""
    root = _parse(body)
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise MalformedXml("not a SOAP 1.1 envelope")
    soap_body = root.find(f"{{{SOAP_NS}}}Body")
    if soap_body is None or len(soap_body) == 0:
        raise MalformedXml("soapenv:Body holds no operation")
    operation = soap_body[0]
    params = {_local(child.tag): (child.text or "").strip() for child in operation}
    return SoapCall(operation=_local(operation.tag), params=params)


def sniff_operation(body: bytes) -> str | None:
    """Best effort, for answers that must name the operation before the call was understood."""
    try:
        return parse_call(body).operation
    except MalformedXml:
        return None


def parse_rowdata(text: str) -> list[dict[str, str]]:
    """`<ROWDATA><ROW><COL>value</COL>…</ROW>…</ROWDATA>` as one dict per row (values stripped)."""
    root = _parse(text.encode("utf-8"))
    if _local(root.tag) != "ROWDATA":
        raise MalformedXml("the xml parameter must hold a <ROWDATA> document")
    rows: list[dict[str, str]] = []
    for line, element in enumerate(root, start=1):
        if _local(element.tag) != "ROW":
            raise MalformedXml(f"unexpected element <{_local(element.tag)}> in <ROWDATA>")
        row: dict[str, str] = {}
        for column in element:
            name = _local(column.tag)
            if len(column) > 0:
                raise RowShapeError(line, name, f"{name} 应为文本")
            if name in row:
                raise RowShapeError(line, name, f"{name} 重复")
            row[name] = (column.text or "").strip()
        rows.append(row)
    return rows


def result(code: str, msg: str, **extra: str) -> ET.Element:
    """A `<result>` document: `<code>` first, then the extra elements in order, `<msg>` last."""
    element = ET.Element("result")
    ET.SubElement(element, "code").text = code
    for name, value in extra.items():
        ET.SubElement(element, name).text = value
    ET.SubElement(element, "msg").text = msg
    return element


def rowdata(rows: Iterable[Mapping[str, str]]) -> ET.Element:
    element = ET.Element("ROWDATA")
    for row in rows:
        row_element = ET.SubElement(element, "ROW")
        for name, value in row.items():
            ET.SubElement(row_element, name).text = value
    return element


def envelope(operation: str, document: ET.Element) -> bytes:
    """The SOAP answer: `<ws:{operation}Response><return>` holding the result document as CDATA."""
    inner = ET.tostring(document, encoding="unicode")
    # "]]>" cannot appear inside CDATA: split it across two sections.
    cdata = "<![CDATA[" + inner.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
        f'<ws:{operation}Response xmlns:ws="{SERVICE_NS}"><return>{cdata}</return>'
        f"</ws:{operation}Response></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _parse(data: bytes) -> ET.Element:
    try:
        root: ET.Element = SafeET.fromstring(data)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise MalformedXml(f"XML not well-formed: {exc}") from exc
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
