"""Record/index/meta keys, spans and common handles."""

from __future__ import annotations

import json
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.codec import datum, keys, number
from core.codec import mysqldef as m
from core.codec.bytescodec import encode_bytes
from core.codec.coltypes import EncodeError
from core.codec.errors import CorruptValueError
from core.codec.mytime import MyTime
from core.codec.tableinfo import ColumnInfo, FieldType, IndexColumn, IndexInfo, TableInfo

DATA = Path(__file__).parents[2] / "data/codec"
GOLDEN = json.loads((DATA / "golden_keys.json").read_text())


@pytest.mark.parametrize("case", GOLDEN["record_keys"], ids=lambda c: c["hex"])
def test_record_key_golden(case: dict) -> None:
    raw = bytes.fromhex(case["hex"])
    k = keys.decode_key(raw)
    assert k == keys.RecordKey(case["table_id"], case["handle"])
    assert keys.encode_record_key(case["table_id"], case["handle"]) == raw


@pytest.mark.parametrize("case", GOLDEN["index_keys"], ids=lambda c: c["hex"])
def test_index_key_recognised(case: dict) -> None:
    k = keys.decode_key(bytes.fromhex(case["hex"]))
    assert isinstance(k, keys.IndexKey)
    assert (k.table_id, k.index_id, k.is_temp) == (case["table_id"], case["index_id"], False)


def test_temp_index_id_is_masked() -> None:
    from core.codec import number

    raw = b"t" + number.encode_int(5) + b"_i" + number.encode_int(0x7FFF000000000003)
    k = keys.decode_key(raw)
    assert isinstance(k, keys.IndexKey) and k.index_id == 3 and k.is_temp


@pytest.mark.parametrize("case", GOLDEN["meta_keys"], ids=lambda c: c["hex"])
def test_meta_key_recognised(case: dict) -> None:
    assert isinstance(keys.decode_key(bytes.fromhex(case["hex"])), keys.MetaKey)


@pytest.mark.parametrize("case", GOLDEN["record_spans"], ids=lambda c: str(c["table_id"]))
def test_record_span_golden(case: dict) -> None:
    start, end = keys.record_span(case["table_id"])
    assert (start.hex(), end.hex()) == (case["start"], case["end"])


def test_unsigned_handle_reinterpreted() -> None:
    raw = keys.encode_record_key(7, (1 << 64) - 1)
    assert raw[-8:].hex() == "7fffffffffffffff"  # int64 -1 in comparable form
    k = keys.decode_key(raw)
    assert isinstance(k, keys.RecordKey) and k.handle == -1


def test_keyspace_prefix_is_stripped() -> None:
    raw = b"x\x00\x00\x01" + bytes.fromhex(GOLDEN["record_keys"][0]["hex"])
    assert keys.decode_key(raw) == keys.RecordKey(104, 1)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "74",
        "7480000000000000685f",
        "7480000000000000685f7a8000000000000001",
        "61",
        "7480000000000000685f72800000",
        "7480000000000000685f72ff0000000000000000",
    ],
)
def test_bad_keys_raise_typed_error(bad: str) -> None:
    with pytest.raises(CorruptValueError):
        keys.decode_key(bytes.fromhex(bad))


def _clustered(*cols: ColumnInfo, prefix: tuple[int, ...] | None = None) -> TableInfo:
    idx = IndexInfo(
        id=1,
        name="PRIMARY",
        columns=tuple(
            IndexColumn(c.name, i, (prefix or (-1,) * len(cols))[i]) for i, c in enumerate(cols)
        ),
        is_unique=True,
        is_primary=True,
    )
    return TableInfo(id=9, name="t", columns=cols, indices=(idx,), is_common_handle=True)


def _col(i: int, name: str, tp: int, **kw: object) -> ColumnInfo:
    ft = FieldType(tp=tp, flag=m.NOT_NULL_FLAG | m.PRI_KEY_FLAG, **kw)  # type: ignore[arg-type]
    return ColumnInfo(id=i, name=name, offset=i - 1, type=ft)


def test_common_handle_padding_quirk() -> None:
    # DECIMAL(2,0) PK: flag 06, precision 02, frac 00, one bin byte = 4 bytes, so TiDB pads
    # the handle with zeros to 9 bytes (pkg/kv/key.go NewCommonHandle).
    t = _clustered(_col(1, "d", m.TYPE_NEWDECIMAL, flen=2, decimal=0))
    enc = keys.encode_common_handle({"d": Decimal(5)}, t)
    assert enc.hex() == "06020085" + "00" * 5
    raw = keys.encode_record_key(9, enc)
    assert len(raw) == 20
    k = keys.decode_key(raw)
    assert isinstance(k, keys.RecordKey) and isinstance(k.handle, keys.CommonHandle)
    assert k.handle.datums == ((6, Decimal(5)),)
    with pytest.raises(EncodeError):
        keys.encode_record_key(9, enc[:4])


def test_common_handle_round_trip_mixed_types() -> None:
    t = _clustered(
        _col(1, "d", m.TYPE_NEWDECIMAL, flen=10, decimal=2),
        _col(2, "dt", m.TYPE_DATETIME, decimal=0),
        _col(3, "b", m.TYPE_STRING, charset="binary", collate="binary", flen=4),
    )
    row = {
        "d": Decimal("-12.50"),
        "dt": MyTime(2024, 2, 29, 1, 2, 3, 0, m.TYPE_DATETIME, 0),
        "b": b"ab",
    }
    enc = keys.encode_common_handle(row, t, UTC)
    raw = keys.encode_record_key(9, enc)
    k = keys.decode_key(raw)
    assert isinstance(k, keys.RecordKey) and isinstance(k.handle, keys.CommonHandle)
    assert [f for f, _ in k.handle.datums] == [6, 4, 1]
    assert k.handle.datums[0][1] == Decimal("-12.50")
    assert k.handle.datums[2][1] == b"ab"


def test_common_handle_zero_padding_stops_decoding() -> None:
    # A BIT/ENUM-free 2-byte handle cannot occur, so build one by hand: an int datum is 9 bytes;
    # NIL-flag padding after a real datum must end the cut.
    enc = bytes.fromhex("038000000000000001") + bytes(3)
    assert keys.decode_common_handle(enc) == ((3, 1),)
    with pytest.raises(CorruptValueError):
        keys.decode_common_handle(bytes.fromhex("038000000000000001") + b"\x00\x01")


def test_common_handle_ci_collation_is_refused() -> None:
    t = _clustered(_col(1, "s", m.TYPE_VARCHAR, charset="utf8mb4", collate="utf8mb4_general_ci"))
    with pytest.raises(EncodeError):
        keys.encode_common_handle({"s": "x"}, t)


def test_common_handle_bin_collation_trims_trailing_spaces() -> None:
    t = _clustered(_col(1, "s", m.TYPE_STRING, charset="utf8mb4", collate="utf8mb4_bin"))
    assert keys.encode_common_handle({"s": "ab  "}, t) == keys.encode_common_handle({"s": "ab"}, t)


# ---------------------------------------------------------------- the layout helpers

INT64 = st.integers(-(2**63), 2**63 - 1)
# index ids below the temp-index mask (a temp index id decodes to its masked form)
INDEX_ID = st.integers(0, keys.INDEX_ID_MASK)


@settings(max_examples=300, deadline=None)
@given(table_id=INT64, handle=INT64)
def test_int_record_key_layout_round_trips(table_id: int, handle: int) -> None:
    raw = keys.encode_record_key(table_id, handle)
    assert keys.decode_key(raw) == keys.RecordKey(table_id, handle)
    assert keys.parse_record_key(raw) == (table_id, number.encode_int(handle))
    assert keys.table_id_of(raw) == table_id
    assert keys.has_record_prefix(raw)
    assert raw[: keys.TABLE_PREFIX_LEN] == keys.table_prefix(table_id)
    assert raw[: keys.RECORD_PREFIX_LEN] == keys.record_prefix(table_id)
    lo, hi = keys.record_key_range(table_id)
    assert lo <= raw < hi
    assert keys.record_span(table_id) == (encode_bytes(lo), encode_bytes(hi))


@given(table_id=INT64, handle=st.binary(min_size=keys.MIN_COMMON_HANDLE_LEN, max_size=30))
def test_common_handle_bytes_stay_opaque(table_id: int, handle: bytes) -> None:
    raw = keys.encode_record_key(table_id, handle)
    assert keys.parse_record_key(raw) == (table_id, handle)
    assert keys.table_id_of(raw) == table_id


@given(table_id=INT64, index_id=INDEX_ID, rest=st.binary(max_size=20))
def test_index_keys_are_table_keys_but_not_record_keys(
    table_id: int, index_id: int, rest: bytes
) -> None:
    raw = keys.index_prefix(table_id, index_id) + rest
    assert keys.decode_key(raw) == keys.IndexKey(table_id, index_id, rest)
    assert keys.table_id_of(raw) == table_id
    assert not keys.has_record_prefix(raw)
    assert keys.parse_record_key(raw) is None
    lo, hi = keys.record_key_range(table_id)
    assert not lo <= raw < hi


@given(table_id=st.integers(-(2**63), 2**63 - 2), handle=INT64, other=INT64)
def test_record_key_range_holds_exactly_one_tables_records(
    table_id: int, handle: int, other: int
) -> None:
    lo, hi = keys.record_key_range(table_id)
    assert keys.table_prefix(table_id) < lo < hi <= keys.table_prefix(table_id + 1)
    raw = keys.encode_record_key(other, handle)
    assert (lo <= raw < hi) == (other == table_id)


@pytest.mark.parametrize(
    "raw", [b"", b"t", b"t\x80\x00\x00", b"mDB:1\x00", b"x\x00\x00\x01" + bytes(12)]
)
def test_non_table_keys(raw: bytes) -> None:
    assert keys.table_id_of(raw) is None
    assert not keys.has_record_prefix(raw)
    assert keys.parse_record_key(raw) is None


def test_bare_record_prefix_has_no_handle() -> None:
    bare = keys.record_prefix(45)
    assert keys.has_record_prefix(bare) and keys.table_id_of(bare) == 45
    assert keys.parse_record_key(bare) is None
    assert keys.table_prefix(45).hex() == "74800000000000002d"
    assert keys.record_key_range(45) == (bare, bytes.fromhex("74800000000000002d5f73"))


def test_common_handle_new_collation_off_keys_every_collation_as_bytes() -> None:
    # pkg/util/collate.GetCollator returns binCollator with new collation off: no trimming,
    # no case folding, so a _ci PK can be keyed and the key holds the value itself
    t = _clustered(_col(1, "s", m.TYPE_VARCHAR, charset="utf8mb4", collate="utf8mb4_general_ci"))
    enc = keys.encode_common_handle({"s": "Ab "}, t, new_collation=False)
    assert keys.decode_common_handle(enc) == ((datum.BYTES_FLAG, b"Ab "),)
    b = _clustered(_col(1, "s", m.TYPE_STRING, charset="utf8mb4", collate="utf8mb4_bin"))
    assert keys.encode_common_handle({"s": "ab  "}, b, new_collation=False) != (
        keys.encode_common_handle({"s": "ab"}, b, new_collation=False)
    )
