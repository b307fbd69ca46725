"""What the logs say and how: JSON lines with ISO 8601 dates, and quiet idle polls."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from structlog.testing import capture_logs

from gateway.settings import Settings
from gateway.sync.connectors import build_connectors
from simulators import start_simulators

ROOT = Path(__file__).resolve().parent.parent

_LOG_SOME_VALUES = """
from datetime import UTC, date, datetime
from decimal import Decimal
from gateway.observability import configure_logging, get_logger
configure_logging("json", "INFO")
get_logger("t").warning(
    "delivery_retry_scheduled",
    next_attempt_at=datetime(2026, 12, 3, 8, 30, 5, tzinfo=UTC),
    due=date(2026, 12, 7),
    fine=Decimal("2.50"),
    authority="兰州市生态环境局",
)
"""


def test_json_logs_write_dates_as_iso_8601_and_chinese_as_utf8() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _LOG_SOME_VALUES],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        check=True,
        timeout=60,
    )
    line = result.stderr.decode("utf-8").strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["next_attempt_at"] == "2026-12-03T08:30:05+00:00"
    assert entry["due"] == "2026-12-07" and entry["fine"] == "2.50"
    assert "兰州市生态环境局" in line and "datetime.datetime" not in line


async def test_a_poll_that_finds_nothing_logs_at_debug_and_one_that_finds_changes_at_info() -> None:
    sims = await start_simulators()
    connectors = build_connectors(Settings(), dict(sims.urls))
    try:
        with capture_logs() as logs:
            for connector in connectors.values():
                adapter = connector.adapter
                cursor: str | None = None
                first = await adapter.fetch_changes(cursor, 500)
                assert first.changes  # the seed
                page = first
                for _ in range(600):  # 信用中国 re-reads its last second until the second is closed
                    if not (page.has_more or page.changes):
                        break
                    cursor = page.cursor
                    page = await adapter.fetch_changes(cursor, 500)
                    if page.changes and not page.has_more:
                        await asyncio.sleep(0.1)
                assert page.changes == []  # an idle poll
        fetched = [e for e in logs if e["event"] == "changes_fetched"]
        for system in connectors:
            assert any(e["changes"] > 0 and e["log_level"] == "info" for e in fetched if e["system"] == system)
        assert [e for e in fetched if e["changes"] == 0 and e["log_level"] != "debug"] == []
    finally:
        for connector in connectors.values():
            await connector.adapter.close()
        await sims.close()
