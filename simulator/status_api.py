"""The fake TiDB status API (HTTP, TiDB's status port) over a :class:`Catalog`.

Answers the routes tiundo's schema loader uses, the way TiDB's ``SchemaHandler`` and
``handleStatus`` answer them (``pkg/server/handler/tikvhandler``, ``pkg/server/http_status.go``):

- ``GET /status`` → ``{"connections", "version", "git_hash", "status"}``;
- ``GET /schema`` → every database's DBInfo; ``?table_id=N`` → the TableInfo owning id N (a
  logical table id or a partition's physical id); ``?table_ids=a,b`` → ``{id: TableInfo}``;
- ``GET /schema/{db}`` → the JSON array of the database's TableInfos;
- ``GET /schema/{db}/{table}`` → one TableInfo, with ``update_timestamp`` (the TSO of the last
  DDL that changed the table, moved by :meth:`StatusApiServer.finish_ddl`). TiDB serves the
  *current* schema only: ``SchemaHandler`` reads the domain's latest infoschema and takes no
  snapshot parameter (``pkg/server/handler/tikvhandler/tikv_handler_schema.go``), so neither
  does this;
- ``GET /ddl/history[?start_job_id=N&limit=M]`` → the JSON array of finished DDL jobs
  (TiDB ``model.Job``: ``id``, ``type``, ``schema_name``, ``table_name``, ``table_id``,
  ``state``, ``start_ts``, ``query``, ``binlog.FinishedTS``...), newest first, as TiDB's
  ``DDLHistoryJobHandler`` serves them; the list is :attr:`StatusApiServer.ddl_history`, empty
  until a test runs :meth:`StatusApiServer.finish_ddl` or appends jobs (the fake cluster runs
  no DDL of its own).

Path variables are matched on the *decoded* path, as TiDB's gorilla/mux router (no
``UseEncodedPath``) does: ``/schema/we%3Fird%25`` names database ``we?ird%``, while
``/schema/a%2Fb`` is table ``b`` of database ``a``.

Errors are what TiDB writes: status **400** (TiDB's ``handler.WriteError`` always uses 400)
with the terror text as plain body, e.g. ``[schema:1146]Table 'db.t' doesn't exist``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from simulator.catalog import Catalog
from simulator.tls import ServerTls

__all__ = ["FAKE_GIT_HASH", "FAKE_VERSION", "StatusApiServer", "build_app"]

FAKE_VERSION: Final = "8.0.11-TiDB-v8.5.0"
FAKE_GIT_HASH: Final = "0000000000000000000000000000000000000000"

_CATALOG_KEY: Final = web.AppKey("catalog", Catalog)
_DDL_KEY: Final = web.AppKey("ddl_history", list)


def _data(obj: Any) -> web.Response:
    # TiDB: json.MarshalIndent(data, "", " ") with Content-Type application/json.
    return web.Response(
        body=json.dumps(obj, indent=1, ensure_ascii=False).encode(),
        content_type="application/json",
    )


def _error(text: str) -> web.Response:
    return web.Response(status=400, text=text)


def _table_missing(db: str, table: str) -> str:
    return f"[schema:1146]Table '{db}.{table}' doesn't exist"


def _table_id_missing(raw: str) -> str:
    return f"[schema:1146]Table which ID = {raw} does not exist."


async def _status(request: web.Request) -> web.Response:
    body = {
        "connections": 0,
        "version": FAKE_VERSION,
        "git_hash": FAKE_GIT_HASH,
        "status": {"init_stats_percentage": 100},
    }
    return web.json_response(body)


def _lookup_id(catalog: Catalog, raw: str) -> dict[str, Any] | str:
    """TableInfo JSON for a ``table_id`` query value, or TiDB's error text."""
    try:
        tid = int(raw)
    except ValueError:
        return f'strconv.Atoi: parsing "{raw}": invalid syntax'
    found = catalog.table_by_id(tid) if tid >= 0 else None
    if found is None:
        return _table_id_missing(raw)
    return found[1].to_json()


async def _schema(request: web.Request) -> web.Response:
    catalog = request.app[_CATALOG_KEY]
    raw = request.query.get("table_id", "")
    if raw:
        got = _lookup_id(catalog, raw)
        return _error(got) if isinstance(got, str) else _data(got)
    raw_ids = request.query.get("table_ids", "")
    if raw_ids:
        out: dict[str, Any] = {}
        for part in raw_ids.split(","):
            one = _lookup_id(catalog, part)
            if not isinstance(one, str):
                out[str(one["id"])] = one
        return _data(out) if out else _error("All tables are not found")
    return _data(catalog.schemas_json())


def _schema_db(catalog: Catalog, db: str) -> web.Response:
    if not catalog.has_database(db):
        return _error(f"[schema:1049]Unknown database '{db}'")
    return _data([t.to_json() for t in catalog.tables(db)])


def _schema_table(catalog: Catalog, db: str, table: str) -> web.Response:
    obj = catalog.table_json(db, table)
    if obj is None:
        return _error(_table_missing(db, table))
    return _data(obj)


async def _schema_path(request: web.Request) -> web.Response:
    """``/schema/{db}`` and ``/schema/{db}/{table}``, split after percent-decoding like TiDB."""
    catalog = request.app[_CATALOG_KEY]
    parts = request.path.removeprefix("/schema/").split("/")
    if len(parts) == 1 and parts[0]:
        return _schema_db(catalog, parts[0])
    if len(parts) == 2 and all(parts):
        return _schema_table(catalog, parts[0], parts[1])
    raise web.HTTPNotFound(text="404 page not found")


async def _ddl_history(request: web.Request) -> web.Response:
    jobs: list[dict[str, Any]] = request.app[_DDL_KEY]
    bounds: dict[str, int] = {}
    for name in ("start_job_id", "limit"):
        raw = request.query.get(name, "")
        if raw:
            try:
                bounds[name] = int(raw)
            except ValueError:
                return _error(f'strconv.Atoi: parsing "{raw}": invalid syntax')
            if bounds[name] < 1:
                return _error(f"ddl history {name} must be greater than 0")
    newest_first = sorted(jobs, key=lambda j: int(j.get("id", 0)), reverse=True)
    if "start_job_id" in bounds:
        newest_first = [j for j in newest_first if int(j.get("id", 0)) <= bounds["start_job_id"]]
    if "limit" in bounds:
        newest_first = newest_first[: bounds["limit"]]
    return _data(newest_first)


def build_app(catalog: Catalog, ddl_history: list[dict[str, Any]] | None = None) -> web.Application:
    """The aiohttp application serving ``catalog`` (usable with aiohttp's test client).

    ``ddl_history`` is the list ``GET /ddl/history`` serves (kept by reference: append to it).
    """
    app = web.Application()
    app[_CATALOG_KEY] = catalog
    app[_DDL_KEY] = ddl_history if ddl_history is not None else []
    app.router.add_get("/ddl/history", _ddl_history)
    app.router.add_get("/status", _status)
    app.router.add_get("/schema", _schema)
    app.router.add_get("/schema/{path:.+}", _schema_path)
    return app


class StatusApiServer:
    """A running status API on a TCP port; ``start`` returns the bound port."""

    def __init__(self, catalog: Catalog, *, tls: ServerTls | None = None) -> None:
        #: DDL jobs (TiDB ``model.Job`` JSON) served by ``GET /ddl/history``; append to add
        self.ddl_history: list[dict[str, Any]] = []
        self.catalog = catalog
        self._app = build_app(catalog, self.ddl_history)
        self._runner: web.AppRunner | None = None
        #: https with this certificate (a TLS cluster's status port), else plain http
        self.tls = tls
        self.host = "127.0.0.1"
        self.port = 0

    def finish_ddl(
        self,
        db: str,
        table: str,
        *,
        job_type: int,
        query: str,
        start_ts: int,
        finished_ts: int,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A DDL job on ``db.table`` finished as TiDB finishes one; returns the job.

        The TableInfo's ``update_timestamp`` moves to the job's ``start_ts`` (``extra`` JSON
        keys change too) and the job joins the history (``model.Job``: ``type`` an
        ``ActionType``, state ``JobStateSynced``).
        """
        info = self.catalog.apply_ddl(db, table, start_ts, extra)
        job = {
            "id": 9000 + len(self.ddl_history),
            "type": job_type,
            "schema_id": self.catalog.database_id(db),
            "table_id": info.id,
            "schema_name": db,
            "table_name": table,
            "state": 6,  # model.JobStateSynced
            "start_ts": start_ts,
            "query": query,
            "binlog": {"SchemaVersion": 99 + len(self.ddl_history), "FinishedTS": finished_ts},
        }
        self.ddl_history.append(job)
        return job

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server (``https://`` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind and serve; ``port=0`` picks a free port. Returns the port."""
        if self._runner is not None:
            raise RuntimeError("status API already started")
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        ssl_context = self.tls.ssl_context() if self.tls is not None else None
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host = host
        self.port = int(runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        """Stop serving and close connections (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
