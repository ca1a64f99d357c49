"""Where a job is, read from `tiundo run`'s stderr, worker logs and counter rows."""

from __future__ import annotations

from bench.chaos.phases import latest, view, worker_pid

PINNED = "job record pinned: job j (instance a): window (1, 2], attempt 0\n"
SEEK = (
    "[2026-12-04 18:12:50,869] [7337] [INFO] [^---Recovery]: "
    "Seek stream partitions to committed offsets.\n"
)
END = "[2026-12-04 18:12:50,888] [7337] [INFO] partition 1: End (T=1 E=2)\n"
PHASE0 = (
    "[2026-12-04 18:12:51,508] [7338] [INFO] "
    "partition 1 table 105 phase 0: 17 statements in 17 transactions\n"
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
