"""Flagged datums of TiDB's ``pkg/util/codec/codec.go``, in key mode and value mode.

A datum is one flag byte and a payload. Key mode (comparable) is used by index keys and common
handles; value mode by v1 row values (column ids included). This module decodes any flag into a
*raw* Python value — the column type is applied later by ``row.py`` ("unflatten"):

======================  =====================================================
flag                    raw value
======================  =====================================================
NIL 0                   ``None``
BYTES 1 / COMPACT 2     ``bytes``
INT 3 / VARINT 8        ``int`` (signed)
UINT 4 / UVARINT 9      ``int`` (unsigned)
FLOAT 5                 ``float``
DECIMAL 6               ``decimal.Decimal``
DURATION 7              ``int`` nanoseconds
JSON 10                 ``bytes``: type code ‖ JSON binary (decoded by ``jsonbin``)
VECTOR_FLOAT32 20       ``tuple[float, ...]``
======================  =====================================================
"""

from __future__ import annotations

import struct
from decimal import Decimal
from typing import Any, Final

from core.codec import bytescodec, number
from core.codec.errors import CorruptValueError

NIL_FLAG: Final = 0
BYTES_FLAG: Final = 1
COMPACT_BYTES_FLAG: Final = 2
INT_FLAG: Final = 3
UINT_FLAG: Final = 4
FLOAT_FLAG: Final = 5
DECIMAL_FLAG: Final = 6
DURATION_FLAG: Final = 7
VARINT_FLAG: Final = 8
UVARINT_FLAG: Final = 9
JSON_FLAG: Final = 10
VECTOR_FLOAT32_FLAG: Final = 20
MAX_FLAG: Final = 250

_U32LE = struct.Struct("<I")


def _decimal_len(buf: bytes, pos: int) -> int:
    from core.codec.mydecimal import decimal_bin_size

    if len(buf) - pos < 2:
        raise CorruptValueError("truncated decimal header", offset=pos)
    return 2 + decimal_bin_size(buf[pos], buf[pos + 1])


def _json_len(buf: bytes, pos: int) -> int:
    from core.codec.jsonbin import json_binary_length

    return json_binary_length(buf, pos)


def _vector_len(buf: bytes, pos: int) -> int:
    if len(buf) - pos < 4:
        raise CorruptValueError("truncated vector header", offset=pos)
    dims: int = _U32LE.unpack_from(buf, pos)[0]
    return 4 + 4 * dims


def _varint_len(buf: bytes, pos: int) -> int:
    return number.decode_uvarint(buf, pos)[1] - pos


def _compact_len(buf: bytes, pos: int) -> int:
    n, p = number.decode_varint(buf, pos)
    if n < 0:
        raise CorruptValueError("negative compact bytes length", offset=pos)
    return p - pos + n


def payload_len(flag: int, buf: bytes, pos: int) -> int:
    """Length of the payload of a datum with ``flag`` whose payload starts at ``pos``."""
    if flag in (INT_FLAG, UINT_FLAG, FLOAT_FLAG, DURATION_FLAG):
        return 8
    if flag == NIL_FLAG:
        return 0
    if flag == BYTES_FLAG:
        return bytescodec.bytes_encoded_len(buf, pos)
    if flag == COMPACT_BYTES_FLAG:
        return _compact_len(buf, pos)
    if flag in (VARINT_FLAG, UVARINT_FLAG):
        return _varint_len(buf, pos)
    if flag == DECIMAL_FLAG:
        return _decimal_len(buf, pos)
    if flag == JSON_FLAG:
        return _json_len(buf, pos)
    if flag == VECTOR_FLOAT32_FLAG:
        return _vector_len(buf, pos)
    raise CorruptValueError(f"unknown datum flag {flag}", offset=pos - 1)


def peek(buf: bytes, pos: int = 0) -> int:
    """End offset of the datum starting at ``pos`` (flag included); checks it fits."""
    if pos >= len(buf):
        raise CorruptValueError("truncated datum", offset=pos)
    end = pos + 1 + payload_len(buf[pos], buf, pos + 1)
    if end > len(buf):
        raise CorruptValueError("datum runs past the end", offset=pos)
    return end


def decode_one(buf: bytes, pos: int = 0) -> tuple[int, Any, int]:
    """Decode the datum at ``pos`` into ``(flag, raw value, end)`` (see the module table)."""
    if pos >= len(buf):
        raise CorruptValueError("truncated datum", offset=pos)
    flag = buf[pos]
    p = pos + 1
    value: Any
    if flag == VARINT_FLAG:
        value, end = number.decode_varint(buf, p)
    elif flag == UVARINT_FLAG:
        value, end = number.decode_uvarint(buf, p)
    elif flag == COMPACT_BYTES_FLAG:
        value, end = bytescodec.decode_compact_bytes(buf, p)
    elif flag == NIL_FLAG:
        value, end = None, p
    elif flag == INT_FLAG:
        value, end = number.decode_int(buf, p)
    elif flag == UINT_FLAG:
        value, end = number.decode_uint(buf, p)
    elif flag == FLOAT_FLAG:
        value, end = number.decode_float(buf, p)
    elif flag == DURATION_FLAG:
        value, end = number.decode_int(buf, p)
    elif flag == BYTES_FLAG:
        value, end = bytescodec.decode_bytes(buf, p)
    elif flag == DECIMAL_FLAG:
        value, end = decode_decimal_payload(buf, p)
    elif flag == JSON_FLAG:
        end = p + _json_len(buf, p)
        if end > len(buf):
            raise CorruptValueError("JSON datum runs past the end", offset=pos)
        value = bytes(buf[p:end])
    elif flag == VECTOR_FLOAT32_FLAG:
        value, end = decode_vector_payload(buf, p)
    else:
        raise CorruptValueError(f"unknown datum flag {flag}", offset=pos)
    return flag, value, end


def decode_decimal_payload(buf: bytes, pos: int) -> tuple[Decimal, int]:
    """``u8 precision ‖ u8 frac ‖ bin`` → (value, end)."""
    from core.codec.mydecimal import decode_decimal_bin

    if len(buf) - pos < 2:
        raise CorruptValueError("truncated decimal header", offset=pos)
    prec, frac = buf[pos], buf[pos + 1]
    return decode_decimal_bin(buf, pos + 2, prec, frac)


def encode_decimal_payload(value: Decimal, prec: int, frac: int) -> bytes:
    """``u8 precision ‖ u8 frac ‖ bin``."""
    from core.codec.mydecimal import encode_decimal_bin

    return bytes((prec, frac)) + encode_decimal_bin(value, prec, frac)


def decode_vector_payload(buf: bytes, pos: int) -> tuple[tuple[float, ...], int]:
    """``u32 LE dims ‖ dims × f32 LE`` → (floats, end)."""
    if len(buf) - pos < 4:
        raise CorruptValueError("truncated vector header", offset=pos)
    dims = _U32LE.unpack_from(buf, pos)[0]
    end = pos + 4 + 4 * dims
    if end > len(buf):
        raise CorruptValueError(f"vector of {dims} dims runs past the end", offset=pos)
    return struct.unpack_from(f"<{dims}f", buf, pos + 4), end


def encode_vector_payload(values: tuple[float, ...] | list[float]) -> bytes:
    """Inverse of :func:`decode_vector_payload`."""
    return _U32LE.pack(len(values)) + struct.pack(f"<{len(values)}f", *values)


def decode_all(buf: bytes, pos: int = 0, end: int | None = None) -> list[tuple[int, Any]]:
    """Decode consecutive datums up to ``end`` into ``[(flag, raw value)]``."""
    stop = len(buf) if end is None else end
    out = []
    while pos < stop:
        flag, value, pos = decode_one(buf, pos)
        out.append((flag, value))
    if pos != stop:
        raise CorruptValueError("datum runs past the end", offset=pos)
    return out


# ---- encoders ------------------------------------------------------------------------------
def key_int(v: int) -> bytes:
    """Key-mode signed int."""
    return bytes((INT_FLAG,)) + number.encode_int(v)


def key_uint(v: int) -> bytes:
    """Key-mode unsigned int (also ENUM/SET/BIT and packed times)."""
    return bytes((UINT_FLAG,)) + number.encode_uint(v)


def key_float(v: float) -> bytes:
    """Key-mode float64."""
    return bytes((FLOAT_FLAG,)) + number.encode_float(v)


def key_bytes(v: bytes) -> bytes:
    """Key-mode bytes (for strings: the collation sort key)."""
    return bytes((BYTES_FLAG,)) + bytescodec.encode_bytes(v)


def key_duration(ns: int) -> bytes:
    """Key-mode TIME (nanoseconds)."""
    return bytes((DURATION_FLAG,)) + number.encode_int(ns)


def value_int(v: int) -> bytes:
    """Value-mode signed int (varint)."""
    return bytes((VARINT_FLAG,)) + number.encode_varint(v)


def value_uint(v: int) -> bytes:
    """Value-mode unsigned int (uvarint)."""
    return bytes((UVARINT_FLAG,)) + number.encode_uvarint(v)


def value_float(v: float) -> bytes:
    """Value-mode float64 (same bytes as key mode)."""
    return key_float(v)


def value_bytes(v: bytes) -> bytes:
    """Value-mode bytes (compact)."""
    return bytes((COMPACT_BYTES_FLAG,)) + bytescodec.encode_compact_bytes(v)


def decimal_datum(value: Decimal, prec: int, frac: int) -> bytes:
    """Decimal datum (identical in both modes)."""
    return bytes((DECIMAL_FLAG,)) + encode_decimal_payload(value, prec, frac)


def json_datum(binary: bytes) -> bytes:
    """JSON datum; ``binary`` is type code ‖ JSON binary."""
    return bytes((JSON_FLAG,)) + binary


def vector_datum(values: tuple[float, ...] | list[float]) -> bytes:
    """VECTOR(FLOAT32) datum."""
    return bytes((VECTOR_FLOAT32_FLAG,)) + encode_vector_payload(values)


NIL_DATUM: Final = bytes((NIL_FLAG,))
