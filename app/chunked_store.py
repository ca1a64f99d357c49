"""The compact table's store: Faust's RocksDB store, with flush chunks expanded into rows.

A flush (:mod:`app.stages.compact_flush`) writes its keys as a few chunk entries
(:mod:`app.undo.chunk`), so Faust sends one changelog record per chunk instead of one per key.
This store never keeps a chunk: writing one puts its entries into the partition's RocksDB in one
write batch, and replaying the changelog (recovery, a partition moving to another worker) does
the same, in changelog order. Row entries written one by one (Faust's own way) are kept and
replayed as before. Readers (the compact actor's ``get``, the undo stage's iteration of a
partition's DB) see rows only.

Rows are never deleted from this table, and must not be: chunk keys are never reused, so log
compaction never drops a chunk, and once a row's tombstone expired from the changelog a replay
would bring the row back from the chunk that last held it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from faust.stores import STORES
from faust.stores import rocksdb as faust_rocksdb
from faust.streams import current_event
from faust.types import TP, EventT
from rocksdict import WriteBatch

from app.undo.chunk import ChunkDecodeError, decode_chunk, is_chunk_key

__all__ = ["RECOVERY_BUFFER", "ChunkedStore", "chunked_table", "register", "store_url"]

log = logging.getLogger(__name__)
#: crash tasks in flight (the loop keeps only weak references to tasks)
_crashes: set[asyncio.Task[None]] = set()

SCHEME = "tiundo-chunked"


def store_url(table: str) -> str:
    """The ``store=`` of table ``table`` kept by :class:`ChunkedStore` (after :func:`register`).

    The path names the table's files (``<table>-<partition>.db``), as Faust's own RocksDB URL
    does once it adds the table name; a URL without one would be false, and Faust would take
    the app's store instead.
    """
    return f"{SCHEME}:{table}"


#: changelog records Faust holds before it hands them to the store in recovery and on a
#: standby: a chunk is up to 256 KiB, so Faust's default of 1000 could hold 250 MiB, and one
#: write batch as big (not 1: Faust treats a buffer of 1 apart)
RECOVERY_BUFFER = 8


def chunked_table(table: str) -> dict[str, Any]:
    """The ``app.Table`` arguments of table ``table`` kept by :class:`ChunkedStore`."""
    return {
        "store": store_url(table),
        "recovery_buffer_size": RECOVERY_BUFFER,
        "standby_buffer_size": RECOVERY_BUFFER,
    }


def register() -> None:
    """Let Faust build :class:`ChunkedStore` for a table made with ``store=store_url(name)``."""
    STORES.aliases.setdefault(SCHEME, f"{__name__}:ChunkedStore")


class ChunkedStore(faust_rocksdb.Store):  # type: ignore[misc]
    """RocksDB partitions, one per table partition; chunk entries are expanded, not kept."""

    @staticmethod
    def _batch() -> WriteBatch:
        return WriteBatch(raw_mode=True)

    def _set(self, key: bytes, value: bytes | None) -> None:
        if value is None or not is_chunk_key(key):
            super()._set(key, value)
            return
        event = current_event()
        if event is None:
            raise RuntimeError("a chunk is written outside of a partition's event")
        batch = self._batch()
        for row, state in decode_chunk(value):
            batch.put(row, state)
        self._db_for_partition(event.message.partition).write(batch)

    def _fatal(self, exc: ChunkDecodeError) -> ChunkDecodeError:
        """Stop this worker over a chunk it cannot expand, and return ``exc`` to raise.

        Faust's recovery catches what a store raises, logs a warning and tries the same
        batch again with every later record, so a raise alone would stall the recovery for
        ever with the partition's rows missing. Crashing the app (as a bad topic set-up does,
        :func:`app.stages.board.start_board`) stops the worker with the reason in its log
        instead.
        """
        log.error("tiundo: %s: this worker cannot rebuild the partition; it stops", exc)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not inside a worker (a tool reading a changelog): the raise is all
            return exc
        task = loop.create_task(self.app.crash(exc))
        _crashes.add(task)
        task.add_done_callback(_crashes.discard)
        return exc

    def apply_changelog_batch(
        self,
        batch: Iterable[EventT],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        """Write changelog records to the partitions' RocksDB, chunks expanded, in order."""
        writes: defaultdict[int, Any] = defaultdict(self._batch)
        offsets: dict[TP, int] = {}
        for event in batch:
            msg = event.message
            offsets[msg.tp] = max(msg.offset, offsets.get(msg.tp, msg.offset))
            out = writes[msg.partition]
            if msg.value is None:
                out.delete(msg.key)
            elif is_chunk_key(msg.key):
                try:
                    entries = decode_chunk(msg.value)
                except ChunkDecodeError as exc:
                    where = f"changelog {msg.tp.topic}[{msg.partition}] offset {msg.offset}"
                    raise self._fatal(ChunkDecodeError(f"{where}: {exc}")) from exc
                for row, state in entries:
                    out.put(row, state)
            else:
                out.put(msg.key, msg.value)
        for partition, out in writes.items():
            self._db_for_partition(partition).write(out)
        for tp, offset in offsets.items():
            self.set_persisted_offset(tp, offset)
