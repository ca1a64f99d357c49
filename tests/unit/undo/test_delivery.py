"""The compact actor's check that no record of its partition was skipped (app.undo.delivery)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.undo.delivery import DeliveryGuard, Hole


def test_the_measured_hole_is_found_and_once_filled_the_record_is_handled() -> None:
    # 2 workers x 8 partitions, hot: committed 40, Faust delivered 40, then 44
    g = DeliveryGuard(40)
    assert g.check(40) is None
    hole = g.check(44)
    assert hole == Hole(41, 44)
    assert g.expected == 41  # nothing past the hole counts as handled
    g.filled(hole)
    assert g.check(44) is None and g.expected == 45
    # Faust re-delivering the hole later is harmless
    assert [g.check(o) for o in (41, 42, 43, 45)] == [None] * 4
    assert g.expected == 46


def test_a_record_before_the_committed_offset_is_a_harmless_redelivery() -> None:
    g = DeliveryGuard(40)
    assert g.check(38) is None and g.expected == 40
    assert g.check(41) == Hole(40, 41)


def test_a_seek_back_after_a_rebalance_that_kept_the_partition_is_no_hole() -> None:
    g = DeliveryGuard(0)
    for o in range(101):
        assert g.check(o) is None
    for o in range(60, 105):  # the seek to the committed offset 60 re-delivers what was handled
        assert g.check(o) is None
    assert g.expected == 105


def test_no_committed_offset_takes_the_first_record_as_the_start() -> None:
    # measured on an uncommitted partition: 0, then 4 and 5
    g = DeliveryGuard()
    assert g.check(0) is None
    assert g.check(4) == Hole(1, 4)
    assert g.check(5) == Hole(1, 5)  # still not filled: still a hole


@given(
    start=st.integers(0, 50),
    deliveries=st.lists(st.integers(0, 120), max_size=200),
    fill=st.booleans(),
)
def test_what_is_handled_always_covers_start_to_expected_without_a_gap(
    start: int, deliveries: list[int], fill: bool
) -> None:
    """Whatever Faust delivers, the actor never handles a record past one it did not get."""
    g = DeliveryGuard(start)
    handled: set[int] = set()
    for o in deliveries:
        hole = g.check(o)
        if hole is not None:
            assert hole.first == g.expected and hole.offset == o > hole.first
            if not fill:
                continue
            handled.update(range(hole.first, hole.offset))  # what the actor reads itself
            g.filled(hole)
            assert g.check(o) is None
        handled.add(o)
    assert g.expected is not None
    assert set(range(start, g.expected)) <= handled
    assert all(o < g.expected for o in handled)
