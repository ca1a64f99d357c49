"""Which phase a running job has reached, read from what it writes anyway (pure).

The runner reads ``tiundo run``'s stderr, the workers' logs and the downstream counter rows;
this module turns them into the phases of :data:`bench.chaos.plan.PHASES`:

- ``ingest``: the job record is pinned (``job record pinned``), the EventFeed is being read;
- ``compaction``: a worker has its partitions (``Seek stream partitions``) and compacts;
- ``end``: a partition saw END (``partition N: End (…)``) and mounts/plans;
- ``apply``: undo transactions are committed downstream (counter rows exist);
- ``barrier``: phase 0 of a `_tidb_rowid` table finished on some partition
  (``partition N table TID phase 0: …``) and its phase 1 waits for the other partitions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bench.chaos.plan import PHASES

__all__ = ["View", "latest", "view", "worker_pid"]

#: ``<date> <time> <LEVEL> job=<job> <role>[<pid>] <logger>: …`` (:data:`core.logs.TEXT_FORMAT`)
_PID = re.compile(r"^\S+ \S+ \S+ job=\S* [^\s\[]+\[(\d+)\] ", re.MULTILINE)
_END = re.compile(r"partition \d+: End \(")


@dataclass(frozen=True, slots=True)
class View:
    """Phases reached; ``barrier_workers`` = indexes of workers that finished a rowid phase 0."""

    reached: frozenset[str]
    barrier_workers: tuple[int, ...] = ()


def view(run_err: str, worker_logs: Sequence[str], applied: int, rowid_tids: Sequence[int]) -> View:
    """The phases reached, given the texts written since this attempt started."""
    got = {"start"}
    if "job record pinned" in run_err:
        got.add("ingest")
    if any("Seek stream partitions" in log for log in worker_logs):
        got.add("compaction")
    if any(_END.search(log) for log in worker_logs):
        got.add("end")
    if applied > 0:
        got.add("apply")
    barrier = []
    for i, log in enumerate(worker_logs):
        for tid in rowid_tids:
            if re.search(rf"partition \d+ table {tid} phase 0:", log):
                barrier.append(i)
                break
    if barrier:
        got.add("barrier")
    return View(frozenset(got), tuple(barrier))


def latest(v: View) -> str:
    """The furthest phase reached (what a fault striking now hits)."""
    return max(v.reached, key=PHASES.index)


def worker_pid(log: str) -> int | None:
    """The pid of the newest process that wrote a worker log (its lines carry ``[pid]``)."""
    found = _PID.findall(log)
    return int(found[-1]) if found else None
