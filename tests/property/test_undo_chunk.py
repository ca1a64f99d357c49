"""Flush chunks: entries round-trip, splitting keeps order and bounds, damage is named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.undo.chunk import (
    CHUNK_PREFIX,
    ChunkDecodeError,
    chunk_key,
    decode_chunk,
    encode_chunk,
    is_chunk_key,
    split_chunks,
)

entries = st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=300)), max_size=30)


@given(entries)
def test_a_chunk_round_trips_in_order(items: list[tuple[bytes, bytes]]) -> None:
    assert list(decode_chunk(encode_chunk(items))) == items


@given(entries, st.integers(1, 2000))
def test_splitting_keeps_every_entry_in_order_within_the_bound(
    items: list[tuple[bytes, bytes]], limit: int
) -> None:
    chunks = list(split_chunks(items, limit))
    assert [e for c in chunks for e in c] == items
    for c in chunks:
        assert c, "no empty chunk"
        size = sum(len(k) + len(v) + 8 for k, v in c)
        assert size <= limit or len(c) == 1  # only a lone entry may exceed the bound


@given(entries, st.data())
def test_a_cut_or_extended_chunk_is_refused(
    items: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    raw = encode_chunk(items)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(ChunkDecodeError):
        decode_chunk(raw[:cut])
    with pytest.raises(ChunkDecodeError, match="bytes after"):
        decode_chunk(raw + b"\x00")


def test_an_unknown_version_is_refused() -> None:
    raw = encode_chunk([(b"t1", b"v")])
    with pytest.raises(ChunkDecodeError, match="version 2"):
        decode_chunk(b"\x02" + raw[1:])


def test_chunk_keys_are_unique_and_never_row_keys() -> None:
    writer = b"\x01" * 8
    keys = {chunk_key(writer, n) for n in range(1000)} | {chunk_key(b"\x02" * 8, 0)}
    assert len(keys) == 1001
    assert all(is_chunk_key(k) and k.startswith(CHUNK_PREFIX) for k in keys)
    assert not is_chunk_key(b"t\x80\x00\x00\x00\x00\x00\x00\x05_r\x80\x00\x00\x00\x00\x00\x00\x01")
    with pytest.raises(ValueError, match="8 bytes"):
        chunk_key(b"short", 0)
