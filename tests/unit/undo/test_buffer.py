"""The merge buffer and the flush policy of the compact stage (pure parts)."""

from __future__ import annotations

from app.undo.buffer import FlushPolicy, MergeBuffer
from app.undo.merge import merge_many
from app.undo.model import DELETE, PUT, Change

INSERT = Change(start_ts=10, commit_ts=11, op_type=PUT, value=b"v1", old_value=b"")
UPDATE = Change(start_ts=20, commit_ts=21, op_type=PUT, value=b"v2", old_value=b"v1")
REMOVE = Change(start_ts=30, commit_ts=31, op_type=DELETE, value=b"", old_value=b"v2")

POLICY = FlushPolicy(max_changes=100, idle_s=2.0, max_delay_s=0.5)


def test_nothing_pending_is_never_due() -> None:
    assert POLICY.due(changes=0, pending=0, lag=0, age_s=0.0) == ""
    assert POLICY.due(changes=500, pending=0, lag=None, age_s=0.0) == ""
    assert not POLICY.idle_due(pending=0, idle_for_s=60.0)


def test_a_full_buffer_is_written_even_with_records_waiting() -> None:
    assert POLICY.due(changes=100, pending=3, lag=5000, age_s=0.0) == "size"
    assert POLICY.due(changes=99, pending=3, lag=5000, age_s=0.0) == ""


def test_caught_up_is_written_at_once() -> None:
    assert POLICY.due(changes=1, pending=1, lag=0, age_s=0.0) == "caught up"
    # records acked only (a watermark, a dead letter) are acked when caught up too
    assert POLICY.due(changes=0, pending=2, lag=0, age_s=0.0) == "caught up"


def test_records_wait_at_most_max_delay() -> None:
    assert POLICY.due(changes=50, pending=10, lag=900, age_s=0.49) == ""
    assert POLICY.due(changes=50, pending=10, lag=900, age_s=0.5) == "age"
    assert POLICY.due(changes=50, pending=10, lag=None, age_s=0.7) == "age"


def test_records_waiting_or_an_unknown_lag_keep_merging() -> None:
    assert POLICY.due(changes=50, pending=10, lag=1, age_s=0.0) == ""
    assert POLICY.due(changes=50, pending=10, lag=None, age_s=0.0) == ""


def test_idle_partition_is_written_after_idle_s() -> None:
    assert not POLICY.idle_due(pending=4, idle_for_s=1.9)
    assert POLICY.idle_due(pending=4, idle_for_s=2.0)


def test_key_enters_with_its_stored_state_once() -> None:
    stored = merge_many(None, [INSERT])
    buf = MergeBuffer()
    buf.add(b"k", [UPDATE], base=stored)
    # the base of a buffered key is ignored: the buffer already holds it
    buf.add(b"k", [REMOVE], base=None)
    assert buf.states()[b"k"] == merge_many(None, [INSERT, UPDATE, REMOVE])
    assert buf.changes == 2
    assert len(buf) == 1 and b"k" in buf


def test_seqs_are_kept_until_cleared() -> None:
    buf = MergeBuffer()
    assert buf.empty
    buf.add_batch(7, 3)
    buf.add_batch(7, 3)  # re-delivered
    assert not buf.empty and dict(buf.seqs) == {7: 3}
    buf.clear()
    assert buf.empty and buf.changes == 0 and len(buf) == 0


def test_no_change_leaves_the_buffer_unchanged() -> None:
    buf = MergeBuffer()
    buf.add(b"k", [], base=None)
    assert b"k" not in buf and buf.changes == 0
