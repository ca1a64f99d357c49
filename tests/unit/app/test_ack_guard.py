"""Only the compact stage's flushes ack ``<job>.kv`` records (issue 15).

Faust acks a record it skips after a rebalance even on a ``noack()`` stream; for a partition
without a committed offset its next commit would then pass over records merged in memory and
not written yet. The worker's consumer refuses those acks.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from app.main import FLUSHED_ACK, guard_acks


class _Consumer:
    def __init__(self) -> None:
        self.acked: list[tuple[str, int]] = []

    def ack(self, message: Any) -> bool:
        self.acked.append((message.topic, message.offset))
        return True


def test_kv_records_are_acked_by_flushes_only() -> None:
    consumer = _Consumer()
    guard_acks(consumer, "job.kv")

    assert consumer.ack(SimpleNamespace(topic="job.kv", offset=5)) is False  # Faust's own
    token = FLUSHED_ACK.set(True)
    try:
        assert consumer.ack(SimpleNamespace(topic="job.kv", offset=6)) is True  # a flush's
    finally:
        FLUSHED_ACK.reset(token)
    # other topics (the tables' changelogs in recovery) are Faust's to ack
    assert consumer.ack(SimpleNamespace(topic="tiundo-job-compact-changelog", offset=1))
    assert consumer.acked == [("job.kv", 6), ("tiundo-job-compact-changelog", 1)]
