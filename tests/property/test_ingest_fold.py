"""Folding a key's consecutive versions (ingest) changes nothing the worker's merge computes.

For any stream of changes (runs of one key in either order, repeated commit ts, conflicting
payloads, malformed PUTs without a value), the worker's state per key built from the folded
records, through the record encoding and the merge buffer, equals the state built from every
change one by one, conflict flags and change counts included.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.undo.buffer import MergeBuffer
from app.undo.merge import KeyState, merge_many, state_of_folded
from ingest.batcher import ChangeBatch, End
from ingest.fold import fold_versions, versions_of
from ingest.model import Change, FoldedChange, OpType, RowChange
from ingest.producer import RecordEncoder
from proto import tiundo_pb2

KEYS = [b"t\x80a_r1", b"t\x80a_r2", b"t\x80a_r3"]
PUT, DELETE = OpType.PUT, OpType.DELETE


@st.composite
def streams(draw: st.DrawFn) -> list[RowChange]:
    """Runs of one key's versions (scan order: newest first, or any order), mixed with
    repeats (same commit ts, same or other payload) and PUTs without a value."""
    out: list[RowChange] = []
    for _ in range(draw(st.integers(1, 6))):
        key = draw(st.sampled_from(KEYS))
        n = draw(st.integers(1, 6))
        stamps = draw(st.lists(st.integers(10, 40), min_size=n, max_size=n))
        for ts in stamps:
            op = draw(st.sampled_from([PUT, PUT, DELETE]))
            value = draw(st.sampled_from([b"a", b"bb", b""])) if op == PUT else b""
            old = draw(st.sampled_from([b"", b"o", b"oo"]))
            start = ts - draw(st.integers(1, 3))
            out.append(RowChange(7, 1, key, start, ts, op, value, old, draw(st.integers(0, 2))))
    return out


def _good(c: RowChange | tiundo_pb2.RowChange) -> bool:
    return c.op_type == DELETE or (c.op_type == PUT and bool(c.value))


def _one_by_one(changes: list[RowChange]) -> dict[bytes, KeyState]:
    """The worker's merge of every well-formed change (malformed ones are dead-lettered)."""
    states: dict[bytes, KeyState] = {}
    for c in changes:
        if _good(c):
            state = merge_many(states.get(c.key), [c])
            assert state is not None
            states[c.key] = state
    return states


def _through_records(folded: list[Change]) -> dict[bytes, KeyState]:
    """Folded records encoded as the ingest sends them, decoded and merged as the worker does."""
    enc = RecordEncoder("j", 1, target_ts=1, end_ts=100)
    raw = enc.encode(ChangeBatch(0, 1, tuple(folded), 0))[2]
    batch = tiundo_pb2.Envelope.FromString(raw).change_batch
    buf = MergeBuffer()
    for ch in batch.changes:
        if ch.versions > 1:
            buf.add_state(ch.key, state_of_folded(ch))
        elif _good(ch):
            buf.add_change(ch.key, ch)
    end = tiundo_pb2.Envelope.FromString(enc.encode(End(0, 100))[2]).end
    assert end.total_changes == sum(map(versions_of, folded))
    return buf.states()


@settings(max_examples=400, deadline=None)
@given(changes=streams())
def test_folded_records_merge_to_the_same_states(changes: list[RowChange]) -> None:
    folded = fold_versions(changes)
    assert sum(map(versions_of, folded)) == len(changes)
    assert _through_records(folded) == _one_by_one(changes)


@settings(max_examples=200, deadline=None)
@given(changes=streams())
def test_a_fold_keeps_order_and_never_takes_a_tie_or_a_malformed_change(
    changes: list[RowChange],
) -> None:
    folded = fold_versions(changes)
    i = 0
    for rec in folded:
        n = versions_of(rec)
        run = changes[i : i + n]
        i += n
        if n == 1:
            assert rec is run[0]
            continue
        assert isinstance(rec, FoldedChange)
        assert {c.key for c in run} == {rec.key}
        stamps = [c.commit_ts for c in run]
        assert len(set(stamps)) == n and all(_good(c) for c in run)
        first = min(run, key=lambda c: c.commit_ts)
        last = max(run, key=lambda c: c.commit_ts)
        assert (rec.commit_ts, rec.start_ts, rec.op_type, rec.old_value) == (
            first.commit_ts, first.start_ts, first.op_type, first.old_value,
        )  # fmt: skip
        assert (rec.last_commit_ts, rec.last_start_ts, rec.last_op_type, rec.value) == (
            last.commit_ts, last.start_ts, last.op_type, last.value,
        )  # fmt: skip
    assert i == len(changes)


def test_a_scan_run_newest_first_becomes_one_record() -> None:
    """What TiKV's scan sends for a key changed three times: one record, both ends kept."""
    key = KEYS[0]
    run = [
        RowChange(7, 1, key, 29, 30, PUT, b"v3", b"v2"),
        RowChange(7, 1, key, 19, 20, DELETE, b"", b"v1"),
        RowChange(7, 1, key, 9, 10, PUT, b"v1", b"v0"),
    ]
    (rec,) = fold_versions(run)
    assert rec == FoldedChange(7, 1, key, 9, 10, PUT, b"v3", b"v0", 0, 29, 30, PUT, 3)
