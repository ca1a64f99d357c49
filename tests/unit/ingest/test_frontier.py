"""Span frontier and job frontier: exact values for split, merge and gaps."""

from __future__ import annotations

import pytest

from ingest.frontier import JobFrontier, SpanFrontier
from ingest.model import Span


def S(a: str, b: str) -> Span:
    return Span(a.encode(), b.encode())


def test_zero_until_every_part_reported() -> None:
    f = SpanFrontier(S("a", "z"))
    f.update(S("a", "m"), 10)
    assert f.frontier() == 0 and f.advance() is None
    f.update(S("m", "z"), 12)
    assert f.frontier() == 10 and f.advance() == 10


def test_split_then_merge_overwrites() -> None:
    f = SpanFrontier(S("a", "z"))
    f.update(S("a", "z"), 5)
    # region split into three; each reports its own ts
    f.update(S("a", "f"), 8)
    f.update(S("f", "p"), 7)
    f.update(S("p", "z"), 9)
    assert f.frontier() == 7
    assert f.segments() == [(S("a", "f"), 8), (S("f", "p"), 7), (S("p", "z"), 9)]
    # merged back into one region reporting 11
    f.update(S("a", "z"), 11)
    assert f.segments() == [(S("a", "z"), 11)] and f.frontier() == 11


def test_equal_neighbours_are_merged() -> None:
    f = SpanFrontier(S("a", "z"))
    f.update(S("a", "f"), 4)
    f.update(S("f", "z"), 4)
    assert len(f) == 1


def test_updates_are_clipped_and_gaps_ignored() -> None:
    f = SpanFrontier([S("c", "e"), S("g", "i")])
    f.update(Span(b"", b""), 3)  # whole key space
    assert f.segments() == [(S("c", "e"), 3), (S("g", "i"), 3)]
    f.update(S("a", "b"), 1)  # outside: no effect
    f.update(S("e", "g"), 1)  # only the gap: no effect
    assert f.frontier() == 3
    f.update(S("d", "h"), 6)
    assert f.segments() == [(S("c", "d"), 3), (S("d", "e"), 6), (S("g", "h"), 6), (S("h", "i"), 3)]


def test_infinite_end_span() -> None:
    f = SpanFrontier(Span(b"m", b""))
    f.update(Span(b"x", b""), 9)
    assert f.frontier() == 0
    f.update(S("m", "x"), 4)
    assert f.frontier() == 4
    f.update(Span(b"a", b""), 12)
    assert f.segments() == [(Span(b"m", b""), 12)]


def test_advance_never_goes_backwards() -> None:
    f = SpanFrontier(S("a", "z"))
    f.update(S("a", "z"), 10)
    assert f.advance() == 10
    f.update(S("a", "c"), 8)  # an overwrite with a lower ts
    assert f.frontier() == 8
    assert f.advance() is None and f.resolved_ts == 10
    f.update(S("a", "c"), 12)
    assert f.frontier() == 10 and f.advance() is None  # [c, z) still at 10
    f.update(S("c", "z"), 11)
    assert f.advance() == 11


def test_min_over_for_checkpoint() -> None:
    f = SpanFrontier([S("c", "e"), S("g", "i")])
    f.update(S("c", "d"), 5)
    f.update(S("d", "e"), 7)
    f.update(S("g", "i"), 9)
    assert f.min_over(S("d", "h")) == 7
    assert f.min_over(S("c", "z")) == 5
    assert f.min_over(S("e", "g")) is None
    assert f.min_over(Span(b"h", b"")) == 9


def test_overlapping_tracked_spans_rejected() -> None:
    with pytest.raises(ValueError, match="overlapping"):
        SpanFrontier([S("a", "d"), S("c", "f")])


def test_adjacent_tracked_spans_form_one_segment() -> None:
    f = SpanFrontier([S("a", "c"), S("c", "e")])
    assert f.segments() == [(S("a", "e"), 0)]


def test_many_regions_heap_stays_bounded() -> None:
    keys = [b"k%05d" % i for i in range(2001)]
    f = SpanFrontier(Span(keys[0], keys[-1]))
    for rnd in range(1, 6):
        for i in range(2000):
            f.update(Span(keys[i], keys[i + 1]), rnd * 10 + (i % 7))
        assert f.frontier() == rnd * 10
    assert len(f._heap) <= 4 * len(f._bounds) + 64


def test_job_frontier_min_passed_and_checkpoint() -> None:
    j = JobFrontier(100, {1: S("a", "m"), 2: S("m", "z")})
    assert j.resolved_ts == 100 and j.advance() is None
    j.update(1, S("a", "m"), 150)
    assert j.advance() is None  # table 2 has not reported
    j.update(2, S("m", "z"), 90)  # below T: no watermark
    assert j.advance() is None
    j.update(2, S("m", "z"), 140)
    assert j.advance() == 140
    assert not j.passed(145)
    j.update(2, S("m", "z"), 160)
    assert j.advance() == 150 and j.passed(150) and not j.passed(151)
    assert j.checkpoint_ts(2, S("p", "q")) == 160
    # an unreported part falls back to T
    j2 = JobFrontier(100, {1: S("a", "m")})
    assert j2.checkpoint_ts(1, S("a", "c")) == 100
