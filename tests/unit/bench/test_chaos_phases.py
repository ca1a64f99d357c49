"""Where a job is, read from `tiundo run`'s stderr, worker logs and counter rows."""

from __future__ import annotations

import logging

from bench.chaos.phases import latest, view, worker_pid
from core.logs import LogConfig, make_handler

PINNED = "job record pinned: job j (instance a): window (1, 2], attempt 0\n"


def _line(pid: int, name: str, msg: str) -> str:
    """A worker log line exactly as :mod:`core.logs` writes it (text format)."""
    rec = logging.LogRecord(name, logging.INFO, __file__, 1, msg, None, None)
    rec.process = pid
    handler = make_handler(LogConfig("info", "", "text"), job="j", role="worker0")
    for f in handler.filters:
        f.filter(rec)  # the job and role fields
    return handler.format(rec) + "\n"


SEEK = _line(
    7337, "faust.tables.recovery", "[^---Recovery]: Seek stream partitions to committed offsets."
)
END = _line(7337, "app.stages.compact", "partition 1: End (T=1 E=2)")
PHASE0 = _line(
    7338, "app.stages.undo", "partition 1 table 105 phase 0: 17 statements in 17 transactions"
)


def test_phases_in_order() -> None:
    assert latest(view("", [], 0, [105])) == "start"
    assert latest(view(PINNED, [""], 0, [105])) == "ingest"
    assert latest(view(PINNED, [SEEK], 0, [105])) == "compaction"
    assert latest(view(PINNED, [SEEK + END], 0, [105])) == "end"
    assert latest(view(PINNED, [SEEK + END], 3, [105])) == "apply"
    v = view(PINNED, [SEEK, SEEK + END + PHASE0], 3, [105])
    assert latest(v) == "barrier" and v.barrier_workers == (1,)


def test_phase_0_of_a_table_with_a_primary_key_is_no_barrier() -> None:
    v = view(PINNED, [SEEK + END + PHASE0], 3, [106, 107])
    assert "barrier" not in v.reached


def test_worker_pid_is_the_newest_writers() -> None:
    assert worker_pid("tiundo worker: job j\n") is None
    assert worker_pid(SEEK + END) == 7337
    assert worker_pid(SEEK + PHASE0) == 7338  # restarted: the new process's pid
