"""The "records compacted" bar of ``tiundo run`` follows the compaction, not Faust's commit timer.

Faust commits the workers' offsets on a timer, and a small job ends before the first commit:
the bar stayed at ``records 0/N`` while every partition finished (issue 13 item 8).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.cli.jobstate import JobSnapshot, compacted_records, partitions_at_end
from app.cli.progress import LineDisplay, PhaseModel
from app.undo.barrier import done_key, holds_key, part_key


def test_a_partition_whose_undo_began_counts_whole_before_any_commit() -> None:
    ends = {0: 9, 1: 6, 2: 7}
    notes = {holds_key(0).encode(): b"", done_key(1, 101, 0).encode(): b"", b"other/2": b""}
    at_end = partitions_at_end(notes)
    assert at_end == {0, 1}
    # nothing committed yet: partitions 0 and 1 reached their END, 2 is still compacting
    assert compacted_records(ends, {}, at_end) == 15
    assert compacted_records(ends, {2: 3}, at_end) == 18


def test_every_partition_reported_means_every_record_compacted() -> None:
    ends = {0: 9, 1: 6, 2: 7}
    notes = {part_key(p).encode(): b"{}" for p in ends}
    done = compacted_records(ends, {}, partitions_at_end(notes))
    model = PhaseModel(partitions=3)
    model.job = JobSnapshot(None, kv_end=sum(ends.values()), kv_consumed=done)
    assert model.phases()[2] == (22, 22, "")
    assert "records 22/22" in LineDisplay().line(model)


@given(
    st.dictionaries(st.integers(0, 7), st.integers(0, 1000), min_size=1),
    st.dictionaries(st.integers(0, 7), st.integers(-1, 2000)),
    st.sets(st.integers(0, 7)),
)
def test_never_above_the_end_and_never_below_the_commits(
    ends: dict[int, int], committed: dict[int, int], at_end: set[int]
) -> None:
    n = compacted_records(ends, committed, at_end)
    assert 0 <= n <= sum(ends.values())
    floor = sum(min(e, max(committed.get(p, 0), 0)) for p, e in ends.items())
    assert n >= floor
    if set(ends) <= at_end:
        assert n == sum(ends.values())
