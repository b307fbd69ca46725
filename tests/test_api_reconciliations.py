"""Reconciliation runs over the API (issue 13 item 3), on SQLite and PostgreSQL over a real socket:
runs, one run, findings paged and filtered, the report as JSON, CSV and HTML, what each client may
see, and the presigned links that open the pages in a browser (docs/adr/0023)."""

from __future__ import annotations

import codecs
import csv
import io
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from gateway import signing
from gateway.clients import ALL, ClientStore
from tests.reconcile_seed import CC, FORMULA, GS, HOSTILE, OTHER, OWNER, SeededRun, seed_run
from tests.test_api_harness import NOW, Harness, SigningClient, error_of, open_harness

RUN = "run-20260502-0230"


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    # No client cache: a revocation or a scope change is seen by the next request.
    async with open_harness(database_url, client_cache_s=0) as harness:
        yield harness


async def _seed(api: Harness, run_id: str = RUN) -> SeededRun:
    record_id = await api.seed()
    return await api.runtime.db.run(lambda tx: seed_run(tx, run_id, now=NOW, record_id=record_id))


async def _json(response: aiohttp.ClientResponse, status: int = 200) -> Any:
    text = await response.text()
    assert response.status == status, text
    return await response.json()


async def _all_findings(client: SigningClient, run_id: str, **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = await _json(
            await client.get(
                f"/v1/reconciliations/{run_id}/findings?", params={**params, "after": str(after), "limit": "2"}
            )
        )
        out += page["items"]
        after = page["next_after"]
    return out


# ---- runs and findings --------------------------------------------------------------------------


async def test_runs_are_listed_newest_first_and_paged(api: Harness) -> None:
    await _seed(api, "run-a")
    record_id = (await api.runtime.db.run(lambda tx: tx.one("SELECT record_id FROM records"), write=False))["record_id"]
    later = NOW.replace(hour=NOW.hour + 1)
    await api.runtime.db.run(lambda tx: seed_run(tx, "run-b", now=later, record_id=record_id))
    first = await _json(await api.client.get("/v1/reconciliations?limit=1"))
    assert [r["run_id"] for r in first["items"]] == ["run-b"]
    assert first["next_after"] == "run-b"
    second = await _json(await api.client.get("/v1/reconciliations?limit=1&after=run-b"))
    assert [r["run_id"] for r in second["items"]] == ["run-a"]
    run = second["items"][0]
    assert run["status"] == "succeeded" and run["mode"] == "dry_run" and run["findings"] == 6
    assert run["links"] == {
        "self": "/v1/reconciliations/run-a",
        "findings": "/v1/reconciliations/run-a/findings",
        "report": "/v1/reconciliations/run-a/report",
    }
    assert run["pairs"] == []  # per-pair counts are in the run itself


async def test_one_run_has_its_pairs_counts(api: Harness) -> None:
    await _seed(api)
    run = await _json(await api.client.get(f"/v1/reconciliations/{RUN}"))
    assert run["findings"] == 6 and run["duration_s"] == 3.0
    pairs = {(p["category"], p["owner_system"], p["mirror_system"]): p for p in run["pairs"]}
    penalty = pairs[("admin_penalty", CC, GS)]
    assert (penalty["owner_rows"], penalty["mirror_rows"], penalty["findings"], penalty["status"]) == (
        120,
        118,
        4,
        "done",
    )
    assert pairs[("abnormal_operations", GS, CC)]["findings"] == 2


async def test_findings_are_paged_in_order_with_both_sides_and_the_action(api: Harness) -> None:
    seeded = await _seed(api)
    found = await _all_findings(api.client, RUN)
    assert [(f["seq"], f["kind"], f["system"]) for f in found] == [(s.seq, s.kind, s.system) for s in seeded.findings]
    mismatch = found[1]
    assert mismatch["identity"] == {
        "category": "admin_penalty",
        "authority_code": OWNER,
        "document_number": seeded.findings[1].document_number,
    }
    assert mismatch["differences"] == [{"name": "decision_date", "owner": "2026-03-01", "mirror": "2026-03-02"}]
    assert mismatch["owner_value"]["amount"] == "5000" and mismatch["action"] == "would_heal"
    assert mismatch["links"]["record"] == f"/v1/records/{seeded.findings[1].record_id}"
    extra = found[2]
    assert extra["record_id"] is None and extra["links"]["record"] is None
    assert extra["action"] == "not_healable" and extra["action_reason"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "duplicate"}, {6}),
        ({"category": "abnormal_operations"}, {5, 6}),
        ({"system": "gsxt_gansu"}, {1, 2, 3, 4, 5, 6}),  # owner or mirror of both pairs
        ({"kind": "field_mismatch", "category": "abnormal_operations"}, set()),
    ],
)
async def test_findings_are_filtered_by_kind_system_and_category(
    api: Harness, params: dict[str, str], expected: set[int]
) -> None:
    await _seed(api)
    assert {f["seq"] for f in await _all_findings(api.client, RUN, **params)} == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=lost", "kind"),
        ("system=nowhere", "system"),
        ("category=parking", "category"),
        ("limit=0", "limit"),
        ("after=-1", "after"),
        ("colour=red", "colour"),
    ],
)
async def test_bad_filters_are_refused_with_the_field(api: Harness, query: str, field: str) -> None:
    await _seed(api)
    response = await api.client.get(f"/v1/reconciliations/{RUN}/findings?{query}")
    assert response.status == 422
    error = await error_of(response)
    assert error["code"] == "invalid_parameter" and error["field"] == field


@pytest.mark.parametrize(
    "suffix", ["", "/findings", "/report", "/report-link", "/records/rec_0123456789abcdef01234567"]
)
async def test_an_unknown_run_is_404(api: Harness, suffix: str) -> None:
    response = await api.client.get(f"/v1/reconciliations/no-such-run{suffix}")
    assert response.status == 404
    assert (await error_of(response))["code"] == "reconciliation_not_found"


# ---- what a client may see ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorities", "categories"),
    [([OWNER], [ALL]), ([OTHER], [ALL]), ([ALL], ["abnormal_operations"]), ([OWNER], ["admin_penalty"])],
)
async def test_a_client_sees_only_findings_of_records_it_may_see(
    api: Harness, authorities: list[str], categories: list[str]
) -> None:
    seeded = await _seed(api)
    client = await api.as_client("limited", scopes=["admin:reconcile"], authorities=authorities, categories=categories)
    wanted = seeded.visible_to(
        None if ALL in authorities else set(authorities), None if ALL in categories else set(categories)
    )
    assert 0 < len(wanted) < len(seeded.findings)
    assert [f["seq"] for f in await _all_findings(client, RUN)] == [f.seq for f in wanted]
    run = await _json(await client.get(f"/v1/reconciliations/{RUN}"))
    assert run["findings"] == len(wanted) == sum(p["findings"] for p in run["pairs"])
    listed = await _json(await client.get("/v1/reconciliations"))
    assert listed["items"][0]["findings"] == len(wanted)
    report = await _json(await client.get(f"/v1/reconciliations/{RUN}/report?format=json"))
    assert sorted(f["seq"] for t in report["tables"] for f in t["findings"]) == [f.seq for f in wanted]
    rows = _csv_rows(await (await client.get(f"/v1/reconciliations/{RUN}/report?format=csv")).read())
    assert [int(r["seq"]) for r in rows] == [f.seq for f in wanted]


# ---- the report ---------------------------------------------------------------------------------


def _csv_rows(raw: bytes) -> list[dict[str, str]]:
    assert raw.startswith(codecs.BOM_UTF8)
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_the_json_report_has_a_table_per_system_and_kind(api: Harness) -> None:
    seeded = await _seed(api)
    report = await _json(await api.client.get(f"/v1/reconciliations/{RUN}/report"))
    tables = {(t["system"], t["kind"]): t for t in report["tables"]}
    assert set(tables) == {(s.system, s.kind) for s in seeded.findings}
    assert tables[(GS, "field_mismatch")]["count"] == 1
    assert tables[(GS, "duplicate")]["findings"][0]["seq"] == 6  # seen in the owner's (GSXT) listing
    assert report["run"]["findings"] == 6
    filtered = await _json(await api.client.get(f"/v1/reconciliations/{RUN}/report?kind=missing_in_mirror"))
    assert [(t["system"], t["kind"], t["count"]) for t in filtered["tables"]] == [(GS, "missing_in_mirror", 1)]


async def test_the_csv_report_has_every_finding_for_excel(api: Harness) -> None:
    seeded = await _seed(api)
    response = await api.client.get(f"/v1/reconciliations/{RUN}/report?format=csv")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    rows = _csv_rows(await response.read())
    assert [(int(r["seq"]), r["kind"], r["system"]) for r in rows] == [
        (s.seq, s.kind, s.system) for s in seeded.findings
    ]
    assert rows[2]["document_number"] == HOSTILE  # Chinese intact, markup as plain text
    assert rows[3]["document_number"] == "'" + FORMULA  # not a formula when opened
    assert rows[1]["differences"] == "decision_date: 2026-03-01 → 2026-03-02"
    assert rows[0]["kind_label"] == "镜像缺失"
    by_accept = await api.client.get(f"/v1/reconciliations/{RUN}/report", headers={"Accept": "text/csv"})
    assert by_accept.headers["Content-Type"] == "text/csv; charset=utf-8"


async def test_the_html_report_escapes_every_value_and_forbids_scripts(api: Harness) -> None:
    seeded = await _seed(api)
    response = await api.client.get(f"/v1/reconciliations/{RUN}/report", headers={"Accept": "text/html"})
    assert response.status == 200 and response.content_type == "text/html"
    html = await response.text()
    assert "<script" not in html
    assert "甘&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;罚" in html
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "'unsafe-inline'" not in policy
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    for finding in seeded.findings:
        assert f'data-seq="{finding.seq}"' in html
    # Opened with a signed request, its links carry a link minted for the same client.
    record = seeded.findings[0].record_id
    assert f'href="records/{record}?link_client=harness&amp;' in html


# ---- presigned links ----------------------------------------------------------------------------


async def _link(client: SigningClient, run_id: str = RUN, **params: str) -> dict[str, Any]:
    return dict(await _json(await client.get(f"/v1/reconciliations/{run_id}/report-link", params=params)))


async def _browser_get(api: Harness, path: str) -> aiohttp.ClientResponse:
    """As a browser: no signature headers at all."""
    async with aiohttp.ClientSession() as session:
        response = await session.get(str(api.client.make_url(path)), headers={"Accept": "text/html"})
        await response.read()
        return response


async def test_a_presigned_link_opens_the_report_and_its_record_pages(api: Harness) -> None:
    seeded = await _seed(api)
    link = await _link(api.client, ttl_s="600")
    expires = link["expires_at"]
    assert link["url"].endswith(link["path"]) and link["path"].startswith(f"/v1/reconciliations/{RUN}/report?")
    assert abs(int(dict(parse_qsl(urlsplit(link["path"]).query))["link_expires"]) - (time.time() + 600)) < 120
    assert expires
    async with aiohttp.ClientSession() as browser:
        async with browser.get(link["url"], headers={"Accept": "text/html"}) as page:
            assert page.status == 200, await page.text()
            html = await page.text()
        query = link["path"].split("?", 1)[1]
        record = seeded.findings[0].record_id
        assert f'href="records/{record}?{query.replace("&", "&amp;")}"' in html  # the same link onwards
        base = link["url"].split("/report?")[0]
        async with browser.get(f"{base}/records/{record}?{query}") as record_page:
            assert record_page.status == 200
            text = await record_page.text()
            assert "字段不一致" in text and "镜像缺失" in text and OWNER in text
        async with browser.get(f"{base}/report?format=csv&{query}") as csv_page:
            assert csv_page.status == 200 and len(_csv_rows(await csv_page.read())) == 6
        # A record the run found nothing about is not opened by the link.
        async with browser.get(f"{base}/records/rec_0123456789abcdef01234567?{query}") as other:
            assert other.status == 404


async def test_a_presigned_link_opens_nothing_else(api: Harness) -> None:
    await _seed(api)
    record_id = (await api.runtime.db.run(lambda tx: tx.one("SELECT record_id FROM records"), write=False))["record_id"]
    await api.runtime.db.run(lambda tx: seed_run(tx, "run-other", now=NOW, record_id=record_id))
    query = (await _link(api.client))["path"].split("?", 1)[1]
    for path in (
        f"/v1/reconciliations/run-other/report?{query}",  # another run
        f"/v1/reconciliations/{RUN}/findings?{query}",  # a route links do not open
        f"/v1/reconciliations/{RUN}?{query}",
        f"/v1/records/{record_id}?{query}",
        f"/v1/reconciliations/{RUN}/report-link?{query}",  # a link cannot mint links
    ):
        response = await _browser_get(api, path)
        assert response.status == 401, path
    unsigned = await _browser_get(api, f"/v1/reconciliations/{RUN}/report")
    assert unsigned.status == 401


async def test_a_tampered_expired_or_overlong_link_is_refused(api: Harness) -> None:
    await _seed(api)
    query = dict(parse_qsl((await _link(api.client))["path"].split("?", 1)[1]))
    credentials = api.client.credentials
    assert credentials is not None
    resource = f"reconciliation/{RUN}"
    now = int(time.time())
    cases = {
        "signature": {
            **query,
            "link_signature": query["link_signature"][:-1] + ("0" if query["link_signature"][-1] != "0" else "1"),
        },
        "expiry moved": {**query, "link_expires": str(int(query["link_expires"]) + 60)},
        "client": {**query, "link_client": "someone-else"},
        "algorithm": {**query, "link_algorithm": signing.HMAC_SM3},
        "expired": signing.presign(credentials, resource, now - 5),
        "overlong": signing.presign(credentials, resource, now + 2 * 3600),
        "missing": {k: v for k, v in query.items() if k != "link_expires"},
    }
    for name, params in cases.items():
        response = await _browser_get(
            api, f"/v1/reconciliations/{RUN}/report?" + "&".join(f"{k}={v}" for k, v in params.items())
        )
        assert response.status == 401, name
    ok = signing.presign(credentials, resource, now + 300)  # minted by the client itself: the same scheme
    response = await _browser_get(
        api, f"/v1/reconciliations/{RUN}/report?" + "&".join(f"{k}={v}" for k, v in ok.items())
    )
    assert response.status == 200


async def test_a_link_dies_with_its_clients_scope_secret_or_status(api: Harness) -> None:
    await _seed(api)
    ops = await api.as_client("ops", scopes=["admin:reconcile"])
    box = api.runtime.db

    async def opens(path: str) -> int:
        return (await _browser_get(api, path)).status

    first = (await _link(ops))["path"]
    assert await opens(first) == 200
    key = api.runtime.settings.secrets_key
    assert key is not None
    from gateway.clients import SecretBox

    secrets_box = SecretBox.from_text(key.get_secret_value())
    await box.run(lambda tx: ClientStore(tx, secrets_box).set_scopes("ops", scopes=["read"], now=NOW))
    assert await opens(first) == 403  # scope_denied: the scope is checked on every use
    await box.run(lambda tx: ClientStore(tx, secrets_box).set_scopes("ops", scopes=["admin:reconcile"], now=NOW))
    assert await opens(first) == 200
    await box.run(lambda tx: ClientStore(tx, secrets_box).rotate("ops", now=NOW))  # a second secret: both work
    assert await opens(first) == 200
    await box.run(lambda tx: ClientStore(tx, secrets_box).retire("ops", 1, now=NOW))
    assert await opens(first) == 401  # minted under the retired secret
    await box.run(lambda tx: ClientStore(tx, secrets_box).revoke("ops", now=NOW))
    assert await opens(first) == 401
