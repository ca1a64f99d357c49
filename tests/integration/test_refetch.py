"""Reading a hole of ``<job>.kv`` directly (app.stages.refetch), on the real broker."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.records_to_delete import RecordsToDelete
from aiokafka.errors import OffsetOutOfRangeError

from app.stages.failure import is_transient
from app.stages.refetch import read_range

pytestmark = pytest.mark.integration


async def _topic_with(bootstrap: str, values: list[bytes]) -> str:
    topic = f"refetch-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(topic, v, partition=1)
    finally:
        await producer.stop()
    return topic


async def test_a_range_is_read_exactly_in_order(kafka_bootstrap: str) -> None:
    values = [f"r{i}".encode() for i in range(50)]
    topic = await _topic_with(kafka_bootstrap, values)
    got = await read_range(kafka_bootstrap, topic, 1, 41, 44)
    assert got == [(41, b"r41"), (42, b"r42"), (43, b"r43")]
    assert await read_range(kafka_bootstrap, topic, 1, 0, 50) == list(enumerate(values))
    assert await read_range(kafka_bootstrap, topic, 1, 7, 7) == []


async def test_records_deleted_before_the_range_fail_for_good(kafka_bootstrap: str) -> None:
    topic = await _topic_with(kafka_bootstrap, [b"a", b"b", b"c", b"d"])
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:  # what retention does to a topic nobody read in time
        await admin.delete_records({TopicPartition(topic, 1): RecordsToDelete(3)})
    finally:
        await admin.close()
    with pytest.raises(OffsetOutOfRangeError) as err:
        await read_range(kafka_bootstrap, topic, 1, 1, 3)
    assert not is_transient(err.value)  # the partition fails with the reason, no retry
    assert await read_range(kafka_bootstrap, topic, 1, 3, 4) == [(3, b"d")]
