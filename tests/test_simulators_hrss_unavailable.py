"""Without MariaDB the 前置库 simulator still starts (so `python -m simulators` and the demo run) and
says why on every admin call; no MariaDB server is needed for this test (port 1 never answers)."""

from __future__ import annotations

from simulators.hrss import HrssConfig, create_app
from tests.list_simulators import running


async def test_an_unreachable_mariadb_is_reported_not_fatal() -> None:
    async with running("hrss", create_app, lambda clock: HrssConfig(port=1, clock=clock)) as hrss:
        info = await hrss.admin("GET", "/admin/info")
        assert info["available"] is False and "127.0.0.1:1" in info["error"]
        refused = await hrss.admin("GET", "/admin/records", expect=503)
        assert refused["code"] == "database_unavailable"
        await hrss.admin("POST", "/admin/load", expect=503, json={"records": []})
