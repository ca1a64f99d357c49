"""The compact table's store expands flush chunks into rows, when written and when replayed.

A real Faust table over real RocksDB partitions (rocksdict) in a temporary folder; the events are
stand-ins carrying only what the store reads of them (partition, topic-partition, offset, key,
value), as a changelog replay hands them over.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import pytest
from faust import streams as faust_streams
from faust.types import TP

from app.chunked_store import ChunkedStore, chunked_table, register
from app.undo.chunk import CHUNK_BYTES, ChunkDecodeError, chunk_key, decode_chunk, encode_chunk

CHANGELOG = "tiundo-x-compact-changelog"


@dataclass
class _Message:
    partition: int
    offset: int
    key: bytes
    value: bytes | None

    @property
    def tp(self) -> TP:
        return TP(CHANGELOG, self.partition)


@dataclass
class _Event:
    message: _Message


@pytest.fixture
def table(tmp_path: Path) -> Iterator[Any]:
    register()
    app = faust.App("chunk-test", store="rocksdb://", datadir=str(tmp_path), autodiscover=False)
    table = app.Table(
        "compact", key_type=bytes, value_type=bytes, partitions=2, **chunked_table("compact")
    )
    assert isinstance(table.data, ChunkedStore)
    assert table.data.partition_path(0).name == "compact-0.db"
    yield table
    table.data.reset_state()


def _rows(store: ChunkedStore, partition: int) -> dict[bytes, bytes]:
    db = store._db_for_partition(partition)
    return {bytes(k): bytes(v) for k, v in db.items() if not bytes(k).startswith(b"__faust")}


def _replay(store: ChunkedStore, records: list[tuple[int, bytes, bytes | None]]) -> None:
    events = [_Event(_Message(p, off, k, v)) for off, (p, k, v) in enumerate(records)]
    store.apply_changelog_batch(events, to_key=lambda k: k, to_value=lambda v: v)


WRITER = b"w" * 8


def test_a_chunk_written_in_a_partitions_event_lands_as_rows_there(table: Any) -> None:
    store = table.data
    event = _Event(_Message(1, 7, b"k", b"v"))
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        store[chunk_key(WRITER, 0)] = encode_chunk([(b"t1", b"a"), (b"t2", b"b"), (b"t1", b"c")])
    finally:
        faust_streams._current_event.reset(token)
    assert _rows(store, 1) == {b"t1": b"c", b"t2": b"b"}  # in order: the last value wins
    assert _rows(store, 0) == {}


def test_a_replayed_changelog_expands_chunks_in_order_beside_rows_and_deletes(table: Any) -> None:
    store = table.data
    _replay(
        store,
        [
            (0, b"t0", b"old-format row"),  # a per-key record (a job from before chunks)
            (0, chunk_key(WRITER, 0), encode_chunk([(b"t1", b"a"), (b"t2", b"b")])),
            (1, chunk_key(WRITER, 1), encode_chunk([(b"t9", b"z")])),
            (0, chunk_key(WRITER, 2), encode_chunk([(b"t1", b"a2")])),
            (0, b"t2", None),
        ],
    )
    assert _rows(store, 0) == {b"t0": b"old-format row", b"t1": b"a2"}
    assert _rows(store, 1) == {b"t9": b"z"}
    assert store.persisted_offset(TP(CHANGELOG, 0)) == 4
    assert store.persisted_offset(TP(CHANGELOG, 1)) == 2


async def test_a_damaged_chunk_stops_the_worker_naming_its_offset_and_writes_nothing(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Faust's recovery only logs what the store raises and retries the batch for ever: the
    # store must stop the worker itself
    crashed: list[BaseException] = []

    async def crash(reason: BaseException) -> None:
        crashed.append(reason)

    monkeypatch.setattr(table.app, "crash", crash)
    store = table.data
    good = encode_chunk([(b"t1", b"a")])
    with pytest.raises(ChunkDecodeError, match=rf"{CHANGELOG}\[0\] offset 1: chunk entry 0"):
        _replay(store, [(0, chunk_key(WRITER, 0), good), (0, chunk_key(WRITER, 1), good[:-1])])
    await asyncio.sleep(0)
    assert [str(r) for r in crashed] == [f"changelog {CHANGELOG}[0] offset 1: {_reason(good[:-1])}"]
    assert _rows(store, 0) == {}
    assert store.persisted_offset(TP(CHANGELOG, 0)) is None


def _reason(raw: bytes) -> str:
    with pytest.raises(ChunkDecodeError) as err:
        decode_chunk(raw)
    return str(err.value)


def test_recovery_holds_a_few_chunks_not_a_thousand(table: Any) -> None:
    # Faust buffers this many changelog records before one apply_changelog_batch (default
    # 1000: up to 250 MiB of chunks and a write batch as big, against a 512 MB process goal)
    for size in (table.recovery_buffer_size, table.standby_buffer_size):
        assert size > 1 and size * CHUNK_BYTES <= 4 * 1024 * 1024
