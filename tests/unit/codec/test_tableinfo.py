"""TableInfo JSON from upstream tests (tests/data/codec/tableinfo/SOURCES.md names each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.codec import mysqldef as m
from core.codec.tableinfo import HandleKind, SchemaError, TableInfo, physical_table_map

DIR = Path(__file__).parents[2] / "data/codec/tableinfo"


def load(name: str) -> TableInfo:
    return TableInfo.from_json(json.loads((DIR / name).read_text()))


def test_partitioned_rowid_table() -> None:
    t = load("tidb_br_checksum_partitioned.json")
    assert (t.id, t.name, t.handle_kind) == (106, "tp", HandleKind.ROWID)
    assert t.physical_ids() == {107: "p0", 108: "p1", 109: "p2", 110: "p3"}
    assert physical_table_map([t])[109] == (t, "p2")
    assert t.unique_keys() == ()


def test_common_handle_with_lowercase_type_keys() -> None:
    t = load("tidb_br_backupmeta_common_handle.json")
    assert t.handle_kind is HandleKind.COMMON
    ((col, prefix),) = t.common_handle_columns()
    assert (col.name, col.type.tp, col.type.flen, prefix) == ("pk", m.TYPE_VARCHAR, 256, -1)
    assert col.type.flag == 4099 and col.type.not_null


def test_int_pk_handle_unsigned() -> None:
    t = load("tiflash_help_topic.json")
    hc = t.int_handle_column()
    assert t.handle_kind is HandleKind.INT and hc is not None and hc.name == "help_topic_id"
    assert hc.type.unsigned
    assert [k.columns for k in t.unique_keys()] == [("help_topic_id",)]
    assert [c.name for c in t.sql_columns()][:2] == ["help_topic_id", "name"]


def test_vector_column_and_non_public_index() -> None:
    t = load("tiflash_vector_pk_handle.json")
    assert t.columns[1].type.tp == m.TYPE_VECTOR_FLOAT32
    assert t.indices[0].state == 3 and t.unique_keys()[0].is_primary


def test_origin_default_kept_as_text() -> None:
    t = load("tiflash_tmp_origin_default.json")
    assert t.columns[0].origin_default == "0" and t.columns[0].has_origin_default


@pytest.mark.parametrize("name", sorted(p.name for p in DIR.glob("*.json")))
def test_to_json_round_trips(name: str) -> None:
    obj = json.loads((DIR / name).read_text())
    t = TableInfo.from_json(obj)
    again = TableInfo.from_json(json.loads(json.dumps(t.to_json())))
    assert again == t
    out = t.to_json()
    for key in ("id", "pk_is_handle", "is_common_handle"):
        assert out[key] == obj.get(key, False)
    assert [c["type"]["Tp"] for c in out["cols"]] == [c.type.tp for c in t.columns]
    assert out["name"] == {"O": t.name, "L": t.name.lower()}


def test_bad_json_raises_schema_error() -> None:
    with pytest.raises(SchemaError):
        TableInfo.from_json({"id": "x"})
    with pytest.raises(SchemaError):
        TableInfo.from_json({"id": 1, "cols": [{"id": 1, "name": {"O": "a"}}]})
    with pytest.raises(SchemaError):
        TableInfo.from_json({"id": 1, "pk_is_handle": True, "cols": []})


def test_global_index_flag_of_a_partitioned_table() -> None:
    obj = json.loads(json.dumps(load("tidb_br_checksum_partitioned.json").to_json()))
    assert not TableInfo.from_json(obj).has_global_index
    obj["index_info"] = [
        {"id": 1, "idx_name": {"O": "uk", "L": "uk"}, "is_unique": True, "is_global": True,
         "idx_cols": [{"name": {"O": obj["cols"][0]["name"]["O"]}, "offset": 0, "length": -1}]}
    ]  # fmt: skip
    assert TableInfo.from_json(obj).has_global_index
    obj["partition"] = None  # a global index only means something across partitions
    assert not TableInfo.from_json(obj).has_global_index
