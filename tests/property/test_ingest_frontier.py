"""Property: the span frontier equals a brute-force minimum over a grid of keys.

Random tracked spans (disjoint, maybe adjacent, maybe open-ended) and random overwrite updates
(region splits, merges, lower and higher ts); after each update the frontier must equal the
minimum over every grid key the tracked spans contain, be 0 while any part never reported,
and the published value (advance) must be the running maximum of it.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.frontier import SpanFrontier
from ingest.model import Span

ALPHABET = [bytes([i]) for i in range(1, 16)]
GRID = [b""] + [p for i in range(0, 17) for p in (bytes([i]), bytes([i, 0x80]))] + [b"\xff\xff"]


@st.composite
def tracked_spans(draw: st.DrawFn) -> list[Span]:
    points = sorted(draw(st.lists(st.sampled_from(ALPHABET), min_size=2, max_size=8, unique=True)))
    if draw(st.booleans()):
        points = [b"", *points]
    spans: list[Span] = []
    i = 0
    while i + 1 < len(points):
        spans.append(Span(points[i], points[i + 1]))
        i += draw(st.sampled_from([1, 2]))  # 1: adjacent to the next span, 2: leave a gap
    if draw(st.booleans()):
        last = points[-1]
        if not spans or spans[-1].end <= last:
            spans.append(Span(last, b""))
    return spans


@st.composite
def update_span(draw: st.DrawFn) -> Span:
    a, b = sorted(
        draw(st.lists(st.sampled_from([b"", *ALPHABET]), min_size=2, max_size=2, unique=True))
    )
    if draw(st.integers(0, 4)) == 0:
        return Span(a, b"")
    return Span(a, b)


@settings(max_examples=300, deadline=None)
@given(
    spans=tracked_spans(),
    updates=st.lists(st.tuples(update_span(), st.integers(0, 60)), max_size=40),
    probe=update_span(),
)
def test_frontier_equals_brute_force(
    spans: list[Span], updates: list[tuple[Span, int]], probe: Span
) -> None:
    f = SpanFrontier(spans)
    tracked = [g for g in GRID if any(s.contains(g) for s in spans)]
    model: dict[bytes, int] = dict.fromkeys(tracked, 0)
    reported: set[bytes] = set()
    published = 0
    for span, ts in updates:
        f.update(span, ts)
        for g in tracked:
            if span.contains(g):
                model[g] = ts
                reported.add(g)
        brute = min(model.values())
        assert f.frontier() == brute
        if len(reported) < len(tracked):
            assert f.frontier() == 0
        new = f.advance()
        if brute > published:
            assert new == brute
            published = brute
        else:
            assert new is None
        assert f.resolved_ts == published
    inside = [model[g] for g in tracked if probe.contains(g)]
    assert f.min_over(probe) == (min(inside) if inside else None)
    # merged representation: equal neighbours never stay split
    segs = f.segments()
    for (s1, v1), (s2, v2) in itertools.pairwise(segs):
        assert s1.end != s2.start or v1 != v2
