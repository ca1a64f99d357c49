from __future__ import annotations

import json

from app.undo.barrier import barrier_open, done_key, holds_key, part_key, reporting_partitions


def _holds(p: int, tables: list[int]) -> tuple[str, bytes]:
    return holds_key(p), json.dumps(tables).encode()


def test_closed_until_every_partition_said_what_it_holds() -> None:
    notes = dict([_holds(0, [9]), _holds(1, [])])
    notes[done_key(0, 9, 0)] = b"{}"
    assert not barrier_open(notes, 3, 9)  # partition 2 has not reached End
    notes.update([_holds(2, [9, 10])])
    assert not barrier_open(notes, 3, 9)  # partition 2 holds table 9, phase 0 not done
    notes[done_key(2, 10, 0)] = b"{}"
    assert not barrier_open(notes, 3, 9)
    notes[done_key(2, 9, 0)] = b"{}"
    assert barrier_open(notes, 3, 9)


def test_table_held_nowhere_opens_once_all_reported() -> None:
    notes = dict([_holds(0, []), _holds(1, [])])
    assert barrier_open(notes, 2, 5)


def test_phase_one_notes_do_not_count() -> None:
    notes = dict([_holds(0, [9])])
    notes[done_key(0, 9, 1)] = b"{}"
    assert not barrier_open(notes, 1, 9)


def test_reporting_partitions() -> None:
    notes = {part_key(3): b"", part_key(0): b"", holds_key(1): b"[]"}
    assert reporting_partitions(notes) == [0, 3]
