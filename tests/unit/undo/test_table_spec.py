"""Adapting the codec's TableInfo to the planner's table view."""

from __future__ import annotations

from app.undo.model import Identity, TableSpec, table_spec
from core.codec import mysqldef as m
from core.codec.tableinfo import ColumnInfo, FieldType, IndexColumn, IndexInfo, TableInfo


def col(i: int, name: str, tp: int, flag: int = 0, **kw: object) -> ColumnInfo:
    return ColumnInfo(id=i + 1, name=name, offset=i, type=FieldType(tp=tp, flag=flag), **kw)  # type: ignore[arg-type]


def idx(i: int, name: str, cols: list[ColumnInfo], *, primary: bool = False) -> IndexInfo:
    return IndexInfo(
        id=i,
        name=name,
        columns=tuple(IndexColumn(c.name, c.offset) for c in cols),
        is_unique=True,
        is_primary=primary,
    )


PKF = m.NOT_NULL_FLAG | m.PRI_KEY_FLAG


def test_int_handle_table() -> None:
    cols = (
        col(0, "id", m.TYPE_LONGLONG, PKF),
        col(1, "f", m.TYPE_FLOAT),
        col(2, "d", m.TYPE_DOUBLE),
        col(3, "j", m.TYPE_JSON),
        col(4, "g", m.TYPE_LONG, generated_expr_string="id+1"),
        col(5, "u", m.TYPE_LONG),
    )
    info = TableInfo(
        id=1,
        name="t",
        columns=cols,
        indices=(idx(1, "ug", [cols[4]]), idx(2, "u", [cols[5]])),
        pk_is_handle=True,
    )
    assert table_spec(info, "db") == TableSpec(
        db="db",
        name="t",
        columns=("id", "f", "d", "j", "u"),
        identity=Identity.INT_HANDLE,
        pk_columns=("id",),
        unique_keys=(("id",), ("u",)),
        float_columns=frozenset({"f"}),
        json_columns=frozenset({"j"}),
    )


def test_clustered_table() -> None:
    cols = (col(0, "a", m.TYPE_VARCHAR, PKF), col(1, "b", m.TYPE_LONG, PKF))
    info = TableInfo(
        id=2,
        name="c",
        columns=cols,
        indices=(idx(1, "PRIMARY", [cols[1], cols[0]], primary=True),),
        is_common_handle=True,
    )
    spec = table_spec(info, "db")
    assert (spec.identity, spec.pk_columns, spec.unique_keys) == (
        Identity.COMMON_HANDLE,
        ("b", "a"),
        (("b", "a"),),
    )


def test_rowid_table_with_nonclustered_pk() -> None:
    cols = (col(0, "k", m.TYPE_VARCHAR, PKF), col(1, "v", m.TYPE_LONG))
    info = TableInfo(
        id=3, name="r", columns=cols, indices=(idx(1, "PRIMARY", [cols[0]], primary=True),)
    )
    spec = table_spec(info, "db")
    assert (spec.identity, spec.pk_columns, spec.unique_keys, spec.columns) == (
        Identity.ROWID,
        (),
        (("k",),),
        ("k", "v"),
    )
