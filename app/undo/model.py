"""Records that cross the undo's pure stages: raw change → key state → mounted row → action.

The upstream names are kept (``start_ts``, ``commit_ts``, ``op_type``, ``value``, ``old_value``,
``handle``) so a reader can follow a change from TiKV's ``Event.Row`` to the SQL that undoes it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.codec.mysqldef import TYPE_FLOAT, TYPE_JSON
from core.codec.tableinfo import HandleKind, TableInfo

__all__ = [
    "DELETE",
    "PUT",
    "Change",
    "ChangeLike",
    "FoldedLike",
    "Handle",
    "Identity",
    "Image",
    "MountedRow",
    "TableSpec",
    "UndoTable",
    "table_spec",
]

PUT = 1
"""``Event.Row.OpType.PUT``: the key has a row image after the change."""
DELETE = 2
"""``Event.Row.OpType.DELETE``: the key has no row after the change (``value`` is empty)."""

Handle = int | tuple[object, ...]
"""Row identity from the key: int handle / ``_tidb_rowid``, or a common handle's datums."""

Image = Mapping[str, object]
"""One decoded row: column name → value as the codec returns it (None = SQL NULL)."""


class ChangeLike(Protocol):
    """What the merge reads from a change; a ``tiundo.proto`` message satisfies it too.

    ``value`` is the row image after the change, ``old_value`` the image before it; an empty
    byte string means "no row" (TiDB never writes an empty row value: even a row with no
    non-handle column encodes to at least one byte).
    """

    @property
    def start_ts(self) -> int:
        """Start ts of the writing transaction."""
        ...

    @property
    def commit_ts(self) -> int:
        """Commit ts of the writing transaction."""
        ...

    @property
    def op_type(self) -> int:
        """PUT (1) or DELETE (2)."""
        ...

    @property
    def value(self) -> bytes:
        """Row image after the change (empty = no row)."""
        ...

    @property
    def old_value(self) -> bytes:
        """Row image before the change (empty = no row)."""
        ...


class FoldedLike(ChangeLike, Protocol):
    """A record standing for ``versions`` changes of one key (``tiundo.proto`` RowChange).

    ``start_ts``, ``commit_ts``, ``op_type`` and ``old_value`` are the earliest change's;
    ``value`` and the ``last_*`` fields the latest change's.
    """

    @property
    def versions(self) -> int:
        """How many changes the record stands for."""
        ...

    @property
    def last_start_ts(self) -> int:
        """Start ts of the latest change."""
        ...

    @property
    def last_commit_ts(self) -> int:
        """Commit ts of the latest change."""
        ...

    @property
    def last_op_type(self) -> int:
        """Op type of the latest change."""
        ...


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change of one row key, as it arrives from Kafka (key kept by the caller)."""

    start_ts: int
    commit_ts: int
    op_type: int
    value: bytes
    old_value: bytes


class Identity(enum.Enum):
    """How a table's rows are identified in TiKV keys, which decides the undo strategy."""

    INT_HANDLE = "int_handle"
    """``PKIsHandle``: the int primary key is the handle."""
    COMMON_HANDLE = "common_handle"
    """Clustered non-int primary key: the key holds the primary key's datums."""
    ROWID = "rowid"
    """No clustered primary key: the handle is the hidden ``_tidb_rowid``."""


class UndoTable(Protocol):
    """What the planner and the SQL writer need to know about one table (schema at ``T``).

    ``columns`` are the writable columns in table order (generated columns are left out: they
    cannot be written and are recomputed by the server). ``pk_columns`` is empty for ROWID
    tables without a primary key; a non-clustered primary key of a ROWID table counts as a
    unique key and appears in ``unique_keys`` as well. ``float_columns`` are the
    single-precision FLOAT columns (equality with a literal is not reliable for them);
    ``json_columns`` the JSON columns (their values are trees that must be rendered as text).
    """

    @property
    def db(self) -> str:
        """Database (schema) name."""
        ...

    @property
    def name(self) -> str:
        """Table name."""
        ...

    @property
    def columns(self) -> Sequence[str]:
        """Writable columns in table order."""
        ...

    @property
    def identity(self) -> Identity:
        """How rows are identified in keys."""
        ...

    @property
    def pk_columns(self) -> Sequence[str]:
        """Primary key columns (empty when there is none)."""
        ...

    @property
    def unique_keys(self) -> Sequence[Sequence[str]]:
        """Unique keys, primary key included for ROWID tables."""
        ...

    @property
    def float_columns(self) -> frozenset[str]:
        """Single-precision FLOAT columns."""
        ...

    @property
    def json_columns(self) -> frozenset[str]:
        """JSON columns."""
        ...


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A plain :class:`UndoTable`, for tests and for adapting the codec's ``TableInfo``."""

    db: str
    name: str
    columns: tuple[str, ...]
    identity: Identity
    pk_columns: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()
    float_columns: frozenset[str] = frozenset()
    json_columns: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MountedRow:
    """One changed row key after mounting: its image at ``T`` and at ``E`` (None = absent).

    ``first_commit_ts``/``last_commit_ts`` are the commit ts of the earliest and latest change
    of the key in ``(T, E]``; they travel to the actions for dry-run comments and reports.
    """

    handle: Handle
    t_image: Image | None
    e_image: Image | None
    first_commit_ts: int
    last_commit_ts: int


def table_spec(info: TableInfo, db: str) -> TableSpec:
    """The planner's view of a codec ``TableInfo`` (schema at ``T``) in database ``db``.

    Columns are the ones SQL may write (public, not hidden, not generated); unique keys that
    name any other column are dropped (they cannot be matched from an image). For ROWID tables
    a non-clustered primary key is just the first unique key.
    """
    writable = info.sql_columns()
    names = {c.name for c in writable}
    kind = info.handle_kind
    pk: tuple[str, ...]
    if kind is HandleKind.INT:
        hc = info.int_handle_column()
        assert hc is not None  # TableInfo.validate() guarantees it
        identity, pk = Identity.INT_HANDLE, (hc.name,)
    elif kind is HandleKind.COMMON:
        identity, pk = (
            Identity.COMMON_HANDLE,
            tuple(c.name for c, _ in info.common_handle_columns()),
        )
    else:
        identity, pk = Identity.ROWID, ()
    return TableSpec(
        db=db,
        name=info.name,
        columns=tuple(c.name for c in writable),
        identity=identity,
        pk_columns=pk,
        unique_keys=tuple(k.columns for k in info.unique_keys() if set(k.columns) <= names),
        float_columns=frozenset(c.name for c in writable if c.type.tp == TYPE_FLOAT),
        json_columns=frozenset(c.name for c in writable if c.type.tp == TYPE_JSON),
    )
