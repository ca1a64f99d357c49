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


def test_table_regions_have_their_leaders_spread_over_the_stores() -> None:
    """As PD's balance-leader leaves a real cluster: every store leads some table regions."""
    c = FakeCluster(stores=3, regions_per_table=2, handle_step=10, status_api=False)
    for table_id in (9, 11, 13):
        c.ensure_table(table_id)
    table_regions = [
        r
        for t in (9, 11, 13)
        for r in c.regions.scan(encode_bytes(table_prefix(t)), encode_bytes(table_prefix(t + 1)))
    ]
    leaders = [r.leader_store for r in table_regions]
    assert len(table_regions) == 6
    assert sorted(leaders) == [1, 1, 2, 2, 3, 3]
    assert all(r.peer_on(r.leader_store) is not None for r in table_regions)


def test_leaders_stay_on_the_splitting_store_without_spreading() -> None:
    c = FakeCluster(
        stores=3, regions_per_table=2, handle_step=10, status_api=False, spread_leaders=False
    )
    c.ensure_table(9)
    assert {r.leader_store for r in c.regions.all()} == {1}


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
