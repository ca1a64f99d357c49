"""The one way the ingest dials PD and TiKV: plaintext, or TLS with the cluster's CA.

TiCDC's ``--ca/--cert/--key`` secure both PD and every TiKV store with the same files; so do
these credentials. ``ca`` empty with TLS on means the system roots (an ``https://`` PD URL alone),
never plaintext. A client certificate is sent when the servers ask for it (mutual TLS).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from core.tls import TlsFiles

__all__ = ["channel_credentials", "open_channel"]

ChannelOptions = Sequence[tuple[str, Any]]


def channel_credentials(tls: TlsFiles | None) -> grpc.ChannelCredentials | None:
    """The channel credentials for ``tls`` (``None`` = plaintext); files are read now, once."""
    if tls is None:
        return None
    ca, cert, key = tls.pem()
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def open_channel(
    address: str, options: ChannelOptions, credentials: grpc.ChannelCredentials | None
) -> grpc.aio.Channel:
    """A lazily connecting channel to ``host:port``, TLS when ``credentials`` are given."""
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, credentials, options=options)
