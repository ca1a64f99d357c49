"""Undo plan: outcome and actions per row key, for each identity kind."""

from __future__ import annotations

import datetime as dt

import pytest

from app.undo.model import Identity, MountedRow, TableSpec
from app.undo.plan import (
    DeleteByKey,
    DeleteRow,
    Insert,
    Outcome,
    PlanCounts,
    PlanError,
    Replace,
    plan_row,
    plan_table,
)
from core.codec.jsonbin import JSON_NULL, JsonDuration, JsonOpaque, JsonUint
from core.codec.mytime import TYPE_DATE, MyTime

PK = TableSpec("d", "t", ("id", "u", "v"), Identity.INT_HANDLE, ("id",), (("u",),))
CLUSTERED = TableSpec("d", "c", ("a", "b", "v"), Identity.COMMON_HANDLE, ("a", "b"))
ROWID = TableSpec(
    "d",
    "r",
    ("u", "f", "v"),
    Identity.ROWID,
    unique_keys=(("f",), ("u",)),
    float_columns=frozenset({"f"}),
)


def row(handle: int, t: dict[str, object] | None, e: dict[str, object] | None) -> MountedRow:
    return MountedRow(handle, t, e, 100 + handle, 200 + handle)


def test_pk_present_at_t_is_replace() -> None:
    r = row(1, {"id": 1, "u": "a", "v": None}, {"id": 1, "u": "b", "v": 2})
    assert plan_row(PK, r) == (Outcome.RESTORED, (Replace(PK, 1, 101, 201, (1, "a", None)),))


def test_pk_absent_at_t_is_delete_by_pk() -> None:
    r = row(7, None, {"id": 7, "u": "x", "v": 1})
    assert plan_row(PK, r) == (Outcome.DELETED, (DeleteByKey(PK, 7, 107, 207, ("id",), (7,), 0),))


def test_pk_deleted_after_t_is_replace() -> None:
    r = row(2, {"id": 2, "u": "a", "v": 1}, None)
    assert plan_row(PK, r) == (Outcome.RESTORED, (Replace(PK, 2, 102, 202, (2, "a", 1)),))


@pytest.mark.parametrize(
    ("t", "e"),
    [(None, None), ({"id": 3, "u": "a", "v": 1}, {"id": 3, "u": "a", "v": 1})],
)
def test_noops_are_skipped(t: dict[str, object] | None, e: dict[str, object] | None) -> None:
    assert plan_row(PK, row(3, t, e)) == (Outcome.SKIPPED, ())
    assert plan_row(
        ROWID, row(3, t and {"u": 1, "f": 0.5, "v": 1}, e and {"u": 1, "f": 0.5, "v": 1})
    ) == (
        Outcome.SKIPPED,
        (),
    )


def test_clustered_pk_change_is_two_keys() -> None:
    """TiKV sees DELETE of the old key and PUT of the new key: restore one, delete the other."""
    old = MountedRow(("a", 1), {"a": "a", "b": 1, "v": 9}, None, 150, 150)
    new = MountedRow(("z", 1), None, {"a": "z", "b": 1, "v": 9}, 150, 150)
    plan = plan_table(CLUSTERED, [old, new])
    assert plan.phases == (
        (
            Replace(CLUSTERED, ("a", 1), 150, 150, ("a", 1, 9)),
            DeleteByKey(CLUSTERED, ("z", 1), 150, 150, ("a", "b"), ("z", 1), 0),
        ),
    )
    assert plan.counts == PlanCounts(restored=1, deleted=1, skipped=0)


def test_rowid_uses_first_non_null_non_float_unique_key() -> None:
    r = row(5, {"u": 1, "f": 0.5, "v": "t"}, {"u": 2, "f": 0.25, "v": "e"})
    assert plan_row(ROWID, r) == (
        Outcome.RESTORED,
        (
            DeleteByKey(ROWID, 5, 105, 205, ("u",), (2,), 0),
            Insert(ROWID, 5, 105, 205, (1, 0.5, "t")),
        ),
    )


def test_rowid_null_unique_key_falls_back_to_all_columns() -> None:
    r = row(6, None, {"u": None, "f": 0.25, "v": "e"})
    assert plan_row(ROWID, r) == (
        Outcome.DELETED,
        (DeleteRow(ROWID, 6, 106, 206, (None, 0.25, "e")),),
    )


def test_rowid_insert_only_when_absent_at_e() -> None:
    r = row(8, {"u": 3, "f": None, "v": None}, None)
    assert plan_row(ROWID, r) == (Outcome.RESTORED, (Insert(ROWID, 8, 108, 208, (3, None, None)),))


def test_rowid_plan_has_two_phases_and_counts() -> None:
    rows = [
        row(1, {"u": 1, "f": 1.0, "v": 1}, {"u": 1, "f": 1.0, "v": 2}),
        row(2, None, {"u": None, "f": None, "v": None}),
        row(3, None, None),
        row(4, {"u": 4, "f": 1.0, "v": 1}, None),
    ]
    plan = plan_table(ROWID, rows)
    assert [len(p) for p in plan.phases] == [2, 2]
    assert [type(a) for a in plan.phases[0]] == [DeleteByKey, DeleteRow]
    assert [a.handle for a in plan.phases[1]] == [1, 4]
    assert plan.counts == PlanCounts(restored=2, deleted=1, skipped=1)


def test_missing_column_is_plan_error_naming_table_and_handle() -> None:
    with pytest.raises(PlanError, match=r"d\.t handle 9 \(commit_ts 109\.\.209\).*'v'"):
        plan_row(PK, row(9, {"id": 9, "u": 1}, None))


def test_pk_table_without_pk_columns_is_refused() -> None:
    bad = TableSpec("d", "t", ("id",), Identity.INT_HANDLE)
    with pytest.raises(ValueError, match="without pk_columns"):
        plan_row(bad, row(1, {"id": 1}, None))


def _TD(fsp: int) -> JsonDuration:
    return JsonDuration(dt.timedelta(hours=1, microseconds=500), fsp)


JS = TableSpec("d", "j", ("id", "j"), Identity.INT_HANDLE, ("id",), json_columns=frozenset({"j"}))
JS_ROWID = TableSpec("d", "jr", ("n", "j"), Identity.ROWID, json_columns=frozenset({"j"}))


@pytest.mark.parametrize(
    ("at_t", "at_e"),
    [
        (True, 1),  # JSON true and JSON 1 are different values (Python: True == 1)
        (False, 0),
        (1, 1.0),  # int64 1 renders "1", double 1.0 renders "1.0"
        ({"a": [True, 2]}, {"a": [1, 2.0]}),
        ([0], [False]),
        (JSON_NULL, None),  # the document null at T, SQL NULL at E: restore JSON null
        (None, JSON_NULL),  # and back: SQL NULL at T
        (JsonUint(1), 1),  # uint64 1 and int64 1 are different binary JSON (0x0a vs 0x09)
        ([JsonUint(5)], [5]),
        (_TD(3), _TD(6)),  # same TIME, different stored fsp: different bytes
        (MyTime(2020, 1, 2, tp=TYPE_DATE), "2020-01-02"),  # JSON DATE vs JSON string
        (JsonOpaque(0xFD, b"ab"), "base64:type253:YWI="),
        (0.0, -0.0),  # equal as floats, yet different doubles
        ([0.0], [-0.0]),
    ],
)
def test_json_values_equal_in_python_but_not_in_tidb_are_restored(
    at_t: object, at_e: object
) -> None:
    r = row(4, {"id": 4, "j": at_t}, {"id": 4, "j": at_e})
    assert plan_row(JS, r) == (Outcome.RESTORED, (Replace(JS, 4, 104, 204, (4, at_t)),))
    r = row(4, {"n": 1, "j": at_t}, {"n": 1, "j": at_e})
    outcome, actions = plan_row(JS_ROWID, r)
    assert outcome is Outcome.RESTORED
    assert actions == (
        DeleteRow(JS_ROWID, 4, 104, 204, (1, at_e)),
        Insert(JS_ROWID, 4, 104, 204, (1, at_t)),
    )
