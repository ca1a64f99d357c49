"""Client of the TiDB status API (TiDB's HTTP status port): the schema of the selected tables.

Routes as TiDB serves them (``pkg/server/handler/tikvhandler`` ``SchemaHandler``): ``GET
/schema/{db}`` → JSON array of the database's TableInfos, ``GET /schema/{db}/{table}`` → one
TableInfo. TiDB answers errors with status 400 and the terror text (``[schema:1146]Table … doesn't
exist``, ``[schema:1049]Unknown database …``), which become :class:`ConfigError` (the user named
something that is not there); anything else is a :class:`StatusApiError` (retriable).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp

from core.errors import ConfigError, TransientError

__all__ = ["StatusApiClient", "StatusApiError"]


class StatusApiError(TransientError):
    """The status API did not answer or answered something unexpected; retriable."""


class StatusApiClient:
    """A session against one TiDB status port; use inside the running loop."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> StatusApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _get(self, path: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = self.base_url + path
        try:
            async with self._session.get(url) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StatusApiError(f"TiDB status API {url}: {exc!r}") from exc
        text = body.decode("utf-8", errors="replace")
        if status == 400 and text.startswith("[schema:"):
            raise ConfigError(f"TiDB status API {url}: {text.strip()}")
        if status != 200:
            raise StatusApiError(f"TiDB status API {url}: HTTP {status}: {text[:200]}")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise StatusApiError(f"TiDB status API {url}: not JSON: {text[:200]}") from exc

    async def table(self, db: str, table: str) -> dict[str, Any]:
        """TableInfo JSON of ``db.table``."""
        got = await self._get(f"/schema/{quote(db, safe='')}/{quote(table, safe='')}")
        if not isinstance(got, dict):
            raise StatusApiError(f"/schema/{db}/{table}: expected an object")
        return got

    async def tables(self, db: str) -> list[dict[str, Any]]:
        """TableInfo JSON of every table of ``db``."""
        got = await self._get(f"/schema/{quote(db, safe='')}")
        if not isinstance(got, list) or not all(isinstance(t, dict) for t in got):
            raise StatusApiError(f"/schema/{db}: expected an array of objects")
        return got
