from __future__ import annotations

import pymysql
import pytest

from app.errors import TransientError
from app.sink.mysql import is_transient


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
