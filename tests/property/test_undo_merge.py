"""The compact state is order-free: any permutation or duplication of a key's changes agrees."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from app.undo.merge import KeyState, combine, decode_state, encode_state, merge_many
from app.undo.model import DELETE, PUT, Change


@st.composite
def histories(draw: st.DrawFn) -> list[Change]:
    """A key's history as TiKV writes it: distinct commit_ts, each old value = previous value."""
    n = draw(st.integers(min_value=1, max_value=8))
    commit_ts = sorted(draw(st.sets(st.integers(1, 1 << 62), min_size=n, max_size=n)))
    images = draw(
        st.lists(
            st.sampled_from([b"", b"a", b"bb", b"\x00", b"ccc"]), min_size=n + 1, max_size=n + 1
        )
    )
    out = []
    for i, ts in enumerate(commit_ts):
        value = images[i + 1]
        out.append(
            Change(
                start_ts=ts - 1,
                commit_ts=ts,
                op_type=PUT if value else DELETE,
                value=value,
                old_value=images[i],
            )
        )
    return out


def _images(s: KeyState | None) -> KeyState | None:
    return None if s is None else dataclasses.replace(s, changes=0)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), history=histories())
def test_any_order_and_duplication_gives_same_state(
    data: st.DataObject, history: list[Change]
) -> None:
    reference = merge_many(None, history)
    extra = data.draw(st.lists(st.sampled_from(history), max_size=6))
    delivered = data.draw(st.permutations(history + extra))
    got = merge_many(None, delivered)
    assert _images(got) == _images(reference)
    assert got is not None and reference is not None
    assert got.changes == len(delivered)
    # the two ends are the row at T and at E
    assert got.old_value == history[0].old_value
    assert got.value == history[-1].value
    assert not got.first_conflict and not got.last_conflict


@settings(max_examples=200, deadline=None)
@given(data=st.data(), history=histories())
def test_split_merge_then_combine_agrees(data: st.DataObject, history: list[Change]) -> None:
    """Two workers compacting disjoint shares of the deliveries, then combined, agree."""
    delivered = data.draw(st.permutations(history + history[:1]))
    cut = data.draw(st.integers(1, len(delivered)))
    left = merge_many(None, delivered[:cut])
    right = merge_many(None, delivered[cut:])
    whole = left if right is None else combine(left, right)  # type: ignore[arg-type]
    assert whole == merge_many(None, delivered)


conflicting = st.builds(
    Change,
    start_ts=st.integers(0, 3),
    commit_ts=st.integers(1, 3),
    op_type=st.sampled_from([PUT, DELETE]),
    value=st.sampled_from([b"", b"x", b"y"]),
    old_value=st.sampled_from([b"", b"x", b"y"]),
)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), changes=st.lists(conflicting, min_size=1, max_size=6))
def test_tie_rule_and_conflict_flags_are_order_free(
    data: st.DataObject, changes: list[Change]
) -> None:
    """Even corrupt inputs (same commit_ts, different payload) converge on one state."""
    a = merge_many(None, changes)
    b = merge_many(None, data.draw(st.permutations(changes + changes[:2])))
    assert _images(a) == _images(b)
    assert a is not None
    lo = min(c.commit_ts for c in changes)
    at_lo = {(c.start_ts, c.op_type, c.old_value) for c in changes if c.commit_ts == lo}
    assert a.first_conflict == (len(at_lo) > 1)
    assert (a.first_start_ts, a.first_op_type, a.old_value) == min(at_lo)


states = st.builds(
    KeyState,
    first_commit_ts=st.integers(0, 1 << 63),
    first_start_ts=st.integers(0, (1 << 64) - 1),
    first_op_type=st.sampled_from([PUT, DELETE]),
    old_value=st.binary(max_size=40),
    last_commit_ts=st.just(1 << 63),
    last_start_ts=st.integers(0, (1 << 64) - 1),
    last_op_type=st.sampled_from([PUT, DELETE]),
    value=st.binary(max_size=40),
    changes=st.integers(0, (1 << 64) - 1),
    first_conflict=st.booleans(),
    last_conflict=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(s=states)
def test_layout_round_trip(s: KeyState) -> None:
    assert decode_state(encode_state(s)) == s
