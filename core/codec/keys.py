"""TiDB keys as TiKV's change feed delivers them (raw, not memcomparable; facts §2).

- record key: ``'t' ‖ cmpInt64(physical table id) ‖ '_r' ‖ handle``; an 8-byte handle is an int
  handle (the PK value or ``_tidb_rowid``), anything else a common handle (key-mode datums of
  the clustered PK, zero-padded to at least 9 bytes);
- index key: ``'t' ‖ id ‖ '_i' ‖ cmpInt64(index id) ‖ ...`` — recognised, callers skip it;
- meta key: ``'m' ‖ ...`` — recognised, callers skip it.

A TiKV API v2 keyspace prefix (``'x'`` + 3 bytes) in front of ``'t'`` is stripped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from core.codec import bytescodec, datum, number
from core.codec import mysqldef as m
from core.codec.coltypes import EncodeError, column_codec
from core.codec.errors import CorruptValueError
from core.codec.tableinfo import TableInfo

__all__ = [
    "RECORD_PREFIX_LEN",
    "TABLE_PREFIX",
    "TABLE_PREFIX_LEN",
    "CommonHandle",
    "IndexKey",
    "MetaKey",
    "RecordKey",
    "decode_common_handle",
    "decode_key",
    "encode_common_handle",
    "encode_record_key",
    "has_record_prefix",
    "index_prefix",
    "parse_record_key",
    "record_key_range",
    "record_prefix",
    "record_span",
    "table_id_of",
    "table_prefix",
    "table_span",
]

TABLE_PREFIX = b"t"
RECORD_SEP = b"_r"
INDEX_SEP = b"_i"
META_PREFIX = b"m"
#: ``'t'`` + the 8-byte table id: every key of a table starts with these bytes
TABLE_PREFIX_LEN = 9
#: :data:`TABLE_PREFIX_LEN` + ``'_r'``: the handle of a record key starts here
RECORD_PREFIX_LEN = 11
# the separator sorting right after "_r": the exclusive end of a table's record keys
_RECORD_END_SEP = b"_s"
INT_HANDLE_KEY_LEN = 19
MIN_COMMON_HANDLE_LEN = 9
TEMP_INDEX_MASK = 0x7FFF000000000000
INDEX_ID_MASK = 0xFFFFFFFFFFFF


@dataclass(frozen=True, slots=True)
class CommonHandle:
    """A clustered (non-int) PK handle: the encoded bytes and their key-mode datums."""

    encoded: bytes
    datums: tuple[tuple[int, Any], ...]


@dataclass(frozen=True, slots=True)
class RecordKey:
    """A row key. ``handle`` is an ``int`` (PK or ``_tidb_rowid``) or a :class:`CommonHandle`."""

    table_id: int
    handle: int | CommonHandle

    @property
    def handle_bytes(self) -> bytes:
        """The handle part of the key as stored (8 bytes for int handles)."""
        if isinstance(self.handle, int):
            return number.encode_int(self.handle)
        return self.handle.encoded


@dataclass(frozen=True, slots=True)
class IndexKey:
    """An index key; ``rest`` is everything after the index id (values and handle suffix)."""

    table_id: int
    index_id: int
    rest: bytes
    is_temp: bool = False


@dataclass(frozen=True, slots=True)
class MetaKey:
    """A meta (``m``) key; the mounter ignores these."""

    raw: bytes


def table_prefix(table_id: int) -> bytes:
    """``'t' ‖ cmpInt64(table_id)`` (9 bytes): every key of the table starts so (a split point)."""
    return TABLE_PREFIX + number.encode_int(table_id)


def record_prefix(table_id: int) -> bytes:
    """``'t' ‖ cmpInt64(table_id) ‖ '_r'`` (11 bytes)."""
    return table_prefix(table_id) + RECORD_SEP


def index_prefix(table_id: int, index_id: int) -> bytes:
    """``'t' ‖ cmpInt64(table_id) ‖ '_i' ‖ cmpInt64(index_id)``: the index values follow."""
    return table_prefix(table_id) + INDEX_SEP + number.encode_int(index_id)


def record_key_range(table_id: int) -> tuple[bytes, bytes]:
    """RAW ``[t{id}_r, t{id}_s)``: exactly the table's record keys, in handle order."""
    prefix = table_prefix(table_id)
    return prefix + RECORD_SEP, prefix + _RECORD_END_SEP


def table_id_of(key: bytes) -> int | None:
    """The table id of a raw table key (record or index), read without decoding the rest.

    ``None`` when ``key`` is too short or not a ``t`` key (meta keys, keyspace-prefixed keys).
    """
    if len(key) < TABLE_PREFIX_LEN or key[:1] != TABLE_PREFIX:
        return None
    return number.decode_int(key, 1)[0]


def has_record_prefix(key: bytes) -> bool:
    """Whether ``key`` starts with some table's ``t{id}_r`` (a bare prefix counts)."""
    return (
        len(key) >= RECORD_PREFIX_LEN
        and key[:1] == TABLE_PREFIX
        and key[TABLE_PREFIX_LEN:RECORD_PREFIX_LEN] == RECORD_SEP
    )


def parse_record_key(key: bytes) -> tuple[int, bytes] | None:
    """``(table_id, handle_bytes)`` of a raw record key, ``None`` for any other key.

    Cheap (no datum decoding; the handle stays opaque bytes), for hot paths that only need to
    route or filter. Index keys, meta keys and bare prefixes without a handle are ``None``.
    """
    if (
        len(key) <= RECORD_PREFIX_LEN
        or key[:1] != TABLE_PREFIX
        or key[TABLE_PREFIX_LEN:RECORD_PREFIX_LEN] != RECORD_SEP
    ):
        return None
    return number.decode_int(key, 1)[0], key[RECORD_PREFIX_LEN:]


def encode_record_key(table_id: int, handle: int | bytes | CommonHandle) -> bytes:
    """Raw row key for an int handle, or for already-encoded common-handle bytes."""
    if isinstance(handle, int):
        # BIGINT UNSIGNED PKs: the u64 is reinterpreted as int64 (facts §2.2).
        return record_prefix(table_id) + number.encode_int(number.to_signed64(handle))
    enc = handle.encoded if isinstance(handle, CommonHandle) else handle
    if len(enc) < MIN_COMMON_HANDLE_LEN:
        raise EncodeError("common handle shorter than 9 bytes: pad it (encode_common_handle)")
    return record_prefix(table_id) + enc


def record_span(table_id: int) -> tuple[bytes, bytes]:
    """Memcomparable ``[t{id}_r, t{id}_s)`` for PD ``ScanRegions`` and EventFeed requests."""
    start, end = record_key_range(table_id)
    return bytescodec.encode_bytes(start), bytescodec.encode_bytes(end)


def table_span(table_id: int) -> tuple[bytes, bytes]:
    """Memcomparable ``[t{id}, t{id+1})``: the whole table, indexes included."""
    return (
        bytescodec.encode_bytes(table_prefix(table_id)),
        bytescodec.encode_bytes(table_prefix(table_id + 1)),
    )


def decode_common_handle(encoded: bytes) -> tuple[tuple[int, Any], ...]:
    """Cut the key-mode datums of a common handle; a ``0x00`` byte is padding and ends it."""
    out: list[tuple[int, Any]] = []
    pos = 0
    n = len(encoded)
    while pos < n:
        if encoded[pos] == datum.NIL_FLAG:
            if any(encoded[pos:]):
                raise CorruptValueError("common handle padding is not zero", offset=pos)
            break
        flag, value, pos = datum.decode_one(encoded, pos)
        out.append((flag, value))
    if not out:
        raise CorruptValueError("common handle with no datums")
    return tuple(out)


def decode_key(raw: bytes) -> RecordKey | IndexKey | MetaKey:
    """Classify and decode a raw key; anything else raises :class:`CorruptValueError`."""
    key = bytes(raw)
    base = 0
    if len(key) > 4 and key[0] == 0x78 and key[4] == 0x74:  # 'x' keyspace prefix, then 't'
        base = 4
    if key[base : base + 1] == META_PREFIX:
        return MetaKey(key)
    if key[base : base + 1] != TABLE_PREFIX:
        raise CorruptValueError(f"not a table key (starts {key[:1].hex()})", offset=base)
    if len(key) < base + RECORD_PREFIX_LEN:
        raise CorruptValueError("table key shorter than its prefix", offset=base)
    table_id, pos = number.decode_int(key, base + 1)
    sep = key[pos : pos + 2]
    pos += 2
    if sep == RECORD_SEP:
        rest = key[pos:]
        if len(rest) == 8:
            return RecordKey(table_id, number.decode_int(rest)[0])
        if len(rest) < MIN_COMMON_HANDLE_LEN:
            raise CorruptValueError(
                f"record key handle of {len(rest)} bytes", table_id=table_id, offset=pos
            )
        try:
            datums = decode_common_handle(rest)
        except CorruptValueError as exc:
            raise exc.with_context(table_id=table_id, base_offset=pos) from exc
        return RecordKey(table_id, CommonHandle(rest, datums))
    if sep == INDEX_SEP:
        if len(key) < pos + 8:
            raise CorruptValueError("index key without index id", table_id=table_id, offset=pos)
        index_id, p = number.decode_int(key, pos)
        is_temp = index_id & TEMP_INDEX_MASK == TEMP_INDEX_MASK
        if is_temp:
            index_id &= INDEX_ID_MASK
        return IndexKey(table_id, index_id, key[p:], is_temp)
    raise CorruptValueError(f"unknown table key separator {sep!r}", table_id=table_id, offset=pos)


def encode_common_handle(
    values: Mapping[str, Any] | Sequence[Any],
    table_info: TableInfo,
    tz: tzinfo = UTC,
    new_collation: bool = True,
) -> bytes:
    """Key-mode datums of the clustered PK columns, zero-padded to 9 bytes.

    ``values`` is a whole row ({column name: value}) or the PK values in PK order. Prefix
    columns are truncated to their prefix length (characters for text, bytes for binary);
    strings are written as their collation sort key — with ``new_collation`` off, as their
    bytes whatever the collation (pingcap/tidb ``pkg/util/collate.GetCollator`` returns the
    ``binCollator`` then: no padding trimmed, no case folded). TIMESTAMP values are taken in
    ``tz``.
    """
    cols = table_info.common_handle_columns()
    if not cols:
        raise EncodeError(f"table {table_info.id} has no clustered common handle")
    if isinstance(values, Mapping):
        seq = [values[c.name] for c, _ in cols]
    else:
        seq = list(values)
        if len(seq) != len(cols):
            raise EncodeError(f"{len(cols)} PK values expected, got {len(seq)}")
    out = bytearray()
    for (col, prefix), v in zip(cols, seq, strict=True):
        if v is None:
            raise EncodeError(f"PK column {col.name!r} cannot be NULL")
        if prefix > 0 and isinstance(v, str | bytes):
            v = v[:prefix]
        ft = col.type
        if not new_collation and ft.tp in m.STRING_TYPES and ft.collate.lower() != "binary":
            ft = dataclasses.replace(ft, collate="binary")  # text stays text; keyed as bytes
        out += column_codec(ft, tz).enc_key(v)
    if len(out) < MIN_COMMON_HANDLE_LEN:
        out += bytes(MIN_COMMON_HANDLE_LEN - len(out))
    return bytes(out)
