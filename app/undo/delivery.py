"""Which records of a partition its compact actor has handled, and when one was skipped.

Why: around a rebalance Faust can hand an isolated actor a record and then the ones after a
gap, the records in between never delivered: its fetcher drops a record whose offset is below
the last one it handed out, and a batch fetched before a seek to the committed offsets keeps
raising that mark after the seek reset it (measured: 2 workers × 8 partitions, hot workload,
1 run in 8: partition 1 got offset 40, then 44; offsets 41–43, three ChangeBatches, never came
and the End check failed the job). With the merge buffer acknowledging only what it wrote,
nothing is committed past a hole, but the actor itself would merge on and reach End without
those batches.

So the actor checks every record's offset against the next one it expects: the records of
``[start, expected)`` were all handled (in order or re-delivered), and a record past
``expected`` means ``[expected, offset)`` were skipped; the actor reads them itself
(:mod:`app.stages.refetch`) before it handles that record. A record at or below ``expected``
is handled: a re-delivery after a seek back (a rebalance that kept the partition) is
harmless, merges are idempotent. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeliveryGuard", "Hole"]


@dataclass(frozen=True, slots=True)
class Hole:
    """Records ``[first, offset)`` were skipped before the record at ``offset``."""

    first: int
    offset: int


@dataclass(slots=True)
class DeliveryGuard:
    """The next offset a partition's actor expects (``None``: take the first as the start)."""

    expected: int | None = None

    def check(self, offset: int) -> Hole | None:
        """A record at ``offset`` arrived; None when nothing before it is missing.

        Returns the hole otherwise; :meth:`filled` once its records are handled.
        """
        if self.expected is not None and offset > self.expected:
            return Hole(self.expected, offset)
        if self.expected is None or offset + 1 > self.expected:
            self.expected = offset + 1
        return None

    def filled(self, hole: Hole) -> None:
        """The hole's records were handled: expect the record that found it."""
        if self.expected is not None and self.expected >= hole.first:
            self.expected = max(self.expected, hole.offset)
