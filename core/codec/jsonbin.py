"""TiDB binary JSON: decode, encode (byte-identical to TiDB) and TiDB's text rendering.

A JSON value is ``type byte ‖ body``; all integers are little-endian:

====  ==========  ============================================================
code  type        body
====  ==========  ============================================================
0x01  object      u32 count ‖ u32 size ‖ count×(u32 key off ‖ u16 key len)
                  ‖ count×(u8 type ‖ u32 off-or-literal) ‖ keys ‖ values
0x03  array       u32 count ‖ u32 size ‖ count×(u8 type ‖ u32 off-or-literal) ‖ values
0x04  literal     1 byte: 0 null, 1 true, 2 false (inlined in a parent's value entry)
0x09  int64       8 bytes
0x0a  uint64      8 bytes
0x0b  double      8 bytes IEEE 754 (plain, not sign-flipped)
0x0c  string      uvarint length ‖ UTF-8
0x0d  opaque      u8 MySQL type ‖ uvarint length ‖ bytes
0x0e  date        8-byte CoreTime (see :mod:`core.codec.mytime`), likewise 0x0f datetime
                  and 0x10 timestamp
0x11  time        int64 nanoseconds ‖ u32 fsp
====  ==========  ============================================================

Offsets and ``size`` count from the container's first byte (its count field). TiDB sorts object
keys bytewise (``cmp.Compare`` on Go strings, i.e. UTF-8 byte order) and writes keys, then values,
in that order. MySQL's small containers and 16/32-bit integers are never written by TiDB and are
rejected as corrupt.

Python mapping (``JsonValue``): bool/int/float/str/list/dict, plus :class:`JsonUint` (an
``int`` that re-encodes as uint64), :class:`JsonOpaque`, :class:`~core.codec.mytime.MyTime` for
date/datetime/timestamp, and ``datetime.timedelta`` for TIME (decoded as :class:`JsonDuration`,
a ``timedelta`` that remembers the stored fsp). JSON ``null`` is :data:`JSON_NULL` when it is
the whole document: a column value of ``None`` is SQL NULL, and the two must never be confused
(restoring one as the other is a wrong row). Inside an array or object, where no SQL NULL can
be, JSON ``null`` is ``None``. The encoder takes either spelling anywhere.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Final, TypeAlias

from core.codec.errors import CorruptValueError
from core.codec.mytime import (
    TYPE_DATE,
    TYPE_DATETIME,
    TYPE_TIMESTAMP,
    MyTime,
    core_time_to_mytime,
    duration_from_ns,
    duration_to_ns,
    format_duration,
    mytime_to_core_time,
)

__all__ = [
    "JSON_NULL",
    "JsonDuration",
    "JsonNull",
    "JsonOpaque",
    "JsonUint",
    "JsonValue",
    "decode_json_binary",
    "encode_json_binary",
    "json_binary_length",
    "json_to_text",
    "json_type_name",
]

OBJECT = 0x01
ARRAY = 0x03
LITERAL = 0x04
INT64 = 0x09
UINT64 = 0x0A
DOUBLE = 0x0B
STRING = 0x0C
OPAQUE = 0x0D
DATE = 0x0E
DATETIME = 0x0F
TIMESTAMP = 0x10
TIME = 0x11

_LIT_NULL, _LIT_TRUE, _LIT_FALSE = 0x00, 0x01, 0x02
_MAX_DEPTH = 100  # TiDB maxJSONDepth; deeper documents cannot have been written by TiDB
_TIME_CODE_TO_TP = {DATE: TYPE_DATE, DATETIME: TYPE_DATETIME, TIMESTAMP: TYPE_TIMESTAMP}
_TP_TO_TIME_CODE = {tp: code for code, tp in _TIME_CODE_TO_TP.items()}
_FIXED_LEN = {LITERAL: 1, INT64: 8, UINT64: 8, DOUBLE: 8, DATE: 8, DATETIME: 8, TIMESTAMP: 8}
_FIXED_LEN[TIME] = 12

_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_ENTRY = struct.Struct("<BI")
_KEY_ENTRY = struct.Struct("<IH")
_HEADER = struct.Struct("<II")


class JsonUint(int):
    """A JSON uint64 (type 0x0a); compares equal to the plain ``int`` of the same value."""

    __slots__ = ()

    def __new__(cls, value: int = 0) -> JsonUint:
        """Check the uint64 range, so an encoder never has to."""
        if not 0 <= int(value) < 1 << 64:
            raise ValueError(f"{value} is outside uint64")
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"JsonUint({int(self)})"


class JsonDuration(_dt.timedelta):
    """A JSON TIME value: a ``timedelta`` that also carries the fsp stored next to it."""

    __slots__ = ("fsp",)
    fsp: int

    def __new__(cls, value: _dt.timedelta, fsp: int = 6) -> JsonDuration:
        """Wrap ``value``; ``fsp`` (0..6) is written after the nanoseconds on encode."""
        if not 0 <= fsp <= 6:
            raise ValueError(f"fsp {fsp} outside 0..6")
        self = super().__new__(
            cls, days=value.days, seconds=value.seconds, microseconds=value.microseconds
        )
        self.fsp = fsp
        return self

    def __repr__(self) -> str:
        plain = _dt.timedelta(self.days, self.seconds, self.microseconds)
        return f"JsonDuration({plain!r}, {self.fsp})"


class JsonNull:
    """JSON ``null`` as a whole column value (:data:`JSON_NULL`, the only instance).

    A JSON column holds either SQL NULL (``None``) or a JSON document, and the document may be
    the literal ``null`` (TiDB: ``INSERT … VALUES ('null')``). Both used to decode to ``None``,
    so a row at ``T`` with JSON null was restored as SQL NULL and a change between the two
    looked like no change. Equal only to itself; survives pickling as the same instance.
    """

    __slots__ = ()
    _instance: ClassVar[JsonNull | None] = None

    def __new__(cls) -> JsonNull:
        """Always the one instance, so ``is JSON_NULL`` works after copies and pickling."""
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "JSON_NULL"

    def __reduce__(self) -> tuple[type[JsonNull], tuple[()]]:
        return (JsonNull, ())


JSON_NULL: Final = JsonNull()
"""The JSON document ``null`` (not SQL NULL, which is ``None``)."""


@dataclass(frozen=True, slots=True)
class JsonOpaque:
    """A JSON opaque value (type 0x0d): raw bytes tagged with a MySQL column type code."""

    type_code: int
    data: bytes


JsonValue: TypeAlias = (
    bool
    | int
    | float
    | str
    | list["JsonValue"]
    | dict[str, "JsonValue"]
    | JsonOpaque
    | MyTime
    | _dt.timedelta
    | JsonNull
    | None
)
"""``None`` is JSON null inside a container only; a whole document ``null`` is JSON_NULL."""


# --------------------------------------------------------------------------- decode


def _uvarint(buf: bytes, pos: int, limit: int) -> tuple[int, int]:
    """Go ``binary.Uvarint`` bounded by ``limit``: (value, position after it)."""
    result = 0
    shift = 0
    while True:
        if pos >= limit:
            raise CorruptValueError("truncated uvarint in JSON", offset=pos)
        byte = buf[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise CorruptValueError("uvarint overflows 64 bits in JSON", offset=pos - 1)
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _need(pos: int, length: int, limit: int, what: str) -> int:
    end = pos + length
    if end > limit:
        raise CorruptValueError(
            f"JSON {what} runs past its container ({end} > {limit})", offset=pos
        )
    return end


def _decode_text(raw: bytes, pos: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptValueError(f"invalid UTF-8 in JSON string: {exc.reason}", offset=pos) from exc


def _decode(buf: bytes, code: int, pos: int, limit: int, depth: int) -> JsonValue:
    """Decode the body of a value of type ``code`` at ``pos``; the body must end by ``limit``."""
    if code in (OBJECT, ARRAY):
        return _decode_container(buf, code, pos, limit, depth)
    if code == STRING:
        length, start = _uvarint(buf, pos, limit)
        end = _need(start, length, limit, "string")
        return _decode_text(buf[start:end], start)
    if code == INT64:
        _need(pos, 8, limit, "int64")
        return int(_I64.unpack_from(buf, pos)[0])
    if code == UINT64:
        _need(pos, 8, limit, "uint64")
        return JsonUint(_U64.unpack_from(buf, pos)[0])
    if code == DOUBLE:
        _need(pos, 8, limit, "double")
        value = float(_F64.unpack_from(buf, pos)[0])
        if not math.isfinite(value):
            raise CorruptValueError(f"JSON double {value} (TiDB never stores it)", offset=pos)
        return value
    if code == LITERAL:
        _need(pos, 1, limit, "literal")
        return _literal(buf[pos], pos)
    if code in _TIME_CODE_TO_TP:
        _need(pos, 8, limit, "time")
        return core_time_to_mytime(_U64.unpack_from(buf, pos)[0], _TIME_CODE_TO_TP[code])
    if code == TIME:
        _need(pos, 12, limit, "duration")
        nanos = _I64.unpack_from(buf, pos)[0]
        fsp = _U32.unpack_from(buf, pos + 8)[0]
        if fsp > 6:
            raise CorruptValueError(f"JSON duration fsp {fsp} > 6", offset=pos + 8)
        return JsonDuration(duration_from_ns(nanos), fsp)
    if code == OPAQUE:
        _need(pos, 1, limit, "opaque")
        length, start = _uvarint(buf, pos + 1, limit)
        end = _need(start, length, limit, "opaque")
        return JsonOpaque(buf[pos], bytes(buf[start:end]))
    raise CorruptValueError(f"unknown JSON type code {code:#04x}", offset=pos - 1)


def _literal(byte: int, pos: int) -> JsonValue:
    if byte == _LIT_NULL:
        return None
    if byte == _LIT_TRUE:
        return True
    if byte == _LIT_FALSE:
        return False
    raise CorruptValueError(f"bad JSON literal {byte:#04x}", offset=pos)


def _decode_container(buf: bytes, code: int, pos: int, limit: int, depth: int) -> JsonValue:
    if depth > _MAX_DEPTH:
        raise CorruptValueError("JSON nested deeper than TiDB allows", offset=pos)
    _need(pos, 8, limit, "container header")
    count, size = _HEADER.unpack_from(buf, pos)
    end = _need(pos, size, limit, "container")
    is_object = code == OBJECT
    entries = pos + 8
    values_at = entries + (6 * count if is_object else 0)
    header_end = values_at + 5 * count
    if header_end > end:
        raise CorruptValueError(f"JSON container of {count} entries in {size} bytes", offset=pos)
    items: list[JsonValue] = []
    for i in range(count):
        entry = values_at + 5 * i
        child_code, child_off = _ENTRY.unpack_from(buf, entry)
        if child_code == LITERAL:
            items.append(_literal(buf[entry + 1], entry + 1))
            continue
        child = pos + child_off
        if child < header_end or child >= end:
            raise CorruptValueError(
                f"JSON value offset {child_off} outside its container", offset=entry
            )
        items.append(_decode(buf, child_code, child, end, depth + 1))
    if not is_object:
        return items
    result: dict[str, JsonValue] = {}
    for i in range(count):
        key_off, key_len = _KEY_ENTRY.unpack_from(buf, entries + 6 * i)
        key_start = pos + key_off
        if key_start < header_end:
            raise CorruptValueError(f"JSON key offset {key_off} inside the header", offset=pos)
        key_end = _need(key_start, key_len, end, "object key")
        result[_decode_text(buf[key_start:key_end], key_start)] = items[i]
    return result


def decode_json_binary(data: bytes) -> JsonValue:
    """Decode a TiDB JSON value (type byte ‖ body), as found in a row or datum payload.

    A document that is just ``null`` decodes to :data:`JSON_NULL`, never ``None`` (SQL NULL).
    Raises :class:`CorruptValueError` for unknown type codes, offsets or lengths past the end,
    invalid UTF-8, bad literals, impossible times and over-deep nesting. Bytes after the value
    are ignored (use :func:`json_binary_length` to find where it ends).
    """
    if not data:
        raise CorruptValueError("empty JSON value", offset=0)
    try:
        value = _decode(data, data[0], 1, len(data), 0)
        return JSON_NULL if value is None else value
    except CorruptValueError:
        raise
    except (IndexError, ValueError, struct.error, OverflowError) as exc:
        # Bounds are checked above; this is a last line so garbage never escapes untyped.
        raise CorruptValueError(f"corrupt JSON: {type(exc).__name__}: {exc}") from exc


def json_binary_length(buf: bytes, pos: int) -> int:
    """Byte length of the standalone JSON value at ``buf[pos]`` (type byte + body).

    This is TiDB's ``PeekBytesAsJSON``, used to cut a JSON datum out of a v1 row.
    """
    limit = len(buf)
    if not 0 <= pos < limit:
        raise CorruptValueError("no JSON value to measure", offset=pos)
    code = buf[pos]
    body = pos + 1
    if code in (OBJECT, ARRAY):
        _need(body, 8, limit, "container header")
        size = int(_U32.unpack_from(buf, body + 4)[0])
        if size < 8:
            raise CorruptValueError(f"JSON container size {size} < its header", offset=pos)
        length = 1 + size
    elif code in _FIXED_LEN:
        length = 1 + _FIXED_LEN[code]
    elif code == STRING:
        strlen, start = _uvarint(buf, body, limit)
        length = start - pos + strlen
    elif code == OPAQUE:
        strlen, start = _uvarint(buf, body + 1, limit)
        length = start - pos + strlen
    else:
        raise CorruptValueError(f"unknown JSON type code {code:#04x}", offset=pos)
    if pos + length > limit:
        raise CorruptValueError(f"JSON value of {length} bytes runs past the buffer", offset=pos)
    return length


# --------------------------------------------------------------------------- encode


def _append_uvarint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _append(out: bytearray, value: object, depth: int) -> int:
    """Append the body of ``value`` to ``out``; return its type code (TiDB appendBinaryJSON)."""
    if value is None or value is JSON_NULL:
        out.append(_LIT_NULL)
        return LITERAL
    if value is True:
        out.append(_LIT_TRUE)
        return LITERAL
    if value is False:
        out.append(_LIT_FALSE)
        return LITERAL
    if isinstance(value, JsonUint):
        out += _U64.pack(int(value))
        return UINT64
    if isinstance(value, int):
        if -(1 << 63) <= value < 1 << 63:
            out += _I64.pack(value)
            return INT64
        if 0 <= value < 1 << 64:
            out += _U64.pack(value)  # TiDB's parser: int64 first, then uint64
            return UINT64
        value = float(value)  # and a double beyond that
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"JSON cannot hold {value}")
        out += _F64.pack(value)
        return DOUBLE
    if isinstance(value, str):
        raw = value.encode("utf-8")
        _append_uvarint(out, len(raw))
        out += raw
        return STRING
    if isinstance(value, dict):
        _append_object(out, value, depth)
        return OBJECT
    if isinstance(value, list | tuple):
        _append_array(out, value, depth)
        return ARRAY
    if isinstance(value, MyTime):
        code = _TP_TO_TIME_CODE.get(value.tp)
        if code is None:
            raise ValueError(f"MyTime type code {value.tp} has no JSON form")
        out += _U64.pack(mytime_to_core_time(value))
        return code
    if isinstance(value, _dt.timedelta):
        fsp = value.fsp if isinstance(value, JsonDuration) else (6 if value.microseconds else 0)
        out += _I64.pack(duration_to_ns(value))
        out += _U32.pack(fsp)
        return TIME
    if isinstance(value, JsonOpaque):
        if not 0 <= value.type_code <= 0xFF:
            raise ValueError(f"opaque type code {value.type_code} is not a byte")
        out.append(value.type_code)
        _append_uvarint(out, len(value.data))
        out += value.data
        return OPAQUE
    raise TypeError(f"cannot encode {type(value).__name__} as TiDB JSON")


def _append_elem(out: bytearray, doc: int, entry: int, value: object, depth: int) -> None:
    start = len(out)
    code = _append(out, value, depth)
    if code == LITERAL:
        literal = out[start]
        del out[start:]
        _ENTRY.pack_into(out, entry, LITERAL, literal)
    else:
        _ENTRY.pack_into(out, entry, code, start - doc)


def _check_depth(depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than TiDB's limit of {_MAX_DEPTH}")


def _append_array(out: bytearray, items: list[object] | tuple[object, ...], depth: int) -> None:
    _check_depth(depth)
    doc = len(out)
    out += _HEADER.pack(len(items), 0)
    entries = len(out)
    out += bytes(5 * len(items))
    for i, item in enumerate(items):
        _append_elem(out, doc, entries + 5 * i, item, depth + 1)
    _U32.pack_into(out, doc + 4, len(out) - doc)


def _append_object(out: bytearray, obj: dict[object, object], depth: int) -> None:
    _check_depth(depth)
    fields: list[tuple[bytes, object]] = []
    for key, val in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
        raw = key.encode("utf-8")
        if len(raw) > 0xFFFF:
            raise ValueError("JSON object key longer than 65535 bytes")
        fields.append((raw, val))
    fields.sort(key=lambda field: field[0])
    doc = len(out)
    count = len(fields)
    out += _HEADER.pack(count, 0)
    key_entries = len(out)
    out += bytes(6 * count)
    val_entries = len(out)
    out += bytes(5 * count)
    for i, (raw, _val) in enumerate(fields):
        _KEY_ENTRY.pack_into(out, key_entries + 6 * i, len(out) - doc, len(raw))
        out += raw
    for i, (_raw, val) in enumerate(fields):
        _append_elem(out, doc, val_entries + 5 * i, val, depth + 1)
    _U32.pack_into(out, doc + 4, len(out) - doc)


def encode_json_binary(value: JsonValue) -> bytes:
    """Encode ``value`` as TiDB stores it: type byte ‖ body, byte-identical to TiDB.

    Plain ``int`` is int64, or uint64 above int64 (as TiDB's parser decides); :class:`JsonUint`
    is always uint64. A plain ``timedelta`` gets fsp 6 if it has microseconds, else 0.
    Raises ``ValueError``/``TypeError`` for values TiDB JSON cannot hold.
    """
    out = bytearray(1)
    out[0] = _append(out, value, 0)
    return bytes(out)


# --------------------------------------------------------------------------- text


def _escape_table() -> dict[int, str]:
    table = {c: f"\\u{c:04x}" for c in range(0x20)}
    table.update({0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"})
    table.update({ord('"'): '\\"', ord("\\"): "\\\\", 0x2028: "\\u2028", 0x2029: "\\u2029"})
    return table


_ESCAPES = _escape_table()


def _quote(text: str) -> str:
    """TiDB ``jsonMarshalStringTo``: Go's escaping minus HTML escapes, lowercase hex."""
    return '"' + text.translate(_ESCAPES) + '"'


def _format_double(value: float) -> str:
    """TiDB ``marshalFloat64To``: shortest digits; exponent form below 1e-15 or from 1e15."""
    if not math.isfinite(value):
        raise ValueError(f"JSON cannot render {value}")
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)  # finite
    text_digits = "".join(map(str, digits)).rstrip("0") or "0"
    exponent += len(digits) - len(text_digits)
    prefix = "-" if sign else ""
    magnitude = abs(value)
    if magnitude < 1e-15 or magnitude >= 1e15:
        sci_exp = exponent + len(text_digits) - 1
        mantissa = text_digits[0] + ("." + text_digits[1:] if len(text_digits) > 1 else "")
        return f"{prefix}{mantissa}e{sci_exp}"
    if exponent >= 0:
        return f"{prefix}{text_digits}{'0' * exponent}.0"
    point = len(text_digits) + exponent
    if point > 0:
        return f"{prefix}{text_digits[:point]}.{text_digits[point:]}"
    return f"{prefix}0.{'0' * -point}{text_digits}"


def _render(value: object, parts: list[str]) -> None:
    if value is None or value is JSON_NULL:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(_quote(value))
    elif isinstance(value, int):
        parts.append(str(int(value)))
    elif isinstance(value, float):
        parts.append(_format_double(value))
    elif isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: str(item[0]).encode("utf-8"))
        parts.append("{")
        for i, (key, val) in enumerate(items):
            if i:
                parts.append(", ")
            parts.append(_quote(str(key)))
            parts.append(": ")
            _render(val, parts)
        parts.append("}")
    elif isinstance(value, list | tuple):
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(", ")
            _render(item, parts)
        parts.append("]")
    elif isinstance(value, MyTime):
        # JSON prints times with 6 fractional digits, DATE without a time part.
        if value.tp == TYPE_DATE:
            parts.append(f'"{value}"')
        else:
            parts.append(
                f'"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:'
                f'{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"'
            )
    elif isinstance(value, _dt.timedelta):
        parts.append(f'"{format_duration(value, 6)}"')
    elif isinstance(value, JsonOpaque):
        b64 = base64.b64encode(value.data).decode("ascii")
        parts.append(f'"base64:type{value.type_code}:{b64}"')
    else:
        raise TypeError(f"cannot render {type(value).__name__} as JSON")


def json_to_text(value: JsonValue) -> str:
    """Render like TiDB's ``CAST(j AS CHAR)``: ``{"a": 1, "b": [true, null]}``.

    Object keys come out in TiDB's stored order (UTF-8 byte order); doubles keep ``.0`` when
    integral and switch to ``1e-16``/``1e15`` style outside [1e-15, 1e15); strings use Go's JSON
    escapes without HTML escaping; times print 6 fractional digits; opaque values print as
    ``"base64:type<N>:<data>"``.
    """
    parts: list[str] = []
    _render(value, parts)
    return "".join(parts)


# --------------------------------------------------------------------------- type names

# MySQL type codes TiDB's JSON_TYPE() calls BLOB (tiny/medium/long/blob, string, var_string,
# varchar) and BIT; other opaque values are OPAQUE.
_BLOB_CODES = frozenset({0xF9, 0xFA, 0xFB, 0xFC, 0xFE, 0xFD, 0x0F})
_BIT_CODE = 0x10


def json_type_name(value: JsonValue) -> str:
    """TiDB's ``JSON_TYPE()`` of a document (pkg/types/json_binary_functions.go ``Type``).

    Tells apart what TiDB's JSON text does not: ``1`` (INTEGER) from uint64 ``1`` (UNSIGNED
    INTEGER), a JSON DATE from the string it prints as. TIMESTAMP reports DATETIME, as in TiDB.
    """
    if value is None or value is JSON_NULL:
        return "NULL"
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, JsonUint):
        return "UNSIGNED INTEGER"
    if isinstance(value, int):
        if -(1 << 63) <= value < 1 << 63:
            return "INTEGER"
        return "UNSIGNED INTEGER" if 0 <= value < 1 << 64 else "DOUBLE"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, dict):
        return "OBJECT"
    if isinstance(value, list | tuple):
        return "ARRAY"
    if isinstance(value, MyTime):
        return "DATE" if value.tp == TYPE_DATE else "DATETIME"
    if isinstance(value, _dt.timedelta):
        return "TIME"
    if isinstance(value, JsonOpaque):
        if value.type_code in _BLOB_CODES:
            return "BLOB"
        return "BIT" if value.type_code == _BIT_CODE else "OPAQUE"
    raise TypeError(f"no JSON type for {type(value).__name__}")
