"""The undo plan: per changed row key, what to write so the table is back at ``T``.

Input: the mounted rows of one table (image at ``T``, image at ``E``, handle, first/last
commit_ts), one per row key changed in ``(T, E]``. Output: actions grouped in *phases*; a sink
must finish every action of phase ``i`` (on every partition) before it starts phase ``i + 1``.
Inside a phase, actions may run in any order, in any batching and in parallel. Only the
primary-key actions may also run more than once: a ``_tidb_rowid`` table's phase-2 ``INSERT``
replayed duplicates its row, and a replayed ``DELETE … LIMIT 1`` of a row that has an identical
twin removes the unchanged twin. So the sink applies each transaction exactly once (a
downstream progress counter moved in the same transaction, ``app.sink.mysql``); DESIGN.md's
"idempotent" holds for the primary-key path only.

Why that holds (DESIGN.md, "Why it is correct"):

- Primary-key tables (int handle or clustered key), one phase. Absent at ``T`` →
  ``DELETE`` by primary key; present at ``T`` → ``REPLACE`` of the ``T`` image. A key absent at
  ``T`` is the primary key of no ``T`` image, so no ``REPLACE`` recreates what a ``DELETE``
  removed. A ``REPLACE`` may remove other rows that clash on a unique key, but at ``T`` no two
  rows clash, so every row it removes is itself changed and is restored by its own action. A
  primary-key change is a DELETE of the old key plus a PUT of the new one in TiKV: two keys, two
  actions (restore the old row, delete the new one).
- ``_tidb_rowid`` tables, two phases. Rows have no identity SQL can name, so phase 1 deletes
  every changed row's image at ``E`` and phase 2 inserts every changed row's image at ``T``.
  A phase-1 delete names its row by the first unique key whose columns are all non-NULL in the
  ``E`` image and not FLOAT (unique at ``E``, and the table only shrinks during phase 1); else
  by all columns, null-safe, ``LIMIT 1``: rows equal in every column are interchangeable, so
  deleting any one of them leaves the same multiset. After phase 1 the table holds exactly the
  unchanged rows, and adding the ``T`` images gives the table at ``T`` (new ``_tidb_rowid``
  values: the hidden id itself is not restored).

No-ops (absent at both ends, or equal images) produce no action and are counted as skipped.
"Equal" means "TiDB stores the same bytes" (:func:`same_value`), stricter than Python's ``==``
and than TiDB's own JSON comparison (``CompareBinaryJSON`` takes int64/uint64/double ``1`` as
equal): JSON ``true``, ``1``, uint64 ``1`` and ``1.0`` differ, JSON null
(:data:`~core.codec.jsonbin.JSON_NULL`) differs from SQL NULL (``None``), a JSON DATE from the
string it prints as, ``-0.0`` from ``0.0``, and a JSON TIME's stored fsp counts. A false
"different" only costs a harmless rewrite; a false "equal" leaves the row at its ``E`` value.
Images are mappings column name → decoded value; every column of ``table.columns`` that an
action writes or matches must be present (:class:`PlanError` otherwise).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.undo.model import Handle, Identity, Image, MountedRow, UndoTable
from core.codec.jsonbin import JsonDuration
from core.errors import DecodeError

__all__ = [
    "Action",
    "DeleteByKey",
    "DeleteRow",
    "Insert",
    "Outcome",
    "PlanCounts",
    "PlanError",
    "Replace",
    "TablePlan",
    "delete_key_for",
    "plan_row",
    "plan_table",
    "same_value",
]


class PlanError(DecodeError):
    """A mounted row the planner cannot use (a column missing from an image); dead-letter it."""


@dataclass(frozen=True, slots=True)
class Replace:
    """Write the row's image at ``T`` over whatever holds its primary or unique keys."""

    table: UndoTable
    handle: Handle
    first_commit_ts: int
    last_commit_ts: int
    values: tuple[object, ...]
    """In ``table.columns`` order."""

    phase = 0


@dataclass(frozen=True, slots=True)
class Insert:
    """Phase 2 of a ``_tidb_rowid`` table: add the row's image at ``T``."""

    table: UndoTable
    handle: Handle
    first_commit_ts: int
    last_commit_ts: int
    values: tuple[object, ...]
    """In ``table.columns`` order."""

    phase = 1


@dataclass(frozen=True, slots=True)
class DeleteByKey:
    """Delete the row whose key columns equal ``key`` (primary key, or a non-NULL unique key)."""

    table: UndoTable
    handle: Handle
    first_commit_ts: int
    last_commit_ts: int
    columns: tuple[str, ...]
    key: tuple[object, ...]
    phase: int
    """0 for primary-key tables, 0 (phase 1 of 2) for ``_tidb_rowid`` tables as well."""


@dataclass(frozen=True, slots=True)
class DeleteRow:
    """Phase 1 of a ``_tidb_rowid`` table without a usable key: delete one row equal to all."""

    table: UndoTable
    handle: Handle
    first_commit_ts: int
    last_commit_ts: int
    values: tuple[object, ...]
    """The image at ``E`` in ``table.columns`` order; NULLs match NULLs."""

    phase = 0


Action = Replace | Insert | DeleteByKey | DeleteRow


class Outcome(enum.Enum):
    """What the undo does to one row key, for the report."""

    RESTORED = "restored"
    """Present at ``T``: its image at ``T`` is written back."""
    DELETED = "deleted"
    """Absent at ``T``, present at ``E``: removed."""
    SKIPPED = "skipped"
    """Absent at both ends, or the same image at both: nothing to do."""


@dataclass(frozen=True, slots=True)
class PlanCounts:
    """Row keys per outcome for one table."""

    restored: int = 0
    deleted: int = 0
    skipped: int = 0

    def add(self, outcome: Outcome) -> PlanCounts:
        """Counts with one more row key of ``outcome``."""
        return PlanCounts(
            restored=self.restored + (outcome is Outcome.RESTORED),
            deleted=self.deleted + (outcome is Outcome.DELETED),
            skipped=self.skipped + (outcome is Outcome.SKIPPED),
        )


@dataclass(frozen=True, slots=True)
class TablePlan:
    """All actions for one table, by phase (one phase for primary-key tables, two otherwise)."""

    table: UndoTable
    phases: tuple[tuple[Action, ...], ...]
    counts: PlanCounts


def _values(
    table: UndoTable, image: Image, columns: Sequence[str], row: MountedRow
) -> tuple[object, ...]:
    try:
        return tuple(image[c] for c in columns)
    except KeyError as exc:
        raise PlanError(
            f"table {table.db}.{table.name} handle {row.handle!r} "
            f"(commit_ts {row.first_commit_ts}..{row.last_commit_ts}): image lacks column {exc}"
        ) from exc


def same_value(a: object, b: object) -> bool:
    """Equal values of the same type, containers (JSON arrays/objects) compared item by item.

    Types must match exactly (``JsonUint`` vs ``int``, ``JSON_NULL`` vs ``None``, ``bool`` vs
    ``int``); floats also by sign (``-0.0`` is stored apart from ``0.0``); a JSON TIME also by
    the fsp stored next to it.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, JsonDuration):
        assert isinstance(b, JsonDuration)
        return a == b and a.fsp == b.fsp
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _same_image(t: Image, e: Image) -> bool:
    return t.keys() == e.keys() and all(same_value(t[c], e[c]) for c in t)


def delete_key_for(table: UndoTable, e_image: Image) -> tuple[str, ...] | None:
    """The unique key that names this ``E`` image in a phase-1 delete, or None (match all).

    Usable: every column is a writable column, non-NULL in the image, and not FLOAT.
    """
    writable = set(table.columns)
    for key in table.unique_keys:
        if key and all(
            c in writable and c not in table.float_columns and e_image.get(c) is not None
            for c in key
        ):
            return tuple(key)
    return None


def plan_row(table: UndoTable, row: MountedRow) -> tuple[Outcome, tuple[Action, ...]]:
    """The outcome and the actions (each with its ``phase``) for one changed row key."""
    t, e = row.t_image, row.e_image
    if (t is None and e is None) or (t is not None and e is not None and _same_image(t, e)):
        return Outcome.SKIPPED, ()
    common = (table, row.handle, row.first_commit_ts, row.last_commit_ts)
    if table.identity is not Identity.ROWID:
        if not table.pk_columns:
            raise ValueError(f"table {table.db}.{table.name}: {table.identity} without pk_columns")
        if t is not None:
            return Outcome.RESTORED, (Replace(*common, _values(table, t, table.columns, row)),)
        assert e is not None
        pk = tuple(table.pk_columns)
        return Outcome.DELETED, (DeleteByKey(*common, pk, _values(table, e, pk, row), 0),)

    actions: list[Action] = []
    if e is not None:
        key = delete_key_for(table, e)
        if key is not None:
            actions.append(DeleteByKey(*common, key, _values(table, e, key, row), 0))
        else:
            actions.append(DeleteRow(*common, _values(table, e, table.columns, row)))
    if t is not None:
        actions.append(Insert(*common, _values(table, t, table.columns, row)))
        return Outcome.RESTORED, tuple(actions)
    return Outcome.DELETED, tuple(actions)


def plan_table(table: UndoTable, rows: Iterable[MountedRow]) -> TablePlan:
    """Plan every changed row key of one table; actions keep the order of ``rows``."""
    n_phases = 2 if table.identity is Identity.ROWID else 1
    phases: list[list[Action]] = [[] for _ in range(n_phases)]
    counts = PlanCounts()
    for row in rows:
        outcome, actions = plan_row(table, row)
        counts = counts.add(outcome)
        for action in actions:
            phases[action.phase].append(action)
    return TablePlan(table, tuple(tuple(p) for p in phases), counts)
