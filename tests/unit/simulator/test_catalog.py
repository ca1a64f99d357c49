"""The catalog resolves names and physical ids like TiDB's infoschema."""

from __future__ import annotations

import pytest

from simulator.catalog import Catalog, CatalogError
from simulator.tabledef import demo_tables


def _catalog() -> Catalog:
    cat = Catalog()
    for t in demo_tables("Shop"):
        cat.add_table(t)
    return cat


def test_ids_follow_creation_order() -> None:
    cat = _catalog()
    assert cat.database_id("shop") == 100
    ids = {t.name: t.id for t in cat.tables("SHOP")}
    assert ids["all_types"] == 101 and ids["ukeys"] == 102
    parted = cat.table("shop", "parted_range")
    assert parted is not None
    assert list(parted.physical_ids()) == [parted.id + 1, parted.id + 2, parted.id + 3]
    after = cat.table("shop", "parted_hash")
    assert after is not None and after.id == parted.id + 4


def test_lookups_are_case_insensitive() -> None:
    cat = _catalog()
    assert cat.databases() == ["Shop"]
    info = cat.table("SHOP", "All_Types")
    assert info is not None and info.name == "all_types"
    assert cat.table("shop", "missing") is None and cat.table("nodb", "all_types") is None
    assert cat.table_def("shop", "ALL_TYPES") is not None
    assert cat.tables("nodb") == []


def test_partition_id_resolves_to_logical_table() -> None:
    cat = _catalog()
    parted = cat.table("shop", "parted_hash")
    assert parted is not None
    pids = list(parted.physical_ids())
    found = cat.table_by_id(pids[2])
    assert found is not None and found[0] == "Shop" and found[1] is parted
    phys = cat.physical(pids[2])
    assert phys is not None and phys.partition == "p2" and phys.table is parted
    assert cat.table_by_id(parted.id) == ("Shop", parted)
    assert cat.physical(parted.id) is None  # the logical id owns no rows
    assert cat.table_by_id(99999) is None
    assert parted.id not in cat.physical_ids() and pids[0] in cat.physical_ids()


def test_duplicates_are_refused() -> None:
    cat = _catalog()
    with pytest.raises(CatalogError):
        cat.add_table(demo_tables("shop")[0])
    info = cat.table("shop", "ukeys")
    assert info is not None
    with pytest.raises(CatalogError, match="ids"):
        cat.add_table_info("other", info)


def test_schemas_json() -> None:
    cat = _catalog()
    cat.create_database("second")
    assert [(d["id"], d["db_name"]["O"]) for d in cat.schemas_json()] == [
        (100, "Shop"),
        (cat.database_id("second"), "second"),
    ]


def test_update_timestamp_is_stamped_at_create_and_moved_by_a_ddl() -> None:
    ticks = iter(range(1000, 2000))
    cat = Catalog(clock=lambda: next(ticks))
    for t in demo_tables("shop"):
        cat.add_table(t)
    before = cat.table("shop", "parted_hash")
    assert before is not None
    created = before.extra["update_timestamp"]
    assert created >= 1000 and cat.table_json("shop", "parted_hash")["update_timestamp"] == created
    after = cat.apply_ddl("shop", "PARTED_HASH", 5000, {"comment": "c"})
    assert after == before and after.id == before.id  # same ids and columns
    assert cat.table("shop", "parted_hash") is after
    obj = cat.table_json("shop", "parted_hash")
    assert obj is not None and (obj["update_timestamp"], obj["comment"]) == (5000, "c")
    pid = next(iter(after.physical_ids()))
    phys = cat.physical(pid)
    assert phys is not None and phys.table is after and cat.table_by_id(pid) == ("shop", after)
    with pytest.raises(CatalogError):
        cat.apply_ddl("shop", "missing", 1)
    assert Catalog().add_table(demo_tables("x")[0]).extra.get("update_timestamp", 0) == 0
