"""Ingest end to end: fake cluster (real gRPC) + workload + real Kafka, checked against the MVCC.

The topic must hold every committed change in (T, E] of the selected tables (once or more,
never missing, nothing else), watermarks increasing per partition and END last.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from ingest.config import IngestConfig
from ingest.keyspace import record_span
from ingest.partitioner import Partitioner
from ingest.recording import RecordingReader
from ingest.region_worker import RegionWorker
from ingest.replay import feed_recording, run_replay
from ingest.worker import Progress, run_ingest
from simulator.faults import ErrorKind

from .ingest_harness import ChangeTuple, cluster_env, delete_topics, dump_topic, expected_changes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"


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
        # a folded record counts the changes it stands for
        assert end.total_changes == sum(max(c.versions, 1) for b in batches for c in b.changes)
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
        got = dump.changes(want)
        assert want, "the workload wrote nothing in the window"
        assert set(got) == want
        # keys written more than once after T came from the scan as folded records
        assert any(
            c.versions > 1
            for envs in dump.partitions.values()
            for e in envs
            if e.WhichOneof("body") == "change_batch"
            for c in e.change_batch.changes
        )
        assert result.changes == len(got)
        check_partition_order(dump, result.end_ts)
        assert seen and seen[-1].state == "done"
        assert seen[-1].regions_initialized > 0
        assert (tmp_path / "rec.bin").stat().st_size > 0


async def test_replay_yields_the_live_topic(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Any
) -> None:
    """A recording taken during a live run with faults replays to the same records."""
    rec = tmp_path / "live.rec"
    async with cluster_env(mysql_db, seed=23) as env:
        w = env.workload
        await w.run(10)
        sp = await w.take_syncpoint()
        await w.run(30)
        live_cfg = env.config(kafka_bootstrap, job_name("live"), record=rec)
        replay_cfg = live_cfg.replace(job=job_name("replay"), record=None)
        try:
            regions = [r.id for r in env.cluster.regions.all()][:4]
            for rid in regions:
                env.cluster.faults.fail_next_register(ErrorKind.EPOCH_NOT_MATCH, rid)
            live = await run_ingest(live_cfg)
            replayed = await run_replay(rec, replay_cfg)
            live_dump = await dump_topic(kafka_bootstrap, live_cfg.topic, live_cfg.partitions)
            replay_dump = await dump_topic(kafka_bootstrap, replay_cfg.topic, replay_cfg.partitions)
        finally:
            await delete_topics(kafka_bootstrap, [live_cfg.topic, replay_cfg.topic])
        assert live.state == replayed.state == "done"
        assert live.region_errors.get("epoch_not_match", 0) > 0
        assert replayed.changes == live.changes > 0
        assert replay_dump.without_job() == live_dump.without_job()
        want = expected_changes(env.cluster.mvcc, env.physical_ids(), sp.ts, live.end_ts)
        assert set(replay_dump.changes(want)) == want


async def test_committed_recording_replays(kafka_bootstrap: str) -> None:
    """tests/data/ingest/small.rec (taken from the fake cluster) replays to its known changes."""
    rec = DATA / "small.rec"
    expected = json.loads((DATA / "small.expected.json").read_text())
    reader = RecordingReader(rec)
    assert not reader.truncated
    cfg = IngestConfig(kafka=f"kafka://{kafka_bootstrap}", job=job_name("committed"), partitions=3)
    try:
        result = await run_replay(rec, cfg)
        dump = await dump_topic(kafka_bootstrap, cfg.topic, cfg.partitions)
    finally:
        await delete_topics(kafka_bootstrap, [cfg.topic])
    assert result.state == "done"
    assert result.target_ts == expected["target_ts"] and result.end_ts == expected["end_ts"]
    check_partition_order(dump, result.end_ts)
    want = recording_window(rec)
    assert digest(list(want)) == expected["changes_digest"]  # the committed expectation
    assert digest(dump.changes(want)) == expected["changes_digest"]
    assert len(set(dump.changes(want))) == expected["distinct_changes"]


def recording_window(rec: Path) -> set[ChangeTuple]:
    """Every change the recording's feed accepts, one per version (before the fold), as the
    region worker reports them; the committed digest checks this set independently."""
    reader = RecordingReader(rec)
    h = reader.header
    core = RegionWorker(
        target_ts=h.target_ts,
        end_ts=h.end_ts,
        spans={pid: record_span(pid) for pid in h.physical_ids()},
        partitioner=Partitioner(3),
    )
    return {
        (c.key, c.start_ts, c.commit_ts, int(c.op_type), c.value, c.old_value)
        for result in feed_recording(reader, core)
        for c in result.changes
    }


def digest(changes: list[Any]) -> str:
    h = hashlib.sha256()
    for c in sorted(set(changes)):
        h.update(repr(c).encode())
    return h.hexdigest()


async def make_committed_recording(mysql_db: Any, kafka: str, out_dir: Path) -> None:
    """Regenerate tests/data/ingest (run by hand: TIUNDO_REGEN_RECORDING=1)."""
    rec = out_dir / "small.rec"
    async with cluster_env(mysql_db, seed=3, rows=3, regions_per_table=2) as env:
        await env.workload.run(4)
        sp = await env.workload.take_syncpoint()
        await env.workload.run(12)
        cfg = env.config(kafka, job_name("rec"), record=rec, partitions=3)
        try:
            result = await run_ingest(cfg)
            dump = await dump_topic(kafka, cfg.topic, cfg.partitions)
        finally:
            await delete_topics(kafka, [cfg.topic])
        want = expected_changes(env.cluster.mvcc, env.physical_ids(), sp.ts, result.end_ts)
        assert set(dump.changes(want)) == want
        (out_dir / "small.expected.json").write_text(
            json.dumps(
                {
                    "target_ts": result.target_ts,
                    "end_ts": result.end_ts,
                    "distinct_changes": len(want),
                    "changes_digest": digest(list(want)),
                },
                indent=1,
            )
            + "\n"
        )


@pytest.mark.skipif(not os.environ.get("TIUNDO_REGEN_RECORDING"), reason="regeneration only")
async def test_regenerate_committed_recording(mysql_db: Any, kafka_bootstrap: str) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    await make_committed_recording(mysql_db, kafka_bootstrap, DATA)
    assert (DATA / "small.rec").stat().st_size > 0
