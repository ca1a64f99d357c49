"""SQL for JSON values: how to write one back with its type, and how to match one exactly.

TiDB's JSON text (:func:`core.codec.jsonbin.json_to_text`) is the value's SQL form, bound as a
parameter. Text alone loses what TiDB's parser cannot read back from it: a uint64 below 2^63
parses as int64, JSON DATE/DATETIME/TIME and opaque values print as strings. On TiDB such a
value is written as an expression that builds the typed value
(pkg/expression/builtin_cast.go: ``castIntAsJSON`` keeps the UNSIGNED flag as uint64,
``castTimeAsJSON``/``castDurationAsJSON`` make JSON DATE/DATETIME/TIME, ``castStringAsJSON`` of
a binary string makes an opaque value tagged with the argument's type); everything else stays
text, cast to JSON where it is an argument of ``JSON_ARRAY``/``JSON_OBJECT``. TiDB has no SQL
type that yields a JSON TIMESTAMP, so one is written as DATETIME (JSON_TYPE, text and
comparisons cannot tell them apart); a TIME is written with fsp 6, as TiDB's cast stores it.
MariaDB keeps JSON as text, so there the text is all there is.

Matching (phase-1 all-column deletes of ``_tidb_rowid`` tables) must be type-strict: TiDB's
``=`` on JSON and MariaDB's ``JSON_EQUALS`` both take ``1``, ``1.0`` (and uint64 ``1``) for
equal, so ``LIMIT 1`` could remove an unchanged twin. TiDB's text keeps ``1`` and ``1.0``,
``true`` and ``1``, ``null`` apart at every depth, so the match compares the stored text
(``CAST(c AS CHAR)`` on TiDB, the column itself on MariaDB, whose JSON is text written by this
tool or the stand-in workload, both in TiDB's rendering) byte for byte, plus ``JSON_TYPE`` on
TiDB for what the text cannot show at the top. SQL NULL never equals text: it is matched with
``IS NULL`` by the caller. A value whose stored text differs from TiDB's rendering matches
nothing, and the sink's row-count check fails the job instead of reporting success.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from core.codec.jsonbin import (
    JsonOpaque,
    JsonUint,
    JsonValue,
    json_to_text,
    json_type_name,
)
from core.codec.mytime import TYPE_DATE, MyTime

__all__ = ["json_match", "tidb_json_expr"]

_INT64_MAX = (1 << 63) - 1
_VAR_STRING, _STRING = 0xFD, 0xFE


def _typed_leaf(value: object) -> bool:
    """Whether TiDB's parser would read this scalar's text back as another JSON type."""
    if isinstance(value, JsonUint):
        return int(value) <= _INT64_MAX
    return isinstance(value, MyTime | dt.timedelta | JsonOpaque)


def _needs_expr(value: object) -> bool:
    if isinstance(value, Mapping):
        return any(_needs_expr(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_needs_expr(v) for v in value)
    return _typed_leaf(value)


def _leaf_expr(value: object) -> tuple[str, list[object]]:
    if isinstance(value, JsonUint):
        return "CAST(CAST(%s AS UNSIGNED) AS JSON)", [int(value)]
    if isinstance(value, MyTime):
        if value.tp == TYPE_DATE:
            return "CAST(CAST(%s AS DATE) AS JSON)", [str(value)]
        text = (
            f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
        )
        return "CAST(CAST(%s AS DATETIME(6)) AS JSON)", [text]
    if isinstance(value, dt.timedelta):
        # json_to_text prints a TIME as TiDB does: quoted [-]HHH:MM:SS.ffffff
        return "CAST(CAST(%s AS TIME(6)) AS JSON)", [json_to_text(value)[1:-1]]
    if isinstance(value, JsonOpaque):
        if value.type_code == _VAR_STRING:
            return "CAST(CAST(%s AS BINARY) AS JSON)", [value.data]
        if value.type_code == _STRING and value.data:
            return f"CAST(CAST(%s AS BINARY({len(value.data)})) AS JSON)", [value.data]
        raise ValueError(
            f"a JSON opaque value of MySQL type {value.type_code} cannot be written back by SQL"
        )
    raise TypeError(f"{type(value).__name__} is not a typed JSON leaf")


def _expr(value: object, top: bool) -> tuple[str, list[object]]:
    if not _needs_expr(value):
        text = json_to_text(value)  # type: ignore[arg-type]
        return ("%s" if top else "CAST(%s AS JSON)"), [text]
    parts: list[str] = []
    params: list[object] = []
    if isinstance(value, Mapping):
        for key in sorted(value, key=lambda k: str(k).encode("utf-8")):
            sql, p = _expr(value[key], False)
            parts += ["%s", sql]
            params += [str(key), *p]
        return f"JSON_OBJECT({', '.join(parts)})", params
    if isinstance(value, list | tuple):
        for item in value:
            sql, p = _expr(item, False)
            parts.append(sql)
            params += p
        return f"JSON_ARRAY({', '.join(parts)})", params
    return _leaf_expr(value)


def tidb_json_expr(value: JsonValue) -> tuple[str, list[object]]:
    """SQL (``%s`` placeholders) and parameters that make TiDB store ``value`` as it was.

    Plain documents are one text parameter (``%s``: TiDB parses a string written to a JSON
    column); documents holding a uint64 below 2^63, a date/time or an opaque value become
    ``JSON_ARRAY``/``JSON_OBJECT``/``CAST`` expressions. ``value`` is a document, not SQL NULL.
    """
    if value is None:
        raise ValueError("SQL NULL is not a JSON document")
    return _expr(value, True)


def json_match(column_sql: str, value: JsonValue, tidb: bool) -> tuple[str, Sequence[object]]:
    """A type-strict ``WHERE`` term matching the JSON document ``value`` (not SQL NULL)."""
    if value is None:
        raise ValueError("SQL NULL is matched with IS NULL, not as a JSON document")
    text = json_to_text(value)
    if tidb:
        return (
            f"JSON_TYPE({column_sql}) = %s AND CAST({column_sql} AS CHAR) = %s COLLATE utf8mb4_bin",
            [json_type_name(value), text],
        )
    return f"{column_sql} = %s COLLATE utf8mb4_bin", [text]
