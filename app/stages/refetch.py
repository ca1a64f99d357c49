"""Reading a range of ``<job>.kv`` records directly, for a hole Faust left in a partition.

Why not seek the Faust consumer back: its fetcher drops a record whose offset is below the
last one it handed out (its "read offset"), and a batch fetched before the seek keeps raising
that mark after the seek reset it, so the re-read is dropped again (measured: three seeks to
offset 43, each followed by 44 and never 43). A consumer of our own, outside the group and
assigned only that partition, has no such state: it reads ``[first, end)`` and stops.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from core.kafka_security import kafka_options

__all__ = ["READ_TIMEOUT_S", "read_range"]

#: seconds a range read may take before it counts as a transient failure
READ_TIMEOUT_S = 60.0


async def read_range(
    bootstrap: str, topic: str, partition: int, first: int, end: int
) -> list[tuple[int, bytes]]:
    """``(offset, value)`` of the records of ``[first, end)``, in order.

    Fewer than ``end - first`` records means some offsets hold none any more (retention, a
    deleted topic): the caller decides. Raises ``TimeoutError`` (transient) after
    :data:`READ_TIMEOUT_S`.
    """
    if first >= end:
        return []
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        **kafka_options(),
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="none",
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, first)
        out: list[tuple[int, bytes]] = []
        async with asyncio.timeout(READ_TIMEOUT_S):
            while True:
                position = await consumer.position(tp)
                if position >= end:
                    break
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=end - position)
                for rec in batch.get(tp, []):
                    if first <= rec.offset < end and rec.value is not None:
                        out.append((rec.offset, rec.value))
        return out
    finally:
        await consumer.stop()
