"""The oracle's verdicts: a false success is told apart from an honest failure and a hang."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench.chaos.oracle import Observed, Outcome, TableDiff, classify, foreign_in_time, row_diff

BAD = (TableDiff("t", 1, 0),)


def test_success_at_t_is_ok() -> None:
    assert classify(Observed(0)) is Outcome.OK


def test_success_not_at_t_is_a_false_success() -> None:
    assert classify(Observed(0, not_at_t=BAD)) is Outcome.FALSE_SUCCESS
    assert classify(Observed(0, touched=BAD)) is Outcome.FALSE_SUCCESS


def test_success_after_a_foreign_write_is_a_false_success() -> None:
    assert classify(Observed(0, foreign=True)) is Outcome.FALSE_SUCCESS
    # a write in the fence's last instant may or may not be seen: both answers are true
    assert classify(Observed(0, foreign_late=True)) is Outcome.OK
    assert classify(Observed(5, foreign_late=True)) is Outcome.OK


def test_exit_5_is_ok_only_after_a_foreign_write() -> None:
    assert classify(Observed(5, foreign=True)) is Outcome.OK
    assert classify(Observed(5)) is Outcome.WRONG
    assert classify(Observed(5, not_at_t=BAD, foreign=True)) is Outcome.WRONG


def test_a_failed_job_is_wrong_not_a_false_success() -> None:
    assert classify(Observed(1)) is Outcome.WRONG
    assert classify(Observed(1, not_at_t=BAD)) is Outcome.WRONG


def test_a_run_past_its_deadline_is_hung() -> None:
    assert classify(Observed(None, hung=True)) is Outcome.HUNG
    assert classify(Observed(0, hung=True)) is Outcome.HUNG


rows = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["a", "b", None])), max_size=8)


@given(rows, st.randoms())
def test_row_diff_ignores_order_but_not_duplicates(
    have: list[tuple[object, ...]], rnd: object
) -> None:
    shuffled = list(have)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert row_diff("t", shuffled, have) == TableDiff("t", 0, 0)
    if have:
        assert row_diff("t", have + have[:1], have) == TableDiff("t", 0, 1)
        assert row_diff("t", have[1:], have) == TableDiff("t", 1, 0)


def test_a_changed_value_is_one_missing_and_one_extra_row() -> None:
    assert row_diff("t", [(1, "x")], [(1, "y")]) == TableDiff("t", 1, 1)


def test_foreign_in_time() -> None:
    ts = (1_700_000_000_000 << 18) | 5  # physical ms 1_700_000_000_000
    assert not foreign_in_time([], 0)
    assert foreign_in_time([ts], 0)  # the job never finished
    assert foreign_in_time([ts], 1_700_000_001_001)
    assert not foreign_in_time([ts], 1_700_000_001_000)  # within the fence's last second
    assert not foreign_in_time([ts], 1_699_999_999_000)
