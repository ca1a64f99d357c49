"""app.rpo: the RPO figures from a job's start, its window and what the ingest read."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.rpo import Rpo, physical_ms, rpo, rpo_fields, rpo_line, rpo_of_status
from proto import tiundo_pb2

S = tiundo_pb2.JobStatus


def tso(ms: int, logical: int = 0) -> int:
    return ms << 18 | logical


def test_figures_from_the_window_and_the_start() -> None:
    got = rpo(
        started_unix_ms=1_700_000_060_000,
        primary_ts=tso(1_700_000_000_000, 5),
        target_ts=tso(1_700_000_001_000, 7),
        end_ts=tso(1_700_000_031_250, 1),
        changes=120,
        transactions=12,
    )
    assert got == Rpo(point_age_ms=60_000, window_ms=30_250, changes_undone=120,
                      transactions_undone=12)  # fmt: skip


def test_no_upstream_point_without_a_syncpoint() -> None:
    got = rpo(started_unix_ms=5, primary_ts=0, target_ts=tso(1), end_ts=tso(3), changes=0,
              transactions=0)  # fmt: skip
    assert got.point_age_ms is None and got.window_ms == 2
    assert "unknown (T given by flag: no upstream point)" in rpo_line(got)


def test_line_and_fields() -> None:
    r = Rpo(1_234, 500, 7, 2)
    assert rpo_line(r, when="now") == (
        "  RPO: upstream point age at now = 1.234 s   window undone (E - T) = 0.500 s   "
        "changes undone = 7   transactions undone = 2"
    )
    assert rpo_fields(r) == {
        "point_age_ms": 1_234,
        "window_ms": 500,
        "changes_undone": 7,
        "transactions_undone": 2,
    }


def test_a_running_job_has_no_counts_yet() -> None:
    status = S(state=S.RUNNING, target_ts=tso(10), end_ts=tso(20), primary_ts=tso(9))
    got = rpo_of_status(status, 100)
    assert got == Rpo(91, 10, None, None)
    assert "changes undone = unknown   transactions undone = unknown" in rpo_line(got)


def test_a_failed_job_whose_partitions_did_not_all_report_has_no_counts() -> None:
    status = S(state=S.FAILED, target_ts=tso(10), end_ts=tso(20))
    assert rpo_of_status(status, 100).changes_undone is None
    status.changes_undone, status.transactions_undone = 4, 2
    assert rpo_of_status(status, 100).transactions_undone == 2


def test_a_succeeded_job_with_nothing_in_its_window_undid_nothing() -> None:
    status = S(state=S.SUCCEEDED, target_ts=tso(10), end_ts=tso(20))
    assert rpo_of_status(status, 0) == Rpo(None, 10, 0, 0)


@given(
    st.integers(0, 2**45),
    st.integers(0, 2**18 - 1),
    st.integers(0, 2**45),
    st.integers(0, 2**18 - 1),
)
def test_window_is_the_physical_distance_whatever_the_logical_parts(
    t_ms: int, t_log: int, width_ms: int, e_log: int
) -> None:
    target, end = tso(t_ms, t_log), tso(t_ms + width_ms, e_log)
    got = rpo(started_unix_ms=0, primary_ts=0, target_ts=target, end_ts=end, changes=None,
              transactions=None)  # fmt: skip
    assert got.window_ms == width_ms == physical_ms(end) - physical_ms(target)
