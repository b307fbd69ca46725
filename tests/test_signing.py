"""The signing scheme (docs/signing.md): hashes against published vectors, the canonical query,
and the worked example of the documentation recomputed from its own values."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from gateway.signing import (
    HMAC_SHA256,
    HMAC_SM3,
    LINK_PARAMETERS,
    Credentials,
    canonical_query,
    digest,
    link_string_to_sign,
    mac,
    presign,
    sign_headers,
    signature,
    string_to_sign,
)

DOC = (Path(__file__).resolve().parents[1] / "docs" / "signing.md").read_text("utf-8")
REPO = Path(__file__).resolve().parents[1]


def test_sm3_is_in_the_installed_cryptography() -> None:
    assert hasattr(hashes, "SM3")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # GB/T 32905-2016, Appendix A, examples 1 and 2.
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    ],
)
def test_sm3_matches_gb_t_32905(message: bytes, expected: str) -> None:
    assert digest(HMAC_SM3, message) == expected


def test_hmac_sm3_matches_gm_t_0042() -> None:
    # GM/T 0042-2015 Appendix D.3, first vector.
    key = bytes(range(1, 33))
    message = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" * 2
    assert mac(HMAC_SM3, key, message) == "ca05e144ed05d1857840d1f318a4a8669e559fc8391f414485bfdf7bb408963a"


def test_hmac_sha256_matches_rfc_4231() -> None:
    # RFC 4231, test case 2.
    assert (
        mac(HMAC_SHA256, b"Jefe", b"what do ya want for nothing?")
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_canonical_query_sorts_decodes_and_reencodes() -> None:
    assert canonical_query("") == ""
    assert canonical_query("b=2&a=1") == canonical_query("a=1&b=2") == "a=1&b=2"
    assert canonical_query("a=%31&b=2") == "a=1&b=2"
    assert canonical_query("q=%E5%85%B0&q=a+b") == "q=a%20b&q=%E5%85%B0"
    assert canonical_query("flag") == "flag="
    assert canonical_query("a=1&b=2") != canonical_query("a=1&b=3")


def _doc_block_after(marker: str) -> str:
    """The first fenced block after `marker` in docs/signing.md."""
    rest = DOC[DOC.index(marker) :]
    match = re.search(r"```\n(.*?)\n```", rest, re.S)
    assert match is not None
    return match.group(1)


def test_the_documented_worked_examples_recompute() -> None:
    secret = "cgs_example-secret-do-not-use"
    body = _doc_block_after("`POST /v1/repairs` with this body").encode()
    post = Credentials(client_id="tax-gs", secret=secret, algorithm=HMAC_SHA256)
    headers = sign_headers(
        post, "POST", "/v1/repairs", body, timestamp=1777716000, nonce="3f1c0a9e5b7d4e21a8c6f0b2d4e6a8c0"
    )
    text = string_to_sign(
        algorithm=HMAC_SHA256,
        client_id="tax-gs",
        method="POST",
        path="/v1/repairs",
        query="",
        timestamp="1777716000",
        nonce="3f1c0a9e5b7d4e21a8c6f0b2d4e6a8c0",
        body=body,
    )
    assert _doc_block_after("String to sign:") == text
    assert f"`X-Signature: {headers['X-Signature']}`" in DOC

    get = Credentials(client_id="tax-gs", secret=secret, algorithm=HMAC_SM3)
    url = "/v1/records/rec_c0dc99592cbf6630caad7c91/eligibility?today=2026-05-10&system=gsxt_gansu"
    headers = sign_headers(get, "GET", url, timestamp=1777716000, nonce="9d2e4c6a8b0f1e3d5c7a9b1d3f5e7a9c")
    assert _doc_block_after("(no body: the SM3 digest of zero bytes)") == string_to_sign(
        algorithm=HMAC_SM3,
        client_id="tax-gs",
        method="GET",
        path="/v1/records/rec_c0dc99592cbf6630caad7c91/eligibility",
        query="today=2026-05-10&system=gsxt_gansu",
        timestamp="1777716000",
        nonce="9d2e4c6a8b0f1e3d5c7a9b1d3f5e7a9c",
        body=b"",
    )
    assert f"`X-Signature: {headers['X-Signature']}`" in DOC


def test_every_signed_part_changes_the_signature() -> None:
    credentials = Credentials(client_id="c", secret="s")
    base = {"method": "POST", "url": "/v1/x?a=1", "body": b"{}", "timestamp": 1, "nonce": "n" * 16}

    def sig(**changes: object) -> str:
        values = {**base, **changes}
        return sign_headers(
            Credentials(client_id=str(values.pop("client_id", "c")), secret=str(values.pop("secret", "s"))),
            str(values["method"]),
            str(values["url"]),
            values["body"],  # type: ignore[arg-type]
            timestamp=values["timestamp"],  # type: ignore[arg-type]
            nonce=str(values["nonce"]),
        )["X-Signature"]

    assert credentials.algorithm == HMAC_SHA256
    reference = sig()
    for change in (
        {"method": "PUT"},
        {"url": "/v1/y?a=1"},
        {"url": "/v1/x?a=2"},
        {"body": b"{ }"},
        {"timestamp": 2},
        {"nonce": "m" * 16},
        {"client_id": "d"},
        {"secret": "t"},
    ):
        assert sig(**change) != reference, change
    assert sig(url="/v1/x?a=1") == reference


def test_sign_cli_prints_the_headers(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("cgs_example-secret-do-not-use\n")
    command = [sys.executable, "-m", "gateway.cli", "sign", "GET", "/v1/guidance", "--client-id", "tax-gs"]
    done = subprocess.run(
        [*command, "--secret-file", str(secret), "--algorithm", "HMAC-SM3"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    headers = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert set(headers) == {"X-Client-Id", "X-Timestamp", "X-Nonce", "X-Signature-Algorithm", "X-Signature"}
    expected = sign_headers(
        Credentials(client_id="tax-gs", secret="cgs_example-secret-do-not-use", algorithm=HMAC_SM3),
        "GET",
        "/v1/guidance",
        timestamp=int(headers["X-Timestamp"]),
        nonce=headers["X-Nonce"],
    )
    assert headers == expected


def test_sign_cli_without_a_secret_is_one_line_and_non_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "sign", "GET", "/v1/guidance", "--client-id", "x"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert done.stdout.count("\n") == 1 and "no_secret" in done.stdout and "Traceback" not in done.stderr


def test_a_presigned_link_signs_its_own_string_never_a_request_s() -> None:
    credentials = Credentials(client_id="ops", secret="cgs_example-secret-do-not-use")
    link = presign(credentials, "reconciliation/run-1", 1777716000)
    assert tuple(link) == LINK_PARAMETERS
    text = link_string_to_sign(
        algorithm="HMAC-SHA256", client_id="ops", resource="reconciliation/run-1", expires=1777716000
    )
    assert text == "CREDITGW1-LINK-HMAC-SHA256\nops\nreconciliation/run-1\n1777716000"
    assert link["link_signature"] == signature(credentials.secret, text, "HMAC-SHA256")
    # Another run, another expiry or another algorithm: another signature.
    assert presign(credentials, "reconciliation/run-2", 1777716000)["link_signature"] != link["link_signature"]
    assert presign(credentials, "reconciliation/run-1", 1777716001)["link_signature"] != link["link_signature"]
    sm3 = Credentials(client_id="ops", secret=credentials.secret, algorithm="HMAC-SM3")
    assert presign(sm3, "reconciliation/run-1", 1777716000)["link_signature"] != link["link_signature"]
