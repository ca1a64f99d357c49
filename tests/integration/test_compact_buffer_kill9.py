"""kill -9 of a worker between merging records into its buffer and writing it (issue 15).

The compact agent merges records in memory and acks them only after the flush that writes them
(:mod:`app.stages.compact_flush`). A backlog of batches on one partition (small buffer: a flush
every ~1,000 changes) is compacted by one worker, killed -9 mid-way: the offsets committed at
that moment must cover only batches whose seqs were written (acks after the flush), and a
restarted worker on the same datadir must re-read the rest and end SUCCEEDED with the table
back at T row by row (nothing merged-but-unwritten was lost).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any

import aiomysql
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from app.cli.jobstate import delete_job_topics
from proto import tiundo_pb2
from simulator.catalog import Catalog
from simulator.status_api import StatusApiServer
from simulator.tabledef import ColumnDef, TableDef

from .faust_undo_harness import Worker, undo_env, wait_status
from .test_faust_undo_compact import _committed, _envelope, _expected, _rocksdb_states

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

T, E = 1_000, 1_000_000
PUT, DELETE = 1, 2
KEYS = 1500
BATCHES = 5000  # a backlog the first commit (1 s) cannot outrun: the kill lands mid-way
PER_BATCH = 20


def _history(seed: int) -> tuple[dict[int, str], dict[int, str], list[list[Any]]]:
    """Rows at T, rows at E, and BATCHES batches of (handle, commit_ts, op, new, old)."""
    rng = random.Random(seed)
    at_t = {h: f"t{h}" for h in range(1, KEYS + 1) if h % 3}
    now: dict[int, str | None] = {h: at_t.get(h) for h in range(1, KEYS + 1)}
    ts = T
    batches = []
    for _ in range(BATCHES):
        batch = []
        for h in rng.sample(range(1, KEYS + 1), PER_BATCH):
            ts += 1
            old = now[h]
            new = None if old is not None and rng.random() < 0.15 else f"v{h}-{ts}"
            batch.append((h, ts, PUT if new else DELETE, new, old))
            now[h] = new
        batches.append(batch)
    at_e = {h: v for h, v in now.items() if v is not None}
    return at_t, at_e, batches


async def _produce_all(bootstrap: str, topic: str, records: list[tuple[int, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(topic, v, key=b"t", partition=p) for p, v in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _end_offset(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return 0
        tps = [TopicPartition(topic, p) for p in range(2)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def _written_seqs(bootstrap: str, topic: str) -> set[int]:
    """Batch seqs written to the progress table (its changelog's ``seq/…`` keys)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(2)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: set[int] = set()
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                for rec in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                    if rec.key and rec.key.startswith(b"seq/"):
                        out.add(int(rec.key[4:]))
        return out
    finally:
        await consumer.stop()


async def test_kill9_between_merge_and_flush_loses_nothing(
    kafka_bootstrap: str, fresh_topic: Any, mysql_db: Any, tmp_path: Path
) -> None:
    job = f"bufkill-{uuid.uuid4().hex[:8]}"
    at_t, at_e, history = _history(seed=15)
    catalog = Catalog()
    tdef = TableDef(
        mysql_db.db, "t",
        (ColumnDef("id", "bigint", nullable=False), ColumnDef("v", "varchar", 40)),
        primary_key=("id",),
    )  # fmt: skip
    info = catalog.add_table(tdef)
    api = StatusApiServer(catalog)
    await api.start()
    admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
    worker = None
    try:
        async with admin.cursor() as cur:
            await cur.execute(tdef.create_sql())
            await cur.executemany(
                f"INSERT INTO `{mysql_db.db}`.t VALUES (%s, %s)", sorted(at_e.items())
            )
        kv = await fresh_topic(partitions=2, name=f"{job}.kv")
        envs = [_envelope(job, info, i + 1, b) for i, b in enumerate(history)]
        await _produce_all(kafka_bootstrap, kv, [(0, e.SerializeToString()) for e in envs])
        settings = undo_env(
            job=job, kafka=kafka_bootstrap, downstream=mysql_db.url, status_api=api.url,
            partitions=2, TIUNDO_PROGRESS_DB=mysql_db.db,
            TIUNDO_COMPACT_BUFFER_CHANGES="1000", TIUNDO_COMPACT_FLUSH_S="30",
        )  # fmt: skip
        datadir = tmp_path / "w"
        worker = Worker(settings, datadir, tmp_path / "w.log")
        changelog = f"tiundo-{job}-compact-changelog"
        group = f"tiundo-{job}"
        async with asyncio.timeout(90):  # until a flush was written and an offset committed
            while not await _committed(kafka_bootstrap, group, kv):
                assert worker.alive(), worker.tail()
                await asyncio.sleep(0.1)
        assert await _end_offset(kafka_bootstrap, changelog) > 0
        worker.kill9()
        committed = await _committed(kafka_bootstrap, group, kv)
        assert 0 < committed < BATCHES, f"the kill missed the compaction ({committed})"
        # an offset is committed only once the batches before it are written (seq = offset + 1)
        written = await _written_seqs(kafka_bootstrap, f"tiundo-{job}-progress-changelog")
        assert set(range(1, committed + 1)) <= written

        total = sum(len(e.change_batch.changes) for e in envs)
        end = tiundo_pb2.Envelope(
            end=tiundo_pb2.End(job_id=job, end_ts=E, target_ts=T, total_changes=total,
                               batches=BATCHES)
        )  # fmt: skip
        empty_end = tiundo_pb2.Envelope(end=tiundo_pb2.End(job_id=job, end_ts=E, target_ts=T))
        await _produce_all(
            kafka_bootstrap,
            kv,
            [(0, end.SerializeToString()), (1, empty_end.SerializeToString())],
        )
        worker.start()
        status = await wait_status(kafka_bootstrap, job, [worker], 150)
        worker.stop()
        assert status.state == tiundo_pb2.JobStatus.SUCCEEDED, (status, worker.tail())
        assert status.dead_letters == 0

        # every key's images are the merge of its whole history (re-delivery only adds counts)
        states = _rocksdb_states(datadir)
        want = _expected(envs)
        assert {k: (s.old_value, s.value) for k, s in states.items()} == {
            k: (s.old_value, s.value) for k, s in want.items()
        }
        assert all(states[k].changes >= want[k].changes for k in want)
        async with admin.cursor() as cur:
            await cur.execute(f"SELECT id, v FROM `{mysql_db.db}`.t ORDER BY id")
            assert dict(await cur.fetchall()) == at_t
    finally:
        if worker is not None:
            worker.stop()
        admin.close()
        await api.stop()
        await delete_job_topics(kafka_bootstrap, job)
