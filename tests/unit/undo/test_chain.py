"""Mount → plan over a run of compact entries: counts, actions in order, failures kept."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from app.undo.chain import Planned, plan_entries
from app.undo.merge import KeyState, decode_state, encode_state
from app.undo.model import table_spec
from app.undo.mount import MountError, mount_row
from app.undo.plan import PlanCounts, plan_row
from core.codec.keys import encode_record_key, index_prefix
from core.codec.row import encode_row
from core.codec.tableinfo import TableInfo
from core.errors import DecodeError
from simulator.tabledef import ColumnDef, TableDef

UTC = dt.UTC


def _info() -> TableInfo:
    tdef = TableDef(
        "db",
        "t",
        (ColumnDef("id", "bigint", nullable=False), ColumnDef("v", "varchar", 20)),
        primary_key=("id",),
    )
    return tdef.table_info(70)


INFO = _info()
SPEC = table_spec(INFO, "db")


def _entry(handle: int, old: str | None, new: str | None) -> tuple[bytes, bytes]:
    """A stored state of row ``handle``: value ``old`` at T, ``new`` at E (None: absent)."""

    def image(v: str | None) -> bytes:
        return b"" if v is None else encode_row(INFO, {"id": handle, "v": v})

    state = KeyState(
        first_commit_ts=11, first_start_ts=10, first_op_type=1, old_value=image(old),
        last_commit_ts=21, last_start_ts=20, last_op_type=1 if new is not None else 2,
        value=image(new),
    )  # fmt: skip
    return encode_record_key(70, handle), encode_state(state)


GOOD = [
    _entry(1, "a", "b"),  # updated: restored
    _entry(2, None, "x"),  # inserted: deleted
    _entry(3, "c", "c"),  # unchanged: skipped
    _entry(4, "d", None),  # deleted: restored
]
INDEX = (index_prefix(70, 1) + b"\x01", GOOD[0][1])  # not a record key
DAMAGED = (encode_record_key(70, 5), b"\x00garbage")  # state does not decode


def test_counts_actions_and_failures_in_entry_order() -> None:
    entries = [GOOD[0], INDEX, GOOD[1], DAMAGED, GOOD[2], GOOD[3]]
    got = plan_entries(entries, INFO, SPEC, UTC)
    assert got.counts == PlanCounts(restored=2, deleted=1, skipped=1)
    expected = tuple(
        a
        for key, raw in GOOD
        for a in plan_row(SPEC, mount_row(key, decode_state(raw), INFO, UTC))[1]
    )
    assert got.actions == expected and len(expected) == 3
    assert [(f.key, f.raw) for f in got.failed] == [INDEX, DAMAGED]
    assert isinstance(got.failed[0].error, MountError)
    assert all(isinstance(f.error, DecodeError) for f in got.failed)


def test_counts_add_to_the_running_total() -> None:
    got = plan_entries([GOOD[0]], INFO, SPEC, UTC, counts=PlanCounts(restored=7, skipped=1))
    assert got.counts == PlanCounts(restored=8, skipped=1)


def test_without_a_schema_every_entry_fails_with_its_reason() -> None:
    before = PlanCounts(deleted=3)
    for info, spec in ((None, SPEC), (INFO, None)):
        got = plan_entries(GOOD, info, spec, UTC, counts=before, schema_error="no schema at T")
        assert got.counts == before and got.actions == ()
        assert [(f.key, f.raw) for f in got.failed] == GOOD
        assert all(type(f.error) is DecodeError for f in got.failed)
        assert {str(f.error) for f in got.failed} == {"no schema at T"}


def test_empty_run() -> None:
    assert plan_entries([], INFO, SPEC, UTC) == Planned(PlanCounts(), (), ())


POOL = [*GOOD, INDEX, DAMAGED]


@settings(max_examples=200, deadline=None)
@given(picks=st.lists(st.sampled_from(range(len(POOL))), max_size=12), cut=st.integers(0, 12))
def test_chunking_does_not_change_the_result(picks: list[int], cut: int) -> None:
    """The stage plans ``mount_chunk`` entries at a time: any cut gives the same whole."""
    entries = [POOL[i] for i in picks]
    whole = plan_entries(entries, INFO, SPEC, UTC)
    head = plan_entries(entries[:cut], INFO, SPEC, UTC)
    tail = plan_entries(entries[cut:], INFO, SPEC, UTC, counts=head.counts)
    assert tail.counts == whole.counts
    assert head.actions + tail.actions == whole.actions
    assert [(f.key, f.raw) for f in head.failed + tail.failed] == [
        (f.key, f.raw) for f in whole.failed
    ]
