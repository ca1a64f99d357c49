"""core.digest: canonical values agree between MariaDB's Python values and the codec's; readers."""

from __future__ import annotations

import datetime as dt
import random
import struct
from decimal import Decimal
from typing import Any

import pytest

from core.codec import mysqldef as m
from core.codec.jsonbin import JSON_NULL
from core.codec.mytime import MyTime
from core.digest import RowDigest, canonical_value, checksum_table, mariadb_digest, row_digest
from simulator.tabledef import ColumnDef, TableDef


def _col(kind: str, **kw: object) -> object:
    tdef = TableDef("d", "t", (ColumnDef("c", kind, **kw),))  # type: ignore[arg-type]
    return tdef.table_info(100).columns[0]


def test_float_compares_as_float32() -> None:
    col = _col("float")
    widened = struct.unpack("<f", struct.pack("<f", 0.1))[0]
    assert widened != 0.1
    assert canonical_value(col, 0.1) == canonical_value(col, widened)  # type: ignore[arg-type]
    assert canonical_value(col, 0.1) != canonical_value(col, 0.2)  # type: ignore[arg-type]


def test_decimal_uses_column_scale() -> None:
    col = _col("decimal", length=10, scale=2)
    c = canonical_value
    assert c(col, Decimal("1.5")) == c(col, Decimal("1.50")) == "1.50"  # type: ignore[arg-type]
    assert c(col, Decimal("-0.00")) == "0.00"  # type: ignore[arg-type]
    assert c(col, Decimal("-1.25")) == "-1.25"  # type: ignore[arg-type]


def test_times_from_both_readers() -> None:
    c = canonical_value
    dtc = _col("datetime", scale=3)
    pymysql_value = dt.datetime(2020, 1, 2, 3, 4, 5, 120000)  # noqa: DTZ001
    codec_value = MyTime(2020, 1, 2, 3, 4, 5, 120000, tp=m.TYPE_DATETIME, fsp=3)
    assert c(dtc, pymysql_value) == c(dtc, codec_value) == "2020-01-02 03:04:05.120000"  # type: ignore[arg-type]
    datec = _col("date")
    assert c(datec, dt.date(1999, 12, 31)) == c(datec, MyTime(1999, 12, 31, tp=m.TYPE_DATE))  # type: ignore[arg-type]
    assert c(datec, "0000-00-00") == c(datec, MyTime(0, 0, 0, tp=m.TYPE_DATE))  # type: ignore[arg-type]
    timec = _col("time", scale=2)
    assert c(timec, dt.timedelta(hours=-1, microseconds=10000)) == str(-3600 * 10**6 + 10000)  # type: ignore[arg-type]


def test_bit_json_strings() -> None:
    c = canonical_value
    bit = _col("bit", length=12)
    assert c(bit, b"\x01\x02") == c(bit, 258) == "258"  # type: ignore[arg-type]
    js = _col("json")
    assert c(js, {"b": [1, 2.5], "a": "x"}) == c(js, {"a": "x", "b": [1, 2.5]})  # type: ignore[arg-type]
    assert c(js, "x") != c(js, ["x"])  # type: ignore[arg-type]
    blob = _col("blob")
    text = _col("text")
    assert c(blob, b"\x00\xff") == "x:00ff"  # type: ignore[arg-type]
    assert c(text, "é") == c(text, "é".encode()) == "s:é"  # type: ignore[arg-type]
    assert c(text, None) == "\\N"  # type: ignore[arg-type]
    assert c(text, "") != c(text, None)  # type: ignore[arg-type]


def test_row_digest_is_order_free_but_counts_duplicates() -> None:
    tdef = TableDef("d", "t", (ColumnDef("a", "int"), ColumnDef("b", "varchar", length=5)))
    info = tdef.table_info(100)
    rows = [{"a": i % 3, "b": str(i % 2)} for i in range(10)]
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    d = row_digest(info, rows)
    assert d == row_digest(info, shuffled) and d.rows == 10
    assert row_digest(info, rows[:-1]) != d
    assert row_digest(info, [*rows, rows[0]]) != d
    assert row_digest(info, rows[:2] + rows[:2]) != row_digest(info, rows[:2])  # XOR would cancel
    assert row_digest(info, []) == RowDigest(0, 0)
    assert str(RowDigest(1, 255)).startswith("1:") and str(RowDigest(1, 255)).endswith("ff")


class _FakeCursor:
    def __init__(self, rows: list[tuple[Any, ...]], sent: list[tuple[str, Any]]) -> None:
        self.rows, self.sent = rows, sent

    async def __aenter__(self) -> _FakeCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, query: str, args: Any = None) -> int:
        self.sent.append((query, args))
        return len(self.rows)

    async def fetchall(self) -> Any:
        return self.rows

    async def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None


class _FakeConn:
    """Answers every statement with ``rows`` and records what was sent."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.sent: list[tuple[str, Any]] = []

    def cursor(self) -> _FakeCursor:
        return _FakeCursor(self.rows, self.sent)


async def test_mariadb_digest_reads_the_public_columns_and_parses_json() -> None:
    tdef = TableDef("d", "t%`x", (ColumnDef("a%", "int"), ColumnDef("j", "json")))
    info = tdef.table_info(100)
    conn = _FakeConn([(1, '{"b": 1, "a": 2}'), (2, None)])
    got = await mariadb_digest(conn, "d%b", info)
    # no parameters, so nothing is %-interpolated: a % in a name stays single
    assert conn.sent == [("SELECT `a%`, `j` FROM `d%b`.`t%``x`", None)]
    assert got == row_digest(info, [{"a%": 1, "j": {"a": 2, "b": 1}}, {"a%": 2, "j": None}])


async def test_json_null_document_is_not_sql_null_in_the_digest() -> None:
    # a row restored as SQL NULL where T held the JSON document null must not verify as equal
    js = _col("json")
    assert canonical_value(js, JSON_NULL) == "null" != canonical_value(js, None)  # type: ignore[arg-type]
    tdef = TableDef("d", "t", (ColumnDef("a", "int"), ColumnDef("j", "json")))
    info = tdef.table_info(100)
    got = await mariadb_digest(_FakeConn([(1, "null"), (2, None), (3, "[null]")]), "d", info)
    want = [{"a": 1, "j": JSON_NULL}, {"a": 2, "j": None}, {"a": 3, "j": [None]}]
    assert got == row_digest(info, want)
    assert got != row_digest(info, [{"a": 1, "j": None}, want[1], want[2]])


async def test_checksum_table() -> None:
    conn = _FakeConn([("d.t", 42)])
    assert await checksum_table(conn, "d", "t`1") == 42
    assert conn.sent == [("CHECKSUM TABLE `d`.`t``1`", None)]
    with pytest.raises(LookupError, match="no such table"):
        await checksum_table(_FakeConn([("d.t", None)]), "d", "t")
