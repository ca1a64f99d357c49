"""Batcher: bounds, watermark flushing, END, late changes."""

from __future__ import annotations

import pytest

from ingest.batcher import (
    CHANGE_OVERHEAD,
    FOLDED_OVERHEAD,
    Batcher,
    ChangeBatch,
    End,
    LateChangeError,
    Watermark,
    change_size,
)
from ingest.keyspace import encode_int, record_prefix
from ingest.model import FoldedChange, OpType, RowChange
from ingest.partitioner import Partitioner


def ch(table: int, handle: int, commit_ts: int, value: bytes = b"v") -> RowChange:
    return RowChange(
        1,
        table,
        record_prefix(table) + encode_int(handle),
        commit_ts - 1,
        commit_ts,
        OpType.PUT,
        value,
        b"",
    )


def _tables_on_distinct_partitions(p: Partitioner) -> tuple[int, int]:
    first = 1
    for t in range(2, 100):
        if p.for_table(t) != p.for_table(first):
            return first, t
    raise AssertionError("no two tables on distinct partitions")


def test_count_bound_closes_batch() -> None:
    b = Batcher(Partitioner(1), max_changes=3)
    assert b.add(ch(1, 1, 10)) == [] and b.add(ch(1, 2, 11)) == []
    out = b.add(ch(1, 3, 12))
    assert len(out) == 1 and [c.commit_ts for c in out[0].changes] == [10, 11, 12]
    assert out[0].table_id == 1 and out[0].partition == 0 and b.pending_changes == 0


def test_byte_bound_closes_batch_before_overflow() -> None:
    one = change_size(ch(1, 1, 10, b"x" * 100))
    assert one == 19 + 100 + CHANGE_OVERHEAD
    b = Batcher(Partitioner(1), max_bytes=2 * one + 10)
    assert b.add(ch(1, 1, 10, b"x" * 100)) == []
    assert b.add(ch(1, 2, 11, b"x" * 100)) == []
    out = b.add(ch(1, 3, 12, b"x" * 100))  # would exceed: previous batch closed first
    assert [len(x.changes) for x in out] == [2]
    assert out[0].nbytes == 2 * one
    # a change larger than the bound travels alone
    big = b.add(ch(1, 4, 13, b"y" * 1000))
    assert [len(x.changes) for x in big] == [1, 1]


def test_batches_are_per_table() -> None:
    b = Batcher(Partitioner(1))
    b.add(ch(1, 1, 10))
    b.add(ch(2, 1, 11))
    out = b.flush()
    assert [(x.table_id, len(x.changes)) for x in out] == [(1, 1), (2, 1)]


def test_watermark_flushes_only_batches_at_or_below_it_then_marks_every_partition() -> None:
    p = Partitioner(4)
    t1, t2 = _tables_on_distinct_partitions(p)
    b = Batcher(p)
    b.add(ch(t1, 1, 10))
    b.add(ch(t2, 1, 30))
    out = b.watermark(20)
    assert isinstance(out[0], ChangeBatch) and out[0].table_id == t1
    assert out[1:] == [Watermark(i, 20) for i in range(4)]
    assert b.pending_changes == 1
    assert b.watermark(20) == [] and b.watermark(15) == []
    out = b.watermark(30)
    assert isinstance(out[0], ChangeBatch) and out[0].table_id == t2
    assert out[1:] == [Watermark(i, 30) for i in range(4)]


def test_change_at_or_below_watermark_is_refused() -> None:
    b = Batcher(Partitioner(2))
    b.watermark(20)
    with pytest.raises(LateChangeError, match="commit_ts 20"):
        b.add(ch(1, 1, 20))
    b.add(ch(1, 1, 21))


def test_end_flushes_everything_and_closes() -> None:
    b = Batcher(Partitioner(3))
    b.add(ch(1, 1, 10))
    b.add(ch(1, 2, 50))
    out = b.end(60)
    assert isinstance(out[0], ChangeBatch) and len(out[0].changes) == 2
    assert out[1:] == [End(i, 60) for i in range(3)]
    assert b.end(60) == [] and b.watermark(70) == []
    with pytest.raises(LateChangeError, match="after END"):
        b.add(ch(1, 3, 61))


def test_change_without_table_id_is_rejected() -> None:
    b = Batcher(Partitioner(1))
    c = RowChange(1, None, b"k", 1, 2, OpType.PUT, b"", b"")
    with pytest.raises(ValueError):
        b.add(c)


def test_batch_commit_ts_range() -> None:
    b = Batcher(Partitioner(1))
    b.add_many([ch(1, 1, 15), ch(1, 2, 11), ch(1, 3, 13)])
    (batch,) = b.flush()
    assert (batch.min_commit_ts, batch.max_commit_ts) == (11, 15)


def test_add_many_refuses_all_when_one_is_late() -> None:
    b = Batcher(Partitioner(1))
    b.watermark(10)
    with pytest.raises(LateChangeError, match="commit_ts 10"):
        b.add_many([ch(1, 1, 15), ch(1, 2, 10), ch(1, 3, 13)])
    assert b.pending_changes == 0
    with pytest.raises(ValueError, match="without table_id"):
        b.add_many([ch(1, 1, 15), ch(1, 2, 16)._replace(table_id=None)])
    assert b.pending_changes == 0
    assert b.add_many([]) == []


def test_watermark_flushes_a_batch_whose_oldest_change_came_last() -> None:
    # The scan sends a key's versions newest first: the batch's minimum is a later change.
    b = Batcher(Partitioner(1))
    assert b.add_many([ch(1, 1, 20), ch(1, 1, 15), ch(1, 1, 5)]) == []
    out = b.watermark(10)
    assert [type(o) for o in out] == [ChangeBatch, Watermark]
    batch = out[0]
    assert isinstance(batch, ChangeBatch)
    assert [c.commit_ts for c in batch.changes] == [20, 15, 5]


def test_a_folded_record_costs_its_extra_fields_in_the_byte_bound() -> None:
    """A folded record carries versions and the latest change's timestamps and op: a batch of
    them, cut by the plain estimate, could pass the byte bound by ~24 bytes a record."""
    one = ch(1, 1, 15)
    folded = FoldedChange(*one, 9, 20, OpType.PUT, 2)
    assert change_size(folded) == change_size(one) + FOLDED_OVERHEAD
    b = Batcher(Partitioner(1), max_changes=100, max_bytes=3 * change_size(folded) - 1)
    assert [len(x.changes) for x in b.add_many([folded] * 3)] == [2]
