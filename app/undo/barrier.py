"""Keys of the ``<job>.progress`` notes and the ``_tidb_rowid`` phase barrier over them. Pure.

Notes (compacted topic, one partition, latest value per key wins):

- ``holds/<p>`` → JSON ``{"tables": [...], "instance", "attempt"}``: the ``_tidb_rowid`` table
  ids partition ``p`` holds, published when ``p`` reached End and before it applies anything
  (a bare list in notes of an older tiundo);
- ``done/<p>/<table_id>/<phase>`` → JSON table counters followed by instance and attempt, once
  ``p`` committed that phase of that table downstream;
- ``part/<p>`` → JSON :class:`app.report.PartitionReport` (with ``instance``/``attempt``) when
  ``p`` finished or failed.

Every note names the job start that wrote it (:mod:`app.undo.owner`); a worker takes only its
own start's (:func:`takes_note`), so a note of an earlier instance or attempt never makes a
partition look done or opens a barrier.

Phase 1 (inserts) of table X may start once every partition published ``holds/*`` and every
partition holding X published ``done/<q>/X/0``. Phase 0 never waits, so no wait cycle exists.

X is a physical table. When its logical table has a global index (TiDB 8.x partitioned tables,
``is_global``), a row that moved between partitions after T has its T image in one physical
table and its E image in another, both under the same global unique key: inserting the T image
before the other partition's phase 0 deleted the E image would clash. So then phase 1 of X also
waits for phase 0 of every sibling partition (:func:`barrier_siblings`) on every partition
holding it. Still only phase 1 waits, and only for phase 0s: no cycle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from app.report import TableReport
from app.undo.owner import Owner
from core.codec.tableinfo import TableInfo

__all__ = [
    "barrier_open",
    "barrier_siblings",
    "done_key",
    "done_report",
    "done_value",
    "holds_key",
    "holds_tables",
    "holds_value",
    "keep_note",
    "note_writer",
    "part_key",
    "reporting_partitions",
    "takes_note",
]


def holds_key(partition: int) -> str:
    """Note naming the rowid tables of a partition."""
    return f"holds/{partition}"


def holds_value(table_ids: Sequence[int], owner: Owner) -> bytes:
    """The ``holds/<p>`` note: the partition's ``_tidb_rowid`` tables, signed by its start."""
    obj = {"tables": list(table_ids), "instance": owner.instance, "attempt": owner.attempt}
    return json.dumps(obj).encode()


def holds_tables(raw: bytes) -> list[int]:
    """Table ids of a ``holds/<p>`` note (also the bare list of an older tiundo)."""
    obj = json.loads(raw)
    tables = obj["tables"] if isinstance(obj, dict) else obj
    return [int(t) for t in tables]


def note_writer(raw: bytes) -> Owner:
    """The start that wrote a note; ``Owner()`` (none) when the note names none or is no JSON.

    ``part/`` and ``holds/`` notes are objects with ``instance``/``attempt``; ``done/`` notes
    are lists whose elements 7 and 8 are those (:func:`done_value`).
    """
    try:
        obj = json.loads(raw)
    except ValueError:
        return Owner()
    if isinstance(obj, dict):
        instance, attempt = obj.get("instance", ""), obj.get("attempt", 0)
    elif isinstance(obj, list) and len(obj) >= 9:
        instance, attempt = obj[7], obj[8]
    else:
        return Owner()
    if not isinstance(instance, str) or not isinstance(attempt, int):
        return Owner()
    return Owner(instance, attempt)


def takes_note(owner: Owner, raw: bytes) -> bool:
    """Whether a worker (or watcher) of ``owner``'s start takes the note ``raw`` as its own."""
    writer = note_writer(raw)
    return owner.owns(writer.instance, writer.attempt)


def keep_note(notes: dict[str, bytes], owner: Owner, key: str, raw: bytes) -> Owner | None:
    """Put a note read from the board into ``notes`` when ``owner``'s start wrote it.

    Returns ``None`` then, else the note's writer: that note is ignored, so it neither stands
    in for a note this start has not written nor overwrites one it has (latest of its own wins).
    """
    writer = note_writer(raw)
    if not owner.owns(writer.instance, writer.attempt):
        return writer
    notes[key] = raw
    return None


def done_value(rep: TableReport, owner: Owner) -> bytes:
    """The ``done/...`` note: the table's counters, then the start that wrote it."""
    return json.dumps(
        [rep.table_id, rep.db, rep.name, rep.restored, rep.deleted, rep.skipped, rep.dead_letters,
         owner.instance, owner.attempt]
    ).encode()  # fmt: skip


def done_report(raw: bytes) -> TableReport:
    """The counters of a ``done/...`` note (:func:`done_value`, or an older tiundo's)."""
    t = json.loads(raw)
    return TableReport(int(t[0]), str(t[1]), str(t[2]), *(int(x) for x in t[3:7]))


def done_key(partition: int, table_id: int, phase: int) -> str:
    """Note of one finished (partition, table, phase)."""
    return f"done/{partition}/{table_id}/{phase}"


def part_key(partition: int) -> str:
    """Note holding a partition's final report."""
    return f"part/{partition}"


def barrier_siblings(info: TableInfo) -> tuple[int, ...]:
    """Physical ids whose phase 0 a phase 1 of any of them waits for.

    Every partition of a table with a global index, else none (the barrier stays per physical
    table).
    """
    if not info.has_global_index:
        return ()
    return tuple(sorted(info.physical_ids()))


def barrier_open(
    notes: Mapping[str, bytes], partitions: int, table_id: int, siblings: Iterable[int] = ()
) -> bool:
    """Whether phase 1 of ``table_id`` may start on any partition.

    It waits for phase 0 of ``table_id`` and of each of ``siblings`` on every partition
    holding them.
    """
    tables = {table_id, *siblings}
    waits: list[tuple[int, int]] = []
    for p in range(partitions):
        raw = notes.get(holds_key(p))
        if raw is None:
            return False
        waits.extend((p, t) for t in tables.intersection(holds_tables(raw)))
    return all(done_key(q, t, 0) in notes for q, t in waits)


def reporting_partitions(notes: Mapping[str, bytes]) -> list[int]:
    """Partitions whose final report is on the board."""
    return sorted(int(k.split("/", 1)[1]) for k in notes if k.startswith("part/"))
