"""PD client and GC keeper against the simulator's PD over loopback gRPC (no Kafka)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

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


class _TornTso:
    """The PD stub, whose Tso calls fail in grpc's own layer as a torn-down call does.

    ``fail_close``: the half-close after the answer fails (the call ended between the read and
    it); ``fail_writes``: that many first writes fail (the channel was closed under the call).
    Seen in the 10 M-change bench: ``ExecuteBatchError: Failed "execute_batch":
    (SendCloseFromClientOperation,)`` ended a whole job (``tiundo run`` exit 1).
    """

    def __init__(self, stub: object, *, fail_close: bool = False, fail_writes: int = 0) -> None:
        self._stub = stub
        self.fail_close = fail_close
        self.fail_writes = fail_writes

    def __getattr__(self, name: str) -> object:
        return getattr(self._stub, name)

    def Tso(self, **kwargs: object) -> object:
        from grpc._cython import cygrpc

        call = self._stub.Tso(**kwargs)  # type: ignore[attr-defined]
        outer = self

        class Call:
            def __getattr__(self, name: str) -> object:
                return getattr(call, name)

            async def write(self, req: object) -> None:
                if outer.fail_writes:
                    outer.fail_writes -= 1
                    call.cancel()
                    raise cygrpc.ExecuteBatchError('Failed "execute_batch"')
                await call.write(req)

            async def done_writing(self) -> None:
                if outer.fail_close:
                    raise cygrpc.ExecuteBatchError('Failed "execute_batch"')
                await call.done_writing()

        return Call()


async def test_tso_answered_then_torn_down_still_gives_the_answer(cluster: FakeCluster) -> None:
    async with PDClient([cluster.pd_address], timeout=2) as pd:
        before = await pd.tso()
        pd._stub = _TornTso(pd._stub, fail_close=True)
        assert await pd.tso() > before


async def test_tso_call_torn_down_before_its_answer_is_retried(cluster: FakeCluster) -> None:
    async with PDClient([cluster.pd_address], timeout=2) as pd:
        before = await pd.tso()
        torn = _TornTso(pd._stub, fail_writes=1)
        pd._stub = torn
        pd.connect = _keep(pd, torn)  # type: ignore[method-assign,assignment]
        assert await pd.tso() > before
        assert torn.fail_writes == 0  # the first call did fail


async def test_tso_call_torn_down_twice_is_a_pd_error(cluster: FakeCluster) -> None:
    async with PDClient([cluster.pd_address], timeout=2) as pd:
        torn = _TornTso(pd._stub, fail_writes=2)
        pd._stub = torn
        pd.connect = _keep(pd, torn)  # type: ignore[method-assign,assignment]
        with pytest.raises(PDError, match=r"PD Tso at .*ExecuteBatchError"):
            await pd.tso()


def _keep(pd: PDClient, stub: Any) -> Callable[..., Awaitable[None]]:
    """A re-discovery that keeps ``stub`` (the real one would replace the wrapper)."""

    async def connect() -> None:
        pd._stub = stub

    return connect


async def test_a_rediscovery_does_not_cancel_calls_in_flight(
    cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One task's re-discovery replaced the channel another task's call was on.

    Closing the old channel at once cancelled that call, and the task awaiting it got a bare
    CancelledError, which ends a scheduler or GC-keeper task in silence. The old channel now
    closes with a grace period: calls on it finish (or fail with their own RPC error).
    """
    servicer = cluster.pd.servicer
    validate = servicer._validate
    answering = asyncio.Event()
    slow = {"next": False}

    async def slow_validate(*args: Any) -> Any:
        if slow["next"]:  # the next request (the TSO below) waits before its answer
            slow["next"] = False
            answering.set()
            await asyncio.sleep(0.5)
        return await validate(*args)

    monkeypatch.setattr(servicer, "_validate", slow_validate)
    async with PDClient([cluster.pd_address], timeout=5) as pd:
        before = pd._channel
        slow["next"] = True
        call = asyncio.create_task(pd.tso())
        await asyncio.wait_for(answering.wait(), 5)
        await pd.connect()  # another task's re-discovery
        assert pd._channel is not before
        assert await call > 0
