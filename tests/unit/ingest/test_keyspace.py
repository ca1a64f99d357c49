"""Tiny key helpers and the T < commit_ts <= E record-key filter."""

from __future__ import annotations

import pytest

from ingest.keyspace import (
    RowFilter,
    encode_bytes,
    encode_int,
    parse_record_key,
    record_prefix,
    record_span,
)
from ingest.model import OpType, RowChange

# pingcap/tidb pkg/util/codec/bytes_test.go, TestBytesCodec (ascending rows).
BYTES_VECTORS = [
    (b"", bytes([0, 0, 0, 0, 0, 0, 0, 0, 247])),
    (b"\x00", bytes([0, 0, 0, 0, 0, 0, 0, 0, 248])),
    (bytes([1, 2, 3]), bytes([1, 2, 3, 0, 0, 0, 0, 0, 250])),
    (bytes([1, 2, 3, 0]), bytes([1, 2, 3, 0, 0, 0, 0, 0, 251])),
    (bytes([1, 2, 3, 4, 5, 6, 7]), bytes([1, 2, 3, 4, 5, 6, 7, 0, 254])),
    (bytes(8), bytes([0] * 8 + [255] + [0] * 8 + [247])),
    (bytes([1, 2, 3, 4, 5, 6, 7, 8]), bytes([1, 2, 3, 4, 5, 6, 7, 8, 255] + [0] * 8 + [247])),
    (
        bytes([1, 2, 3, 4, 5, 6, 7, 8, 9]),
        bytes([1, 2, 3, 4, 5, 6, 7, 8, 255, 9, 0, 0, 0, 0, 0, 0, 0, 248]),
    ),
]


@pytest.mark.parametrize(("raw", "encoded"), BYTES_VECTORS)
def test_encode_bytes_matches_tidb(raw: bytes, encoded: bytes) -> None:
    assert encode_bytes(raw) == encoded


def test_record_span_start_matches_pd_placement_rule() -> None:
    # pingcap/docs scale-tidb-using-tiup.md: TiFlash rule "table-45-r" has start_key
    # 7480000000000000FF2D5F720000000000FA, the encoded record prefix of table 45.
    span = record_span(45)
    assert span.start.hex().upper() == "7480000000000000FF2D5F720000000000FA"
    # the end is the same prefix with "_s" (tiflow pkg/spanz GetTableRange)
    assert span.end == encode_bytes(b"t" + encode_int(45) + b"_s")
    assert span.start < span.end


def test_encode_int_sorts_like_signed() -> None:
    values = [-(2**63), -5, -1, 0, 1, 45, 2**63 - 1]
    assert sorted(values, key=encode_int) == values
    assert encode_int(45) == bytes.fromhex("800000000000002d")


@pytest.mark.parametrize("table_id", [1, 45, 2**40 + 3, -7])
def test_parse_record_key_round_trip(table_id: int) -> None:
    handle = encode_int(-12)
    assert parse_record_key(record_prefix(table_id) + handle) == (table_id, handle)


@pytest.mark.parametrize(
    "key",
    [
        b"t" + encode_int(45) + b"_i" + encode_int(1) + encode_int(3),  # index key
        b"mDB:1\x00",  # meta key
        record_prefix(45),  # no handle
        b"",
        b"x" + encode_int(45) + b"_r" + encode_int(1),
    ],
)
def test_parse_record_key_rejects_other_keys(key: bytes) -> None:
    assert parse_record_key(key) is None


def _c(key: bytes, commit_ts: int, src: int = 0) -> RowChange:
    return RowChange(1, None, key, commit_ts - 1, commit_ts, OpType.PUT, b"v", b"", src)


def test_row_filter_keeps_window_and_selected_tables() -> None:
    f = RowFilter({45, 46}, start_ts=100, end_ts=200, own_source=9)
    rec = record_prefix(45) + encode_int(1)
    idx = b"t" + encode_int(45) + b"_i" + encode_int(1)
    other = record_prefix(47) + encode_int(1)
    kept = f.select(
        [
            _c(rec, 100),  # == T: dropped
            _c(rec, 101),
            _c(rec, 200),  # == E: kept
            _c(rec, 201, src=9),  # our own undo write after E
            _c(rec, 202, src=1),  # a foreign writer after E
            _c(idx, 150),
            _c(other, 150),
        ]
    )
    assert [(c.table_id, c.commit_ts) for c in kept] == [(45, 101), (45, 200)]
    assert (f.dropped_before_start, f.dropped_after_end, f.foreign_after_end) == (1, 2, 1)
    assert (f.dropped_not_record, f.dropped_other_table) == (1, 1)


def test_row_filter_rejects_inverted_window() -> None:
    with pytest.raises(ValueError):
        RowFilter({1}, start_ts=5, end_ts=4)


def test_row_filter_reasons_for_keys_near_a_selected_prefix() -> None:
    f = RowFilter({45}, start_ts=100, end_ts=200)
    rec = record_prefix(45) + encode_int(7)
    hinted = RowChange(1, 46, rec, 149, 150, OpType.PUT, b"v", b"")  # wrong table hint
    kept = f.select(
        [
            _c(record_prefix(45), 150),  # bare prefix: no handle
            _c(b"t" + encode_int(45) + b"_i" + encode_int(1), 150),  # index of a selected table
            _c(record_prefix(46) + encode_int(7), 150),  # record of another table
            _c(rec, 150),
            hinted,
        ]
    )
    assert [c.table_id for c in kept] == [45, 45]
    assert kept[1] == RowChange(1, 45, rec, 149, 150, OpType.PUT, b"v", b"")
    assert (f.dropped_not_record, f.dropped_other_table) == (2, 1)
