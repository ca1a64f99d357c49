"""Mount: a compact-table entry (raw row key + :class:`KeyState`) → a :class:`MountedRow`.

Decodes the key (table id, int handle / ``_tidb_rowid``, or common handle) and the two images
with the schema at ``T``. Pure (codec + undo model only); the agent supplies the schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import tzinfo
from itertools import groupby

from app.undo.merge import KeyState
from app.undo.model import Handle, MountedRow
from core.codec.keys import CommonHandle, RecordKey, decode_key, table_id_of
from core.codec.row import decode_row
from core.codec.tableinfo import TableInfo
from core.errors import DecodeError

__all__ = [
    "MountError",
    "handle_text",
    "key_table_id",
    "mount_row",
    "split_by_table",
]


class MountError(DecodeError):
    """A compact entry that cannot become a mounted row (bad key, bad image, conflict)."""


def key_table_id(key: bytes) -> int:
    """The physical table id of a raw record key (without decoding the handle)."""
    table_id = table_id_of(key)
    if table_id is None:
        raise MountError(f"row key {key.hex()} is not a table key")
    return table_id


def split_by_table(keys: Iterable[bytes]) -> Iterator[tuple[int, list[bytes]]]:
    """Group sorted raw keys into (table id, keys) runs."""
    for tid, run in groupby(keys, key=key_table_id):
        yield tid, list(run)


def _handle(rk: RecordKey) -> Handle:
    if isinstance(rk.handle, CommonHandle):
        return tuple(v for _, v in rk.handle.datums)
    return rk.handle


def handle_text(handle: Handle) -> str:
    """The handle as report / dead-letter text."""
    if isinstance(handle, tuple):
        return "(" + ", ".join(repr(v) for v in handle) + ")"
    return str(handle)


def mount_row(
    key: bytes, state: KeyState, info: TableInfo, tz: tzinfo, new_collation: bool = True
) -> MountedRow:
    """Decode one compact entry with the table's schema at ``T``.

    ``new_collation`` is the cluster's ``new_collation_enabled``: off, clustered string PK
    values are in the key only (:mod:`core.codec.row`).

    Raises :class:`MountError` (a DecodeError: dead-letter it) when the key is not a record key
    of ``info``, an image does not decode, or the merge flagged two different changes with the
    same commit_ts (the image cannot be trusted).
    """
    try:
        rk = decode_key(key)
    except DecodeError as exc:
        raise MountError(f"row key {key.hex()}: {exc}") from exc
    if not isinstance(rk, RecordKey):
        raise MountError(f"key {key.hex()} is not a record key")
    handle = _handle(rk)
    where = (
        f"table {info.name} (id {rk.table_id}) handle {handle_text(handle)} "
        f"commit_ts {state.first_commit_ts}..{state.last_commit_ts}"
    )
    if state.first_conflict or state.last_conflict:
        raise MountError(f"{where}: two different changes share a commit_ts; image untrusted")
    try:
        old, new, h = state.old_value, state.value, rk.handle
        t_image = decode_row(old, info, h, tz, new_collation) if old else None
        e_image = decode_row(new, info, h, tz, new_collation) if new else None
    except DecodeError as exc:
        raise MountError(f"{where}: {exc}") from exc
    return MountedRow(handle, t_image, e_image, state.first_commit_ts, state.last_commit_ts)
