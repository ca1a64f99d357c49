"""A partition's changes merged in memory across batches, written to the compact table per flush.

Why: a changelogged table write cost ~0.3–0.6 ms per key (one changelog record each, until
flushes wrote chunks of keys, :mod:`app.undo.chunk`), so writing every key of every
ChangeBatch made compaction cost follow events (10× the events on the same keys: 2.5–3× the
time, issue 15). The merge (:mod:`app.undo.merge`) is order-free and idempotent, so a key's
changes can be folded here first and its state written once per flush: cost follows distinct
keys per flush. Kafka offsets are acknowledged only after the flush that covers them
(:mod:`app.stages.compact_flush`): a crash before it re-delivers, and the merge absorbs it.

A key enters the buffer with its stored state (``base``), so a flush writes absolute states and
can be retried as a whole. The seqs of the batches merged are kept with their change counts and
written with the flush, so the End completeness check counts a batch only once it is durable.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.undo.merge import KeyState, combine, state_of
from app.undo.model import ChangeLike

__all__ = ["FlushPolicy", "MergeBuffer"]


class _Acc:
    """A key's state being merged: :class:`KeyState`'s fields, mutable (no object per change)."""

    __slots__ = (
        "changes", "first_conflict", "first_op", "first_start", "first_ts",
        "last_conflict", "last_op", "last_start", "last_ts", "old_value", "value",
    )  # fmt: skip

    def __init__(self, s: KeyState) -> None:
        self.load(s)

    def load(self, s: KeyState) -> None:
        self.first_ts, self.first_start, self.first_op = (
            s.first_commit_ts, s.first_start_ts, s.first_op_type,
        )  # fmt: skip
        self.last_ts, self.last_start, self.last_op = (
            s.last_commit_ts, s.last_start_ts, s.last_op_type,
        )  # fmt: skip
        self.old_value, self.value, self.changes = s.old_value, s.value, s.changes
        self.first_conflict, self.last_conflict = s.first_conflict, s.last_conflict

    def state(self) -> KeyState:
        return KeyState(
            first_commit_ts=self.first_ts,
            first_start_ts=self.first_start,
            first_op_type=self.first_op,
            old_value=self.old_value,
            last_commit_ts=self.last_ts,
            last_start_ts=self.last_start,
            last_op_type=self.last_op,
            value=self.value,
            changes=self.changes,
            first_conflict=self.first_conflict,
            last_conflict=self.last_conflict,
        )

    def absorb(self, change: ChangeLike) -> None:
        """``combine(self, state_of(change))``, in place; a tie takes :func:`combine` itself."""
        ts = change.commit_ts
        if ts == self.first_ts or ts == self.last_ts:  # a duplicate or a conflict: exact rule
            self.load(combine(self.state(), state_of(change)))
            return
        if ts < self.first_ts:
            self.first_ts, self.first_start, self.first_op = ts, change.start_ts, change.op_type
            self.old_value, self.first_conflict = bytes(change.old_value), False
        if ts > self.last_ts:
            self.last_ts, self.last_start, self.last_op = ts, change.start_ts, change.op_type
            self.value, self.last_conflict = bytes(change.value), False
        self.changes += 1

    def absorb_state(self, s: KeyState) -> None:
        """``combine(self, s)``, in place; a tie takes :func:`combine` itself."""
        if s.first_commit_ts == self.first_ts or s.last_commit_ts == self.last_ts:
            self.load(combine(self.state(), s))
            return
        if s.first_commit_ts < self.first_ts:
            self.first_ts, self.first_start, self.first_op = (
                s.first_commit_ts, s.first_start_ts, s.first_op_type,
            )  # fmt: skip
            self.old_value, self.first_conflict = s.old_value, s.first_conflict
        if s.last_commit_ts > self.last_ts:
            self.last_ts, self.last_start, self.last_op = (
                s.last_commit_ts, s.last_start_ts, s.last_op_type,
            )  # fmt: skip
            self.value, self.last_conflict = s.value, s.last_conflict
        self.changes += s.changes


class MergeBuffer:
    """Row key → merged :class:`KeyState`, plus the batch seqs merged since the last flush."""

    def __init__(self) -> None:
        self._acc: dict[bytes, _Acc] = {}
        self._seqs: dict[int, int] = {}
        #: changes merged since the last flush (deliveries, duplicates included)
        self.changes = 0

    def __contains__(self, key: object) -> bool:
        return key in self._acc

    def __len__(self) -> int:
        """Distinct keys buffered."""
        return len(self._acc)

    def add_change(self, key: bytes, change: ChangeLike, base: KeyState | None = None) -> None:
        """Fold one change of ``key`` into its buffered state (the compaction's hot loop).

        ``base`` (the key's stored state) is taken only when the key is not buffered yet: once
        buffered, the buffered state already includes it.
        """
        acc = self._acc.get(key)
        if acc is not None:
            acc.absorb(change)
        elif base is None:
            self._acc[key] = _Acc(state_of(change))
        else:
            acc = self._acc[key] = _Acc(base)
            acc.absorb(change)
        self.changes += 1

    def add_state(self, key: bytes, state: KeyState, base: KeyState | None = None) -> None:
        """:meth:`add_change` for a state that stands for ``state.changes`` changes (folded)."""
        acc = self._acc.get(key)
        if acc is not None:
            acc.absorb_state(state)
        elif base is None:
            self._acc[key] = _Acc(state)
        else:
            acc = self._acc[key] = _Acc(base)
            acc.absorb_state(state)
        self.changes += state.changes

    def add(self, key: bytes, changes: Iterable[ChangeLike], base: KeyState | None = None) -> None:
        """:meth:`add_change` for each of ``changes``."""
        for change in changes:
            self.add_change(key, change, base)

    def add_batch(self, seq: int, changes: int) -> None:
        """Note a ChangeBatch as merged (its seq and size, for the End completeness check)."""
        self._seqs[seq] = changes

    def states(self) -> dict[bytes, KeyState]:
        """The buffered states, to write."""
        return {key: acc.state() for key, acc in self._acc.items()}

    @property
    def seqs(self) -> Mapping[int, int]:
        """Seq → changes of the batches merged since the last flush."""
        return self._seqs

    @property
    def empty(self) -> bool:
        """Nothing to write (no key, no batch seq)."""
        return not self._acc and not self._seqs

    def clear(self) -> None:
        """Forget everything (after a flush that wrote it, or when the partition is dropped)."""
        self._acc = {}
        self._seqs = {}
        self.changes = 0


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """When a partition's buffer is written and its records acknowledged.

    - ``size``: the buffer holds ``max_changes`` changes (bounds memory and re-delivery);
    - ``caught up``: the record just handled was the last one Kafka holds for the partition
      (``lag == 0``): nothing to coalesce with, write now;
    - ``age``: the oldest record not written yet arrived ``max_delay_s`` ago: while the ingest
      runs the lag is rarely 0, and writing only at END would serialise all the writes after
      the ingest instead of overlapping them with it;
    - ``idle``: nothing arrived for ``idle_s`` (a safety net when the lag is unknown);
    - End: always, before the undo (the caller forces it).

    Within ``max_delay_s`` the buffer keeps merging: the more a worker is behind, the more
    records one window holds, and the more of a key's changes become one write. (Faust's own
    queue is no guide: it hands records over one at a time, so it looks empty even with a
    backlog.)
    """

    max_changes: int
    idle_s: float
    max_delay_s: float

    def due(self, changes: int, pending: int, lag: int | None, age_s: float) -> str:
        """Why a flush is due after a record (empty: not due).

        ``pending``: records not acked yet; ``lag``: records of the partition Kafka holds after
        this one (None: unknown); ``age_s``: since the oldest pending record arrived.
        """
        if not pending:
            return ""
        if changes >= self.max_changes:
            return "size"
        if lag is not None and lag <= 0:
            return "caught up"
        if age_s >= self.max_delay_s:
            return "age"
        return ""

    def idle_due(self, pending: int, idle_for_s: float) -> bool:
        """Whether a partition with ``pending`` unacked records idle that long must flush."""
        return pending > 0 and idle_for_s >= self.idle_s
