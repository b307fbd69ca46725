"""`python -m simulators` and the in-process `start_simulators` helper."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime
from pathlib import Path

import aiohttp

from simulators import SYSTEMS, start_simulators
from simulators.clock import BEIJING, ManualClock
from simulators.creditchina_gansu import SIMULATOR, CreditChinaConfig

ROOT = Path(__file__).resolve().parents[1]


def test_module_prints_the_url_map_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators", "--host", "127.0.0.1", "--base-port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(len(SYSTEMS) + 1)]
        urls = json.loads(lines[-1])
        assert (
            set(urls)
            == set(SYSTEMS)
            == {
                "creditchina_gansu",
                "gsxt_gansu",
                "sms",
                "court",
                "tax",
                "hrss",
                "emergency",
                "statistics",
                "civil_affairs",
            }
        )
        assert lines[:-1] == [f"{name} {url}" for name, url in urls.items()]
        for url in urls.values():
            assert url.startswith("http://127.0.0.1:")
            with urllib.request.urlopen(f"{url}/admin/stats", timeout=5) as response:
                assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


async def test_start_simulators_in_process() -> None:
    async with start_simulators() as simulators:
        assert set(simulators.urls) == set(simulators.apps) == set(SYSTEMS)
        async with aiohttp.ClientSession() as session:
            for url in simulators.urls.values():
                async with session.get(f"{url}/admin/records?published=1") as response:
                    assert response.status == 200
                    assert (await response.json())["records"]


async def test_start_simulators_awaitable_with_configs() -> None:
    clock = ManualClock(datetime(2026, 11, 2, 9, 30, tzinfo=BEIJING))
    simulators = await start_simulators(configs={"creditchina_gansu": CreditChinaConfig(clock=clock)})
    try:
        assert simulators.apps["creditchina_gansu"][SIMULATOR].clock is clock
        assert simulators.urls["gsxt_gansu"].startswith("http://127.0.0.1:")
    finally:
        await simulators.close()
