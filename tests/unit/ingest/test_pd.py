"""PD client and GC keeper against the simulator's PD over loopback gRPC (no Kafka)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from core.errors import UnsafeToUndoError
from ingest.keyspace import record_span
from ingest.pd import PDClient, PDError
from ingest.window import GcSafepointKeeper
from simulator.cluster import FakeCluster
from simulator.regions import record_key

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def cluster() -> AsyncIterator[FakeCluster]:
    c = FakeCluster(stores=3, regions_per_table=3, handle_step=10, status_api=False)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def test_members_tso_regions_stores(cluster: FakeCluster) -> None:
    cluster.ensure_table(70)
    cluster.regions.split(cluster.regions.locate_raw(record_key(70, 15)).id, record_key(70, 15))
    async with PDClient(["127.0.0.1:1", cluster.pd_address], timeout=2) as pd:
        assert pd.cluster_id == cluster.cluster_id
        a, b = await pd.tso(), await pd.tso()
        assert 0 < a < b
        span = record_span(70)
        regions = await pd.scan_regions(span, limit=1)  # paging, one region per call
        assert len(regions) == 4
        assert regions[0].span.start <= span.start
        assert regions[-1].span.end == b"" or regions[-1].span.end >= span.end
        for left, right in itertools.pairwise(regions):
            assert left.span.end == right.span.start
        assert all(r.leader_store_id in (1, 2, 3) for r in regions)
        stores = await pd.get_all_stores()
        assert {s: i.address for s, i in stores.items()} == cluster.store_addresses
        with pytest.raises(PDError):
            await pd.get_store(99)


async def test_no_pd_answers() -> None:
    with pytest.raises(PDError, match="no PD endpoint"):
        await PDClient(["127.0.0.1:1"], timeout=0.5).connect()


async def test_gc_keeper_holds_and_releases(cluster: FakeCluster) -> None:
    servicer = cluster.pd.servicer
    async with PDClient([cluster.pd_address]) as pd:
        t = await pd.tso()
        keeper = GcSafepointKeeper(pd, "tiundo-j", t, ttl_s=30)
        await keeper.start()
        assert servicer.service_safe_points[b"tiundo-j"].safe_point == t
        await keeper.stop()
        assert b"tiundo-j" not in servicer.service_safe_points


async def test_gc_keeper_refuses_t_below_gc_safepoint(cluster: FakeCluster) -> None:
    async with PDClient([cluster.pd_address]) as pd:
        t = await pd.tso()
        cluster.pd.servicer.gc_safe_point = t + 1
        keeper = GcSafepointKeeper(pd, "tiundo-k", t, ttl_s=30)
        with pytest.raises(UnsafeToUndoError, match="below the cluster GC safepoint"):
            await keeper.start()
        assert keeper.task is None
