"""The fake cluster over real gRPC, checked by the reference consumer in ``sim_client.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from core.codec.bytescodec import encode_bytes
from core.codec.keys import table_prefix
from simulator.cluster import FakeCluster
from simulator.faults import ErrorKind
from simulator.mvcc import Mutation, Op
from simulator.regions import record_key

from .sim_client import Event, Feed, Pd, errors, initialized, resolved, rows

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

T = 61
SPAN = (encode_bytes(table_prefix(T) + b"_r"), encode_bytes(table_prefix(T) + b"_s"))


def k(h: int) -> bytes:
    return record_key(T, h)


@pytest.fixture
async def cluster() -> AsyncIterator[FakeCluster]:
    c = FakeCluster(stores=3, resolved_ts_interval=0.05, status_api=False)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


@pytest.fixture
async def pd(cluster: FakeCluster) -> AsyncIterator[Pd]:
    client = Pd(cluster.pd_address)
    await client.connect()
    yield client
    await client.close()


async def open_feed(cluster: FakeCluster, pd: Pd, store_id: int, **kw: object) -> Feed:
    feed = Feed(await pd.store_address(store_id), pd.cluster_id, **kw)  # type: ignore[arg-type]
    await feed.open()
    return feed


async def test_scan_then_live_rows_and_resolved_ts_never_pass_a_lock(
    cluster: FakeCluster, pd: Pd
) -> None:
    mvcc = cluster.mvcc
    c1 = mvcc.write_txn([Mutation(k(1), Op.PUT, b"a1"), Mutation(k(2), Op.PUT, b"b1")])
    checkpoint = mvcc.tso.next()
    c2 = mvcc.write_txn([Mutation(k(1), Op.PUT, b"a2")])
    [region] = await pd.scan(*SPAN)
    feed = await open_feed(cluster, pd, region.leader.store_id)
    try:
        await feed.register(region, checkpoint_ts=checkpoint, start_key=SPAN[0], end_key=SPAN[1])
        await feed.wait_for(lambda m: initialized(m, region.region.id))
        scan = [(r.type, r.key, r.commit_ts, r.value, r.old_value) for r in rows(feed.messages)]
        assert scan == [
            (Event.COMMITTED, k(1), c2, b"a2", b"a1"),
            (Event.INITIALIZED, b"", 0, b"", b""),
        ]
        assert c1 < checkpoint
        # a lock held across ticks holds resolved ts back
        lock_ts = cluster.faults.hold_lock([Mutation(k(3), Op.PUT, b"c")])
        await feed.wait_for(lambda m: any(r.type == Event.PREWRITE for r in rows(m)))
        n = len(feed.messages)
        await feed.wait_for(lambda m: len(resolved(m[n:])) >= 3)
        assert all(r.ts <= lock_ts for r in resolved(feed.messages[n:]))
        commit_ts = cluster.faults.release_lock(lock_ts, [k(3)])
        await feed.wait_for(lambda m: any(r.ts > commit_ts for r in resolved(m)))
        live = [(r.type, r.key, r.start_ts, r.commit_ts) for r in rows(feed.messages)[2:]]
        assert live == [
            (Event.PREWRITE, k(3), lock_ts, 0),
            (Event.COMMIT, k(3), lock_ts, commit_ts),
        ]
        # resolved ts: only after INITIALIZED, monotone, request_id 0 on plain EventFeed
        first_init = next(
            i for i, m in enumerate(feed.messages) if initialized([m], region.region.id)
        )
        assert not resolved(feed.messages[:first_init])
        ts = [r.ts for r in resolved(feed.messages)]
        assert ts == sorted(ts)
        assert {r.request_id for r in resolved(feed.messages)} == {0}
        # every resolved ts sent before a commit is below its commit_ts
        for i, m in enumerate(feed.messages):
            for r in rows([m]):
                if r.type == Event.COMMIT:
                    assert all(x.ts < r.commit_ts for x in resolved(feed.messages[:i]))
    finally:
        await feed.close()


async def test_half_close_ends_ok(cluster: FakeCluster, pd: Pd) -> None:
    feed = await open_feed(cluster, pd, 1)
    try:
        await feed.call.done_writing()
        assert await feed.wait_end() == grpc.StatusCode.OK
    finally:
        await feed.close()


async def test_eventfeed_v2_probe_and_multiplexing(cluster: FakeCluster, pd: Pd) -> None:
    bad = await open_feed(cluster, pd, 1, v2_features="stream-multiplexing,teleport")
    try:
        assert await bad.wait_end() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await bad.close()
    cluster.ensure_table(T)
    [region] = await pd.scan(*SPAN)
    feed = await open_feed(cluster, pd, region.leader.store_id, v2_features="stream-multiplexing")
    try:
        await feed.register(region, request_id=11)
        await feed.register(region, request_id=12)
        await feed.wait_for(lambda m: {r.request_id for r in resolved(m)} == {11, 12})
    finally:
        await feed.close()


async def test_register_errors_and_deregister(cluster: FakeCluster, pd: Pd) -> None:
    cluster.ensure_table(T)
    [region] = await pd.scan(*SPAN)
    rid = region.region.id
    leader = region.leader.store_id
    follower = next(p.store_id for p in region.region.peers if p.store_id != leader)
    feed = await open_feed(cluster, pd, leader)
    ffeed = await open_feed(cluster, pd, follower)
    try:
        await feed.register(region, request_id=1, cluster_id=pd.cluster_id + 1)
        await ffeed.register(region, request_id=1)
        await ffeed.wait_for(lambda m: len(errors(m)) >= 1)  # before injecting: it is shared
        await feed.wait_for(lambda m: len(errors(m)) >= 1)
        cluster.faults.server_is_busy(rid)
        await feed.register(region, request_id=2)
        await feed.register(region, request_id=3)
        await feed.register(region, request_id=3)
        await feed.wait_for(lambda m: len(errors(m)) >= 3)
        assert errors(feed.messages) == [
            ("cluster_id_mismatch", rid, 1),
            ("server_is_busy", rid, 2),
            ("duplicate_request", rid, 3),
        ]
        assert errors(ffeed.messages) == [("not_leader", rid, 1)]
        await feed.deregister(3, rid)
        await feed.wait_for(lambda m: len(errors(m)) >= 4)
        assert errors(feed.messages)[3] == ("region_not_found", rid, 3)
        assert cluster.tikv(leader).subscriptions() == 0
    finally:
        await feed.close()
        await ffeed.close()


async def test_split_mid_scan_and_leader_move(cluster: FakeCluster, pd: Pd) -> None:
    for h in range(300):
        cluster.mvcc.write_txn([Mutation(k(h), Op.PUT, bytes(400))], one_pc=True)
    [region] = await pd.scan(*SPAN)
    rid = region.region.id
    cluster.faults.split_during_scan(rid, k(150), after_messages=1)
    cluster.tikv(region.leader.store_id).response_max_bytes = 64 * 1024  # several scan messages
    feed = await open_feed(cluster, pd, region.leader.store_id)
    try:
        await feed.register(region)
        await feed.wait_for(lambda m: bool(errors(m)))
        assert errors(feed.messages) == [("epoch_not_match", rid, 1)]
        assert not initialized(feed.messages, rid)  # the scan stopped with the error
        halves = await pd.scan(*SPAN)
        assert len(halves) == 2
        for half in halves:
            f = await open_feed(cluster, pd, half.leader.store_id)
            try:
                await f.register(half)
                await f.wait_for(lambda m, h=half: initialized(m, h.region.id))
                keys = [r.key for r in rows(f.messages) if r.type == Event.COMMITTED]
                is_right = half.region.start_key == encode_bytes(k(150))
                want = range(150, 300) if is_right else range(150)
                assert keys == [k(h) for h in want]
                new_leader = cluster.faults.move_leader(half.region.id)
                await f.wait_for(lambda m: bool(errors(m)))
                assert errors(f.messages) == [("not_leader", half.region.id, 1)]
                last = f.messages[-1].events[-1].error.not_leader.leader
                assert last.store_id == new_leader
            finally:
                await f.close()
    finally:
        await feed.close()


@pytest.mark.parametrize("kind", list(ErrorKind))
async def test_each_error_type_on_a_live_subscription(
    cluster: FakeCluster, pd: Pd, kind: ErrorKind
) -> None:
    cluster.ensure_table(T)
    [region] = await pd.scan(*SPAN)
    feed = await open_feed(cluster, pd, region.leader.store_id)
    try:
        await feed.register(region)
        await feed.wait_for(lambda m: initialized(m, region.region.id))
        assert cluster.faults.fail_region(region.region.id, kind) == 1
        await feed.wait_for(lambda m: bool(errors(m)))
        assert errors(feed.messages) == [(kind.value, region.region.id, 1)]
    finally:
        await feed.close()


async def test_store_stop_breaks_stream_and_restart_serves_again(
    cluster: FakeCluster, pd: Pd
) -> None:
    cluster.ensure_table(T)
    [region] = await pd.scan(*SPAN)
    store = region.leader.store_id
    address = cluster.store_addresses[store]
    feed = await open_feed(cluster, pd, store)
    try:
        await feed.register(region)
        await feed.wait_for(lambda m: initialized(m, region.region.id))
        await cluster.faults.stop_store(store)
        status = await feed.wait_end()
        assert status in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    finally:
        await feed.close()
    [moved] = await pd.scan(*SPAN)
    assert moved.leader.store_id != store  # leaders moved off before the stop
    await cluster.faults.restart_store(store)
    assert cluster.store_addresses[store] == address
    cluster.faults.move_leader(moved.region.id, store)
    [back] = await pd.scan(*SPAN)
    feed = await open_feed(cluster, pd, store)
    try:
        await feed.register(back)
        await feed.wait_for(lambda m: initialized(m, back.region.id))
    finally:
        await feed.close()


async def test_duplicates_stall_and_slow_stream(cluster: FakeCluster, pd: Pd) -> None:
    cluster.ensure_table(T)
    [region] = await pd.scan(*SPAN)
    rid = region.region.id
    feed = await open_feed(cluster, pd, region.leader.store_id)
    try:
        await feed.register(region)
        await feed.wait_for(lambda m: initialized(m, rid) and len(resolved(m)) >= 1)
        cluster.faults.duplicate_events()
        ts = cluster.mvcc.write_txn([Mutation(k(1), Op.PUT, b"x")], one_pc=True)
        await feed.wait_for(lambda m: sum(r.commit_ts == ts for r in rows(m)) == 2)
        cluster.faults.duplicate_events(False)
        cluster.faults.stall_resolved_ts(rid)
        n = len(feed.messages)
        await feed.wait_for(lambda m: len(resolved(m[n + 1 :])) >= 3)
        assert len({r.ts for r in resolved(feed.messages[n + 1 :])}) == 1
        cluster.faults.resume_resolved_ts()
        cluster.faults.slow_stream(region.leader.store_id, 0.2)
        n = len(feed.messages)
        loop_time = asyncio.get_running_loop().time
        t0 = loop_time()
        await feed.wait_for(lambda m: len(m) >= n + 3)
        assert loop_time() - t0 >= 0.4
        cluster.faults.slow_stream(region.leader.store_id, 0)
    finally:
        await feed.close()
