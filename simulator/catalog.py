"""The fake cluster's schema: database → table → TableInfo, and physical id → table/partition.

What TiDB's infoschema answers for the status API and what the workload needs to route a row
to its physical table id. Each TableInfo carries ``update_timestamp`` as TiDB keeps it: the
start TSO of the DDL transaction that last made the table public (``tblInfo.UpdateTS =
metaMut.StartTS`` in ``pkg/ddl/table.go`` ``updateVersionAndTableInfo`` and at ``CREATE
TABLE``), so it moves with every DDL on the table. Schema changes are modelled only as far as
:meth:`Catalog.apply_ddl` goes: a new TableInfo (same ids) with a new ``update_timestamp``;
the rows already stored are not rewritten. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.codec.tableinfo import TableInfo
from simulator.tabledef import IdAllocator, TableDef

__all__ = ["Catalog", "CatalogError", "PhysicalTable"]


class CatalogError(KeyError):
    """A database or table name that is already taken, or unknown."""


@dataclass(frozen=True, slots=True)
class PhysicalTable:
    """What a physical table id (a table's, or one partition's) belongs to."""

    db: str
    table: TableInfo
    partition: str | None


@dataclass(frozen=True, slots=True)
class _Db:
    id: int
    name: str


class Catalog:
    """Databases and tables with TiDB-like global ids (see :class:`IdAllocator`).

    Names compare case-insensitively, as TiDB's ``CIStr`` does; listings keep creation order.
    ``clock`` (the cluster's TSO) stamps ``update_timestamp`` on :meth:`add_table`; without
    one it stays 0.
    """

    def __init__(
        self, ids: IdAllocator | None = None, clock: Callable[[], int] | None = None
    ) -> None:
        self._ids = ids if ids is not None else IdAllocator()
        self.clock = clock
        self._dbs: dict[str, _Db] = {}
        self._tables: dict[str, dict[str, TableInfo]] = {}
        self._defs: dict[tuple[str, str], TableDef] = {}
        self._physical: dict[int, PhysicalTable] = {}
        self._logical: dict[int, str] = {}

    # ---- building ------------------------------------------------------------------------
    def create_database(self, db: str) -> int:
        """Create ``db`` if missing; return its id."""
        low = db.lower()
        if low not in self._dbs:
            self._dbs[low] = _Db(self._ids.take()[0], db)
            self._tables[low] = {}
        return self._dbs[low].id

    def add_table(self, tdef: TableDef) -> TableInfo:
        """Register a table definition: allocate its ids, build its TableInfo."""
        self.create_database(tdef.db)
        if self.table(tdef.db, tdef.name) is not None:
            raise CatalogError(f"table {tdef.db}.{tdef.name} already exists")
        ids = self._ids.take(tdef.id_count())
        info = tdef.table_info(ids[0], ids[1:])
        if self.clock is not None:
            info = _stamped(info, self.clock(), {})
        self.add_table_info(tdef.db, info)
        self._defs[(tdef.db.lower(), tdef.name.lower())] = tdef
        return info

    def add_table_info(self, db: str, info: TableInfo) -> None:
        """Register a ready-made TableInfo (ids already chosen by the caller)."""
        self.create_database(db)
        tables = self._tables[db.lower()]
        if info.name.lower() in tables:
            raise CatalogError(f"table {db}.{info.name} already exists")
        taken = [pid for pid in (info.id, *info.physical_ids()) if pid in self._logical]
        taken += [pid for pid in info.physical_ids() if pid in self._physical]
        if taken:
            raise CatalogError(f"table {db}.{info.name}: ids {sorted(set(taken))} already used")
        tables[info.name.lower()] = info
        self._logical[info.id] = db.lower()
        for pid, pname in info.physical_ids().items():
            self._physical[pid] = PhysicalTable(self._dbs[db.lower()].name, info, pname)

    def apply_ddl(
        self, db: str, name: str, update_ts: int, extra: Mapping[str, Any] | None = None
    ) -> TableInfo:
        """A DDL on ``db.name`` with start TSO ``update_ts``; returns the new TableInfo.

        Same ids and columns, ``extra`` JSON keys (``comment``...) replaced,
        ``update_timestamp`` moved to ``update_ts``.
        """
        low = db.lower()
        old = self.table(db, name)
        if old is None:
            raise CatalogError(f"table {db}.{name} does not exist")
        info = _stamped(old, update_ts, extra or {})
        self._tables[low][old.name.lower()] = info
        for pid, pname in info.physical_ids().items():
            self._physical[pid] = PhysicalTable(self._dbs[low].name, info, pname)
        return info

    # ---- lookups -------------------------------------------------------------------------
    def databases(self) -> list[str]:
        """Database names in creation order."""
        return [d.name for d in self._dbs.values()]

    def database_id(self, db: str) -> int | None:
        """The id of ``db``, or None."""
        d = self._dbs.get(db.lower())
        return d.id if d else None

    def has_database(self, db: str) -> bool:
        """Whether ``db`` exists."""
        return db.lower() in self._dbs

    def tables(self, db: str) -> list[TableInfo]:
        """Tables of ``db`` in creation order (empty if the database does not exist)."""
        return list(self._tables.get(db.lower(), {}).values())

    def table(self, db: str, name: str) -> TableInfo | None:
        """The table ``db.name``, or None."""
        return self._tables.get(db.lower(), {}).get(name.lower())

    def table_def(self, db: str, name: str) -> TableDef | None:
        """The definition a table was added from (None for a ready-made TableInfo)."""
        return self._defs.get((db.lower(), name.lower()))

    def table_by_id(self, table_id: int) -> tuple[str, TableInfo] | None:
        """(db, table) owning a logical table id or a partition's physical id.

        TiDB's ``/schema?table_id=`` resolves ids the same way.
        """
        db = self._logical.get(table_id)
        if db is not None:
            for info in self._tables[db].values():
                if info.id == table_id:
                    return self._dbs[db].name, info
        phys = self._physical.get(table_id)
        if phys is not None:
            return phys.db, phys.table
        return None

    def physical(self, physical_id: int) -> PhysicalTable | None:
        """The table (and partition) whose rows live under ``physical_id``."""
        return self._physical.get(physical_id)

    def physical_ids(self) -> list[int]:
        """Every id that owns row keys, ascending."""
        return sorted(self._physical)

    def table_json(self, db: str, name: str) -> dict[str, Any] | None:
        """TiDB's JSON of ``db.name``, or None."""
        info = self.table(db, name)
        return info.to_json() if info is not None else None

    def schemas_json(self) -> list[dict[str, Any]]:
        """DBInfo objects for ``GET /schema`` (id, name, charset, state)."""
        return [
            {
                "id": d.id,
                "db_name": {"O": d.name, "L": d.name.lower()},
                "charset": "utf8mb4",
                "collate": "utf8mb4_bin",
                "state": 5,
            }
            for d in self._dbs.values()
        ]


def _stamped(info: TableInfo, update_ts: int, extra: Mapping[str, Any]) -> TableInfo:
    """``info`` with ``extra`` keys and ``update_timestamp`` set (fresh decode caches)."""
    merged = {**info.extra, **extra, "update_timestamp": update_ts}
    return dataclasses.replace(info, extra=merged, cache={})
