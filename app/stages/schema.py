"""TableInfo of physical table ids from the TiDB status API, cached per worker.

The loader lists the non-system databases and their tables once
(:meth:`core.status_api.StatusApiClient.user_schemas`) and indexes every physical id (tables
and partitions); an id it does not know triggers one reload. A partition's rows are written
through the logical table, so the SQL names the logical table.

The status API serves only the *current* schema: TiDB's ``SchemaHandler``
(``pkg/server/handler/tikvhandler/tikv_handler_schema.go``) reads the domain's latest
infoschema and takes no snapshot ts. It is the schema at ``T`` when no DDL ran after ``T``:
the job refuses to start when one did (``GET /ddl/history``, :mod:`app.cli.preflight`), and
pins each table's ``update_timestamp`` in its record. TiDB moves that field to the DDL
transaction's start TSO whenever a DDL changes the table (``pkg/ddl/table.go``
``updateVersionAndTableInfo``: ``tblInfo.UpdateTS = metaMut.StartTS``), so a DDL that lands
after the checks shows here as another version: the lookup then raises
:class:`SchemaChangedError`, which fails the partition (a row decoded with another schema may
be written wrong, and a job must never report SUCCEEDED over that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from core.codec.tableinfo import TableInfo
from core.errors import ConfigError, DecodeError, UnsafeToUndoError
from core.retry import Backoff, retry_async
from core.status_api import StatusApiClient
from core.tls import TlsFiles

__all__ = [
    "PhysicalTable",
    "SchemaCache",
    "SchemaChangedError",
    "SchemaMissingError",
    "check_pinned",
    "index_schema",
    "schema_version",
]

#: longest wait between two load attempts (the waits double from 0.2 s)
_RETRY_CAP_S: Final = 5.0


class SchemaMissingError(DecodeError):
    """No table owns this physical id: its changes cannot be mounted (dead-lettered)."""


class SchemaChangedError(UnsafeToUndoError):
    """The table's schema is not the one the job was pinned with: a DDL ran after the checks."""


@dataclass(frozen=True, slots=True)
class PhysicalTable:
    """The database, logical table and partition name owning a physical id."""

    db: str
    info: TableInfo
    partition: str | None


def schema_version(info: TableInfo) -> int:
    """TiDB's ``update_timestamp`` of a TableInfo (0 when the JSON has none), as pinned."""
    return int(info.extra.get("update_timestamp") or 0)


def check_pinned(owner: PhysicalTable, pinned: Mapping[int, int]) -> None:
    """Raise :class:`SchemaChangedError` when ``owner``'s schema is not its pinned version.

    A table the pins do not name (a worker without a job record) is not checked. Pure.
    """
    want = pinned.get(owner.info.id)
    now = schema_version(owner.info)
    if want is None or want == now:
        return
    raise SchemaChangedError(
        f"table {owner.db}.{owner.info.name} (id {owner.info.id}): its schema is version "
        f"(update_timestamp) {now}, the job was pinned with {want}: a DDL ran after the checks, "
        "so its rows cannot be decoded as at T; start a new job (its checks name the DDL)"
    )


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

    def __init__(
        self,
        base_url: str,
        *,
        pinned: Mapping[int, int] | None = None,
        timeout_s: float = 10.0,
        attempts: int = 5,
        tls: TlsFiles | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._tls = tls
        self._pinned = dict(pinned or {})
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._index: dict[int, PhysicalTable] = {}
        self._loaded = False
        self._lock = asyncio.Lock()

    async def _fetch(self) -> dict[int, PhysicalTable]:
        async with StatusApiClient(self._base, timeout=self._timeout_s, tls=self._tls) as client:
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
        """The owner of ``physical_id``; one reload on a miss, then :class:`SchemaMissingError`.

        :class:`SchemaChangedError` when its schema is not the version ``pinned`` names.
        """
        async with self._lock:
            found = self._index.get(physical_id)
            if found is None:
                self._index = await self._load()
                self._loaded = True
                found = self._index.get(physical_id)
        if found is None:
            raise SchemaMissingError(f"no table owns physical id {physical_id} at {self._base}")
        check_pinned(found, self._pinned)
        return found
