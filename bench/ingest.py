"""Ingest benchmark: change events/s from the fake TiKV into Kafka with one ingest process.

The fake cluster runs in a child process (its own core); it holds one table with ``--rows``
keys, each written ``--versions`` times after T (so the incremental scan sends
rows × versions COMMITTED events with old values). This process runs :func:`run_ingest` with
T and E given, against the real Kafka broker (TIUNDO_KAFKA, default 127.0.0.1:9092), and
prints events/s over the feed (from the first registration to END delivered), the median of
``--repeat`` runs, then the cProfile top 5 (by own time) of one more run. cProfile sees only
the event-loop thread (EventFeed reading, matcher, filter, batcher); the producer's sender
thread (record encoding, aiokafka) is not in it.

    .venv/bin/python bench/ingest.py --rows 20000 --versions 5 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing as mp
import os
import pstats
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka.admin import AIOKafkaAdminClient

from ingest.config import IngestConfig
from ingest.worker import run_ingest

DB = "bench"


def _cluster_main(conn: mp.connection.Connection, rows: int, versions: int, value: int) -> None:
    from simulator.cluster import FakeCluster
    from simulator.mvcc import Mutation, Op
    from simulator.regions import record_key
    from simulator.tabledef import ColumnDef, TableDef

    async def main() -> None:
        cluster = FakeCluster(
            stores=2,
            regions_per_table=4,
            handle_step=max(rows // 4, 1),
            resolved_ts_interval=0.05,
        )
        await cluster.start()
        tdef = TableDef(
            DB,
            "t",
            (ColumnDef("id", "bigint", nullable=False), ColumnDef("v", "varbinary", length=512)),
            primary_key=("id",),
        )
        cluster.catalog.create_database(DB)
        info = cluster.catalog.add_table(tdef)
        cluster.ensure_table(info.id)
        target = cluster.tso.next()
        payload = b"x" * value
        for v in range(versions):
            for start in range(0, rows, 5000):
                muts = [
                    Mutation(record_key(info.id, h), Op.PUT, payload + bytes([v]))
                    for h in range(start, min(rows, start + 5000))
                ]
                cluster.mvcc.write_txn(muts, one_pc=True)
        end = cluster.tso.next()
        conn.send((cluster.pd_address, cluster.status_address, target, end))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await cluster.stop()

    asyncio.run(main())


async def _delete(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def one_run(base: IngestConfig) -> tuple[float, int]:
    cfg = base.replace(job=f"bench-{uuid.uuid4().hex[:8]}")
    try:
        result = await run_ingest(cfg)
    finally:
        await _delete(cfg.kafka_bootstrap, cfg.topic)
    assert result.state == "done", result
    return result.changes / result.feed_duration_s, result.changes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--versions", type=int, default=5)
    ap.add_argument("--value", type=int, default=64, help="value bytes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args()
    kafka = os.environ.get("TIUNDO_KAFKA", "127.0.0.1:9092").removeprefix("kafka://")

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=_cluster_main, args=(child, args.rows, args.versions, args.value), daemon=True
    )
    proc.start()
    t0 = time.monotonic()
    pd, status, target, end = parent.recv()
    print(f"fake cluster ready in {time.monotonic() - t0:.1f}s (pd {pd})", file=sys.stderr)
    base = IngestConfig(
        pd=pd,
        kafka=kafka,
        status_api=f"http://{status}",
        tables=(f"{DB}.*",),
        to_ts=target,
        end_ts=end,
        partitions=args.partitions,
        progress_interval_s=60,
    )
    try:
        rates = []
        for _ in range(args.repeat):
            rate, changes = asyncio.run(one_run(base))
            rates.append(rate)
            print(f"run: {changes} events, {rate:,.0f} events/s", file=sys.stderr)
        prof = cProfile.Profile()
        prof.enable()
        asyncio.run(one_run(base))
        prof.disable()
    finally:
        parent.send("stop")
        proc.join(10)
    print(
        f"ingest: median {statistics.median(rates):,.0f} change events/s "
        f"({args.rows} keys x {args.versions} versions, {args.value} B values, "
        f"{args.partitions} partitions; target >= 100,000)"
    )
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(5)


if __name__ == "__main__":
    main()
