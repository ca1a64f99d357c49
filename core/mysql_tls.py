"""What every downstream connection passes to aiomysql, and the checks TLS adds after it.

Three places open downstream connections (the bounded :func:`app.sink.connect.connect`, the
sink's pool, the ingest's syncpoint read); each takes its arguments from :func:`connect_args`, so
the URL's ``ssl-*`` options reach all of them. aiomysql falls back to plaintext when the server
offers no TLS, so :func:`check_tls` refuses such a connection under ``ssl-mode=REQUIRED`` and
stronger. The login it already sent holds no password in clear (the native and caching_sha2
methods send a scramble, and caching_sha2's full login asks for the server's RSA key when the
connection is not secure), EXCEPT when the server, or a man in the middle that stripped TLS,
switches the login to ``mysql_clear_password``: aiomysql then sends the password before this
check runs, and it has no hook to refuse earlier (README "Secured clusters", known limitation).
A failed handshake becomes one line naming the server, never its password.
"""

from __future__ import annotations

import ssl
from typing import Any

from core.errors import ConfigError
from core.urls import MySQLTarget

__all__ = ["check_tls", "connect_args", "tls_failure"]


def connect_args(target: MySQLTarget) -> dict[str, Any]:
    """``host``, ``port``, ``user``, ``password`` and ``ssl`` for ``aiomysql.connect``/pools."""
    return {
        "host": target.host,
        "port": target.port,
        "user": target.user,
        "password": target.password,
        "ssl": target.ssl_context(),
    }


def check_tls(conn: Any, target: MySQLTarget) -> None:
    """Close ``conn`` and raise :class:`ConfigError` when ``target`` requires TLS it lacks."""
    if target.tls_required and not getattr(conn, "_secure", False):
        conn.close()
        raise ConfigError(
            f"the downstream {target} offers no TLS, but ssl-mode={target.ssl_mode} requires it"
        )


def tls_failure(exc: BaseException, target: MySQLTarget) -> ConfigError | None:
    """A one-line :class:`ConfigError` when ``exc`` (or its cause) is a failed TLS handshake.

    A certificate the CA does not sign will not pass by retrying, so it is not transient.
    """
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, ssl.SSLError):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    if isinstance(seen, ssl.SSLCertVerificationError):
        reason = f"certificate verify failed: {seen.verify_message}"
    else:
        reason = str(getattr(seen, "reason", None) or seen)
    return ConfigError(
        f"TLS with the downstream {target} failed ({reason}; ssl-mode={target.ssl_mode}, "
        f"ssl-ca={target.ssl_ca or 'system roots'})"
    )
