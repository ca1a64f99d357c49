"""Which failures of a partition's work are worth a retry, and how a failure reads in a report.

A partition never retries for ever (a job RUNNING for ever is the second-worst outcome after a
false success): a *transient* failure — one that may pass on its own — is retried until
``TIUNDO_RETRY_DEADLINE_S`` has gone by since it first failed; any other fails the partition at
once, and its report (``part/<p>``) carries :func:`reason`, so the job ends FAILED naming it.

Transient: :class:`core.errors.TransientError` (``retriable``), the sink's transient MySQL
errors (:func:`app.sink.mysql.is_transient`: lost connection, deadlock, lock wait timeout, TiDB
write conflicts…), aiokafka errors that say ``retriable`` (and its client-side timeout), and
network-level ``OSError`` (refused, reset, unreachable, timed out). Everything else is not: a
disk full or read-only datadir, a RocksDB error, a ``TypeError`` from a bug, a
:class:`~app.sink.mysql.SinkError` (the sink already spent its own retries or the server
refused the statement). No I/O here.
"""

from __future__ import annotations

import errno
import socket

import pymysql
from aiokafka import errors as kafka_errors

from app.sink.mysql import is_transient as sink_transient
from core.errors import TiundoError

__all__ = ["MAX_REASON", "is_transient", "reason"]

MAX_REASON = 500
"""Characters of a failure reason kept in a partition report (one line of a status message)."""

_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.EAGAIN,
    }
)


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same work may succeed (pure: looks only at ``exc``)."""
    if isinstance(exc, TiundoError):
        return exc.retriable
    if isinstance(exc, pymysql.err.MySQLError):
        return sink_transient(exc)
    if isinstance(exc, kafka_errors.KafkaTimeoutError):
        return True  # the client gave up waiting for the broker: a broker away, not a bad record
    if isinstance(exc, kafka_errors.KafkaError):
        return bool(exc.retriable)
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(exc, OSError):  # ENOSPC, EIO, EROFS, EACCES: no retry fixes a full disk
        return exc.errno in _NETWORK_ERRNOS
    return False


def reason(exc: BaseException, *, secret: str = "") -> str:
    """One line: ``Type: message (notes)``, at most :data:`MAX_REASON` characters.

    Notes (``exc.add_note``) say where it happened (table id, record offset). ``secret`` (the
    downstream password) is masked should a driver ever echo it.
    """
    text = f"{type(exc).__name__}: {exc}"
    notes = getattr(exc, "__notes__", None)
    if notes:
        text += f" ({'; '.join(str(n) for n in notes)})"
    text = " ".join(text.split())
    if secret:
        text = text.replace(secret, "***")
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."
