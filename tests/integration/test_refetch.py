"""Reading a hole of ``<job>.kv`` directly (app.stages.refetch), on the real broker."""

from __future__ import annotations

import dataclasses
import importlib
import uuid
from types import ModuleType
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.records_to_delete import RecordsToDelete
from aiokafka.errors import OffsetOutOfRangeError

from app.stages.failure import is_transient
from app.stages.refetch import read_range
from app.undo.delivery import Hole

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


def _compact_stage(monkeypatch: pytest.MonkeyPatch, bootstrap: str) -> ModuleType:
    """``app.stages.compact`` imported as a worker of a test job would (its Faust app is built
    at import from the environment), reading ``bootstrap``."""
    monkeypatch.setenv("TIUNDO_JOB", "refetch-test")
    monkeypatch.setenv("TIUNDO_KAFKA", f"kafka://{bootstrap}")
    compact = importlib.import_module("app.stages.compact")
    monkeypatch.setattr(
        compact, "config", dataclasses.replace(compact.config, kafka=f"kafka://{bootstrap}")
    )
    return compact


class _Consumer:
    """Faust's consumer, reduced to the gap bookkeeping ``_fill`` hands the hole to."""

    def __init__(self) -> None:
        self.gaps: list[tuple[Any, int, int]] = []

    async def _add_gap(self, tp: Any, first: int, last: int) -> None:
        self.gaps.append((tp, first, last))


async def test_a_hole_is_read_handled_in_order_and_given_to_fausts_gap_bookkeeping(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compact = _compact_stage(monkeypatch, kafka_bootstrap)

    values = [f"r{i}".encode() for i in range(8)]
    topic = await _topic_with(kafka_bootstrap, values)
    handled: list[tuple[int, int, bytes]] = []
    failures: list[tuple[int, str]] = []

    async def handle(partition: int, offset: int, raw: bytes, flusher: Any) -> str:
        handled.append((partition, offset, raw))
        return "change_batch"

    async def report(partition: int, why: str) -> None:
        failures.append((partition, why))

    consumer = _Consumer()
    monkeypatch.setattr(compact, "_handle_in_place", handle)
    monkeypatch.setattr(compact, "report_failure", report)
    monkeypatch.setattr(compact.app, "consumer", consumer, raising=False)
    tp = TopicPartition(topic, 1)
    flusher = compact.Flusher(1, _no_ack)

    assert await compact._fill(tp, Hole(first=3, offset=6), flusher)
    assert handled == [(1, 3, b"r3"), (1, 4, b"r4"), (1, 5, b"r5")]
    assert consumer.gaps == [(tp, 3, 5)]  # Faust's commit may pass them: no ack will come
    assert failures == []


async def test_a_hole_retention_removed_fails_the_partition_naming_the_offsets(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compact = _compact_stage(monkeypatch, kafka_bootstrap)

    topic = await _topic_with(kafka_bootstrap, [f"r{i}".encode() for i in range(8)])
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(topic, 1): RecordsToDelete(4)})
    finally:
        await admin.close()
    handled: list[int] = []
    failures: list[tuple[int, str]] = []

    async def handle(partition: int, offset: int, raw: bytes, flusher: Any) -> str:
        handled.append(offset)
        return "change_batch"

    async def report(partition: int, why: str) -> None:
        failures.append((partition, why))

    consumer = _Consumer()
    monkeypatch.setattr(compact, "_handle_in_place", handle)
    monkeypatch.setattr(compact, "report_failure", report)
    monkeypatch.setattr(compact.app, "consumer", consumer, raising=False)

    assert not await compact._fill(
        TopicPartition(topic, 1), Hole(first=2, offset=6), compact.Flusher(1, _no_ack)
    )
    assert handled == []  # nothing merged from a hole that cannot be read whole
    assert consumer.gaps == []
    assert len(failures) == 1 and failures[0][0] == 1
    assert failures == [
        (
            1,
            f"LookupError: offsets 2..5 of {topic} partition 1 hold no record any more "
            "(retention?): the changes in them cannot be undone",
        )
    ]


async def _no_ack(event: Any) -> None:
    raise AssertionError("_fill acks nothing itself: the next flush does")
