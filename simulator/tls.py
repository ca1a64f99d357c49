"""TLS for the fake PD and TiKV servers: a server certificate, optionally a client CA to demand.

With ``client_ca`` the servers require a client certificate that CA signed (mutual TLS, as a
TiDB cluster with ``cluster-verify-cn`` or ``security.ca-path`` set does for TiCDC).
"""

from __future__ import annotations

from dataclasses import dataclass

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
