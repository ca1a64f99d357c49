"""TiDB binary JSON, anchored to upstream vectors in tests/data/codec/leaf/json.json."""

from __future__ import annotations

import copy
import datetime as dt
import json
import pickle
import struct
from pathlib import Path
from typing import Any

import pytest

from core.codec.errors import CorruptValueError
from core.codec.jsonbin import (
    JSON_NULL,
    JsonDuration,
    JsonOpaque,
    JsonUint,
    decode_json_binary,
    encode_json_binary,
    json_binary_length,
    json_to_text,
)
from core.codec.mytime import TYPE_DATE, TYPE_DATETIME, TYPE_TIMESTAMP, MyTime

DATA = json.loads(
    (Path(__file__).parents[2] / "data" / "codec" / "leaf" / "json.json").read_text("utf-8")
)


@pytest.mark.parametrize("case", DATA["binary"], ids=lambda c: c["text"])
def test_upstream_binary(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["hex"])
    value = json.loads(case["text"])
    assert encode_json_binary(value).hex() == case["hex"]
    assert decode_json_binary(raw) == value
    assert json_binary_length(raw + b"\xff\xff", 0) == len(raw)


@pytest.mark.parametrize("text", DATA["text_roundtrip"]["cases"])
def test_text_roundtrip_like_tidb(text: str) -> None:
    assert json_to_text(decode_json_binary(encode_json_binary(json.loads(text)))) == text


@pytest.mark.parametrize("case", DATA["key_order"]["cases"], ids=lambda c: c["text"])
def test_keys_print_sorted(case: dict[str, Any]) -> None:
    decoded = decode_json_binary(encode_json_binary(json.loads(case["input"])))
    assert json_to_text(decoded) == case["text"]


@pytest.mark.parametrize("case", DATA["quote"]["cases"], ids=lambda c: c["quoted"])
def test_string_quoting(case: dict[str, Any]) -> None:
    assert json_to_text(decode_json_binary(encode_json_binary(case["raw"]))) == case["quoted"]


@pytest.mark.parametrize("case", DATA["duration_text"]["cases"], ids=lambda c: c["text"])
def test_duration_text(case: dict[str, Any]) -> None:
    td = dt.timedelta(microseconds=case["ns"] // 1000)
    assert json_to_text(decode_json_binary(encode_json_binary(td))) == case["text"]


def test_layout_of_nested_doc_by_hand() -> None:
    # [1, "a", null, {"b": false}] laid out per TiDB appendBinaryArray/appendBinaryObject.
    raw = encode_json_binary([1, "a", None, {"b": False}])
    count, size = struct.unpack_from("<II", raw, 1)
    assert raw[0] == 0x03 and count == 4 and size == len(raw) - 1
    entries = [struct.unpack_from("<BI", raw, 9 + 5 * i) for i in range(4)]
    # Values follow the 28-byte header in order; literals are inlined in the entry.
    assert entries == [(0x09, 28), (0x0C, 36), (0x04, 0), (0x01, 38)]
    assert raw[1 + 28 : 1 + 36] == (1).to_bytes(8, "little")
    assert raw[1 + 36 : 1 + 38] == b"\x01a"
    obj = raw[1 + 38 :]
    assert obj == bytes.fromhex("0100000014000000130000000100040200000062")


def test_object_keys_sorted_bytewise_not_by_length() -> None:
    # MySQL sorts keys by length first; TiDB sorts by bytes (cmp.Compare on Go strings).
    raw = encode_json_binary({"bb": 1, "a": 2, "é": 3, "ab": 4})
    assert list(decode_json_binary(raw)) == ["a", "ab", "bb", "é"]
    assert json_to_text({"bb": 1, "a": 2}) == '{"a": 2, "bb": 1}'


def test_uint64_max_and_int64_edges() -> None:
    for value, code in (
        (JsonUint(2**64 - 1), 0x0A),
        (2**64 - 1, 0x0A),
        (2**63, 0x0A),
        (2**63 - 1, 0x09),
        (-(2**63), 0x09),
        (JsonUint(5), 0x0A),
    ):
        raw = encode_json_binary(value)
        assert raw[0] == code
        back = decode_json_binary(raw)
        assert back == value and isinstance(back, JsonUint) == (code == 0x0A)
    assert json_to_text(JsonUint(2**64 - 1)) == "18446744073709551615"
    assert encode_json_binary(2**64)[0] == 0x0B  # beyond uint64 TiDB's parser makes a double
    with pytest.raises(ValueError):
        JsonUint(-1)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3.0"),
        (-2.0, "-2.0"),
        (0.0, "0.0"),
        (3.5, "3.5"),
        (0.1, "0.1"),
        (123456789.1234567, "123456789.1234567"),
        (1e14, "100000000000000.0"),
        (1e15, "1e15"),
        (1.5e300, "1.5e300"),
        (1e-15, "0.000000000000001"),
        (1e-16, "1e-16"),
        (-1.25e-20, "-1.25e-20"),
    ],
)
def test_double_text(value: float, text: str) -> None:
    # Rule from TiDB json_binary.go marshalFloat64To: shortest digits, 'e' form below 1e-15 or
    # from 1e15, '+' dropped from the exponent, '.0' kept for integral fixed-point values.
    assert json_to_text(decode_json_binary(encode_json_binary(value))) == text
    assert float(text) == value


def test_control_chars_and_line_separators_escaped() -> None:
    text = json_to_text("\x00\x1f\x7f\u2028\u2029<&>é😀")
    assert text == '"\\u0000\\u001f\x7f\\u2028\\u2029<&>é😀"'
    assert json.loads(text) == "\x00\x1f\x7f\u2028\u2029<&>é😀"


def test_json_null_document_is_not_sql_null() -> None:
    # TiDB stores the document null as literal 0x04 0x00 (json_binary.go JSONLiteralNil); as a
    # column value it must not read back as None, which is SQL NULL.
    raw = bytes([0x04, 0x00])
    value = decode_json_binary(raw)
    assert value is JSON_NULL and value is not None and value != None  # noqa: E711
    assert encode_json_binary(value) == raw == encode_json_binary(None)
    assert json_to_text(value) == "null"
    # inside a container there is no SQL NULL: null stays None, and re-encodes the same bytes
    nested = encode_json_binary([None, {"k": JSON_NULL}])
    assert decode_json_binary(nested) == [None, {"k": None}]
    assert encode_json_binary(decode_json_binary(nested)) == nested
    assert repr(JSON_NULL) == "JSON_NULL"
    assert copy.deepcopy(JSON_NULL) is JSON_NULL
    assert pickle.loads(pickle.dumps(JSON_NULL)) is JSON_NULL


def test_unicode_roundtrip() -> None:
    value = {"キー": ["值", "😀", "\u0000"], "": ""}
    assert decode_json_binary(encode_json_binary(value)) == value


def test_opaque() -> None:
    op = JsonOpaque(0xFD, b"\x00\xffabc")
    raw = encode_json_binary(op)
    assert raw == bytes([0x0D, 0xFD, 5]) + b"\x00\xffabc"
    assert decode_json_binary(raw) == op
    assert json_binary_length(raw, 0) == len(raw)
    assert json_to_text(op) == '"base64:type253:AP9hYmM="'


def test_dates_in_json() -> None:
    date = MyTime(2020, 1, 2, tp=TYPE_DATE)
    stamp = MyTime(2011, 11, 10, 11, 11, 11, 999999, TYPE_TIMESTAMP, 6)
    when = MyTime(1998, 6, 13, 12, 13, 14, 0, TYPE_DATETIME, 6)
    raw = encode_json_binary([date, when, stamp])
    codes = [raw[9 + 5 * i] for i in range(3)]
    assert codes == [0x0E, 0x0F, 0x10]
    assert decode_json_binary(raw) == [date, when, stamp]
    assert json_to_text(decode_json_binary(raw)) == (
        '["2020-01-02", "1998-06-13 12:13:14.000000", "2011-11-10 11:11:11.999999"]'
    )
    # CoreTime layout, not the packed u64 of rows.
    single = encode_json_binary(when)
    assert single[0] == 0x0F and len(single) == 9 and json_binary_length(single, 0) == 9
    assert int.from_bytes(single[1:], "little") >> 50 == 1998


def test_time_in_json_keeps_fsp_and_sign() -> None:
    td = JsonDuration(-dt.timedelta(hours=838, minutes=59, seconds=59), 3)
    raw = encode_json_binary(td)
    assert raw[0] == 0x11 and len(raw) == 13
    assert struct.unpack_from("<qI", raw, 1) == (-3020399 * 10**9, 3)
    back = decode_json_binary(raw)
    assert isinstance(back, JsonDuration) and back == td and back.fsp == 3
    assert json_to_text(back) == '"-838:59:59.000000"'


def test_big_document() -> None:
    doc = {f"k{i:05d}": [i, str(i) * 50, {"n": None, "f": i / 7}] for i in range(3000)}
    raw = encode_json_binary(doc)
    assert len(raw) > 65535  # offsets past 16 bits
    assert decode_json_binary(raw) == doc
    assert json.loads(json_to_text(decode_json_binary(raw))) == doc


def test_deep_nesting_limit() -> None:
    deep: Any = 0
    for _ in range(101):
        deep = [deep]
    assert decode_json_binary(encode_json_binary(deep)) == deep
    with pytest.raises(ValueError):
        encode_json_binary([deep])


def test_length_of_each_standalone_type() -> None:
    for value, size in (
        (None, 2),
        (True, 2),
        (7, 9),
        (JsonUint(7), 9),
        (1.5, 9),
        ("x" * 200, 1 + 2 + 200),
        (dt.timedelta(seconds=1), 13),
        ([], 9),
        ({}, 9),
    ):
        raw = encode_json_binary(value)
        assert len(raw) == size
        assert json_binary_length(b"\x00" + raw + b"\x00", 1) == size


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "empty"),
        (b"\x05\x01\x00", "unknown JSON type"),  # MySQL int16: TiDB never writes it
        (b"\x00\x01\x00\x00\x00", "unknown JSON type"),  # MySQL small object
        (b"\x04\x03", "bad JSON literal"),
        (b"\x09\x01\x02", "past its container"),
        (b"\x0c\x05abc", "past its container"),
        (b"\x0c\x02\xc3\x28", "invalid UTF-8"),
        (b"\x0c\xff", "truncated uvarint"),
        (b"\x0b" + struct.pack("<d", float("nan")), "never stores"),
        (b"\x03\x01\x00\x00\x00\x0d\x00\x00\x00\x09\xff\x00\x00\x00", "outside its container"),
        (b"\x03\x01\x00\x00\x00\xff\x00\x00\x00\x09\x0e\x00\x00\x00", "past its container"),
        (b"\x03\xff\xff\x00\x00\x08\x00\x00\x00", "entries in"),
        (b"\x11" + struct.pack("<qI", 0, 7), "fsp"),
        (b"\x0f" + (13 << 46).to_bytes(8, "little"), "impossible core time"),
        (b"\x0e" + (10000 << 50).to_bytes(8, "little"), "impossible core time"),
    ],
)
def test_corrupt_inputs_raise_typed_error(raw: bytes, why: str) -> None:
    with pytest.raises(CorruptValueError, match=why):
        decode_json_binary(raw)


def test_corrupt_lengths() -> None:
    with pytest.raises(CorruptValueError):
        json_binary_length(b"\x01\x01\x00\x00\x00\xff\x00\x00\x00", 0)
    with pytest.raises(CorruptValueError):
        json_binary_length(b"\x0c\x05ab", 0)
    with pytest.raises(CorruptValueError, match="< its header"):
        json_binary_length(b"\x03\x00\x00\x00\x00\x00\x00\x00\x00", 0)
    with pytest.raises(CorruptValueError):
        json_binary_length(b"\x20", 0)
    with pytest.raises(CorruptValueError):
        json_binary_length(b"", 0)


def test_unencodable_values() -> None:
    for bad in (float("inf"), float("nan")):
        with pytest.raises(ValueError):
            encode_json_binary(bad)
    with pytest.raises(TypeError):
        encode_json_binary({1: "x"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        encode_json_binary(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode_json_binary({"k" * 65536: 1})
