"""One bounded connection to the downstream, for the reads and clean-ups outside the sink.

aiomysql's ``connect_timeout`` bounds only the TCP connect: a server that accepts and never
sends its greeting would hold the caller for ever. The whole handshake is bounded here, and
every failure becomes a :class:`~core.errors.TransientError` naming the server (never its
password), except a TLS one (a certificate the CA does not sign, a server without TLS under
``ssl-mode=REQUIRED``): a :class:`~core.errors.ConfigError`, since no retry fixes it. The sink's
own pool (:mod:`app.sink.mysql`) bounds its connections the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomysql

from core.errors import TransientError
from core.mysql_tls import check_tls, connect_args, tls_failure
from core.urls import MySQLTarget

__all__ = ["connect"]


async def connect(target: MySQLTarget, *, timeout_s: float, autocommit: bool = True) -> Any:
    """An aiomysql connection to ``target``, or :class:`TransientError` within ``timeout_s``."""
    args = connect_args(target)
    try:
        async with asyncio.timeout(timeout_s):
            conn = await aiomysql.connect(**args, connect_timeout=timeout_s, autocommit=autocommit)
    except TimeoutError as exc:
        raise TransientError(
            f"the downstream {target} did not answer within {timeout_s:g} s"
        ) from exc
    except Exception as exc:  # PyMySQL raises OperationalError and plain OSErrors
        tls = tls_failure(exc, target)
        if tls is not None:
            raise tls from exc
        raise TransientError(f"cannot connect to the downstream {target}: {exc}") from exc
    check_tls(conn, target)
    return conn
