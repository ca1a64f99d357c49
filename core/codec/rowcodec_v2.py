"""Row format v2 framing (TiDB ``pkg/util/rowcodec``; facts §3): header, id lists, offsets.

Column payloads are typed by ``coltypes``; this module only cuts and assembles the frame::

    0x80 ‖ flags ‖ u16 notNullCount ‖ u16 nullCount ‖ notNull ids ‖ null ids ‖ end offsets ‖ data
    ‖ [checksum: header byte ‖ u32 ‖ (u32 extra)]

ids are 1 byte and offsets u16 in small rows, u32 and u32 in large rows (flags bit 0).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from core.codec.errors import CorruptValueError

CODEC_VER = 0x80
FLAG_LARGE = 0x01
FLAG_CHECKSUM = 0x02
CHECKSUM_EXTRA = 0x08
CHECKSUM_VERSION_MASK = 0x07
MAX_CHECKSUM_VERSION = 2
HEADER_LEN = 6

_HDR = struct.Struct("<BBHH")


@lru_cache(maxsize=4096)
def _fmt(kind: str, n: int) -> struct.Struct:
    return struct.Struct(f"<{n}{kind}")


@dataclass(frozen=True, slots=True)
class V2Frame:
    """A parsed v2 frame. ``ids`` is ``bytes`` for small rows (``ids.find(col_id)`` works).

    Column *i* (in ``ids`` order) occupies ``value[data_start + (offsets[i-1] if i else 0) :
    data_start + offsets[i]]``.
    """

    large: bool
    ids: bytes | tuple[int, ...]
    null_ids: bytes | tuple[int, ...]
    offsets: tuple[int, ...]
    data_start: int
    checksum: bytes


def parse(value: bytes) -> V2Frame:
    """Parse and bounds-check a v2 frame (offsets inside the value, trailer well formed)."""
    n_total = len(value)
    if n_total < HEADER_LEN:
        raise CorruptValueError("v2 row shorter than its header", offset=0)
    ver, flags, nn, nl = _HDR.unpack_from(value, 0)
    if ver != CODEC_VER:
        raise CorruptValueError(f"not a v2 row (version byte {ver:#x})", offset=0)
    if flags & ~(FLAG_LARGE | FLAG_CHECKSUM):
        raise CorruptValueError(f"unknown v2 row flags {flags:#x}", offset=1)
    pos = HEADER_LEN
    ids: bytes | tuple[int, ...]
    null_ids: bytes | tuple[int, ...]
    if flags & FLAG_LARGE:
        need = pos + 4 * nn + 4 * nl + 4 * nn
        if need > n_total:
            raise CorruptValueError("v2 row id/offset lists run past the end", offset=pos)
        ids = _fmt("I", nn).unpack_from(value, pos)
        pos += 4 * nn
        null_ids = _fmt("I", nl).unpack_from(value, pos)
        pos += 4 * nl
        offsets = _fmt("I", nn).unpack_from(value, pos)
        pos += 4 * nn
    else:
        need = pos + nn + nl + 2 * nn
        if need > n_total:
            raise CorruptValueError("v2 row id/offset lists run past the end", offset=pos)
        ids = value[pos : pos + nn]
        pos += nn
        null_ids = value[pos : pos + nl]
        pos += nl
        offsets = _fmt("H", nn).unpack_from(value, pos)
        pos += 2 * nn
    data_len = offsets[-1] if nn else 0
    end = pos + data_len
    if end > n_total:
        raise CorruptValueError(
            f"v2 row data ends at {end} past the value's {n_total} bytes", offset=pos
        )
    checksum = b""
    if flags & FLAG_CHECKSUM:
        if end >= n_total:
            raise CorruptValueError("v2 row checksum flag set but no checksum", offset=end)
        head = value[end]
        if head & CHECKSUM_VERSION_MASK > MAX_CHECKSUM_VERSION or head & ~0x0F:
            raise CorruptValueError(f"unknown v2 checksum header {head:#x}", offset=end)
        size = 9 if head & CHECKSUM_EXTRA else 5
        if n_total - end != size:
            raise CorruptValueError("v2 row checksum has the wrong size", offset=end)
        checksum = value[end:]
    elif end != n_total:
        raise CorruptValueError(f"{n_total - end} trailing bytes after v2 row data", offset=end)
    return V2Frame(bool(flags & FLAG_LARGE), ids, null_ids, offsets, pos, checksum)


def encode(not_null: Sequence[tuple[int, bytes]], nulls: Sequence[int]) -> bytes:
    """Assemble a v2 row from (column id, payload) pairs and NULL column ids.

    Sorts each group by id; promotes to large when an id > 255 or the data > 65535 bytes.
    """
    nn_sorted = sorted(not_null, key=lambda p: p[0])
    null_sorted = sorted(nulls)
    data = b"".join(p for _, p in nn_sorted)
    max_id = max([i for i, _ in nn_sorted] + list(null_sorted), default=0)
    large = max_id > 255 or len(data) > 0xFFFF
    offsets = []
    acc = 0
    for _, p in nn_sorted:
        acc += len(p)
        offsets.append(acc)
    n, k = len(nn_sorted), len(null_sorted)
    out = bytearray(_HDR.pack(CODEC_VER, FLAG_LARGE if large else 0, n, k))
    if large:
        out += _fmt("I", n).pack(*(i for i, _ in nn_sorted))
        out += _fmt("I", k).pack(*null_sorted)
        out += _fmt("I", n).pack(*offsets)
    else:
        out += bytes(i for i, _ in nn_sorted)
        out += bytes(null_sorted)
        out += _fmt("H", n).pack(*offsets)
    out += data
    return bytes(out)
