from __future__ import annotations

import pymysql
import pytest

from app.sink.mysql import is_transient
from core.errors import TransientError


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), True),
        (pymysql.err.OperationalError(1213, "Deadlock found"), True),
        (pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"), True),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), True),
        (pymysql.err.OperationalError(2003, "Can't connect"), True),
        (pymysql.err.OperationalError(9007, "Write conflict"), True),
        (pymysql.err.InternalError(8028, "Information schema is changed"), True),
        (pymysql.err.OperationalError(9006, "GC life time is shorter than transaction"), False),
        (pymysql.err.OperationalError(1045, "Access denied"), False),
        (pymysql.err.ProgrammingError(1146, "Table doesn't exist"), False),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), False),
        (pymysql.err.DataError(1406, "Data too long"), False),
        (pymysql.err.OperationalError("no code"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (TransientError("blip"), True),
        (ValueError("bug"), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_session_tags_tidb_writes_only() -> None:
    from app.sink.mysql import MySQLSink
    from app.undo.sqlgen import Dialect
    from core.urls import MySQLTarget

    url = MySQLTarget("h", 4000, "root", "", "")
    tidb = MySQLSink(url, dialect=Dialect.TIDB, txn_source=3, time_zone="+08:00")
    mysql = MySQLSink(url, dialect=Dialect.MYSQL, txn_source=3)
    assert tidb._session == [
        "SET SESSION foreign_key_checks = 0",
        "SET SESSION time_zone = '+08:00'",
        "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'",
        "SET SESSION allow_auto_random_explicit_insert = 1",
        "SET SESSION tidb_enable_external_ts_read = OFF",
        "SET SESSION tidb_cdc_write_source = 3",
    ]
    assert not any("tidb" in s or "auto_random" in s for s in mysql._session)
    assert "SET SESSION foreign_key_checks = 0" in mysql._session
