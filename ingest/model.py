"""Records that cross the ingest stages, with kvproto/TiCDC names kept.

Pure: stdlib only (not even the generated ``proto`` modules). The matcher reads rows through
the :class:`EventRow` protocol, which both a ``cdcpb.Event.Row`` (the shell passes them as
parsed, so the hot path builds no per-row copy) and a :class:`FeedRow` satisfy; the shell
converts each PD/``metapb`` region into a :class:`RegionInfo`. Everything after the matcher
(filter, frontier, partitioner, batcher) works on these records.

Key spaces (facts/eventfeed.md §2.6): :class:`Span` bounds and region boundaries are
memcomparable-ENCODED keys (the PD/region space); :attr:`FeedRow.key` and
:attr:`RowChange.key` are RAW keys, exactly as TiKV sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple, Protocol

__all__ = [
    "Change",
    "EventRow",
    "FeedRow",
    "FoldedChange",
    "LogType",
    "OpType",
    "RegionEpoch",
    "RegionInfo",
    "RowChange",
    "Span",
]


class LogType(IntEnum):
    """``cdcpb.Event.LogType``: what a row of an Entries event is (numbers are the wire values)."""

    UNKNOWN = 0
    PREWRITE = 1
    COMMIT = 2
    ROLLBACK = 3
    COMMITTED = 4
    INITIALIZED = 5


class OpType(IntEnum):
    """``cdcpb.Event.Row.OpType``: whether the change writes or deletes the key."""

    UNKNOWN = 0
    PUT = 1
    DELETE = 2


class EventRow(Protocol):
    """What the matcher reads of a row: the fields of ``cdcpb.Event.Row``, read-only.

    ``type`` is the wire log type (:class:`LogType` numbers) and ``op_type`` the wire op type
    (:class:`OpType` numbers); values outside those enums are possible on the wire and mean
    UNKNOWN. Rows are only read during :meth:`ingest.matcher.Matcher.feed`; whatever the
    matcher keeps is copied into a :class:`FeedRow`.
    """

    @property
    def start_ts(self) -> int: ...  # noqa: D102
    @property
    def commit_ts(self) -> int: ...  # noqa: D102
    @property
    def type(self) -> int: ...  # noqa: D102
    @property
    def op_type(self) -> int: ...  # noqa: D102
    @property
    def key(self) -> bytes: ...  # noqa: D102
    @property
    def value(self) -> bytes: ...  # noqa: D102
    @property
    def old_value(self) -> bytes: ...  # noqa: D102
    @property
    def txn_source(self) -> int: ...  # noqa: D102
    @property
    def generation(self) -> int: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One ``cdcpb.Event.Row`` as TiKV sent it (``type`` is named ``log_type`` here).

    ``commit_ts`` is 0 for PREWRITE and ROLLBACK; ``old_value`` is empty when there is none;
    ``expire_ts_unix_secs`` (RawKV only) is not carried.
    """

    start_ts: int
    commit_ts: int
    log_type: LogType
    op_type: OpType = OpType.UNKNOWN
    key: bytes = b""
    value: bytes = b""
    old_value: bytes = b""
    txn_source: int = 0
    generation: int = 0

    @property
    def type(self) -> LogType:
        """``log_type`` under its wire name, so a FeedRow is an :class:`EventRow`."""
        return self.log_type


class RowChange(NamedTuple):
    """A committed change of one raw key, value and old value joined (TiCDC ``RawKVEntry``).

    ``table_id`` is ``None`` as the matcher emits it; the key filter
    (:mod:`ingest.keyspace`) fills it in for record keys of selected tables.
    ``op_type`` is PUT or DELETE, never UNKNOWN.

    A named tuple, not a dataclass: one is built for every change the feed delivers, and a
    frozen dataclass took 1.15 µs to build where ``RowChange._make`` (no argument parsing, what
    the hot paths call) takes 0.17 µs (CPython 3.11, this project's 2-core machine).
    """

    region_id: int
    table_id: int | None
    key: bytes
    start_ts: int
    commit_ts: int
    op_type: OpType
    value: bytes
    old_value: bytes
    txn_source: int = 0


class FoldedChange(NamedTuple):
    """Several changes of one key in ``(T, E]``, folded by :mod:`ingest.fold`: their two ends.

    The first nine fields read like a :class:`RowChange` of the EARLIEST change
    (``start_ts``, ``commit_ts``, ``op_type``, ``old_value`` = the row at ``T``), except
    ``value``: the LATEST change's value (the row at ``E``). ``last_*`` describe the latest
    change; ``versions`` (>= 2) is how many changes the record stands for.
    """

    region_id: int
    table_id: int | None
    key: bytes
    start_ts: int
    commit_ts: int
    op_type: OpType
    value: bytes
    old_value: bytes
    txn_source: int
    last_start_ts: int
    last_commit_ts: int
    last_op_type: OpType
    versions: int


#: what the batcher and the record encoder carry
Change = RowChange | FoldedChange


@dataclass(frozen=True, slots=True)
class Span:
    """Encoded key range ``[start, end)``; ``end == b""`` means +infinity (PD's convention).

    ``start == b""`` is simply the smallest key. An empty range is rejected because no region,
    table or frontier part can be empty.
    """

    start: bytes
    end: bytes

    def __post_init__(self) -> None:
        if self.end != b"" and self.end <= self.start:
            raise ValueError(f"empty span: start={self.start.hex()} end={self.end.hex()}")

    def contains(self, key: bytes) -> bool:
        """Whether the encoded ``key`` lies in the span."""
        return self.start <= key and (self.end == b"" or key < self.end)

    def overlaps(self, other: Span) -> bool:
        """Whether the two spans share at least one key."""
        return _lt_end(self.start, other.end) and _lt_end(other.start, self.end)

    def intersect(self, other: Span) -> Span | None:
        """The common part of the two spans, or ``None`` if they do not overlap."""
        if not self.overlaps(other):
            return None
        start = max(self.start, other.start)
        if self.end == b"":
            end = other.end
        elif other.end == b"":
            end = self.end
        else:
            end = min(self.end, other.end)
        return Span(start, end)

    def __str__(self) -> str:
        return f"[{self.start.hex()}, {self.end.hex() or '+inf'})"


def _lt_end(key: bytes, end: bytes) -> bool:
    """``key < end`` where an empty ``end`` is +infinity."""
    return end == b"" or key < end


@dataclass(frozen=True, slots=True)
class RegionEpoch:
    """``metapb.RegionEpoch``: ``version`` moves on split/merge, ``conf_ver`` on peer changes."""

    conf_ver: int
    version: int


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """What the shell knows of a region from PD (``metapb.Region`` + leader ``Peer``).

    ``leader_store_id`` is 0 when PD does not know the leader (it sends an empty Peer).
    ``peer_store_ids`` lists the stores holding a peer, leader included. ``leader_peer_id``
    is the leader peer's id, which TiKV's transactional RPCs check (``kvrpcpb.Context.peer``);
    recordings do not keep it, so it takes no part in comparisons.
    """

    region_id: int
    span: Span
    epoch: RegionEpoch
    leader_store_id: int = 0
    peer_store_ids: tuple[int, ...] = field(default_factory=tuple)
    leader_peer_id: int = field(default=0, compare=False)
