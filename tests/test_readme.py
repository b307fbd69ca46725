"""The README tells the truth: its curl example works as written on a fresh `serve --simulate`,
its HTTP table lists every route, its simulators row names every simulated system, and its links
stay inside the repository."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gateway.api.routes import ROUTES
from gateway.signing import Credentials, sign_headers

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def _curl_example() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", _section("HTTP API"), flags=re.DOTALL)
    [example] = [block for block in blocks if "curl" in block]
    return example


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, credentials: Credentials) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=sign_headers(credentials, "GET", url))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (urllib.error.URLError, ConnectionError):
        return 0, None


def _until(what: str, check: Any, timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_the_curl_example_works_as_written_on_a_fresh_serve_simulate(tmp_path: Path) -> None:
    example = _curl_example()
    assert "localhost:8600" in example  # the default port, as a new user runs it
    document = re.search(r"BODY='(\{.*?\})'", example, flags=re.DOTALL)
    assert document is not None
    wanted = json.loads(document.group(1))["record"]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--simulate", "--port", str(port)],
        cwd=tmp_path,  # a fresh var/creditgw.db
        env={**os.environ, "PYTHONPATH": str(ROOT), "CREDITGW_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The sandbox client serve --simulate prints, as a user copies it into the example's first line.
        printed: dict[str, str] = {}
        assert serve.stdout is not None
        while "SECRET" not in printed:
            line = serve.stdout.readline()
            assert line, "serve --simulate printed no sandbox client"
            for name in ("CLIENT", "SECRET"):
                if line.startswith(f"SANDBOX {name}"):
                    printed[name] = line.rsplit(" ", 1)[1].strip()

        sandbox = Credentials(client_id=printed["CLIENT"], secret=printed["SECRET"])

        def seeded() -> bool:
            status, page = _get(f"{base}/v1/records?limit=500&category={quote(wanted['category'])}", sandbox)
            return status == 200 and any(i["document_number"] == wanted["document_number"] for i in page["items"])

        _until("the simulators' seed to be read", seeded)
        command = example.replace("localhost:8600", f"127.0.0.1:{port}")
        command = command.replace("sandbox-…", printed["CLIENT"]).replace("cgs_…", printed["SECRET"])
        path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"  # the venv's creditgw
        ran = subprocess.run(
            ["bash", "-c", command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PATH": path},
        )
        assert ran.returncode == 0, ran.stderr
        answer = json.loads(ran.stdout)
        assert answer.get("repair_id", "").startswith("rep_"), answer
        assert {t["system"] for t in answer["targets"]} == {"creditchina_gansu", "gsxt_gansu"}, answer

        def complete() -> bool:
            status, progress = _get(f"{base}/v1/repairs/{answer['repair_id']}", sandbox)
            return status == 200 and progress["complete"] is True

        _until("the repair to reach both systems", complete)
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            _, errors = serve.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            _, errors = serve.communicate()
    assert serve.returncode == 0, errors[-3000:]


def test_the_http_table_lists_every_route() -> None:
    table = _section("HTTP API")
    missing = [f"{r.method} {r.path}" for r in ROUTES if f"`{r.method} {r.path}`" not in table]
    assert missing == []


def test_the_simulators_row_names_every_simulated_system() -> None:
    [row] = [line for line in README.splitlines() if line.startswith("| `python -m simulators")]
    publicity = ("信用中国（甘肃）", "GSXT（甘肃）", "SMS")
    for name in (*publicity, "court", "tax", "hrss", "emergency", "statistics", "civil_affairs"):
        assert name in row, name


def test_links_stay_inside_the_repository() -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", README):
        if target.startswith(("http://", "https://", "#")):
            continue
        path = (ROOT / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{target} points outside the repository"
        assert path.exists(), f"{target} does not exist"
