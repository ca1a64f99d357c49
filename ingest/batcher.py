"""Groups committed changes into Kafka records and orders them with watermarks and END.

One :class:`ChangeBatch` holds changes of ONE table for ONE partition, bounded by a change count
and a byte estimate. Watermarks go to every partition; so does END.

Invariant (what the downstream relies on; a property test checks it): in the concatenation
of every list this batcher returns, for each partition ``p``,

1. every change accepted by :meth:`Batcher.add` with ``commit_ts <= W`` appears in a
   ``ChangeBatch`` of ``p`` placed before ``Watermark(p, W)``;
2. every accepted change appears before ``End(p)``, and nothing for ``p`` follows ``End(p)``;
3. each accepted change appears exactly once, and watermarks of ``p`` strictly increase.

:meth:`Batcher.add` enforces the other half: a change at or below the last watermark is refused
(:class:`LateChangeError`), since the frontier promised there would be none. A watermark flushes
only the open batches holding a change at or below it; the others keep filling. The shell must
send the outputs of each partition in the returned order (one producer, idempotent, so retries
do not reorder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

from core.errors import TiundoError
from ingest.model import Change, FoldedChange
from ingest.partitioner import Partitioner

__all__ = [
    "CHANGE_OVERHEAD",
    "FOLDED_OVERHEAD",
    "Batcher",
    "ChangeBatch",
    "End",
    "LateChangeError",
    "Output",
    "Watermark",
    "change_size",
]

#: bytes a change costs in a record beyond key, value and old value (timestamps, tags)
CHANGE_OVERHEAD = 32
#: what a folded record adds (versions, last_start_ts, last_commit_ts, last_op_type)
FOLDED_OVERHEAD = 32

_COMMIT_TS = attrgetter("commit_ts")
_TABLE_ID = attrgetter("table_id")


def change_size(change: Change) -> int:
    """Estimated encoded size of one change in a record."""
    size = len(change.key) + len(change.value) + len(change.old_value) + CHANGE_OVERHEAD
    return size + FOLDED_OVERHEAD if type(change) is FoldedChange else size


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Changes of one table for one partition, in the order they were added."""

    partition: int
    table_id: int
    changes: tuple[Change, ...]
    nbytes: int

    @property
    def min_commit_ts(self) -> int:
        """Smallest ``commit_ts`` in the batch."""
        return min(c.commit_ts for c in self.changes)

    @property
    def max_commit_ts(self) -> int:
        """Largest ``commit_ts`` in the batch."""
        return max(c.commit_ts for c in self.changes)


@dataclass(frozen=True, slots=True)
class Watermark:
    """Every change with ``commit_ts <= resolved_ts`` for this partition came before."""

    partition: int
    resolved_ts: int


@dataclass(frozen=True, slots=True)
class End:
    """Every change of the job (``commit_ts <= end_ts``) for this partition came before."""

    partition: int
    end_ts: int
    #: distinct transactions of the whole job (every partition's End says the same)
    transactions: int = 0


Output = ChangeBatch | Watermark | End


class LateChangeError(TiundoError):
    """A change arrived at or below a watermark already emitted, or after END. Not retriable.

    It means the frontier was wrong (a bug): the downstream may already have acted on the
    watermark, so the job must not report success.
    """


class _Open:
    """A batch being filled."""

    __slots__ = ("changes", "min_commit_ts", "nbytes")

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.nbytes = 0
        self.min_commit_ts = 0


class Batcher:
    """Accumulates changes per (partition, table) and interleaves watermarks and END."""

    __slots__ = ("_ended", "_open", "max_bytes", "max_changes", "partitioner", "watermark_ts")

    def __init__(
        self,
        partitioner: Partitioner,
        *,
        max_changes: int = 1024,
        max_bytes: int = 512 * 1024,
    ) -> None:
        if max_changes < 1 or max_bytes < 1:
            raise ValueError(f"bad batch bounds: max_changes={max_changes} max_bytes={max_bytes}")
        self.partitioner = partitioner
        self.max_changes = max_changes
        self.max_bytes = max_bytes
        self.watermark_ts = 0
        self._open: dict[tuple[int, int], _Open] = {}
        self._ended = False

    @property
    def pending_changes(self) -> int:
        """Changes accepted and not yet returned in a batch."""
        return sum(len(b.changes) for b in self._open.values())

    def add(self, change: Change) -> list[ChangeBatch]:
        """Accept a change (``table_id`` set); return the batches that became full.

        A batch is closed before a change that would push it past ``max_bytes`` and when it
        reaches ``max_changes``; a single change larger than ``max_bytes`` travels alone.
        """
        return self.add_many((change,))

    def add_many(self, changes: Sequence[Change]) -> list[ChangeBatch]:
        """:meth:`add` for each change, in order; the full batches in order.

        All or nothing: if any change is refused (no ``table_id``, at or below the watermark,
        after END), the error names the first such change and none of them is accepted. (A
        ``ValueError`` from the partitioner, a key that is not a record key of its spread
        table, is a bug upstream: changes before that one stay accepted.)
        """
        if not changes:
            return []
        if (
            self._ended
            or min(map(_COMMIT_TS, changes)) <= self.watermark_ts
            or None in map(_TABLE_ID, changes)
        ):
            for change in changes:
                self._refuse(change)
        out: list[ChangeBatch] = []
        opened, close = self._open, self._close
        max_changes, max_bytes = self.max_changes, self.max_bytes
        partitioner = self.partitioner
        spread, for_table = partitioner.spread_tables, partitioner.for_table
        last_table: int | None = None
        last_slot = (0, 0)
        for change in changes:
            table_id = change.table_id
            assert table_id is not None  # refused above
            # one Entries event is mostly one table: its slot is computed once
            if table_id in spread:
                slot = (partitioner.partition(table_id, change.key), table_id)
            elif table_id == last_table:
                slot = last_slot
            else:
                last_table = table_id
                slot = last_slot = (for_table(table_id), table_id)
            commit_ts = change.commit_ts
            size = len(change.key) + len(change.value) + len(change.old_value) + CHANGE_OVERHEAD
            if type(change) is FoldedChange:
                size += FOLDED_OVERHEAD
            batch = opened.get(slot)
            if batch is not None and batch.nbytes + size > max_bytes:
                out.append(close(slot))
                batch = None
            if batch is None:
                batch = opened[slot] = _Open()
                batch.min_commit_ts = commit_ts
            elif commit_ts < batch.min_commit_ts:
                batch.min_commit_ts = commit_ts
            batch.changes.append(change)
            batch.nbytes += size
            if len(batch.changes) >= max_changes or batch.nbytes >= max_bytes:
                out.append(close(slot))
        return out

    def _refuse(self, change: Change) -> None:
        """Raise if :meth:`add` may not accept ``change``."""
        table_id = change.table_id
        if table_id is None:
            raise ValueError(f"change without table_id (key {change.key.hex()}): filter first")
        if self._ended:
            raise LateChangeError(
                f"change after END: table {table_id} key {change.key.hex()} "
                f"commit_ts {change.commit_ts}"
            )
        if change.commit_ts <= self.watermark_ts:
            raise LateChangeError(
                f"change at or below watermark {self.watermark_ts}: table {table_id} "
                f"region {change.region_id} key {change.key.hex()} commit_ts {change.commit_ts}"
            )

    def watermark(self, resolved_ts: int) -> list[Output]:
        """Batches holding changes ``<= resolved_ts``, then a Watermark for every partition.

        Returns nothing if ``resolved_ts`` is not above the last watermark (or after END).
        """
        if resolved_ts <= self.watermark_ts or self._ended:
            return []
        out: list[Output] = []
        for slot in sorted(self._open):
            if self._open[slot].min_commit_ts <= resolved_ts:
                out.append(self._close(slot))
        self.watermark_ts = resolved_ts
        out.extend(Watermark(p, resolved_ts) for p in range(self.partitioner.partitions))
        return out

    def flush(self) -> list[ChangeBatch]:
        """Close every open batch (e.g. on a linger timer); watermarks are not affected."""
        return [self._close(slot) for slot in sorted(self._open)]

    def end(self, end_ts: int, transactions: int = 0) -> list[Output]:
        """Close every open batch, then END for every partition; the batcher accepts no more.

        ``transactions``: the job's distinct transactions, carried by every END (the RPO).
        """
        if self._ended:
            return []
        out: list[Output] = list(self.flush())
        self._ended = True
        out.extend(End(p, end_ts, transactions) for p in range(self.partitioner.partitions))
        return out

    def _close(self, slot: tuple[int, int]) -> ChangeBatch:
        batch = self._open.pop(slot)
        return ChangeBatch(slot[0], slot[1], tuple(batch.changes), batch.nbytes)
