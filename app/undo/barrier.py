"""Keys of the ``<job>.progress`` notes and the ``_tidb_rowid`` phase barrier over them. Pure.

Notes (compacted topic, one partition, latest value per key wins):

- ``holds/<p>`` → JSON list of the ``_tidb_rowid`` table ids partition ``p`` holds, published
  when ``p`` reached End and before it applies anything;
- ``done/<p>/<table_id>/<phase>`` → JSON table counters, once ``p`` committed that phase of
  that table downstream;
- ``part/<p>`` → JSON :class:`app.report.PartitionReport` when ``p`` finished or failed.

Phase 1 (inserts) of table X may start once every partition published ``holds/*`` and every
partition holding X published ``done/<q>/X/0``. Phase 0 never waits, so no wait cycle exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = ["barrier_open", "done_key", "holds_key", "part_key", "reporting_partitions"]


def holds_key(partition: int) -> str:
    """Note naming the rowid tables of a partition."""
    return f"holds/{partition}"


def done_key(partition: int, table_id: int, phase: int) -> str:
    """Note of one finished (partition, table, phase)."""
    return f"done/{partition}/{table_id}/{phase}"


def part_key(partition: int) -> str:
    """Note holding a partition's final report."""
    return f"part/{partition}"


def barrier_open(notes: Mapping[str, bytes], partitions: int, table_id: int) -> bool:
    """Whether phase 1 of ``table_id`` may start on any partition."""
    holders = []
    for p in range(partitions):
        raw = notes.get(holds_key(p))
        if raw is None:
            return False
        if table_id in json.loads(raw):
            holders.append(p)
    return all(done_key(q, table_id, 0) in notes for q in holders)


def reporting_partitions(notes: Mapping[str, bytes]) -> list[int]:
    """Partitions whose final report is on the board."""
    return sorted(int(k.split("/", 1)[1]) for k in notes if k.startswith("part/"))
