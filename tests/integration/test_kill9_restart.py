"""kill -9 of a worker while it applies, 2 workers × 8 partitions, then a restart (issue 14).

The hang: a worker holding ``<job>.kv`` partitions that nobody had committed an offset for
fetched their records, a rebalance (the killed worker's session expiring, the restarted one
joining) made Faust drop what it had fetched and "seek back to the committed offsets", which for
a partition without one is no seek at all: the worker kept the partitions, never saw their End
again, and the job stayed RUNNING ("5 of 8 partitions finished") for ever.

Each try takes its own seed for the workload, the moment of the kill and the delay of the
restart: the first worker starts alone and takes all 8 partitions, the second joins when the
first has reached the apply, the first is killed at a random moment of its apply (before it
ever commits, as when the apply starts soon after the worker) and restarted after a random
delay around the dead member's session expiry (6 s), so the group rebalances while the workers
hold freshly fetched, uncommitted partitions. Every try must end SUCCEEDED, every table equal to
its state at T row by row. ``TIUNDO_KILL9_TRIES=N`` runs N more seeds.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.cli.jobstate import delete_job_topics
from proto import tiundo_pb2

from .faust_undo_harness import Worker, read_compacted, wait_status
from .ingest_harness import cluster_env, delete_topics
from .test_e2e_undo import _assert_same_as_t, _prepare, _settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PARTITIONS = 8
MORE = int(os.environ.get("TIUNDO_KILL9_TRIES", "0") or 0)
TRIES = [101, 202, 303, 404, 505] + [2000 + i for i in range(MORE)]
#: a healthy try reports within ~15 s of the restart; a hang never does
STATUS_WITHIN_S = 75.0


async def _committed_offsets(kafka: str, job: str) -> str:
    """``p=committed/end`` of every ``<job>.kv`` partition (for the failure message)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(f"tiundo-{job}")
        tps = [TopicPartition(f"{job}.kv", p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(tps)
        got = {tp.partition: meta.offset for tp, meta in committed.items() if tp in ends}
        return " ".join(f"{tp.partition}={got.get(tp.partition)}/{ends[tp]}" for tp in tps)
    finally:
        await consumer.stop()
        await admin.close()


async def _try(mysql_db: Any, kafka: str, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    job = f"kill9-{seed}-{uuid.uuid4().hex[:6]}"
    workers: list[Worker] = []
    async with cluster_env(mysql_db, seed=seed, rows=200) as env:
        try:
            sp, result = await _prepare(env, kafka, job, 800, partitions=PARTITIONS)
            # one row per transaction: the apply lasts long enough to be hit
            settings = _settings(
                env, kafka, job, mysql_db, sp, partitions=PARTITIONS,
                TIUNDO_BATCH_ROWS="1", TIUNDO_TXN_STATEMENTS="1", TIUNDO_STALL_S="30",
            )  # fmt: skip
            first = Worker(settings, tmp_path / "w0", tmp_path / "w0.log")
            workers = [first]
            async with asyncio.timeout(120):  # it holds all 8 partitions and applies
                while "End (T=" not in first.log.read_text(errors="replace"):
                    assert first.alive(), first.tail()
                    await asyncio.sleep(0.05)
            workers.append(
                Worker(settings, tmp_path / "w1", tmp_path / "w1.log", entry="run_worker")
            )
            # kill at a random moment of the apply, at the latest when half the partitions are done
            kill_at = asyncio.get_running_loop().time() + rng.uniform(0.3, 1.5)
            while asyncio.get_running_loop().time() < kill_at:
                notes = await read_compacted(kafka, f"{job}.progress")
                if sum(k.startswith(b"part/") for k in notes) >= PARTITIONS // 2:
                    break
                await asyncio.sleep(0.05)
            first.kill9()
            notes = await read_compacted(kafka, f"{job}.progress")
            assert sum(k.startswith(b"part/") for k in notes) < PARTITIONS, "killed too late"
            await asyncio.sleep(rng.uniform(0.5, 5.5))  # around the dead session's expiry
            first.start()
            try:
                status = await wait_status(kafka, job, workers, STATUS_WITHIN_S)
            except BaseException as exc:
                offsets = await _committed_offsets(kafka, job)
                exc.add_note(f"seed {seed}: kv committed/end offsets: {offsets}")
                raise
            tails = "\n".join(w.tail() for w in workers)
            assert status.state == tiundo_pb2.JobStatus.SUCCEEDED, f"{status}\n{tails}"
            assert status.target_ts == sp.ts and status.end_ts == result.end_ts
            assert status.dead_letters == 0
            assert sum(t.restored + t.deleted for t in status.tables) > 0
            _assert_same_as_t(env.workload, await env.workload.checksums(), sp.checksums)
        finally:
            for w in workers:
                w.stop()
            await delete_topics(kafka, [f"{job}.kv"])
            await delete_job_topics(kafka, job)


@pytest.mark.parametrize("seed", TRIES)
async def test_kill9_mid_apply_then_restart_ends_at_t(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path, seed: int
) -> None:
    await _try(mysql_db, kafka_bootstrap, tmp_path, seed)
