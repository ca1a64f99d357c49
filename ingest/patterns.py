"""Table patterns (``--tables``/``TIUNDO_TABLES``): ``db.t``, ``db.t*`` and the exact form.

A pattern is a database part and a table part joined by one ``.``. Either part may be
backquoted as in SQL (an embedded backquote doubled): a backquoted part is always exactly that
name, so `` `my.db`.`t*1` `` selects the one table ``t*1`` of the database ``my.db``. Unquoted
parts keep their old meaning: the database part is literal (the status API lists one database
at a time, so it never held wildcards), and a table part holding ``*``, ``?`` or ``[`` is a
shell-style wildcard (``fnmatch``, case-sensitive) — ``db.t*1`` also selects ``tx1``. An
unquoted part may not hold ``.``, a backquote, whitespace or ``,`` (whitespace and commas
separate patterns in ``TIUNDO_TABLES``): such names must be quoted.

Exact names compare case-insensitively, as TiDB's ``CIStr`` does (``pkg/meta/model``; the status
API's ``/schema/{db}/{table}`` looks tables up by the lower-cased name). Pure.
"""

from __future__ import annotations

import fnmatch
from typing import Final, NamedTuple

from core.errors import ConfigError

__all__ = [
    "TablePattern",
    "is_wildcard",
    "parse_pattern",
    "quote_name",
    "quote_pattern",
    "split_patterns",
]

_WILDCARDS: Final = "*?["
_FORM: Final = "expected db.table, db.* or `db`.`table` (backquote names holding '.')"


def _separates(c: str) -> bool:
    """Whether ``c`` separates patterns in a list (whitespace or a comma)."""
    return c.isspace() or c == ","


def is_wildcard(name: str) -> bool:
    """Whether an unquoted table part is a wildcard (it has ``*``, ``?`` or ``[``)."""
    return any(c in name for c in _WILDCARDS)


class TablePattern(NamedTuple):
    """One parsed pattern: ``table`` is a name when ``exact``, else an fnmatch pattern."""

    db: str
    table: str
    exact: bool

    def matches(self, name: str) -> bool:
        """Whether a table called ``name`` (in :attr:`db`) is selected by this pattern."""
        if self.exact:
            return name.lower() == self.table.lower()
        return fnmatch.fnmatchcase(name, self.table)


def quote_name(name: str) -> str:
    """The name backquoted, embedded backquotes doubled (the exact form of one part)."""
    return "`" + name.replace("`", "``") + "`"


def _needs_quotes(name: str) -> bool:
    return not name or is_wildcard(name) or any(c in ".`" or _separates(c) for c in name)


def quote_pattern(db: str, table: str) -> str:
    """The pattern selecting exactly ``db.table``; parts are quoted only where needed.

    ``shop.orders`` stays as it is; ``we.ird``/``t*1`` becomes `` `we.ird`.`t*1` ``.
    """
    parts = (quote_name(p) if _needs_quotes(p) else p for p in (db, table))
    return ".".join(parts)


def _bad(pattern: str, why: str) -> ConfigError:
    return ConfigError(f"table pattern {pattern!r}: {why}")


def _quoted(pattern: str, start: int) -> tuple[str, int]:
    """The backquoted name opening at ``start`` and the index after its closing backquote."""
    out: list[str] = []
    i = start + 1
    while True:
        close = pattern.find("`", i)
        if close < 0:
            raise _bad(pattern, "a backquote is not closed")
        out.append(pattern[i:close])
        if pattern.startswith("`", close + 1):  # a doubled backquote inside the name
            out.append("`")
            i = close + 2
            continue
        return "".join(out), close + 1


def _parts(pattern: str) -> list[tuple[str, bool]]:
    """(name, quoted) of each ``.``-separated part."""
    parts: list[tuple[str, bool]] = []
    i, n = 0, len(pattern)
    while True:
        if pattern.startswith("`", i):
            name, i = _quoted(pattern, i)
            if i < n and pattern[i] != ".":
                raise _bad(pattern, f"{pattern[i]!r} after {quote_name(name)}; {_FORM}")
            quoted = True
        else:
            dot = pattern.find(".", i)
            end = n if dot < 0 else dot
            name, i, quoted = pattern[i:end], end, False
            bad = next((c for c in name if c == "`" or _separates(c)), None)
            if bad is not None:
                raise _bad(pattern, f"{bad!r} in the unquoted name {name!r}; backquote the name")
        if not name:
            raise _bad(pattern, f"an empty name; {_FORM}")
        parts.append((name, quoted))
        if i >= n:
            return parts
        i += 1  # the '.'; a trailing one leaves an empty name, refused above


def parse_pattern(pattern: str) -> TablePattern:
    """``db.t*`` → ``("db", "t*", False)``; `` `a.b`.`t*` `` → ``("a.b", "t*", True)``.

    :class:`ConfigError` naming the pattern when it is not exactly a database and a table part.
    """
    if not pattern:
        raise ConfigError(f"table pattern {pattern!r}: {_FORM}")
    parts = _parts(pattern)
    if len(parts) != 2:
        raise _bad(pattern, _FORM)
    (db, _), (table, quoted) = parts
    return TablePattern(db, table, quoted or not is_wildcard(table))


def split_patterns(text: str) -> list[str]:
    """Patterns of a list (``TIUNDO_TABLES``): split on whitespace and commas outside backquotes.

    `` `a b`.t, c.* `` → ``["`a b`.t", "c.*"]``. An unclosed backquote keeps the rest as one
    pattern, which :func:`parse_pattern` then refuses by name.
    """
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for c in text:
        if c == "`":
            quoted = not quoted
        elif not quoted and _separates(c):
            if cur:
                out.append("".join(cur))
                cur = []
            continue
        cur.append(c)
    if cur:
        out.append("".join(cur))
    return out
