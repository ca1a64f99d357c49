"""Which records of a partition its compact actor has handled, and when one was skipped.

Why: around a rebalance Faust can hand an isolated actor a record and then the ones after a
gap, the records in between never delivered: the fetcher counts a record as read once its
delivery callback was called, delivered or not, and a seek to the committed offsets racing a
fetch that was already under way leaves a hole (measured: 2 workers × 8 partitions, hot
workload, 1 run in 8: partition 1 got offset 40, then 44; offsets 41–43, three ChangeBatches,
never came and the End check failed the job). With the merge buffer acknowledging only
what it wrote, nothing is committed past a hole, but the actor itself would merge on and reach
End without those batches.

So the actor checks every record's offset against the next one it expects: the records of
``[start, expected)`` were all handled (in order or re-delivered), and a record past
``expected`` means ``[expected, offset)`` were skipped. The actor then reads the partition again
from ``expected`` and leaves the early record unhandled (it comes again); records of the same
pass still queued (their offsets keep rising) are dropped without another seek. A record at or below
``expected`` is handled: a re-delivery after a seek back (a rebalance that kept the partition)
is harmless, merges are idempotent.

A hole that :data:`MAX_REREADS` re-reads cannot fill (the records are gone: retention, a
deleted topic) is reported, not retried for ever. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_REREADS", "DeliveryGuard", "Hole"]

#: re-reads of the same hole before the partition fails
MAX_REREADS = 3


@dataclass(frozen=True, slots=True)
class Hole:
    """Records ``[first, offset)`` were skipped: the record at ``offset`` is not handled."""

    first: int
    offset: int
    rereads: int
    """Passes over this hole so far, this one included."""
    seek: bool
    """A new pass reached the hole: read the partition again from ``first``. False: a record
    of the same pass (fetched before the seek took effect), dropped without another seek."""

    @property
    def hopeless(self) -> bool:
        """:data:`MAX_REREADS` re-reads and the records still did not come."""
        return self.rereads > MAX_REREADS


@dataclass(slots=True)
class DeliveryGuard:
    """The next offset a partition's actor expects (``None``: take the first as the start)."""

    expected: int | None = None
    _passes: int = 0
    #: the last offset found past the hole: a record at or below it starts a new pass
    _last_past: int | None = None

    def check(self, offset: int) -> Hole | None:
        """A record at ``offset`` arrived: None to handle it, or the hole before it."""
        if self.expected is not None and offset > self.expected:
            new_pass = self._last_past is None or offset <= self._last_past
            if new_pass:
                self._passes += 1
            self._last_past = offset
            return Hole(self.expected, offset, self._passes, new_pass)
        if self.expected is None or offset + 1 > self.expected:
            self.expected = offset + 1
            self._passes, self._last_past = 0, None
        return None
