"""Which Kafka partition of ``<job>.kv`` a change goes to.

The compaction downstream keeps per-row-key state in partition-local RocksDB tables, so every
change of one row key must land on the same partition, in every process and every run. Hence no
builtin ``hash()`` (salted per process): CRC-32 (``zlib.crc32``, the IEEE polynomial) of fixed
byte strings, reduced modulo the partition count:

- ordinary table: ``crc32(int64_be(table_id)) % partitions``;
- table configured to spread: ``crc32(int64_be(table_id) + handle) % partitions``, where
  ``handle`` is the raw record key after ``t{table_id}_r`` (the bytes that identify the row).

The Kafka message key is the table id (:func:`table_key`), so tools and Faust see which table a
record belongs to; the partition is always chosen explicitly by this module, never by Kafka's
key hashing.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

from ingest.keyspace import parse_record_key

__all__ = ["Partitioner", "table_key"]

_I64 = struct.Struct(">q")


def table_key(table_id: int) -> bytes:
    """Kafka message key of a record of ``table_id``: its decimal id in ASCII."""
    return str(table_id).encode("ascii")


class Partitioner:
    """Stable table → partition map, by row handle for tables listed in ``spread_tables``."""

    __slots__ = ("_fixed", "partitions", "spread_tables")

    def __init__(self, partitions: int, spread_tables: Iterable[int] = ()) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self.partitions = partitions
        self.spread_tables = frozenset(spread_tables)
        self._fixed: dict[int, int] = {}  # table id → partition, memoised (hot path)

    def for_table(self, table_id: int) -> int:
        """Partition of every record of a table that is not spread."""
        p = self._fixed.get(table_id)
        if p is None:
            p = self._fixed[table_id] = zlib.crc32(_I64.pack(table_id)) % self.partitions
        return p

    def partition(self, table_id: int, key: bytes) -> int:
        """Partition of the change of raw record ``key`` of ``table_id``.

        For a spread table ``key`` must be a record key of that table (``ValueError`` if not):
        a wrong table id would silently scatter one row over two partitions.
        """
        if table_id not in self.spread_tables:
            return self.for_table(table_id)
        parsed = parse_record_key(key)
        if parsed is None or parsed[0] != table_id:
            raise ValueError(f"not a record key of table {table_id}: {key.hex()}")
        return zlib.crc32(_I64.pack(table_id) + parsed[1]) % self.partitions

    def partitions_of(self, table_id: int) -> tuple[int, ...]:
        """Every partition a table's records may land on."""
        if table_id in self.spread_tables:
            return tuple(range(self.partitions))
        return (self.for_table(table_id),)
