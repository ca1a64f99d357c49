"""SQL text and bound parameters for undo actions, batched; plus a dry-run renderer.

Every statement is ``(sql, params)`` for a DB-API ``cursor.execute(sql, params)`` in PyMySQL /
aiomysql ``%s`` style. Values never enter the SQL text (except in :func:`render_for_dry_run`,
the one place they become text); identifiers are backtick-quoted, and because every statement
carries parameters, a ``%`` inside an identifier is written ``%%`` (the driver interpolates).

Statement shapes (one table each; columns in ``table.columns`` order):

- ``REPLACE INTO `db`.`t` (`a`,`b`) VALUES (%s,%s),(%s,%s)``
- ``INSERT INTO `db`.`t` (`a`,`b`) VALUES (%s,%s),(%s,%s)`` (phase 2 of ``_tidb_rowid`` tables)
- ``DELETE FROM `db`.`t` WHERE `id` IN (%s,%s)`` for a one-column key, else
  ``DELETE FROM `db`.`t` WHERE (`k1`,`k2`) IN ((%s,%s),(%s,%s))``
- ``DELETE FROM `db`.`t` WHERE `a` <=> %s AND `f` BETWEEN %s AND %s LIMIT 1``: one row, all
  columns. ``<=>`` matches NULL to NULL. A FLOAT column is matched by a bracket around the
  single-precision value instead of ``=``: the bracket is a quarter of a float32 ulp wide on each
  side, so it contains exactly one float32 value whatever rounding the server applies to the
  literal (``tests/integration/test_undo_order_free.py`` checks 0.1, ±3.4028235e38, ±FLT_MIN
  and subnormals on MariaDB). A NULL FLOAT is matched with ``IS NULL``. A text value is matched
  with ``= %s COLLATE utf8mb4_bin AND CHAR_LENGTH(c) = %s``: the column's own collation may be
  case- or accent-insensitive, and PAD SPACE collations ignore trailing spaces, so a plain ``=``
  could delete an unchanged row that differs only in case or trailing blanks. A key delete
  whose key has a FLOAT column falls back to this per-row form. A JSON column is matched by
  its exact text, type-strict (:func:`app.undo.jsonsql.json_match`): ``JSON_TYPE(`j`) = %s AND
  CAST(`j` AS CHAR) = %s COLLATE utf8mb4_bin`` on TiDB, ```j` = %s COLLATE utf8mb4_bin`` on
  MariaDB; SQL NULL with ``IS NULL``, JSON null as the document ``null``.

Dialects: the statements are the same for MySQL/MariaDB and TiDB except for JSON columns (the
match above; on TiDB a JSON value whose text would read back as another type, such as a uint64
or a JSON DATE, is written as an expression, see :mod:`app.undo.jsonsql`). The rest that
differs is session settings, which :func:`session_statements` returns for the sink to run on
each connection.
MariaDB cannot check the TiDB-only parts: ``tidb_cdc_write_source`` (the txn-source tag TiCDC
uses to filter our own writes), ``allow_auto_random_explicit_insert`` and
``tidb_enable_external_ts_read``, TiDB's pessimistic-transaction and clustered-index behaviour,
and ``_tidb_rowid`` allocation for re-inserted rows.

Sizes: TiDB refuses one key-value entry over ``txn-entry-size-limit`` (6 MiB by default; error
8025 ``ErrEntryTooLarge``) and a transaction over ``txn-total-size-limit`` (100 MB; error 8004
``ErrTxnTooLarge``); both are checked on the sum of key and value lengths in TiDB's memory
buffer (pingcap/tidb ``pkg/errno/errcode.go``, ``pkg/config/config.go``
``DefTxnEntrySizeLimit``/``DefTxnTotalSizeLimit``; the check is client-go's memdb ``set``).
A written row over ``BatchLimits.max_row_bytes`` raises :class:`RowTooLarge` (the undo
dead-letters it), and :class:`TxnCutter` cuts transactions by rows and by bytes. The sizes are
estimates from the parameters (:func:`row_bytes`, :func:`statement_bytes`), not TiDB's exact
encoding: a row the estimate misses is refused by TiDB itself, which fails the partition with
that error instead of reporting success.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from pymysql.converters import escape_string

from app.undo.jsonsql import json_match, tidb_json_expr
from app.undo.model import Identity, UndoTable
from app.undo.plan import Action, DeleteByKey, DeleteRow, Insert, Replace, TablePlan
from core.codec.jsonbin import JsonValue, json_to_text
from core.sqlident import quote_ident

__all__ = [
    "BatchLimits",
    "Dialect",
    "Param",
    "RowTooLarge",
    "Statement",
    "TxnCutter",
    "cut_transactions",
    "float32_bracket",
    "plan_statements",
    "render_for_dry_run",
    "row_bytes",
    "session_statements",
    "statement_bytes",
    "statements",
    "table_name",
    "to_param",
]

Param = None | int | float | str | bytes | Decimal
"""What the driver receives: the codec's values converted by :func:`to_param`."""


class Dialect(enum.Enum):
    """The downstream's SQL flavour (MariaDB stands in for TiDB in tests)."""

    MYSQL = "mysql"
    TIDB = "tidb"


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How big one multi-row statement may grow.

    ``max_bytes`` is an estimate of the statement after the driver's escaping; keep it well
    under the server's ``max_allowed_packet`` (4 MiB in MySQL 5.7, 16 MiB in MariaDB 10.11,
    64 MiB in TiDB). One row larger than ``max_bytes`` still gets its own statement.
    ``max_params`` bounds placeholders (65,535 is the limit of server-side prepared statements).
    ``max_row_bytes`` bounds one written row (:func:`row_bytes`): TiDB's
    ``txn-entry-size-limit``, 6 MiB by default; a larger row raises :class:`RowTooLarge`.
    """

    max_rows: int = 500
    max_bytes: int = 1 << 20
    max_params: int = 65_535
    max_row_bytes: int = 6 << 20

    def validate(self) -> None:
        """Raise ValueError unless every limit is positive."""
        if min(self.max_rows, self.max_bytes, self.max_params, self.max_row_bytes) < 1:
            raise ValueError(f"batch limits must be positive: {self!r}")


class RowTooLarge(ValueError):
    """A row to write is larger than one entry the downstream accepts (TiDB error 8025).

    A ``ValueError`` like the other values with no SQL form, so the undo dead-letters the row
    with this message instead of failing the job on it.
    """


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement and its parameters, with what it covers (for dry-run comments, reports)."""

    sql: str
    params: tuple[Param, ...]
    kind: str
    """``replace``, ``insert``, ``delete`` (by key) or ``delete_row`` (all columns)."""
    rows: int
    """Actions (row keys) covered."""
    first_commit_ts: int
    """Smallest first_commit_ts among the covered row keys."""
    last_commit_ts: int
    """Largest last_commit_ts among the covered row keys."""
    expect_rows: int | None = None
    """Rows the statement must change, or None when any count is right. Set for phase-1
    deletes of ``_tidb_rowid`` tables: each names one row present at E and the table only
    shrinks in that phase, so another count means the downstream is not at E (a foreign write,
    or a match that cannot hit) and going on would leave the table away from T."""


def table_name(table: UndoTable) -> str:
    """```db`.`table``` quoted for statements with parameters."""
    return f"{quote_ident(table.db)}.{quote_ident(table.name)}"


def _timedelta_text(value: dt.timedelta) -> str:
    sign = "-" if value < dt.timedelta(0) else ""
    us = abs(value) // dt.timedelta(microseconds=1)
    secs, micro = divmod(us, 1_000_000)
    mins, sec = divmod(secs, 60)
    hours, minute = divmod(mins, 60)
    text = f"{sign}{hours:02d}:{minute:02d}:{sec:02d}"
    return text + f".{micro:06d}" if micro else text


def json_text(tree: object) -> str:
    """JSON text as TiDB renders it (``core.codec.jsonbin.json_to_text``)."""
    return json_to_text(cast(JsonValue, tree))


def to_param(value: object, *, is_json: bool = False) -> Param:
    """Convert one decoded column value to a DB-API parameter.

    DATE/DATETIME/TIMESTAMP (``MyTime``) → its MySQL text (TIMESTAMP text is in the time zone
    the codec decoded with; the session must use the same, see :func:`session_statements`);
    TIME (timedelta) → ``[-]HH:MM:SS[.ffffff]``; JSON tree → JSON text; Decimal, int, float,
    str (text, ENUM, SET) and bytes pass through; bool → int.
    A value with no SQL form raises ``TypeError`` (a type the driver cannot send: a VECTOR's
    tuple) or ``ValueError`` (NaN/infinity, which PyMySQL refuses to escape; text with lone
    surrogates, which cannot be sent as utf8mb4): the caller dead-letters that row.
    """
    if is_json:
        return None if value is None else json_text(value)
    if value is None or isinstance(value, int | str | bytes):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(f"text not encodable as utf8mb4: {exc.reason}") from None
        return value
    if isinstance(value, float | Decimal):
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
        if not finite:
            raise ValueError(f"{value!r} has no SQL form")
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dt.timedelta):
        return _timedelta_text(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if hasattr(value, "to_python"):  # core.codec.mytime.MyTime: str() is MySQL's text
        return str(value)
    raise TypeError(f"no SQL parameter form for {type(value).__name__}: {repr(value)[:80]}")


def _params(table: UndoTable, columns: Sequence[str], values: Sequence[object]) -> list[Param]:
    js = table.json_columns
    return [to_param(v, is_json=c in js) for c, v in zip(columns, values, strict=True)]


def _values_row(
    table: UndoTable, values: Sequence[object], dialect: Dialect
) -> tuple[str, list[Param]]:
    """``(%s,…)`` and the parameters of one written row.

    On TiDB a JSON value is written by :func:`app.undo.jsonsql.tidb_json_expr` (typed values
    become expressions); everything else, and everything on MariaDB, is one ``%s``.
    """
    js = table.json_columns
    marks: list[str] = []
    params: list[Param] = []
    for c, v in zip(table.columns, values, strict=True):
        if c in js and v is not None and dialect is Dialect.TIDB:
            sql, json_params = tidb_json_expr(cast(JsonValue, v))
            marks.append(sql)
            params += [to_param(p) for p in json_params]
        else:
            marks.append("%s")
            params.append(to_param(v, is_json=c in js))
    return "(" + ",".join(marks) + ")", params


def _param_bytes(p: Param) -> int:
    """Upper estimate of a parameter's size once escaped into the statement."""
    if p is None:
        return 4
    if isinstance(p, bytes):
        return 2 * len(p) + 10
    if isinstance(p, str):
        return 2 * len(p.encode("utf-8", "surrogatepass")) + 2
    return 32 if not isinstance(p, Decimal) else len(str(p)) + 2


def _raw_bytes(p: Param) -> int:
    """A parameter's size as data (what TiDB stores, roughly), not as escaped text."""
    if p is None:
        return 1
    if isinstance(p, bytes):
        return len(p)
    if isinstance(p, str):
        return len(p.encode("utf-8", "surrogatepass"))
    return 8 if not isinstance(p, Decimal) else len(str(p))


_ENTRY_OVERHEAD = 64
"""Record key (``t{id}_r`` + handle) and row-format header, roughly, for :func:`row_bytes`."""


def row_bytes(params: Sequence[Param]) -> int:
    """Estimated size of one written row as a TiDB key-value entry: its values plus a key.

    Row format v2 adds a few bytes per column (id, offset); JSON is stored binary, not as text.
    An estimate: TiDB's own check stays the last word (see the module docstring).
    """
    return _ENTRY_OVERHEAD + sum(_raw_bytes(p) + 4 for p in params)


def statement_bytes(st: Statement) -> int:
    """Estimated size of a statement in a transaction: its SQL text and its parameters' data.

    What :class:`TxnCutter` adds up against TiDB's ``txn-total-size-limit`` (the statement's
    rows, and the keys of the rows it deletes, are about the size of its parameters).
    """
    return len(st.sql) + sum(_raw_bytes(p) for p in st.params)


_FLOAT32_MIN_ULP = math.ldexp(1.0, -149)


def float32_bracket(value: float) -> tuple[float, float]:
    """Bounds that contain ``value`` rounded to float32 and no other float32 value."""
    try:
        f32: float = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError as exc:
        raise ValueError(f"FLOAT value {value!r} is not a finite float32") from exc
    if not math.isfinite(f32):
        raise ValueError(f"FLOAT value {value!r} is not a finite float32")
    _, exp = math.frexp(f32)  # f32 = m * 2**exp, 0.5 <= |m| < 1 (exp = 0 for zero)
    ulp = max(math.ldexp(1.0, exp - 24), _FLOAT32_MIN_ULP) if f32 else _FLOAT32_MIN_ULP
    return f32 - ulp / 4, f32 + ulp / 4


def _row_match(
    table: UndoTable, columns: Sequence[str], values: Sequence[object], dialect: Dialect
) -> tuple[str, list[Param]]:
    parts: list[str] = []
    params: list[Param] = []
    js = table.json_columns
    for c, v in zip(columns, values, strict=True):
        q = quote_ident(c)
        if v is None and c in table.float_columns | js:
            parts.append(f"{q} IS NULL")  # SQL NULL; JSON null (JSON_NULL) is a document
        elif c in js:
            sql, json_params = json_match(q, cast(JsonValue, v), dialect is Dialect.TIDB)
            parts.append(sql)
            params += [to_param(p) for p in json_params]
        elif c in table.float_columns:
            if not isinstance(v, int | float):
                raise TypeError(f"FLOAT column {c!r} holds {type(v).__name__}")
            lo, hi = float32_bracket(float(v))
            parts.append(f"{q} BETWEEN %s AND %s")
            params += [lo, hi]
        elif isinstance(v, str):
            parts.append(f"{q} = %s COLLATE utf8mb4_bin AND CHAR_LENGTH({q}) = %s")
            params += [v, len(v)]
        else:
            parts.append(f"{q} <=> %s")
            params.append(to_param(v, is_json=c in js))
    return " AND ".join(parts), params


@dataclass(slots=True)
class _Batch:
    params: list[Param]
    row_sqls: list[str]
    tuples: int = 0
    size: int = 0
    first_ts: int = 0
    last_ts: int = 0


def _multi_row(
    prefix: str,
    sep: str,
    suffix: str,
    kind: str,
    rows: Iterable[tuple[Action, str, list[Param]]],
    limits: BatchLimits,
    exact: bool = False,
) -> list[Statement]:
    """Batch ``(action, row SQL, row params)`` into ``prefix row sep row … suffix`` statements."""
    out: list[Statement] = []
    batch: _Batch | None = None

    def flush(b: _Batch) -> None:
        sql = prefix + sep.join(b.row_sqls) + suffix
        expect = b.tuples if exact else None
        out.append(Statement(sql, tuple(b.params), kind, b.tuples, b.first_ts, b.last_ts, expect))

    for action, row_sql, params in rows:
        size = len(row_sql) + len(sep) + sum(_param_bytes(p) for p in params)
        if batch is not None and (
            batch.tuples >= limits.max_rows
            or batch.size + size > limits.max_bytes
            or len(batch.params) + len(params) > limits.max_params
        ):
            flush(batch)
            batch = None
        if batch is None:
            batch = _Batch([], [], 0, len(prefix) + len(suffix), action.first_commit_ts, 0)
        batch.row_sqls.append(row_sql)
        batch.params += params
        batch.tuples += 1
        batch.size += size
        batch.first_ts = min(batch.first_ts, action.first_commit_ts)
        batch.last_ts = max(batch.last_ts, action.last_commit_ts)
    if batch is not None:
        flush(batch)
    return out


def _placeholders(n: int) -> str:
    return "(" + ",".join(["%s"] * n) + ")"


def _delete_row_statement(
    table: UndoTable,
    action: Action,
    columns: Sequence[str],
    values: Sequence[object],
    dialect: Dialect,
) -> Statement:
    where, params = _row_match(table, columns, values, dialect)
    sql = f"DELETE FROM {table_name(table)} WHERE {where} LIMIT 1"
    exact = 1 if table.identity is Identity.ROWID else None
    return Statement(
        sql, tuple(params), "delete_row", 1, action.first_commit_ts, action.last_commit_ts, exact
    )


def statements(
    actions: Sequence[Action],
    limits: BatchLimits | None = None,
    dialect: Dialect = Dialect.TIDB,
) -> list[Statement]:
    """Statements for actions of ONE table and ONE phase, batched; [] for no actions.

    ``dialect`` only changes JSON columns: how they are matched in an all-column delete, and
    on TiDB typed JSON values are written as expressions (:mod:`app.undo.jsonsql`).

    Actions are grouped by statement shape (kind, key columns) in order of first appearance;
    within a phase the order of statements does not matter (see :mod:`app.undo.plan`).
    """
    limits = limits or BatchLimits()
    limits.validate()
    if not actions:
        return []
    table = actions[0].table
    for a in actions:
        if a.table is not table and (a.table.db, a.table.name) != (table.db, table.name):
            raise ValueError("statements() takes the actions of one table")
    cols = ",".join(quote_ident(c) for c in table.columns)
    groups: dict[tuple[str, tuple[str, ...]], list[Action]] = {}
    for a in actions:
        shape = (type(a).__name__, a.columns if isinstance(a, DeleteByKey) else ())
        groups.setdefault(shape, []).append(a)

    out: list[Statement] = []
    for (kind, key_cols), group in groups.items():
        if kind in ("Replace", "Insert"):
            verb = "REPLACE" if kind == "Replace" else "INSERT"
            rows = [
                (a, *_values_row(table, a.values, dialect))
                for a in group
                if isinstance(a, Replace | Insert)
            ]
            for _, _, params in rows:
                size = row_bytes(params)
                if size > limits.max_row_bytes:
                    raise RowTooLarge(
                        f"row of ~{size} bytes is over the {limits.max_row_bytes}-byte entry "
                        "limit (TiDB txn-entry-size-limit, TIUNDO_TXN_ENTRY_MAX_BYTES)"
                    )
            out += _multi_row(
                f"{verb} INTO {table_name(table)} ({cols}) VALUES ",
                ",",
                "",
                verb.lower(),
                rows,
                limits,
            )
        elif kind == "DeleteRow":
            out += [
                _delete_row_statement(table, a, table.columns, a.values, dialect)
                for a in group
                if isinstance(a, DeleteRow)
            ]
        elif any(c in table.float_columns for c in key_cols):
            out += [
                _delete_row_statement(table, a, key_cols, a.key, dialect)
                for a in group
                if isinstance(a, DeleteByKey)
            ]
        else:
            if len(key_cols) == 1:
                target, row_sql = quote_ident(key_cols[0]), "%s"
            else:
                target = "(" + ",".join(quote_ident(c) for c in key_cols) + ")"
                row_sql = _placeholders(len(key_cols))
            keys = [
                (a, row_sql, _params(table, key_cols, a.key))
                for a in group
                if isinstance(a, DeleteByKey)
            ]
            out += _multi_row(
                f"DELETE FROM {table_name(table)} WHERE {target} IN (",
                ",",
                ")",
                "delete",
                keys,
                limits,
                exact=table.identity is Identity.ROWID,
            )
    return out


class TxnCutter:
    """Cuts a stream of statements into transactions bounded by rows and by bytes.

    At most ``max_rows`` rows and ``max_bytes`` estimated bytes (:func:`statement_bytes`) per
    transaction; a statement over either bound is a transaction alone. Greedy and in order: a
    transaction ends exactly where the next statement would not fit (or when it is full), so
    the transactions are a function of the statements and the two bounds alone, however the
    stream is chunked. That is what lets the exactly-once counters number them
    (:func:`app.jobrecord.counter_settings`).
    """

    def __init__(self, *, max_rows: int, max_bytes: int) -> None:
        if max_rows < 1 or max_bytes < 1:
            raise ValueError(f"transaction bounds must be positive: {max_rows}, {max_bytes}")
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._pending: list[Statement] = []
        self._rows = 0
        self._bytes = 0

    def _take(self) -> list[Statement]:
        txn, self._pending, self._rows, self._bytes = self._pending, [], 0, 0
        return txn

    def add(self, st: Statement) -> list[list[Statement]]:
        """Add ``st``; the transactions it completed (zero, one or two), in order."""
        size = statement_bytes(st)
        out: list[list[Statement]] = []
        if self._pending and (
            self._rows + st.rows > self.max_rows or self._bytes + size > self.max_bytes
        ):
            out.append(self._take())
        self._pending.append(st)
        self._rows += st.rows
        self._bytes += size
        if self._rows >= self.max_rows or self._bytes >= self.max_bytes:
            out.append(self._take())  # full: nothing more can join it
        return out

    def finish(self) -> list[list[Statement]]:
        """The last, partly filled transaction (if any)."""
        return [self._take()] if self._pending else []


def cut_transactions(
    sts: Iterable[Statement], *, max_rows: int, max_bytes: int
) -> list[list[Statement]]:
    """All of ``sts`` cut into transactions by :class:`TxnCutter`."""
    cutter = TxnCutter(max_rows=max_rows, max_bytes=max_bytes)
    out = [txn for st in sts for txn in cutter.add(st)]
    return out + cutter.finish()


def plan_statements(
    plan: TablePlan, limits: BatchLimits | None = None, dialect: Dialect = Dialect.TIDB
) -> tuple[tuple[Statement, ...], ...]:
    """Statements per phase of a table's plan (the phase barrier is the sink's to keep)."""
    return tuple(tuple(statements(phase, limits, dialect)) for phase in plan.phases)


def session_statements(
    dialect: Dialect, *, txn_source: int | None = None, time_zone: str = "+00:00"
) -> list[str]:
    """Per-connection settings the sink runs before any undo statement (no parameters).

    Both dialects: no foreign-key checks (rows are restored in any order); the time zone the
    codec decoded TIMESTAMP values in; ``sql_mode`` without strict checks or zero-date bans
    (the images were accepted once, including zero dates) and with ``NO_AUTO_VALUE_ON_ZERO`` (an
    auto-increment or AUTO_RANDOM column restored as 0 stays 0; explicit AUTO_INCREMENT values
    need nothing else, TiDB rebases its allocator past them).

    TiDB only, as TiCDC's MySQL sink sets them for the same writes (pingcap/tiflow
    ``pkg/sink/mysql/db_helper.go`` ``generateDSNByConfig``; names from pingcap/tidb
    ``pkg/sessionctx/variable/tidb_vars.go``):

    - ``allow_auto_random_explicit_insert = 1``: without it every REPLACE/INSERT of a table
      with an ``AUTO_RANDOM`` key fails with error 8216 (explicit insertion is disabled);
    - ``tidb_enable_external_ts_read = OFF``: a TiCDC downstream may read at the syncpoint's
      ``tidb_external_ts`` (set by TiCDC's syncpoint store), and such a session refuses writes;
    - ``tidb_cdc_write_source`` (1..15) tags the session's writes so TiCDC and our own
      foreign-write check can tell them apart.

    TiCDC sets no ``tidb_constraint_check_in_place``: unique checks at statement or commit time
    change nothing here (at T no two rows clash, DESIGN.md §2). MariaDB has none of these
    variables, so they are never sent for ``MYSQL`` (``txn_source`` is refused).
    """
    if not all(ch in "+-:0123456789" for ch in time_zone) or not time_zone:
        raise ValueError(f"time zone must be an offset like +00:00: {time_zone!r}")
    out = [
        "SET SESSION foreign_key_checks = 0",
        f"SET SESSION time_zone = '{time_zone}'",
        "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'",
    ]
    if dialect is Dialect.TIDB:
        out += [
            "SET SESSION allow_auto_random_explicit_insert = 1",
            "SET SESSION tidb_enable_external_ts_read = OFF",
        ]
    if txn_source is not None:
        if dialect is not Dialect.TIDB:
            raise ValueError("txn_source needs Dialect.TIDB (tidb_cdc_write_source)")
        if not 1 <= txn_source <= 15:
            raise ValueError(f"tidb_cdc_write_source must be in 1..15: {txn_source}")
        out.append(f"SET SESSION tidb_cdc_write_source = {int(txn_source)}")
    return out


def _literal(p: Param) -> str:
    if p is None:
        return "NULL"
    if isinstance(p, bool):
        return str(int(p))
    if isinstance(p, int):
        return str(p)
    if isinstance(p, float):
        if not math.isfinite(p):
            raise ValueError(f"{p!r} has no SQL literal")
        text = repr(p)
        return text if "e" in text else text + "e0"
    if isinstance(p, Decimal):
        if not p.is_finite():
            raise ValueError(f"{p!r} has no SQL literal")
        # fixed-point text: str() would give 1.2340E-13, which MySQL reads as an inexact DOUBLE
        return format(p, "f")
    if isinstance(p, bytes):
        return "X'" + p.hex().upper() + "'"
    if isinstance(p, str):
        return "'" + escape_string(p) + "'"
    raise TypeError(f"no SQL literal for {type(p).__name__}")


def render_for_dry_run(sql: str, params: Sequence[Param] | Mapping[str, Param]) -> str:
    """The statement as one literal SQL line for the mysql client (audit / manual apply).

    Strings are escaped with PyMySQL's pure ``escape_string`` (quotes, backslashes, NUL,
    newlines, Ctrl-Z) and kept as UTF-8; bytes become ``X'..'`` hex so binary data survives
    any client charset. Ends with ``;``.
    """
    if isinstance(params, Mapping):
        raise TypeError("undo statements use positional %s parameters")
    literals = tuple(_literal(p) for p in params)
    try:
        text = sql % literals
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{len(literals)} parameters do not fit the statement {sql!r}") from exc
    return text + ";"
