"""The fake status API answers like TiDB's status port (routes, JSON shape, error text)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from core.codec.tableinfo import TableInfo
from simulator.catalog import Catalog
from simulator.status_api import StatusApiServer
from simulator.tabledef import demo_tables


@pytest.fixture
def catalog() -> Catalog:
    cat = Catalog()
    for t in demo_tables("shop"):
        cat.add_table(t)
    return cat


@pytest.fixture
async def api(catalog: Catalog) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    server = StatusApiServer(catalog)
    port = await server.start()
    assert port > 0 and server.url == f"http://127.0.0.1:{port}"
    session = aiohttp.ClientSession()
    try:
        yield server.url, session
    finally:
        await session.close()
        await server.stop()


async def _get(api: tuple[str, aiohttp.ClientSession], path: str) -> tuple[int, str, str]:
    base, session = api
    async with session.get(base + path) as resp:
        return resp.status, resp.content_type, await resp.text()


async def test_table_by_name(api: tuple[str, aiohttp.ClientSession], catalog: Catalog) -> None:
    base, session = api
    async with session.get(base + "/schema/shop/all_types") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        obj = await resp.json()
    expected = catalog.table("shop", "all_types")
    assert TableInfo.from_json(obj) == expected
    assert obj["name"] == {"O": "all_types", "L": "all_types"} and obj["pk_is_handle"] is True


async def test_names_are_case_insensitive(api: tuple[str, aiohttp.ClientSession]) -> None:
    status, _, body = await _get(api, "/schema/SHOP/UKeys")
    assert status == 200 and '"ukeys"' in body


async def test_table_by_partition_id(
    api: tuple[str, aiohttp.ClientSession], catalog: Catalog
) -> None:
    parted = catalog.table("shop", "parted_range")
    assert parted is not None
    for tid in (parted.id, *parted.physical_ids()):
        base, session = api
        async with session.get(base + f"/schema?table_id={tid}") as resp:
            assert resp.status == 200
            got = TableInfo.from_json(await resp.json())
        assert got == parted
        assert got.partition is not None and len(got.partition.definitions) == 3


async def test_table_ids(api: tuple[str, aiohttp.ClientSession], catalog: Catalog) -> None:
    a, b = catalog.table("shop", "ukeys"), catalog.table("shop", "unsigned_pk")
    assert a is not None and b is not None
    base, session = api
    async with session.get(base + f"/schema?table_ids={a.id},999,{b.id}") as resp:
        obj = await resp.json()
    assert sorted(obj) == sorted([str(a.id), str(b.id)])
    status, _, text = await _get(api, "/schema?table_ids=999")
    assert (status, text) == (400, "All tables are not found")


async def test_database_listing(api: tuple[str, aiohttp.ClientSession]) -> None:
    base, session = api
    async with session.get(base + "/schema/shop") as resp:
        tables = await resp.json()
    assert [t["name"]["O"] for t in tables] == [t.name for t in demo_tables()]
    async with session.get(base + "/schema") as resp:
        dbs = await resp.json()
    assert [d["db_name"]["O"] for d in dbs] == ["shop"]


async def test_path_variables_are_decoded_before_routing(
    api: tuple[str, aiohttp.ClientSession], catalog: Catalog
) -> None:
    for t in demo_tables("we?ird#db%")[:1]:
        catalog.add_table(t)
    status, _, body = await _get(api, "/schema/we%3Fird%23db%25")
    assert status == 200 and '"all_types"' in body
    status, _, body = await _get(api, "/schema/we%3Fird%23db%25/all_types")
    assert status == 200 and '"all_types"' in body
    # like TiDB's gorilla/mux: %2F splits the segment, so this names table "b" of database "a"
    status, _, body = await _get(api, "/schema/a%2Fb")
    assert (status, body) == (400, "[schema:1146]Table 'a.b' doesn't exist")
    status, _, _ = await _get(api, "/schema/a/b/c")
    assert status == 404


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/schema/shop/nope", "[schema:1146]Table 'shop.nope' doesn't exist"),
        ("/schema/nodb/t", "[schema:1146]Table 'nodb.t' doesn't exist"),
        ("/schema/nodb", "[schema:1049]Unknown database 'nodb'"),
        ("/schema?table_id=5", "[schema:1146]Table which ID = 5 does not exist."),
        ("/schema?table_id=-1", "[schema:1146]Table which ID = -1 does not exist."),
        ("/schema?table_id=abc", 'strconv.Atoi: parsing "abc": invalid syntax'),
    ],
)
async def test_errors_like_tidb(
    api: tuple[str, aiohttp.ClientSession], path: str, text: str
) -> None:
    status, _, body = await _get(api, path)
    assert (status, body) == (400, text)


async def test_status(api: tuple[str, aiohttp.ClientSession]) -> None:
    base, session = api
    async with session.get(base + "/status") as resp:
        obj = await resp.json()
    assert set(obj) == {"connections", "version", "git_hash", "status"}
    assert obj["connections"] == 0 and "-TiDB-v" in obj["version"]


async def test_stop_is_idempotent_and_frees_the_port(catalog: Catalog) -> None:
    server = StatusApiServer(catalog)
    port = await server.start()
    with pytest.raises(RuntimeError):
        await server.start()
    await server.stop()
    await server.stop()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/status")


async def test_a_finished_ddl_moves_update_timestamp_and_joins_the_history(
    catalog: Catalog,
) -> None:
    server = StatusApiServer(catalog)
    await server.start()
    try:
        job = server.finish_ddl(
            "shop", "ukeys", job_type=17, query="ALTER TABLE ukeys COMMENT = 'c'",
            start_ts=41, finished_ts=42, extra={"comment": "c"},
        )  # fmt: skip
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/schema/shop/ukeys") as resp:
                obj = await resp.json()
            async with session.get(server.url + "/ddl/history") as resp:
                history = await resp.json()
    finally:
        await server.stop()
    assert (obj["update_timestamp"], obj["comment"]) == (41, "c")
    assert history == [job] and job["table_name"] == "ukeys" and job["start_ts"] == 41
    assert job["binlog"]["FinishedTS"] == 42
