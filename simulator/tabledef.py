"""Declarative table definitions: one source for the MariaDB DDL and TiDB's TableInfo JSON.

The fake cluster needs every test table twice: as a MariaDB table (the SQL downstream stand-in)
and as TiDB's TableInfo (what the status API serves and what rows are encoded with). Writing
both by hand drifts, so a :class:`TableDef` renders both. Pure: stdlib and the codec's
TableInfo model only.

Ids are handed out like TiDB's meta allocator does: one global, monotonically increasing
counter shared by databases, tables and partitions (a table first, then its partitions), user
objects starting above the system range (:data:`FIRST_USER_ID`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from core.codec import mysqldef as m
from core.codec.tableinfo import (
    ColumnInfo,
    FieldType,
    IndexColumn,
    IndexInfo,
    PartitionDefinition,
    PartitionInfo,
    TableInfo,
)
from core.sqlident import quote_ident

__all__ = [
    "FIRST_USER_ID",
    "ColumnDef",
    "IdAllocator",
    "IndexDef",
    "PartitionDef",
    "TableDef",
    "demo_tables",
    "quote_literal",
]

FIRST_USER_ID: Final = 100
DEFAULT_CHARSET: Final = "utf8mb4"
DEFAULT_COLLATE: Final = "utf8mb4_bin"

# TiDB model.PartitionType
PARTITION_RANGE: Final = 1
PARTITION_HASH: Final = 2

_INT_KINDS: Final = {
    # kind: (Tp, default Flen signed, default Flen unsigned)
    "tinyint": (m.TYPE_TINY, 4, 3),
    "smallint": (m.TYPE_SHORT, 6, 5),
    "mediumint": (m.TYPE_INT24, 9, 8),
    "int": (m.TYPE_LONG, 11, 10),
    "bigint": (m.TYPE_LONGLONG, 20, 20),
}
_TEXT_KINDS: Final = {"char": m.TYPE_STRING, "varchar": m.TYPE_VARCHAR, "text": m.TYPE_BLOB}
_BINARY_KINDS: Final = {"binary": m.TYPE_STRING, "varbinary": m.TYPE_VARCHAR, "blob": m.TYPE_BLOB}
_TIME_KINDS: Final = {
    "date": m.TYPE_DATE,
    "datetime": m.TYPE_DATETIME,
    "timestamp": m.TYPE_TIMESTAMP,
    "time": m.TYPE_DURATION,
}
KINDS: Final = frozenset(
    {
        *_INT_KINDS,
        *_TEXT_KINDS,
        *_BINARY_KINDS,
        *_TIME_KINDS,
        "float",
        "double",
        "decimal",
        "year",
        "enum",
        "set",
        "bit",
        "json",
    }
)


def quote_literal(text: str) -> str:
    """A MySQL string literal in single quotes (for DDL defaults and ENUM/SET members)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class ColumnDef:
    """One column: ``kind`` is the lower-case MySQL type keyword (see :data:`KINDS`).

    ``length`` is M of DECIMAL(M,D)/CHAR(M)/VARCHAR(M)/BINARY(M)/VARBINARY(M)/BIT(M);
    ``scale`` is D of DECIMAL or the fsp of DATETIME/TIMESTAMP/TIME. ``default`` is the
    default as TiDB's JSON keeps it (a string), or ``default_expr`` a SQL expression such as
    ``CURRENT_TIMESTAMP``. ``collate`` is the collation of a text column (``utf8mb4_bin`` when
    unset); a ``_ci`` one can key a clustered PK only on a cluster with new collation off.
    """

    name: str
    kind: str
    length: int | None = None
    scale: int = 0
    unsigned: bool = False
    nullable: bool = True
    default: str | None = None
    default_expr: str | None = None
    elems: tuple[str, ...] = ()
    collate: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r}")
        if self.collate is not None and self.kind not in _TEXT_KINDS:
            raise ValueError(f"column {self.name!r}: only text columns take a collation")
        if self.kind in ("char", "varchar", "binary", "varbinary") and self.length is None:
            raise ValueError(f"column {self.name!r}: {self.kind} needs a length")
        if self.kind in ("enum", "set") and not self.elems:
            raise ValueError(f"column {self.name!r}: {self.kind} needs elements")

    @property
    def is_int(self) -> bool:
        """An integer column (can be an int handle)."""
        return self.kind in _INT_KINDS

    @property
    def is_binary(self) -> bool:
        """Values are bytes (BINARY/VARBINARY/BLOB); every other string kind holds text."""
        return self.kind in _BINARY_KINDS

    def sql_type(self) -> str:
        """The type as MariaDB DDL spells it."""
        k = self.kind
        if k in _INT_KINDS:
            return k.upper() + (" UNSIGNED" if self.unsigned else "")
        if k == "decimal":
            return f"DECIMAL({self.length or 10},{self.scale})"
        if k in ("char", "varchar", "binary", "varbinary", "bit"):
            coll = f" COLLATE {self.collate}" if self.collate else ""
            return f"{k.upper()}({self.length or 1}){coll}"
        if k in ("datetime", "timestamp", "time"):
            return k.upper() + (f"({self.scale})" if self.scale else "")
        if k in ("enum", "set"):
            return f"{k.upper()}({','.join(quote_literal(e) for e in self.elems)})"
        return k.upper() + (f" COLLATE {self.collate}" if self.collate else "")

    def field_type(self, flag: int) -> FieldType:
        """TiDB's FieldType for this column; ``flag`` holds the key/not-null bits."""
        k = self.kind
        binary = (m.CHARSET_BINARY, m.CHARSET_BINARY)
        text = (DEFAULT_CHARSET, self.collate or DEFAULT_COLLATE)
        if k in _INT_KINDS:
            tp, flen, uflen = _INT_KINDS[k]
            uns = m.UNSIGNED_FLAG if self.unsigned else 0
            return _ft(tp, flag | m.BINARY_FLAG | uns, uflen if self.unsigned else flen, 0, binary)
        if k == "float":
            return _ft(m.TYPE_FLOAT, flag | m.BINARY_FLAG, 12, -1, binary)
        if k == "double":
            return _ft(m.TYPE_DOUBLE, flag | m.BINARY_FLAG, 22, -1, binary)
        if k == "decimal":
            return _ft(
                m.TYPE_NEWDECIMAL, flag | m.BINARY_FLAG, self.length or 10, self.scale, binary
            )
        if k in _TEXT_KINDS:
            flen = 65535 if k == "text" else (self.length or 1)
            blob = m.BLOB_FLAG if k == "text" else 0
            return _ft(_TEXT_KINDS[k], flag | blob, flen, 0, text)
        if k in _BINARY_KINDS:
            flen = 65535 if k == "blob" else (self.length or 1)
            blob = m.BLOB_FLAG if k == "blob" else 0
            return _ft(_BINARY_KINDS[k], flag | blob | m.BINARY_FLAG, flen, 0, binary)
        if k == "date":
            return _ft(m.TYPE_DATE, flag | m.BINARY_FLAG, 10, 0, binary)
        if k in ("datetime", "timestamp"):
            flen = 19 + (self.scale + 1 if self.scale else 0)
            return _ft(_TIME_KINDS[k], flag | m.BINARY_FLAG, flen, self.scale, binary)
        if k == "time":
            flen = 10 + (self.scale + 1 if self.scale else 0)
            return _ft(m.TYPE_DURATION, flag | m.BINARY_FLAG, flen, self.scale, binary)
        if k == "year":
            flags = flag | m.BINARY_FLAG | m.UNSIGNED_FLAG | m.ZEROFILL_FLAG
            return _ft(m.TYPE_YEAR, flags, 4, 0, binary)
        if k == "bit":
            return _ft(m.TYPE_BIT, flag | m.UNSIGNED_FLAG, self.length or 1, 0, binary)
        if k == "json":
            return _ft(m.TYPE_JSON, flag | m.BINARY_FLAG, -1, 0, binary)
        tp = m.TYPE_ENUM if k == "enum" else m.TYPE_SET
        return FieldType(tp, flag, -1, 0, DEFAULT_CHARSET, DEFAULT_COLLATE, self.elems)


def _ft(tp: int, flag: int, flen: int, dec: int, cs: tuple[str, str]) -> FieldType:
    return FieldType(tp=tp, flag=flag, flen=flen, decimal=dec, charset=cs[0], collate=cs[1])


@dataclass(frozen=True, slots=True)
class IndexDef:
    """A secondary index (unique or not) over columns in key order.

    ``global_index`` marks it global in TiDB's IndexInfo (``is_global``, TiDB 8.x partitioned
    tables): one index over every partition. MariaDB has no global indexes and refuses a unique
    key without the partitioning column, so such a table lives only in the fake cluster's schema.
    """

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    global_index: bool = False


@dataclass(frozen=True, slots=True)
class PartitionDef:
    """RANGE partitions (``bounds``: LESS THAN values, ``None`` = MAXVALUE) or HASH (``count``).

    The partitioning expression is one integer column, so MariaDB and TiDB route rows alike.
    """

    kind: str
    column: str
    bounds: tuple[int | None, ...] = ()
    count: int = 0

    def __post_init__(self) -> None:
        if self.kind == "range":
            if not self.bounds:
                raise ValueError("RANGE partitioning needs bounds")
        elif self.kind == "hash":
            if self.count < 1:
                raise ValueError("HASH partitioning needs a partition count")
        else:
            raise ValueError(f"unsupported partitioning {self.kind!r}")

    @property
    def size(self) -> int:
        """Number of partitions."""
        return len(self.bounds) if self.kind == "range" else self.count

    def names(self) -> tuple[str, ...]:
        """Partition names ``p0``, ``p1``..."""
        return tuple(f"p{i}" for i in range(self.size))

    def locate(self, value: int) -> int:
        """Index of the partition holding a row whose partitioning column is ``value``."""
        if self.kind == "hash":
            return abs(value) % self.count
        for i, bound in enumerate(self.bounds):
            if bound is None or value < bound:
                return i
        raise ValueError(f"value {value} is beyond the last RANGE partition")

    def sql(self) -> str:
        """The ``PARTITION BY`` clause."""
        col = _ident(self.column)
        if self.kind == "hash":
            return f"PARTITION BY HASH ({col}) PARTITIONS {self.count}"
        parts = ", ".join(
            f"PARTITION {_ident(n)} VALUES LESS THAN ({'MAXVALUE' if b is None else b})"
            for n, b in zip(self.names(), self.bounds, strict=True)
        )
        return f"PARTITION BY RANGE ({col}) ({parts})"


@dataclass(frozen=True, slots=True)
class TableDef:
    """A table: columns, primary key, secondary indexes, optional partitioning.

    Row identity in TiKV follows TiDB with clustered indexes on: a single integer PK is the
    int handle; any other PK is a clustered common handle unless ``clustered`` is False; no
    PK (or a non-clustered one) means a hidden ``_tidb_rowid``.
    """

    db: str
    name: str
    columns: tuple[ColumnDef, ...]
    primary_key: tuple[str, ...] = ()
    clustered: bool = True
    indexes: tuple[IndexDef, ...] = ()
    partition: PartitionDef | None = None

    def __post_init__(self) -> None:
        names = [c.name.lower() for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name!r}: duplicate column names")
        for key in (self.primary_key, *(i.columns for i in self.indexes)):
            for col in key:
                if col.lower() not in names:
                    raise ValueError(f"table {self.name!r}: key column {col!r} does not exist")
        if self.partition is not None:
            pcol = self.column(self.partition.column)
            if not pcol.is_int:
                raise ValueError(f"table {self.name!r}: partition column must be an integer")

    # ---- identity ------------------------------------------------------------------------
    def column(self, name: str) -> ColumnDef:
        """The column called ``name`` (case-insensitive)."""
        low = name.lower()
        for c in self.columns:
            if c.name.lower() == low:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def pk_is_handle(self) -> bool:
        """A single integer PK column is the row handle."""
        return len(self.primary_key) == 1 and self.column(self.primary_key[0]).is_int

    @property
    def is_common_handle(self) -> bool:
        """A clustered non-integer (or multi-column) PK is the row handle."""
        return bool(self.primary_key) and self.clustered and not self.pk_is_handle

    @property
    def uses_rowid(self) -> bool:
        """Rows are keyed by the hidden ``_tidb_rowid``."""
        return not self.pk_is_handle and not self.is_common_handle

    def unique_keys(self) -> tuple[tuple[str, ...], ...]:
        """Column lists of the PK (first) and every unique index."""
        keys = [self.primary_key] if self.primary_key else []
        keys += [i.columns for i in self.indexes if i.unique]
        return tuple(keys)

    def _not_null(self, col: ColumnDef) -> bool:
        return not col.nullable or col.name.lower() in {c.lower() for c in self.primary_key}

    # ---- MariaDB -------------------------------------------------------------------------
    def create_sql(self) -> str:
        """``CREATE TABLE`` for MariaDB (identifiers quoted, db-qualified)."""
        lines = []
        for c in self.columns:
            parts = [_ident(c.name), c.sql_type()]
            parts.append("NOT NULL" if self._not_null(c) else "NULL")
            if c.default_expr is not None:
                parts.append(f"DEFAULT {c.default_expr}")
            elif c.default is not None:
                parts.append(f"DEFAULT {quote_literal(c.default)}")
            lines.append(" ".join(parts))
        if self.primary_key:
            lines.append(f"PRIMARY KEY ({_idents(self.primary_key)})")
        for i in self.indexes:
            kw = "UNIQUE KEY" if i.unique else "KEY"
            lines.append(f"{kw} {_ident(i.name)} ({_idents(i.columns)})")
        body = ",\n  ".join(lines)
        sql = (
            f"CREATE TABLE {_ident(self.db)}.{_ident(self.name)} (\n  {body}\n)"
            f" ENGINE=InnoDB DEFAULT CHARSET={DEFAULT_CHARSET} COLLATE={DEFAULT_COLLATE}"
        )
        if self.partition is not None:
            sql += "\n" + self.partition.sql()
        return sql

    # ---- TiDB ----------------------------------------------------------------------------
    def id_count(self) -> int:
        """How many global ids the table takes: itself and one per partition."""
        return 1 + (self.partition.size if self.partition else 0)

    def table_info(self, table_id: int, partition_ids: Sequence[int] = ()) -> TableInfo:
        """TiDB's TableInfo with column ids 1..n, index ids 1..k, the given physical ids."""
        if self.partition is not None and len(partition_ids) != self.partition.size:
            raise ValueError(f"table {self.name!r} needs {self.partition.size} partition ids")
        pk_low = [c.lower() for c in self.primary_key]
        flags = {c.name.lower(): 0 for c in self.columns}
        for c in self.columns:
            low = c.name.lower()
            if self._not_null(c):
                flags[low] |= m.NOT_NULL_FLAG
            if low in pk_low:
                flags[low] |= m.PRI_KEY_FLAG
            if not c.nullable and c.default is None and c.default_expr is None:
                flags[low] |= m.NO_DEFAULT_VALUE_FLAG
        for i in self.indexes:
            first = i.columns[0].lower()
            if i.unique and len(i.columns) == 1:
                flags[first] |= m.UNIQUE_KEY_FLAG
            elif first not in pk_low:
                flags[first] |= m.MULTIPLE_KEY_FLAG
        if self.primary_key and not self.pk_is_handle and len(pk_low) > 1:
            flags[pk_low[0]] |= m.MULTIPLE_KEY_FLAG
        offsets = {c.name.lower(): n for n, c in enumerate(self.columns)}
        cols = tuple(
            ColumnInfo(
                id=n + 1,
                name=c.name,
                name_l=c.name.lower(),
                offset=n,
                type=c.field_type(flags[c.name.lower()]),
                default=c.default_expr if c.default_expr is not None else c.default,
            )
            for n, c in enumerate(self.columns)
        )
        indices: list[IndexInfo] = []
        if self.primary_key and not self.pk_is_handle:
            indices.append(self._index_info(1, "PRIMARY", self.primary_key, True, True, offsets))
        for i in self.indexes:
            info = self._index_info(len(indices) + 1, i.name, i.columns, i.unique, False, offsets)
            indices.append(dataclasses.replace(info, is_global=i.global_index))
        part = None
        if self.partition is not None:
            p = self.partition
            defs = []
            for n, (pid, pname) in enumerate(zip(partition_ids, p.names(), strict=True)):
                extra: dict[str, Any] = {}
                if p.kind == "range":
                    b = p.bounds[n]
                    extra["less_than"] = ["MAXVALUE" if b is None else str(b)]
                defs.append(PartitionDefinition(id=pid, name=pname, extra=extra))
            part = PartitionInfo(
                definitions=tuple(defs),
                type=PARTITION_RANGE if p.kind == "range" else PARTITION_HASH,
                expr=_ident(p.column),
            )
        return TableInfo(
            id=table_id,
            name=self.name,
            columns=cols,
            indices=tuple(indices),
            pk_is_handle=self.pk_is_handle,
            is_common_handle=self.is_common_handle,
            partition=part,
            charset=DEFAULT_CHARSET,
            collate=DEFAULT_COLLATE,
        )

    def _index_info(
        self,
        index_id: int,
        name: str,
        columns: tuple[str, ...],
        unique: bool,
        primary: bool,
        offsets: dict[str, int],
    ) -> IndexInfo:
        cols = tuple(
            IndexColumn(name=self.column(c).name, offset=offsets[c.lower()]) for c in columns
        )
        return IndexInfo(
            id=index_id, name=name, columns=cols, is_unique=unique or primary, is_primary=primary
        )


def _ident(name: str) -> str:
    # DDL runs without parameters, and TiDB keeps the partition expression as plain text
    return quote_ident(name, for_params=False)


def _idents(names: Sequence[str]) -> str:
    return ", ".join(_ident(n) for n in names)


@dataclass(slots=True)
class IdAllocator:
    """TiDB's global id counter (``meta.GenGlobalIDs``): databases, tables, partitions."""

    next_id: int = FIRST_USER_ID

    def take(self, count: int = 1) -> list[int]:
        """``count`` fresh ids, increasing."""
        if count < 1:
            raise ValueError("id count should be positive")
        ids = list(range(self.next_id, self.next_id + count))
        self.next_id += count
        return ids


def demo_tables(db: str = "tiundo_demo") -> tuple[TableDef, ...]:
    """The standard test/demo schema: every table kind and every MySQL type.

    - ``all_types``: int PK handle, one column of each type (nullable, defaults);
    - ``ukeys``: int PK with two unique keys (for unique-key swaps);
    - ``clustered_str``: clustered VARCHAR PK (common handle);
    - ``clustered_multi``: clustered composite PK (VARCHAR, INT, DATETIME);
    - ``rowid_uk``: no PK, ``_tidb_rowid`` rows with a NOT NULL unique key;
    - ``rowid_plain``: no PK, no unique key (duplicate rows allowed);
    - ``parted_range`` / ``parted_hash``: partitioned tables with int PK handles;
    - ``unsigned_pk``: BIGINT UNSIGNED PK handle.
    """
    c = ColumnDef
    all_types = TableDef(
        db,
        "all_types",
        (
            c("id", "bigint", nullable=False),
            c("c_tiny", "tinyint"),
            c("c_tiny_u", "tinyint", unsigned=True),
            c("c_small", "smallint"),
            c("c_small_u", "smallint", unsigned=True),
            c("c_medium", "mediumint"),
            c("c_medium_u", "mediumint", unsigned=True),
            c("c_int", "int", default="7"),
            c("c_int_u", "int", unsigned=True),
            c("c_big", "bigint"),
            c("c_big_u", "bigint", unsigned=True),
            c("c_float", "float"),
            c("c_double", "double"),
            c("c_dec", "decimal", length=20, scale=6),
            c("c_dec0", "decimal", length=10, scale=0),
            c("c_char", "char", length=16),
            c("c_varchar", "varchar", length=64, nullable=False, default=""),
            c("c_binary", "binary", length=8),
            c("c_varbinary", "varbinary", length=64),
            c("c_text", "text"),
            c("c_blob", "blob"),
            c("c_date", "date"),
            c("c_datetime", "datetime"),
            c("c_datetime6", "datetime", scale=6),
            c("c_timestamp", "timestamp"),
            c("c_timestamp3", "timestamp", scale=3),
            c("c_time", "time"),
            c("c_time4", "time", scale=4),
            c("c_year", "year"),
            c("c_enum", "enum", elems=("small", "medium", "large")),
            c("c_set", "set", elems=("a", "b", "c", "d")),
            c("c_bit1", "bit", length=1),
            c("c_bit", "bit", length=20),
            c("c_json", "json"),
        ),
        primary_key=("id",),
    )
    ukeys = TableDef(
        db,
        "ukeys",
        (
            c("id", "int", nullable=False),
            c("email", "varchar", length=64, nullable=False),
            c("code", "int"),
            c("note", "varchar", length=32),
        ),
        primary_key=("id",),
        indexes=(
            IndexDef("uk_email", ("email",), unique=True),
            IndexDef("uk_code", ("code",), True),
        ),
    )
    clustered_str = TableDef(
        db,
        "clustered_str",
        (
            c("k", "varchar", length=32, nullable=False),
            c("v", "int"),
            c("d", "decimal", length=12, scale=2),
            c("t", "datetime", scale=3),
        ),
        primary_key=("k",),
    )
    clustered_multi = TableDef(
        db,
        "clustered_multi",
        (
            c("region", "varchar", length=16, nullable=False),
            c("n", "int", nullable=False),
            c("at", "datetime", nullable=False),
            c("qty", "int", unsigned=True),
            c("label", "char", length=8),
        ),
        primary_key=("region", "n", "at"),
        indexes=(IndexDef("k_qty", ("qty",)),),
    )
    rowid_uk = TableDef(
        db,
        "rowid_uk",
        (
            c("ext_id", "bigint", nullable=False),
            c("name", "varchar", length=32),
            c("amount", "decimal", length=10, scale=2),
            c("seen", "timestamp", scale=6),
        ),
        indexes=(IndexDef("uk_ext", ("ext_id",), unique=True),),
    )
    rowid_plain = TableDef(
        db,
        "rowid_plain",
        (
            c("a", "int"),
            c("b", "varchar", length=16),
            c("c", "datetime"),
            c("d", "decimal", length=8, scale=3),
        ),
    )
    parted_range = TableDef(
        db,
        "parted_range",
        (
            c("id", "int", nullable=False),
            c("v", "varchar", length=32),
            c("n", "bigint"),
        ),
        primary_key=("id",),
        partition=PartitionDef("range", "id", bounds=(1000, 2000, None)),
    )
    parted_hash = TableDef(
        db,
        "parted_hash",
        (
            c("id", "bigint", nullable=False),
            c("payload", "varbinary", length=32),
            c("ts", "timestamp"),
        ),
        primary_key=("id",),
        partition=PartitionDef("hash", "id", count=4),
    )
    unsigned_pk = TableDef(
        db,
        "unsigned_pk",
        (c("id", "bigint", unsigned=True, nullable=False), c("v", "int")),
        primary_key=("id",),
    )
    return (
        all_types,
        ukeys,
        clustered_str,
        clustered_multi,
        rowid_uk,
        rowid_plain,
        parted_range,
        parted_hash,
        unsigned_pk,
    )
