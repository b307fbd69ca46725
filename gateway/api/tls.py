"""TLS for `serve`, and mTLS when a client CA bundle is set (docs/signing.md, "Optional mTLS").

With `tls_client_ca_file` the handshake itself refuses a client without a certificate signed by
that CA; the certificate's subject then names the client (gateway/api/auth.py)."""

from __future__ import annotations

import ssl

from gateway.settings import Settings


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    if settings.tls_client_ca_file is not None:
        context.load_verify_locations(cafile=settings.tls_client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
