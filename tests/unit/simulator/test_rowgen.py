"""Generated values stay inside what MariaDB and TiDB store identically."""

from __future__ import annotations

import datetime as dt
import random
import struct
from decimal import Decimal

from core.codec.mytime import MyTime
from simulator.rowgen import int_range, random_row, random_value, to_sql_param
from simulator.tabledef import ColumnDef, demo_tables


def test_values_respect_storage_constraints() -> None:
    rng = random.Random(5)
    [all_types] = [t for t in demo_tables() if t.name == "all_types"]
    for _ in range(300):
        for col in all_types.columns:
            v = random_value(rng, col)
            if col.is_int:
                lo, hi = int_range(col)
                assert lo <= v <= hi
            elif col.kind == "float":
                assert struct.unpack("<f", struct.pack("<f", v))[0] == v
                assert len(f"{abs(v):g}".replace(".", "").lstrip("0")) <= 6
            elif col.kind == "decimal":
                assert isinstance(v, Decimal)
                assert -v.as_tuple().exponent == col.scale if col.scale else True  # type: ignore[operator]
                assert len(str(abs(v)).split(".")[0]) <= (col.length or 10) - col.scale
            elif col.kind in ("char", "varchar", "text"):
                assert isinstance(v, str) and not v.endswith(" ")
            elif col.kind == "binary":
                assert isinstance(v, bytes) and len(v) == col.length
            elif col.kind == "timestamp":
                assert isinstance(v, MyTime) and 1970 <= v.year <= 2038
                assert v.microsecond % 10 ** (6 - col.scale) == 0
            elif col.kind == "datetime":
                assert isinstance(v, MyTime) and v.month and v.day
            elif col.kind == "time":
                assert isinstance(v, dt.timedelta) and abs(v) <= dt.timedelta(hours=839)
            elif col.kind == "bit":
                assert 0 <= v < 1 << (col.length or 1)
            elif col.kind == "set":
                assert all(p in col.elems for p in v.split(",") if p)
            elif col.kind == "enum":
                assert v in col.elems


def test_random_row_keeps_key_columns_non_null() -> None:
    rng = random.Random(2)
    [ukeys] = [t for t in demo_tables() if t.name == "ukeys"]
    rows = [random_row(rng, ukeys, null_ratio=1.0) for _ in range(20)]
    assert all(r["email"] is not None and r["code"] is not None for r in rows)
    assert all(r["note"] is None for r in rows)


def test_sql_params() -> None:
    c = ColumnDef
    assert to_sql_param(c("t", "time", scale=2), -dt.timedelta(hours=1, microseconds=10)) == (
        "-01:00:00.000010"
    )
    assert to_sql_param(c("t", "time"), dt.timedelta(hours=838)) == "838:00:00.000000"
    when = MyTime(2020, 1, 2, 3, 4, 5, 120000, fsp=3)
    assert to_sql_param(c("d", "datetime", scale=3), when) == "2020-01-02 03:04:05.120"
    assert to_sql_param(c("j", "json"), {"a": [1, "é"]}) == '{"a": [1, "é"]}'
    assert to_sql_param(c("x", "int"), None) is None
