"""MyDecimal bin codec, anchored to upstream vectors in tests/data/codec/leaf/decimal.json."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from core.codec.errors import CorruptValueError
from core.codec.mydecimal import (
    DecimalParamError,
    decimal_bin_size,
    decode_decimal_bin,
    encode_decimal_bin,
)


def _text(value: Decimal) -> str:
    """Plain notation, as TiDB prints decimals (``str`` would switch to 1.2E-13 style)."""
    return format(value, "f")


DATA = json.loads(
    (Path(__file__).parents[2] / "data" / "codec" / "leaf" / "decimal.json").read_text("utf-8")
)


def _id(case: dict[str, Any]) -> str:
    return f"{case.get('value', case.get('hex'))}({case['precision']},{case['frac']})"


@pytest.mark.parametrize("case", DATA["bin"], ids=_id)
def test_encode_matches_upstream_bytes(case: dict[str, Any]) -> None:
    assert (
        encode_decimal_bin(Decimal(case["value"]), case["precision"], case["frac"]).hex()
        == case["hex"]
    )


@pytest.mark.parametrize("case", DATA["bin"] + DATA["decode_only"], ids=_id)
def test_decode_upstream_bytes(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["hex"])
    value, end = decode_decimal_bin(raw, 0, case["precision"], case["frac"])
    assert _text(value) == case["decoded"]
    assert end == len(raw) == decimal_bin_size(case["precision"], case["frac"])


@pytest.mark.parametrize("case", DATA["roundtrip"], ids=_id)
def test_roundtrip_prints_like_tidb(case: dict[str, Any]) -> None:
    p, f = case["precision"], case["frac"]
    raw = encode_decimal_bin(Decimal(case["value"]), p, f)
    value, end = decode_decimal_bin(raw, 0, p, f)
    assert _text(value) == case["decoded"]
    assert end == len(raw)


@pytest.mark.parametrize("case", DATA["rounded"]["cases"], ids=_id)
def test_extra_fraction_digits_round_half_up(case: dict[str, Any]) -> None:
    p, f = case["precision"], case["frac"]
    value, _ = decode_decimal_bin(encode_decimal_bin(Decimal(case["value"]), p, f), 0, p, f)
    assert _text(value) == case["stored"]


@pytest.mark.parametrize("case", DATA["overflow"], ids=_id)
def test_overflow_raises_value_error(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_decimal_bin(Decimal(case["value"]), case["precision"], case["frac"])


@pytest.mark.parametrize("case", DATA["bin_size"], ids=lambda c: f"({c['precision']},{c['frac']})")
def test_bin_size(case: dict[str, Any]) -> None:
    assert decimal_bin_size(case["precision"], case["frac"]) == case["size"]


@pytest.mark.parametrize(
    "case", DATA["bad_params"], ids=lambda c: f"({c['precision']},{c['frac']})"
)
def test_bad_params_are_typed_errors(case: dict[str, Any]) -> None:
    p, f = case["precision"], case["frac"]
    with pytest.raises(ValueError):
        decimal_bin_size(p, f)
    with pytest.raises(CorruptValueError):
        decode_decimal_bin(b"\x80" * 64, 0, p, f)
    with pytest.raises(DecimalParamError):
        encode_decimal_bin(Decimal(0), p, f)


def test_column_scale_is_kept_on_decode() -> None:
    raw = encode_decimal_bin(Decimal("11.99"), 10, 4)
    assert len(raw) == 5
    value, end = decode_decimal_bin(raw, 0, 10, 4)
    assert value.as_tuple() == Decimal("11.9900").as_tuple()
    assert end == 5


def test_negative_value_inverts_bytes() -> None:
    pos = encode_decimal_bin(Decimal("10.55"), 4, 2)
    neg = encode_decimal_bin(Decimal("-10.55"), 4, 2)
    assert bytes(b ^ 0xFF for b in pos) == neg
    assert decode_decimal_bin(neg, 0, 4, 2)[0] == Decimal("-10.55")


def test_65_digits_30_frac_extremes() -> None:
    top = Decimal("9" * 35 + "." + "9" * 30)
    for value in (top, top.copy_negate(), Decimal("-0." + "0" * 29 + "1")):
        raw = encode_decimal_bin(value, 65, 30)
        assert len(raw) == decimal_bin_size(65, 30) == 30
        assert decode_decimal_bin(raw, 0, 65, 30)[0] == value
    with localcontext() as ctx:
        ctx.prec = 100
        too_big = top + Decimal("1e-30")
    with pytest.raises(ValueError, match="does not fit"):
        encode_decimal_bin(too_big, 65, 30)


def test_zero_and_negative_zero() -> None:
    # TiDB clears the sign of an all-zero decimal, so -0 is stored like +0.
    assert encode_decimal_bin(Decimal("-0"), 3, 2) == encode_decimal_bin(Decimal(0), 3, 2)
    assert encode_decimal_bin(Decimal("-0.001"), 3, 2).hex() == "8000"
    # Bytes with the negative sign and zero digits still decode, as a signed zero.
    value, _ = decode_decimal_bin(bytes.fromhex("7fff"), 0, 3, 2)
    assert value == 0 and value.is_signed() and str(value) == "-0.00"


def test_decode_at_offset_returns_end() -> None:
    raw = b"\xaa\xbb" + bytes.fromhex("810dfb38d204d2") + b"\xcc"
    value, end = decode_decimal_bin(raw, 2, 14, 4)
    assert value == Decimal("1234567890.1234") and end == 9


def test_truncated_buffer() -> None:
    with pytest.raises(CorruptValueError, match="needs 7 bytes") as info:
        decode_decimal_bin(bytes.fromhex("810dfb38d204"), 0, 14, 4)
    assert info.value.offset == 0


def test_word_above_999999999_is_corrupt() -> None:
    # (9,0) is a single full word; 0x3b9aca00 = 1_000_000_000.
    raw = (0x3B9ACA00 ^ 0x80000000).to_bytes(4, "big")
    with pytest.raises(CorruptValueError, match="bad decimal word"):
        decode_decimal_bin(raw, 0, 9, 0)


def test_leading_piece_above_its_digits_is_corrupt() -> None:
    # (1,0): one byte holding one digit; 10 cannot be a digit.
    with pytest.raises(CorruptValueError):
        decode_decimal_bin(bytes([0x80 | 10]), 0, 1, 0)


def test_non_finite_and_wrong_type_rejected() -> None:
    with pytest.raises(ValueError):
        encode_decimal_bin(Decimal("NaN"), 10, 2)
    with pytest.raises(TypeError):
        encode_decimal_bin(1.5, 10, 2)  # type: ignore[arg-type]
