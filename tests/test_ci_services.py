"""Under CI=true a test that needs PostgreSQL, MariaDB or Chromium fails when it is missing; outside
CI it is skipped. Run as a child pytest pointed at servers that cannot exist (port 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "chromium": (
        "CREDITGW_TEST_CHROMIUM",
        "/nonexistent/chromium",
        "tests/test_browser_harness.py::test_reads_tables_and_links_of_a_clean_page",
    ),
    "mariadb": ("CREDITGW_TEST_MARIADB", "127.0.0.1:1", "tests/test_simulators_hrss.py::test_loads_are_checked_whole"),
    "postgres": (
        "CREDITGW_TEST_PG_DSN",
        "postgresql://postgres@127.0.0.1:1/test",
        "tests/test_store_contract.py::test_completing_several_deliveries_keeps_only_those_whose_lease_is_held",
    ),
}


def run_child(variable: str, value: str, test: str, *, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, variable: value}
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("server", sorted(CASES))
def test_a_missing_server_fails_the_run_in_ci(server: str) -> None:
    variable, value, test = CASES[server]
    child = run_child(variable, value, test, ci=True)
    assert child.returncode != 0, child.stdout
    assert "required in CI" in child.stdout and "xfail" not in child.stdout


@pytest.mark.parametrize("server", sorted(CASES))
def test_a_missing_server_skips_outside_ci(server: str) -> None:
    variable, value, test = CASES[server]
    child = run_child(variable, value, test, ci=False)
    assert child.returncode == 0, child.stdout
    assert "skipped" in child.stdout
