"""The `creditgw` command as an operator runs it: real processes, real files, real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.clients import new_key
from gateway.domain.model import PUBLISHED
from gateway.domain.plan import Observation, Policy
from gateway.settings import Settings
from gateway.signing import Credentials, sign_headers
from gateway.store.database import open_database
from gateway.store.migrate import available, migrate
from gateway.store.repo import Repo
from gateway.sync.ingest import apply_event
from tests.conftest import T0, penalty_facts

ROOT = Path(__file__).resolve().parent.parent


def creditgw(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_converges_and_prints_a_json_summary_last(tmp_path: Path) -> None:
    result = creditgw("demo", "--json", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["converged"] is True and summary["disagreements"] == []
    assert len(summary["scenarios"]) >= 6
    # Per category of 附件1: each one the build connects agrees, with records; the others are
    # reported as left out, never as agreeing.
    categories = {c["category"]: c for c in summary["categories"]}
    assert len(categories) == 9
    for category in categories.values():
        if category["connected"]:
            assert category["agrees"] and category["records"] > 0 and category["disagreeing"] == 0, category
        else:
            assert not category["agrees"] and category["note"].startswith("left out"), category
    assert set(summary["left_out"]) == {c for c, v in categories.items() if not v["connected"]}
    for connected in ("admin_penalty", "abnormal_operations", "samr_serious"):
        assert categories[connected]["connected"], connected
    # Every connected list authority removed one entry in its own system, and the mirror followed.
    removals = {s["started_on"]: s for s in summary["scenarios"] if s["name"].endswith("in its own system")}
    owners = {
        "court_dishonest": "court",
        "tax_major_violation": "tax",
        "wage_arrears": "hrss",
        "work_safety": "emergency",
        "statistics_serious": "statistics",
        "social_org_serious": "civil_affairs",
    }
    for category, owner in owners.items():
        if categories[category]["connected"]:
            assert removals[owner]["seen"]["creditchina_gansu"] == "stopped:removed", removals[owner]
    # GSXT shows the work-safety list of enterprises (ADR 0028) and follows its owner's removal.
    assert categories["work_safety"]["mirrors"] == ["creditchina_gansu", "gsxt_gansu"]
    if categories["work_safety"]["connected"]:
        assert removals["emergency"]["seen"]["gsxt_gansu"] == "stopped:removed", removals["emergency"]
    assert (tmp_path / "var" / "demo.db").exists()  # the embedded default: a SQLite file


def test_migrate_is_versioned_and_repeatable(tmp_path: Path) -> None:
    env = {"CREDITGW_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"}
    first = creditgw("migrate", cwd=tmp_path, env=env)
    second = creditgw("migrate", cwd=tmp_path, env=env)
    versions = [m.version for m in available("sqlite")]  # every migration in the package, in order
    assert versions[0] == 1
    assert json.loads(first.stdout) == {"applied": versions, "version": versions[-1]}
    assert json.loads(second.stdout) == {"applied": [], "version": versions[-1]}


def test_check_config_redacts_secrets(tmp_path: Path) -> None:
    env = {"CREDITGW_GSXT_GANSU__SECRET": "very-secret-value", "CREDITGW_CREDITCHINA_GANSU__PASSWORD": "pw-123456"}
    result = creditgw("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0
    assert "very-secret-value" not in result.stdout and "pw-123456" not in result.stdout
    config = json.loads(result.stdout)
    assert config["gsxt_gansu"]["secret"] == "**********"


def test_secrets_load_from_files_and_stay_out_of_check_config(tmp_path: Path) -> None:
    """Container secrets: *_FILE variables, for every adapter's credential and the secrets key;
    the database password inside database_url is redacted too."""
    values = {
        "CREDITGW_GSXT_GANSU__SECRET_FILE": "gsxt-file-secret",
        "CREDITGW_CREDITCHINA_GANSU__PASSWORD_FILE": "cc-file-password",
        "CREDITGW_SMS__SECRET_FILE": "sms-file-secret",
        "CREDITGW_SECRETS_KEY_FILE": "c2VjcmV0cy1rZXktZnJvbS1hLWZpbGUtMzItYnl0ZXM=",
    }
    env = {"CREDITGW_DATABASE_URL": "postgresql://gw:db-password-9@127.0.0.1:1/x"}
    for name, value in values.items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n")
        env[name] = str(path)
    result = creditgw("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    for secret in (*values.values(), "db-password-9"):
        assert secret not in result.stdout
    config = json.loads(result.stdout)
    assert config["database_url"] == "postgresql://gw:**********@127.0.0.1:1/x"
    assert config["secrets_key"] == config["sms"]["secret"] == "**********"
    os.environ.update(env)  # in this process too: the files' values reach the settings
    try:
        loaded = Settings()
    finally:
        for name in env:
            os.environ.pop(name)
    assert loaded.gsxt_gansu.secret.get_secret_value() == "gsxt-file-secret"
    assert loaded.creditchina_gansu.password.get_secret_value() == "cc-file-password"
    assert (
        loaded.secrets_key is not None and loaded.secrets_key.get_secret_value() == values["CREDITGW_SECRETS_KEY_FILE"]
    )


def test_a_missing_secret_file_is_one_clear_line(tmp_path: Path) -> None:
    env = {"CREDITGW_SMS__SECRET_FILE": str(tmp_path / "absent")}
    result = creditgw("check-config", cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert "CREDITGW_SMS__SECRET_FILE" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_redacts_passwords_inside_urls(tmp_path: Path) -> None:
    env = {
        "CREDITGW_DATABASE_URL": "postgresql://creditgw:db-pass-9876@db.internal:5432/creditgw",
        "CREDITGW_SMS__URL": "https://sms:sms-pass-5555@sms.internal/api",
    }
    result = creditgw("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "db-pass-9876" not in result.stdout and "sms-pass-5555" not in result.stdout
    config = json.loads(result.stdout)
    assert config["database_url"] == "postgresql://creditgw:**********@db.internal:5432/creditgw"
    assert config["sms"]["url"] == "https://sms:**********@sms.internal/api"
    assert config["creditchina_gansu"]["password"] == "**********"
    # The command-line override is redacted the same way.
    flag = creditgw("--database-url", "postgresql://u:flag-pass-1@h/db", "check-config", cwd=tmp_path)
    assert flag.returncode == 0 and "flag-pass-1" not in flag.stdout
    assert json.loads(flag.stdout)["database_url"] == "postgresql://u:**********@h/db"


def _one_clear_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """An operator's mistake: non-zero exit, no traceback, one line on stderr naming what to fix."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.postgres
def test_a_database_that_does_not_exist_is_one_clear_line(tmp_path: Path) -> None:
    from tests.conftest import PG_DSN

    missing = PG_DSN.rsplit("/", 1)[0] + "/creditgw_no_such_database"
    result = creditgw("migrate", cwd=tmp_path, env={"CREDITGW_DATABASE_URL": missing}, timeout=120)
    line = _one_clear_line(result, "CREDITGW_DATABASE_URL", "creditgw_no_such_database", "does not exist")
    assert "create the database" in line


def test_an_unsupported_database_url_scheme_is_one_clear_line(tmp_path: Path) -> None:
    env = {"CREDITGW_DATABASE_URL": "mysql://root:hunter2@127.0.0.1/creditgw"}
    line = _one_clear_line(creditgw("migrate", cwd=tmp_path, env=env), "CREDITGW_DATABASE_URL", "mysql")
    assert "hunter2" not in line and "postgresql://" in line


def test_a_non_numeric_setting_is_one_clear_line(tmp_path: Path) -> None:
    env = {"CREDITGW_DISPATCH_CONCURRENCY": "many"}
    _one_clear_line(creditgw("check-config", cwd=tmp_path, env=env), "CREDITGW_DISPATCH_CONCURRENCY", "'many'")
    env = {"CREDITGW_GSXT_GANSU__TIMEOUT_S": "ten"}
    _one_clear_line(creditgw("migrate", cwd=tmp_path, env=env), "CREDITGW_GSXT_GANSU__TIMEOUT_S", "'ten'")


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            "CREDITGW_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
            "CREDITGW_LOG_LEVEL": "WARNING",
            "CREDITGW_SECRETS_KEY": new_key(),  # else serve warns first that every /v1/ call will be refused
        }
        result = creditgw("serve", "--port", str(port), cwd=tmp_path, env=env, timeout=120)
    _one_clear_line(result, f"127.0.0.1:{port}", "CREDITGW_PORT", "--port")


def test_openapi_command_prints_the_checked_in_document(tmp_path: Path) -> None:
    result = creditgw("openapi", cwd=tmp_path)
    assert result.stdout == (ROOT / "docs" / "openapi.json").read_text("utf-8")


async def _dead_letter(url: str) -> int:
    db = open_database(url)
    await migrate(db)
    policy = Policy(enabled_systems=frozenset({"creditchina_gansu", "gsxt_gansu"}))
    obs = Observation(
        source="creditchina_gansu", facts=penalty_facts(), target=PUBLISHED, changed_at=T0, source_version="1"
    )
    try:
        await db.run(
            lambda tx: apply_event(tx, obs, source="creditchina_gansu", change_key="c1", policy=policy, now=T0)
        )
        [item] = await db.run(lambda tx: Repo(tx).claim(T0, 10, "w", T0))
        context = {"message": "refused: CF_WSH", "code": "2001", "status": 200}
        await db.run(lambda tx: Repo(tx).dead_letter(item, "w", context, T0))
        return item.id
    finally:
        await db.close()


def test_dlq_list_show_and_replay(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    dead_id = asyncio.run(_dead_letter(url))
    env = {"CREDITGW_DATABASE_URL": url}

    listed = json.loads(creditgw("dlq", "list", "--json", cwd=tmp_path, env=env).stdout)
    assert [(d["id"], d["target"], d["context"]["code"]) for d in listed] == [(dead_id, "gsxt_gansu", "2001")]
    shown = json.loads(creditgw("dlq", "show", str(dead_id), cwd=tmp_path, env=env).stdout)
    assert shown["last_error"] == "refused: CF_WSH"
    missing = creditgw("dlq", "show", "999", cwd=tmp_path, env=env)
    assert missing.returncode == 1 and json.loads(missing.stdout)["code"] == "dead_letter_not_found"

    dry = json.loads(creditgw("dlq", "replay", "--target", "gsxt_gansu", "--dry-run", cwd=tmp_path, env=env).stdout)
    assert dry["dry_run"] is True and dry["replayed"] == [dead_id]
    assert len(json.loads(creditgw("dlq", "list", "--json", cwd=tmp_path, env=env).stdout)) == 1  # unchanged
    done = json.loads(creditgw("dlq", "replay", "--target", "gsxt_gansu", cwd=tmp_path, env=env).stdout)
    assert done["replayed"] == [dead_id]
    again = json.loads(creditgw("dlq", "replay", "--target", "gsxt_gansu", cwd=tmp_path, env=env).stdout)
    assert again["replayed"] == []  # resumable: what was replayed is no longer dead


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        text = await resp.text()
        return resp.status, text


def test_serve_with_simulators_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CREDITGW_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--simulate", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "listening" in line:
                break
        assert any("simulator gsxt_gansu http://127.0.0.1:" in line for line in lines)
        base = f"http://127.0.0.1:{port}"
        assert asyncio.run(_get(f"{base}/livez"))[0] == 200
        assert asyncio.run(_get(f"{base}/readyz"))[0] == 200
        status, metrics = asyncio.run(_get(f"{base}/metrics"))
        assert status == 200 and "creditgw_outbox_depth" in metrics
        # The sandbox client it printed, marked as such, signs calls; an unsigned call is refused.
        client_id = next(line for line in lines if line.startswith("SANDBOX CLIENT")).split(": ")[-1].strip()
        secret = next(line for line in lines if line.startswith("SANDBOX SECRET")).split(": ")[-1].strip()
        assert "not for production" in next(line for line in lines if line.startswith("SANDBOX CLIENT"))
        signed = sign_headers(Credentials(client_id=client_id, secret=secret), "GET", "/v1/guidance")
        assert asyncio.run(_get(f"{base}/v1/guidance", signed))[0] == 200
        assert asyncio.run(_get(f"{base}/v1/guidance"))[0] == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_unreadable_tls_files_are_one_clear_line(tmp_path: Path) -> None:
    env = {
        "CREDITGW_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
        "CREDITGW_TLS_CERT_FILE": str(tmp_path / "absent.pem"),
        "CREDITGW_TLS_KEY_FILE": str(tmp_path / "absent.key"),
    }
    _one_clear_line(creditgw("serve", cwd=tmp_path, env=env, timeout=120), "CREDITGW_TLS_CERT_FILE", "TLS")
