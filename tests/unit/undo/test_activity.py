"""The stall watch: which partitions nobody moved, and who holds them (issue 14)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.undo.activity import (
    Activity,
    Stall,
    StallClock,
    beat_key,
    beats_of,
    stall_lines,
    stalls,
)
from app.undo.owner import Owner

OWNER = Owner("inst", 2)


def _act(p: int, at_ms: int, worker: str = "h:1", stage: str = "compacting") -> Activity:
    return Activity(p, worker, stage, at_ms, OWNER.instance, OWNER.attempt)


@given(
    p=st.integers(0, 1000),
    worker=st.text(max_size=30),
    stage=st.text(max_size=60),
    at_ms=st.integers(0, 2**53),
)
def test_a_note_reads_back_as_written(p: int, worker: str, stage: str, at_ms: int) -> None:
    act = Activity(p, worker, stage, at_ms, OWNER.instance, OWNER.attempt)
    assert Activity.from_json(act.to_json(OWNER)) == act


def test_beats_are_taken_from_beat_notes_only_and_bad_ones_skipped() -> None:
    notes = {
        beat_key(0): _act(0, 10).to_json(OWNER),
        beat_key(1): b"not json",
        beat_key(2): b"[1, 2]",
        "part/3": b"{}",
    }
    assert beats_of(notes) == {0: _act(0, 10)}


def test_a_partition_silent_longer_than_the_limit_is_named_with_its_worker() -> None:
    beats = {0: _act(0, 100_000, "a:1"), 1: _act(1, 10_000, "b:2", "assigned")}
    found = stalls(4, beats, [3], now_ms=130_000, since_ms=0, stall_s=60)
    # 0 moved 30 s ago, 1 has been silent for 120 s, 2 was never noted (since 0), 3 reported
    assert [(s.partition, s.idle_s, s.worker, s.stage) for s in found] == [
        (1, 120.0, "b:2", "assigned"),
        (2, 130.0, "", ""),
    ]
    lines = stall_lines(found)
    assert any("partition(s) 1:" in x and "worker b:2" in x and "assigned" in x for x in lines)
    assert any("partition(s) 2:" in x and "no worker has taken them" in x for x in lines)


def test_a_finished_partition_is_never_stalled() -> None:
    beats = {0: _act(0, 0)}
    assert stalls(1, beats, [0], now_ms=10**9, since_ms=0, stall_s=1) == []


def test_without_a_start_time_unnoted_partitions_count_from_the_oldest_note() -> None:
    beats = {0: _act(0, 50_000)}
    found = stalls(2, beats, [], now_ms=100_000, since_ms=None, stall_s=30)
    assert [(s.partition, s.idle_s) for s in found] == [(0, 50.0), (1, 50.0)]
    assert stalls(2, {}, [], now_ms=100_000, since_ms=None, stall_s=30) == []


def test_partitions_of_one_worker_share_a_line() -> None:
    beats = {p: _act(p, 0, "w:9") for p in range(3)}
    lines = stall_lines(stalls(3, beats, [], now_ms=90_000, since_ms=0, stall_s=60))
    assert len(lines) == 1 and lines[0].startswith("partition(s) 0, 1, 2: no progress for 90 s")


def _stall(p: int) -> Stall:
    return Stall(p, 130.0, "h:1", "compacting")


def test_the_stall_clock_gives_up_only_on_a_partition_stalled_continuously_long_enough() -> None:
    clock = StallClock(give_up_s=60)
    assert clock.beyond([_stall(0), _stall(1)], now=100) == []
    assert clock.beyond([_stall(0)], now=130) == []  # partition 1 moved: its clock stops
    assert clock.beyond([_stall(0), _stall(1)], now=159) == []
    assert clock.beyond([_stall(0), _stall(1)], now=160) == [_stall(0)]
    assert clock.beyond([_stall(0), _stall(1)], now=218) == [_stall(0)]  # 1: again since 159
    assert clock.beyond([_stall(0), _stall(1)], now=219) == [_stall(0), _stall(1)]


def test_the_stall_clock_starts_again_after_kafka_was_away() -> None:
    clock = StallClock(give_up_s=60)
    clock.beyond([_stall(3)], now=0)
    clock.reset()  # nobody could note anything meanwhile
    assert clock.beyond([_stall(3)], now=70) == []
    assert clock.beyond([_stall(3)], now=130) == [_stall(3)]
