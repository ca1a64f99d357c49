"""Table selection against the fake TiDB status port, with every name TiDB allows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.errors import ConfigError
from core.status_api import StatusApiClient
from ingest.discover import select_tables
from ingest.patterns import parse_pattern, quote_pattern
from simulator.catalog import Catalog
from simulator.status_api import StatusApiServer
from simulator.tabledef import ColumnDef, TableDef

#: characters the pattern syntax, the list syntax, fnmatch or URLs give a meaning to
ODD = ". ,*?[]`#%名"
DBS = ("shop", "we.ird db", "a,b c", "`q`", "x#%?[y]", "名*")
TABLES = ("t*1", "tx1", "t1", "t[1]", "t?", "a.b", "a b,c", "``", "#%", "x/y", "表")


@pytest.fixture
def catalog() -> Catalog:
    cat = Catalog()
    cols = (ColumnDef("id", "int", nullable=False),)
    for db in DBS:
        for name in TABLES:
            cat.add_table(TableDef(db, name, cols, primary_key=("id",)))
    cat.add_table(TableDef("a/b", "t", cols, primary_key=("id",)))
    return cat


@pytest.fixture
async def client(catalog: Catalog) -> AsyncIterator[StatusApiClient]:
    server = StatusApiServer(catalog)
    await server.start()
    try:
        async with StatusApiClient(server.url) as c:
            yield c
    finally:
        await server.stop()


def test_the_names_hold_every_odd_character() -> None:
    assert set(ODD) <= set("".join(DBS + TABLES))


async def test_the_fake_lists_and_serves_every_name(
    client: StatusApiClient, catalog: Catalog
) -> None:
    for db in DBS:
        listed = [t["name"]["O"] for t in await client.tables(db)]
        assert listed == list(TABLES)
        for name in TABLES:
            if "/" not in name:  # TiDB's router cannot address it (see core.status_api)
                assert (await client.table(db, name))["id"] == catalog.table(db, name).id


async def test_an_exact_pattern_selects_exactly_its_table(
    client: StatusApiClient, catalog: Catalog
) -> None:
    for db in DBS:
        for name in TABLES:
            got = await select_tables(client, [quote_pattern(db, name)])
            assert [(t.db, t.name, t.table_id) for t in got] == [
                (db, name, catalog.table(db, name).id)
            ]
            assert parse_pattern(got[0].qualified) == (db, name, True)


async def test_a_wildcard_selects_by_pattern_every_match(client: StatusApiClient) -> None:
    got = await select_tables(client, ["`we.ird db`.t*1", "`we.ird db`.t?"])
    assert sorted(t.name for t in got) == ["t*1", "t1", "t?", "tx1"]


async def test_a_database_with_a_slash_is_refused_before_any_request() -> None:
    async with StatusApiClient("http://127.0.0.1:9") as nowhere:
        with pytest.raises(ConfigError, match=r"'a/b'.*'/'"):
            await select_tables(nowhere, ["shop.t1", "`a/b`.t"])


async def test_nothing_matched_is_an_error_naming_the_pattern(client: StatusApiClient) -> None:
    with pytest.raises(ConfigError, match=r"'shop.nomatch\*'"):
        await select_tables(client, ["shop.nomatch*"])
    with pytest.raises(ConfigError, match=r"'shop.`no/such`'"):
        await select_tables(client, ["shop.`no/such`"])
