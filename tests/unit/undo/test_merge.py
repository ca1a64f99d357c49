"""Per-key merge: the two ends, the tie rule and the compact-table byte layout."""

from __future__ import annotations

import pytest

from app.undo.merge import (
    KeyState,
    StateDecodeError,
    combine,
    decode_state,
    encode_state,
    merge,
    merge_many,
)
from app.undo.model import DELETE, PUT, Change
from core.errors import DecodeError

INSERT = Change(start_ts=10, commit_ts=11, op_type=PUT, value=b"row-v1", old_value=b"")
UPDATE = Change(start_ts=20, commit_ts=21, op_type=PUT, value=b"row-v2", old_value=b"row-v1")
REMOVE = Change(start_ts=30, commit_ts=31, op_type=DELETE, value=b"", old_value=b"row-v2")


def test_single_change_is_both_ends() -> None:
    s = merge(None, UPDATE)
    assert s == KeyState(21, 20, PUT, b"row-v1", 21, 20, PUT, b"row-v2")


def test_insert_then_delete_is_absent_at_both_ends() -> None:
    s = merge_many(None, [REMOVE, INSERT, UPDATE])
    assert s == KeyState(
        first_commit_ts=11,
        first_start_ts=10,
        first_op_type=PUT,
        old_value=b"",
        last_commit_ts=31,
        last_start_ts=30,
        last_op_type=DELETE,
        value=b"",
        changes=3,
    )
    assert not s.present_at_t
    assert not s.present_at_e


def test_update_then_delete_keeps_t_image() -> None:
    s = merge_many(None, [REMOVE, UPDATE])
    assert s is not None
    assert (s.old_value, s.value, s.present_at_t, s.present_at_e) == (b"row-v1", b"", True, False)


def test_merge_many_of_nothing_keeps_state() -> None:
    assert merge_many(None, []) is None
    s = merge(None, INSERT)
    assert merge_many(s, []) is s


def test_exact_duplicate_sets_no_conflict_but_counts() -> None:
    s = merge_many(None, [UPDATE, UPDATE, UPDATE])
    assert s is not None
    assert (s.changes, s.first_conflict, s.last_conflict) == (3, False, False)
    assert s.old_value == b"row-v1"


def test_tie_with_different_payload_keeps_smaller_and_flags_conflict() -> None:
    other = Change(start_ts=20, commit_ts=21, op_type=PUT, value=b"row-vX", old_value=b"row-v0")
    for order in ([UPDATE, other], [other, UPDATE]):
        s = merge_many(None, order)
        assert s is not None
        assert (s.old_value, s.value) == (b"row-v0", b"row-v2")
        assert (s.first_conflict, s.last_conflict) == (True, True)


def test_conflict_at_first_cleared_by_earlier_change() -> None:
    other = Change(start_ts=20, commit_ts=21, op_type=PUT, value=b"row-v2", old_value=b"row-v0")
    s = merge_many(None, [UPDATE, other, INSERT])
    assert s is not None
    assert (s.first_commit_ts, s.first_conflict, s.old_value) == (11, False, b"")
    assert s.last_conflict is False


def test_combine_is_commutative_on_example() -> None:
    a = merge(None, INSERT)
    b = merge(None, REMOVE)
    assert combine(a, b) == combine(b, a)


# Layout vector written by hand from the table in app/undo/merge.py's docstring.
LAYOUT_VECTOR = bytes.fromhex(
    "01"  # version
    "02"  # flags: last_conflict
    "0000000000000015"  # first_commit_ts 21
    "0000000000000014"  # first_start_ts 20
    "01"  # first_op_type PUT
    "000000000000001f"  # last_commit_ts 31
    "000000000000001e"  # last_start_ts 30
    "02"  # last_op_type DELETE
    "0000000000000007"  # changes 7
    "00000003"
    "616263"  # old_value b"abc"
    "00000000"  # value b""
)
LAYOUT_STATE = KeyState(21, 20, PUT, b"abc", 31, 30, DELETE, b"", 7, False, True)


def test_encode_matches_documented_layout() -> None:
    assert encode_state(LAYOUT_STATE) == LAYOUT_VECTOR


def test_decode_documented_layout() -> None:
    assert decode_state(LAYOUT_VECTOR) == LAYOUT_STATE


@pytest.mark.parametrize(
    ("buf", "reason"),
    [
        (b"", "shorter than its header"),
        (LAYOUT_VECTOR[:43], "shorter than its header"),
        (b"\x02" + LAYOUT_VECTOR[1:], "version 2"),
        (LAYOUT_VECTOR[:1] + b"\x04" + LAYOUT_VECTOR[2:], "unknown flag bits 0x04"),
        (LAYOUT_VECTOR[:18] + b"\x03" + LAYOUT_VECTOR[19:], "first_op_type 3"),
        (LAYOUT_VECTOR[:35] + b"\x00" + LAYOUT_VECTOR[36:], "last_op_type 0"),
        (LAYOUT_VECTOR[:46], "length of old_value"),
        (LAYOUT_VECTOR[:49], "old_value needs 3 bytes"),
        (LAYOUT_VECTOR[:-2], "length of value"),
        (LAYOUT_VECTOR + b"\x00", "1 trailing bytes"),
        (
            LAYOUT_VECTOR[:2]
            + LAYOUT_VECTOR[19:27]
            + LAYOUT_VECTOR[10:19]
            + LAYOUT_VECTOR[2:10]
            + LAYOUT_VECTOR[27:],
            "first_commit_ts 31 > last_commit_ts 21",
        ),
    ],
)
def test_decode_rejects_malformed(buf: bytes, reason: str) -> None:
    with pytest.raises(StateDecodeError, match=reason) as info:
        decode_state(buf)
    assert isinstance(info.value, DecodeError)
    assert not info.value.retriable


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_state(KeyState(1 << 64, 0, PUT, b"", 1 << 64, 0, PUT, b""))
