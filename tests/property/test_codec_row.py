"""Random TableInfo + random row → encode → decode == row (v1 and v2); random bytes never
escape as anything but the one typed decode error."""

from __future__ import annotations

import contextlib
import struct
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.codec import keys
from core.codec import mysqldef as m
from core.codec.errors import CorruptValueError
from core.codec.mytime import MyTime
from core.codec.row import decode_row, encode_row
from core.codec.tableinfo import ColumnInfo, FieldType, TableInfo

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


@st.composite
def column_and_value(draw: st.DrawFn, cid: int) -> tuple[ColumnInfo, Any]:
    kind = draw(
        st.sampled_from(
            [
                "int",
                "uint",
                "float",
                "double",
                "dec",
                "str",
                "bin",
                "date",
                "datetime",
                "ts",
                "time",
                "year",
                "enum",
                "set",
                "bit",
                "json",
            ]
        )
    )
    cs, coll, flag, flen, dec, elems = "binary", "binary", 0, -1, -1, ()
    value: st.SearchStrategy[Any]
    if kind == "int":
        tp = draw(st.sampled_from([m.TYPE_TINY, m.TYPE_SHORT, m.TYPE_LONG, m.TYPE_LONGLONG]))
        bits = {m.TYPE_TINY: 8, m.TYPE_SHORT: 16, m.TYPE_LONG: 32, m.TYPE_LONGLONG: 64}[tp]
        value = st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    elif kind == "uint":
        tp, flag = m.TYPE_LONGLONG, m.UNSIGNED_FLAG
        value = st.integers(0, (1 << 64) - 1)
    elif kind == "float":
        tp = m.TYPE_FLOAT
        value = st.floats(width=32, allow_nan=False).map(_f32)
    elif kind == "double":
        tp = m.TYPE_DOUBLE
        value = st.floats(allow_nan=False)
    elif kind == "dec":
        tp = m.TYPE_NEWDECIMAL
        flen = draw(st.integers(1, 65))
        dec = draw(st.integers(0, min(flen, 30)))
        intg = flen - dec
        value = st.builds(
            lambda i, f, neg: (
                Decimal(f"{'-' if neg and (i or f) else ''}{i}.{f:0{dec}d}")
                if dec
                else Decimal(f"{'-' if neg and i else ''}{i}")
            ),
            st.integers(0, 10**intg - 1),
            st.integers(0, 10**dec - 1),
            st.booleans(),
        )
    elif kind == "str":
        tp, cs, coll = m.TYPE_VARCHAR, "utf8mb4", "utf8mb4_bin"
        value = st.text(max_size=40)
    elif kind == "bin":
        tp = m.TYPE_BLOB
        value = st.binary(max_size=40)
    elif kind in ("date", "datetime", "ts"):
        tp = {"date": m.TYPE_DATE, "datetime": m.TYPE_DATETIME, "ts": m.TYPE_TIMESTAMP}[kind]
        dec = 0 if kind == "date" else draw(st.integers(0, 6))
        fsp = dec

        def mk(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int, tp: int = tp) -> MyTime:
            if tp == m.TYPE_DATE:
                return MyTime(y, mo, d, tp=tp, fsp=0)
            return MyTime(y, mo, d, h, mi, s, us, tp, fsp)

        year_min = 1971 if kind == "ts" else 1000
        year_max = 2037 if kind == "ts" else 9999
        value = st.builds(
            mk,
            st.integers(year_min, year_max),
            st.integers(1, 12),
            st.integers(1, 28),
            st.integers(0, 23),
            st.integers(0, 59),
            st.integers(0, 59),
            st.integers(0, 999999) if kind != "date" else st.just(0),
        )
        if kind != "ts":
            value = value | st.just(MyTime(0, 0, 0, tp=tp, fsp=fsp))
    elif kind == "time":
        tp, dec = m.TYPE_DURATION, 6
        value = st.integers(-3020398999999, 3020398999999).map(
            lambda us: timedelta(microseconds=us)
        )
    elif kind == "year":
        tp = m.TYPE_YEAR
        value = st.integers(1901, 2155)
    elif kind == "enum":
        tp, cs, coll = m.TYPE_ENUM, "utf8mb4", "utf8mb4_bin"
        elems = ("a", "b", "c")
        value = st.sampled_from(["", "a", "b", "c"])
    elif kind == "set":
        tp, cs, coll = m.TYPE_SET, "utf8mb4", "utf8mb4_bin"
        elems = ("x", "y", "z")
        value = st.sets(st.sampled_from(elems)).map(
            lambda s: ",".join(e for e in ("x", "y", "z") if e in s)
        )
    elif kind == "bit":
        tp, flen = m.TYPE_BIT, 64
        value = st.integers(0, (1 << 64) - 1)
    else:
        tp = m.TYPE_JSON
        leaf = (
            st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1) | st.text(max_size=8)
        )
        value = st.recursive(
            leaf,
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
            max_leaves=8,
        )
    nullable = draw(st.booleans())
    if not nullable:
        flag |= m.NOT_NULL_FLAG
    ft = FieldType(tp=tp, flag=flag, flen=flen, decimal=dec, charset=cs, collate=coll, elems=elems)
    has_default = draw(st.booleans())
    col = ColumnInfo(
        id=cid, name=f"c{cid}", offset=0, type=ft, default="x" if has_default else None
    )
    v = draw(value if not nullable else st.none() | value)
    return col, v


@st.composite
def table_and_row(draw: st.DrawFn) -> tuple[TableInfo, dict[str, Any]]:
    n = draw(st.integers(1, 10))
    ids = draw(st.lists(st.integers(2, 400), min_size=n, max_size=n, unique=True))
    pk = ColumnInfo(
        id=1,
        name="id",
        offset=0,
        type=FieldType(m.TYPE_LONGLONG, flag=m.NOT_NULL_FLAG | m.PRI_KEY_FLAG),
    )
    cols, row = [pk], {"id": draw(st.integers(-(1 << 63), (1 << 63) - 1))}
    for off, cid in enumerate(ids, start=1):
        c, v = draw(column_and_value(cid))
        cols.append(ColumnInfo(id=c.id, name=c.name, offset=off, type=c.type, default=c.default))
        row[c.name] = v
    return TableInfo(id=77, name="t", columns=tuple(cols), pk_is_handle=True), row


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    return bool(a == b)


@SETTINGS
@given(table_and_row(), st.sampled_from([1, 2]))
def test_encode_then_decode_gives_the_row(
    tr: tuple[TableInfo, dict[str, Any]], version: int
) -> None:
    t, row = tr
    raw = encode_row(t, row, tz=UTC, version=version)
    got = decode_row(raw, t, row["id"], UTC)
    assert got is not None
    assert set(got) == set(row)
    for k, v in row.items():
        assert _same(got[k], v), (k, got[k], v)
        assert type(got[k]) is type(v) or v is None or isinstance(v, dict | list | bool | int)


FIXED = TableInfo(
    id=5,
    name="fixed",
    columns=tuple(
        ColumnInfo(id=i, name=f"c{i}", offset=i, type=ft)
        for i, ft in enumerate(
            [
                FieldType(m.TYPE_LONGLONG),
                FieldType(m.TYPE_VARCHAR, charset="utf8mb4", collate="utf8mb4_bin"),
                FieldType(m.TYPE_NEWDECIMAL, flen=12, decimal=3),
                FieldType(m.TYPE_DATETIME, decimal=3),
                FieldType(m.TYPE_TIMESTAMP, decimal=0),
                FieldType(m.TYPE_DURATION, decimal=0),
                FieldType(m.TYPE_JSON),
                FieldType(m.TYPE_SET, charset="utf8mb4", elems=("a", "b")),
                FieldType(m.TYPE_DOUBLE),
                FieldType(m.TYPE_VECTOR_FLOAT32),
            ],
            start=1,
        )
    ),
)


@SETTINGS
@given(st.binary(max_size=200) | st.binary(max_size=60).map(lambda b: b"\x80" + b))
def test_random_bytes_decode_or_raise_typed(raw: bytes) -> None:
    try:
        decode_row(raw, FIXED, 1)
    except CorruptValueError as exc:
        assert exc.table_id == 5


@SETTINGS
@given(st.binary(max_size=64) | st.binary(max_size=40).map(lambda b: b"t\x80" + b))
def test_random_keys_decode_or_raise_typed(raw: bytes) -> None:
    with contextlib.suppress(CorruptValueError):  # anything else fails the test
        keys.decode_key(raw)


@SETTINGS
@given(table_and_row())
def test_flipped_byte_never_escapes_untyped(tr: tuple[TableInfo, dict[str, Any]]) -> None:
    t, row = tr
    raw = bytearray(encode_row(t, row))
    for i in range(0, len(raw), max(1, len(raw) // 8)):
        mutated = bytearray(raw)
        mutated[i] ^= 0xA5
        with contextlib.suppress(CorruptValueError):  # anything else fails the test
            decode_row(bytes(mutated), t, row["id"])
