"""The few key facts the ingest worker needs, and the row filter that uses them.

Pure and deliberately tiny: the TiDB key layout lives in ``core.codec.keys`` (one home); ingest
only needs to (a) build a table's encoded record span to subscribe to, (b) tell a record key
``t{table_id}_r{handle}`` from index/meta keys and read its table id and handle bytes
(:func:`core.codec.keys.parse_record_key`, re-exported here), and (c) compare a raw key with
region boundaries: once per region the encoded bounds are decoded into raw bounds
(:func:`raw_bounds`), so the per-row check is a plain bytes comparison.

The handle bytes are an 8-byte EncodeInt for int handles and ``_tidb_rowid``, or the
memcomparable datums of a clustered (common) handle; either way one row has exactly one record
key, so they are used only as an opaque, stable identity here.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.codec.bytescodec import decode_bytes, encode_bytes
from core.codec.errors import CorruptValueError
from core.codec.keys import RECORD_PREFIX_LEN, parse_record_key, record_prefix
from core.codec.keys import record_span as codec_record_span
from core.codec.number import encode_int
from ingest.model import RowChange, Span

__all__ = [
    "RECORD_PREFIX_LEN",
    "RowFilter",
    "encode_bytes",
    "encode_int",
    "parse_record_key",
    "raw_bounds",
    "record_prefix",
    "record_span",
]


def record_span(table_id: int) -> Span:
    """Encoded span of the table's record keys, ``[t{id}_r, t{id}_s)`` as TiCDC subscribes."""
    start, end = codec_record_span(table_id)
    return Span(start, end)


def _raw_bound(bound: bytes) -> bytes | None:
    """The raw key whose encoding is exactly ``bound``, else ``None``."""
    try:
        raw, used = decode_bytes(bound)
    except CorruptValueError:
        return None
    return raw if used == len(bound) and encode_bytes(raw) == bound else None


def raw_bounds(span: Span) -> tuple[bytes, bytes | None] | None:
    """``(start, end)`` in the RAW key space with the same members as the encoded ``span``.

    The memcomparable encoding keeps order (``a < b`` iff ``encode(a) < encode(b)``), so a raw
    key ``k`` lies in ``span`` iff ``start <= k`` and (``end is None`` or ``k < end``). That only
    holds for bounds that are exact encodings of some raw key (region boundaries and table spans
    always are); for any other bound this returns ``None`` and the caller encodes each key.
    """
    start = b"" if span.start == b"" else _raw_bound(span.start)
    if start is None:
        return None
    if span.end == b"":
        return start, None
    end = _raw_bound(span.end)
    return None if end is None else (start, end)


class RowFilter:
    """Keeps what the undo needs: record keys of selected physical tables, ``T < commit_ts <= E``.

    :meth:`apply` returns the change with ``table_id`` filled in, or ``None`` to drop it.
    Dropped changes are counted by reason, so the report can say what was skipped.
    ``foreign_after_end`` counts changes to selected tables committed after ``E`` whose
    ``txn_source`` write-source id (low 8 bits) is not ``own_source``: writers the job should
    report (DESIGN §1); ``foreign_by_table`` splits them by physical table id.
    """

    __slots__ = (
        "_prefixes",
        "_tables",
        "dropped_after_end",
        "dropped_before_start",
        "dropped_not_record",
        "dropped_other_table",
        "end_ts",
        "foreign_after_end",
        "foreign_by_table",
        "own_source",
        "start_ts",
    )

    def __init__(
        self,
        table_ids: Iterable[int],
        start_ts: int,
        end_ts: int,
        *,
        own_source: int | None = None,
    ) -> None:
        if end_ts < start_ts:
            raise ValueError(f"end_ts {end_ts} < start_ts {start_ts}")
        self._tables = frozenset(table_ids)
        # record prefix t{id}_r → id: one slice and one dict lookup per change (hot path)
        self._prefixes = {record_prefix(t): t for t in self._tables}
        self.start_ts = start_ts
        self.end_ts = end_ts
        self.own_source = own_source
        self.dropped_not_record = 0
        self.dropped_other_table = 0
        self.dropped_before_start = 0
        self.dropped_after_end = 0
        self.foreign_after_end = 0
        self.foreign_by_table: dict[int, int] = {}

    def apply(self, change: RowChange) -> RowChange | None:
        """The change with its ``table_id``, if the undo needs it; else ``None``."""
        key = change.key
        table_id = self._prefixes.get(key[:RECORD_PREFIX_LEN])
        if table_id is None or len(key) == RECORD_PREFIX_LEN:
            # Not a record key of a selected table (the slice matched no prefix, or the key is
            # a bare prefix without handle): say which.
            if parse_record_key(key) is None:
                self.dropped_not_record += 1
            else:
                self.dropped_other_table += 1
            return None
        if change.commit_ts <= self.start_ts:
            self.dropped_before_start += 1
            return None
        if change.commit_ts > self.end_ts:
            self.dropped_after_end += 1
            if self.own_source is None or (change.txn_source & 0xFF) != self.own_source:
                self.foreign_after_end += 1
                self.foreign_by_table[table_id] = self.foreign_by_table.get(table_id, 0) + 1
            return None
        if change.table_id == table_id:
            return change
        return change._replace(table_id=table_id)  # the matcher's hint was wrong (rare)

    def select(self, changes: Iterable[RowChange]) -> list[RowChange]:
        """:meth:`apply` over many changes, keeping order."""
        out: list[RowChange] = []
        for change in changes:
            kept = self.apply(change)
            if kept is not None:
                out.append(kept)
        return out
