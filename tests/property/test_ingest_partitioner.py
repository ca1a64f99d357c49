"""Property: partitions are in range, deterministic, and one row key has one partition."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.keyspace import record_prefix
from ingest.partitioner import Partitioner

table_ids = st.integers(-(2**63), 2**63 - 1)


@given(
    n=st.integers(1, 64),
    table_id=table_ids,
    handles=st.lists(st.binary(min_size=1, max_size=24), min_size=1, max_size=20),
    spread=st.booleans(),
)
def test_one_row_one_partition(n: int, table_id: int, handles: list[bytes], spread: bool) -> None:
    a = Partitioner(n, spread_tables={table_id} if spread else ())
    b = Partitioner(n, spread_tables=[table_id, table_id] if spread else [])
    parts = set()
    for h in handles:
        key = record_prefix(table_id) + h
        p = a.partition(table_id, key)
        assert 0 <= p < n
        assert p == b.partition(table_id, bytes(key)) == a.partition(table_id, key)
        assert p in a.partitions_of(table_id)
        parts.add(p)
    if not spread:
        assert parts == {a.for_table(table_id)}
