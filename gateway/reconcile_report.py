"""The report of one reconciliation run, as a client may see it: tables per system and kind, built
from the stored run and findings (gateway/store/reconciliations.py, reconcile_reads.py), and its
three forms — JSON (the API's models), CSV (every finding, for Excel) and an HTML page.

The HTML is the project's autoescaped Jinja (gateway/templating.py): every value from a system is
data, never markup. The page carries no script and loads nothing from elsewhere; its one style
block is allowed by hash in a strict Content-Security-Policy (`CSP` below).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

from gateway.domain.categories import CATEGORY_LABELS, Category, System
from gateway.domain.personal import mask_ids
from gateway.domain.reconcile import FindingKind
from gateway.store.reconciliations import PairProgress, Run, StoredFinding
from gateway.templating import html_environment

ROWS_PER_TABLE = 200  # the page shows this many findings per table; the CSV has all of them
SEPARATOR = "\x1f"  # RecordIdentity.key's

SYSTEM_LABELS: dict[str, str] = {
    System.CREDITCHINA_GANSU: "信用中国（甘肃）",
    System.GSXT_GANSU: "国家企业信用信息公示系统（甘肃）",
    System.COURT: "人民法院（失信被执行人）",
    System.TAX: "税务（重大税收违法失信主体）",
    System.HRSS: "人力资源社会保障（拖欠农民工工资）",
    System.EMERGENCY: "应急管理（安全生产严重失信）",
    System.STATISTICS: "统计（统计严重失信企业）",
    System.CIVIL_AFFAIRS: "民政（社会组织严重违法失信）",
}
KIND_LABELS: dict[str, str] = {
    FindingKind.MISSING_IN_MIRROR: "镜像缺失",
    FindingKind.EXTRA_IN_MIRROR: "镜像多出",
    FindingKind.STATE_MISMATCH: "公示状态不一致",
    FindingKind.FIELD_MISMATCH: "字段不一致",
    FindingKind.DUPLICATE: "重复记录",
    FindingKind.FOREIGN_STOP: "多头修复",
}
KIND_ORDER = {kind.value: index for index, kind in enumerate(FindingKind)}
ACTION_LABELS = {
    "none": "未处理",
    "heal_queued": "已下发修正",
    "would_heal": "将下发修正（演练）",
    "not_healable": "需人工处理",
}


def system_label(system: str) -> str:
    return SYSTEM_LABELS.get(system, system)


def category_label(category: str) -> str:
    try:
        return CATEGORY_LABELS[Category(category)]
    except ValueError:
        return category


@dataclass(frozen=True, kw_only=True)
class Identity:
    category: str
    authority_code: str
    document_number: str


def identity_of(key: str) -> Identity:
    """The three parts of a RecordIdentity.key (category␟authority␟document number)."""
    category, _, rest = key.partition(SEPARATOR)
    authority, _, document = rest.partition(SEPARATOR)
    return Identity(category=category, authority_code=authority, document_number=document)


def about_system(finding: StoredFinding) -> str:
    """The system a finding is about (gateway/store/reconcile_reads.py ABOUT_SYSTEM)."""
    return finding.owner_system if finding.side == "owner" else finding.mirror_system


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def differences(finding: StoredFinding) -> list[tuple[str, str, str]]:
    """(field, owner's value, mirror's value) where both sides were stored and differ; the fields a
    field mismatch names first when the run recorded them in `detail`."""
    named = finding.detail.get("fields")
    if isinstance(named, list) and all(isinstance(f, Mapping) and "name" in f for f in named):
        return [(str(f["name"]), _text(f.get("owner")), _text(f.get("mirror"))) for f in named]
    owner, mirror = finding.owner_value, finding.mirror_value
    if owner is None or mirror is None:
        return []
    return [
        (name, _text(owner.get(name)), _text(mirror.get(name)))
        for name in sorted(set(owner) | set(mirror))
        if owner.get(name) != mirror.get(name)
    ]


def side_state(value: Mapping[str, Any] | None) -> str:
    """What one side's stored value says of the record's publicity, briefly; — when it has no row."""
    if value is None:
        return "—"
    for name in ("status", "publicity", "state"):
        if name in value and value[name] is not None:
            state = value[name]
            if isinstance(state, Mapping):
                return " ".join(_text(v) for v in state.values() if v is not None)
            return _text(state)
    return "有记录"


@dataclass(frozen=True, kw_only=True)
class ReportTable:
    system: str
    kind: str
    count: int  # every visible finding of this system and kind
    findings: tuple[StoredFinding, ...]  # the first ROWS_PER_TABLE of them

    @property
    def table_id(self) -> str:
        return f"findings-{self.system}-{self.kind}"

    @property
    def truncated(self) -> bool:
        return self.count > len(self.findings)


@dataclass(frozen=True, kw_only=True)
class Report:
    run: Run
    total: int  # visible findings
    pair_findings: Mapping[tuple[str, str, str], int]  # visible findings per (category, owner, mirror)
    tables: tuple[ReportTable, ...]

    def pair_count(self, pair: PairProgress) -> int:
        return self.pair_findings.get((pair.category, pair.owner_system, pair.mirror_system), 0)


def table_order(counts: Iterable[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Systems in their declared order (unknown ones after, by name), kinds in the diff's order."""
    systems = {system.value: index for index, system in enumerate(System)}
    return sorted(counts, key=lambda c: (systems.get(c[0], len(systems)), c[0], KIND_ORDER.get(c[1], 99), c[1]))


# ---- HTML ---------------------------------------------------------------------------------------


@cache
def stylesheet() -> str:
    return resources.files("gateway").joinpath("templates/report.css").read_text("utf-8")


@cache
def content_security_policy() -> str:
    """Nothing but the page itself and its one style block (by hash); no script at all, no frames,
    no forms, links only to this origin."""
    digest = base64.b64encode(hashlib.sha256(stylesheet().encode()).digest()).decode()
    return (
        "default-src 'none'; "
        f"style-src 'sha256-{digest}'; "
        "img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


# The answer headers of every page (and the CSV): a bearer link in the URL must not leak on through
# a Referer, sit in a shared cache or be framed by another site.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def link_query(link: Mapping[str, str], **extra: str) -> str:
    """`?…` carrying a presigned link (and `extra` parameters) onwards."""
    return "?" + urlencode({**extra, **link})


def _common(link: Mapping[str, str], now: datetime) -> dict[str, Any]:
    return {
        "css": Markup(stylesheet()),  # the file's text, hashed into the CSP: not data
        "link": link_query(link),
        "link_csv": link_query(link, format="csv"),
        "link_json": link_query(link, format="json"),
        "now": now,
        "system_label": system_label,
        "category_label": category_label,
        "kind_label": lambda kind: KIND_LABELS.get(kind, kind),
        "action_label": lambda action: ACTION_LABELS.get(action, action),
        "identity_of": identity_of,
        "differences": differences,
        "side_state": side_state,
        "about_system": about_system,
    }


def render_report_html(report: Report, *, link: Mapping[str, str], now: datetime) -> str:
    template = html_environment().get_template("reconcile_report.html.j2")
    return mask_ids(template.render(report=report, run=report.run, **_common(link, now)))


@dataclass(frozen=True, kw_only=True)
class RecordPage:
    run: Run
    record_id: str
    record: Mapping[str, Any] | None  # the canonical record's view, when the gateway holds it
    systems: Sequence[Mapping[str, Any]]
    findings: Sequence[StoredFinding]


def render_record_html(page: RecordPage, *, link: Mapping[str, str], now: datetime) -> str:
    template = html_environment().get_template("reconcile_record.html.j2")
    return mask_ids(template.render(page=page, run=page.run, **_common(link, now)))


# ---- CSV ----------------------------------------------------------------------------------------

CSV_BOM = "\ufeff"  # Excel reads a UTF-8 CSV as the system code page (GBK) without it
CSV_COLUMNS = (
    "run_id",
    "seq",
    "kind",
    "kind_label",
    "category",
    "owner_system",
    "mirror_system",
    "system",
    "side",
    "authority_code",
    "document_number",
    "record_id",
    "owner_state",
    "mirror_state",
    "differences",
    "owner_value",
    "mirror_value",
    "action",
    "action_reason",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A spreadsheet must not run a system's value as a formula (CSV injection): text that starts
    like one gets a leading apostrophe, unless it is a plain number."""
    text = _text(value)
    if text.startswith(_FORMULA_START):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def csv_row(finding: StoredFinding) -> list[str]:
    identity = identity_of(finding.identity_key)
    return [
        _cell(v)
        for v in (
            finding.run_id,
            finding.seq,
            finding.kind,
            KIND_LABELS.get(finding.kind, finding.kind),
            finding.category,
            finding.owner_system,
            finding.mirror_system,
            about_system(finding),
            finding.side,
            identity.authority_code,
            identity.document_number,
            finding.record_id,
            side_state(finding.owner_value),
            side_state(finding.mirror_value),
            "; ".join(f"{name}: {owner} → {mirror}" for name, owner, mirror in differences(finding)),
            finding.owner_value,
            finding.mirror_value,
            finding.action.value,
            finding.action_reason,
        )
    ]


def csv_chunk(findings: Iterable[StoredFinding], *, header: bool) -> str:
    """CSV text (CRLF lines, as RFC 4180 and Excel want) of these findings, masked; the BOM and the
    header line first when `header`."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        out.write(CSV_BOM)
        writer.writerow(CSV_COLUMNS)
    for finding in findings:
        writer.writerow(csv_row(finding))
    return mask_ids(out.getvalue())
