"""``tiundo run`` stops its workers at once, not one after another.

Each Faust worker takes 1–2 s to stop; stopped in turn, W workers added W of those to every
job's RTO (the bench's tail from the last undo to the exit grew with the workers: ~3.5 s with
2, ~6.5 s with 4), and a stop that raised left the later workers running.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from app.cli.run import stop_all


class _Proc:
    """A worker whose stop returns only once every other worker's stop has begun too."""

    def __init__(self, barrier: threading.Barrier, fail: bool = False) -> None:
        self.barrier = barrier
        self.fail = fail
        self.stopped = False

    def stop(self, timeout_s: float = 30.0) -> None:
        self.barrier.wait(timeout=5)  # BrokenBarrierError when the stops run one by one
        self.stopped = True
        if self.fail:
            raise OSError("no such process")


def test_every_worker_is_stopping_at_the_same_time() -> None:
    barrier = threading.Barrier(4)
    procs: list[Any] = [_Proc(barrier) for _ in range(4)]
    asyncio.run(stop_all(procs))
    assert all(p.stopped for p in procs)


def test_a_failing_stop_still_stops_the_others_then_raises() -> None:
    barrier = threading.Barrier(3)
    procs: list[Any] = [_Proc(barrier, fail=True), _Proc(barrier), _Proc(barrier)]
    with pytest.raises(OSError, match="no such process"):
        asyncio.run(stop_all(procs))
    assert all(p.stopped for p in procs)


def test_no_workers_is_nothing_to_stop() -> None:
    asyncio.run(stop_all([]))
