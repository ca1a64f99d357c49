"""Distinct transactions among the changes the ingest accepted (the RPO's "transactions undone").

A TiDB transaction is named by its ``start_ts`` (a PD TSO, unique), and every key it wrote
commits with the same ``commit_ts``. The count must be exact although a re-registered region
may deliver a change twice, so it needs a set of ``start_ts``; kept whole, that set would grow
with the history (10 M single-row transactions ≈ 600 MB). It does not have to: once the
watermark passed ``W`` no change with ``commit_ts <= W`` can come any more (the batcher refuses
one, :class:`~ingest.batcher.LateChangeError`), so the transactions committed at or below ``W``
are final and only their number is kept. Pruning runs when the pending map has doubled since
the last one, so its cost stays O(1) per transaction (amortised). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from ingest.model import RowChange

__all__ = ["TxnCounter"]

#: (start_ts, commit_ts) of a change
_TXN = attrgetter("start_ts", "commit_ts")


class TxnCounter:
    """Counts distinct ``start_ts`` of the changes added; see the module docstring."""

    __slots__ = ("_floor", "_next_prune", "_pending", "_settled")

    def __init__(self, prune_floor: int = 4096) -> None:
        if prune_floor < 1:
            raise ValueError(f"prune_floor must be >= 1, got {prune_floor}")
        self._floor = prune_floor
        #: start_ts → commit_ts of transactions above the last settled watermark
        self._pending: dict[int, int] = {}
        self._settled = 0
        self._next_prune = prune_floor

    def add(self, changes: Sequence[RowChange]) -> None:
        """Note the transactions of accepted changes (a change seen twice counts once)."""
        # one C-level map, no Python loop: this runs for every change the feed delivers
        self._pending.update(map(_TXN, changes))

    def settle(self, watermark_ts: int) -> None:
        """Every change with ``commit_ts <= watermark_ts`` has been added: forget those ids."""
        pending = self._pending
        if len(pending) < self._next_prune:
            return
        done = [start for start, commit in pending.items() if commit <= watermark_ts]
        for start in done:
            del pending[start]
        self._settled += len(done)
        self._next_prune = max(self._floor, 2 * len(pending))

    @property
    def count(self) -> int:
        """Distinct transactions added so far."""
        return self._settled + len(self._pending)

    @property
    def pending(self) -> int:
        """Transactions still held by id (above the last settled watermark)."""
        return len(self._pending)
