"""Property tests for the codec leaf types: MyDecimal bin, times, TiDB binary JSON."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

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
from core.codec.mydecimal import decimal_bin_size, decode_decimal_bin, encode_decimal_bin
from core.codec.mytime import (
    MAX_TIME_NS,
    TYPE_DATE,
    TYPE_DATETIME,
    TYPE_TIMESTAMP,
    MyTime,
    core_time_to_mytime,
    duration_from_ns,
    duration_to_ns,
    format_duration,
    mytime_to_core_time,
    pack_time,
    unpack_time,
)

# ---------------------------------------------------------------------------- decimal


@st.composite
def decimals(draw: st.DrawFn) -> tuple[Decimal, int, int]:
    """A value that fits DECIMAL(p, f), with exactly f fraction digits."""
    precision = draw(st.integers(1, 65))
    frac = draw(st.integers(0, min(30, precision)))
    digits = draw(st.integers(0, precision))
    magnitude = draw(st.integers(0, 10**digits - 1))
    negative = draw(st.booleans()) and magnitude != 0
    value = Decimal(f"{'-' if negative else ''}{magnitude}e-{frac}")
    return value, precision, frac


@settings(max_examples=300)
@given(decimals())
def test_decimal_roundtrip_keeps_value_and_scale(case: tuple[Decimal, int, int]) -> None:
    value, precision, frac = case
    raw = encode_decimal_bin(value, precision, frac)
    assert len(raw) == decimal_bin_size(precision, frac)
    back, end = decode_decimal_bin(b"\x01" + raw, 1, precision, frac)
    assert end == len(raw) + 1
    assert back == value
    assert back.as_tuple().exponent == -frac


@settings(max_examples=200)
@given(
    st.integers(1, 65).flatmap(lambda p: st.tuples(st.just(p), st.integers(0, min(30, p)))),
    st.data(),
)
def test_decimal_bytes_sort_like_numbers(pf: tuple[int, int], data: st.DataObject) -> None:
    precision, frac = pf
    bound = 10**precision - 1
    a, b = (data.draw(st.integers(-bound, bound)) for _ in range(2))
    with localcontext() as ctx:
        ctx.prec = 100
        da, db = Decimal(a).scaleb(-frac), Decimal(b).scaleb(-frac)
    ra, rb = encode_decimal_bin(da, precision, frac), encode_decimal_bin(db, precision, frac)
    assert (ra < rb) == (a < b) and (ra == rb) == (a == b)


@settings(max_examples=200)
@given(decimals(), st.integers(1, 6), st.data())
def test_decimal_extra_digits_round_half_up(
    case: tuple[Decimal, int, int], extra: int, data: st.DataObject
) -> None:
    value, precision, frac = case
    tail = data.draw(st.integers(0, 10**extra - 1))
    with localcontext() as ctx:
        ctx.prec = 200
        longer = value + Decimal(tail).scaleb(-(frac + extra)).copy_sign(value)
        rounded = longer.quantize(Decimal(1).scaleb(-frac), rounding=ROUND_HALF_UP)
    if abs(rounded) >= Decimal(10) ** (precision - frac):
        return  # rounding carried past the column's width: covered by the overflow tests
    assert encode_decimal_bin(longer, precision, frac) == encode_decimal_bin(
        rounded, precision, frac
    )


@settings(max_examples=300)
@given(st.binary(max_size=40), st.integers(1, 81), st.integers(0, 30))
def test_decimal_random_bytes_value_or_typed_error(raw: bytes, precision: int, frac: int) -> None:
    try:
        value, end = decode_decimal_bin(raw, 0, precision, frac)
    except CorruptValueError:
        return
    assert isinstance(value, Decimal) and end <= len(raw)


# ---------------------------------------------------------------------------- time


@st.composite
def mytimes(draw: st.DrawFn, tp: int | None = None) -> MyTime:
    kind = (
        tp if tp is not None else draw(st.sampled_from([TYPE_DATE, TYPE_DATETIME, TYPE_TIMESTAMP]))
    )
    year = draw(st.integers(0, 9999))
    month = draw(st.integers(0, 12))
    day = draw(st.integers(0, 31))
    if kind == TYPE_DATE:
        return MyTime(year, month, day, tp=kind, fsp=0)
    fsp = draw(st.integers(0, 6))
    micro = draw(st.integers(0, 999_999)) // 10 ** (6 - fsp) * 10 ** (6 - fsp)
    return MyTime(
        year,
        month,
        day,
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
        micro,
        kind,
        fsp,
    )


def _key(t: MyTime) -> tuple[int, ...]:
    return (t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond)


@settings(max_examples=300)
@given(mytimes())
def test_packed_time_roundtrip(t: MyTime) -> None:
    assert unpack_time(pack_time(t), t.tp, t.fsp) == t
    assert core_time_to_mytime(mytime_to_core_time(t), t.tp) == MyTime(
        *_key(t), tp=t.tp, fsp=0 if t.tp == TYPE_DATE else 6
    )


@settings(max_examples=200)
@given(mytimes(TYPE_DATETIME), mytimes(TYPE_DATETIME))
def test_packed_time_sorts_chronologically(a: MyTime, b: MyTime) -> None:
    assert (pack_time(a) < pack_time(b)) == (_key(a) < _key(b))


@settings(max_examples=300)
@given(st.integers(0, (1 << 64) - 1), st.sampled_from([TYPE_DATE, TYPE_DATETIME, TYPE_TIMESTAMP]))
def test_random_u64_time_value_or_typed_error(u: int, tp: int) -> None:
    for decode in (unpack_time, lambda v, t, _f: core_time_to_mytime(v, t)):
        try:
            t = decode(u, tp, 6)
        except CorruptValueError:
            continue
        assert 0 <= t.year <= 9999 and t.month <= 12 and t.hour <= 23
        str(t)


@settings(max_examples=300)
@given(st.integers(-MAX_TIME_NS // 1000, MAX_TIME_NS // 1000), st.integers(0, 6))
def test_duration_roundtrip_and_text(micros: int, fsp: int) -> None:
    td = duration_from_ns(micros * 1000)
    assert duration_to_ns(td) == micros * 1000
    text = format_duration(td, fsp)
    sign = -1 if text.startswith("-") else 1
    hms, _, frac = text.lstrip("-").partition(".")
    h, m, s = (int(x) for x in hms.split(":"))
    assert m < 60 and s < 60 and len(frac) == fsp
    whole = sign * ((h * 60 + m) * 60 + s)
    assert whole == int(micros / 1_000_000)  # truncated toward zero
    if frac:
        assert int(frac) == abs(micros) % 1_000_000 // 10 ** (6 - fsp)


# ---------------------------------------------------------------------------- JSON

_plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_extra_scalars = (
    st.builds(JsonUint, st.integers(0, 2**64 - 1))
    | st.builds(JsonOpaque, st.integers(0, 255), st.binary(max_size=10))
    | mytimes().map(lambda t: MyTime(*_key(t), tp=t.tp, fsp=0 if t.tp == TYPE_DATE else 6))
    | st.builds(
        JsonDuration,
        st.integers(-MAX_TIME_NS // 1000, MAX_TIME_NS // 1000).map(
            lambda us: dt.timedelta(microseconds=us)
        ),
        st.integers(0, 6),
    )
)


def _trees(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(st.text(max_size=8), children, max_size=5)
        ),
        max_leaves=25,
    )


@settings(max_examples=300)
@given(_trees(_plain_scalars | _extra_scalars))
def test_json_roundtrip(tree: Any) -> None:
    raw = encode_json_binary(tree)
    assert json_binary_length(raw + b"\x00", 0) == len(raw)
    back = decode_json_binary(raw)
    # a JSON document is never SQL NULL: the document null decodes to JSON_NULL, not None
    assert back is not None
    assert back == (JSON_NULL if tree is None else tree)
    assert encode_json_binary(back) == raw


@settings(max_examples=300)
@given(_trees(_plain_scalars))
def test_json_text_parses_back(tree: Any) -> None:
    text = json_to_text(decode_json_binary(encode_json_binary(tree)))
    # Same values and same kinds: TiDB keeps '.0' or an exponent on every double, so a double
    # never reads back as an int (1.0 == 1 in Python, so compare types explicitly).
    _assert_same(json.loads(text), tree)


def _assert_same(got: Any, want: Any) -> None:
    assert type(got) is type(want), (got, want)
    if isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _assert_same(g, w)
    elif isinstance(want, dict):
        assert list(got) == sorted(want, key=lambda k: k.encode("utf-8"))
        for key, w in want.items():
            _assert_same(got[key], w)
    else:
        assert got == want


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_json_random_bytes_value_or_typed_error(raw: bytes) -> None:
    try:
        value = decode_json_binary(raw)
    except CorruptValueError:
        pass
    else:
        # Whatever decodes is a real JSON value: it re-encodes and reads back equal.
        assert decode_json_binary(encode_json_binary(value)) == value
    with contextlib.suppress(CorruptValueError):
        assert 1 < json_binary_length(raw, 0) <= len(raw)


@settings(max_examples=300)
@given(_trees(_plain_scalars | _extra_scalars), st.data())
def test_json_damaged_bytes_value_or_typed_error(tree: Any, data: st.DataObject) -> None:
    raw = bytearray(encode_json_binary(tree))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut])):
        try:
            value = decode_json_binary(candidate)
        except CorruptValueError:
            continue
        assert decode_json_binary(encode_json_binary(value)) == value
