"""A flush chunk: many compact-table entries carried by one changelog record.

Why: Faust sends one changelog record per table write, and producing them took 37–41 % of a
compact worker's CPU at full size (issue 15's profile). A flush writes its keys as a few chunks
instead; the table's store (:mod:`app.chunked_store`) expands each chunk into the partition's
RocksDB entries both when it is written and when the changelog is replayed into a recovering or
moving partition, so the entries on disk, and every reader of them, are as before.

Chunk key: :data:`CHUNK_PREFIX`, then 8 bytes naming the writer (one per compact actor start),
then its chunk number (u64). Row keys are TiDB record keys (``t…``), so the prefix never names
a row. Keys are never reused: the changelog is compacted by key, and a later chunk with an
earlier chunk's key would drop the earlier one's entries from it.

Value, version 1, all integers big-endian::

    offset  size  field
    0       1     version = 0x01
    1       4     count (u32)
    then count times:
            4     k = len(key) (u32), then k bytes: the row key
            4     v = len(value) (u32), then v bytes: its compact-table value

The value ends exactly after the last entry; anything else is a :class:`ChunkDecodeError`.
Entries are applied in order, so a key written twice in one chunk ends with its last value.
Pure: no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence

from core.errors import DecodeError

__all__ = [
    "CHUNK_BYTES",
    "CHUNK_PREFIX",
    "STATE_FORMAT",
    "ChunkDecodeError",
    "chunk_key",
    "decode_chunk",
    "encode_chunk",
    "is_chunk_key",
    "split_chunks",
]

CHUNK_VERSION = 1
#: the compact state's format, pinned in the job record (``JobRecord.state_format``): 2 = a
#: flush's keys as chunk records on the changelog (before it, a record per key: 0 or absent);
#: 3 = also, ``<job>.kv`` may carry folded records (``RowChange.versions``), which a worker of
#: format 2 would take for single changes
STATE_FORMAT = 3
#: what starts every chunk key (a row key starts with ``t``)
CHUNK_PREFIX = b"\x00tiundo-chunk\x00"
#: a chunk's payload bound: one record stays far below the Faust producer's 1,000,000-byte
#: request limit (and the broker's 1,048,588). A single entry larger than this travels alone,
#: as it did when every key had its own record.
CHUNK_BYTES = 256 * 1024

_HEAD = struct.Struct(">BI")
_LEN = struct.Struct(">I")
_ENTRY_OVERHEAD = 2 * _LEN.size


class ChunkDecodeError(DecodeError):
    """A chunk record that does not follow the layout (damaged, or from an unknown version)."""


def chunk_key(writer: bytes, number: int) -> bytes:
    """The key of the ``number``-th chunk of ``writer`` (8 bytes, unique per actor start)."""
    if len(writer) != 8:
        raise ValueError(f"a chunk writer id has 8 bytes, not {len(writer)}")
    return CHUNK_PREFIX + writer + number.to_bytes(8, "big")


def is_chunk_key(key: bytes) -> bool:
    """True for a chunk's key, False for a row key."""
    return key.startswith(CHUNK_PREFIX)


def encode_chunk(entries: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Serialise ``(key, value)`` entries as a version-1 chunk."""
    parts: list[bytes] = [_HEAD.pack(CHUNK_VERSION, len(entries))]
    pack = _LEN.pack
    for key, value in entries:
        parts += (pack(len(key)), key, pack(len(value)), value)
    return b"".join(parts)


def decode_chunk(raw: bytes) -> list[tuple[bytes, bytes]]:
    """The entries of a chunk, in order.

    Raises :class:`ChunkDecodeError` when the record is damaged, before a caller has any entry
    to write, so a bad chunk writes nothing.
    """
    buf = memoryview(raw)
    if len(buf) < _HEAD.size:
        raise ChunkDecodeError(f"chunk of {len(buf)} bytes is shorter than its header")
    version, count = _HEAD.unpack_from(buf, 0)
    if version != CHUNK_VERSION:
        raise ChunkDecodeError(f"chunk version {version} is not known (this reads {CHUNK_VERSION})")
    entries: list[tuple[bytes, bytes]] = []
    offset, end, unpack = _HEAD.size, len(buf), _LEN.unpack_from
    for i in range(count):
        fields: list[bytes] = []
        for what in ("key", "value"):
            if offset + _LEN.size > end:
                raise ChunkDecodeError(f"chunk entry {i}: {what} length cut off at byte {offset}")
            (n,) = unpack(buf, offset)
            offset += _LEN.size
            if offset + n > end:
                raise ChunkDecodeError(
                    f"chunk entry {i}: {what} of {n} bytes runs past the end ({end - offset} left)"
                )
            fields.append(bytes(buf[offset : offset + n]))
            offset += n
        entries.append((fields[0], fields[1]))
    if offset != end:
        raise ChunkDecodeError(f"chunk has {end - offset} bytes after its {count} entries")
    return entries


def split_chunks(
    entries: Iterable[tuple[bytes, bytes]], limit: int = CHUNK_BYTES
) -> Iterator[list[tuple[bytes, bytes]]]:
    """Group entries in order into chunks of at most ``limit`` payload bytes.

    An entry larger than ``limit`` makes a chunk of its own.
    """
    chunk: list[tuple[bytes, bytes]] = []
    size = 0
    for key, value in entries:
        n = len(key) + len(value) + _ENTRY_OVERHEAD
        if chunk and size + n > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append((key, value))
        size += n
    if chunk:
        yield chunk
