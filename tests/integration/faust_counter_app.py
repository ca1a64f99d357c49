"""A tiny faust app run as a real worker by test_faust_rocksdb_smoke.py.

It counts events per key in a RocksDB-backed table and publishes every new count to an output
topic, so the test can see whether a restarted worker continues from the stored state.
Configured by environment (the test sets all of these):
TIUNDO_KAFKA, TIUNDO_FAUST_APP_ID, TIUNDO_FAUST_DATADIR, TIUNDO_FAUST_IN, TIUNDO_FAUST_OUT.
"""

from __future__ import annotations

import os

import faust

PARTITIONS = 4

app = faust.App(
    os.environ["TIUNDO_FAUST_APP_ID"],
    broker="kafka://" + os.environ["TIUNDO_KAFKA"].removeprefix("kafka://"),
    store="rocksdb://",
    datadir=os.environ["TIUNDO_FAUST_DATADIR"],
    web_enabled=False,
    topic_partitions=PARTITIONS,
    topic_disable_leader=True,
    consumer_auto_offset_reset="earliest",
)

source = app.topic(os.environ["TIUNDO_FAUST_IN"], key_serializer="raw", value_serializer="raw")
counts_out = app.topic(os.environ["TIUNDO_FAUST_OUT"], key_serializer="raw", value_serializer="raw")
counts = app.Table("counts", default=int, partitions=PARTITIONS)


@app.agent(source)
async def count(stream: faust.StreamT[bytes]) -> None:
    """Count per message key; the table write lands in this event's partition DB."""
    async for event in stream.events():
        key = event.key.decode()
        counts[key] += 1
        await counts_out.send(key=event.key, value=str(counts[key]).encode())
