from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from app.undo.merge import KeyState
from app.undo.mount import (
    MountError,
    handle_text,
    key_table_id,
    mount_row,
    split_by_table,
)
from core.codec.keys import encode_common_handle, encode_record_key, record_key_range
from core.codec.number import encode_int
from core.codec.row import encode_row
from core.codec.tableinfo import TableInfo
from simulator.tabledef import ColumnDef, TableDef

UTC = dt.UTC


def _int_table() -> TableInfo:
    tdef = TableDef(
        "db",
        "t",
        (ColumnDef("id", "bigint", nullable=False), ColumnDef("v", "varchar", 20),
         ColumnDef("d", "decimal", 10, 2)),
        primary_key=("id",),
    )  # fmt: skip
    return tdef.table_info(70)


def _state(old: bytes, new: bytes, **kw: object) -> KeyState:
    base: dict[str, object] = {
        "first_commit_ts": 11, "first_start_ts": 10, "first_op_type": 1, "old_value": old,
        "last_commit_ts": 21, "last_start_ts": 20, "last_op_type": 1 if new else 2, "value": new,
    }  # fmt: skip
    base.update(kw)
    return KeyState(**base)  # type: ignore[arg-type]


def test_mounts_both_images_with_the_schema() -> None:
    info = _int_table()
    old = encode_row(info, {"id": 5, "v": "at-T", "d": Decimal("1.50")})
    new = encode_row(info, {"id": 5, "v": "at-E", "d": None})
    row = mount_row(encode_record_key(70, 5), _state(old, new), info, UTC)
    assert row.handle == 5
    assert row.t_image == {"id": 5, "v": "at-T", "d": Decimal("1.50")}
    assert row.e_image == {"id": 5, "v": "at-E", "d": None}
    assert (row.first_commit_ts, row.last_commit_ts) == (11, 21)


def test_absent_images_are_none() -> None:
    info = _int_table()
    new = encode_row(info, {"id": 6, "v": "x", "d": None})
    row = mount_row(encode_record_key(70, 6), _state(b"", new), info, UTC)
    assert row.t_image is None and row.e_image is not None
    row = mount_row(encode_record_key(70, 6), _state(new, b""), info, UTC)
    assert row.e_image is None and row.t_image is not None


def test_common_handle_becomes_a_tuple() -> None:
    path = Path(__file__).parents[2] / "data/codec/tableinfo/tidb_br_backupmeta_common_handle.json"
    info = TableInfo.from_json(json.loads(path.read_text()))
    [(col, _)] = info.common_handle_columns() or [(None, None)]
    assert col is not None
    handle = encode_common_handle(["k1"], info)
    row = mount_row(encode_record_key(info.id, handle), _state(b"", b""), info, UTC)
    assert row.handle == (b"k1",)  # key-mode datums: strings stay bytes
    assert handle_text(row.handle) == "(b'k1')"


@pytest.mark.parametrize(
    ("key", "state", "needle"),
    [
        (encode_record_key(70, 5), _state(b"\x80\x00garbage", b""), "handle 5"),
        (encode_record_key(70, 5), _state(b"", b"", first_conflict=True), "share a commit_ts"),
        (b"t" + encode_int(70) + b"_i" + encode_int(1) + b"\x01", _state(b"", b""), "not a record"),
        (b"mxyz", _state(b"", b""), b"mxyz".hex()),
    ],
)
def test_undecodable_entries_raise_mount_error(key: bytes, state: KeyState, needle: str) -> None:
    with pytest.raises(MountError, match=needle):
        mount_row(key, state, _int_table(), UTC)


def test_key_ranges_and_grouping_follow_key_order() -> None:
    keys = sorted(encode_record_key(t, h) for t in (3, 70, 71) for h in (-2, 0, 9))
    assert [key_table_id(k) for k in keys] == [3, 3, 3, 70, 70, 70, 71, 71, 71]
    assert [(t, len(ks)) for t, ks in split_by_table(keys)] == [(3, 3), (70, 3), (71, 3)]
    lo, hi = record_key_range(70)
    assert [key_table_id(k) for k in keys if lo <= k < hi] == [70, 70, 70]
    with pytest.raises(MountError):
        key_table_id(b"x")


def test_new_collation_off_takes_clustered_string_pk_from_the_key() -> None:
    tdef = TableDef(
        "db", "c",
        (ColumnDef("k", "varchar", 16, nullable=False, collate="utf8mb4_general_ci"),
         ColumnDef("v", "int")),
        primary_key=("k",),
    )  # fmt: skip
    info = tdef.table_info(80)
    old, new = {"k": "Key ", "v": 1}, {"k": "Key ", "v": 2}
    key = encode_record_key(80, encode_common_handle(old, info, new_collation=False))
    state = _state(
        encode_row(info, old, new_collation=False), encode_row(info, new, new_collation=False)
    )
    row = mount_row(key, state, info, UTC, new_collation=False)
    assert (row.t_image, row.e_image) == (old, new)
    with pytest.raises(MountError, match="missing from the row value"):  # never k = ''
        mount_row(key, state, info, UTC)
