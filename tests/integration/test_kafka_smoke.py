"""Smoke test of the real broker: produce and consume through it with aiokafka over loopback.

Keys must land where Kafka's own (Java) default partitioner puts them — murmur2 of the key
bytes, made positive, modulo the partition count — because tiundo's topic is keyed by table
and other clients (and faust's table/changelog co-partitioning) rely on the same placement.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError

pytestmark = pytest.mark.integration

# Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
# testMurmur2: input bytes -> Utils.murmur2 as a signed Java int.
KAFKA_MURMUR2_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (seed 0x9747b28c), as a signed 32-bit int like Java's."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    body = length - length % 4
    for i in range(0, body, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[body:]
    if tail:
        for i in reversed(range(len(tail))):
            h ^= tail[i] << (8 * i)
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, partitions: int) -> int:
    """BuiltInPartitioner.partitionForKey: toPositive(murmur2(key)) % partitions."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_murmur2_matches_kafka_vectors() -> None:
    for data, expected in KAFKA_MURMUR2_VECTORS.items():
        assert murmur2(data) == expected, data
    assert java_partition(b"foobar", 50) == 16


async def test_produce_consume_keyed_partitions(kafka_bootstrap: str, fresh_topic) -> None:
    partitions = 4
    topic = await fresh_topic(partitions=partitions)
    keys = [f"table-{i}".encode() for i in range(12)]
    sent = [(keys[i % len(keys)], f"value-{i}-é😀".encode()) for i in range(60)]
    expected: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    for key, value in sent:
        expected[java_partition(key, partitions)].append((key, value))
    assert len(expected) > 1, "the keys should spread over several partitions"

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in sent]
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    for (key, _), meta in zip(sent, metas, strict=True):
        assert meta.partition == java_partition(key, partitions), key

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    got: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        async with asyncio.timeout(20):
            while sum(map(len, got.values())) < len(sent):
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    got[tp.partition].extend((r.key, r.value) for r in records)
        end = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()

    # exactly what was sent, in send order within each partition, nothing more
    assert dict(got) == dict(expected)
    assert {tp.partition: off for tp, off in end.items()} == {
        p: len(expected.get(p, [])) for p in range(partitions)
    }


async def test_topics_are_not_auto_created(kafka_bootstrap: str, fresh_topic) -> None:
    """The test broker refuses to invent topics, so a missing create shows up at once."""
    existing = await fresh_topic(partitions=1)
    missing = existing + "-never-created"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=2000)
    await producer.start()
    try:
        with pytest.raises(UnknownTopicOrPartitionError):
            async with asyncio.timeout(15):
                await producer.send_and_wait(missing, b"x")
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        topics = await admin.list_topics()
    finally:
        await admin.close()
    assert existing in topics
    assert missing not in topics
