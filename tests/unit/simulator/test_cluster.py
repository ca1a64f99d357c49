from __future__ import annotations

import pytest

from core.codec.bytescodec import encode_bytes
from core.codec.keys import table_prefix
from simulator.cluster import FakeCluster
from simulator.mvcc import Mutation, Op
from simulator.regions import record_key


def test_first_write_of_a_table_gives_it_regions() -> None:
    c = FakeCluster(stores=3, regions_per_table=4, handle_step=10, status_api=False)
    assert len(c.regions) == 1
    c.mvcc.write_txn([Mutation(record_key(9, 5), Op.PUT, b"v")])
    span = c.regions.scan(encode_bytes(table_prefix(9)), encode_bytes(table_prefix(10)))
    assert [r.raw_start for r in span] == [table_prefix(9)] + [
        record_key(9, h) for h in (10, 20, 30)
    ]
    n = len(c.regions)
    c.mvcc.write_txn([Mutation(record_key(9, 6), Op.PUT, b"v")])
    assert len(c.regions) == n  # once per table


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        FakeCluster(stores=0)
    with pytest.raises(ValueError):
        FakeCluster(regions_per_table=0)


async def test_start_stop_addresses_and_restart_same_port() -> None:
    async with FakeCluster(stores=2, status_api=False) as c:
        addrs = c.store_addresses
        assert set(addrs) == {1, 2} and all(a.startswith("127.0.0.1:") for a in addrs.values())
        assert c.pd_address.startswith("127.0.0.1:")
        await c.faults.stop_store(1)
        assert not c.tikv(1).running
        await c.faults.restart_store(1)
        assert c.store_addresses == addrs
    assert not c.tikv(2).running
