"""Property: the batcher's watermark/END invariant (see ingest/batcher.py) on random runs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.batcher import Batcher, ChangeBatch, End, Output, Watermark, change_size
from ingest.keyspace import encode_int, record_prefix
from ingest.model import OpType, RowChange
from ingest.partitioner import Partitioner

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"),
            st.integers(1, 5),
            st.integers(0, 30),
            st.integers(1, 20),
            st.integers(0, 200),
        ),
        st.tuples(st.just("wm"), st.integers(-5, 25)),
        st.tuples(st.just("flush")),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(
    run=ops,
    partitions=st.integers(1, 4),
    spread=st.booleans(),
    max_changes=st.integers(1, 6),
    max_bytes=st.integers(60, 600),
)
def test_watermark_and_end_invariant(
    run: list[tuple[object, ...]], partitions: int, spread: bool, max_changes: int, max_bytes: int
) -> None:
    part = Partitioner(partitions, spread_tables={1, 2} if spread else ())
    b = Batcher(part, max_changes=max_changes, max_bytes=max_bytes)
    added: list[tuple[int, RowChange]] = []  # (partition, change)
    emitted: set[int] = set()  # start_ts doubles as a unique id
    last_wm: dict[int, int] = {}
    ended: set[int] = set()
    uid = 0

    def consume(outs: list[Output]) -> None:
        for o in outs:
            if isinstance(o, ChangeBatch):
                assert o.partition not in ended
                assert 1 <= len(o.changes) <= max_changes
                assert o.nbytes == sum(change_size(c) for c in o.changes)
                assert o.nbytes <= max_bytes or len(o.changes) == 1
                for c in o.changes:
                    assert c.table_id == o.table_id
                    assert part.partition(o.table_id, c.key) == o.partition
                    assert c.start_ts not in emitted
                    emitted.add(c.start_ts)
            elif isinstance(o, Watermark):
                assert o.partition not in ended
                assert o.resolved_ts > last_wm.get(o.partition, 0)
                last_wm[o.partition] = o.resolved_ts
                for p, c in added:
                    if p == o.partition and c.commit_ts <= o.resolved_ts:
                        assert c.start_ts in emitted
            else:
                assert isinstance(o, End)
                for p, c in added:
                    if p == o.partition:
                        assert c.start_ts in emitted
                ended.add(o.partition)

    for op in run:
        if op[0] == "add":
            _, table, handle, delta, size = op
            assert isinstance(table, int) and isinstance(handle, int)
            assert isinstance(delta, int) and isinstance(size, int)
            uid += 1
            key = record_prefix(table) + encode_int(handle)
            c = RowChange(0, table, key, uid, b.watermark_ts + delta, OpType.PUT, b"x" * size, b"")
            added.append((part.partition(table, key), c))
            consume(list(b.add(c)))
        elif op[0] == "wm":
            delta = op[1]
            assert isinstance(delta, int)
            consume(b.watermark(b.watermark_ts + delta))
        else:
            consume(list(b.flush()))
    consume(b.end(10**9))
    assert ended == set(range(partitions))
    assert emitted == {c.start_ts for _, c in added}


@settings(max_examples=200, deadline=None)
@given(
    run=st.lists(
        st.one_of(
            st.lists(
                st.tuples(st.integers(1, 3), st.integers(0, 30), st.integers(1, 20)), max_size=8
            ),
            st.integers(-5, 25),  # a watermark, relative to the last one
        ),
        max_size=30,
    ),
    spread=st.booleans(),
    max_changes=st.integers(1, 6),
    max_bytes=st.integers(60, 600),
)
def test_add_many_is_add_for_each(
    run: list[list[tuple[int, int, int]] | int], spread: bool, max_changes: int, max_bytes: int
) -> None:
    part = Partitioner(3, spread_tables={2} if spread else ())
    many = Batcher(part, max_changes=max_changes, max_bytes=max_bytes)
    one = Batcher(part, max_changes=max_changes, max_bytes=max_bytes)
    uid = 0
    for step in run:
        if isinstance(step, int):
            wm = many.watermark_ts + step
            assert many.watermark(wm) == one.watermark(wm)
            continue
        chunk = []
        for table, handle, delta in step:
            uid += 1
            key = record_prefix(table) + encode_int(handle)
            ts = many.watermark_ts + delta
            chunk.append(RowChange(0, table, key, uid, ts, OpType.PUT, b"v" * handle, b""))
        expected: list[ChangeBatch] = []
        for c in chunk:
            expected.extend(one.add(c))
        assert many.add_many(chunk) == expected
    assert many.end(10**9) == one.end(10**9)
