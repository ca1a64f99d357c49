"""How many row events per second the fake TiKV serves to ONE EventFeed stream.

The fake cluster runs in a child process (its own GIL), loaded with ``--keys`` int-handle rows of
one table, each with two committed versions, so every scan row carries a value and an old value.
The parent is a bare client (generated stubs only): it registers the table's region with
checkpoint 0 and times the incremental scan until INITIALIZED. Each run is a fresh stream;
the median of ``--runs`` is printed, with the time the server spent pre-building the Entries.

    .venv/bin/python bench/fake_tikv.py [--keys 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import time
from multiprocessing.connection import Connection as Pipe

import grpc

from core.codec.bytescodec import encode_bytes
from core.codec.keys import table_prefix
from proto import cdcpb_pb2, cdcpb_pb2_grpc, kvrpcpb_pb2, pdpb_pb2, pdpb_pb2_grpc
from simulator.regions import record_key

TABLE = 100
VALUE = bytes(range(64))  # ~ a short row in format v2
OPTIONS = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]


def serve(keys: int, pipe: Pipe) -> None:
    asyncio.run(_serve(keys, pipe))


async def _serve(keys: int, pipe: Pipe) -> None:
    from simulator.cdc_delegate import Connection, Subscription
    from simulator.cluster import FakeCluster
    from simulator.mvcc import Mutation, Op

    cluster = FakeCluster(stores=1, replicas=1, status_api=False, resolved_ts_interval=1.0)
    await cluster.start()
    t0 = time.perf_counter()
    for version in (b"a", b"b"):
        for lo in range(0, keys, 5000):
            muts = [
                Mutation(record_key(TABLE, h), Op.PUT, version + VALUE)
                for h in range(lo, min(keys, lo + 5000))
            ]
            cluster.mvcc.write_txn(muts, one_pc=True)
    load_s = time.perf_counter() - t0
    region = cluster.regions.locate_raw(record_key(TABLE, 0))
    t0 = time.perf_counter()
    conn = Connection(1, cluster.cluster_id, cluster.mvcc, cluster.regions)
    build = conn.scan(Subscription(0, region, region.raw_start, region.raw_end, 0, False))
    build_s = time.perf_counter() - t0
    pipe.send((cluster.pd_address, load_s, build_s, build.rows))
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    await cluster.stop()


async def one_run(pd_address: str) -> tuple[float, int]:
    async with grpc.aio.insecure_channel(pd_address, options=OPTIONS) as ch:
        pd = pdpb_pb2_grpc.PDStub(ch)
        members = await pd.GetMembers(pdpb_pb2.GetMembersRequest())
        cid = members.header.cluster_id
        h = pdpb_pb2.RequestHeader(cluster_id=cid)
        start = encode_bytes(table_prefix(TABLE) + b"_r")
        end = encode_bytes(table_prefix(TABLE) + b"_s")
        regions = await pd.ScanRegions(
            pdpb_pb2.ScanRegionsRequest(header=h, start_key=start, end_key=end)
        )
        [region] = regions.regions
        store = await pd.GetStore(
            pdpb_pb2.GetStoreRequest(header=h, store_id=region.leader.store_id)
        )
    async with grpc.aio.insecure_channel(store.store.address, options=OPTIONS) as ch:
        call = cdcpb_pb2_grpc.ChangeDataStub(ch).EventFeed()
        t0 = time.perf_counter()
        await call.write(
            cdcpb_pb2.ChangeDataRequest(
                header=cdcpb_pb2.Header(cluster_id=cid, ticdc_version="8.5.0"),
                region_id=region.region.id,
                region_epoch=region.region.region_epoch,
                checkpoint_ts=0,
                start_key=start,
                end_key=end,
                request_id=1,
                extra_op=kvrpcpb_pb2.ReadOldValue,
            )
        )
        n = 0
        done = False
        while not done:
            msg = await call.read()
            for ev in msg.events:
                for row in ev.entries.entries:
                    if row.type == cdcpb_pb2.Event.INITIALIZED:
                        done = True
                    else:
                        n += 1
        elapsed = time.perf_counter() - t0
        call.cancel()
    return elapsed, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(args.keys, child))
    proc.start()
    try:
        pd_address, load_s, build_s, built_rows = parent.recv()
        print(
            f"loaded {2 * args.keys} versions in {load_s:.2f}s; "
            f"pre-building {built_rows} scan rows takes {build_s:.2f}s "
            f"({built_rows / build_s:,.0f} rows/s)"
        )
        rates = []
        for i in range(args.runs):
            elapsed, n = asyncio.run(one_run(pd_address))
            rates.append(n / elapsed)
            print(f"run {i + 1}: {n} rows in {elapsed:.3f}s = {n / elapsed:,.0f} rows/s")
        print(
            f"median: {statistics.median(rates):,.0f} row events/s to one stream "
            f"(scan, rows with value + old value)"
        )
    finally:
        parent.send("stop")
        proc.join(30)


if __name__ == "__main__":
    main()
