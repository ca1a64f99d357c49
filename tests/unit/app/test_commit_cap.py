"""``<job>.kv`` commits never pass what the compact stage wrote (issue 15).

Faust acks a record it skips (fetched before a rebalance or a recovery finished) even on a
``noack()`` stream; with the records before it merged in memory and not written, a commit of
Faust's offset then a kill -9 lost them (``test_compact_buffer_kill9``: 2 runs of 8).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from app.main import FLUSHED, cap_commits


class _Consumer:
    """Faust's commit computation, reduced to "everything acked up to ``acked``"."""

    def __init__(self, acked: int) -> None:
        self.acked = acked

    def _new_offset(self, tp: Any) -> int | None:
        return self.acked


def test_kv_commits_stop_at_what_a_flush_wrote() -> None:
    consumer = _Consumer(acked=500)
    cap_commits(consumer, "job.kv")
    kv0, kv1 = (
        SimpleNamespace(topic="job.kv", partition=0),
        SimpleNamespace(topic="job.kv", partition=1),
    )
    FLUSHED.clear()
    try:
        assert consumer._new_offset(kv0) is None  # nothing written yet: nothing committed
        FLUSHED[0] = 120
        assert consumer._new_offset(kv0) == 120  # Faust's 500 includes skipped records
        FLUSHED[0] = 900
        assert consumer._new_offset(kv0) == 500  # never past what Faust saw acked either
        assert consumer._new_offset(kv1) is None
        # other topics (the tables' changelogs in recovery) are Faust's own
        assert consumer._new_offset(SimpleNamespace(topic="x-changelog", partition=0)) == 500
    finally:
        FLUSHED.clear()
