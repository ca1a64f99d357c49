"""SchemaCache against the fake status API: reloads, misses, odd database names, outages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.stages.failure import is_transient
from app.stages.schema import SchemaCache, SchemaChangedError, SchemaMissingError, schema_version
from core.errors import TransientError, UnsafeToUndoError
from simulator.catalog import Catalog
from simulator.status_api import StatusApiServer, build_app
from simulator.tabledef import demo_tables

#: names whose characters mean something in a URL (``/`` cannot be addressed on TiDB at all)
QUOTED_DB = "we?ird#db%"
SLASHED_DB = "we?ird#db/x%"


@pytest.fixture
def catalog() -> Catalog:
    cat = Catalog()
    for t in demo_tables("shop"):
        cat.add_table(t)
    return cat


@pytest.fixture
async def server(catalog: Catalog) -> AsyncIterator[StatusApiServer]:
    api = StatusApiServer(catalog)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


async def test_resolves_tables_and_partitions(server: StatusApiServer, catalog: Catalog) -> None:
    cache = SchemaCache(server.url, attempts=1)
    parted = catalog.table("shop", "parted_range")
    plain = catalog.table("shop", "ukeys")
    assert parted is not None and plain is not None
    got = await cache.lookup(plain.id)
    assert (got.db, got.info, got.partition) == ("shop", plain, None)
    for pid, pname in parted.physical_ids().items():
        owner = await cache.lookup(pid)
        assert (owner.db, owner.info, owner.partition) == ("shop", parted, pname)


@pytest.mark.parametrize("other", [QUOTED_DB, SLASHED_DB])
async def test_another_database_with_url_characters_in_its_name(
    server: StatusApiServer, catalog: Catalog, other: str
) -> None:
    for t in demo_tables(other)[:2]:
        catalog.add_table(t)
    cache = SchemaCache(server.url, attempts=1)
    mine = catalog.table("shop", "all_types")
    assert mine is not None
    assert (await cache.lookup(mine.id)).db == "shop"


async def test_a_database_named_with_url_characters_resolves(
    server: StatusApiServer, catalog: Catalog
) -> None:
    for t in demo_tables(QUOTED_DB)[:2]:
        catalog.add_table(t)
    theirs = catalog.table(QUOTED_DB, "ukeys")
    assert theirs is not None
    owner = await SchemaCache(server.url, attempts=1).lookup(theirs.id)
    assert (owner.db, owner.info) == (QUOTED_DB, theirs)


async def test_one_reload_on_a_miss_then_schema_missing(
    server: StatusApiServer, catalog: Catalog
) -> None:
    cache = SchemaCache(server.url, attempts=1)
    first = catalog.table("shop", "ukeys")
    assert first is not None
    await cache.lookup(first.id)  # loads the index
    (later,) = [t for t in demo_tables("late") if t.name == "ukeys"]
    added = catalog.add_table(later)
    assert (await cache.lookup(added.id)).db == "late"  # the miss reloaded
    with pytest.raises(SchemaMissingError, match="999999"):
        await cache.lookup(999999)


async def test_unreachable_is_transient_after_the_retries(server: StatusApiServer) -> None:
    url = server.url
    await server.stop()
    cache = SchemaCache(url, timeout_s=1.0, attempts=2)
    with pytest.raises(TransientError, match="status API"):
        await cache.lookup(1)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _flaky_server(catalog: Catalog, status: int, text: str, times: int) -> TestServer:
    """The fake status API, but the first ``times`` requests under /schema/ get this answer."""
    left = [times]

    @web.middleware
    async def flaky(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/schema/") and left[0] > 0:
            left[0] -= 1
            return web.Response(status=status, text=text)
        return await handler(request)

    app = build_app(catalog)
    app.middlewares.append(flaky)
    server = TestServer(app)
    await server.start_server()
    return server


async def test_a_failing_status_api_is_retried(catalog: Catalog) -> None:
    server = await _flaky_server(catalog, 503, "busy", times=2)
    try:
        cache = SchemaCache(str(server.make_url("")), attempts=3)
        table = catalog.table("shop", "ukeys")
        assert table is not None
        assert (await cache.lookup(table.id)).info == table
    finally:
        await server.close()


async def test_a_database_gone_mid_listing_is_schema_missing(catalog: Catalog) -> None:
    gone = "[schema:1049]Unknown database 'shop'"
    server = await _flaky_server(catalog, 400, gone, times=1)
    try:
        cache = SchemaCache(str(server.make_url("")), attempts=3)
        with pytest.raises(SchemaMissingError, match="1049"):
            await cache.lookup(1)
    finally:
        await server.close()


async def test_a_schema_other_than_the_pinned_version_is_refused_naming_both(
    server: StatusApiServer, catalog: Catalog
) -> None:
    """A DDL after the job was pinned: TiDB serves the new schema, with a new update_timestamp."""
    ukeys, parted = catalog.table("shop", "ukeys"), catalog.table("shop", "parted_hash")
    assert ukeys is not None and parted is not None
    catalog.apply_ddl("shop", "ukeys", 400)
    catalog.apply_ddl("shop", "parted_hash", 500)
    pinned = {ukeys.id: 400, parted.id: 500}
    cache = SchemaCache(server.url, pinned=pinned, attempts=1)
    assert schema_version((await cache.lookup(ukeys.id)).info) == 400
    server.finish_ddl(
        "shop", "ukeys", job_type=17, query="ALTER TABLE ukeys COMMENT = 'x'",
        start_ts=777, finished_ts=778, extra={"comment": "x"},
    )  # fmt: skip
    catalog.apply_ddl("shop", "parted_hash", 900)
    cache = SchemaCache(server.url, pinned=pinned, attempts=1)  # a worker that loads after it
    with pytest.raises(SchemaChangedError) as info:
        await cache.lookup(ukeys.id)
    text = str(info.value)
    assert "shop.ukeys" in text and "777" in text and "400" in text and "\n" not in text
    # a partition's physical id names its logical table; the version is the logical table's
    with pytest.raises(SchemaChangedError, match=r"shop\.parted_hash .*900.*500"):
        await cache.lookup(next(iter(parted.physical_ids())))
    # not a dead letter (INCOMPLETE) and not retried: it fails the partition
    assert isinstance(info.value, UnsafeToUndoError) and not is_transient(info.value)


async def test_tables_the_pins_do_not_name_are_not_checked(
    server: StatusApiServer, catalog: Catalog
) -> None:
    ukeys, other = catalog.table("shop", "ukeys"), catalog.table("shop", "all_types")
    assert ukeys is not None and other is not None
    catalog.apply_ddl("shop", "all_types", 123)
    cache = SchemaCache(server.url, pinned={ukeys.id: 0}, attempts=1)
    assert (await cache.lookup(other.id)).info.id == other.id
    assert (await SchemaCache(server.url, attempts=1).lookup(ukeys.id)).info.id == ukeys.id
