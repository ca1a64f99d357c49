"""Which failures are retried until the deadline and which fail the partition at once."""

from __future__ import annotations

import errno
import socket

import pymysql
import pytest
from aiokafka import errors as kafka_errors

from app.sink.mysql import SinkError
from app.stages.failure import MAX_REASON, is_transient, reason
from core.errors import ConfigError, DecodeError, TransientError


@pytest.mark.parametrize(
    "exc",
    [
        TransientError("status API away"),
        pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
        pymysql.err.OperationalError(1213, "Deadlock found"),
        pymysql.err.InternalError(1205, "Lock wait timeout exceeded"),
        kafka_errors.KafkaConnectionError("broker down"),
        kafka_errors.NotLeaderForPartitionError(),
        kafka_errors.KafkaTimeoutError(),
        TimeoutError(),
        ConnectionResetError(),
        socket.gaierror(-2, "Name or service not known"),
        OSError(errno.ECONNREFUSED, "refused"),
    ],
    ids=repr,
)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        SinkError("downstream refused ...: ProgrammingError(1146, ...)"),
        ConfigError("bad"),
        DecodeError("bad bytes"),
        pymysql.err.OperationalError(1054, "Unknown column 'job' in 'field list'"),
        pymysql.err.IntegrityError(1048, "Column 'v' cannot be null"),
        pymysql.err.ProgrammingError("nan can not be used with MySQL"),
        kafka_errors.TopicAuthorizationFailedError(),
        kafka_errors.MessageSizeTooLargeError(),
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EROFS, "Read-only file system"),
        OSError(errno.EIO, "Input/output error"),
        Exception("Corruption: block checksum mismatch"),  # how rocksdict reports RocksDB errors
        TypeError("no SQL parameter form for tuple"),
        KeyError("x"),
    ],
    ids=repr,
)
def test_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_reason_is_one_line_with_notes_and_no_secret() -> None:
    exc = pymysql.err.OperationalError(1045, "Access denied for user 'u'@'h'\n(password hunter2)")
    exc.add_note("table 104 (shop.t) phase 0")
    exc.add_note("partition 3 offset 17")
    got = reason(exc, secret="hunter2")
    assert got == (
        "OperationalError: (1045, \"Access denied for user 'u'@'h'\\n(password ***)\") "
        "(table 104 (shop.t) phase 0; partition 3 offset 17)"
    )


def test_reason_is_bounded() -> None:
    got = reason(ValueError("x" * 10_000))
    assert len(got) == MAX_REASON and got.endswith("...") and "\n" not in got
