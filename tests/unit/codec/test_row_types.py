"""One test per MySQL type and edge, through encode_row/decode_row in both row formats."""

from __future__ import annotations

import struct
import zoneinfo
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.codec import datum, keys, rowcodec_v2
from core.codec import mysqldef as m
from core.codec.errors import CorruptValueError
from core.codec.mytime import MyTime
from core.codec.row import decode_row, encode_row
from core.codec.tableinfo import ColumnInfo, FieldType, IndexColumn, IndexInfo, TableInfo

PK = ColumnInfo(
    id=1,
    name="id",
    offset=0,
    type=FieldType(tp=m.TYPE_LONGLONG, flag=m.NOT_NULL_FLAG | m.PRI_KEY_FLAG, flen=20),
)


def table(*cols: ColumnInfo, pk: bool = True) -> TableInfo:
    c = (PK, *cols) if pk else cols
    return TableInfo(id=42, name="t", columns=tuple(c), pk_is_handle=pk)


def col(
    cid: int,
    tp: int,
    *,
    flag: int = 0,
    flen: int = -1,
    dec: int = -1,
    cs: str = "binary",
    elems: tuple[str, ...] = (),
    **kw: Any,
) -> ColumnInfo:
    coll = "binary" if cs == "binary" else f"{cs}_bin"
    ft = FieldType(tp=tp, flag=flag, flen=flen, decimal=dec, charset=cs, collate=coll, elems=elems)
    return ColumnInfo(id=cid, name=f"c{cid}", offset=cid - 1, type=ft, **kw)


def roundtrip(t: TableInfo, row: dict[str, Any], tz: Any = UTC) -> list[bytes]:
    """Encode in v1 and v2, decode both, check both give ``row``; return the two values."""
    outs = []
    for version in (2, 1):
        raw = encode_row(t, row, tz=tz, version=version)
        got = decode_row(raw, t, row.get("id", 1), tz)
        assert got == row, f"v{version}"
        outs.append(raw)
    return outs


def payload(raw: bytes) -> bytes:
    """The data area of a small v2 row with exactly one not-null column."""
    assert raw[0] == 0x80 and raw[1] == 0 and raw[2] == 1
    nn, nl = raw[2], raw[4]
    return raw[6 + nn + nl + 2 :]


INT_CASES = [
    (m.TYPE_TINY, 0, -128, "80"),
    (m.TYPE_SHORT, 0, -32768, "0080"),
    (m.TYPE_INT24, 0, 8388607, "ffff7f00"),
    (m.TYPE_LONG, 0, -2147483648, "00000080"),
    (m.TYPE_LONGLONG, 0, -(1 << 63), "0000000000000080"),
    (m.TYPE_TINY, m.UNSIGNED_FLAG, 255, "ff"),
    (m.TYPE_SHORT, m.UNSIGNED_FLAG, 65535, "ffff"),
    (m.TYPE_LONG, m.UNSIGNED_FLAG, 4294967295, "ffffffff"),
    (m.TYPE_LONGLONG, m.UNSIGNED_FLAG, (1 << 64) - 1, "ffffffffffffffff"),
    (m.TYPE_LONGLONG, 0, 127, "7f"),
    (m.TYPE_LONGLONG, 0, 128, "8000"),
    (m.TYPE_LONGLONG, m.UNSIGNED_FLAG, 256, "0001"),
]


@pytest.mark.parametrize(("tp", "flag", "value", "hex_"), INT_CASES)
def test_ints_smallest_width(tp: int, flag: int, value: int, hex_: str) -> None:
    t = table(col(2, tp, flag=flag))
    v2, _ = roundtrip(t, {"id": 1, "c2": value})
    assert payload(v2).hex() == hex_


def test_max_unsigned_bigint_pk_handle() -> None:
    pk = ColumnInfo(
        id=1,
        name="id",
        offset=0,
        type=FieldType(tp=m.TYPE_LONGLONG, flag=m.NOT_NULL_FLAG | m.PRI_KEY_FLAG | m.UNSIGNED_FLAG),
    )
    t = TableInfo(id=42, name="t", columns=(pk, col(2, m.TYPE_LONG)), pk_is_handle=True)
    key = keys.encode_record_key(42, (1 << 64) - 1)
    k = keys.decode_key(key)
    assert isinstance(k, keys.RecordKey)
    raw = encode_row(t, {"id": (1 << 64) - 1, "c2": 5})
    assert raw.hex() == "80000100000002010005"  # the PK is the handle: not in the value
    assert decode_row(raw, t, k.handle) == {"id": (1 << 64) - 1, "c2": 5}


def test_float_and_double() -> None:
    t = table(col(2, m.TYPE_FLOAT), col(3, m.TYPE_DOUBLE))
    f32 = struct.unpack("<f", struct.pack("<f", 0.1))[0]
    roundtrip(t, {"id": 1, "c2": f32, "c3": -1.8})
    raw = encode_row(t, {"id": 1, "c2": 0.1, "c3": 1.8})
    assert raw.endswith(bytes.fromhex("bffccccccccccccd"))
    assert decode_row(raw, t, 1) == {"id": 1, "c2": f32, "c3": 1.8}


@pytest.mark.parametrize(
    ("m_", "d_", "value"),
    [
        (10, 4, Decimal("11.9900")),
        (10, 4, Decimal("-11.9900")),
        (65, 30, Decimal("-" + "9" * 35 + "." + "9" * 30)),
        (65, 0, Decimal("1" + "0" * 64)),
        (5, 2, Decimal("0.00")),
    ],
)
def test_decimal_uses_column_precision(m_: int, d_: int, value: Decimal) -> None:
    t = table(col(2, m.TYPE_NEWDECIMAL, flen=m_, dec=d_))
    v2, _ = roundtrip(t, {"id": 1, "c2": value})
    assert payload(v2)[:2] == bytes((m_, d_))


def test_decimal_fact_sheet_vector() -> None:
    # DECIMAL(10,4) 11.99 → 0a 04 + 5 bin bytes (facts §8).
    t = table(col(2, m.TYPE_NEWDECIMAL, flen=10, dec=4))
    raw = encode_row(t, {"id": 1, "c2": Decimal("11.99")})
    assert payload(raw)[:2].hex() == "0a04" and len(payload(raw)) == 7
    assert decode_row(raw, t, 1) == {"id": 1, "c2": Decimal("11.9900")}


def test_decimal_rounded_to_column_scale_on_read() -> None:
    # TiDB TestDecodeDecimalFspNotMatch: stored (6,4) 11.9900 read by a DECIMAL(_,3) column.
    wide = table(col(2, m.TYPE_NEWDECIMAL, flen=6, dec=4))
    narrow = table(col(2, m.TYPE_NEWDECIMAL, flen=6, dec=3))
    raw = encode_row(wide, {"id": 1, "c2": Decimal("11.9900")})
    assert str(decode_row(raw, narrow, 1)["c2"]) == "11.990"  # type: ignore[index]


@pytest.mark.parametrize("cs", ["utf8mb4", "utf8", "latin1", "gbk"])
def test_text_strings(cs: str) -> None:
    t = table(col(2, m.TYPE_VARCHAR, cs=cs), col(3, m.TYPE_BLOB, cs=cs))
    v2, _ = roundtrip(t, {"id": 1, "c2": "héllo 😀𝄞", "c3": "x" * 1000})
    assert "😀".encode() in v2


def test_binary_strings_stay_bytes() -> None:
    t = table(col(2, m.TYPE_STRING, cs="binary", flen=4), col(3, m.TYPE_BLOB))
    roundtrip(t, {"id": 1, "c2": b"\x00\xff\x01\x02", "c3": b"\x80\x81"})


def test_empty_string_vs_null_vs_absent() -> None:
    t = table(col(2, m.TYPE_VARCHAR, cs="utf8mb4"), col(3, m.TYPE_VARCHAR, cs="utf8mb4"))
    v2, v1 = roundtrip(t, {"id": 1, "c2": "", "c3": None})
    # '' is a zero-length not-null column; a NULL without default is left out entirely.
    assert v2.hex() == "80000100000002" + "0000"  # c2 = '' (end offset 0), c3 absent
    assert v1.hex() == "0804" + "0200"  # column 2 → compact bytes of length 0; c3 absent
    # With a default, the NULL must be listed in the null list.
    t2 = table(
        col(2, m.TYPE_VARCHAR, cs="utf8mb4"), col(3, m.TYPE_VARCHAR, cs="utf8mb4", default="d")
    )
    raw = encode_row(t2, {"id": 1, "c2": "", "c3": None})
    assert raw[4] == 1 and raw[7] == 3
    assert decode_row(raw, t2, 1) == {"id": 1, "c2": "", "c3": None}


def test_invalid_utf8_is_corrupt() -> None:
    t = table(col(2, m.TYPE_VARCHAR, cs="utf8mb4"))
    raw = encode_row(t, {"id": 1, "c2": "ab"})
    bad = raw[:-2] + b"\xc3\x28"
    with pytest.raises(CorruptValueError) as ei:
        decode_row(bad, t, 7)
    assert ei.value.table_id == 42 and ei.value.handle == 7 and ei.value.offset == len(raw) - 2


def test_zero_date_and_dates() -> None:
    t = table(
        col(2, m.TYPE_DATE, dec=0), col(3, m.TYPE_DATETIME, dec=6), col(4, m.TYPE_TIMESTAMP, dec=0)
    )
    zero_d = MyTime(0, 0, 0, tp=m.TYPE_DATE, fsp=0)
    zero_ts = MyTime(0, 0, 0, tp=m.TYPE_TIMESTAMP, fsp=0)
    dt = MyTime(2024, 2, 29, 23, 59, 59, 999999, m.TYPE_DATETIME, 6)
    v2, _ = roundtrip(t, {"id": 1, "c2": zero_d, "c3": dt, "c4": zero_ts})
    assert v2[-1] == 0  # zero TIMESTAMP packs to 0 → one byte


def test_timestamp_stored_in_utc_and_shown_in_zone() -> None:
    tz = zoneinfo.ZoneInfo("Asia/Shanghai")
    t = table(col(2, m.TYPE_TIMESTAMP, dec=0), col(3, m.TYPE_DATETIME, dec=0))
    local = MyTime(2024, 1, 1, 8, 0, 0, 0, m.TYPE_TIMESTAMP, 0)
    wall = MyTime(2024, 1, 1, 8, 0, 0, 0, m.TYPE_DATETIME, 0)
    raw = encode_row(t, {"id": 1, "c2": local, "c3": wall}, tz=tz)
    in_utc = decode_row(raw, t, 1, UTC)
    assert in_utc is not None
    assert str(in_utc["c2"]) == "2024-01-01 00:00:00"  # converted
    assert str(in_utc["c3"]) == "2024-01-01 08:00:00"  # DATETIME never converted
    assert decode_row(raw, t, 1, tz) == {"id": 1, "c2": local, "c3": wall}


def test_time_negative_and_fractional() -> None:
    t = table(col(2, m.TYPE_DURATION, dec=6), col(3, m.TYPE_DURATION, dec=0))
    v2, _ = roundtrip(
        t,
        {
            "id": 1,
            "c2": -timedelta(hours=838, minutes=59, seconds=58, microseconds=5),
            "c3": timedelta(hours=4),
        },
    )
    assert (14400000000000).to_bytes(8, "little") in v2  # TiDB TestTypesNewRowCodec: 4:00:00


def test_year_enum_set_bit() -> None:
    t = table(
        col(2, m.TYPE_YEAR),
        col(3, m.TYPE_ENUM, elems=("y", "n"), cs="utf8mb4"),
        col(4, m.TYPE_SET, elems=("n1", "n2", "n3"), cs="utf8mb4"),
        col(5, m.TYPE_BIT, flen=24),
        col(6, m.TYPE_ENUM, elems=("a",), cs="utf8mb4"),
    )
    v2, _ = roundtrip(t, {"id": 1, "c2": 1999, "c3": "n", "c4": "n1,n3", "c5": 3223600, "c6": ""})
    assert bytes.fromhex("cf07") in v2  # YEAR 1999 (facts §3.3)


def test_set_bits_beyond_elements_are_corrupt() -> None:
    t = table(col(2, m.TYPE_SET, elems=("a",), cs="utf8mb4"))
    raw = encode_row(t, {"id": 1, "c2": 0b11})
    with pytest.raises(CorruptValueError):
        decode_row(raw, t, 1)


def test_json_small_and_big() -> None:
    t = table(col(2, m.TYPE_JSON), col(3, m.TYPE_JSON))
    big = {f"k{i:05d}": [i, str(i) * 10, {"n": None, "t": True}] for i in range(3000)}
    v2, _ = roundtrip(t, {"id": 1, "c2": {"a": 2}, "c3": big})
    assert len(v2) > 65535 and v2[1] & 1  # promoted to a large row


def test_vector() -> None:
    t = table(col(2, m.TYPE_VECTOR_FLOAT32))
    v2, _ = roundtrip(t, {"id": 1, "c2": (1.0, -2.5, 3.25)})
    assert payload(v2)[:4] == b"\x03\x00\x00\x00"


def test_large_row_by_column_id() -> None:
    cols = [col(i, m.TYPE_LONG) for i in range(2, 302)]
    t = table(*cols)
    row = {"id": 1, **{f"c{i}": i for i in range(2, 302)}}
    v2, _ = roundtrip(t, row)
    assert v2[1] == 1


def test_large_row_by_data_size() -> None:
    t = table(col(2, m.TYPE_LONG_BLOB), col(3, m.TYPE_LONG))
    v2, _ = roundtrip(t, {"id": 1, "c2": b"a" * 65536, "c3": 7})
    assert v2[1] == 1
    small, _ = roundtrip(t, {"id": 1, "c2": b"a" * 65530, "c3": 7})
    assert small[1] == 0


def test_missing_columns_filled() -> None:
    t = table(
        col(2, m.TYPE_LONG),  # nullable, no default → NULL
        col(3, m.TYPE_LONG, flag=m.NOT_NULL_FLAG),  # NOT NULL, no default → zero
        col(4, m.TYPE_VARCHAR, cs="utf8mb4", origin_default="abc"),  # added later
        col(5, m.TYPE_TIMESTAMP, dec=0, origin_default="2020-01-01 00:00:00"),  # UTC
        col(6, m.TYPE_ENUM, flag=m.NOT_NULL_FLAG, elems=("x", "y"), cs="utf8mb4"),
        col(7, m.TYPE_LONG, generated_expr_string="`c3` + 1"),  # virtual
    )
    got = decode_row(bytes.fromhex("800000000000"), t, 9, zoneinfo.ZoneInfo("Asia/Shanghai"))
    assert got == {
        "id": 9,
        "c2": None,
        "c3": 0,
        "c4": "abc",
        "c5": MyTime(2020, 1, 1, 8, 0, 0, 0, m.TYPE_TIMESTAMP, 0),
        "c6": "x",
        "c7": None,
    }
    assert decode_row(b"\x00", t, 9) == {
        **got,
        "c5": MyTime(2020, 1, 1, 0, 0, 0, 0, m.TYPE_TIMESTAMP, 0),
    }
    assert decode_row(b"", t, 9) is None


def test_clustered_pk_columns_come_from_the_key() -> None:
    a = ColumnInfo(
        id=1, name="a", offset=0, type=FieldType(m.TYPE_LONG, flag=m.NOT_NULL_FLAG | m.PRI_KEY_FLAG)
    )
    b = ColumnInfo(
        id=2,
        name="b",
        offset=1,
        type=FieldType(
            m.TYPE_VARCHAR,
            flag=m.NOT_NULL_FLAG | m.PRI_KEY_FLAG,
            charset="utf8mb4",
            collate="utf8mb4_bin",
        ),
    )
    c = ColumnInfo(id=3, name="c", offset=2, type=FieldType(m.TYPE_DATETIME, decimal=0))
    pk = IndexInfo(
        1, "PRIMARY", (IndexColumn("a", 0), IndexColumn("b", 1)), is_unique=True, is_primary=True
    )
    t = TableInfo(id=5, name="t", columns=(a, b, c), indices=(pk,), is_common_handle=True)
    row = {"a": -3, "b": "k ", "c": MyTime(2001, 2, 3, 4, 5, 6, 0, m.TYPE_DATETIME, 0)}
    handle = keys.encode_common_handle(row, t)
    raw = encode_row(t, row)
    # a (int) is skipped from the value; b (VARCHAR, needs restored data) is stored.
    assert raw[2] == 2 and raw[6:8] == bytes((2, 3))
    k = keys.decode_key(keys.encode_record_key(5, handle))
    assert isinstance(k, keys.RecordKey)
    for version in (1, 2):
        assert decode_row(encode_row(t, row, version=version), t, k.handle) == row


@pytest.mark.parametrize("version", [0, 1, 2])
def test_checksum_trailer_versions_accepted(version: int) -> None:
    t = table(col(2, m.TYPE_LONG))
    raw = bytearray(encode_row(t, {"id": 1, "c2": 5}))
    raw[1] |= 0x02
    with_extra = bytes(raw) + bytes((version | 0x08,)) + b"\x01\x02\x03\x04" * 2
    plain = bytes(raw) + bytes((version,)) + b"\x01\x02\x03\x04"
    assert decode_row(plain, t, 1) == {"id": 1, "c2": 5}
    assert decode_row(with_extra, t, 1) == {"id": 1, "c2": 5}


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda r: r[:-1], "truncated"),
        (lambda r: r[:5], "header"),
        (lambda r: r + b"\x00", "trailing"),
        (lambda r: r[:1] + b"\x04" + r[2:], "unknown flags"),
        (lambda r: r[:1] + b"\x02" + r[2:] + b"\x07\x00\x00\x00\x00", "checksum version 7"),
        (lambda r: r[:8] + b"\xff\xff" + r[10:], "offset past end"),
    ],
)
def test_corrupt_v2_rows_raise_typed_error(mutate: Any, why: str) -> None:
    t = table(col(2, m.TYPE_LONG), col(3, m.TYPE_VARCHAR, cs="utf8mb4"))
    raw = encode_row(t, {"id": 1, "c2": 1000, "c3": "abc"})
    with pytest.raises(CorruptValueError) as ei:
        decode_row(mutate(raw), t, 77)
    assert ei.value.table_id == 42 and ei.value.handle == 77, why


@pytest.mark.parametrize(
    "bad",
    ["08", "0802", "0802fe", "08020380", "0a02", "0802" + "06" + "0a04" + "00"],
)
def test_corrupt_v1_rows_raise_typed_error(bad: str) -> None:
    t = table(col(2, m.TYPE_LONG))
    with pytest.raises(CorruptValueError):
        decode_row(bytes.fromhex(bad), t, 1)


def test_bad_decimal_word_is_corrupt() -> None:
    t = table(col(2, m.TYPE_NEWDECIMAL, flen=18, dec=0))
    raw = bytearray(encode_row(t, {"id": 1, "c2": Decimal(1)}))
    raw[-4:] = b"\xff\xff\xff\xff"  # a 9-digit word of 0x7fffffff > 999999999
    with pytest.raises(CorruptValueError):
        decode_row(bytes(raw), t, 1)


def test_wrong_int_width_is_corrupt() -> None:
    t = table(col(2, m.TYPE_LONG))
    # one not-null column 2 whose payload has 3 bytes: TiDB never writes that.
    raw = bytes.fromhex("800001000000" + "02" + "0300" + "010203")
    with pytest.raises(CorruptValueError) as ei:
        decode_row(raw, t, 1)
    assert ei.value.offset == 9


def _clustered_str(collate: str, tp: int = m.TYPE_VARCHAR) -> TableInfo:
    k = ColumnInfo(
        id=1,
        name="k",
        offset=0,
        type=FieldType(
            tp, flag=m.NOT_NULL_FLAG | m.PRI_KEY_FLAG, flen=16, charset="utf8mb4", collate=collate
        ),
    )
    v = ColumnInfo(id=2, name="v", offset=1, type=FieldType(m.TYPE_LONG))
    pk = IndexInfo(1, "PRIMARY", (IndexColumn("k", 0),), is_unique=True, is_primary=True)
    return TableInfo(id=5, name="t", columns=(k, v), indices=(pk,), is_common_handle=True)


@pytest.mark.parametrize(
    ("collate", "tp", "value"),
    [
        ("utf8mb4_bin", m.TYPE_VARCHAR, "b "),  # trailing space: kept (binCollator, no trim)
        ("utf8mb4_general_ci", m.TYPE_VARCHAR, "MiXed"),  # case kept (no sort key)
        ("utf8mb4_unicode_ci", m.TYPE_VARCHAR, "中文"),
        ("utf8mb4_bin", m.TYPE_STRING, "c1"),
        ("utf8mb4_0900_bin", m.TYPE_VARCHAR, "x"),
    ],
)
def test_new_collation_off_clustered_string_pk_is_only_in_the_key(
    collate: str, tp: int, value: str
) -> None:
    """TiDB with new collation off (pkg/types.NeedRestoredData is false, tables.CanSkip skips
    the column): the value holds only ``v``; the key holds ``k``'s bytes as they are."""
    t = _clustered_str(collate, tp)
    row = {"k": value, "v": 7}
    key_datum = datum.key_bytes(value.encode())
    handle = keys.encode_common_handle(row, t, new_collation=False)
    assert handle.startswith(key_datum)
    as_tidb = rowcodec_v2.encode([(2, b"\x07")], [])  # v only, as TiDB writes it
    for version in (1, 2):
        raw = encode_row(t, row, version=version, new_collation=False)
        if version == 2:
            assert raw == as_tidb  # k is left out of the value
        k = keys.decode_key(keys.encode_record_key(5, handle))
        assert isinstance(k, keys.RecordKey)
        assert decode_row(raw, t, k.handle, new_collation=False) == row


def test_new_collation_on_decoding_an_off_row_fails_instead_of_guessing() -> None:
    """A VARCHAR PK that needs restored data (new collation on) must be in the value; the key
    holds only its sort key. Absent, the row is corrupt (dead letter), never filled as ''."""
    t = _clustered_str("utf8mb4_bin")
    row = {"k": "b ", "v": 7}
    raw = encode_row(t, row, new_collation=False)
    handle = keys.encode_common_handle(row, t, new_collation=False)
    with pytest.raises(CorruptValueError, match="missing from the row value"):
        decode_row(raw, t, handle)
    on = encode_row(t, row)
    assert decode_row(on, t, keys.encode_common_handle(row, t)) == row


def test_new_collation_on_and_off_plans_are_cached_apart() -> None:
    t = _clustered_str("utf8mb4_general_ci")
    row = {"k": "Ab", "v": 1}
    off = encode_row(t, row, new_collation=False)
    handle = keys.encode_common_handle(row, t, new_collation=False)
    assert decode_row(off, t, handle, new_collation=False) == row
    with pytest.raises(CorruptValueError):
        decode_row(off, t, handle, new_collation=True)
    assert decode_row(off, t, handle, new_collation=False) == row
