"""Quoting of MySQL/TiDB identifiers, the one place SQL names are turned into SQL text.

Values always travel as bound parameters, but names (databases, tables, columns, partitions)
cannot, so they are backquoted here: an embedded backquote is doubled, which is how MySQL,
MariaDB and TiDB read a quoted identifier. A statement that is executed *with* parameters is
%-interpolated by the driver (PyMySQL / aiomysql), so a ``%`` in a name must then be written
``%%``; a statement executed without parameters is sent as it is, and must not double it.
Pure.
"""

from __future__ import annotations

__all__ = ["quote_ident"]


def quote_ident(name: str, *, for_params: bool = True) -> str:
    """Backquote ``name``: backquotes doubled, and ``%`` doubled when ``for_params``.

    ``for_params`` says the statement goes to ``cursor.execute(sql, params)`` with parameters
    (the default: every undo statement has them); pass ``False`` for a statement executed
    without any. An empty name or one with NUL cannot be an identifier: ValueError.
    """
    if name == "" or "\x00" in name:
        raise ValueError(f"not a valid SQL identifier: {name!r}")
    quoted = "`" + name.replace("`", "``") + "`"
    return quoted.replace("%", "%%") if for_params else quoted
