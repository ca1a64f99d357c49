"""Per-key compaction: fold every change of one row key in ``(T, E]`` into a :class:`KeyState`.

Why two ends are enough: TiKV serialises the writers of one key, so the earliest change's
``old_value`` is the row at ``T`` and the latest change's ``value`` is the row at ``E``; every
change in between is irrelevant to the undo. The merge is a min/max over a total order, so it is
commutative, associative and idempotent on the images: Kafka re-delivery, duplicated regions
after a split and any arrival order all give the same state (``tests/property/test_undo_merge``).

Ties on ``commit_ts``. Within one key TiKV's write column family is keyed by
``(key, commit_ts)``, so two changes of one key with the same ``commit_ts`` are the same change
delivered twice. If their payloads ``(start_ts, op_type, image)`` still differ (a bug upstream,
or a prewrite matched to the wrong commit), the state keeps the smaller payload — so every
replica converges on the same bytes — and sets a ``*_conflict`` flag that the undo reports
instead of trusting the image. The flag is order-free too: it is set iff the changes that share
the extreme ``commit_ts`` do not all carry the same payload.

``changes`` counts deliveries (duplicates included): it is order-free (a sum) but, unlike the
images, not idempotent; it feeds the report only.

Compact table (RocksDB) layout
------------------------------
Key: the row key exactly as it arrives in the change (the raw TiDB record key
``t{table_id}_r{handle}``), so one table's keys are contiguous and sorted by handle.

Value, version 1, all integers big-endian::

    offset  size  field
    0       1     version = 0x01
    1       1     flags: bit 0 first_conflict, bit 1 last_conflict; other bits must be 0
    2       8     first_commit_ts   (u64)  earliest change
    10      8     first_start_ts    (u64)
    18      1     first_op_type     (1 PUT, 2 DELETE)
    19      8     last_commit_ts    (u64)  latest change
    27      8     last_start_ts     (u64)
    35      1     last_op_type
    36      8     changes           (u64)  deliveries merged
    44      4     n = len(old_value) (u32), then n bytes: the earliest change's old_value,
                  i.e. the row at T (empty = absent at T)
    48+n    4     m = len(value) (u32), then m bytes: the latest change's value,
                  i.e. the row at E (empty = absent at E)

The value ends exactly after the second field; anything else is a :class:`StateDecodeError`.
A later version must bump the first byte; decoders reject versions they do not know.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from app.undo.model import DELETE, PUT, ChangeLike, FoldedLike
from core.errors import DecodeError

__all__ = [
    "LAYOUT_VERSION",
    "KeyState",
    "StateDecodeError",
    "combine",
    "decode_state",
    "encode_state",
    "merge",
    "merge_many",
    "state_of",
    "state_of_folded",
]

LAYOUT_VERSION = 1
_HEADER = struct.Struct(">BBQQBQQBQ")
_LEN = struct.Struct(">I")
_FIRST_CONFLICT = 0x01
_LAST_CONFLICT = 0x02


class StateDecodeError(DecodeError):
    """A compact-table value that does not follow the documented layout."""


@dataclass(frozen=True, slots=True)
class KeyState:
    """The compacted changes of one row key in ``(T, E]``.

    ``old_value`` is the earliest change's old value (row at ``T``), ``value`` the latest
    change's value (row at ``E``); ``b""`` means no row. ``first_*`` and ``last_*`` describe
    the earliest and latest change; the two are the same change when the key changed once.
    """

    first_commit_ts: int
    first_start_ts: int
    first_op_type: int
    old_value: bytes
    last_commit_ts: int
    last_start_ts: int
    last_op_type: int
    value: bytes
    changes: int = 1
    first_conflict: bool = False
    last_conflict: bool = False

    @property
    def present_at_t(self) -> bool:
        """True when the key had a row at ``T``."""
        return self.old_value != b""

    @property
    def present_at_e(self) -> bool:
        """True when the key has a row at ``E``."""
        return self.value != b""


def state_of(change: ChangeLike) -> KeyState:
    """The state of a key that saw exactly this one change."""
    return KeyState(
        first_commit_ts=change.commit_ts,
        first_start_ts=change.start_ts,
        first_op_type=change.op_type,
        old_value=bytes(change.old_value),
        last_commit_ts=change.commit_ts,
        last_start_ts=change.start_ts,
        last_op_type=change.op_type,
        value=bytes(change.value),
    )


def state_of_folded(change: FoldedLike) -> KeyState:
    """The state a folded record (``versions`` >= 2, see ``tiundo.proto``) stands for.

    The ingest folds only well-formed changes with distinct commit ts (a tie starts a new
    record), so the state is exactly the :func:`combine` of the changes it replaced
    (``tests/property/test_ingest_fold.py``).
    """
    return KeyState(
        first_commit_ts=change.commit_ts,
        first_start_ts=change.start_ts,
        first_op_type=change.op_type,
        old_value=bytes(change.old_value),
        last_commit_ts=change.last_commit_ts,
        last_start_ts=change.last_start_ts,
        last_op_type=change.last_op_type,
        value=bytes(change.value),
        changes=change.versions,
    )


def combine(a: KeyState, b: KeyState) -> KeyState:
    """Merge two states of the same key; commutative and associative (a monoid without unit).

    Images and timestamps are also idempotent (``combine(a, a)`` keeps them); ``changes`` adds.
    """
    a_first = (a.first_start_ts, a.first_op_type, a.old_value)
    b_first = (b.first_start_ts, b.first_op_type, b.old_value)
    if a.first_commit_ts != b.first_commit_ts:
        first_src = a if a.first_commit_ts < b.first_commit_ts else b
        first, first_conflict = first_src, first_src.first_conflict
    else:
        first = a if a_first <= b_first else b
        first_conflict = a.first_conflict or b.first_conflict or a_first != b_first

    a_last = (a.last_start_ts, a.last_op_type, a.value)
    b_last = (b.last_start_ts, b.last_op_type, b.value)
    if a.last_commit_ts != b.last_commit_ts:
        last_src = a if a.last_commit_ts > b.last_commit_ts else b
        last, last_conflict = last_src, last_src.last_conflict
    else:
        last = a if a_last <= b_last else b
        last_conflict = a.last_conflict or b.last_conflict or a_last != b_last

    return KeyState(
        first_commit_ts=first.first_commit_ts,
        first_start_ts=first.first_start_ts,
        first_op_type=first.first_op_type,
        old_value=first.old_value,
        last_commit_ts=last.last_commit_ts,
        last_start_ts=last.last_start_ts,
        last_op_type=last.last_op_type,
        value=last.value,
        changes=a.changes + b.changes,
        first_conflict=first_conflict,
        last_conflict=last_conflict,
    )


def merge(state: KeyState | None, change: ChangeLike) -> KeyState:
    """Fold one change of a key into the key's state (None = first change seen)."""
    one = state_of(change)
    return one if state is None else combine(state, one)


def merge_many(state: KeyState | None, changes: Iterable[ChangeLike]) -> KeyState | None:
    """Fold many changes of one key; returns ``state`` unchanged when there are none."""
    for change in changes:
        state = merge(state, change)
    return state


def encode_state(state: KeyState) -> bytes:
    """Serialise a state as a version-1 compact-table value (layout in the module docstring)."""
    flags = (_FIRST_CONFLICT if state.first_conflict else 0) | (
        _LAST_CONFLICT if state.last_conflict else 0
    )
    try:
        header = _HEADER.pack(
            LAYOUT_VERSION,
            flags,
            state.first_commit_ts,
            state.first_start_ts,
            state.first_op_type,
            state.last_commit_ts,
            state.last_start_ts,
            state.last_op_type,
            state.changes,
        )
    except struct.error as exc:
        raise ValueError(f"key state does not fit the layout: {state!r}") from exc
    return b"".join(
        (
            header,
            _LEN.pack(len(state.old_value)),
            state.old_value,
            _LEN.pack(len(state.value)),
            state.value,
        )
    )


def _take(buf: bytes, offset: int, what: str) -> tuple[bytes, int]:
    if offset + _LEN.size > len(buf):
        raise StateDecodeError(f"key state truncated in the length of {what} at offset {offset}")
    (n,) = _LEN.unpack_from(buf, offset)
    start = offset + _LEN.size
    if start + n > len(buf):
        raise StateDecodeError(
            f"key state truncated: {what} needs {n} bytes at offset {start}, "
            f"{len(buf) - start} left"
        )
    return bytes(buf[start : start + n]), start + n


def decode_state(buf: bytes) -> KeyState:
    """Parse a compact-table value; raises :class:`StateDecodeError` on any deviation."""
    if len(buf) < _HEADER.size:
        raise StateDecodeError(f"key state of {len(buf)} bytes is shorter than its header")
    (
        version,
        flags,
        first_commit_ts,
        first_start_ts,
        first_op_type,
        last_commit_ts,
        last_start_ts,
        last_op_type,
        changes,
    ) = _HEADER.unpack_from(buf, 0)
    if version != LAYOUT_VERSION:
        raise StateDecodeError(f"key state layout version {version} is not supported")
    if flags & ~(_FIRST_CONFLICT | _LAST_CONFLICT):
        raise StateDecodeError(f"key state has unknown flag bits {flags:#04x}")
    for name, op in (("first", first_op_type), ("last", last_op_type)):
        if op not in (PUT, DELETE):
            raise StateDecodeError(f"key state {name}_op_type {op} is neither PUT nor DELETE")
    if first_commit_ts > last_commit_ts:
        raise StateDecodeError(
            f"key state first_commit_ts {first_commit_ts} > last_commit_ts {last_commit_ts}"
        )
    old_value, offset = _take(buf, _HEADER.size, "old_value")
    value, offset = _take(buf, offset, "value")
    if offset != len(buf):
        raise StateDecodeError(f"key state has {len(buf) - offset} trailing bytes")
    return KeyState(
        first_commit_ts=first_commit_ts,
        first_start_ts=first_start_ts,
        first_op_type=first_op_type,
        old_value=old_value,
        last_commit_ts=last_commit_ts,
        last_start_ts=last_start_ts,
        last_op_type=last_op_type,
        value=value,
        changes=changes,
        first_conflict=bool(flags & _FIRST_CONFLICT),
        last_conflict=bool(flags & _LAST_CONFLICT),
    )
