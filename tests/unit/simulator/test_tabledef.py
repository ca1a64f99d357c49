"""Table definitions render MariaDB DDL and TiDB TableInfo JSON consistently."""

from __future__ import annotations

import pytest

from core.codec import mysqldef as m
from core.codec.tableinfo import HandleKind, TableInfo
from core.sqlident import quote_ident
from simulator.tabledef import (
    ColumnDef,
    IdAllocator,
    IndexDef,
    PartitionDef,
    TableDef,
    demo_tables,
    quote_literal,
)


def _small() -> TableDef:
    return TableDef(
        "d",
        "t",
        (
            ColumnDef("id", "int", nullable=False),
            ColumnDef("name", "varchar", length=20, default="x'y"),
            ColumnDef("e", "enum", elems=("a", "b")),
        ),
        primary_key=("id",),
        indexes=(IndexDef("uk_name", ("name",), unique=True),),
    )


def test_create_sql_exact() -> None:
    assert _small().create_sql() == (
        "CREATE TABLE `d`.`t` (\n"
        "  `id` INT NOT NULL,\n"
        "  `name` VARCHAR(20) NULL DEFAULT 'x''y',\n"
        "  `e` ENUM('a','b') NULL,\n"
        "  PRIMARY KEY (`id`),\n"
        "  UNIQUE KEY `uk_name` (`name`)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )


def test_partition_clauses() -> None:
    rng = PartitionDef("range", "id", bounds=(10, None))
    assert rng.sql() == (
        "PARTITION BY RANGE (`id`) (PARTITION `p0` VALUES LESS THAN (10), "
        "PARTITION `p1` VALUES LESS THAN (MAXVALUE))"
    )
    assert [rng.locate(v) for v in (-5, 9, 10, 10**9)] == [0, 0, 1, 1]
    h = PartitionDef("hash", "id", count=4)
    assert h.sql() == "PARTITION BY HASH (`id`) PARTITIONS 4"
    assert [h.locate(v) for v in (0, 5, 7, -6)] == [0, 1, 3, 2]
    bounded = PartitionDef("range", "id", bounds=(10,))
    with pytest.raises(ValueError, match="beyond"):
        bounded.locate(10)


def test_quoting() -> None:
    assert quote_ident("a`b", for_params=False) == "`a``b`"
    assert quote_literal("it's \\") == "'it''s \\\\'"


def test_ddl_names_are_quoted_for_a_statement_without_parameters() -> None:
    odd = TableDef("d%b", "t`x", (ColumnDef("c%", "int"),), primary_key=("c%",))
    assert odd.create_sql().startswith(
        "CREATE TABLE `d%b`.`t``x` (\n  `c%` INT NOT NULL,\n  PRIMARY KEY (`c%`)\n)"
    )


def test_int_pk_table_info() -> None:
    info = _small().table_info(120)
    assert info.id == 120 and info.pk_is_handle and not info.is_common_handle
    assert info.handle_kind is HandleKind.INT
    assert [(c.id, c.offset, c.name) for c in info.columns] == [
        (1, 0, "id"),
        (2, 1, "name"),
        (3, 2, "e"),
    ]
    idc = info.columns[0].type
    assert idc.tp == m.TYPE_LONG and idc.flen == 11
    assert idc.flag == m.NOT_NULL_FLAG | m.PRI_KEY_FLAG | m.NO_DEFAULT_VALUE_FLAG | m.BINARY_FLAG
    name = info.columns[1]
    assert name.default == "x'y" and name.type.flag == m.UNIQUE_KEY_FLAG
    assert (name.type.charset, name.type.collate) == ("utf8mb4", "utf8mb4_bin")
    assert info.columns[2].type.elems == ("a", "b")
    # the int PK is the handle: no PRIMARY index entry, the unique key is index 1
    assert [(i.id, i.name, i.is_unique, i.is_primary) for i in info.indices] == [
        (1, "uk_name", True, False)
    ]
    assert info.int_handle_column() is not None


def test_every_demo_table_round_trips_through_the_codec_json() -> None:
    ids = IdAllocator()
    for tdef in demo_tables("db1"):
        taken = ids.take(tdef.id_count())
        info = tdef.table_info(taken[0], taken[1:])
        again = TableInfo.from_json(info.to_json())
        assert again == info
        assert again.to_json() == info.to_json()


def test_handle_kinds_of_demo_tables() -> None:
    kinds = {
        t.name: t.table_info(200, list(range(201, 201 + t.id_count() - 1))).handle_kind
        for t in demo_tables()
    }
    assert kinds == {
        "all_types": HandleKind.INT,
        "ukeys": HandleKind.INT,
        "clustered_str": HandleKind.COMMON,
        "clustered_multi": HandleKind.COMMON,
        "rowid_uk": HandleKind.ROWID,
        "rowid_plain": HandleKind.ROWID,
        "parted_range": HandleKind.INT,
        "parted_hash": HandleKind.INT,
        "unsigned_pk": HandleKind.INT,
    }


def test_all_types_field_types() -> None:
    [all_types] = [t for t in demo_tables() if t.name == "all_types"]
    info = all_types.table_info(101)
    ft = {c.name: c.type for c in info.columns}
    kinds = {c.kind for c in all_types.columns}
    assert kinds >= {
        "tinyint", "smallint", "mediumint", "int", "bigint", "float", "double", "decimal",
        "char", "varchar", "binary", "varbinary", "text", "blob", "date", "datetime",
        "timestamp", "time", "year", "enum", "set", "bit", "json",
    }  # fmt: skip
    assert (ft["c_dec"].tp, ft["c_dec"].flen, ft["c_dec"].decimal) == (m.TYPE_NEWDECIMAL, 20, 6)
    assert (ft["c_timestamp3"].tp, ft["c_timestamp3"].flen, ft["c_timestamp3"].decimal) == (
        m.TYPE_TIMESTAMP,
        23,
        3,
    )
    assert (ft["c_time4"].tp, ft["c_time4"].decimal) == (m.TYPE_DURATION, 4)
    assert ft["c_tiny_u"].unsigned and not ft["c_tiny"].unsigned
    assert ft["c_tiny_u"].flen == 3 and ft["c_tiny"].flen == 4
    assert ft["c_year"].tp == m.TYPE_YEAR and ft["c_year"].flag & m.ZEROFILL_FLAG
    assert (ft["c_bit"].tp, ft["c_bit"].flen) == (m.TYPE_BIT, 20)
    assert ft["c_blob"].is_binary_string and ft["c_blob"].flag & m.BLOB_FLAG
    assert not ft["c_text"].is_binary_string and ft["c_text"].tp == m.TYPE_BLOB
    assert ft["c_binary"].tp == m.TYPE_STRING and ft["c_binary"].is_binary_string
    assert ft["c_varbinary"].tp == m.TYPE_VARCHAR and ft["c_varbinary"].is_binary_string
    assert ft["c_json"].tp == m.TYPE_JSON
    assert ft["c_set"].elems == ("a", "b", "c", "d") and ft["c_set"].tp == m.TYPE_SET
    assert ft["c_varchar"].not_null and info.columns[16].default == ""


def test_common_handle_and_partition_json() -> None:
    tables = {t.name: t for t in demo_tables("x")}
    multi = tables["clustered_multi"].table_info(300).to_json()
    assert multi["is_common_handle"] is True and multi["pk_is_handle"] is False
    primary = multi["index_info"][0]
    assert primary["is_primary"] and primary["is_unique"] and primary["id"] == 1
    assert [(c["name"]["O"], c["offset"]) for c in primary["idx_cols"]] == [
        ("region", 0),
        ("n", 1),
        ("at", 2),
    ]
    rng = tables["parted_range"].table_info(400, [401, 402, 403]).to_json()
    part = rng["partition"]
    assert part["type"] == 1 and part["expr"] == "`id`" and part["num"] == 3
    assert [(d["id"], d["name"]["O"], d["less_than"]) for d in part["definitions"]] == [
        (401, "p0", ["1000"]),
        (402, "p1", ["2000"]),
        (403, "p2", ["MAXVALUE"]),
    ]
    hsh = tables["parted_hash"].table_info(500, [501, 502, 503, 504]).to_json()
    assert hsh["partition"]["type"] == 2
    assert [d["id"] for d in hsh["partition"]["definitions"]] == [501, 502, 503, 504]
    with pytest.raises(ValueError, match="partition ids"):
        tables["parted_hash"].table_info(500, [501])


def test_rowid_tables_have_no_handle_column() -> None:
    tables = {t.name: t for t in demo_tables("x")}
    info = tables["rowid_uk"].table_info(600)
    assert not info.pk_is_handle and not info.is_common_handle
    assert [(i.name, i.is_unique) for i in info.indices] == [("uk_ext", True)]
    assert tables["rowid_uk"].uses_rowid and not tables["ukeys"].uses_rowid


def test_id_allocator_is_monotonic_from_100() -> None:
    ids = IdAllocator()
    assert ids.take() == [100]
    assert ids.take(3) == [101, 102, 103]
    with pytest.raises(ValueError):
        ids.take(0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "a", "kind": "nope"}, "unknown kind"),
        ({"name": "a", "kind": "varchar"}, "needs a length"),
        ({"name": "a", "kind": "enum"}, "needs elements"),
    ],
)
def test_bad_columns(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ColumnDef(**kwargs)  # type: ignore[arg-type]


def test_bad_tables() -> None:
    col = ColumnDef("a", "varchar", length=3)
    with pytest.raises(ValueError, match="does not exist"):
        TableDef("d", "t", (col,), primary_key=("b",))
    with pytest.raises(ValueError, match="integer"):
        TableDef("d", "t", (col,), partition=PartitionDef("hash", "a", count=2))
    with pytest.raises(ValueError, match="duplicate"):
        TableDef("d", "t", (col, col))
