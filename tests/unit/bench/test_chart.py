"""The partitions axis of the RTO chart: every measured count is a tick inside the limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench.rto.chart import partition_axis


def test_sixteen_partitions_are_on_the_axis() -> None:
    # the axis used to stop at 8.5: the w*_p16 points fell off the chart
    ticks, (left, right) = partition_axis([1, 4, 8, 16, 8, 1])
    assert ticks == [1, 4, 8, 16]
    assert left < 1 and right > 16


def test_no_tiundo_run_keeps_the_default_ticks() -> None:
    ticks, (left, right) = partition_axis([])
    assert ticks == [1, 4, 8]
    assert left < 1 < 8 < right


@given(st.lists(st.integers(min_value=1, max_value=4096), min_size=1))
def test_every_count_is_a_tick_inside_the_limits(counts: list[int]) -> None:
    ticks, (left, right) = partition_axis(counts)
    assert ticks == sorted(set(counts))
    assert all(left < c < right for c in counts)
