"""Region error classification per facts/eventfeed.md §3.10, and the backoff helper."""

from __future__ import annotations

import random

import pytest

from core.retry import Backoff
from ingest.model import RegionEpoch, RegionInfo, Span
from ingest.region_errors import (
    Action,
    ErrorKind,
    RegionError,
    RegionFatalError,
    classify,
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
