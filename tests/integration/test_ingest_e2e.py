"""Ingest end to end: fake cluster (real gRPC) + workload + real Kafka, checked against the MVCC.

The topic must hold every committed change in (T, E] of the selected tables (once or more,
never missing, nothing else), watermarks increasing per partition and END last.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ingest.worker import Progress, run_ingest

from .ingest_harness import cluster_env, delete_topics, dump_topic, expected_changes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def job_name(hint: str) -> str:
    return f"ingest-{hint}-{uuid.uuid4().hex[:8]}"


def check_partition_order(dump: Any, end_ts: int) -> None:
    for p, envs in dump.partitions.items():
        assert envs, f"partition {p} is empty"
        assert envs[-1].WhichOneof("body") == "end", f"partition {p} does not end with END"
        end = envs[-1].end
        assert end.end_ts == end_ts
        marks = [e.watermark.resolved_ts for e in envs if e.WhichOneof("body") == "watermark"]
        assert marks == sorted(set(marks)), f"partition {p}: watermarks not increasing"
        batches = [e.change_batch for e in envs if e.WhichOneof("body") == "change_batch"]
        assert [b.seq for b in batches] == list(range(1, len(batches) + 1))
        assert end.batches == len(batches)
        assert end.total_changes == sum(len(b.changes) for b in batches)
        # every change at or below a watermark came before it
        last_mark = 0
        for e in envs:
            kind = e.WhichOneof("body")
            if kind == "watermark":
                last_mark = e.watermark.resolved_ts
            elif kind == "change_batch":
                assert all(c.commit_ts > last_mark for c in e.change_batch.changes)


async def test_topic_holds_exactly_the_window(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Any
) -> None:
    async with cluster_env(mysql_db, seed=11) as env:
        w = env.workload
        await w.run(15)
        sp = await w.take_syncpoint()
        await w.run(40)
        await w.tear()
        job = job_name("e2e")
        seen: list[Progress] = []
        config = env.config(kafka_bootstrap, job, record=tmp_path / "rec.bin")
        try:
            result = await run_ingest(config, seen.append)
            assert result.state == "done"
            assert result.target_ts == sp.ts
            await w.run(5)  # after E: must not show up
            dump = await dump_topic(kafka_bootstrap, config.topic, config.partitions)
        finally:
            await delete_topics(kafka_bootstrap, [config.topic])
        want = expected_changes(env.cluster.mvcc, env.physical_ids(), sp.ts, result.end_ts)
        got = dump.changes()
        assert want, "the workload wrote nothing in the window"
        assert set(got) == want
        assert result.changes == len(got)
        check_partition_order(dump, result.end_ts)
        assert seen and seen[-1].state == "done"
        assert seen[-1].regions_initialized > 0
        assert (tmp_path / "rec.bin").stat().st_size > 0
