"""The fence opening ends the ingest promptly, whatever the feed is waiting for (issue 14).

``tiundo run`` opens the fence once the job's status is final. An ingest that has not reached
E by then (a store down while PD still names it leader: the frontier waits for it, up to
``TIUNDO_STORE_OUTAGE_S``) kept the run alive with nothing left to do: the chaos soak's
``store-restart`` hang. The fence is also the ingest's signal to stop.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from ingest.worker import IngestWorker
from simulator.regions import record_key
from simulator.tso import compose, physical

from .ingest_harness import cluster_env, delete_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_fence_ends_an_ingest_waiting_for_a_down_store(
    mysql_db: Any, kafka_bootstrap: str
) -> None:
    async with cluster_env(mysql_db, seed=7) as env:
        w = env.workload
        await w.run(10)
        await w.take_syncpoint()
        await w.run(10)
        # E well ahead: the frontier needs every region, the down store's too, to pass it
        end_ts = compose(physical(env.cluster.tso.next()) + 60_000, 0)
        cfg = env.config(
            kafka_bootstrap, f"shut-{uuid.uuid4().hex[:8]}", end_ts=end_ts, store_outage_s=600
        )
        worker = IngestWorker(cfg)
        worker.fence = asyncio.Event()
        job = asyncio.create_task(worker.run())
        try:
            while (
                worker.core is None
                or worker.core.initialized < worker.core.regions
                or (not worker.core.regions)
            ):
                assert not job.done(), job
                await asyncio.sleep(0.05)
            pid = env.physical_ids()[0]
            store = env.cluster.regions.locate_raw(record_key(pid, 5)).leader_store
            # down for good; raft would elect new leaders only after the test
            await env.cluster.faults.kill_store(store, elect_after=600)
            await asyncio.sleep(1.0)  # its streams broke; the worker retries the store
            assert not job.done() and worker.state == "ingesting"
            t0 = time.monotonic()
            worker.fence.set()  # the job's status is final (a worker failed it)
            done, _ = await asyncio.wait({job}, timeout=15)
            assert done, f"the ingest did not end in 15 s after the fence opened ({worker.state})"
            result = job.result()
            assert result.state == "stopped"
            assert time.monotonic() - t0 < 15
        finally:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
            await delete_topics(kafka_bootstrap, [cfg.topic])
