"""Signed system-to-system calls (docs/signing.md): the one place that says what is signed.

Pure functions, no I/O, used by both sides: a caller (`sign_headers`, the `creditgw sign` CLI,
the demo, the benchmarks, the tests) and the gateway's verifier (gateway/api/auth.py), so the two
cannot drift apart. The string to sign is, joined by "\\n":

    CREDITGW1-<algorithm>
    <client id>
    <METHOD>
    <path>                      (as sent, percent-encoded)
    <canonical query>           (pairs decoded, sorted, re-encoded; empty when there is none)
    <timestamp>                 (Unix seconds)
    <nonce>
    <hex digest of the body>    (same hash as the HMAC; of b"" when there is no body)

and the signature is the lower-case hex HMAC of it under the client's secret.
"""

from __future__ import annotations

import hmac as _hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _chmac
from yarl import URL

SCHEME = "CREDITGW1"
HMAC_SHA256 = "HMAC-SHA256"
HMAC_SM3 = "HMAC-SM3"
ALGORITHMS: Mapping[str, type[hashes.HashAlgorithm]] = {HMAC_SHA256: hashes.SHA256, HMAC_SM3: hashes.SM3}

CLIENT_HEADER = "X-Client-Id"
TIMESTAMP_HEADER = "X-Timestamp"
NONCE_HEADER = "X-Nonce"
ALGORITHM_HEADER = "X-Signature-Algorithm"
SIGNATURE_HEADER = "X-Signature"
SIGNED_HEADERS = (CLIENT_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, ALGORITHM_HEADER, SIGNATURE_HEADER)


def digest(algorithm: str, data: bytes) -> str:
    """Hex digest of `data` with the hash under `algorithm` (SHA-256 or SM3)."""
    h = hashes.Hash(ALGORITHMS[algorithm]())
    h.update(data)
    return h.finalize().hex()


def mac(algorithm: str, key: bytes, data: bytes) -> str:
    """Hex HMAC of `data` under `key` with the hash under `algorithm`."""
    h = _chmac.HMAC(key, ALGORITHMS[algorithm]())
    h.update(data)
    return h.finalize().hex()


def canonical_query(query: str) -> str:
    """Pairs percent-decoded, sorted by name then value, re-encoded (RFC 3986 unreserved kept):
    `b=2&a=1`, `a=1&b=2` and `a=%31&b=2` sign the same."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def string_to_sign(
    *, algorithm: str, client_id: str, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes
) -> str:
    return "\n".join(
        (
            f"{SCHEME}-{algorithm}",
            client_id,
            method.upper(),
            path,
            canonical_query(query),
            timestamp,
            nonce,
            digest(algorithm, body),
        )
    )


def signature(secret: str, text: str, algorithm: str) -> str:
    return mac(algorithm, secret.encode(), text.encode())


def matches(expected: str, given: str) -> bool:
    """Constant-time comparison: how long it takes says nothing about where they differ."""
    return _hmac.compare_digest(expected.encode(), given.encode())


def new_nonce() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """What a caller holds: its client id, one of its secrets and the algorithm it signs with."""

    client_id: str
    secret: str
    algorithm: str = HMAC_SHA256


def sign_headers(
    credentials: Credentials,
    method: str,
    url: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers that sign one request. `url` is the path with its query (`/v1/x?a=1`) or a
    full URL; send it and `body` exactly as signed. The path is signed percent-encoded, as an
    HTTP client sends it (yarl, which aiohttp uses, encodes what needs it)."""
    if credentials.algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {credentials.algorithm!r}; one of {', '.join(ALGORITHMS)}")
    parts = URL(url)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    once = nonce or new_nonce()
    text = string_to_sign(
        algorithm=credentials.algorithm,
        client_id=credentials.client_id,
        method=method,
        path=parts.raw_path or "/",
        query=parts.raw_query_string,
        timestamp=ts,
        nonce=once,
        body=body,
    )
    return {
        CLIENT_HEADER: credentials.client_id,
        TIMESTAMP_HEADER: ts,
        NONCE_HEADER: once,
        ALGORITHM_HEADER: credentials.algorithm,
        SIGNATURE_HEADER: signature(credentials.secret, text, credentials.algorithm),
    }


# ---- presigned report links (docs/adr/0023-presigned-report-links.md) ---------------------------
#
# A browser cannot sign a request, so an operator opens a reconciliation report with a link the
# gateway minted for one client: its query carries the client, the expiry, the algorithm and an
# HMAC under the client's secret of
#
#     CREDITGW1-LINK-<algorithm>
#     <client id>
#     <resource>                  (what the link opens: `reconciliation/<run id>`)
#     <expires>                   (Unix seconds)
#
# The first line differs from every request's string to sign, so a link's signature can never
# pass as a request's and no request's signature as a link's.

LINK_SCHEME = "CREDITGW1-LINK"
LINK_CLIENT = "link_client"
LINK_EXPIRES = "link_expires"
LINK_ALGORITHM = "link_algorithm"
LINK_SIGNATURE = "link_signature"
LINK_PARAMETERS = (LINK_CLIENT, LINK_EXPIRES, LINK_ALGORITHM, LINK_SIGNATURE)


def link_string_to_sign(*, algorithm: str, client_id: str, resource: str, expires: int) -> str:
    return "\n".join((f"{LINK_SCHEME}-{algorithm}", client_id, resource, str(expires)))


def presign(credentials: Credentials, resource: str, expires: int) -> dict[str, str]:
    """The query parameters of a link to `resource` for `credentials`' client, good until `expires`."""
    if credentials.algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {credentials.algorithm!r}; one of {', '.join(ALGORITHMS)}")
    text = link_string_to_sign(
        algorithm=credentials.algorithm, client_id=credentials.client_id, resource=resource, expires=expires
    )
    return {
        LINK_CLIENT: credentials.client_id,
        LINK_EXPIRES: str(expires),
        LINK_ALGORITHM: credentials.algorithm,
        LINK_SIGNATURE: signature(credentials.secret, text, credentials.algorithm),
    }
