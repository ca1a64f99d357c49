"""Mount → plan for a run of compact-table entries of one table: the undo stage's inner loop.

The live undo and the dry run both turn ``(row key, stored KeyState)`` entries into actions and
outcome counts, and both dead-letter what does not decode; this is that loop, once. Pure (the
undo chain and the codec only): the Faust stage awaits the dead letters and the sink itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo

from app.undo.merge import decode_state
from app.undo.model import UndoTable
from app.undo.mount import mount_row
from app.undo.plan import Action, PlanCounts, plan_row
from core.codec.tableinfo import TableInfo
from core.errors import DecodeError

__all__ = ["Planned", "Unplanned", "plan_entries"]


@dataclass(frozen=True, slots=True)
class Unplanned:
    """An entry that could not be mounted or planned; the caller dead-letters it."""

    key: bytes
    raw: bytes
    error: DecodeError


@dataclass(frozen=True, slots=True)
class Planned:
    """What a run of entries comes to: counts, actions (entry order) and the failures."""

    counts: PlanCounts
    actions: tuple[Action, ...]
    failed: tuple[Unplanned, ...]


def plan_entries(
    entries: Iterable[tuple[bytes, bytes]],
    info: TableInfo | None,
    table: UndoTable | None,
    tz: tzinfo,
    *,
    counts: PlanCounts | None = None,
    schema_error: str = "",
    new_collation: bool = True,
) -> Planned:
    """Mount and plan each ``(key, encoded KeyState)`` in order.

    ``counts`` is the running total to add this run's outcomes to. Without a schema (``info``
    or ``table`` is ``None``) every entry fails with ``DecodeError(schema_error)``, so a table
    whose schema could not be read is dead-lettered key by key, like any undecodable row.
    ``new_collation`` is the cluster's setting (:func:`core.codec.row.decode_row`).
    """
    total = PlanCounts() if counts is None else counts
    actions: list[Action] = []
    failed: list[Unplanned] = []
    for key, raw in entries:
        try:
            if info is None or table is None:
                raise DecodeError(schema_error)
            row = mount_row(key, decode_state(raw), info, tz, new_collation)
            outcome, acts = plan_row(table, row)
        except DecodeError as exc:
            failed.append(Unplanned(key, raw, exc))
            continue
        total = total.add(outcome)
        actions.extend(acts)
    return Planned(total, tuple(actions), tuple(failed))
