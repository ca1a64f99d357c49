"""TLS material given by path, read and checked once, for every client tiundo opens.

The same three files TiCDC takes (``--ca``, ``--cert``, ``--key``) secure the PD and TiKV gRPC
channels, the MySQL downstream (``ssl-ca``/``ssl-cert``/``ssl-key`` in its URL) and Kafka
(``TIUNDO_KAFKA_CA``…). A missing or unreadable file is a one-line :class:`ConfigError` naming
the setting and the path, never a TLS error deep inside a handshake. Pure: stdlib only.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

__all__ = ["TlsFiles", "client_context", "read_file"]


def read_file(path: str, what: str) -> bytes:
    """The bytes of ``path``; a one-line :class:`ConfigError` naming ``what`` when unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path!r} ({exc.strerror or exc})") from None
    if not data.strip():
        raise ConfigError(f"{what}: {path!r} is empty")
    return data


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files: the CA that signs the servers, and this client's certificate and key."""

    ca: str = ""
    cert: str = ""
    key: str = ""
    #: the settings they came from, for errors (``--ca/--cert/--key``)
    names: tuple[str, str, str] = ("--ca", "--cert", "--key")

    @property
    def given(self) -> bool:
        """Whether any file is named."""
        return bool(self.ca or self.cert or self.key)

    def validate(self) -> TlsFiles:
        """A one-line :class:`ConfigError` for a lone cert or key or an unreadable file."""
        if bool(self.cert) != bool(self.key):
            raise ConfigError(
                f"{self.names[1]} and {self.names[2]} go together (a client certificate needs "
                "its key)"
            )
        for path, name in zip((self.ca, self.cert, self.key), self.names, strict=True):
            if path:
                read_file(path, name)
        return self

    def pem(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """The CA, certificate and key bytes (``None`` where not given)."""
        self.validate()
        return tuple(  # type: ignore[return-value]
            read_file(p, n) if p else None
            for p, n in zip((self.ca, self.cert, self.key), self.names, strict=True)
        )


def client_context(
    tls: TlsFiles, *, verify_ca: bool = True, verify_host: bool = True
) -> ssl.SSLContext:
    """A client context: ``tls.ca`` (or the system roots) checks the server; ``cert`` is ours.

    ``verify_ca=False`` encrypts without checking the server (MySQL's ``REQUIRED``);
    ``verify_host=False`` checks the chain but not the name (``VERIFY_CA``).
    """
    tls.validate()
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    try:
        if tls.ca:
            ctx.load_verify_locations(cafile=tls.ca)
        if tls.cert:
            ctx.load_cert_chain(tls.cert, tls.key)
    except ssl.SSLError as exc:
        bad = f"{tls.names[0]} {tls.ca!r}" if tls.ca else ""
        if tls.cert:
            bad = f"{bad} / {tls.names[1]} {tls.cert!r} with {tls.names[2]} {tls.key!r}".lstrip(
                " /"
            )
        raise ConfigError(f"not usable PEM TLS material ({bad}): {exc.reason or exc}") from None
    if not verify_ca:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif not verify_host:
        ctx.check_hostname = False
    return ctx
