"""Row format v1 (TiDB < 4.0; facts §4): value-mode datum pairs ``colID ‖ value ‖ ...``.

The single byte ``00`` is a row with no columns. Column ids are varint datums (flag 8); values
are any datum (``datum.decode_one``), typed later by ``coltypes`` ("unflatten").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.codec import datum
from core.codec.errors import CorruptValueError

_ID_FLAGS = frozenset({datum.VARINT_FLAG, datum.INT_FLAG, datum.UVARINT_FLAG, datum.UINT_FLAG})


def parse(value: bytes) -> dict[int, tuple[int, Any]]:
    """Column id → (flag, raw value)."""
    if value == b"\x00":
        return {}
    out: dict[int, tuple[int, Any]] = {}
    pos = 0
    n = len(value)
    while pos < n:
        id_pos = pos
        flag, cid, pos = datum.decode_one(value, pos)
        if flag not in _ID_FLAGS:
            raise CorruptValueError(f"v1 column id has datum flag {flag}", offset=id_pos)
        if pos >= n:
            raise CorruptValueError(f"v1 column {cid} has no value", offset=pos)
        vflag, raw, pos = datum.decode_one(value, pos)
        out[cid] = (vflag, raw)
    return out


def encode(columns: Sequence[tuple[int, bytes]]) -> bytes:
    """Assemble a v1 row from (column id, value-mode datum bytes), in the given order."""
    if not columns:
        return b"\x00"
    return b"".join(datum.value_int(cid) + enc for cid, enc in columns)
