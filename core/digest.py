"""The row digest ``tiundo verify`` compares tables by, comparable across every reader.

A **row digest** is the row count and the sum modulo 2^256 of SHA-256 over each row's
canonical text. The sum makes it independent of row order while still counting duplicate rows
(XOR would cancel them). The canonical text is the same whether the row was read back from
MariaDB/TiDB through PyMySQL, decoded from TiKV bytes by the codec, or kept in a model of the
table, so the downstream now, the state at T and the fake cluster compare with each other.
``CHECKSUM TABLE`` (:func:`checksum_table`) is the cheap second measure, comparable only with
another MariaDB checksum.

Canonical forms, chosen where the two readers disagree: FLOAT as its float32 bit pattern
(MariaDB prints 6 digits, the codec widens float32); DECIMAL quantised to the column's scale;
times as ``YYYY-MM-DD HH:MM:SS.ffffff``; TIME as microseconds; BIT as an integer; JSON
re-serialised with sorted keys, the document ``null`` (``JSON_NULL``; MariaDB's text ``null``)
as ``null``, apart from SQL NULL; binary strings as hex.

Pure apart from the ``async`` readers, which take any DB-API-like aiomysql connection (the
module does not import aiomysql).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from core.codec import mysqldef as m
from core.codec.jsonbin import JSON_NULL
from core.codec.mytime import MyTime
from core.codec.tableinfo import ColumnInfo, TableInfo
from core.sqlident import quote_ident

__all__ = [
    "Connection",
    "RowDigest",
    "canonical_row",
    "canonical_value",
    "checksum_table",
    "mariadb_digest",
    "row_digest",
]

_MOD = 1 << 256
_F32 = struct.Struct("<f")


@dataclass(frozen=True, slots=True)
class RowDigest:
    """Order-independent digest of a multiset of rows."""

    rows: int
    digest: int

    def __str__(self) -> str:
        return f"{self.rows}:{self.digest:064x}"


class _Cursor(Protocol):
    async def execute(self, query: str, args: Any = None) -> int: ...
    async def fetchall(self) -> Any: ...
    async def fetchone(self) -> Any: ...


class _CursorContext(Protocol):
    async def __aenter__(self) -> _Cursor: ...
    async def __aexit__(self, *exc: object) -> None: ...


class Connection(Protocol):
    """The part of ``aiomysql.Connection`` the readers use."""

    def cursor(self) -> _CursorContext:
        """A cursor for ``async with conn.cursor() as cur``."""
        ...


def _time_text(v: Any) -> str:
    if isinstance(v, MyTime):
        return (
            f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
            f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
        )
    if isinstance(v, _dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, _dt.date):
        return v.strftime("%Y-%m-%d") + " 00:00:00.000000"
    # PyMySQL hands back zero dates ("0000-00-00 00:00:00") as text
    text = str(v)
    if len(text) == 10:
        text += " 00:00:00"
    if "." not in text:
        text += "."
    head, frac = text.split(".")
    return f"{head}.{frac:0<6}"


def canonical_value(col: ColumnInfo, v: Any) -> str:
    """One column value as canonical text (see the module docstring); NULL is a backslash-N."""
    if v is None:
        return "\\N"
    ft = col.type
    tp = ft.tp
    if tp in m.INT_TYPES or tp == m.TYPE_YEAR:
        return str(int(v))
    if tp == m.TYPE_BIT:
        return str(int.from_bytes(v, "big") if isinstance(v, bytes) else int(v))
    if tp == m.TYPE_FLOAT:
        return _F32.pack(float(v)).hex()
    if tp == m.TYPE_DOUBLE:
        return repr(float(v))
    if tp == m.TYPE_NEWDECIMAL:
        d = Decimal(v)
        scale = max(ft.decimal, 0)
        d = d.quantize(Decimal(1).scaleb(-scale))
        return str(d.copy_abs() if d == 0 else d)
    if tp in m.TIME_TYPES:
        return _time_text(v)
    if tp == m.TYPE_DURATION:
        td = v if isinstance(v, _dt.timedelta) else _dt.timedelta(microseconds=int(v) // 1000)
        return str((td.days * 86400 + td.seconds) * 1_000_000 + td.microseconds)
    if tp == m.TYPE_JSON:  # a JSON value (dict, list, str, number...), not JSON text
        if v is JSON_NULL:
            return "null"  # the JSON document null; SQL NULL was "\\N" above
        return json.dumps(v, sort_keys=True, ensure_ascii=False)
    if tp in (m.TYPE_ENUM, m.TYPE_SET):
        return "s:" + str(v)
    if isinstance(v, bytes | bytearray):
        if ft.is_binary_string:
            return "x:" + bytes(v).hex()
        return "s:" + bytes(v).decode("utf-8")
    return "s:" + str(v)


def canonical_row(info: TableInfo, row: Mapping[str, Any]) -> str:
    """A row's columns (public, not hidden, in table order) as one canonical text line."""
    return "\t".join(canonical_value(c, row.get(c.name)) for c in info.sql_columns())


def row_digest(info: TableInfo, rows: Iterable[Mapping[str, Any]]) -> RowDigest:
    """Digest of rows given as ``{column name: value}``."""
    total = 0
    count = 0
    for row in rows:
        h = hashlib.sha256(canonical_row(info, row).encode("utf-8", "surrogatepass")).digest()
        total = (total + int.from_bytes(h, "big")) % _MOD
        count += 1
    return RowDigest(count, total)


def _qualified(db: str, table: str) -> str:
    # both readers run their statement without parameters: ``%`` stays single
    return f"{quote_ident(db, for_params=False)}.{quote_ident(table, for_params=False)}"


async def checksum_table(conn: Connection, db: str, table: str) -> int:
    """MariaDB's ``CHECKSUM TABLE`` of ``db.table``."""
    async with conn.cursor() as cur:
        await cur.execute(f"CHECKSUM TABLE {_qualified(db, table)}")
        row = await cur.fetchone()
    if row is None or row[1] is None:
        raise LookupError(f"CHECKSUM TABLE {db}.{table} returned nothing (no such table?)")
    return int(row[1])


def _json_document(text: str | bytes) -> Any:
    """MariaDB's JSON text as the codec's value: the document ``null`` is JSON_NULL."""
    value = json.loads(text)
    return JSON_NULL if value is None else value


async def mariadb_digest(conn: Connection, db: str, info: TableInfo) -> RowDigest:
    """Digest of the table as MariaDB holds it now."""
    cols = info.sql_columns()
    names = ", ".join(quote_ident(c.name, for_params=False) for c in cols)
    async with conn.cursor() as cur:
        await cur.execute(f"SELECT {names} FROM {_qualified(db, info.name)}")
        rows = await cur.fetchall()
    # MariaDB hands JSON back as its text; the digest takes JSON values
    is_json = [c.type.tp == m.TYPE_JSON for c in cols]
    return row_digest(
        info,
        (
            {
                c.name: _json_document(v) if j and v is not None else v
                for c, v, j in zip(cols, r, is_json, strict=True)
            }
            for r in rows
        ),
    )
