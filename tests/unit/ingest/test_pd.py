"""PD client and GC keeper against the simulator's PD over loopback gRPC (no Kafka)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from core.errors import UnsafeToUndoError
from ingest.keyspace import record_span
from ingest.pd import NoLeaderError, PDClient, PDError
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


@pytest.fixture
async def pd_trio() -> AsyncIterator[FakeCluster]:
    c = FakeCluster(stores=3, status_api=False, pd_members=3)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def test_pd_leader_moved_to_another_member(pd_trio: FakeCluster) -> None:
    """The old leader answers "not leader"; the client asks GetMembers and follows the move."""
    async with PDClient([pd_trio.pd_addresses[0]], timeout=2) as pd:
        a = await pd.tso()
        assert pd.leader == pd_trio.pd_addresses[0]
        assert pd_trio.faults.move_pd_leader(2) == 2
        b = await pd.tso()
        assert b > a
        assert pd.leader == pd_trio.pd_addresses[2]
        assert await pd.get_all_stores()


async def test_pd_leader_died_and_only_it_was_configured(pd_trio: FakeCluster) -> None:
    """As the Go client's updateURLs: the members GetMembers listed are tried when it dies."""
    async with PDClient([pd_trio.pd_addresses[0]], timeout=2) as pd:
        a = await pd.tso()
        assert set(pd.members) == set(pd_trio.pd_addresses)
        await pd_trio.faults.stop_pd(0)
        assert pd_trio.pd_shared.leader == 1
        b = await pd.tso()
        assert b > a
        assert pd.leader == pd_trio.pd_addresses[1]
        assert await pd.get_gc_safe_point() == 0


async def test_no_pd_leader_elected_yet_is_a_retriable_error(pd_trio: FakeCluster) -> None:
    async with PDClient([pd_trio.pd_addresses[0]], timeout=2) as pd:
        await pd.tso()
        await pd_trio.faults.stop_pd(0, elect_after=0.5)
        with pytest.raises(PDError, match="no leader") as info:
            await pd.tso()
        assert info.value.retriable
        await asyncio.sleep(0.6)
        assert await pd.tso() > 0


async def test_a_job_start_waits_out_a_pd_leader_election(pd_trio: FakeCluster) -> None:
    """The leader died just before the job started: the others answer "no leader" until the
    election; ``connect(election_s=…)`` waits for it instead of failing the job (chaos seed 2,
    ``pd-leader:stop/5@start``, failed `tiundo run` at once)."""
    await pd_trio.faults.stop_pd(0, elect_after=1.0)
    with pytest.raises(NoLeaderError, match="no leader"):
        await PDClient(pd_trio.pd_addresses, timeout=2).connect()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    pd = PDClient(pd_trio.pd_addresses, timeout=2)
    try:
        await pd.connect(election_s=10)
        assert pd.leader == pd_trio.pd_addresses[1]
        assert await pd.tso() > 0
    finally:
        await pd.close()
    assert loop.time() - t0 < 5


async def test_an_unreachable_pd_is_not_waited_for() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(PDError, match="no PD endpoint") as info:
        await PDClient(["127.0.0.1:1"], timeout=0.5).connect(election_s=30)
    assert not isinstance(info.value, NoLeaderError)
    assert loop.time() - t0 < 5
