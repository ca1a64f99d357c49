"""Per-event reverse replay: what binlog2sql's flashback mode writes, from the change list.

One literal statement per change, newest change first, each the inverse of its change:

- insert → ``DELETE FROM `db`.`t` WHERE `c1`=v1 AND … LIMIT 1;``
- delete → ``INSERT INTO `db`.`t`(`c1`, …) VALUES (v1, …);``
- update → ``UPDATE `db`.`t` SET `c1`=old1, … WHERE `c1`=new1 AND … LIMIT 1;``

``WHERE`` names every column (``IS NULL`` for a NULL), as binlog2sql does with full row images:
it does not know which columns are the key. Statements go out in transactions of
``txn_statements`` (``BEGIN;`` … ``COMMIT;``) for the mysql client to apply. Pure: stdlib and
PyMySQL's string escaping (the same the driver uses).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

from pymysql.converters import escape_string

from bench.rto.history import Row, RowChange
from core.codec.mytime import MyTime
from core.sqlident import quote_ident
from simulator.tabledef import TableDef

__all__ = ["ScriptTable", "inverse_statement", "literal", "script_lines"]


def literal(value: object) -> str:
    """A value as MySQL literal text (strings escaped, DECIMAL in fixed point)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, MyTime):
        return f"'{value}'"
    if isinstance(value, str):
        return "'" + escape_string(value) + "'"
    if isinstance(value, bytes):
        return "x'" + value.hex() + "'"
    raise TypeError(f"no literal for {type(value).__name__}: {value!r}")


class ScriptTable:
    """Pre-quoted names of one table, so rendering a statement is string joins only."""

    __slots__ = ("columns", "insert_prefix", "name")

    def __init__(self, tdef: TableDef, db: str) -> None:
        # a script of literal statements, run without parameters: ``%`` stays single
        q = functools.partial(quote_ident, for_params=False)
        self.name = f"{q(db)}.{q(tdef.name)}"
        self.columns = tuple(q(c.name) for c in tdef.columns)
        self.insert_prefix = f"INSERT INTO {self.name}({', '.join(self.columns)}) VALUES ("

    def where(self, row: Row) -> str:
        """All columns equal to ``row`` (NULL-aware), as binlog2sql writes it."""
        return " AND ".join(
            f"{c} IS NULL" if v is None else f"{c}={literal(v)}"
            for c, v in zip(self.columns, row, strict=True)
        )


def inverse_statement(table: ScriptTable, change: RowChange) -> str:
    """The one statement that undoes ``change`` (see the module docstring)."""
    if change.old is None:
        assert change.new is not None
        return f"DELETE FROM {table.name} WHERE {table.where(change.new)} LIMIT 1;"
    if change.new is None:
        return table.insert_prefix + ", ".join(literal(v) for v in change.old) + ");"
    sets = ", ".join(f"{c}={literal(v)}" for c, v in zip(table.columns, change.old, strict=True))
    return f"UPDATE {table.name} SET {sets} WHERE {table.where(change.new)} LIMIT 1;"


def script_lines(
    tables: Sequence[ScriptTable],
    newest_first: Iterable[RowChange],
    txn_statements: int = 1000,
) -> Iterator[str]:
    """The flashback script: inverse statements in the order given, ``BEGIN;``/``COMMIT;``
    around every ``txn_statements`` of them; lines without the trailing newline."""
    if txn_statements < 1:
        raise ValueError("txn_statements must be >= 1")
    n = 0
    for change in newest_first:
        if n % txn_statements == 0:
            if n:
                yield "COMMIT;"
            yield "BEGIN;"
        yield inverse_statement(tables[change.table], change)
        n += 1
    if n:
        yield "COMMIT;"
