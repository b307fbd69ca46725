"""Optional mTLS (docs/signing.md): the certificate's subject names the client; signatures stay
required unless turned off. Certificates are made here, with `cryptography`."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.api.app import create_app
from gateway.api.tls import server_ssl_context
from gateway.clients import Scope
from gateway.signing import sign_headers
from tests.test_api_harness import Harness, open_harness

CLIENT_SUBJECT = "CN=tax-gs,O=Gansu Tax"


@dataclass
class Issued:
    cert: Path
    key: Path


def _name(common: str, org: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, common)]
    )


def _issue(
    directory: Path,
    stem: str,
    subject: x509.Name,
    *,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
    server: bool = False,
) -> tuple[Issued, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    issued = Issued(cert=directory / f"{stem}.pem", key=directory / f"{stem}.key")
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    issued.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return issued, key


@dataclass
class Pki:
    ca: Issued
    server: Issued
    client: Issued
    stranger: Issued  # a certificate the gateway's CA did not sign


def _pki(directory: Path) -> Pki:
    ca_name = _name("creditgw test CA", "Gansu")
    ca, ca_key = _issue(directory, "ca", ca_name, ca=True)
    server, _ = _issue(directory, "server", _name("127.0.0.1", "creditgw"), issuer=(ca_name, ca_key), server=True)
    client, _ = _issue(directory, "client", _name("tax-gs", "Gansu Tax"), issuer=(ca_name, ca_key))
    stranger, _ = _issue(directory, "stranger", _name("tax-gs", "Gansu Tax"))
    return Pki(ca=ca, server=server, client=client, stranger=stranger)


@asynccontextmanager
async def _tls_gateway(database_url: str, pki: Pki, **settings: Any) -> AsyncIterator[tuple[Harness, str]]:
    async with open_harness(
        database_url,
        tls_cert_file=str(pki.server.cert),
        tls_key_file=str(pki.server.key),
        tls_client_ca_file=str(pki.ca.cert),
        **settings,
    ) as api:
        context = server_ssl_context(api.runtime.settings)
        assert context is not None
        runner = web.AppRunner(create_app(api.runtime))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield api, f"https://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


def _client_context(pki: Pki, issued: Issued | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    if issued is not None:
        context.load_cert_chain(str(issued.cert), str(issued.key))
    return context


async def _get(base: str, context: ssl.SSLContext, headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/v1/guidance", ssl=context, headers=headers) as resp:
        return resp.status


async def test_certificate_and_signature_must_name_the_same_client(database_url: str, tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    async with _tls_gateway(database_url, pki) as (api, base):
        tax = await api.add_client("tax-gs", scopes=[Scope.READ], cert_subject=CLIENT_SUBJECT)
        other = await api.add_client("other", scopes=[Scope.READ])
        with_cert = _client_context(pki, pki.client)
        assert await _get(base, with_cert, sign_headers(tax, "GET", "/v1/guidance")) == 200
        assert await _get(base, with_cert) == 401  # signatures still required
        assert await _get(base, with_cert, sign_headers(other, "GET", "/v1/guidance")) == 401  # another client
        for stranger in (None, pki.stranger):  # no certificate, or one the CA did not sign: no handshake
            with pytest.raises(aiohttp.ClientError):
                await _get(base, _client_context(pki, stranger), sign_headers(tax, "GET", "/v1/guidance"))


async def test_without_signatures_the_certificate_alone_identifies(database_url: str, tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    async with _tls_gateway(database_url, pki, require_signature=False) as (api, base):
        await api.add_client("tax-gs", scopes=[Scope.READ], cert_subject=CLIENT_SUBJECT)
        assert await _get(base, _client_context(pki, pki.client)) == 200
        await api.add_client("unmapped", scopes=[Scope.DECIDE])  # would get 403 if the header counted
        claimed = {"X-Client-Id": "unmapped"}  # a header cannot override the certificate
        assert await _get(base, _client_context(pki, pki.client), claimed) == 200


def test_the_subject_string_is_rfc_4514(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    cert = x509.load_pem_x509_certificate(pki.client.cert.read_bytes())
    assert cert.subject.rfc4514_string() == CLIENT_SUBJECT
