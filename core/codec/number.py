"""Number codecs of TiDB's ``pkg/util/codec/number.go`` and ``float.go``.

Comparable forms (8 bytes, big-endian) are used by keys and key-mode datums; varints by v1
row values. Every decoder takes ``(buf, pos)`` and returns ``(value, end)`` so callers can walk a
buffer without slicing; truncated input raises :class:`CorruptValueError` with the offset.
"""

from __future__ import annotations

import struct

from core.codec.errors import CorruptValueError

SIGN_MASK = 0x8000000000000000
U64_MASK = 0xFFFFFFFFFFFFFFFF

_U64 = struct.Struct(">Q")
_D64 = struct.Struct(">d")
_Q_FROM_D = struct.Struct("<d")
_Q = struct.Struct("<Q")


def encode_int(v: int) -> bytes:
    """cmpInt64: flip the sign bit so byte order equals numeric order."""
    return _U64.pack((v & U64_MASK) ^ SIGN_MASK)


def decode_int(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """Inverse of :func:`encode_int`."""
    if len(buf) - pos < 8:
        raise CorruptValueError("truncated comparable int64", offset=pos)
    u = _U64.unpack_from(buf, pos)[0] ^ SIGN_MASK
    return (u - (1 << 64) if u & SIGN_MASK else u), pos + 8


def encode_int_desc(v: int) -> bytes:
    """cmpInt64Desc: the inverted comparable form."""
    return _U64.pack(((v & U64_MASK) ^ SIGN_MASK) ^ U64_MASK)


def decode_int_desc(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """Inverse of :func:`encode_int_desc`."""
    if len(buf) - pos < 8:
        raise CorruptValueError("truncated comparable int64", offset=pos)
    u = _U64.unpack_from(buf, pos)[0] ^ U64_MASK ^ SIGN_MASK
    return (u - (1 << 64) if u & SIGN_MASK else u), pos + 8


def encode_uint(v: int) -> bytes:
    """cmpUint64: plain big-endian."""
    return _U64.pack(v & U64_MASK)


def decode_uint(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """Inverse of :func:`encode_uint`."""
    if len(buf) - pos < 8:
        raise CorruptValueError("truncated comparable uint64", offset=pos)
    return _U64.unpack_from(buf, pos)[0], pos + 8


def float_to_cmp_u64(f: float) -> int:
    """IEEE bits, sign bit set for positives, all bits inverted for negatives."""
    u: int = _Q.unpack(_Q_FROM_D.pack(f))[0]
    return u | SIGN_MASK if u & SIGN_MASK == 0 else u ^ U64_MASK


def cmp_u64_to_float(u: int) -> float:
    """Inverse of :func:`float_to_cmp_u64`."""
    u = u & ~SIGN_MASK if u & SIGN_MASK else u ^ U64_MASK
    f: float = _Q_FROM_D.unpack(_Q.pack(u))[0]
    return f


def encode_float(f: float) -> bytes:
    """cmpFloat64 (8 bytes BE); used by v1/v2 rows too, not only keys."""
    return _U64.pack(float_to_cmp_u64(f))


def decode_float(buf: bytes, pos: int = 0) -> tuple[float, int]:
    """Inverse of :func:`encode_float`."""
    if len(buf) - pos < 8:
        raise CorruptValueError("truncated comparable float64", offset=pos)
    return cmp_u64_to_float(_U64.unpack_from(buf, pos)[0]), pos + 8


def encode_uvarint(v: int) -> bytes:
    """Go ``binary.PutUvarint`` (LEB128) of a u64."""
    v &= U64_MASK
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def decode_uvarint(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """Go ``binary.Uvarint``; rejects truncation and values over 64 bits like Go does."""
    x = 0
    shift = 0
    n = len(buf)
    start = pos
    while True:
        if pos >= n:
            raise CorruptValueError("truncated varint", offset=start)
        b = buf[pos]
        pos += 1
        if b < 0x80:
            if pos - start > 10 or (pos - start == 10 and b > 1):
                raise CorruptValueError("varint overflows 64 bits", offset=start)
            return x | (b << shift), pos
        x |= (b & 0x7F) << shift
        shift += 7
        if shift >= 70:
            raise CorruptValueError("varint overflows 64 bits", offset=start)


def encode_varint(v: int) -> bytes:
    """Go ``binary.PutVarint``: zigzag then LEB128."""
    return encode_uvarint(((v << 1) ^ (v >> 63)) & U64_MASK)


def decode_varint(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """Inverse of :func:`encode_varint`."""
    u, pos = decode_uvarint(buf, pos)
    x = u >> 1
    if u & 1:
        x = ~x
    return x, pos


def to_signed64(u: int) -> int:
    """Reinterpret a u64 as int64 (Go ``int64(u)``)."""
    u &= U64_MASK
    return u - (1 << 64) if u & SIGN_MASK else u


def to_unsigned64(v: int) -> int:
    """Reinterpret an int64 as u64 (Go ``uint64(v)``)."""
    return v & U64_MASK
