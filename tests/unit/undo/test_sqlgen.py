"""SQL generation: exact statements and parameters (STYLE.md §12), batching, dry-run text."""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import pytest

from app.undo.model import Identity, MountedRow, TableSpec
from app.undo.plan import DeleteByKey, DeleteRow, Insert, Replace, plan_table
from app.undo.sqlgen import (
    BatchLimits,
    Dialect,
    RowTooLarge,
    Statement,
    cut_transactions,
    float32_bracket,
    plan_statements,
    render_for_dry_run,
    row_bytes,
    session_statements,
    statement_bytes,
    statements,
    to_param,
)
from core.codec.jsonbin import JSON_NULL, JsonDuration, JsonOpaque, JsonUint, json_to_text
from core.codec.mytime import MyTime

T = TableSpec("db", "t", ("id", "name"), Identity.INT_HANDLE, ("id",))
C = TableSpec("db", "c", ("a", "b", "v"), Identity.COMMON_HANDLE, ("a", "b"))
R = TableSpec(
    "db",
    "r",
    ("u", "f", "j"),
    Identity.ROWID,
    unique_keys=(("u",),),
    float_columns=frozenset({"f"}),
    json_columns=frozenset({"j"}),
)


def test_replace_multi_row() -> None:
    acts = [Replace(T, 1, 10, 20, (1, "a")), Replace(T, 2, 11, 25, (2, None))]
    assert statements(acts) == [
        Statement(
            "REPLACE INTO `db`.`t` (`id`,`name`) VALUES (%s,%s),(%s,%s)",
            (1, "a", 2, None),
            "replace",
            2,
            10,
            25,
        )
    ]


def test_delete_single_column_key() -> None:
    acts = [DeleteByKey(T, h, h, h, ("id",), (h,), 0) for h in (5, 6, 7)]
    assert statements(acts) == [
        Statement("DELETE FROM `db`.`t` WHERE `id` IN (%s,%s,%s)", (5, 6, 7), "delete", 3, 5, 7)
    ]


def test_delete_composite_key() -> None:
    acts = [
        DeleteByKey(C, ("x", 1), 3, 4, ("a", "b"), ("x", 1), 0),
        DeleteByKey(C, ("y", 2), 1, 9, ("a", "b"), ("y", 2), 0),
    ]
    assert statements(acts) == [
        Statement(
            "DELETE FROM `db`.`c` WHERE (`a`,`b`) IN ((%s,%s),(%s,%s))",
            ("x", 1, "y", 2),
            "delete",
            2,
            1,
            9,
        )
    ]


def test_mixed_replace_and_delete_group_by_shape() -> None:
    acts = [
        Replace(T, 1, 1, 1, (1, "a")),
        DeleteByKey(T, 2, 2, 2, ("id",), (2,), 0),
        Replace(T, 3, 3, 3, (3, "c")),
    ]
    assert [(s.sql, s.params) for s in statements(acts)] == [
        ("REPLACE INTO `db`.`t` (`id`,`name`) VALUES (%s,%s),(%s,%s)", (1, "a", 3, "c")),
        ("DELETE FROM `db`.`t` WHERE `id` IN (%s)", (2,)),
    ]


def test_rowid_phases_all_column_delete_and_insert() -> None:
    lo, hi = float32_bracket(0.5)
    rows = [
        MountedRow(1, {"u": 1, "f": 0.5, "j": None}, {"u": None, "f": 0.5, "j": {"k": [1]}}, 5, 6),
        MountedRow(2, None, {"u": 9, "f": None, "j": None}, 7, 8),
    ]
    phases = plan_statements(plan_table(R, rows), dialect=Dialect.TIDB)
    assert phases == (
        (
            Statement(
                "DELETE FROM `db`.`r` WHERE `u` <=> %s AND `f` BETWEEN %s AND %s"
                " AND JSON_TYPE(`j`) = %s AND CAST(`j` AS CHAR) = %s COLLATE utf8mb4_bin LIMIT 1",
                (None, lo, hi, "OBJECT", '{"k": [1]}'),
                "delete_row",
                1,
                5,
                6,
                expect_rows=1,  # a rowid phase-1 delete must hit its row
            ),
            Statement(
                "DELETE FROM `db`.`r` WHERE `u` IN (%s)", (9,), "delete", 1, 7, 8, expect_rows=1
            ),
        ),
        (
            Statement(
                "INSERT INTO `db`.`r` (`u`,`f`,`j`) VALUES (%s,%s,%s)",
                (1, 0.5, None),
                "insert",
                1,
                5,
                6,
            ),
        ),
    )


def test_all_column_delete_mariadb_json_and_null_float() -> None:
    act = DeleteRow(R, 1, 1, 1, (3, None, [1, "a"]))
    (st,) = statements([act], dialect=Dialect.MYSQL)
    assert st.sql == (
        "DELETE FROM `db`.`r` WHERE `u` <=> %s AND `f` IS NULL"
        " AND `j` = %s COLLATE utf8mb4_bin LIMIT 1"
    )
    assert st.params == (3, '[1, "a"]')


_TIDB_J = "JSON_TYPE(`j`) = %s AND CAST(`j` AS CHAR) = %s COLLATE utf8mb4_bin"


@pytest.mark.parametrize(
    ("j", "tidb_where", "tidb_params", "mysql_where", "mysql_params"),
    [
        # JSON null matches only the document null; SQL NULL only IS NULL
        (JSON_NULL, _TIDB_J, ("NULL", "null"), "`j` = %s COLLATE utf8mb4_bin", ("null",)),
        (None, "`j` IS NULL", (), "`j` IS NULL", ()),
        # type-strict: 1, 1.0, true and uint64 1 are different documents
        (1, _TIDB_J, ("INTEGER", "1"), "`j` = %s COLLATE utf8mb4_bin", ("1",)),
        (1.0, _TIDB_J, ("DOUBLE", "1.0"), "`j` = %s COLLATE utf8mb4_bin", ("1.0",)),
        (True, _TIDB_J, ("BOOLEAN", "true"), "`j` = %s COLLATE utf8mb4_bin", ("true",)),
        (
            JsonUint(1), _TIDB_J, ("UNSIGNED INTEGER", "1"),
            "`j` = %s COLLATE utf8mb4_bin", ("1",),
        ),
        ([1.0, None], _TIDB_J, ("ARRAY", "[1.0, null]"), "`j` = %s COLLATE utf8mb4_bin",
         ("[1.0, null]",)),
        # U+2028 as TiDB renders it (escaped), which is what the downstream holds
        ("a\u2028b", _TIDB_J, ("STRING", '"a\\u2028b"'), "`j` = %s COLLATE utf8mb4_bin",
         ('"a\\u2028b"',)),
        (MyTime(2020, 1, 2, tp=10), _TIDB_J, ("DATE", '"2020-01-02"'),
         "`j` = %s COLLATE utf8mb4_bin", ('"2020-01-02"',)),
    ],
)  # fmt: skip
def test_all_column_delete_matches_json_by_type_and_text(
    j: object,
    tidb_where: str,
    tidb_params: tuple[object, ...],
    mysql_where: str,
    mysql_params: tuple[object, ...],
) -> None:
    act = DeleteRow(R, 1, 1, 1, (3, None, j))
    for dialect, where, params in (
        (Dialect.TIDB, tidb_where, tidb_params),
        (Dialect.MYSQL, mysql_where, mysql_params),
    ):
        (st,) = statements([act], dialect=dialect)
        assert st.sql == (
            f"DELETE FROM `db`.`r` WHERE `u` <=> %s AND `f` IS NULL AND {where} LIMIT 1"
        )
        assert st.params == (3, *params)


def test_insert_keeps_json_null_apart_from_sql_null() -> None:
    acts = [Insert(R, 1, 1, 1, (1, None, JSON_NULL)), Insert(R, 2, 1, 1, (2, None, None))]
    for dialect in Dialect:
        (st,) = statements(acts, dialect=dialect)
        assert st.sql == "INSERT INTO `db`.`r` (`u`,`f`,`j`) VALUES (%s,%s,%s),(%s,%s,%s)"
        assert st.params == (1, None, "null", 2, None, None)


def test_tidb_writes_typed_json_as_expressions() -> None:
    when = MyTime(1998, 6, 13, 12, 13, 14, 5, tp=12, fsp=6)
    doc = {"u": JsonUint(7), "big": JsonUint(2**64 - 1), "d": [MyTime(2020, 1, 2, tp=10), when],
           "t": JsonDuration(dt.timedelta(hours=-1, microseconds=1), 6), "s": "x",
           "o": JsonOpaque(0xFD, b"\x00\xff")}  # fmt: skip
    acts = [Replace(R, 1, 1, 1, (1, 0.5, doc)), Replace(R, 2, 1, 1, (2, None, JsonUint(3)))]
    (st,) = statements(acts, dialect=Dialect.TIDB)
    assert st.sql == (
        "REPLACE INTO `db`.`r` (`u`,`f`,`j`) VALUES (%s,%s,JSON_OBJECT("
        "%s, CAST(%s AS JSON), "
        "%s, JSON_ARRAY(CAST(CAST(%s AS DATE) AS JSON), CAST(CAST(%s AS DATETIME(6)) AS JSON)), "
        "%s, CAST(CAST(%s AS BINARY) AS JSON), "
        "%s, CAST(%s AS JSON), "
        "%s, CAST(CAST(%s AS TIME(6)) AS JSON), "
        "%s, CAST(CAST(%s AS UNSIGNED) AS JSON))),"
        "(%s,%s,CAST(CAST(%s AS UNSIGNED) AS JSON))"
    )
    assert st.params == (
        1, 0.5,
        "big", "18446744073709551615",  # above int64: the text reads back as uint64
        "d", "2020-01-02", "1998-06-13 12:13:14.000005",
        "o", b"\x00\xff",
        "s", '"x"',
        "t", "-00:59:59.999999",
        "u", 7,
        2, None, 3,
    )  # fmt: skip
    # MariaDB's JSON is text: the same rows are plain parameters there
    (st,) = statements(acts, dialect=Dialect.MYSQL)
    assert st.sql == "REPLACE INTO `db`.`r` (`u`,`f`,`j`) VALUES (%s,%s,%s),(%s,%s,%s)"
    assert st.params[2] == json_to_text(doc) and st.params[5] == "3"


def test_tidb_refuses_opaque_it_cannot_rebuild() -> None:
    act = Replace(R, 1, 1, 1, (1, None, [JsonOpaque(0x10, b"\x01")]))
    with pytest.raises(ValueError, match="opaque value of MySQL type 16"):
        statements([act], dialect=Dialect.TIDB)


def test_float_key_column_falls_back_to_row_match() -> None:
    fk = TableSpec("db", "k", ("f", "v"), Identity.ROWID, (), (("f",),), frozenset({"f"}))
    (st,) = statements([DeleteByKey(fk, 1, 1, 1, ("f",), (0.1,), 0)])
    lo, hi = float32_bracket(0.1)
    assert (st.sql, st.params) == (
        "DELETE FROM `db`.`k` WHERE `f` BETWEEN %s AND %s LIMIT 1",
        (lo, hi),
    )


def test_empty_batch() -> None:
    assert statements([]) == []
    assert plan_statements(plan_table(R, [])) == ((), ())


def test_batch_split_by_rows() -> None:
    acts = [Replace(T, i, i, i, (i, "x")) for i in range(5)]
    out = statements(acts, BatchLimits(max_rows=2))
    assert [s.params for s in out] == [(0, "x", 1, "x"), (2, "x", 3, "x"), (4, "x")]
    assert [s.rows for s in out] == [2, 2, 1]
    assert out[2].sql == "REPLACE INTO `db`.`t` (`id`,`name`) VALUES (%s,%s)"


def test_batch_split_by_bytes_and_params() -> None:
    acts = [Replace(T, i, i, i, (i, "é" * 100)) for i in range(4)]
    by_bytes = statements(acts, BatchLimits(max_bytes=1000))
    # 44-byte prefix; a row estimates 7+1 (placeholders, comma) + 32 (int) + 2*200+2 (text)
    assert [s.rows for s in by_bytes] == [2, 2]
    by_params = statements(acts, BatchLimits(max_params=5))
    assert [s.rows for s in by_params] == [2, 2]
    huge = statements([Replace(T, 1, 1, 1, (1, "x" * 5000))], BatchLimits(max_bytes=100))
    assert [s.rows for s in huge] == [1]


def test_batch_limits_validate() -> None:
    with pytest.raises(ValueError, match="positive"):
        statements([Replace(T, 1, 1, 1, (1, "x"))], BatchLimits(max_rows=0))
    with pytest.raises(ValueError, match="positive"):
        statements([Replace(T, 1, 1, 1, (1, "x"))], BatchLimits(max_row_bytes=0))


def test_a_row_over_the_per_statement_bound_is_alone_in_its_statement() -> None:
    small = [Replace(T, i, i, i, (i, "s")) for i in range(3)]
    wide = Replace(T, 9, 9, 9, (9, "w" * 3000))
    out = statements([small[0], wide, small[1], small[2]], BatchLimits(max_bytes=1000))
    assert [s.rows for s in out] == [1, 1, 2]
    assert out[1].params == (9, "w" * 3000)


def test_a_row_over_the_entry_limit_cannot_be_written() -> None:
    """TiDB refuses a key-value entry over ``txn-entry-size-limit`` (error 8025): such a row
    raises :class:`RowTooLarge` (a ValueError: the undo dead-letters it), naming its size."""
    ok = Replace(T, 1, 1, 1, (1, "x" * 900))
    big = Replace(T, 2, 2, 2, (2, "é" * 600))  # 1200 bytes of UTF-8
    assert row_bytes((2, "é" * 600)) > 1200
    limits = BatchLimits(max_row_bytes=1100)
    assert [s.rows for s in statements([ok], limits)] == [1]
    with pytest.raises(RowTooLarge, match=r"over the 1100-byte entry limit") as info:
        statements([ok, big], limits)
    assert isinstance(info.value, ValueError)
    # deletes write no row value: a key delete of the same row is fine
    assert statements([DeleteByKey(T, 2, 2, 2, ("id",), (2,), 0)], limits)[0].kind == "delete"
    phase2 = Insert(R, 1, 1, 1, (1, 0.5, {"k": "v" * 2000}))
    with pytest.raises(RowTooLarge):
        statements([phase2], limits)


def test_statement_bytes_counts_text_and_raw_parameter_sizes() -> None:
    st = Statement("X %s %s %s %s", (b"\x00" * 10, "é", None, 7), "replace", 1, 1, 1)
    assert statement_bytes(st) == len(st.sql) + 10 + 2 + 1 + 8


def _st(rows: int, size: int) -> Statement:
    return Statement("S", (b"b" * size,), "replace", rows, 1, 1)


def test_transactions_cut_by_rows_and_by_bytes() -> None:
    # rows: 4 per transaction, a statement that would overflow starts the next one
    sts = [_st(3, 0), _st(1, 0), _st(2, 0), _st(3, 0), _st(1, 0)]
    assert [[s.rows for s in t] for t in cut_transactions(sts, max_rows=4, max_bytes=10**9)] == [
        [3, 1],
        [2],
        [3, 1],
    ]
    # bytes: statement_bytes = 1 (sql) + size
    sts = [_st(1, 40), _st(1, 40), _st(1, 40), _st(1, 200), _st(1, 10)]
    cut = cut_transactions(sts, max_rows=100, max_bytes=100)
    assert [[statement_bytes(s) for s in t] for t in cut] == [[41, 41], [41], [201], [11]]
    assert cut_transactions([], max_rows=1, max_bytes=1) == []


def test_actions_of_two_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="one table"):
        statements([Replace(T, 1, 1, 1, (1, "x")), Replace(C, 1, 1, 1, (1, 2, 3))])


def test_odd_identifiers_in_statement_and_dry_run() -> None:
    odd = TableSpec("d`b", "t%1", ("c`1", "ü"), Identity.INT_HANDLE, ("c`1",))
    (st,) = statements([Replace(odd, 1, 1, 1, (1, "x"))])
    assert st.sql == "REPLACE INTO `d``b`.`t%%1` (`c``1`,`ü`) VALUES (%s,%s)"
    assert render_for_dry_run(st.sql, st.params) == (
        "REPLACE INTO `d``b`.`t%1` (`c``1`,`ü`) VALUES (1,'x');"
    )


@pytest.mark.parametrize(
    ("value", "is_json", "param"),
    [
        (None, False, None),
        (None, True, None),
        (-3, False, -3),
        (True, False, 1),
        (1.5, False, 1.5),
        (Decimal("-0.010"), False, Decimal("-0.010")),
        ("ünï", False, "ünï"),
        (b"\x00\xff", False, b"\x00\xff"),
        (MyTime(2020, 1, 2, 3, 4, 5, 120000, tp=12, fsp=3), False, "2020-01-02 03:04:05.120"),
        (MyTime(0, 0, 0, tp=10), False, "0000-00-00"),
        (dt.timedelta(hours=-838, minutes=-59, seconds=-59), False, "-838:59:59"),
        (dt.timedelta(seconds=1, microseconds=5), False, "00:00:01.000005"),
        (
            {"b": [True, None], "a": JsonUint(18446744073709551615)},
            True,
            '{"a": 18446744073709551615, "b": [true, null]}',
        ),
        ("just a string", True, '"just a string"'),
        (JSON_NULL, True, "null"),  # the JSON document null, not SQL NULL
    ],
)
def test_to_param(value: object, is_json: bool, param: object) -> None:
    got = to_param(value, is_json=is_json)
    assert got == param
    assert type(got) is type(param)


def test_to_param_refuses_unknown_types() -> None:
    with pytest.raises(TypeError, match="no SQL parameter form for object"):
        to_param(object())


@pytest.mark.parametrize(
    ("params", "line"),
    [
        (("it's",), "SELECT 'it\\'s';"),
        (("back\\slash",), "SELECT 'back\\\\slash';"),
        (("nul\x00here",), "SELECT 'nul\\0here';"),
        (('q"\n\r\x1a',), "SELECT 'q\\\"\\n\\r\\Z';"),
        (("😀 utf8mb4",), "SELECT '😀 utf8mb4';"),
        ((b"\x00'\xff",), "SELECT X'0027FF';"),
        ((b"",), "SELECT X'';"),
        ((None,), "SELECT NULL;"),
        ((Decimal("-1.50"),), "SELECT -1.50;"),
        ((Decimal("1.2340E-13"),), "SELECT 0.00000000000012340;"),
        ((Decimal("1E+3"),), "SELECT 1000;"),
        ((0.1,), "SELECT 0.1e0;"),
        ((3.4028234663852886e38,), "SELECT 3.4028234663852886e+38;"),
        ((-(2**63),), "SELECT -9223372036854775808;"),
        (("100%",), "SELECT '100%';"),
    ],
)
def test_render_for_dry_run(params: tuple[object, ...], line: str) -> None:
    assert render_for_dry_run("SELECT %s", params) == line  # type: ignore[arg-type]


def test_render_for_dry_run_arity_and_bad_values() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        render_for_dry_run("SELECT %s, %s", (1,))
    with pytest.raises(ValueError, match="no SQL literal"):
        render_for_dry_run("SELECT %s", (float("nan"),))


def test_float32_bracket_contains_exactly_one_float32() -> None:
    for v in (0.1, 3.4028235e38, -1.17549435e-38, 1e-45, 0.0, -2.5, 16777217.0):
        f32 = struct.unpack("<f", struct.pack("<f", v))[0]
        lo, hi = float32_bracket(v)
        assert lo < f32 < hi or (f32 == 0.0 and lo < 0.0 < hi)
        bits = struct.unpack("<I", struct.pack("<f", f32))[0]
        for nb in (bits - 1, bits + 1):
            if f32 == 0.0:  # neighbours of zero are the smallest subnormals
                nb = 1 if nb == bits + 1 else 0x80000001
            neighbour = struct.unpack("<f", struct.pack("<I", nb & 0xFFFFFFFF))[0]
            assert not lo <= neighbour <= hi
    with pytest.raises(ValueError, match="finite float32"):
        float32_bracket(1e39)


def test_session_statements() -> None:
    base = [
        "SET SESSION foreign_key_checks = 0",
        "SET SESSION time_zone = '+00:00'",
        "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'",
    ]
    assert session_statements(Dialect.MYSQL) == base  # no TiDB-only variable on MariaDB/MySQL
    tidb_only = [
        "SET SESSION allow_auto_random_explicit_insert = 1",
        "SET SESSION tidb_enable_external_ts_read = OFF",
    ]
    assert session_statements(Dialect.TIDB, time_zone="+08:00") == [
        base[0],
        "SET SESSION time_zone = '+08:00'",
        base[2],
        *tidb_only,
    ]
    assert session_statements(Dialect.TIDB, txn_source=3, time_zone="+08:00") == [
        base[0],
        "SET SESSION time_zone = '+08:00'",
        base[2],
        *tidb_only,
        "SET SESSION tidb_cdc_write_source = 3",
    ]
    with pytest.raises(ValueError, match=r"Dialect\.TIDB"):
        session_statements(Dialect.MYSQL, txn_source=1)
    with pytest.raises(ValueError, match=r"1\.\.15"):
        session_statements(Dialect.TIDB, txn_source=16)
    with pytest.raises(ValueError, match="offset"):
        session_statements(Dialect.TIDB, time_zone="UTC'; DROP")


def test_all_column_delete_matches_text_exactly() -> None:
    """Case-insensitive and PAD SPACE collations must not let 'a' match 'A' or 'a '."""
    t = TableSpec("db", "n", ("s", "b", "d"), Identity.ROWID)
    (st,) = statements([DeleteRow(t, 1, 1, 1, ("é😀 ", b"x", Decimal("1.0")))])
    assert st.sql == (
        "DELETE FROM `db`.`n` WHERE `s` = %s COLLATE utf8mb4_bin AND CHAR_LENGTH(`s`) = %s"
        " AND `b` <=> %s AND `d` <=> %s LIMIT 1"
    )
    assert st.params == ("é😀 ", 3, b"x", Decimal("1.0"))


def test_only_rowid_deletes_expect_an_exact_row_count() -> None:
    """Primary-key deletes may legitimately miss (a REPLACE of the same phase removed the row)."""
    pk = statements([DeleteByKey(T, 2, 2, 2, ("id",), (2,), 0), Replace(T, 1, 1, 1, (1, "a"))])
    assert [s.expect_rows for s in pk] == [None, None]
    rows = [MountedRow(h, None, {"u": h, "f": None, "j": None}, 7, 8) for h in (1, 2, 3)]
    deletes, inserts = plan_statements(plan_table(R, rows), BatchLimits(max_rows=2))
    assert inserts == ()
    assert [(s.rows, s.expect_rows) for s in deletes] == [(2, 2), (1, 1)]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ((1.0, 2.0, 3.0), TypeError),  # a VECTOR(FLOAT32) value: the driver has no form for it
        (float("nan"), ValueError),
        (float("-inf"), ValueError),
        (Decimal("NaN"), ValueError),
        ("lone \udc80 surrogate", ValueError),
    ],
    ids=repr,
)
def test_to_param_refuses_values_with_no_sql_form(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        to_param(value)


def test_to_param_keeps_finite_numbers_and_text() -> None:
    assert to_param(1.5) == 1.5 and to_param(Decimal("-0.10")) == Decimal("-0.10")
    assert to_param("naïve 名") == "naïve 名"
