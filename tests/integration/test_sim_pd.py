"""The fake PD over real gRPC (facts/eventfeed.md §2) and the ``python -m simulator`` entry."""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from core.codec.bytescodec import encode_bytes
from core.codec.keys import table_prefix
from proto import pdpb_pb2
from simulator.cluster import FakeCluster
from simulator.regions import record_key

from .sim_client import Pd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def cluster() -> AsyncIterator[FakeCluster]:
    c = FakeCluster(stores=4, regions_per_table=3, cluster_id=4242, status_api=False)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


@pytest.fixture
async def pd(cluster: FakeCluster) -> AsyncIterator[Pd]:
    client = Pd(cluster.pd_address)
    yield client
    await client.close()


async def test_get_members_gives_cluster_id_and_leader(pd: Pd, cluster: FakeCluster) -> None:
    resp = await pd.stub.GetMembers(pdpb_pb2.GetMembersRequest())
    assert resp.header.cluster_id == 4242
    assert resp.leader.client_urls == [f"http://{cluster.pd_address}"]


async def test_wrong_cluster_id_is_failed_precondition(pd: Pd) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await pd.stub.GetAllStores(pdpb_pb2.GetAllStoresRequest())
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.details() == "mismatch cluster id, need 4242 but got 0"


async def test_tso_batches_return_last_logical(pd: Pd, cluster: FakeCluster) -> None:
    await pd.connect()
    call = pd.stub.Tso()
    try:
        got = []
        for count in (1, 10, 3):
            await call.write(pdpb_pb2.TsoRequest(header=pd.header(), count=count))
            resp = await call.read()
            assert resp.count == count
            got.append(((resp.timestamp.physical << 18) | resp.timestamp.logical, count))
        for (a, _), (b, n) in itertools.pairwise(got):
            assert b - n + 1 > a  # first of each batch is after the previous batch's last
        assert cluster.tso.next() > got[-1][0]
        await call.write(pdpb_pb2.TsoRequest(header=pd.header(), count=0))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        assert err.value.details() == "tso count should be positive"
    finally:
        call.cancel()


async def test_regions_per_table_and_scans(pd: Pd, cluster: FakeCluster) -> None:
    await pd.connect()
    cluster.ensure_table(70)
    start = encode_bytes(table_prefix(70) + b"_r")
    end = encode_bytes(table_prefix(70) + b"_s")
    regions = await pd.scan(start, end)
    assert len(regions) == 3
    assert regions[1].region.start_key == encode_bytes(record_key(70, 1000))
    assert all(r.leader.id in {p.id for p in r.region.peers} for r in regions)
    legacy = await pd.stub.ScanRegions(
        pdpb_pb2.ScanRegionsRequest(header=pd.header(), start_key=start, end_key=end)
    )
    assert [m.id for m in legacy.region_metas] == [r.region.id for r in regions]
    assert [p.id for p in legacy.leaders] == [r.leader.id for r in regions]
    batch = await pd.stub.BatchScanRegions(
        pdpb_pb2.BatchScanRegionsRequest(
            header=pd.header(),
            ranges=[pdpb_pb2.KeyRange(start_key=start, end_key=end)] * 2,
        )
    )
    assert [r.region.id for r in batch.regions] == [r.region.id for r in regions]
    one = await pd.stub.GetRegion(pdpb_pb2.GetRegionRequest(header=pd.header(), region_key=start))
    assert one.region.id == regions[0].region.id and one.leader.id == regions[0].leader.id
    by_id = await pd.stub.GetRegionByID(
        pdpb_pb2.GetRegionByIDRequest(header=pd.header(), region_id=regions[2].region.id)
    )
    assert by_id.region.start_key == regions[2].region.start_key


async def test_stores(pd: Pd, cluster: FakeCluster) -> None:
    await pd.connect()
    resp = await pd.stub.GetAllStores(
        pdpb_pb2.GetAllStoresRequest(header=pd.header(), exclude_tombstone_stores=True)
    )
    assert [s.id for s in resp.stores] == [1, 2, 3, 4]
    assert {s.address for s in resp.stores} == set(cluster.store_addresses.values())
    assert all(s.version == "8.5.0" for s in resp.stores)
    missing = await pd.stub.GetStore(pdpb_pb2.GetStoreRequest(header=pd.header(), store_id=99))
    assert missing.header.error.type == pdpb_pb2.UNKNOWN


async def test_service_gc_safe_point(pd: Pd, cluster: FakeCluster) -> None:
    await pd.connect()
    h = pd.header()
    resp = await pd.stub.UpdateServiceGCSafePoint(
        pdpb_pb2.UpdateServiceGCSafePointRequest(
            header=h, service_id=b"tiundo-1", TTL=60, safe_point=500
        )
    )
    assert (resp.service_id, resp.min_safe_point) == (b"tiundo-1", 500)
    assert cluster.pd.servicer.min_service_safe_point() == 500
    cluster.pd.servicer.gc_safe_point = 600
    refused = await pd.stub.UpdateServiceGCSafePoint(
        pdpb_pb2.UpdateServiceGCSafePointRequest(
            header=h, service_id=b"late", TTL=60, safe_point=550
        )
    )
    assert refused.min_safe_point > 550
    gc = await pd.stub.GetGCSafePoint(pdpb_pb2.GetGCSafePointRequest(header=h))
    assert gc.safe_point == 600
    await pd.stub.UpdateServiceGCSafePoint(
        pdpb_pb2.UpdateServiceGCSafePointRequest(header=h, service_id=b"tiundo-1", TTL=0)
    )
    assert cluster.pd.servicer.min_service_safe_point() is None


async def test_several_members_and_a_leader_move() -> None:
    """Any member answers GetMembers naming the leader; the others refuse with "not leader"."""
    async with FakeCluster(stores=3, status_api=False, pd_members=3, cluster_id=4242) as c:
        clients = [Pd(a) for a in c.pd_addresses]
        try:
            for client in clients:
                resp = await client.stub.GetMembers(pdpb_pb2.GetMembersRequest())
                assert [m.client_urls[0] for m in resp.members] == [
                    f"http://{a}" for a in c.pd_addresses
                ]
                assert resp.leader.client_urls == [f"http://{c.pd_addresses[0]}"]
                assert len({m.member_id for m in resp.members}) == 3
                await client.connect()
            req = pdpb_pb2.GetAllStoresRequest(header=clients[0].header())
            assert len((await clients[0].stub.GetAllStores(req)).stores) == 3
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await clients[1].stub.GetAllStores(req)
            assert (err.value.code(), err.value.details()) == (
                grpc.StatusCode.UNAVAILABLE,
                "not leader",
            )
            c.faults.move_pd_leader(1)
            assert len((await clients[1].stub.GetAllStores(req)).stores) == 3
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await clients[0].stub.GetAllStores(req)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            # the leader dies: no leader until the lease runs out, then another member leads
            await c.faults.stop_pd(1, elect_after=0.3)
            resp = await clients[2].stub.GetMembers(pdpb_pb2.GetMembersRequest())
            assert not resp.HasField("leader") and len(resp.members) == 3
            await asyncio.sleep(0.5)
            resp = await clients[2].stub.GetMembers(pdpb_pb2.GetMembersRequest())
            assert resp.leader.client_urls == [f"http://{c.pd_addresses[2]}"]
            await c.faults.restart_pd(1)
            assert c.pd_shared.leader == 2  # a restarted member comes back as a follower
        finally:
            for client in clients:
                await client.close()


async def test_pd_hears_of_a_split_only_after_the_heartbeat_lag(
    pd: Pd, cluster: FakeCluster
) -> None:
    await pd.connect()
    cluster.ensure_table(70)
    start = encode_bytes(table_prefix(70) + b"_r")
    end = encode_bytes(table_prefix(70) + b"_s")
    before = [r.region.id for r in await pd.scan(start, end)]
    cluster.faults.pd_heartbeat_lag(0.5)
    parent = cluster.regions.locate_raw(record_key(70, 5))
    left, right = cluster.faults.split(parent.id, record_key(70, 5))
    stale = await pd.scan(start, end)
    assert [r.region.id for r in stale] == before  # PD still has the parent, old epoch
    assert stale[0].region.region_epoch.version == parent.version
    await asyncio.sleep(0.6)
    assert [r.region.id for r in await pd.scan(start, end)] == [left, right, *before[1:]]


async def test_entry_point_prints_pd_address_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulator", "--stores", "2", "--no-status-api",
        "--cluster-id", "99", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        client = Pd(line)
        try:
            assert await client.connect() == 99
        finally:
            await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0
