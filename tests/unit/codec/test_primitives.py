"""Primitive codecs against upstream vectors (tests/data/codec/golden_keys.json cites each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.codec import bytescodec, datum, number
from core.codec.errors import CorruptValueError

GOLDEN = json.loads((Path(__file__).parents[2] / "data/codec/golden_keys.json").read_text())


@pytest.mark.parametrize("case", GOLDEN["cmp_int"], ids=lambda c: str(c["value"]))
def test_cmp_int_golden(case: dict) -> None:
    assert number.encode_int(case["value"]).hex() == case["hex"]
    assert number.decode_int(bytes.fromhex(case["hex"])) == (case["value"], 8)


def test_cmp_int_extremes_and_order() -> None:
    vals = [-(1 << 63), -1, 0, 1, (1 << 63) - 1]
    encs = [number.encode_int(v) for v in vals]
    assert encs == sorted(encs)
    assert [number.decode_int(e)[0] for e in encs] == vals
    descs = [number.encode_int_desc(v) for v in vals]
    assert descs == sorted(descs, reverse=True)
    assert [number.decode_int_desc(e)[0] for e in descs] == vals


@pytest.mark.parametrize("case", GOLDEN["cmp_float"], ids=lambda c: str(c["value"]))
def test_cmp_float_golden(case: dict) -> None:
    assert number.encode_float(case["value"]).hex() == case["hex"]
    assert number.decode_float(bytes.fromhex(case["hex"]))[0] == case["value"]


def test_cmp_float_zero_and_order() -> None:
    vals = [float("-inf"), -1.5, -0.0, 0.0, 2.25, float("inf")]
    encs = [number.encode_float(v) for v in vals]
    assert encs == sorted(encs)
    assert number.encode_float(0.0).hex() == "8000000000000000"


@pytest.mark.parametrize("case", GOLDEN["varint"], ids=lambda c: str(c["value"]))
def test_varint_golden(case: dict) -> None:
    assert number.encode_varint(case["value"]).hex() == case["hex"]
    assert number.decode_varint(bytes.fromhex(case["hex"]))[0] == case["value"]


@pytest.mark.parametrize("case", GOLDEN["uvarint"], ids=lambda c: str(c["value"]))
def test_uvarint_golden(case: dict) -> None:
    assert number.encode_uvarint(case["value"]).hex() == case["hex"]
    assert number.decode_uvarint(bytes.fromhex(case["hex"]))[0] == case["value"]


def test_varint_rejects_truncation_and_overflow() -> None:
    with pytest.raises(CorruptValueError):
        number.decode_uvarint(b"\x80\x80")
    with pytest.raises(CorruptValueError):
        number.decode_uvarint(b"\xff" * 9 + b"\x02")  # 10th byte > 1 overflows u64
    assert number.decode_uvarint(b"\xff" * 9 + b"\x01")[0] == (1 << 64) - 1


@pytest.mark.parametrize("case", GOLDEN["memcomparable_bytes"], ids=lambda c: c["raw"] or "empty")
def test_memcomparable_golden(case: dict) -> None:
    raw = bytes.fromhex(case["raw"])
    assert bytescodec.encode_bytes(raw).hex() == case["enc"]
    assert bytescodec.decode_bytes(bytes.fromhex(case["enc"])) == (raw, len(case["enc"]) // 2)


def test_memcomparable_desc_and_errors() -> None:
    for raw in (b"", b"abc", b"12345678", b"123456789"):
        enc = bytescodec.encode_bytes_desc(raw)
        assert bytescodec.decode_bytes_desc(enc + b"zz") == (raw, len(enc))
    with pytest.raises(CorruptValueError):
        bytescodec.decode_bytes(bytes.fromhex("0102030000000001fa"))  # non-zero padding
    with pytest.raises(CorruptValueError):
        bytescodec.decode_bytes(bytes.fromhex("0102030000000000f0"))  # pad count 15
    with pytest.raises(CorruptValueError):
        bytescodec.decode_bytes(bytes.fromhex("01020300"))


def test_compact_bytes_uses_zigzag_length() -> None:
    assert bytescodec.encode_compact_bytes(b"abc").hex() == "06616263"
    assert bytescodec.decode_compact_bytes(bytes.fromhex("06616263")) == (b"abc", 4)
    with pytest.raises(CorruptValueError):
        bytescodec.decode_compact_bytes(bytes.fromhex("0a6162"))


def test_datum_value_and_key_modes() -> None:
    # v1 column id 1 is written as varint datum 08 02 (facts §4).
    assert datum.value_int(1).hex() == "0802"
    assert datum.decode_one(bytes.fromhex("0802")) == (datum.VARINT_FLAG, 1, 2)
    assert datum.key_int(1).hex() == "038000000000000001"
    assert datum.key_uint(2).hex() == "040000000000000002"
    assert datum.decode_one(datum.key_bytes(b"ab")) == (datum.BYTES_FLAG, b"ab", 10)
    assert datum.decode_one(datum.value_bytes(b"ab")) == (datum.COMPACT_BYTES_FLAG, b"ab", 4)
    assert datum.decode_one(b"\x00") == (datum.NIL_FLAG, None, 1)
    vec = datum.vector_datum([1.0, -2.5])
    assert datum.decode_one(vec) == (datum.VECTOR_FLOAT32_FLAG, (1.0, -2.5), len(vec))
    assert datum.peek(vec + b"\x00") == len(vec)


@pytest.mark.parametrize("bad", ["fe00", "03800000", "0a", "06", "14ff000000", "02"])
def test_datum_rejects_garbage(bad: str) -> None:
    with pytest.raises(CorruptValueError):
        datum.decode_one(bytes.fromhex(bad))
