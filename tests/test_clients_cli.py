"""`creditgw clients …`: secrets shown once and sealed, two at most, rotation, revocation, scopes;
operator mistakes are one JSON line and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.clients import new_key
from tests.test_cli import creditgw


def _env(tmp_path: Path, key: str | None) -> dict[str, str]:
    env = {"CREDITGW_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"}
    if key is not None:
        env["CREDITGW_SECRETS_KEY"] = key
    return env


def _run(tmp_path: Path, env: dict[str, str], *args: str, status: int = 0) -> Any:
    result = creditgw("clients", *args, cwd=tmp_path, env=env)
    assert result.returncode == status, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def test_a_clients_life(tmp_path: Path) -> None:
    env = _env(tmp_path, new_key())
    added = _run(
        tmp_path,
        env,
        *("add", "tax-gs", "--name", "甘肃税务", "--scope", "decide,read", "--authority", "11620000mb1234567x"),
        *("--category", "admin_penalty"),
    )
    assert added["client_id"] == "tax-gs" and added["secret"].startswith("cgs_") and added["secret_id"] == 1
    assert added["secret"] not in (tmp_path / "gw.db").read_bytes().decode("latin-1")  # sealed at rest

    shown = _run(tmp_path, env, "show", "tax-gs")
    assert "secret" not in shown and shown["active_secrets"] == [1]
    assert shown["authorities"] == ["11620000MB1234567X"] and shown["scopes"] == ["decide", "read"]

    second = _run(tmp_path, env, "rotate", "tax-gs")
    assert second["secret_id"] == 2 and second["secret"] != added["secret"]
    assert _run(tmp_path, env, "show", "tax-gs")["active_secrets"] == [1, 2]
    third = _run(tmp_path, env, "rotate", "tax-gs")  # two at most: the oldest goes
    assert third["secret_id"] == 3 and _run(tmp_path, env, "show", "tax-gs")["active_secrets"] == [2, 3]
    assert _run(tmp_path, env, "retire", "tax-gs", "2")["active_secrets"] == [3]

    assert _run(tmp_path, env, "scopes", "tax-gs", "--scope", "read")["scopes"] == ["read"]
    assert [c["client_id"] for c in _run(tmp_path, env, "list")] == ["tax-gs"]
    revoked = _run(tmp_path, env, "revoke", "tax-gs")
    assert revoked["status"] == "revoked" and revoked["active_secrets"] == []


def test_operator_mistakes_are_one_line(tmp_path: Path) -> None:
    env = _env(tmp_path, new_key())
    for args in (
        ("add", "x", "--scope", "repair-everything"),
        ("add", "x", "--authority", "not-a-uscc"),
        ("add", "a b"),
        ("show", "nobody"),
        ("retire", "nobody", "1"),
    ):
        error = _run(tmp_path, env, *args, status=2)
        assert error["code"] == "client_error" and error["message"]
    assert _run(tmp_path, _env(tmp_path, None), "add", "x", status=2)["code"] == "client_error"  # no key
    assert _run(tmp_path, _env(tmp_path, "short"), "list", status=2)["code"] == "invalid_secrets_key"
