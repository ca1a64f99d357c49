"""TiDB's TableInfo as served by the status API ``GET /schema/{db}/{table}``.

Field names follow TiDB's JSON exactly (``id``, ``name.O/L``, ``cols[].type.Tp/Flag/Flen/...``,
``origin_default``, ``pk_is_handle``, ``is_common_handle``, ``index_info``,
``partition.definitions``); keys TiDB emits but the codec does not use are kept verbatim in
``extra`` so :meth:`TableInfo.to_json` returns what :meth:`TableInfo.from_json` was given.
Older TiDB/BR dumps spell the FieldType keys in lower case (``tp``, ``flag``...): both are read,
TiDB's current capitalised form is written.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.codec import mysqldef as m
from core.errors import DecodeError

__all__ = [
    "ColumnInfo",
    "FieldType",
    "HandleKind",
    "IndexColumn",
    "IndexInfo",
    "PartitionDefinition",
    "PartitionInfo",
    "SchemaError",
    "TableInfo",
    "UniqueKey",
    "physical_table_map",
]

JsonObj = dict[str, Any]


class SchemaError(DecodeError):
    """A TableInfo JSON that lacks what the codec needs (ids, types, PK columns)."""


class HandleKind(enum.Enum):
    """How a table's rows are keyed in TiKV."""

    INT = "int"  # single integer PK is the handle (pk_is_handle)
    COMMON = "common"  # clustered non-int PK: handle = key-mode datums of the PK columns
    ROWID = "rowid"  # hidden _tidb_rowid


def _get(obj: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """Read ``key`` whatever its case (TiDB uses ``Tp``, BR dumps ``tp``)."""
    if key in obj:
        return obj[key]
    low = key.lower()
    for k, v in obj.items():
        if k.lower() == low:
            return v
    return default


def _name(obj: Any) -> tuple[str, str]:
    if isinstance(obj, Mapping):
        o = str(_get(obj, "O", ""))
        return o, str(_get(obj, "L", o.lower()))
    s = str(obj or "")
    return s, s.lower()


def _rest(obj: Mapping[str, Any], known: Sequence[str]) -> JsonObj:
    lowered = {k.lower() for k in known}
    return {k: v for k, v in obj.items() if k.lower() not in lowered}


_FT_KEYS = ("Tp", "Flag", "Flen", "Decimal", "Charset", "Collate", "Elems")


@dataclass(frozen=True, slots=True)
class FieldType:
    """``types.FieldType``: the MySQL type of a column."""

    tp: int
    flag: int = 0
    flen: int = -1
    decimal: int = -1
    charset: str = "binary"
    collate: str = "binary"
    elems: tuple[str, ...] = ()
    extra: JsonObj = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def unsigned(self) -> bool:
        """UNSIGNED integer (or BIGINT UNSIGNED handle)."""
        return bool(self.flag & m.UNSIGNED_FLAG)

    @property
    def not_null(self) -> bool:
        """Declared NOT NULL."""
        return bool(self.flag & m.NOT_NULL_FLAG)

    @property
    def is_binary_string(self) -> bool:
        """A string type whose bytes are not text (BINARY/VARBINARY/BLOB, charset binary)."""
        return self.tp in m.STRING_TYPES and self.charset.lower() == m.CHARSET_BINARY

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FieldType:
        """Parse TiDB's ``type`` object."""
        tp = _get(obj, "Tp")
        if not isinstance(tp, int):
            raise SchemaError(f"column type without an integer Tp: {obj!r}")
        elems = _get(obj, "Elems") or ()
        return cls(
            tp=tp,
            flag=int(_get(obj, "Flag", 0) or 0),
            flen=int(_get(obj, "Flen", -1)),
            decimal=int(_get(obj, "Decimal", -1)),
            charset=str(_get(obj, "Charset", "") or ""),
            collate=str(_get(obj, "Collate", "") or ""),
            elems=tuple(str(e) for e in elems),
            extra=_rest(obj, _FT_KEYS),
        )

    def to_json(self) -> JsonObj:
        """TiDB's JSON form (capitalised keys)."""
        out: JsonObj = {
            "Tp": self.tp,
            "Flag": self.flag,
            "Flen": self.flen,
            "Decimal": self.decimal,
            "Charset": self.charset,
            "Collate": self.collate,
            "Elems": list(self.elems) if self.elems else None,
        }
        out.update({"ElemsIsBinaryLit": None, "Array": False})
        out.update(self.extra)
        return out


_COL_KEYS = (
    "id",
    "name",
    "offset",
    "origin_default",
    "origin_default_bit",
    "default",
    "default_bit",
    "default_is_expr",
    "generated_expr_string",
    "generated_stored",
    "type",
    "state",
    "hidden",
)


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """``model.ColumnInfo``. Defaults are kept as TiDB's JSON strings (see ``row.py``)."""

    id: int
    name: str
    offset: int
    type: FieldType
    state: int = m.STATE_PUBLIC
    name_l: str = ""
    default: Any = None
    default_bit: Any = None
    origin_default: Any = None
    origin_default_bit: Any = None
    default_is_expr: bool = False
    generated_expr_string: str = ""
    generated_stored: bool = False
    hidden: bool = False
    extra: JsonObj = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def is_generated(self) -> bool:
        """A generated column (virtual or stored)."""
        return bool(self.generated_expr_string)

    @property
    def is_virtual_generated(self) -> bool:
        """Virtual generated: never stored in the row value."""
        return bool(self.generated_expr_string) and not self.generated_stored

    @property
    def has_origin_default(self) -> bool:
        """Whether rows written before this column existed read as a default (§3.6)."""
        return self.origin_default is not None or self.origin_default_bit is not None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ColumnInfo:
        """Parse one entry of ``cols``."""
        cid = _get(obj, "id")
        if not isinstance(cid, int):
            raise SchemaError(f"column without an integer id: {obj!r}")
        name, name_l = _name(_get(obj, "name"))
        ft = _get(obj, "type")
        if not isinstance(ft, Mapping):
            raise SchemaError(f"column {name!r} without a type")
        return cls(
            id=cid,
            name=name,
            name_l=name_l,
            offset=int(_get(obj, "offset", 0)),
            type=FieldType.from_json(ft),
            state=int(_get(obj, "state", m.STATE_PUBLIC)),
            default=_get(obj, "default"),
            default_bit=_get(obj, "default_bit"),
            origin_default=_get(obj, "origin_default"),
            origin_default_bit=_get(obj, "origin_default_bit"),
            default_is_expr=bool(_get(obj, "default_is_expr", False)),
            generated_expr_string=str(_get(obj, "generated_expr_string", "") or ""),
            generated_stored=bool(_get(obj, "generated_stored", False)),
            hidden=bool(_get(obj, "hidden", False)),
            extra=_rest(obj, _COL_KEYS),
        )

    def to_json(self) -> JsonObj:
        """TiDB's JSON form."""
        out: JsonObj = {
            "id": self.id,
            "name": {"O": self.name, "L": self.name_l or self.name.lower()},
            "offset": self.offset,
            "origin_default": self.origin_default,
            "origin_default_bit": self.origin_default_bit,
            "default": self.default,
            "default_bit": self.default_bit,
            "default_is_expr": self.default_is_expr,
            "generated_expr_string": self.generated_expr_string,
            "generated_stored": self.generated_stored,
            "dependences": None,
            "type": self.type.to_json(),
            "state": self.state,
            "comment": "",
            "hidden": self.hidden,
            "change_state_info": None,
            "version": 2,
        }
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class IndexColumn:
    """``model.IndexColumn``: ``offset`` indexes ``TableInfo.columns``; length -1 = full."""

    name: str
    offset: int
    length: int = -1


_IDX_KEYS = ("id", "idx_name", "idx_cols", "state", "is_unique", "is_primary", "is_global")


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """``model.IndexInfo``."""

    id: int
    name: str
    columns: tuple[IndexColumn, ...]
    state: int = m.STATE_PUBLIC
    is_unique: bool = False
    is_primary: bool = False
    is_global: bool = False
    extra: JsonObj = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> IndexInfo:
        """Parse one entry of ``index_info``."""
        name, _ = _name(_get(obj, "idx_name"))
        cols = tuple(
            IndexColumn(
                name=_name(_get(c, "name"))[0],
                offset=int(_get(c, "offset", 0)),
                length=int(_get(c, "length", -1)),
            )
            for c in (_get(obj, "idx_cols") or ())
        )
        return cls(
            id=int(_get(obj, "id", 0)),
            name=name,
            columns=cols,
            state=int(_get(obj, "state", m.STATE_PUBLIC)),
            is_unique=bool(_get(obj, "is_unique", False)),
            is_primary=bool(_get(obj, "is_primary", False)),
            is_global=bool(_get(obj, "is_global", False)),
            extra=_rest(obj, _IDX_KEYS),
        )

    def to_json(self) -> JsonObj:
        """TiDB's JSON form."""
        out: JsonObj = {
            "id": self.id,
            "idx_name": {"O": self.name, "L": self.name.lower()},
            "tbl_name": {"O": "", "L": ""},
            "idx_cols": [
                {"name": {"O": c.name, "L": c.name.lower()}, "offset": c.offset, "length": c.length}
                for c in self.columns
            ],
            "state": self.state,
            "comment": "",
            "index_type": 1,
            "is_unique": self.is_unique,
            "is_primary": self.is_primary,
            "is_invisible": False,
            "is_global": self.is_global,
        }
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class PartitionDefinition:
    """One partition: its physical table id owns the row keys."""

    id: int
    name: str
    extra: JsonObj = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """``model.PartitionInfo`` (only what the codec needs, the rest kept in ``extra``)."""

    definitions: tuple[PartitionDefinition, ...]
    type: int = 0
    expr: str = ""
    extra: JsonObj = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> PartitionInfo:
        """Parse ``partition``."""
        defs = []
        for d in _get(obj, "definitions") or ():
            name, _ = _name(_get(d, "name"))
            pid = int(_get(d, "id"))
            defs.append(PartitionDefinition(id=pid, name=name, extra=_rest(d, ("id", "name"))))
        return cls(
            definitions=tuple(defs),
            type=int(_get(obj, "type", 0) or 0),
            expr=str(_get(obj, "expr", "") or ""),
            extra=_rest(obj, ("definitions", "type", "expr")),
        )

    def to_json(self) -> JsonObj:
        """TiDB's JSON form."""
        out: JsonObj = {
            "type": self.type,
            "expr": self.expr,
            "columns": None,
            "enable": True,
            "definitions": [
                {
                    "id": d.id,
                    "name": {"O": d.name, "L": d.name.lower()},
                    "less_than": None,
                    "in_values": None,
                    **d.extra,
                }
                for d in self.definitions
            ],
            "num": len(self.definitions),
        }
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class UniqueKey:
    """A key usable as row identity: PK or unique index, with its column names in key order."""

    name: str
    columns: tuple[str, ...]
    is_primary: bool
    all_not_null: bool


_TBL_KEYS = (
    "id",
    "name",
    "charset",
    "collate",
    "cols",
    "index_info",
    "pk_is_handle",
    "is_common_handle",
    "partition",
    "state",
)


@dataclass(frozen=True, slots=True)
class TableInfo:
    """``model.TableInfo``: the schema the mounter decodes rows with."""

    id: int
    name: str
    columns: tuple[ColumnInfo, ...]
    indices: tuple[IndexInfo, ...] = ()
    pk_is_handle: bool = False
    is_common_handle: bool = False
    partition: PartitionInfo | None = None
    charset: str = "utf8mb4"
    collate: str = "utf8mb4_bin"
    state: int = m.STATE_PUBLIC
    extra: JsonObj = field(default_factory=dict, compare=False, hash=False, repr=False)
    # Per-table caches (precompiled decode/encode plans); not part of equality.
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    # ---- JSON ----------------------------------------------------------------------------
    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> TableInfo:
        """Parse the status API's TableInfo JSON (already ``json.loads``-ed)."""
        if not isinstance(obj, Mapping):
            raise SchemaError("TableInfo JSON is not an object")
        tid = _get(obj, "id")
        if not isinstance(tid, int):
            raise SchemaError("TableInfo without an integer id")
        name, _ = _name(_get(obj, "name"))
        cols = tuple(ColumnInfo.from_json(c) for c in (_get(obj, "cols") or ()))
        idx = tuple(IndexInfo.from_json(i) for i in (_get(obj, "index_info") or ()))
        part = _get(obj, "partition")
        info = cls(
            id=tid,
            name=name,
            columns=cols,
            indices=idx,
            pk_is_handle=bool(_get(obj, "pk_is_handle", False)),
            is_common_handle=bool(_get(obj, "is_common_handle", False)),
            partition=PartitionInfo.from_json(part) if isinstance(part, Mapping) else None,
            charset=str(_get(obj, "charset", "") or ""),
            collate=str(_get(obj, "collate", "") or ""),
            state=int(_get(obj, "state", m.STATE_PUBLIC)),
            extra=_rest(obj, _TBL_KEYS),
        )
        info.validate()
        return info

    def to_json(self) -> JsonObj:
        """TiDB's JSON form, as the status API serves it."""
        out: JsonObj = {
            "id": self.id,
            "name": {"O": self.name, "L": self.name.lower()},
            "charset": self.charset,
            "collate": self.collate,
            "cols": [c.to_json() for c in self.columns],
            "index_info": [i.to_json() for i in self.indices] or None,
            "constraint_info": None,
            "fk_info": None,
            "state": self.state,
            "pk_is_handle": self.pk_is_handle,
            "is_common_handle": self.is_common_handle,
            "common_handle_version": 1 if self.is_common_handle else 0,
            "comment": "",
            "auto_inc_id": 0,
            "auto_id_cache": 0,
            "auto_rand_id": 0,
            "max_col_id": max((c.id for c in self.columns), default=0),
            "max_idx_id": max((i.id for i in self.indices), default=0),
            "max_fk_id": 0,
            "max_cst_id": 0,
            "update_timestamp": 0,
            "ShardRowIDBits": 0,
            "max_shard_row_id_bits": 0,
            "auto_random_bits": 0,
            "auto_random_range_bits": 0,
            "pre_split_regions": 0,
            "partition": self.partition.to_json() if self.partition else None,
            "compression": "",
            "view": None,
            "sequence": None,
            "Lock": None,
            "version": 5,
            "tiflash_replica": None,
            "is_columnar": False,
        }
        out.update(self.extra)
        return out

    def validate(self) -> None:
        """Check what the codec relies on: unique column ids, a usable primary key."""
        ids = [c.id for c in self.columns]
        if len(set(ids)) != len(ids):
            raise SchemaError(f"table {self.id}: duplicate column ids")
        if self.pk_is_handle and self.int_handle_column() is None:
            raise SchemaError(f"table {self.id}: pk_is_handle but no integer PK column")
        if self.is_common_handle and self.primary_index() is None:
            raise SchemaError(f"table {self.id}: is_common_handle but no primary index")

    # ---- derived facts -------------------------------------------------------------------
    @property
    def handle_kind(self) -> HandleKind:
        """Int PK handle, clustered common handle, or hidden ``_tidb_rowid``."""
        if self.pk_is_handle:
            return HandleKind.INT
        if self.is_common_handle:
            return HandleKind.COMMON
        return HandleKind.ROWID

    def public_columns(self) -> tuple[ColumnInfo, ...]:
        """Public columns in table order: the columns a row has."""
        cached = self.cache.get("public_columns")
        if cached is None:
            cached = tuple(
                sorted(
                    (c for c in self.columns if c.state == m.STATE_PUBLIC),
                    key=lambda c: c.offset,
                )
            )
            self.cache["public_columns"] = cached
        return cached

    def sql_columns(self) -> tuple[ColumnInfo, ...]:
        """Columns to name in INSERT/REPLACE: public, not hidden, not generated."""
        return tuple(c for c in self.public_columns() if not c.hidden and not c.is_generated)

    def column_by_id(self, col_id: int) -> ColumnInfo | None:
        """Column with this id, any state."""
        for c in self.columns:
            if c.id == col_id:
                return c
        return None

    def column_by_name(self, name: str) -> ColumnInfo | None:
        """Column with this (case-insensitive) name."""
        low = name.lower()
        for c in self.columns:
            if (c.name_l or c.name.lower()) == low:
                return c
        return None

    def int_handle_column(self) -> ColumnInfo | None:
        """The integer PK column that is the handle (``pk_is_handle``), else None."""
        if not self.pk_is_handle:
            return None
        for c in self.columns:
            if c.type.flag & m.PRI_KEY_FLAG and c.type.tp in m.INT_TYPES:
                return c
        return None

    def primary_index(self) -> IndexInfo | None:
        """The PRIMARY index entry (present for clustered and non-clustered non-int PKs)."""
        for i in self.indices:
            if i.is_primary:
                return i
        return None

    def common_handle_columns(self) -> tuple[tuple[ColumnInfo, int], ...]:
        """For clustered tables: (column, prefix length or -1) in PK order."""
        pk = self.primary_index()
        if not self.is_common_handle or pk is None:
            return ()
        return tuple((self.columns[ic.offset], ic.length) for ic in pk.columns)

    def unique_keys(self) -> tuple[UniqueKey, ...]:
        """Keys usable as row identity, PK first, then public unique indexes."""
        keys: list[UniqueKey] = []
        hc = self.int_handle_column()
        if hc is not None:
            keys.append(UniqueKey("PRIMARY", (hc.name,), True, True))
        for i in self.indices:
            if i.state != m.STATE_PUBLIC or not (i.is_unique or i.is_primary):
                continue
            cols = [self.columns[ic.offset] for ic in i.columns]
            keys.append(
                UniqueKey(
                    i.name,
                    tuple(c.name for c in cols),
                    i.is_primary,
                    i.is_primary or all(c.type.not_null for c in cols),
                )
            )
        keys.sort(key=lambda k: not k.is_primary)
        return tuple(keys)

    @property
    def has_global_index(self) -> bool:
        """A partitioned table with a global index (TiDB 8.x ``is_global``).

        One index over every partition, so rows of different partitions can clash on it.
        """
        return self.partition is not None and any(i.is_global for i in self.indices)

    def physical_ids(self) -> dict[int, str | None]:
        """Physical table id → partition name (None for a non-partitioned table)."""
        if self.partition is None or not self.partition.definitions:
            return {self.id: None}
        return {d.id: d.name for d in self.partition.definitions}


def physical_table_map(tables: Sequence[TableInfo]) -> dict[int, tuple[TableInfo, str | None]]:
    """Physical table id → (logical table, partition name or None), over several tables.

    Row keys carry the physical id; a partitioned table's logical id owns no rows.
    """
    out: dict[int, tuple[TableInfo, str | None]] = {}
    for t in tables:
        for pid, pname in t.physical_ids().items():
            out[pid] = (t, pname)
    return out
