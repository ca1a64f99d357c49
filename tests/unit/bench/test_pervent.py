"""The binlog2sql-style flashback text: exact statements, newest first, 1000-statement txns."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.rto.history import RowChange
from bench.rto.pervent import ScriptTable, inverse_statement, literal, script_lines
from bench.rto.schema import bench_tables
from core.codec.mysqldef import TYPE_DATETIME
from core.codec.mytime import MyTime

TABLES = bench_tables("db")
T00 = ScriptTable(TABLES[0], "db")
R15 = ScriptTable(TABLES[15], "db")
WHEN = MyTime(2024, 2, 29, 23, 59, 58, 0, TYPE_DATETIME, 0)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "NULL"),
        (0, "0"),
        (-9223372036854775808, "-9223372036854775808"),
        (True, "1"),
        (Decimal("-12.50"), "-12.50"),
        (Decimal("1E+2"), "100"),
        (Decimal("0E-2"), "0.00"),
        ("it's", "'it\\'s'"),
        ("back\\slash\n", "'back\\\\slash\\n'"),
        ("中文😀", "'中文😀'"),
        (WHEN, "'2024-02-29 23:59:58'"),
        (b"\x00\xff", "x'00ff'"),
    ],
)
def test_literal(value: object, text: str) -> None:
    assert literal(value) == text


def test_literal_refuses_unknown_types() -> None:
    with pytest.raises(TypeError, match="float"):
        literal(1.5)


def test_insert_is_undone_by_an_all_column_delete() -> None:
    ch = RowChange(0, 7, None, (7, None, "ab", Decimal("1.00"), WHEN))
    assert inverse_statement(T00, ch) == (
        "DELETE FROM `db`.`t00` WHERE `id`=7 AND `a` IS NULL AND `b`='ab' AND `c`=1.00 "
        "AND `d`='2024-02-29 23:59:58' LIMIT 1;"
    )


def test_delete_is_undone_by_an_insert() -> None:
    ch = RowChange(0, 7, (7, 5, None, None, WHEN), None)
    assert inverse_statement(T00, ch) == (
        "INSERT INTO `db`.`t00`(`id`, `a`, `b`, `c`, `d`) "
        "VALUES (7, 5, NULL, NULL, '2024-02-29 23:59:58');"
    )


def test_update_sets_the_old_image_where_the_new_one_is() -> None:
    ch = RowChange(15, 3, (4, "x", None, None), (4, "y", Decimal("-0.01"), None))
    assert inverse_statement(R15, ch) == (
        "UPDATE `db`.`r15` SET `a`=4, `b`='x', `c`=NULL, `d`=NULL "
        "WHERE `a`=4 AND `b`='y' AND `c`=-0.01 AND `d` IS NULL LIMIT 1;"
    )


def test_script_groups_statements_in_transactions() -> None:
    changes = [RowChange(0, i, (i, i, None, None, None), None) for i in range(5)]
    lines = list(script_lines([T00], changes, txn_statements=2))
    assert [ln[:6] for ln in lines] == [
        "BEGIN;",
        "INSERT",
        "INSERT",
        "COMMIT",
        "BEGIN;",
        "INSERT",
        "INSERT",
        "COMMIT",
        "BEGIN;",
        "INSERT",
        "COMMIT",
    ]
    # the order given is kept (the caller streams newest first)
    assert [ln.split("VALUES (")[1].split(",")[0] for ln in lines if ln[0] == "I"] == [
        "0",
        "1",
        "2",
        "3",
        "4",
    ]
    assert list(script_lines([T00], [], 2)) == []
    with pytest.raises(ValueError, match="txn_statements"):
        list(script_lines([T00], changes, 0))
