"""How every Kafka client of tiundo authenticates: one home for Kafka's security settings.

The ingest producer, the Faust workers (``broker_credentials``), the job record and status
readers and writers, and every admin call (:mod:`core.kafka_admin`) take their options from
:func:`kafka_options`, which reads the ``TIUNDO_KAFKA_*`` variables below through
:mod:`core.settings`. Each process reads its own environment: workers started on other machines
bring their own credentials, and nothing of this goes into the job record or any Kafka record.
``security.protocol`` and the SASL mechanisms are Kafka's names; aiokafka supports ``PLAIN``,
``SCRAM-SHA-256`` and ``SCRAM-SHA-512`` (GSSAPI and OAUTHBEARER are not offered here).
Pure: stdlib only.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Final

from core import settings
from core.errors import ConfigError
from core.secrets import resolve_secret
from core.settings import setting
from core.tls import TlsFiles, client_context

__all__ = ["MECHANISMS", "PROTOCOLS", "KafkaSecurity", "kafka_options", "kafka_security"]

PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """Kafka's ``security.protocol``, SASL login and TLS files, as one process was given them."""

    #: one of :data:`PROTOCOLS`
    protocol: str = setting("TIUNDO_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    #: one of :data:`MECHANISMS` (``sasl.mechanism``)
    sasl_mechanism: str = setting("TIUNDO_KAFKA_SASL_MECHANISM", "PLAIN")
    sasl_user: str = setting("TIUNDO_KAFKA_SASL_USER", "")
    #: the SASL password itself, or (the next field) a file holding it
    sasl_password: str = setting("TIUNDO_KAFKA_SASL_PASSWORD", "")
    sasl_password_file: str = setting("TIUNDO_KAFKA_SASL_PASSWORD_FILE", "")
    #: PEM CA of the brokers (empty = the system roots), and a client pair for mutual TLS
    ca: str = setting("TIUNDO_KAFKA_CA", "")
    cert: str = setting("TIUNDO_KAFKA_CERT", "")
    key: str = setting("TIUNDO_KAFKA_KEY", "")

    def __repr__(self) -> str:
        # never the password, whoever logs this
        return (
            f"KafkaSecurity(protocol={self.protocol!r}, sasl_mechanism={self.sasl_mechanism!r}, "
            f"sasl_user={self.sasl_user!r}, ca={self.ca!r}, cert={self.cert!r})"
        )

    @property
    def tls(self) -> bool:
        """Whether the connection to the brokers is TLS."""
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        """Whether the client logs in with SASL."""
        return self.protocol.startswith("SASL_")

    def password(self) -> str | None:
        """The SASL password (from the variable or the file)."""
        return resolve_secret(
            self.sasl_password,
            self.sasl_password_file,
            ("TIUNDO_KAFKA_SASL_PASSWORD", "TIUNDO_KAFKA_SASL_PASSWORD_FILE"),
        )

    def files(self) -> TlsFiles:
        """The TLS files, named by their variables in errors."""
        return TlsFiles(
            self.ca,
            self.cert,
            self.key,
            ("TIUNDO_KAFKA_CA", "TIUNDO_KAFKA_CERT", "TIUNDO_KAFKA_KEY"),
        )

    def validate(self) -> KafkaSecurity:
        """A one-line :class:`ConfigError` naming the first setting that cannot work."""
        if self.protocol not in PROTOCOLS:
            raise ConfigError(
                f"TIUNDO_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, "
                f"got {self.protocol!r}"
            )
        if self.sasl:
            if self.sasl_mechanism not in MECHANISMS:
                raise ConfigError(
                    f"TIUNDO_KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}, "
                    f"got {self.sasl_mechanism!r}"
                )
            if not self.sasl_user or self.password() is None:
                raise ConfigError(
                    f"TIUNDO_KAFKA_SECURITY_PROTOCOL={self.protocol} needs TIUNDO_KAFKA_SASL_USER "
                    "and TIUNDO_KAFKA_SASL_PASSWORD (or TIUNDO_KAFKA_SASL_PASSWORD_FILE)"
                )
        elif self.sasl_user or self.sasl_password or self.sasl_password_file:
            raise ConfigError(
                f"a SASL login is given but TIUNDO_KAFKA_SECURITY_PROTOCOL is {self.protocol}: "
                "use SASL_SSL (or SASL_PLAINTEXT)"
            )
        if not self.tls and self.files().given:
            raise ConfigError(
                f"TIUNDO_KAFKA_CA/CERT/KEY are given but TIUNDO_KAFKA_SECURITY_PROTOCOL is "
                f"{self.protocol}: use SSL or SASL_SSL"
            )
        self.files().validate()
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (the CA, or the system roots; host names checked), or ``None``."""
        return client_context(self.files()) if self.tls else None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client (producer, consumer, admin)."""
        self.validate()
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_user,
                sasl_plain_password=self.password(),
            )
        return options


def kafka_security() -> KafkaSecurity:
    """The Kafka security settings of this process's environment, checked."""
    return settings.from_env(KafkaSecurity).validate()


def kafka_options() -> dict[str, Any]:
    """:meth:`KafkaSecurity.client_options` of this process's environment."""
    return kafka_security().client_options()
