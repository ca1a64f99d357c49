from __future__ import annotations

import json

from app.undo.barrier import (
    barrier_open,
    barrier_siblings,
    done_key,
    holds_key,
    part_key,
    reporting_partitions,
)
from core.codec.tableinfo import TableInfo
from simulator.tabledef import ColumnDef, IndexDef, PartitionDef, TableDef


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


def _parted(global_index: bool) -> TableInfo:
    tdef = TableDef(
        "db", "p", (ColumnDef("a", "int", nullable=False), ColumnDef("u", "int")),
        indexes=(IndexDef("uk_u", ("u",), unique=True, global_index=global_index),),
        partition=PartitionDef("hash", "a", count=3),
    )  # fmt: skip
    return tdef.table_info(20, (21, 22, 23))


def test_global_index_makes_phase_one_wait_for_every_partitions_phase_zero() -> None:
    """A row moved between partitions after T: its E image (partition 22) must be deleted before
    its T image (partition 21) is inserted, or the global unique index rejects the insert."""
    info = _parted(global_index=True)
    pids = sorted(info.physical_ids())
    assert len(pids) == 3
    siblings = barrier_siblings(info)
    assert siblings == tuple(pids)
    notes = dict([_holds(0, [pids[0]]), _holds(1, [pids[1]])])
    notes[done_key(0, pids[0], 0)] = b"{}"
    assert barrier_open(notes, 2, pids[0])  # the table alone: open
    assert not barrier_open(notes, 2, pids[0], siblings)  # partition 1 still deletes pids[1]
    notes[done_key(1, pids[1], 0)] = b"{}"
    assert barrier_open(notes, 2, pids[0], siblings)  # pids[2] is held nowhere


def test_without_a_global_index_the_barrier_stays_per_physical_table() -> None:
    assert barrier_siblings(_parted(global_index=False)) == ()
