"""Buffered-then-flushed merge == the per-batch merge, for any split, order and duplication."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from app.undo.buffer import MergeBuffer
from app.undo.merge import KeyState, merge_many
from app.undo.model import DELETE, PUT, Change

KEYS = [b"k1", b"k2", b"k3"]


@st.composite
def deliveries(draw: st.DrawFn) -> list[tuple[bytes, Change]]:
    """Each key's TiKV history (distinct commit_ts, old value = previous value), then every
    change delivered at least once, some twice, a few conflicting, in any order."""
    out: list[tuple[bytes, Change]] = []
    for key in draw(st.sets(st.sampled_from(KEYS), min_size=1)):
        n = draw(st.integers(1, 6))
        stamps = sorted(draw(st.sets(st.integers(1, 1 << 40), min_size=n, max_size=n)))
        images = draw(st.lists(st.sampled_from([b"", b"a", b"bb"]), min_size=n + 1, max_size=n + 1))
        for i, ts in enumerate(stamps):
            value = images[i + 1]
            op = PUT if value else DELETE
            out.append((key, Change(ts - 1, ts, op, value, images[i])))
    extra = draw(st.lists(st.sampled_from(out), max_size=5))
    # a change that shares a commit_ts with another and not its payload (a conflict)
    clash = [
        (key, Change(ch.start_ts + 1, ch.commit_ts, PUT, b"zz", b"q"))
        for key, ch in draw(st.lists(st.sampled_from(out), max_size=2))
    ]
    return list(draw(st.permutations(out + extra + clash)))


Delivery = tuple[bytes, Change]


def _batches(draw: st.DrawFn, items: list[Delivery]) -> list[list[Delivery]]:
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(items) - 1)), max_size=len(items))))
    bounds = [0, *[c for c in cuts if c < len(items)], len(items)]
    return [items[a:b] for a, b in itertools.pairwise(bounds) if a < b]


def _per_batch(batches: list[list[tuple[bytes, Change]]]) -> dict[bytes, KeyState]:
    """Today's path: each batch read-merge-writes each of its keys."""
    store: dict[bytes, KeyState] = {}
    for batch in batches:
        by_key: dict[bytes, list[Change]] = {}
        for key, ch in batch:
            by_key.setdefault(key, []).append(ch)
        for key, changes in by_key.items():
            state = merge_many(store.get(key), changes)
            assert state is not None
            store[key] = state
    return store


@settings(max_examples=300, deadline=None)
@given(data=st.data(), items=deliveries())
def test_buffered_then_flushed_equals_per_batch(data: st.DataObject, items: list) -> None:
    batches = _batches(data.draw, items)
    # flushes after any subset of the batches
    flush_after = data.draw(st.sets(st.integers(0, len(batches) - 1)))
    store: dict[bytes, KeyState] = {}
    seqs: dict[int, int] = {}
    buf = MergeBuffer()
    for seq, batch in enumerate(batches):
        by_key: dict[bytes, list[Change]] = {}
        for key, ch in batch:
            by_key.setdefault(key, []).append(ch)
        for key, changes in by_key.items():
            buf.add(key, changes, None if key in buf else store.get(key))
        buf.add_batch(seq, len(batch))
        if seq in flush_after or seq == len(batches) - 1:
            store.update(buf.states())
            seqs.update(buf.seqs)
            buf.clear()
            assert buf.empty and buf.changes == 0
    assert store == _per_batch(batches)
    assert seqs == {seq: len(b) for seq, b in enumerate(batches)}
    # and both are the merge of everything delivered, whatever the order
    for key in {k for k, _ in items}:
        assert store[key] == merge_many(None, [c for k, c in items if k == key])


@settings(max_examples=200, deadline=None)
@given(data=st.data(), items=deliveries())
def test_buffer_counts_the_changes_it_merged(data: st.DataObject, items: list) -> None:
    store_base = {KEYS[0]: merge_many(None, [Change(1, 2, PUT, b"x", b"")])}
    buf = MergeBuffer()
    merged = 0
    for batch in _batches(data.draw, items):
        for key, ch in batch:
            buf.add(key, [ch], None if key in buf else store_base.get(key))
            merged += 1
        assert buf.changes == merged  # the stored base is not counted again
    assert len(buf) == len({k for k, _ in items})
