"""The one client of the TiDB status API (TiDB's HTTP status port): schemas and DDL history.

Routes as TiDB serves them (``pkg/server/handler/tikvhandler`` ``SchemaHandler`` and
``DDLHistoryJobHandler``): ``GET /schema`` → JSON array of every database's DBInfo, ``GET
/schema/{db}`` → JSON array of the database's TableInfos, ``GET /schema/{db}/{table}`` → one
TableInfo, ``GET /ddl/history`` → JSON array of finished DDL jobs (``model.Job``). Every path
segment is percent-quoted, so names with ``?``, ``#`` or ``%`` reach TiDB intact. TiDB's router
(gorilla/mux without ``UseEncodedPath``) decodes ``%2F`` before matching, so a database whose
name holds a ``/`` cannot be addressed by name at all; :meth:`StatusApiClient.user_schemas`
leaves such databases out. TiDB answers errors with status 400 and the terror text
(``[schema:1146]Table … doesn't exist``, ``[schema:1049]Unknown database …``), which become
:class:`ConfigError` (the user named something that is not there); anything else is a
:class:`StatusApiError` (retriable).

Over ``https://`` the cluster's ``--ca/--cert/--key`` (:class:`core.tls.TlsFiles`) check the
status port and identify us: a tiup TLS cluster signs TiDB's status port with its CA, and with
``cluster-verify-cn`` asks for the client's certificate. No CA given: the system roots. A
certificate the CA does not trust (or a refused handshake) is a :class:`ConfigError` naming the
endpoint, never retried. ``http://`` stays plaintext whatever TLS files are given (they are
also PD's and TiKV's).
"""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any, Final
from urllib.parse import quote

import aiohttp

from core.errors import ConfigError, TransientError
from core.tls import TlsFiles, client_context

__all__ = ["SYSTEM_DATABASES", "StatusApiClient", "StatusApiError"]

log = logging.getLogger(__name__)

#: TiDB's own databases (lower case): they hold no user rows, so schema listings skip them
SYSTEM_DATABASES: Final = frozenset(
    {"mysql", "information_schema", "performance_schema", "metrics_schema", "sys"}
)


def _path(*segments: str) -> str:
    """``/seg/seg…`` with every segment percent-quoted (``/`` included)."""
    return "".join("/" + quote(s, safe="") for s in segments)


def _reason(exc: BaseException) -> str:
    """An SSL error's reason in a few words (one line)."""
    text = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
    return " ".join(str(text).split())[:200]


class StatusApiError(TransientError):
    """The status API did not answer or answered something unexpected; retriable."""


class StatusApiClient:
    """A session against one TiDB status port; use inside the running loop."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, tls: TlsFiles | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        #: read (and checked) here, so a bad file is refused before any request
        self._ssl: ssl.SSLContext | None = (
            client_context(tls or TlsFiles()) if self.base_url.startswith("https://") else None
        )

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
            connector = aiohttp.TCPConnector(ssl=self._ssl) if self._ssl is not None else None
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        url = self.base_url + path
        try:
            async with self._session.get(url) as resp:
                body = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectorCertificateError as exc:
            raise ConfigError(
                f"TiDB status API {url}: its certificate is not trusted "
                f"({_reason(exc.certificate_error)}): give --ca, the CA that signed it"
            ) from None
        except aiohttp.ClientSSLError as exc:
            raise ConfigError(
                f"TiDB status API {url}: TLS handshake refused ({_reason(exc)}): check "
                "--ca/--cert/--key against the cluster's"
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            hint = ""
            if self._ssl is not None and isinstance(exc, aiohttp.ServerDisconnectedError):
                hint = " (a status port that asks for a client certificate drops us: --cert/--key)"
            raise StatusApiError(f"TiDB status API {url}: {exc!r}{hint}") from exc
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
        got = await self._get(_path("schema", db, table))
        if not isinstance(got, dict):
            raise StatusApiError(f"/schema/{db}/{table}: expected an object")
        return got

    async def tables(self, db: str) -> list[dict[str, Any]]:
        """TableInfo JSON of every table of ``db``."""
        got = await self._get(_path("schema", db))
        if not isinstance(got, list) or not all(isinstance(t, dict) for t in got):
            raise StatusApiError(f"/schema/{db}: expected an array of objects")
        return got

    async def databases(self) -> list[str]:
        """Every database name (``db_name.O`` of each DBInfo), system databases included."""
        got = await self._get("/schema")
        if not isinstance(got, list):
            raise StatusApiError("/schema: expected an array of DBInfo objects")
        names = []
        for obj in got:
            name = obj.get("db_name") if isinstance(obj, dict) else None
            original = name.get("O") if isinstance(name, dict) else None
            if not isinstance(original, str):
                raise StatusApiError(f"/schema: a DBInfo without db_name.O: {str(obj)[:200]}")
            names.append(original)
        return names

    async def user_schemas(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(database, TableInfo JSON list) of every non-system database TiDB can address.

        A name with ``/`` is left out (logged): TiDB routes ``/schema/a%2Fb`` as table ``b`` of
        database ``a``, so no request can name that database.
        """
        out = []
        for db in await self.databases():
            if db.lower() in SYSTEM_DATABASES:
                continue
            if "/" in db:
                log.warning("status API: database %r has a '/' in its name; skipped", db)
                continue
            out.append((db, await self.tables(db)))
        return out

    async def ddl_history(self) -> list[dict[str, Any]]:
        """Finished DDL jobs (``model.Job`` JSON objects), as ``GET /ddl/history`` lists them.

        No query parameters: TiDB then returns the whole history. Entries that are not JSON
        objects are dropped; the caller interprets the fields.
        """
        got = await self._get("/ddl/history")
        if not isinstance(got, list):
            raise StatusApiError(f"TiDB status API {self.base_url}/ddl/history: expected an array")
        return [job for job in got if isinstance(job, dict)]
