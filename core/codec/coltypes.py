"""Per-column codecs, chosen once per table so the hot loops do no per-value type dispatch.

One small object per (column type, time zone) holds the functions the row and key codecs call.

Python value of a decoded column (the package docstring is the contract):
ints → ``int``; FLOAT/DOUBLE → ``float`` (FLOAT rounded to float32); DECIMAL →
``decimal.Decimal``; text strings → ``str``; binary strings → ``bytes``; DATE/DATETIME/TIMESTAMP →
``mytime.MyTime`` (TIMESTAMP in the requested zone); TIME → ``datetime.timedelta``; YEAR →
``int``; ENUM → ``str`` (index 0 → ``''``); SET → ``str`` (comma-joined); BIT → ``int``; JSON →
``jsonbin.JsonValue``; VECTOR → ``tuple[float, ...]``; NULL → ``None``.

Each codec has:

- ``v2(payload) -> value``: decode a v2 column payload (the exact slice);
- ``raw(flag, raw) -> value``: "unflatten" a generic datum (v1 values, common-handle datums);
- ``enc_v2(value) -> bytes``, ``enc_v1(value) -> bytes`` (value-mode datum),
  ``enc_key(value) -> bytes`` (key-mode datum);
- ``zero``: the type's zero value (TiCDC's fill for a NOT NULL column without default).
"""

from __future__ import annotations

import base64
import math
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from core.codec import datum as d
from core.codec import mysqldef as m
from core.codec import number
from core.codec.errors import CorruptValueError
from core.codec.tableinfo import ColumnInfo, FieldType

__all__ = ["ColumnCodec", "EncodeError", "column_codec", "int_width_bytes", "uint_width_bytes"]


class EncodeError(ValueError):
    """A Python value that cannot be stored in the column (encoder side: a caller bug)."""


_F32 = struct.Struct("<f")
_B = struct.Struct("<b")
_H = struct.Struct("<h")
_I = struct.Struct("<i")
_Q = struct.Struct("<q")
_UB = struct.Struct("<B")
_UH = struct.Struct("<H")
_UI = struct.Struct("<I")
_UQ = struct.Struct("<Q")
_CMPF = struct.Struct(">Q")


def int_width_bytes(v: int) -> bytes:
    """Smallest of 1/2/4/8 LE bytes holding ``v`` as a signed int (TiDB's encodeInt)."""
    if -128 <= v <= 127:
        return _B.pack(v)
    if -32768 <= v <= 32767:
        return _H.pack(v)
    if -2147483648 <= v <= 2147483647:
        return _I.pack(v)
    return _Q.pack(v)


def uint_width_bytes(v: int) -> bytes:
    """Smallest of 1/2/4/8 LE bytes holding ``v`` as an unsigned int."""
    if v <= 0xFF:
        return _UB.pack(v)
    if v <= 0xFFFF:
        return _UH.pack(v)
    if v <= 0xFFFFFFFF:
        return _UI.pack(v)
    return _UQ.pack(v)


def _dec_int(p: bytes) -> int:
    if len(p) not in (1, 2, 4, 8):
        raise CorruptValueError(f"integer payload of {len(p)} bytes")
    return int.from_bytes(p, "little", signed=True)


def _dec_uint(p: bytes) -> int:
    if len(p) not in (1, 2, 4, 8):
        raise CorruptValueError(f"integer payload of {len(p)} bytes")
    return int.from_bytes(p, "little")


def _to_f32(x: float) -> float:
    f: float = _F32.unpack(_F32.pack(x))[0]
    return f


def _dec_double(p: bytes) -> float:
    if len(p) != 8:
        raise CorruptValueError(f"float payload of {len(p)} bytes")
    return number.cmp_u64_to_float(_CMPF.unpack(p)[0])


def _dec_float32(p: bytes) -> float:
    return _to_f32(_dec_double(p))


@dataclass(frozen=True, slots=True)
class ColumnCodec:
    """Decode/encode functions of one column; see the module docstring."""

    v2: Callable[[bytes], Any]
    raw: Callable[[int, Any], Any]
    enc_v2: Callable[[Any], bytes]
    enc_v1: Callable[[Any], bytes]
    enc_key: Callable[[Any], bytes]
    zero: Any
    parse_default: Callable[[Any], Any]


# ---- raw-datum unflatteners ------------------------------------------------------------------
_INT_FLAGS = frozenset({d.INT_FLAG, d.UINT_FLAG, d.VARINT_FLAG, d.UVARINT_FLAG, d.DURATION_FLAG})


def _raw_int(flag: int, raw: Any) -> int:
    if flag not in _INT_FLAGS:
        raise CorruptValueError(f"datum flag {flag} where an integer was expected")
    assert isinstance(raw, int)
    return raw


def _make_text(encoding: str | None) -> Callable[[bytes], Any]:
    if encoding is None:
        return bytes
    return lambda p: p.decode(encoding)


def _str_bytes(v: Any, enc: str | None) -> bytes:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    if isinstance(v, str):
        return v.encode("utf-8" if enc is None else enc)
    raise EncodeError(f"string column given {type(v).__name__}")


# ---- time helpers (mytime is part B's leaf module) ---------------------------------------------
_TIME_RE = re.compile(
    r"^\s*(\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?)?\s*$"
)
_DUR_RE = re.compile(r"^\s*(-)?(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?\s*$")


def pack_fields(year: int, month: int, day: int, hh: int, mi: int, ss: int, us: int) -> int:
    """Packed u64 of TiDB's ``Time.ToPackedUint`` (facts §6.1)."""
    ymd = ((year * 13 + month) << 5) | day
    hms = (hh << 12) | (mi << 6) | ss
    return (((ymd << 17) | hms) << 24) | us


def _parse_time_text(text: str) -> int:
    """MySQL datetime text (as TiDB stores defaults) → packed u64."""
    mt = _TIME_RE.match(text)
    if mt is None:
        raise EncodeError(f"not a datetime literal: {text!r}")
    y, mo, dd, hh, mi, ss, frac = mt.groups()
    us = int((frac or "").ljust(6, "0") or 0)
    return pack_fields(int(y), int(mo), int(dd), int(hh or 0), int(mi or 0), int(ss or 0), us)


def _parse_duration_ns(text: str) -> int:
    mt = _DUR_RE.match(text)
    if mt is None:
        raise EncodeError(f"not a time literal: {text!r}")
    neg, h, mi, s, frac = mt.groups()
    ns = ((int(h) * 60 + int(mi)) * 60 + int(s)) * 1_000_000_000 + int((frac or "").ljust(9, "0"))
    return -ns if neg else ns


def _time_codec(ft: FieldType, tz: tzinfo | None) -> ColumnCodec:
    from core.codec import mytime

    tp = ft.tp
    fsp = max(ft.decimal, 0)
    ts_zone: tzinfo | None = tz if tp == m.TYPE_TIMESTAMP else None
    unpack = mytime.unpack_time
    pack = mytime.pack_time
    from_utc = mytime.timestamp_from_utc
    to_utc = mytime.timestamp_to_utc

    def from_packed(u: int) -> Any:
        t = unpack(u, tp, fsp)
        if ts_zone is not None and u != 0:
            t = from_utc(t, ts_zone)
        return t

    def to_packed(v: Any) -> int:
        if isinstance(v, int):
            return v
        if isinstance(v, str):
            return _parse_time_text(v)
        u = pack(v)
        if ts_zone is not None and u != 0:
            u = pack(to_utc(v, ts_zone))
        return u

    def v2(p: bytes) -> Any:
        return from_packed(_dec_uint(p))

    def raw(flag: int, r: Any) -> Any:
        return from_packed(_raw_int(flag, r) & number.U64_MASK)

    def parse_default(text: Any) -> Any:
        # Origin defaults of TIMESTAMP columns are stored in UTC (facts §3.6).
        return from_packed(_parse_time_text(str(text)))

    return ColumnCodec(
        v2=v2,
        raw=raw,
        enc_v2=lambda v: uint_width_bytes(to_packed(v)),
        enc_v1=lambda v: d.value_uint(to_packed(v)),
        enc_key=lambda v: d.key_uint(to_packed(v)),
        zero=unpack(0, tp, fsp),
        parse_default=parse_default,
    )


def _duration_codec(ft: FieldType) -> ColumnCodec:
    from core.codec import mytime

    from_ns = mytime.duration_from_ns
    to_ns_fn = mytime.duration_to_ns

    def to_ns(v: Any) -> int:
        if isinstance(v, int):
            return v
        if isinstance(v, str):
            return _parse_duration_ns(v)
        if isinstance(v, timedelta):
            return to_ns_fn(v)
        raise EncodeError(f"TIME column given {type(v).__name__}")

    return ColumnCodec(
        v2=lambda p: from_ns(_dec_int(p)),
        raw=lambda f, r: from_ns(_raw_int(f, r)),
        enc_v2=lambda v: int_width_bytes(to_ns(v)),
        enc_v1=lambda v: d.value_int(to_ns(v)),
        enc_key=lambda v: d.key_duration(to_ns(v)),
        zero=from_ns(0),
        parse_default=lambda t: from_ns(_parse_duration_ns(str(t))),
    )


# ---- decimal -----------------------------------------------------------------------------------
# Enough digits for DECIMAL(65, 30) so quantize never trips the default 28-digit context.
_DEC_CTX = Context(prec=200, rounding=ROUND_HALF_UP, Emax=10_000, Emin=-10_000)


def _decimal_codec(ft: FieldType) -> ColumnCodec:
    from core.codec import mydecimal

    col_frac = ft.decimal
    col_prec = ft.flen

    def fix(v: Decimal, stored_frac: int) -> Decimal:
        # TiDB rounds half-up to the column's scale when the stored one is larger.
        if 0 <= col_frac < stored_frac:
            return v.quantize(Decimal(1).scaleb(-col_frac), context=_DEC_CTX)
        return v

    def v2(p: bytes) -> Decimal:
        if len(p) < 2:
            raise CorruptValueError("truncated decimal payload")
        prec, frac = p[0], p[1]
        if mydecimal.decimal_bin_size(prec, frac) != len(p) - 2:
            raise CorruptValueError(f"decimal payload size does not match ({prec},{frac})")
        v, _ = mydecimal.decode_decimal_bin(p, 2, prec, frac)
        return fix(v, frac)

    def raw(flag: int, r: Any) -> Decimal:
        if flag != d.DECIMAL_FLAG or not isinstance(r, Decimal):
            raise CorruptValueError(f"datum flag {flag} where a decimal was expected")
        exp = r.as_tuple().exponent
        return fix(r, -exp if isinstance(exp, int) and exp < 0 else 0)

    def prec_frac(v: Decimal) -> tuple[int, int]:
        if col_prec > 0 and col_frac >= 0:
            return col_prec, col_frac
        # Precision 0: TiDB falls back to the value's own precision/frac.
        t = v.as_tuple()
        exp = t.exponent if isinstance(t.exponent, int) else 0
        frac = max(-exp, 0)
        digits = len(t.digits)
        return max(digits, frac + 1, 1), frac

    def norm(v: Any) -> tuple[Decimal, int, int]:
        try:
            dv = v if isinstance(v, Decimal) else Decimal(str(v))
        except InvalidOperation as exc:
            raise EncodeError(f"not a decimal: {v!r}") from exc
        prec, frac = prec_frac(dv)
        dv = dv.quantize(Decimal(1).scaleb(-frac), context=_DEC_CTX)
        return dv, prec, frac

    def enc_payload(v: Any) -> bytes:
        dv, prec, frac = norm(v)
        return d.encode_decimal_payload(dv, prec, frac)

    zero = Decimal(0).scaleb(-col_frac) if col_frac > 0 else Decimal(0)
    return ColumnCodec(
        v2=v2,
        raw=raw,
        enc_v2=enc_payload,
        enc_v1=lambda v: bytes((d.DECIMAL_FLAG,)) + enc_payload(v),
        enc_key=lambda v: bytes((d.DECIMAL_FLAG,)) + enc_payload(v),
        zero=zero,
        parse_default=lambda t: norm(t)[0],
    )


# ---- strings -----------------------------------------------------------------------------------
_PAD_SPACE_BIN = frozenset({"utf8mb4_bin", "utf8_bin", "ascii_bin", "latin1_bin", "gbk_bin"})


def collation_key(value: bytes, collate: str) -> bytes:
    """Sort key TiDB (new collations) stores in index keys and common handles.

    Only the binary-ordered collations are implemented: ``binary`` and ``utf8mb4_0900_bin``
    keep the bytes; the PAD SPACE ``*_bin`` collations trim trailing spaces. The ``_ci``
    collations need TiDB's weight tables and raise :class:`EncodeError`.
    """
    c = collate.lower()
    if c in ("binary", "utf8mb4_0900_bin", ""):
        return value
    if c in _PAD_SPACE_BIN:
        return value.rstrip(b" ")
    raise EncodeError(f"collation {collate} sort keys are not implemented")


def _string_codec(ft: FieldType) -> ColumnCodec:
    enc = m.python_encoding(ft.charset) if ft.tp in m.STRING_TYPES else "utf-8"
    if ft.tp in m.STRING_TYPES and ft.charset == "" and ft.collate.lower() == "binary":
        enc = None
    text = _make_text(enc)
    collate = ft.collate

    def raw(flag: int, r: Any) -> Any:
        if flag not in (d.BYTES_FLAG, d.COMPACT_BYTES_FLAG) or not isinstance(r, bytes):
            raise CorruptValueError(f"datum flag {flag} where a string was expected")
        return text(r)

    def key(v: Any) -> bytes:
        return d.key_bytes(collation_key(_str_bytes(v, enc), collate))

    def parse_default(t: Any) -> Any:
        if enc is None and isinstance(t, str):
            return t.encode("utf-8")
        return t

    return ColumnCodec(
        v2=text,
        raw=raw,
        enc_v2=lambda v: _str_bytes(v, enc),
        enc_v1=lambda v: d.value_bytes(_str_bytes(v, enc)),
        enc_key=key,
        zero=b"" if enc is None else "",
        parse_default=parse_default,
    )


# ---- ints, floats, enum/set/bit, json, vector ----------------------------------------------------
def _int_codec(ft: FieldType) -> ColumnCodec:
    if ft.unsigned:

        def raw_u(f: int, r: Any) -> int:
            return _raw_int(f, r) & number.U64_MASK

        def check_u(v: Any) -> int:
            if not isinstance(v, int) or v < 0 or v > number.U64_MASK:
                raise EncodeError(f"not an unsigned int: {v!r}")
            return v

        return ColumnCodec(
            v2=_dec_uint,
            raw=raw_u,
            enc_v2=lambda v: uint_width_bytes(check_u(v)),
            enc_v1=lambda v: d.value_uint(check_u(v)),
            enc_key=lambda v: d.key_uint(check_u(v)),
            zero=0,
            parse_default=lambda t: int(Decimal(str(t)).to_integral_value(ROUND_HALF_UP)),
        )

    def raw_s(f: int, r: Any) -> int:
        v = _raw_int(f, r)
        return number.to_signed64(v) if f in (d.UINT_FLAG, d.UVARINT_FLAG) else v

    def check_s(v: Any) -> int:
        if not isinstance(v, int) or not -(1 << 63) <= v < (1 << 63):
            raise EncodeError(f"not a signed int64: {v!r}")
        return v

    return ColumnCodec(
        v2=_dec_int,
        raw=raw_s,
        enc_v2=lambda v: int_width_bytes(check_s(v)),
        enc_v1=lambda v: d.value_int(check_s(v)),
        enc_key=lambda v: d.key_int(check_s(v)),
        zero=0,
        parse_default=lambda t: int(Decimal(str(t)).to_integral_value(ROUND_HALF_UP)),
    )


def _float_codec(ft: FieldType) -> ColumnCodec:
    single = ft.tp == m.TYPE_FLOAT

    def raw(f: int, r: Any) -> float:
        if f != d.FLOAT_FLAG or not isinstance(r, float):
            raise CorruptValueError(f"datum flag {f} where a float was expected")
        return _to_f32(r) if single else r

    def norm(v: Any) -> float:
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise EncodeError(f"not a float: {v!r}")
        x = float(v)
        return _to_f32(x) if single else x

    return ColumnCodec(
        v2=_dec_float32 if single else _dec_double,
        raw=raw,
        enc_v2=lambda v: number.encode_float(norm(v)),
        enc_v1=lambda v: d.value_float(norm(v)),
        enc_key=lambda v: d.key_float(norm(v)),
        zero=0.0,
        parse_default=lambda t: norm(float(t)),
    )


def _enum_codec(ft: FieldType) -> ColumnCodec:
    elems = ft.elems
    index = {e: i + 1 for i, e in enumerate(elems)}
    index_l = {e.lower(): i + 1 for i, e in enumerate(elems)}

    def name(u: int) -> str:
        # TiDB reads index 0 and out-of-range indexes as the empty enum.
        return elems[u - 1] if 0 < u <= len(elems) else ""

    def idx(v: Any) -> int:
        if isinstance(v, int):
            return v
        if v == "":
            return 0
        i = index.get(v) or index_l.get(str(v).lower())
        if i is None:
            raise EncodeError(f"{v!r} is not an element of the enum")
        return i

    return ColumnCodec(
        v2=lambda p: name(_dec_uint(p)),
        raw=lambda f, r: name(_raw_int(f, r) & number.U64_MASK),
        enc_v2=lambda v: uint_width_bytes(idx(v)),
        enc_v1=lambda v: d.value_uint(idx(v)),
        enc_key=lambda v: d.key_uint(idx(v)),
        zero=elems[0] if elems else "",
        parse_default=lambda t: name(idx(t)),
    )


def _set_codec(ft: FieldType) -> ColumnCodec:
    elems = ft.elems
    full = (1 << len(elems)) - 1
    bit = {e.lower(): 1 << i for i, e in enumerate(elems)}

    def names(u: int) -> str:
        if u & ~full:
            raise CorruptValueError(f"SET value {u:#x} has bits beyond its {len(elems)} elements")
        return ",".join(e for i, e in enumerate(elems) if u >> i & 1)

    def mask(v: Any) -> int:
        if isinstance(v, int):
            return v
        out = 0
        for part in str(v).split(","):
            if part == "":
                continue
            b = bit.get(part.lower())
            if b is None:
                raise EncodeError(f"{part!r} is not an element of the set")
            out |= b
        return out

    return ColumnCodec(
        v2=lambda p: names(_dec_uint(p)),
        raw=lambda f, r: names(_raw_int(f, r) & number.U64_MASK),
        enc_v2=lambda v: uint_width_bytes(mask(v)),
        enc_v1=lambda v: d.value_uint(mask(v)),
        enc_key=lambda v: d.key_uint(mask(v)),
        zero="",
        parse_default=lambda t: names(mask(t)),
    )


def _bit_codec(ft: FieldType) -> ColumnCodec:
    def check(v: Any) -> int:
        if isinstance(v, bytes):
            return int.from_bytes(v, "big")
        if not isinstance(v, int) or v < 0 or v > number.U64_MASK:
            raise EncodeError(f"not a BIT value: {v!r}")
        return v

    def parse_default(t: Any) -> int:
        # BIT defaults travel base64-encoded in *_default_bit; a plain string holds raw bytes.
        if isinstance(t, int):
            return t
        return int.from_bytes(str(t).encode("latin-1"), "big")

    return ColumnCodec(
        v2=_dec_uint,
        raw=lambda f, r: _raw_int(f, r) & number.U64_MASK,
        enc_v2=lambda v: uint_width_bytes(check(v)),
        enc_v1=lambda v: d.value_uint(check(v)),
        enc_key=lambda v: d.key_uint(check(v)),
        zero=0,
        parse_default=parse_default,
    )


def bit_default_from_b64(text: str) -> int:
    """``origin_default_bit`` is base64 of the BIT value's big-endian bytes."""
    return int.from_bytes(base64.b64decode(text), "big")


def _year_codec(ft: FieldType) -> ColumnCodec:
    c = _int_codec(FieldType(tp=m.TYPE_LONGLONG))
    return ColumnCodec(c.v2, c.raw, c.enc_v2, c.enc_v1, c.enc_key, 0, c.parse_default)


def _json_codec(ft: FieldType) -> ColumnCodec:
    from core.codec import jsonbin

    dec = jsonbin.decode_json_binary
    enc = jsonbin.encode_json_binary

    def raw(f: int, r: Any) -> Any:
        if f != d.JSON_FLAG or not isinstance(r, bytes):
            raise CorruptValueError(f"datum flag {f} where JSON was expected")
        return dec(r)

    def unsupported_key(v: Any) -> bytes:
        raise EncodeError("JSON columns cannot be part of a key")

    return ColumnCodec(
        v2=dec,
        raw=raw,
        enc_v2=enc,
        enc_v1=lambda v: d.json_datum(enc(v)),
        enc_key=unsupported_key,
        zero=None,
        parse_default=lambda t: t,
    )


def _vector_codec(ft: FieldType) -> ColumnCodec:
    def v2(p: bytes) -> tuple[float, ...]:
        vals, end = d.decode_vector_payload(p, 0)
        if end != len(p):
            raise CorruptValueError("vector payload has trailing bytes")
        return vals

    def raw(f: int, r: Any) -> tuple[float, ...]:
        if f != d.VECTOR_FLOAT32_FLAG or not isinstance(r, tuple):
            raise CorruptValueError(f"datum flag {f} where a vector was expected")
        return r

    def norm(v: Any) -> Sequence[float]:
        vals = [float(x) for x in v]
        if any(math.isnan(x) or math.isinf(x) for x in vals):
            raise EncodeError("vectors cannot hold NaN or infinity")
        return vals

    def unsupported_key(v: Any) -> bytes:
        raise EncodeError("VECTOR columns cannot be part of a key")

    return ColumnCodec(
        v2=v2,
        raw=raw,
        enc_v2=lambda v: d.encode_vector_payload(list(norm(v))),
        enc_v1=lambda v: d.vector_datum(list(norm(v))),
        enc_key=unsupported_key,
        zero=(),
        parse_default=lambda t: t,
    )


def _null_codec(ft: FieldType) -> ColumnCodec:
    def never(*_: Any) -> Any:
        raise CorruptValueError("a value stored for a NULL-typed column")

    def enc(v: Any) -> bytes:
        raise EncodeError("NULL-typed columns store no value")

    return ColumnCodec(never, never, enc, enc, enc, None, lambda t: None)


def column_codec(ft: FieldType, tz: tzinfo | None) -> ColumnCodec:
    """The codec for one field type.

    ``tz`` is the zone TIMESTAMP values are shown in (``None``: leave them in UTC, as stored).
    """
    tp = ft.tp
    if tp in m.INT_TYPES:
        return _int_codec(ft)
    if tp in m.STRING_TYPES:
        return _string_codec(ft)
    if tp in m.FLOAT_TYPES:
        return _float_codec(ft)
    if tp == m.TYPE_NEWDECIMAL:
        return _decimal_codec(ft)
    if tp in m.TIME_TYPES:
        return _time_codec(ft, tz)
    if tp == m.TYPE_DURATION:
        return _duration_codec(ft)
    if tp == m.TYPE_YEAR:
        return _year_codec(ft)
    if tp == m.TYPE_ENUM:
        return _enum_codec(ft)
    if tp == m.TYPE_SET:
        return _set_codec(ft)
    if tp == m.TYPE_BIT:
        return _bit_codec(ft)
    if tp == m.TYPE_JSON:
        return _json_codec(ft)
    if tp == m.TYPE_VECTOR_FLOAT32:
        return _vector_codec(ft)
    if tp == m.TYPE_NULL:
        return _null_codec(ft)
    raise CorruptValueError(f"unsupported column type {tp}")


def origin_default_value(col: ColumnInfo, codec: ColumnCodec) -> Any:
    """The typed value of a column's ``origin_default`` (``None`` when it has none)."""
    if col.origin_default_bit is not None and col.type.tp == m.TYPE_BIT:
        return bit_default_from_b64(str(col.origin_default_bit))
    if col.origin_default is None:
        return None
    try:
        return codec.parse_default(col.origin_default)
    except (EncodeError, ValueError, InvalidOperation) as exc:
        raise CorruptValueError(
            f"column {col.name!r}: unusable origin_default {col.origin_default!r}"
        ) from exc
