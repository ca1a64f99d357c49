"""The compact actor's check that no record of its partition was skipped (app.undo.delivery)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.undo.delivery import MAX_REREADS, DeliveryGuard, Hole


def test_the_measured_hole_is_read_again_and_then_filled() -> None:
    # 2 workers x 8 partitions, hot: committed 40, Faust delivered 40, then 44
    g = DeliveryGuard(40)
    assert g.check(40) is None
    assert g.check(44) == Hole(41, 44, 1, seek=True)
    # records of the same fetch still queued: dropped, no second seek
    assert g.check(45) == Hole(41, 45, 1, seek=False)
    # the re-read arrives
    assert [g.check(o) for o in (41, 42, 43, 44, 45, 46)] == [None] * 6
    assert g.expected == 47


def test_a_record_before_the_committed_offset_is_a_harmless_redelivery() -> None:
    g = DeliveryGuard(40)
    assert g.check(38) is None and g.expected == 40
    assert g.check(41) == Hole(40, 41, 1, seek=True)


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
    assert g.check(4) == Hole(1, 4, 1, seek=True)
    assert g.check(5) == Hole(1, 5, 1, seek=False)


def test_a_hole_no_re_read_fills_becomes_hopeless() -> None:
    g = DeliveryGuard(10)
    holes = []
    for _ in range(MAX_REREADS + 1):  # each pass starts over at 12: 11 never comes
        holes += [g.check(12), g.check(13)]
    assert [h.seek for h in holes if h] == [True, False] * (MAX_REREADS + 1)
    assert [h.hopeless for h in holes if h][-2:] == [True, True]
    assert not any(h.hopeless for h in holes[: 2 * MAX_REREADS] if h)


@given(
    start=st.integers(0, 50),
    deliveries=st.lists(st.integers(0, 120), max_size=200),
)
def test_what_is_handled_always_covers_start_to_expected_without_a_gap(
    start: int, deliveries: list[int]
) -> None:
    """Whatever Faust delivers, the actor never handles a record past one it did not get."""
    g = DeliveryGuard(start)
    handled: set[int] = set()
    for o in deliveries:
        hole = g.check(o)
        if hole is None:
            handled.add(o)
        else:
            assert hole.first == g.expected and hole.offset > hole.first
    assert g.expected is not None
    assert set(range(start, g.expected)) <= handled
    assert all(o < g.expected for o in handled)
