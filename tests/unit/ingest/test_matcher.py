"""Matcher: every row of the facts/eventfeed.md §3.9 table, plus the special cases."""

from __future__ import annotations

import pytest

from core.errors import TransientError
from ingest.keyspace import encode_bytes, record_prefix
from ingest.matcher import FeedProtocolError, Matcher, PrewriteNotMatchError
from ingest.model import FeedRow, LogType, OpType, RowChange, Span

T = 100
K1 = record_prefix(5) + b"\x80\x00\x00\x00\x00\x00\x00\x01"
K2 = record_prefix(5) + b"\x80\x00\x00\x00\x00\x00\x00\x02"
INIT = FeedRow(0, 0, LogType.INITIALIZED)


def prewrite(
    key: bytes,
    start: int,
    value: bytes,
    old: bytes = b"",
    *,
    op: OpType = OpType.PUT,
    gen: int = 0,
    src: int = 0,
) -> FeedRow:
    return FeedRow(start, 0, LogType.PREWRITE, op, key, value, old, src, gen)


def commit(
    key: bytes,
    start: int,
    commit_ts: int,
    *,
    op: OpType = OpType.PUT,
    value: bytes = b"",
    src: int = 0,
) -> FeedRow:
    return FeedRow(start, commit_ts, LogType.COMMIT, op, key, value, b"", src)


def committed(
    key: bytes, start: int, commit_ts: int, value: bytes, old: bytes = b"", op: OpType = OpType.PUT
) -> FeedRow:
    return FeedRow(start, commit_ts, LogType.COMMITTED, op, key, value, old)


def rollback(key: bytes, start: int) -> FeedRow:
    return FeedRow(start, 0, LogType.ROLLBACK, OpType.UNKNOWN, key)


def change(
    key: bytes,
    start: int,
    commit_ts: int,
    value: bytes,
    old: bytes,
    op: OpType = OpType.PUT,
    src: int = 0,
    region: int = 7,
) -> RowChange:
    return RowChange(region, None, key, start, commit_ts, op, value, old, src)


def initialized_matcher(**kw: object) -> Matcher:
    m = Matcher(7, start_ts=T, **kw)  # type: ignore[arg-type]
    assert m.feed([INIT]) == []
    return m


# --- PREWRITE ---------------------------------------------------------------------------------


def test_commit_after_init_takes_value_and_old_value_from_prewrite() -> None:
    m = initialized_matcher()
    assert m.feed([prewrite(K1, 110, b"new", b"old")]) == []
    assert m.pending_prewrites == 1
    out = m.feed([commit(K1, 110, 120)])
    assert out == [change(K1, 110, 120, b"new", b"old")]
    assert m.pending_prewrites == 0


def test_commit_short_value_is_replaced_by_prewrite_value() -> None:
    # TiCDC overwrites the COMMIT's value with the prewrite's (they are equal on real TiKV).
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"from-prewrite", b"o")])
    assert m.feed([commit(K1, 110, 120, value=b"short")])[0].value == b"from-prewrite"


def test_fake_prewrite_with_empty_value_does_not_overwrite() -> None:
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"v", b"o1"), prewrite(K1, 110, b"", b"o2")])
    assert m.feed([commit(K1, 110, 120)]) == [change(K1, 110, 120, b"v", b"o1")]


def test_first_prewrite_with_empty_value_is_stored_and_replaced_by_a_real_one() -> None:
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"", b"o1")])
    assert m.pending_prewrites == 1
    m.feed([prewrite(K1, 110, b"v", b"o2")])
    assert m.feed([commit(K1, 110, 120)]) == [change(K1, 110, 120, b"v", b"o2")]


def test_delete_prewrite_has_empty_value_and_matches_after_init() -> None:
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"", b"old", op=OpType.DELETE)])
    out = m.feed([commit(K1, 110, 120, op=OpType.DELETE)])
    assert out == [change(K1, 110, 120, b"", b"old", OpType.DELETE)]


def test_pipelined_dml_keeps_the_highest_generation() -> None:
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"g2", gen=2), prewrite(K1, 110, b"g1", gen=1)])
    assert m.feed([commit(K1, 110, 120)])[0].value == b"g2"
    m.feed([prewrite(K2, 111, b"g1", gen=1), prewrite(K2, 111, b"g3", gen=3)])
    assert m.feed([commit(K2, 111, 121)])[0].value == b"g3"


def test_equal_generation_non_empty_prewrite_replaces() -> None:
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"a"), prewrite(K1, 110, b"b")])
    assert m.feed([commit(K1, 110, 120)])[0].value == b"b"


def test_prewrites_of_different_start_ts_are_separate() -> None:
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"a"), prewrite(K1, 130, b"b")])
    assert m.feed([commit(K1, 130, 140)])[0].value == b"b"
    assert m.pending_prewrites == 1


# --- COMMIT -----------------------------------------------------------------------------------


def test_commit_before_init_with_prewrite_is_emitted_at_once() -> None:
    m = Matcher(7, start_ts=T)
    out = m.feed([prewrite(K1, 110, b"v", b"o"), commit(K1, 110, 120)])
    assert out == [change(K1, 110, 120, b"v", b"o")]
    assert m.cached_commits == 0


def test_commit_before_init_without_prewrite_is_cached_then_dropped_at_init() -> None:
    m = Matcher(7, start_ts=T)
    assert m.feed([commit(K1, 110, 120)]) == []
    assert m.cached_commits == 1
    # the scan sends the COMMITTED row for it; the cached COMMIT finds no prewrite
    out = m.feed([committed(K1, 110, 120, b"v", b"o"), INIT])
    assert out == [change(K1, 110, 120, b"v", b"o")]
    assert m.cached_commits == 0
    assert m.dropped_unmatched == 1


def test_cached_commit_matched_at_init_when_prewrite_came_later() -> None:
    m = Matcher(7, start_ts=T)
    assert m.feed([commit(K1, 110, 120), commit(K2, 111, 121)]) == []
    assert m.feed([prewrite(K2, 111, b"v2", b"o2"), prewrite(K1, 110, b"v1", b"o1")]) == []
    out = m.feed([INIT])
    # released in the order the COMMITs arrived
    assert out == [change(K1, 110, 120, b"v1", b"o1"), change(K2, 111, 121, b"v2", b"o2")]
    assert m.pending_prewrites == 0


def test_empty_value_prewrite_does_not_match_before_init() -> None:
    m = Matcher(7, start_ts=T)
    out = m.feed(
        [prewrite(K1, 110, b"", b"old", op=OpType.DELETE), commit(K1, 110, 120, op=OpType.DELETE)]
    )
    assert out == []
    assert m.cached_commits == 1 and m.pending_prewrites == 1
    assert m.feed([INIT]) == [change(K1, 110, 120, b"", b"old", OpType.DELETE)]


def test_generation_prewrite_does_not_match_before_init() -> None:
    m = Matcher(7, start_ts=T)
    assert m.feed([prewrite(K1, 110, b"v", gen=1), commit(K1, 110, 120)]) == []
    assert m.feed([INIT]) == [change(K1, 110, 120, b"v", b"")]


def test_unmatched_commit_after_init_raises_retriable_prewrite_not_match() -> None:
    m = initialized_matcher()
    with pytest.raises(PrewriteNotMatchError) as info:
        m.feed([commit(K1, 110, 120)])
    err = info.value
    assert isinstance(err, TransientError) and err.retriable
    assert (err.region_id, err.key, err.start_ts, err.commit_ts) == (7, K1, 110, 120)
    assert "region 7" in str(err) and K1.hex() in str(err)


def test_stale_commit_is_matched_then_dropped() -> None:
    m = initialized_matcher()
    out = m.feed([prewrite(K1, 90, b"v"), commit(K1, 90, T)])
    assert out == []
    assert m.pending_prewrites == 0 and m.dropped_stale == 1


def test_stale_cached_commit_dropped_at_init() -> None:
    m = Matcher(7, start_ts=T)
    m.feed([commit(K1, 90, 95), prewrite(K1, 90, b"", op=OpType.DELETE)])
    assert m.feed([INIT]) == []
    assert m.dropped_stale == 1 and m.pending_prewrites == 0


def test_commit_at_resolved_ts_is_fatal() -> None:
    m = initialized_matcher()
    assert m.resolve(150)
    m.feed([prewrite(K1, 140, b"v")])
    with pytest.raises(FeedProtocolError) as info:
        m.feed([commit(K1, 140, 150)])
    assert not info.value.retriable
    assert "region 7" in str(info.value) and "resolved_ts 150" in str(info.value)


def test_txn_source_prefers_commit_then_prewrite() -> None:
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"v", src=3), prewrite(K2, 111, b"w", src=3)])
    out = m.feed([commit(K1, 110, 120, src=9), commit(K2, 111, 121)])
    assert [c.txn_source for c in out] == [9, 3]


def test_unknown_op_type_commit_is_fatal() -> None:
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"v")])
    with pytest.raises(FeedProtocolError, match="unknown op type 0"):
        m.feed([commit(K1, 110, 120, op=OpType.UNKNOWN)])


# --- COMMITTED --------------------------------------------------------------------------------


@pytest.mark.parametrize("init_first", [False, True])
def test_committed_passes_straight_through(init_first: bool) -> None:
    m = Matcher(7, start_ts=T)
    if init_first:
        m.feed([INIT])
    rows = [committed(K1, 110, 130, b"b", b"a"), committed(K1, 105, 110, b"a", b"", OpType.PUT)]
    assert m.feed(rows) == [change(K1, 110, 130, b"b", b"a"), change(K1, 105, 110, b"a", b"")]


def test_committed_at_or_below_checkpoint_is_fatal() -> None:
    m = Matcher(7, start_ts=T, checkpoint_ts=200)
    with pytest.raises(FeedProtocolError, match="COMMITTED at or below resolved ts"):
        m.feed([committed(K1, 150, 200, b"v")])


def test_committed_delete_and_unknown_op() -> None:
    m = initialized_matcher()
    assert m.feed([committed(K1, 110, 120, b"", b"o", OpType.DELETE)])[0].op_type is OpType.DELETE
    with pytest.raises(FeedProtocolError):
        m.feed([committed(K1, 130, 140, b"", b"", OpType.UNKNOWN)])


# --- ROLLBACK ---------------------------------------------------------------------------------


def test_rollback_after_init_forgets_prewrite() -> None:
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"v"), rollback(K1, 110)])
    assert m.pending_prewrites == 0
    with pytest.raises(PrewriteNotMatchError):
        m.feed([commit(K1, 110, 120)])


def test_rollback_without_prewrite_is_harmless() -> None:
    m = initialized_matcher()
    assert m.feed([rollback(K1, 110)]) == []


def test_rollback_before_init_is_cached_and_applied_after_cached_commits() -> None:
    m = Matcher(7, start_ts=T)
    m.feed([prewrite(K1, 110, b"v"), prewrite(K2, 111, b"w"), rollback(K1, 110)])
    assert m.pending_prewrites == 2
    assert m.feed([INIT]) == []
    assert m.pending_prewrites == 1
    assert m.feed([commit(K2, 111, 121)]) == [change(K2, 111, 121, b"w", b"")]


# --- INITIALIZED / resolved ts / span ---------------------------------------------------------


def test_resolved_ts_ignored_before_init_and_when_lower() -> None:
    m = Matcher(7, start_ts=T)
    assert not m.resolve(150)
    assert m.resolved_ts == T
    m.feed([INIT])
    assert m.resolve(150) and m.resolved_ts == 150
    assert m.resolve(150)  # TiKV repeats an unchanged ts every tick
    assert not m.resolve(149) and m.resolved_ts == 150


def test_second_initialized_is_harmless() -> None:
    m = initialized_matcher()
    m.feed([prewrite(K1, 110, b"v")])
    assert m.feed([INIT]) == [] and m.pending_prewrites == 1


def test_rows_outside_region_span_are_dropped_but_initialized_is_not() -> None:
    span = Span(encode_bytes(K2), b"")
    m = Matcher(7, start_ts=T, span=span)
    out = m.feed([committed(K1, 110, 120, b"x"), committed(K2, 110, 120, b"y"), INIT])
    assert out == [change(K2, 110, 120, b"y", b"")]
    assert m.dropped_out_of_span == 1 and m.initialized


def test_unknown_log_type_is_ignored() -> None:
    m = initialized_matcher()
    assert m.feed([FeedRow(110, 120, LogType.UNKNOWN, OpType.PUT, K1, b"v")]) == []


def test_out_of_order_fake_prewrite_before_scan_prewrite() -> None:
    # Before INITIALIZED a live value-less lock rewrite can overtake the scan's PREWRITE row;
    # a COMMIT in between must not take the empty value.
    m = Matcher(7, start_ts=T)
    assert m.feed([prewrite(K1, 110, b"", b"o-fake"), commit(K1, 110, 120)]) == []
    assert m.feed([prewrite(K1, 110, b"real", b"o")]) == []
    assert m.feed([INIT]) == [change(K1, 110, 120, b"real", b"o")]
