"""Seeded workload that keeps MariaDB and the fake cluster's MVCC store in step.

Every transaction is generated as a list of row operations (:class:`Insert`, :class:`Update`,
:class:`Delete`) over an in-memory model of every table, then applied twice: as SQL to MariaDB
in one transaction, and as ONE ``MvccStore.write_txn`` (one commit_ts) holding every touched
row key of every table, TiDB-encoded by the codec, plus the keys of unique indexes over one
integer column (ingest must skip index keys, so a few are written to keep it honest). A seed
fixes the operations and therefore every row and checksum.

Row identity follows TiDB: the int PK value, the clustered PK values (common handle), or a
``_tidb_rowid`` allocated per table, increasing. MariaDB has no row id, so for ``_tidb_rowid``
tables the model keeps rowid → row, and SQL finds a row by its NOT NULL unique key or, when
there is none, by every column (``<=>``) with ``LIMIT 1`` — rows equal in every column are
interchangeable, so MariaDB's choice does not matter.

Within a transaction TiDB writes one mutation per key, the last image: a key created and
removed in the same transaction is not written at all (TiDB turns it into a not-exists check).

A syncpoint (:meth:`Workload.take_syncpoint`) follows TiCDC: T = a fresh downstream TSO, the
``syncpoint_v1`` row is inserted in MariaDB with TiCDC's statement and written to the MVCC
store by a transaction whose start_ts is T, and per-table checksums at T are recorded.
:meth:`Workload.tear` then writes multi-table transactions of which only some tables' changes
are applied, on both sides, like a sink that died half-way.
"""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.codec import mysqldef as m
from core.codec import number
from core.codec.coltypes import column_codec
from core.codec.keys import (
    encode_common_handle,
    encode_record_key,
    has_record_prefix,
    index_prefix,
)
from core.codec.mytime import MyTime
from core.codec.number import to_signed64
from core.codec.row import encode_row
from core.codec.tableinfo import ColumnInfo, IndexInfo, TableInfo
from core.digest import mariadb_digest, row_digest
from core.errors import TiundoError
from core.sqlident import quote_ident
from simulator.catalog import Catalog
from simulator.checksum import TableChecksum, mariadb_checksums, mvcc_digest
from simulator.mvcc import Mutation, MvccStore, Op
from simulator.rowgen import random_row, random_value, to_sql_param
from simulator.syncpoint import (
    SYNCPOINT_DB,
    SYNCPOINT_TABLE,
    create_statements,
    insert_statement,
    syncpoint_table_def,
)
from simulator.tabledef import ColumnDef, TableDef, demo_tables
from simulator.tso import Tso, physical

__all__ = [
    "Delete",
    "Insert",
    "RowOp",
    "Syncpoint",
    "TornTxn",
    "TxnResult",
    "Update",
    "Workload",
    "WorkloadConfig",
    "WorkloadError",
]

Ident = Any  # int (int handle or _tidb_rowid) or tuple of clustered PK values


class WorkloadError(TiundoError):
    """MariaDB and the MVCC model are (or would get) out of step."""


# ---- operations ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Insert:
    """A new row; ``ident`` is its identity (PK value(s) or the allocated ``_tidb_rowid``)."""

    table: str
    ident: Ident
    row: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Update:
    """A row changed from ``old`` to ``new``; the identity changes when the PK does."""

    table: str
    ident: Ident
    new_ident: Ident
    old: Mapping[str, Any]
    new: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Delete:
    """A row removed."""

    table: str
    ident: Ident
    old: Mapping[str, Any]


RowOp = Insert | Update | Delete


@dataclass(frozen=True, slots=True)
class TxnResult:
    """One applied transaction: its operations and commit_ts (0 if no key was written)."""

    ops: tuple[RowOp, ...]
    commit_ts: int
    keys: int
    #: of ``keys``, the row (record) keys: the changes a change feed of the tables delivers
    record_keys: int = 0


@dataclass(frozen=True, slots=True)
class TornTxn:
    """A multi-table transaction of which only ``applied`` tables' changes were written."""

    applied: tuple[str, ...]
    dropped: tuple[str, ...]
    result: TxnResult
    dropped_ops: tuple[RowOp, ...]


@dataclass(frozen=True, slots=True)
class Syncpoint:
    """A consistent point: ``secondary_ts`` is T; checksums are per workload table at T.

    ``checksums`` are MariaDB's (CHECKSUM TABLE and row digest), ``model`` and ``mvcc`` the
    row digests of the workload's model and of the MVCC store decoded at T.
    """

    primary_ts: int
    secondary_ts: int
    commit_ts: int
    checksums: Mapping[str, TableChecksum]
    model: Mapping[str, str]
    mvcc: Mapping[str, str]

    @property
    def ts(self) -> int:
        """T, the point an undo must restore."""
        return self.secondary_ts


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    """Knobs of the random workload; the defaults suit fast tests."""

    seed: int = 0
    initial_rows: int = 12
    ops_per_table: tuple[int, int] = (1, 4)
    tables_per_txn: tuple[int, int] = (1, 3)
    one_pc_ratio: float = 0.2
    hot_keys: int = 3
    hot_ratio: float = 0.3
    changefeed: str = "tiundo-sim"
    cluster_id: str = "default"
    syncpoint_db: str = SYNCPOINT_DB
    max_int_pk: int = 100_000
    txn_source: int = 0  # TiDB's txn_source of the workload's writes (0 = an ordinary client)
    #: the cluster's ``new_collation_enabled``: off writes clustered string PKs as a cluster
    #: bootstrapped before v6.0 does (value only in the key, keyed as binary)
    new_collation: bool = True


class _Cursor(Protocol):
    async def execute(self, query: str, args: Any = None) -> int: ...
    async def fetchone(self) -> Any: ...
    async def fetchall(self) -> Any: ...


class _CursorContext(Protocol):
    async def __aenter__(self) -> _Cursor: ...
    async def __aexit__(self, *exc: object) -> None: ...


class Connection(Protocol):
    """The part of ``aiomysql.Connection`` the workload uses (autocommit off)."""

    def cursor(self) -> _CursorContext: ...
    async def begin(self) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


# ---- model --------------------------------------------------------------------------------
@dataclass(slots=True)
class _Table:
    tdef: TableDef
    info: TableInfo
    rows: dict[Ident, dict[str, Any]] = field(default_factory=dict)
    next_rowid: int = 1
    # unique key columns → {values: ident}
    uniq: dict[tuple[str, ...], dict[tuple[Any, ...], Ident]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in self.tdef.unique_keys():
            self.uniq[key] = {}

    def ident_of(self, row: Mapping[str, Any]) -> Ident:
        t = self.tdef
        if t.pk_is_handle:
            return row[t.primary_key[0]]
        if t.is_common_handle:
            return tuple(row[c] for c in t.primary_key)
        raise ValueError("rowid tables have no identity in the row")

    def conflicts(self, row: Mapping[str, Any], me: Ident | None) -> list[tuple[str, ...]]:
        bad = []
        for key, taken in self.uniq.items():
            vals = tuple(row[c] for c in key)
            if any(v is None for v in vals):
                continue
            owner = taken.get(vals)
            if owner is not None and owner != me:
                bad.append(key)
        return bad

    def put(self, ident: Ident, row: dict[str, Any]) -> None:
        self.rows[ident] = row
        for key, taken in self.uniq.items():
            vals = tuple(row[c] for c in key)
            if not any(v is None for v in vals):
                taken[vals] = ident

    def remove(self, ident: Ident) -> None:
        row = self.rows.pop(ident)
        for key, taken in self.uniq.items():
            vals = tuple(row[c] for c in key)
            if taken.get(vals) == ident:
                del taken[vals]


def _int_unique_indexes(info: TableInfo) -> list[tuple[IndexInfo, ColumnInfo]]:
    """Unique (non-primary) indexes over exactly one integer column."""
    out = []
    for idx in info.indices:
        if idx.is_unique and not idx.is_primary and len(idx.columns) == 1:
            col = info.columns[idx.columns[0].offset]
            if col.type.tp in m.INT_TYPES:
                out.append((idx, col))
    return out


def _apply(tables: Mapping[str, _Table], op: RowOp) -> None:
    t = tables[op.table]
    if isinstance(op, Insert):
        t.put(op.ident, dict(op.row))
        if t.tdef.uses_rowid:
            t.next_rowid = max(t.next_rowid, op.ident + 1)
    elif isinstance(op, Update):
        t.remove(op.ident)
        t.put(op.new_ident, dict(op.new))
    else:
        t.remove(op.ident)


def _revert(tables: Mapping[str, _Table], ops: Sequence[RowOp]) -> None:
    """Undo modelled ops, newest first (allocated ``_tidb_rowid`` values stay used)."""
    for op in reversed(ops):
        t = tables[op.table]
        if isinstance(op, Insert):
            t.remove(op.ident)
        elif isinstance(op, Update):
            t.remove(op.new_ident)
            t.put(op.ident, dict(op.old))
        else:
            t.put(op.ident, dict(op.old))


# ---- the driver ---------------------------------------------------------------------------
class Workload:
    """Random transactions on MariaDB and the MVCC store, in step; see the module docstring.

    ``conn`` is an aiomysql connection with autocommit off, ``db`` the MariaDB database that
    holds the tables (it must exist), ``mvcc``/``catalog`` the fake cluster's.
    """

    def __init__(
        self,
        conn: Connection,
        db: str,
        mvcc: MvccStore,
        catalog: Catalog,
        config: WorkloadConfig | None = None,
        tables: Sequence[TableDef] | None = None,
        upstream_tso: Tso | None = None,
    ) -> None:
        self.conn = conn
        self.db = db
        self.mvcc = mvcc
        self.catalog = catalog
        self.config = config or WorkloadConfig()
        self.rng = random.Random(self.config.seed)
        self._defs = tuple(tables) if tables is not None else demo_tables(db)
        for tdef in self._defs:
            if tdef.db != db:
                raise ValueError(f"table {tdef.name} belongs to {tdef.db}, not {db}")
        self._tables: dict[str, _Table] = {}
        self._hot: dict[str, list[Ident]] = {}
        self.upstream_tso = upstream_tso or Tso()
        self.history: list[TxnResult] = []
        self.syncpoints: list[Syncpoint] = []
        self._sp_info: TableInfo | None = None

    # ---- setup ---------------------------------------------------------------------------
    @property
    def tables(self) -> list[TableInfo]:
        """TableInfos of the workload tables (not the syncpoint table)."""
        return [t.info for t in self._tables.values()]

    def table_info(self, name: str) -> TableInfo:
        """The TableInfo of a workload table."""
        return self._tables[name].info

    def rows(self, name: str) -> dict[Ident, dict[str, Any]]:
        """The model's rows of a table (identity → row); do not modify."""
        return self._tables[name].rows

    async def setup(self) -> None:
        """Create the tables (MariaDB + catalog) and TiCDC's syncpoint table."""
        async with self.conn.cursor() as cur:
            await cur.execute("SET SESSION time_zone = '+00:00'")
            for tdef in self._defs:
                await cur.execute(tdef.create_sql())
                info = self.catalog.add_table(tdef)
                self._tables[tdef.name] = _Table(tdef, info)
                self._hot[tdef.name] = []
        await self.conn.commit()
        await self.conn.begin()
        async with self.conn.cursor() as cur:
            for stmt in create_statements(self.config.syncpoint_db):
                await cur.execute(stmt)
            await cur.execute(f"USE {quote_ident(self.db, for_params=False)}")
        await self.conn.commit()
        sp_def = syncpoint_table_def(self.config.syncpoint_db)
        existing = self.catalog.table(sp_def.db, sp_def.name)
        self._sp_info = existing if existing is not None else self.catalog.add_table(sp_def)

    async def load(self, rows_per_table: int | None = None, batch: int = 25) -> None:
        """Initial rows: inserts only, ``batch`` rows per transaction, table by table."""
        n = self.config.initial_rows if rows_per_table is None else rows_per_table
        for t in self._tables.values():
            left = n
            while left > 0:
                ops: list[RowOp] = []
                for _ in range(min(batch, left)):
                    op = self._gen_insert(t)
                    if op is not None:
                        _apply(self._tables, op)
                        ops.append(op)
                left -= batch
                if ops:
                    await self._run(ops)

    # ---- generation ----------------------------------------------------------------------
    def _pk_value(self, t: _Table, col: ColumnDef) -> Any:
        rng = self.rng
        part = t.tdef.partition
        if part is not None and part.column.lower() == col.name.lower():
            if part.kind == "range":
                finite = [b for b in part.bounds if b is not None]
                hi = (max(finite) + 1000) if finite else self.config.max_int_pk
                return rng.randint(0, hi - 1)
            return rng.randint(0, self.config.max_int_pk)
        if col.is_int:
            if col.unsigned and col.kind == "bigint" and rng.random() < 0.3:
                return rng.randint(1 << 63, (1 << 64) - 1)  # handle reinterpreted as negative
            return rng.randint(1, self.config.max_int_pk)
        return random_value(rng, col)

    def _fresh_keys(self, t: _Table, row: dict[str, Any], me: Ident | None) -> bool:
        """Redraw unique-key columns until no other row holds them; False if it gives up."""
        for _ in range(50):
            bad = t.conflicts(row, me)
            if t.tdef.is_common_handle or t.tdef.pk_is_handle:
                ident = t.ident_of(row)
                if ident != me and ident in t.rows:
                    bad.append(t.tdef.primary_key)
            if not bad:
                return True
            for key in bad:
                for c in key:
                    row[c] = self._pk_value(t, t.tdef.column(c))
        return False

    def _new_row(self, t: _Table) -> dict[str, Any]:
        row = random_row(self.rng, t.tdef)
        for c in t.tdef.primary_key:
            row[c] = self._pk_value(t, t.tdef.column(c))
        return row

    def _gen_insert(self, t: _Table) -> Insert | None:
        row = self._new_row(t)
        if not self._fresh_keys(t, row, None):
            return None
        ident = t.next_rowid if t.tdef.uses_rowid else t.ident_of(row)
        return Insert(t.tdef.name, ident, row)

    def _pick(self, t: _Table) -> Ident | None:
        if not t.rows:
            return None
        hot = [h for h in self._hot[t.tdef.name] if h in t.rows]
        if hot and self.rng.random() < self.config.hot_ratio:
            return self.rng.choice(hot)
        ident = self.rng.choice(list(t.rows))
        if len(hot) < self.config.hot_keys:
            self._hot[t.tdef.name] = [*hot, ident]
        return ident

    def _gen_update(self, t: _Table, change_pk: bool) -> Update | None:
        ident = self._pick(t)
        if ident is None:
            return None
        old = t.rows[ident]
        new = dict(old)
        pk = {c.lower() for c in t.tdef.primary_key}
        mutable = [c for c in t.tdef.columns if c.name.lower() not in pk]
        for col in self.rng.sample(mutable, k=self.rng.randint(1, max(1, len(mutable)))):
            if col.nullable and self.rng.random() < 0.15:
                new[col.name] = None
            else:
                new[col.name] = random_value(self.rng, col)
        if change_pk and pk:
            for c in t.tdef.primary_key:
                new[c] = self._pk_value(t, t.tdef.column(c))
        if not self._fresh_keys(t, new, ident):
            return None
        if new == old:
            return None  # TiDB writes nothing for an update that changes nothing
        new_ident = ident if t.tdef.uses_rowid else t.ident_of(new)
        return Update(t.tdef.name, ident, new_ident, old, new)

    def _gen_swap(self, tables: Mapping[str, _Table], t: _Table) -> list[RowOp]:
        """Two rows exchange a secondary unique key's values (three UPDATEs, via a temp)."""
        keys = [k for k in t.tdef.unique_keys() if k != t.tdef.primary_key]
        if not keys or len(t.rows) < 2:
            return []
        key = self.rng.choice(keys)
        a, b = self.rng.sample(list(t.rows), 2)
        ra, rb = t.rows[a], t.rows[b]
        if any(ra[c] is None or rb[c] is None for c in key):
            return []
        tmp = dict(ra)
        for c in key:
            tmp[c] = self._temp_value(t, t.tdef.column(c))
        if t.conflicts(tmp, a):
            return []
        ops: list[RowOp] = []
        steps = [(a, ra, tmp), (b, rb, {**rb, **{c: ra[c] for c in key}})]
        steps.append((a, tmp, {**tmp, **{c: rb[c] for c in key}}))
        for ident, old, new in steps:
            op = Update(t.tdef.name, ident, ident, dict(old), new)
            _apply(tables, op)
            ops.append(op)
        return ops

    def _temp_value(self, t: _Table, col: ColumnDef) -> Any:
        if col.nullable:
            return None
        if col.is_int:
            return -self.rng.randint(1 << 20, 1 << 30)
        return "~swap~" + str(self.rng.randint(0, 10**9))

    def _gen_table_ops(self, tables: Mapping[str, _Table], t: _Table) -> list[RowOp]:
        """A few operations on one table, applied to ``tables`` as they are drawn."""
        ops: list[RowOp] = []
        lo, hi = self.config.ops_per_table
        for _ in range(self.rng.randint(lo, hi)):
            r = self.rng.random()
            op: RowOp | None
            if r < 0.05:
                ops += self._gen_swap(tables, t)
                continue
            if r < 0.35 or not t.rows:
                op = self._gen_insert(t)
            elif r < 0.70:
                op = self._gen_update(t, change_pk=False)
            elif r < 0.80:
                op = self._gen_update(t, change_pk=True)
            else:
                ident = self._pick(t)
                op = None if ident is None else Delete(t.tdef.name, ident, t.rows[ident])
            if op is None:
                continue
            _apply(tables, op)
            ops.append(op)
            if isinstance(op, Insert) and self.rng.random() < 0.1:
                gone = Delete(t.tdef.name, op.ident, dict(op.row))  # insert-then-delete
                _apply(tables, gone)
                ops.append(gone)
        return ops

    def _gen_txn(self, tables: Mapping[str, _Table], min_tables: int = 1) -> list[RowOp]:
        lo, hi = self.config.tables_per_txn
        k = min(len(tables), max(min_tables, self.rng.randint(lo, hi)))
        ops: list[RowOp] = []
        for name in self.rng.sample(sorted(tables), k):
            ops += self._gen_table_ops(tables, tables[name])
        return ops

    # ---- encoding ------------------------------------------------------------------------
    def _physical_id(self, t: _Table, row: Mapping[str, Any]) -> int:
        part = t.tdef.partition
        if part is None or t.info.partition is None:
            return t.info.id
        return t.info.partition.definitions[part.locate(row[part.column])].id

    def _row_key(self, t: _Table, ident: Ident, row: Mapping[str, Any]) -> bytes:
        pid = self._physical_id(t, row)
        if t.tdef.is_common_handle:
            handle = encode_common_handle(row, t.info, new_collation=self.config.new_collation)
            return encode_record_key(pid, handle)
        return encode_record_key(pid, to_signed64(int(ident)))

    def mutations(self, ops: Iterable[RowOp]) -> list[Mutation]:
        """One mutation per touched row key: the last image, or none if created and removed."""
        final: dict[bytes, tuple[_Table, Mapping[str, Any] | None]] = {}
        existed: dict[bytes, bool] = {}

        def touch(key: bytes, t: _Table, row: Mapping[str, Any] | None, before: bool) -> None:
            existed.setdefault(key, before)
            final[key] = (t, row)

        index: dict[bytes, bytes | None] = {}  # unique index key → handle value, or removed
        index_existed: dict[bytes, bool] = {}

        def index_touch(keys: Iterable[bytes], ident: Ident, put: bool) -> None:
            # the first touch of an entry tells whether it existed: a put first means no row
            # held the value when the txn started (it would have been moved away first)
            for key in keys:
                index_existed.setdefault(key, not put)
                index[key] = number.encode_uint(int(ident)) if put else None

        for op in ops:
            t = self._tables[op.table]
            if isinstance(op, Insert):
                touch(self._row_key(t, op.ident, op.row), t, op.row, False)
                index_touch(self._index_keys(t, op.row), op.ident, True)
            elif isinstance(op, Update):
                old_key = self._row_key(t, op.ident, op.old)
                new_key = self._row_key(t, op.new_ident, op.new)
                if old_key != new_key:
                    touch(old_key, t, None, True)
                    touch(new_key, t, op.new, False)
                else:
                    touch(new_key, t, op.new, True)
                before, after = self._index_keys(t, op.old), self._index_keys(t, op.new)
                if op.ident == op.new_ident:  # TiDB rewrites only the entries that change
                    before, after = (
                        [k for k in before if k not in after],
                        [k for k in after if k not in before],
                    )
                index_touch(before, op.ident, False)
                index_touch(after, op.new_ident, True)
            else:
                touch(self._row_key(t, op.ident, op.old), t, None, True)
                index_touch(self._index_keys(t, op.old), op.ident, False)
        out: list[Mutation] = []
        for key, (t, row) in final.items():
            if row is None:
                if existed[key]:
                    out.append(Mutation(key, Op.DELETE))
            else:
                value = encode_row(t.info, row, _dt.UTC, new_collation=self.config.new_collation)
                out.append(Mutation(key, Op.PUT, value))
        for key, handle in index.items():
            if handle is not None:
                out.append(Mutation(key, Op.PUT, handle))
            elif index_existed[key]:
                out.append(Mutation(key, Op.DELETE))
        return out

    def _index_keys(self, t: _Table, row: Mapping[str, Any]) -> list[bytes]:
        """Keys of the row's entries in unique indexes over one integer column.

        ``'t' ‖ id ‖ '_i' ‖ index id ‖ key-mode datum``, no handle suffix (a non-NULL unique
        value is "distinct"); the value is TiDB's old layout, the 8-byte big-endian handle,
        which is what it writes for int values in a non-clustered table (facts §2.4).
        """
        if t.tdef.is_common_handle:
            return []
        keys = []
        pid = self._physical_id(t, row)
        for idx, col in _int_unique_indexes(t.info):
            v = row[col.name]
            if v is None:
                continue
            datum = column_codec(col.type, _dt.UTC).enc_key(v)
            keys.append(index_prefix(pid, idx.id) + datum)
        return keys

    # ---- SQL -----------------------------------------------------------------------------
    def _where(self, t: _Table, row: Mapping[str, Any]) -> tuple[str, list[Any], str]:
        tdef = t.tdef
        key: tuple[str, ...] | None = tdef.primary_key or None
        if key is None:
            for k in tdef.unique_keys():
                if all(not tdef.column(c).nullable for c in k):
                    key = k
                    break
        if key is not None:
            cond = " AND ".join(f"{quote_ident(c)} = %s" for c in key)
            params = [to_sql_param(tdef.column(c), row[c]) for c in key]
            return cond, params, ""
        cols = tdef.columns
        if any(c.kind == "float" for c in cols):
            raise WorkloadError(f"table {tdef.name}: no key and a FLOAT column; cannot find rows")
        cond = " AND ".join(f"{quote_ident(c.name)} <=> %s" for c in cols)
        return cond, [to_sql_param(c, row[c.name]) for c in cols], " LIMIT 1"

    def sql(self, op: RowOp) -> tuple[str, list[Any]]:
        """The MariaDB statement and parameters for one operation."""
        t = self._tables[op.table]
        tdef = t.tdef
        name = f"{quote_ident(self.db)}.{quote_ident(tdef.name)}"
        if isinstance(op, Insert):
            cols = ", ".join(quote_ident(c.name) for c in tdef.columns)
            marks = ", ".join(["%s"] * len(tdef.columns))
            params = [to_sql_param(c, op.row[c.name]) for c in tdef.columns]
            return f"INSERT INTO {name} ({cols}) VALUES ({marks})", params
        if isinstance(op, Update):
            sets = ", ".join(f"{quote_ident(c.name)} = %s" for c in tdef.columns)
            params = [to_sql_param(c, op.new[c.name]) for c in tdef.columns]
            cond, wparams, limit = self._where(t, op.old)
            return f"UPDATE {name} SET {sets} WHERE {cond}{limit}", params + wparams
        cond, wparams, limit = self._where(t, op.old)
        return f"DELETE FROM {name} WHERE {cond}{limit}", wparams

    # ---- applying ------------------------------------------------------------------------
    async def _execute(self, ops: Sequence[RowOp]) -> None:
        """The ops' SQL in one MariaDB transaction, left open for the caller to commit."""
        await self.conn.begin()
        try:
            async with self.conn.cursor() as cur:
                for op in ops:
                    sql, params = self.sql(op)
                    n = await cur.execute(sql, params)
                    if n != 1:
                        raise WorkloadError(f"{sql!r} {params!r} changed {n} rows, expected 1")
        except BaseException:
            await self.conn.rollback()
            raise

    async def _run(self, ops: Sequence[RowOp]) -> TxnResult:
        """Apply already-modelled ops: SQL in one MariaDB transaction, one MVCC transaction."""
        muts = self.mutations(ops)
        await self._execute(ops)
        commit_ts = 0
        if muts:
            one_pc = self.rng.random() < self.config.one_pc_ratio
            commit_ts = self.mvcc.write_txn(muts, txn_source=self.config.txn_source, one_pc=one_pc)
        await self.conn.commit()
        rows = sum(1 for m in muts if has_record_prefix(m.key))
        result = TxnResult(tuple(ops), commit_ts, len(muts), rows)
        self.history.append(result)
        return result

    async def step(self, tables: Sequence[str] = ()) -> TxnResult:
        """One random transaction over 1..3 tables (of ``tables`` when given)."""
        pool = {n: self._tables[n] for n in tables} if tables else self._tables
        ops = self._gen_txn(pool)
        return await self._run(ops)

    async def run(self, txns: int) -> list[TxnResult]:
        """``txns`` random transactions."""
        return [await self.step() for _ in range(txns)]

    async def orphan(self, leave: Callable[[list[Mutation]], int]) -> TxnResult:
        """A random multi-key transaction whose writer crashed during its commit.

        ``leave`` gets its mutations (2 or more), leaves them in the MVCC store as the crash
        did (e.g. ``faults.orphan_async_commit``) and returns the commit_ts a lock resolver
        will give it, 0 if it will be rolled back. MariaDB, the downstream's SQL view, and the
        model get the transaction only if it commits. The result's ``ops`` are empty then.
        """
        for _ in range(100):  # a draw can touch a single key: draw again
            ops = self._gen_txn(self._tables, min_tables=2)
            muts = self.mutations(ops)
            if len(muts) >= 2:
                break
            _revert(self._tables, ops)
        else:
            raise WorkloadError("could not draw a transaction of two keys")
        commit_ts = leave(muts)
        if not commit_ts:
            _revert(self._tables, ops)
            return TxnResult((), 0, len(muts))
        await self._execute(ops)
        await self.conn.commit()
        result = TxnResult(tuple(ops), commit_ts, len(muts))
        self.history.append(result)
        return result

    async def tear(self, applied: Sequence[str] | None = None) -> TornTxn:
        """A multi-table transaction of which only some tables' changes are written.

        ``applied`` names the tables whose changes land (default: a random non-empty proper
        subset of the tables the transaction touched). Both MariaDB and the MVCC store get
        exactly the applied part, so the downstream holds what a dying sink left behind.
        """
        for _ in range(100):  # a table's draws can all come out empty: draw again
            ops = self._gen_txn(self._tables, min_tables=2)
            touched = sorted({op.table for op in ops})
            if len(touched) >= 2:
                break
            _revert(self._tables, ops)
        else:
            raise WorkloadError("could not draw a transaction over two tables")
        if applied is None:
            keep = self.rng.randint(1, max(1, len(touched) - 1))
            chosen = set(self.rng.sample(touched, keep))
        else:
            chosen = set(applied)
        kept = [op for op in ops if op.table in chosen]
        dropped = [op for op in ops if op.table not in chosen]
        _revert(self._tables, dropped)  # a table's ops touch only that table's model
        result = await self._run(kept)
        return TornTxn(
            tuple(sorted(chosen & set(touched))),
            tuple(t for t in touched if t not in chosen),
            result,
            tuple(dropped),
        )

    # ---- syncpoint and checksums ---------------------------------------------------------
    def model_digests(self) -> dict[str, str]:
        """Row digests of the model, per workload table."""
        return {n: str(row_digest(t.info, t.rows.values())) for n, t in self._tables.items()}

    def mvcc_digests(self, ts: int) -> dict[str, str]:
        """Row digests of the MVCC store decoded at ``ts``, per workload table."""
        nc = self.config.new_collation
        return {n: str(mvcc_digest(self.mvcc, t.info, ts, nc)) for n, t in self._tables.items()}

    async def mariadb_digests(self) -> dict[str, str]:
        """Row digests of MariaDB now, per workload table."""
        return {
            n: str(await mariadb_digest(self.conn, self.db, t.info))
            for n, t in self._tables.items()
        }

    async def checksums(self) -> dict[str, TableChecksum]:
        """MariaDB's CHECKSUM TABLE and row digest now, per workload table."""
        out = await mariadb_checksums(self.conn, self.db, self.tables)
        await self.conn.commit()  # end the read snapshot
        return out

    async def take_syncpoint(self, verify: bool = True) -> Syncpoint:
        """Write a syncpoint row like TiCDC and record checksums at T; returns the point.

        With ``verify`` the model, MariaDB and the MVCC store at T must agree on every
        table's digest, else :class:`WorkloadError`.
        """
        if self._sp_info is None:
            raise WorkloadError("setup() first")
        primary_ts = self.upstream_tso.next()
        secondary_ts = self.mvcc.tso.next()
        cfg = self.config
        created_at = await self._insert_syncpoint_row(primary_ts, secondary_ts)
        row = {
            "ticdc_cluster_id": cfg.cluster_id,
            "changefeed": cfg.changefeed,
            "primary_ts": str(primary_ts),
            "secondary_ts": str(secondary_ts),
            "created_at": created_at,
        }
        nc = cfg.new_collation
        key = encode_record_key(
            self._sp_info.id, encode_common_handle(row, self._sp_info, new_collation=nc)
        )
        muts = [Mutation(key, Op.PUT, encode_row(self._sp_info, row, _dt.UTC, new_collation=nc))]
        # the syncpoint transaction's start_ts IS secondary_ts (@@tidb_current_ts)
        self.mvcc.prewrite(muts, secondary_ts, key)
        commit_ts = self.mvcc.tso.next()
        self.mvcc.commit(secondary_ts, commit_ts, [key])
        await self.conn.commit()
        checksums = await self.checksums()
        model = self.model_digests()
        mvcc = self.mvcc_digests(secondary_ts)
        if verify:
            bad = [n for n, c in checksums.items() if not (c.digest == model[n] == mvcc[n])]
            if bad:
                raise WorkloadError(f"out of step at T={secondary_ts}: tables {bad}")
        sp = Syncpoint(primary_ts, secondary_ts, commit_ts, checksums, model, mvcc)
        self.syncpoints.append(sp)
        return sp

    async def _insert_syncpoint_row(self, primary_ts: int, secondary_ts: int) -> MyTime:
        """TiCDC's INSERT in MariaDB; ``created_at`` = the upstream point's wall time (UTC)."""
        cfg = self.config
        await self.conn.begin()
        async with self.conn.cursor() as cur:
            seconds = physical(primary_ts) / 1000
            await cur.execute(f"SET TIMESTAMP = {seconds:.6f}")
            await cur.execute(
                insert_statement(cfg.syncpoint_db),
                (cfg.cluster_id, cfg.changefeed, str(primary_ts), str(secondary_ts)),
            )
            await cur.execute(
                f"SELECT created_at FROM {quote_ident(cfg.syncpoint_db)}."
                f"{quote_ident(SYNCPOINT_TABLE)} WHERE changefeed = %s AND primary_ts = %s",
                (cfg.changefeed, str(primary_ts)),
            )
            got = await cur.fetchone()
            await cur.execute("SET TIMESTAMP = DEFAULT")
        if got is None or not isinstance(got[0], _dt.datetime):
            raise WorkloadError("syncpoint row not found after insert")
        return MyTime.from_python(got[0], m.TYPE_TIMESTAMP, 0)
