"""Which physical tables the job covers, and their schema, from table patterns.

A pattern (:mod:`ingest.patterns`) is ``db.t`` (one table), a shell-style wildcard in the table
part (``db.*``, ``db.order_*``), or the exact backquoted form `` `my.db`.`t*1` ``; the database
part is literal, since the status API lists one database at a time. Each matched table is
resolved through the TiDB status API to its TableInfo, whose physical ids (the table id, or
every partition's id) own the row keys the feed subscribes to (``t{id}_r`` record spans,
:func:`ingest.keyspace.record_span`).

TiDB's status router (gorilla/mux without ``UseEncodedPath``, ``pkg/server/http_status.go``)
decodes ``%2F`` before matching ``/schema/{db}/{table}``, so no request can name a database
holding ``/``: selecting one is refused by name (never skipped). A table holding ``/`` is
found in its database's listing instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.codec.tableinfo import TableInfo
from core.errors import ConfigError
from core.status_api import StatusApiClient
from ingest.keyspace import record_span
from ingest.model import Span
from ingest.patterns import TablePattern, is_wildcard, parse_pattern, quote_pattern

__all__ = [
    "SelectedTable",
    "is_wildcard",
    "physical_spans",
    "select_tables",
    "split_pattern",
    "table_names",
]


@dataclass(frozen=True, slots=True)
class SelectedTable:
    """A logical table the job undoes, with the physical ids that hold its rows."""

    db: str
    name: str
    table_id: int
    physical_ids: tuple[int, ...]
    info: Mapping[str, Any]

    @property
    def qualified(self) -> str:
        """``db.name``, backquoted where needed: the pattern selecting exactly this table."""
        return quote_pattern(self.db, self.name)


def split_pattern(pattern: str) -> tuple[str, str]:
    """``"db.t*"`` → ``("db", "t*")``; `` `a.b`.`t` `` → ``("a.b", "t")`` (or ``ConfigError``)."""
    parsed = parse_pattern(pattern)
    return parsed.db, parsed.table


def _physical_ids(info: TableInfo) -> tuple[int, ...]:
    if info.partition is not None and info.partition.definitions:
        return tuple(d.id for d in info.partition.definitions)
    return (info.id,)


async def select_tables(client: StatusApiClient, patterns: Sequence[str]) -> list[SelectedTable]:
    """Resolve the patterns into tables (sorted by ``db.name``, each once).

    Every pattern is parsed, and databases the status API cannot address refused, before the
    first request. A literal table that does not exist, or a wildcard that matches nothing, is
    a :class:`ConfigError`: silently undoing fewer tables than asked would be worse.
    """
    parsed = [(text, parse_pattern(text)) for text in patterns]
    for text, p in parsed:
        if "/" in p.db:
            raise ConfigError(
                f"table pattern {text!r}: database {p.db!r} has a '/' in its name, which TiDB's "
                "status API cannot address (its router decodes %2F), so tiundo cannot read its "
                "schema; leave it out or rename it"
            )
    found: dict[tuple[str, str], SelectedTable] = {}
    listed: dict[str, list[dict[str, Any]]] = {}
    for text, p in parsed:
        if p.exact and "/" not in p.table:
            infos = [await client.table(p.db, p.table)]
        else:
            if p.db not in listed:
                listed[p.db] = await client.tables(p.db)
            infos = _matching(listed[p.db], p)
            if not infos:
                raise ConfigError(f"table pattern {text!r} matches no table in {p.db!r}")
        for obj in infos:
            info = TableInfo.from_json(obj)
            found[(p.db, info.name)] = SelectedTable(
                db=p.db,
                name=info.name,
                table_id=info.id,
                physical_ids=_physical_ids(info),
                info=obj,
            )
    return [found[k] for k in sorted(found)]


def _matching(listing: list[dict[str, Any]], pattern: TablePattern) -> list[dict[str, Any]]:
    return [t for t in listing if pattern.matches(TableInfo.from_json(t).name)]


def physical_spans(tables: Iterable[SelectedTable]) -> dict[int, Span]:
    """Physical table id → its encoded record span (``ConfigError`` if two tables share one)."""
    out: dict[int, Span] = {}
    for table in tables:
        for pid in table.physical_ids:
            if pid in out:
                raise ConfigError(f"physical table id {pid} selected twice ({table.qualified})")
            out[pid] = record_span(pid)
    return out


def table_names(tables: Iterable[SelectedTable]) -> dict[int, str]:
    """Physical table id → ``db.table`` (``db.table/partition id`` for partitions), for logs."""
    out: dict[int, str] = {}
    for table in tables:
        for pid in table.physical_ids:
            out[pid] = table.qualified if pid == table.table_id else f"{table.qualified}#{pid}"
    return out
