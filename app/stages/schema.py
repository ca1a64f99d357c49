"""TableInfo of physical table ids from the TiDB status API, cached per worker.

The loader lists databases (``GET /schema``) and their tables (``GET /schema/{db}``) once and
indexes every physical id (tables and partitions); an id it does not know triggers one reload.
The status API serves the *current* schema: it is the schema at ``T`` because the job refuses
to start when a DDL ran after ``T`` (DESIGN.md §1). A partition's rows are written through the
logical table, so the SQL names the logical table.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from core.codec.tableinfo import TableInfo
from core.errors import DecodeError, TransientError

__all__ = ["PhysicalTable", "SchemaCache", "SchemaMissingError", "index_schema"]


_SYSTEM_DBS = frozenset(
    {"mysql", "information_schema", "performance_schema", "metrics_schema", "sys"}
)


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
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._attempts = attempts
        self._index: dict[int, PhysicalTable] = {}
        self._loaded = False
        self._lock = asyncio.Lock()

    async def _get(self, session: aiohttp.ClientSession, path: str) -> Any:
        async with session.get(self._base + path) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise SchemaMissingError(f"status API {path}: {resp.status} {body[:200]!r}")

            return json.loads(body)

    async def _load(self) -> dict[int, PhysicalTable]:
        delay = 0.2
        for attempt in range(self._attempts):
            try:
                async with aiohttp.ClientSession(timeout=self._timeout) as session:
                    dbs = await self._get(session, "/schema")
                    pairs = []
                    for d in dbs:
                        name = d["db_name"]["O"]
                        if name.lower() in _SYSTEM_DBS:
                            continue
                        pairs.append((name, await self._get(session, f"/schema/{name}")))
                return index_schema(pairs)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                if attempt + 1 == self._attempts:
                    raise TransientError(f"status API {self._base} unreachable: {exc!r}") from exc
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

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
