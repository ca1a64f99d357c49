"""TableInfo of physical table ids from the TiDB status API, cached per worker.

The loader lists the non-system databases and their tables once
(:meth:`core.status_api.StatusApiClient.user_schemas`) and indexes every physical id (tables
and partitions); an id it does not know triggers one reload. The status API serves the
*current* schema: it is the schema at ``T`` because the job refuses to start when a DDL ran
after ``T`` (DESIGN.md §1). A partition's rows are written through the logical table, so the
SQL names the logical table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from core.codec.tableinfo import TableInfo
from core.errors import ConfigError, DecodeError
from core.retry import Backoff, retry_async
from core.status_api import StatusApiClient

__all__ = ["PhysicalTable", "SchemaCache", "SchemaMissingError", "index_schema"]

#: longest wait between two load attempts (the waits double from 0.2 s)
_RETRY_CAP_S: Final = 5.0


class SchemaMissingError(DecodeError):
    """No table owns this physical id: its changes cannot be mounted (dead-lettered)."""


@dataclass(frozen=True, slots=True)
class PhysicalTable:
    """The database, logical table and partition name owning a physical id."""

    db: str
    info: TableInfo
    partition: str | None


def index_schema(
    dbs: Iterable[tuple[str, Iterable[Mapping[str, Any]]]],
) -> dict[int, PhysicalTable]:
    """Physical id → owner, from (db name, TableInfo JSON list) pairs. Pure."""
    out: dict[int, PhysicalTable] = {}
    for db, tables in dbs:
        for obj in tables:
            info = TableInfo.from_json(obj)
            for pid, pname in info.physical_ids().items():
                out[pid] = PhysicalTable(db, info, pname)
    return out


class SchemaCache:
    """Async lookups of physical ids against one status API (``http://host:port``)."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, attempts: int = 5) -> None:
        self._base = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._index: dict[int, PhysicalTable] = {}
        self._loaded = False
        self._lock = asyncio.Lock()

    async def _fetch(self) -> dict[int, PhysicalTable]:
        async with StatusApiClient(self._base, timeout=self._timeout_s) as client:
            try:
                return index_schema(await client.user_schemas())
            except ConfigError as exc:  # TiDB's 400 (a database vanished mid-listing)
                raise SchemaMissingError(str(exc)) from exc

    async def _load(self) -> dict[int, PhysicalTable]:
        # StatusApiError (a TransientError) is retried; the last one is raised as it is
        return await retry_async(
            self._fetch,
            backoff=Backoff(0.2, 2.0, 0.0, _RETRY_CAP_S),
            what=f"schema from the status API {self._base}",
            attempts=self._attempts,
        )

    async def lookup(self, physical_id: int) -> PhysicalTable:
        """The owner of ``physical_id``; one reload on a miss, then :class:`SchemaMissingError`."""
        async with self._lock:
            if physical_id in self._index:
                return self._index[physical_id]
            self._index = await self._load()
            self._loaded = True
            found = self._index.get(physical_id)
        if found is None:
            raise SchemaMissingError(f"no table owns physical id {physical_id} at {self._base}")
        return found
