"""TLS for the fake PD and TiKV servers: a server certificate, optionally a client CA to demand.

With ``client_ca`` the servers require a client certificate that CA signed (mutual TLS, as a
TiDB cluster with ``cluster-verify-cn`` or ``security.ca-path`` set does for TiCDC). The same
material serves the fake TiDB status port over https (:meth:`ServerTls.ssl_context`).
"""

from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc

__all__ = ["ServerTls"]


@dataclass(frozen=True, slots=True)
class ServerTls:
    """PEM bytes of the server's certificate chain and key, and the client CA to require."""

    cert_pem: bytes
    key_pem: bytes
    client_ca_pem: bytes | None = None

    def credentials(self) -> grpc.ServerCredentials:
        """What ``add_secure_port`` takes."""
        return grpc.ssl_server_credentials(
            [(self.key_pem, self.cert_pem)],
            root_certificates=self.client_ca_pem,
            require_client_auth=self.client_ca_pem is not None,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """An HTTPS server context (``ssl`` loads a chain from files only: written, then gone)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory() as folder:
            cert, key = Path(folder, "server.crt"), Path(folder, "server.key")
            cert.write_bytes(self.cert_pem)
            key.write_bytes(self.key_pem)
            ctx.load_cert_chain(cert, key)
        if self.client_ca_pem is not None:
            ctx.load_verify_locations(cadata=self.client_ca_pem.decode())
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx
