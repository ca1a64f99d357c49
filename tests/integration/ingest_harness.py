"""Ingest end-to-end test kit: fake cluster + workload, expected changes, topic dump.

The expectation is computed from the fake cluster's MVCC store, independently of ingest: every
committed version of a selected table's record key with ``T < commit_ts <= E``, with the
previous version's value as old value (empty when absent or deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import aiomysql
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ingest.config import IngestConfig
from ingest.keyspace import record_prefix
from proto import tiundo_pb2
from simulator.cluster import FakeCluster
from simulator.mvcc import MvccStore, Op
from simulator.workload import Workload, WorkloadConfig

# (key, start_ts, commit_ts, op, value, old_value)
ChangeTuple = tuple[bytes, int, int, int, bytes, bytes]


def expected_changes(
    mvcc: MvccStore, physical_ids: Iterable[int], target_ts: int, end_ts: int
) -> set[ChangeTuple]:
    out: set[ChangeTuple] = set()
    for pid in physical_ids:
        prefix = record_prefix(pid)
        end = prefix[:-1] + b"s"
        for key in mvcc.keys_in(prefix, end):
            prev = b""
            for v in mvcc.versions(key):  # oldest first
                value = v.value if v.op == Op.PUT else b""
                if target_ts < v.commit_ts <= end_ts:
                    out.add((key, v.start_ts, v.commit_ts, int(v.op), value, prev))
                prev = value
    return out


@dataclass
class TopicDump:
    """Every record of ``<job>.kv`` up to END, per partition, decoded."""

    partitions: dict[int, list[tiundo_pb2.Envelope]]

    def changes(self, window: set[ChangeTuple]) -> list[ChangeTuple]:
        """Every change the topic stands for, in record order, duplicates kept.

        A folded record (``versions`` >= 2, ``ingest/fold.py``) does not carry its key's middle
        versions: it is expanded into ``window``'s versions of its key from its first to its
        last commit ts, after checking that it stands for exactly that many and that its ends
        are theirs (the earliest's start ts, commit ts, op and old value; the latest's start ts,
        commit ts, op and value): what the undo keeps of them.
        """
        by_key: dict[bytes, list[ChangeTuple]] = {}
        for v in sorted(window, key=lambda v: v[2]):
            by_key.setdefault(v[0], []).append(v)
        out: list[ChangeTuple] = []
        for envs in self.partitions.values():
            for e in envs:
                if e.WhichOneof("body") != "change_batch":
                    continue
                for c in e.change_batch.changes:
                    one = (c.key, c.start_ts, c.commit_ts, c.op_type, c.value, c.old_value)
                    if c.versions <= 1:
                        out.append(one)
                        continue
                    span = [
                        v for v in by_key.get(c.key, []) if c.commit_ts <= v[2] <= c.last_commit_ts
                    ]
                    ends = (
                        (c.start_ts, c.commit_ts, c.op_type, c.old_value),
                        (c.last_start_ts, c.last_commit_ts, c.last_op_type, c.value),
                    )
                    assert len(span) == c.versions and ends == (
                        (span[0][1], span[0][2], span[0][3], span[0][5]),
                        (span[-1][1], span[-1][2], span[-1][3], span[-1][4]),
                    ), f"folded record {c} does not stand for the window's versions {span}"
                    out.extend(span)
        return out

    def without_job(self) -> dict[int, list[bytes]]:
        """Records per partition with the job id blanked (to compare two jobs' topics)."""
        out: dict[int, list[bytes]] = {}
        for p, envs in self.partitions.items():
            rows = []
            for e in envs:
                copy = tiundo_pb2.Envelope()
                copy.CopyFrom(e)
                getattr(copy, copy.WhichOneof("body")).job_id = ""
                rows.append(copy.SerializeToString(deterministic=True))
            out[p] = rows
        return out


async def dump_topic(bootstrap: str, topic: str, partitions: int, limit_s: float = 30) -> TopicDump:
    """Read every partition from the start until its END record."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: dict[int, list[tiundo_pb2.Envelope]] = {p: [] for p in range(partitions)}
        ended: set[int] = set()
        async with asyncio.timeout(limit_s):
            while len(ended) < partitions:
                got = await consumer.getmany(timeout_ms=500)
                for tp, msgs in got.items():
                    for m in msgs:
                        env = tiundo_pb2.Envelope.FromString(m.value)
                        assert tp.partition not in ended, "record after END"
                        out[tp.partition].append(env)
                        if env.WhichOneof("body") == "end":
                            ended.add(tp.partition)
        return TopicDump(out)
    finally:
        await consumer.stop()


async def delete_topics(bootstrap: str, topics: Iterable[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics(list(topics))
    finally:
        await admin.close()


@dataclass
class Env:
    """A running fake cluster with a workload in a fresh MariaDB database."""

    cluster: FakeCluster
    workload: Workload
    conn: Any
    db: str
    sp_db: str
    mysql_url: str

    def physical_ids(self) -> list[int]:
        return [pid for info in self.workload.tables for pid in info.physical_ids()]

    def config(self, kafka: str, job: str, **kw: Any) -> IngestConfig:
        base: dict[str, Any] = {
            "pd": f"pd://{self.cluster.pd_address}",
            "kafka": f"kafka://{kafka}",
            "status_api": self.cluster.status_url,
            "downstream": self.mysql_url,
            "syncpoint_db": self.sp_db,
            "job": job,
            "partitions": 4,
            "tables": (f"{self.db}.*",),
            "reconnect_base_s": 0.05,
            "reconnect_cap_s": 0.2,
            "region_retry_base_s": 0.02,
            "region_retry_cap_s": 0.2,
            "gc_ttl_s": 30,
        }
        base.update(kw)
        return IngestConfig(**base)


@contextlib.asynccontextmanager
async def cluster_env(
    mysql_db: Any,
    *,
    seed: int,
    stores: int = 3,
    regions_per_table: int = 2,
    rows: int = 8,
    **cluster_kw: Any,
) -> AsyncIterator[Env]:
    cluster = FakeCluster(
        stores=stores,
        regions_per_table=regions_per_table,
        resolved_ts_interval=0.05,
        handle_step=20,
        **cluster_kw,
    )
    await cluster.start()
    conn = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=False)
    sp_db = f"{mysql_db.db}_cdc"[:64]
    try:
        cfg = WorkloadConfig(seed=seed, syncpoint_db=sp_db, initial_rows=rows)
        w = Workload(conn, mysql_db.db, cluster.mvcc, cluster.catalog, cfg)
        await w.setup()
        await w.load(rows_per_table=rows)
        yield Env(cluster, w, conn, mysql_db.db, sp_db, mysql_db.url)
    finally:
        conn.close()
        admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
        try:
            async with admin.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{sp_db}`")
        finally:
            admin.close()
        await cluster.stop()
