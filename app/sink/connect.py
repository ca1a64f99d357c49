"""One bounded connection to the downstream, for the reads and clean-ups outside the sink.

aiomysql's ``connect_timeout`` bounds only the TCP connect: a server that accepts and never
sends its greeting would hold the caller for ever. The whole handshake is bounded here, and
every failure becomes a :class:`~core.errors.TransientError` naming the server (never its
password). The sink's own pool (:mod:`app.sink.mysql`) bounds its connections the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomysql

from core.errors import TransientError
from core.urls import MySQLTarget

__all__ = ["connect"]


async def connect(target: MySQLTarget, *, timeout_s: float, autocommit: bool = True) -> Any:
    """An aiomysql connection to ``target``, or :class:`TransientError` within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            return await aiomysql.connect(
                host=target.host,
                port=target.port,
                user=target.user,
                password=target.password,
                connect_timeout=timeout_s,
                autocommit=autocommit,
            )
    except TimeoutError as exc:
        raise TransientError(
            f"the downstream {target} did not answer within {timeout_s:g} s"
        ) from exc
    except Exception as exc:  # PyMySQL raises OperationalError and plain OSErrors
        raise TransientError(f"cannot connect to the downstream {target}: {exc}") from exc
