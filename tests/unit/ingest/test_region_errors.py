"""Region error classification per facts/eventfeed.md §3.10, and the backoff helper."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.retry import Backoff
from ingest.model import RegionEpoch, RegionInfo, Span
from ingest.region_errors import (
    Action,
    ErrorKind,
    RegionError,
    RegionFatalError,
    classify,
    cover,
    no_leader,
)

REGION = RegionInfo(42, Span(b"a", b"z"), RegionEpoch(1, 5), 1, (1, 2, 3))


@pytest.mark.parametrize(
    ("field", "action"),
    [
        ("epoch_not_match", Action.RESPLIT_VIA_PD),
        ("region_not_found", Action.RESPLIT_VIA_PD),
        ("server_is_busy", Action.RETRY_SAME),
        ("congested", Action.RETRY_SAME),
        ("", Action.RETRY_SAME),
        (None, Action.RETRY_SAME),
        ("some_future_field", Action.RETRY_SAME),
        ("duplicate_request", Action.FATAL),
        ("compatibility", Action.FATAL),
        ("cluster_id_mismatch", Action.FATAL),
    ],
)
def test_action_per_error_field(field: str | None, action: Action) -> None:
    d = classify(RegionError(ErrorKind.from_field(field), 42))
    assert d.action is action
    assert d.region_id == 42 and "region 42" in d.reason


def test_not_leader_with_leader_goes_to_that_store() -> None:
    d = classify(RegionError(ErrorKind.NOT_LEADER, 42, leader_store_id=3))
    assert (d.action, d.store_id) == (Action.UPDATE_LEADER_AND_RETRY, 3)


def test_not_leader_without_leader_rotates_peers() -> None:
    err = RegionError(ErrorKind.NOT_LEADER, 42)
    assert classify(err, region=REGION, current_store_id=1).store_id == 2
    assert classify(err, region=REGION, current_store_id=3).store_id == 1
    assert classify(err, region=REGION, current_store_id=9).store_id == 1


def test_not_leader_without_any_candidate_reloads_from_pd() -> None:
    err = RegionError(ErrorKind.NOT_LEADER, 42)
    assert classify(err).action is Action.RESPLIT_VIA_PD
    lone = RegionInfo(42, Span(b"a", b"z"), RegionEpoch(1, 5), 1, (1,))
    assert classify(err, region=lone, current_store_id=1).action is Action.RESPLIT_VIA_PD
    assert no_leader(42).action is Action.RESPLIT_VIA_PD


def test_server_is_busy_passes_backoff_hint() -> None:
    d = classify(RegionError(ErrorKind.SERVER_IS_BUSY, 42, backoff_ms=250))
    assert d.backoff_ms == 250


def test_fatal_raises_with_region_and_reason() -> None:
    d = classify(RegionError(ErrorKind.CLUSTER_ID_MISMATCH, 42, detail="current: 1 request: 2"))
    with pytest.raises(RegionFatalError) as info:
        d.raise_if_fatal()
    assert not info.value.retriable
    assert info.value.region_id == 42
    msg = str(info.value)
    assert "region 42" in msg and "cluster_id_mismatch" in msg and "current: 1 request: 2" in msg
    # non-fatal decisions do not raise
    classify(RegionError(ErrorKind.CONGESTED, 42)).raise_if_fatal()


def test_backoff_grows_to_cap_with_bounded_jitter_and_is_deterministic() -> None:
    a = Backoff(1.0, 2.0, 0.1, 5.0, rng=random.Random(7))
    delays = [a.next_delay() for _ in range(8)]
    raws = [1, 2, 4, 5, 5, 5, 5, 5]
    for d, raw in zip(delays, raws, strict=True):
        assert raw * 0.9 <= d <= min(5.0, raw * 1.1)
    b = Backoff(1.0, 2.0, 0.1, 5.0, rng=random.Random(7))
    assert [b.next_delay() for _ in range(8)] == delays
    a.reset()
    assert a.attempts == 0 and a.next_delay() <= 1.1


def test_backoff_presets_and_no_overflow() -> None:
    s = Backoff.store_reconnect(random.Random(1))
    assert (s.base, s.factor, s.jitter, s.cap) == (1.0, 1.1, 0.1, 3.0)
    r = Backoff.region_retry(random.Random(1))
    for _ in range(5000):
        d = r.next_delay()
    assert d <= 2.0


def test_backoff_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Backoff(1.0, 0.5, 0.1, 3.0)
    with pytest.raises(ValueError):
        Backoff(4.0, 2.0, 0.1, 3.0)


def _region(
    rid: int, start: bytes, end: bytes, version: int, stores: tuple[int, ...] = (1, 2)
) -> RegionInfo:
    return RegionInfo(rid, Span(start, end), RegionEpoch(1, version), 0, stores)


def test_epoch_not_match_uses_newer_current_regions_with_a_peer_on_the_store() -> None:
    left, right = _region(50, b"a", b"m", 6), _region(42, b"m", b"z", 6)
    elsewhere = _region(51, b"a", b"m", 6, stores=(3,))
    err = RegionError(ErrorKind.EPOCH_NOT_MATCH, 42, current_regions=(right, left))
    d = classify(err, region=REGION, current_store_id=1)
    assert (d.action, d.store_id) == (Action.REGISTER_CURRENT, 1)
    assert [(r.region_id, r.leader_store_id) for r in d.regions] == [(50, 1), (42, 1)]
    only_other = RegionError(ErrorKind.EPOCH_NOT_MATCH, 42, current_regions=(elsewhere,))
    assert classify(only_other, region=REGION, current_store_id=1).action is (Action.RESPLIT_VIA_PD)


def test_epoch_not_match_with_stale_or_unchanged_regions_reloads_from_pd() -> None:
    stale = _region(42, b"a", b"z", 4)  # TiKV's peer is behind the client's epoch 5
    same = _region(42, b"a", b"z", 5)
    for current in ((), (stale,), (same,)):
        err = RegionError(ErrorKind.EPOCH_NOT_MATCH, 42, current_regions=current)
        assert classify(err, region=REGION, current_store_id=1).action is Action.RESPLIT_VIA_PD
    # without the failed region or the store there is nothing to compare with
    err = RegionError(ErrorKind.EPOCH_NOT_MATCH, 42, current_regions=(_region(42, b"a", b"z", 6),))
    assert classify(err).action is Action.RESPLIT_VIA_PD


def test_cover_parts_and_gaps() -> None:
    regions = [_region(1, b"c", b"f", 1), _region(2, b"h", b"", 1)]
    parts, gaps = cover(Span(b"a", b"k"), regions)
    assert [(r.region_id, p) for r, p in parts] == [(1, Span(b"c", b"f")), (2, Span(b"h", b"k"))]
    assert gaps == [Span(b"a", b"c"), Span(b"f", b"h")]
    assert cover(Span(b"a", b""), []) == ([], [Span(b"a", b"")])


_KEYS = st.lists(st.binary(min_size=1, max_size=3), min_size=2, max_size=12, unique=True)


@given(_KEYS, st.lists(st.booleans(), min_size=12, max_size=12), st.booleans())
def test_cover_partitions_the_span_exactly(
    keys: list[bytes], keep: list[bool], open_end: bool
) -> None:
    """Parts and gaps, in key order, tile the span with no overlap and no hole."""
    bounds = sorted(keys)
    span = Span(bounds[0], b"" if open_end else bounds[-1])
    edges = [b"", *bounds[1:-1], b""]  # regions tiling the whole key space; some are left out
    regions = [
        _region(i, edges[i], edges[i + 1], 1) for i in range(len(edges) - 1) if keep[i % len(keep)]
    ]
    parts, gaps = cover(span, regions)
    pieces = sorted([p for _, p in parts] + gaps, key=lambda s: s.start)
    assert pieces[0].start == span.start and pieces[-1].end == span.end
    for a, b in itertools.pairwise(pieces):
        assert a.end == b.start
    for r, p in parts:
        assert r.span.intersect(span) is not None and p == r.span.intersect(p)
