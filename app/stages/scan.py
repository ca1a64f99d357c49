"""Reading one partition's RocksDB in key order: table runs, key ranges, chunks. Pure.

Works on any store with rocksdict's ``keys(from_key=)`` / ``items(from_key=)`` (iteration in
ascending byte order from the first key >= ``from_key``), so tests can use a plain fake.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from app.undo.mount import key_table_id
from core.codec.keys import TABLE_PREFIX, table_prefix

__all__ = ["chunks", "iter_range", "seq_totals", "table_ids_in"]


def iter_range(db: Any, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` with ``start <= key < end``, in key order."""
    for k, v in db.items(from_key=start):
        if k >= end:
            return
        yield bytes(k), bytes(v)


def chunks(items: Iterable[tuple[bytes, bytes]], n: int) -> Iterator[list[tuple[bytes, bytes]]]:
    """Consecutive lists of ``n`` items (the last one shorter)."""
    chunk: list[tuple[bytes, bytes]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def table_ids_in(db: Any) -> list[int]:
    """Physical table ids with row keys in a compact partition DB (one seek per table).

    Only record keys start with ``t`` (Faust's offset key starts with ``_``).
    """
    out: list[int] = []
    start = TABLE_PREFIX
    while True:
        first = next(iter(db.keys(from_key=start)), None)
        if first is None or not bytes(first).startswith(TABLE_PREFIX):
            return out
        tid = key_table_id(bytes(first))
        out.append(tid)
        start = table_prefix(tid + 1)


def seq_totals(db: Any) -> tuple[int, int]:
    """Distinct ChangeBatch seqs seen and their changes, from ``seq/<seq:020d>`` entries."""
    batches = changes = 0
    for _, v in iter_range(db, b"seq/", b"seq0"):
        batches += 1
        changes += int(v)
    return batches, changes
