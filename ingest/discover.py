"""Which physical tables the job covers, and their schema, from ``db.table`` patterns.

A pattern is ``db.t`` (one table) or a shell-style wildcard in the table part (``db.*``,
``db.order_*``); the database part is literal, since the status API lists one database at a
time. Each matched table is resolved through the TiDB status API to its TableInfo, whose
physical ids (the table id, or every partition's id) own the row keys the feed subscribes to
(``t{id}_r`` record spans, :func:`ingest.keyspace.record_span`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.codec.tableinfo import TableInfo
from core.errors import ConfigError
from core.status_api import StatusApiClient
from ingest.keyspace import record_span
from ingest.model import Span

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
        """``db.name``."""
        return f"{self.db}.{self.name}"


def split_pattern(pattern: str) -> tuple[str, str]:
    """``"db.t*"`` → ``("db", "t*")`` (``ConfigError`` without exactly one dot)."""
    db, sep, table = pattern.partition(".")
    if not sep or not db or not table or "." in table:
        raise ConfigError(f"table pattern {pattern!r}: expected db.table or db.*")
    return db, table


def is_wildcard(name: str) -> bool:
    """Whether a table part needs listing the database (it has ``*``, ``?`` or ``[``)."""
    return any(c in name for c in "*?[")


def _physical_ids(info: TableInfo) -> tuple[int, ...]:
    if info.partition is not None and info.partition.definitions:
        return tuple(d.id for d in info.partition.definitions)
    return (info.id,)


async def select_tables(client: StatusApiClient, patterns: Sequence[str]) -> list[SelectedTable]:
    """Resolve the patterns into tables (sorted by ``db.name``, each once).

    A literal ``db.t`` that does not exist, or a wildcard that matches nothing, is a
    :class:`ConfigError`: silently undoing fewer tables than asked would be worse.
    """
    found: dict[tuple[str, str], SelectedTable] = {}
    listed: dict[str, list[dict[str, Any]]] = {}
    for pattern in patterns:
        db, table = split_pattern(pattern)
        if is_wildcard(table):
            if db not in listed:
                listed[db] = await client.tables(db)
            infos = [
                t for t in listed[db] if fnmatch.fnmatchcase(TableInfo.from_json(t).name, table)
            ]
            if not infos:
                raise ConfigError(f"table pattern {pattern!r} matches no table in {db!r}")
        else:
            infos = [await client.table(db, table)]
        for obj in infos:
            info = TableInfo.from_json(obj)
            found[(db, info.name)] = SelectedTable(
                db=db,
                name=info.name,
                table_id=info.id,
                physical_ids=_physical_ids(info),
                info=obj,
            )
    return [found[k] for k in sorted(found)]


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
