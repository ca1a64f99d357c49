from __future__ import annotations

import pytest

from simulator.tso import MAX_LOGICAL, Tso, compose, logical, physical


def test_layout_matches_pd_compose() -> None:
    # tikv/pd pkg/utils/tsoutil: ts = physical << 18 | logical
    ts = compose(1_700_000_000_000, 5)
    assert ts == (1_700_000_000_000 << 18) | 5
    assert physical(ts) == 1_700_000_000_000
    assert logical(ts) == 5


def test_compose_rejects_logical_overflow() -> None:
    with pytest.raises(ValueError):
        compose(1, MAX_LOGICAL + 1)


def test_new_millisecond_restarts_logical() -> None:
    now = [1000]
    tso = Tso(clock=lambda: now[0])
    assert tso.next() == compose(1000, 0)
    assert tso.next() == compose(1000, 1)
    now[0] = 1005
    assert tso.next() == compose(1005, 0)


def test_stalled_or_backward_clock_stays_monotonic() -> None:
    now = [2000]
    tso = Tso(clock=lambda: now[0])
    seen = [tso.next()]
    now[0] = 1500  # clock steps back
    seen += [tso.next() for _ in range(10)]
    assert seen == sorted(set(seen))
    assert all(physical(t) == 2000 for t in seen)


def test_batch_returns_last_and_reserves_range() -> None:
    tso = Tso(clock=lambda: 3000)
    first = tso.next()
    last = tso.batch(10)
    assert last - 9 == first + 1  # client derives first = last - count + 1
    assert tso.next() == last + 1


def test_logical_exhaustion_moves_physical_forward() -> None:
    tso = Tso(clock=lambda: 4000)
    last = tso.batch(MAX_LOGICAL + 1)
    assert last == compose(4000, MAX_LOGICAL)
    nxt = tso.next()
    assert nxt == compose(4001, 0)
    assert tso.batch(MAX_LOGICAL) == compose(4001, MAX_LOGICAL)  # exactly fills 4001
    assert tso.batch(2) == compose(4002, 1)


@pytest.mark.parametrize("count", [0, -1])
def test_batch_count_must_be_positive(count: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        Tso().batch(count)


def test_observe_keeps_later_values_above() -> None:
    tso = Tso(clock=lambda: 10)
    tso.observe(compose(50, 7))
    assert tso.next() == compose(50, 8)
