"""The one status API client against the fake TiDB status port and a few canned answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from core.errors import ConfigError
from core.status_api import StatusApiClient, StatusApiError
from simulator.catalog import Catalog
from simulator.status_api import StatusApiServer
from simulator.tabledef import demo_tables

QUOTED_DB = "we?ird#db%"
SLASHED_DB = "we?ird#db/x%"


@pytest.fixture
def catalog() -> Catalog:
    cat = Catalog()
    for db in ("shop", QUOTED_DB, SLASHED_DB):
        for t in demo_tables(db)[:2]:
            cat.add_table(t)
    cat.create_database("mysql")
    cat.create_database("INFORMATION_SCHEMA")
    return cat


@pytest.fixture
async def fake(catalog: Catalog) -> AsyncIterator[StatusApiServer]:
    server = StatusApiServer(catalog)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_databases_lists_every_name(fake: StatusApiServer) -> None:
    async with StatusApiClient(fake.url) as client:
        names = await client.databases()
    assert names == ["shop", QUOTED_DB, SLASHED_DB, "mysql", "INFORMATION_SCHEMA"]


async def test_user_schemas_skip_system_and_unaddressable_databases(
    fake: StatusApiServer, catalog: Catalog
) -> None:
    async with StatusApiClient(fake.url) as client:
        pairs = await client.user_schemas()
    assert [db for db, _ in pairs] == ["shop", QUOTED_DB]
    for db, tables in pairs:
        assert [t["id"] for t in tables] == [t.id for t in catalog.tables(db)]


async def test_names_are_quoted_in_the_path(fake: StatusApiServer, catalog: Catalog) -> None:
    expected = catalog.table(QUOTED_DB, "ukeys")
    assert expected is not None
    async with StatusApiClient(fake.url) as client:
        assert (await client.table(QUOTED_DB, "ukeys"))["id"] == expected.id
        assert len(await client.tables(QUOTED_DB)) == 2
        # TiDB decodes %2F before routing: the name is read as database + table
        with pytest.raises(ConfigError, match=r"\[schema:1146\]"):
            await client.tables(SLASHED_DB)


async def test_ddl_history_passes_the_jobs_through(fake: StatusApiServer) -> None:
    fake.ddl_history.extend([{"id": 3, "query": "a"}, {"id": 9, "query": "b"}])
    async with StatusApiClient(fake.url) as client:
        assert [j["id"] for j in await client.ddl_history()] == [9, 3]


def _canned(status: int, body: str) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type="application/json")

    return handler


async def _ask(status: int, body: str, what: str) -> Any:
    app = web.Application()
    app.router.add_get("/{tail:.*}", _canned(status, body))
    server = TestServer(app)
    await server.start_server()
    try:
        async with StatusApiClient(str(server.make_url(""))) as client:
            if what == "ddl":
                return await client.ddl_history()
            return await client.databases()
    finally:
        await server.close()


async def test_ddl_history_drops_entries_that_are_not_objects() -> None:
    assert await _ask(200, '[{"id": 1}, 5, "x", null]', "ddl") == [{"id": 1}]


@pytest.mark.parametrize(
    ("status", "body", "what", "error"),
    [
        (200, '{"id": 1}', "ddl", StatusApiError),
        (200, "not json", "ddl", StatusApiError),
        (500, "boom", "ddl", StatusApiError),
        (400, "[schema:1049]Unknown database 'x'", "dbs", ConfigError),
        (200, '[{"id": 1}]', "dbs", StatusApiError),
        (200, '{"db_name": {"O": "x"}}', "dbs", StatusApiError),
    ],
)
async def test_unexpected_answers(status: int, body: str, what: str, error: type) -> None:
    with pytest.raises(error, match=r"status API|/schema|/ddl"):
        await _ask(status, body, what)
