"""The reconciliation report page in a real headless Chromium (Debian's `chromium`, tests/browser.py):
a run with findings of every kind is stored through the run's own storage functions, a presigned
link is minted with a signed API call, and the browser opens it over a real socket, on SQLite and
PostgreSQL. The page must load with status 200, show every seeded finding in the table of its
system and kind, link each finding that names a record to that record's page (which loads too),
and produce no console error, exception or CSP violation. The last test does the same for a real
reconciliation run over the simulators, with divergences seeded through their admin APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from gateway.reconcile.run import Reconciler
from gateway.reconcile_report import KIND_LABELS, system_label
from gateway.runtime import policy_from
from gateway.settings import load_settings
from gateway.store import reconciliations as rs
from gateway.sync.connectors import build_connectors
from gateway.sync.poller import Poller
from simulators import SYSTEMS, start_simulators
from tests.browser import chromium
from tests.reconcile_seed import HOSTILE, OWNER, seed_run
from tests.reconcile_world import CC, GS, found_set_json, seed_every_kind
from tests.test_api_harness import NOW, Harness, open_harness

pytestmark = pytest.mark.chromium

RUN = "run-browser"


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Harness]:
    async with open_harness(database_url) as harness:
        yield harness


async def _link(api: Harness, client: Any, run_id: str = RUN) -> str:
    response = await client.get(f"/v1/reconciliations/{run_id}/report-link")
    assert response.status == 200, await response.text()
    url: str = (await response.json())["url"]
    return url


async def test_the_report_page_shows_the_seeded_findings_without_console_errors(api: Harness) -> None:
    record_id = await api.seed()
    seeded = await api.runtime.db.run(lambda tx: seed_run(tx, RUN, now=NOW, record_id=record_id))
    url = await _link(api, api.client)
    async with chromium() as tab:
        page = await tab.open(url)
        assert page.status == 200
        assert page.errors == [], page.errors
        assert page.title == f"对账报告 {RUN}"
        assert page.content_security_policy is not None and "default-src 'none'" in page.content_security_policy

        summary = page.table("summary")
        expected_summary = sorted(
            {(system_label(f.system), KIND_LABELS[f.kind]) for f in seeded.findings},
        )
        assert sorted((row[0], row[1]) for row in summary.rows) == expected_summary
        assert sum(int(row[2]) for row in summary.rows) == len(seeded.findings)

        links: dict[str, str] = {}
        for finding in seeded.findings:
            table = page.table(f"findings-{finding.system}-{finding.kind}")
            rows = [row for row in table.rows if row[0] == str(finding.seq)]
            assert len(rows) == 1, (finding, table.rows)
            row = rows[0]
            assert row[2] == finding.authority_code and row[3] == finding.document_number
            hrefs = table.links[table.rows.index(row)]
            if finding.record_id is None:
                assert hrefs == [] and row[-1] == "网关无此记录"
            else:
                assert len(hrefs) == 1 and f"/v1/reconciliations/{RUN}/records/{finding.record_id}?" in hrefs[0]
                assert "link_signature=" in hrefs[0]
                links[finding.record_id] = hrefs[0]
        # The hostile document number is text in a cell, not a script that ran.
        assert any(HOSTILE in row for t in page.tables for row in t.rows)

        pairs = page.table("pairs")
        assert {(row[1], row[2]) for row in pairs.rows} == {
            (system_label(f.owner_system), system_label(f.mirror_system)) for f in seeded.findings
        }

        # Follow the link of the harness's record: its page loads, clean, with this run's findings.
        record_page = await tab.open(links[record_id])
        assert record_page.status == 200
        assert record_page.errors == [], record_page.errors
        facts = dict((row[0], row[1]) for row in record_page.table("record").rows)
        assert facts["认定机关代码"] == OWNER
        assert sorted(row[2] for row in record_page.table("findings").rows) == sorted(
            KIND_LABELS[f.kind] for f in seeded.findings if f.record_id == record_id
        )

        # A record known only from a listing (never stored by the gateway) still opens, saying so.
        elsewhere = next(r for r in links if r != record_id)
        other_page = await tab.open(links[elsewhere])
        assert other_page.status == 200 and other_page.errors == []
        assert [t.id for t in other_page.tables] == ["findings"]


async def test_a_restricted_client_s_page_shows_only_its_findings(api: Harness) -> None:
    record_id = await api.seed()
    seeded = await api.runtime.db.run(lambda tx: seed_run(tx, RUN, now=NOW, record_id=record_id))
    limited = await api.as_client("lz-ops", scopes=["admin:reconcile"], authorities=[OWNER])
    url = await _link(api, limited)
    async with chromium() as tab:
        page = await tab.open(url)
    assert page.status == 200 and page.errors == [], page.errors
    shown = sorted(int(row[0]) for t in page.tables if t.id.startswith("findings-") for row in t.rows)
    assert shown == [f.seq for f in seeded.visible_to({OWNER}, None)]
    assert shown and len(shown) < len(seeded.findings)


# ---- a real run over the simulators -------------------------------------------------------------


@pytest.fixture
async def sims() -> AsyncIterator[Mapping[str, str]]:
    started = await start_simulators(systems={name: SYSTEMS[name] for name in (CC, GS)})
    try:
        yield dict(started.urls)
    finally:
        await started.close()


async def test_a_real_run_s_findings_of_every_kind_are_served_and_shown(api: Harness, sims: Mapping[str, str]) -> None:
    """Divergences of every kind seeded through the simulators' admin APIs, a real reconciliation
    run: the API's findings equal the ground truth, and the page shows each in its table."""
    settings = load_settings()
    connectors = build_connectors(settings, dict(sims))
    policy = policy_from(settings, set(connectors))
    reconciler = Reconciler(api.runtime.db, connectors, policy)
    try:
        # The gateway has read both feeds (as `serve` does), so it knows the records the run names.
        for connector in connectors.values():
            await Poller(api.runtime.committer, connector, policy, feeds=connectors).poll_once()
        expected = await seed_every_kind(sims)
        run = await reconciler.run(mode=rs.RunMode.CHECK, scope=rs.Scope())
    finally:
        for connector in connectors.values():
            await connector.adapter.close()
    assert run.status is rs.RunStatus.SUCCEEDED, run.error
    served: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = await (await api.client.get(f"/v1/reconciliations/{run.run_id}/findings?after={after}&limit=3")).json()
        served += page["items"]
        after = page["next_after"]
    assert found_set_json(served) == expected  # precision = recall = 1, over the API
    kinds = {kind for kind, *_ in expected}
    assert len(kinds) == 6

    url = await _link(api, api.client, run.run_id)
    async with chromium() as tab:
        report = await tab.open(url)
        assert report.status == 200
        assert report.errors == [], report.errors
        shown = set()
        for table in report.tables:
            if table.id.startswith("findings-"):
                _, system, kind = table.id.split("-", 2)
                shown |= {(system, kind, row[2], row[3]) for row in table.rows}
        wanted = set()
        for kind, _category, owner, mirror, key, side in expected:
            _, authority, document = key.split("\x1f")
            wanted.add((owner if side == "owner" else mirror, kind, authority, document))
        assert shown == wanted
        linked = [links[0] for t in report.tables if t.id.startswith("findings-") for links in t.links if links]
        # A link for every finding about a record the gateway holds (extra rows it never stored: none).
        assert len(linked) == sum(1 for f in served if f["record_id"]) > len(served) // 2, (linked, served)
        record_page = await tab.open(linked[0])
        assert record_page.status == 200 and record_page.errors == [], record_page.errors
        assert record_page.table("findings").rows
