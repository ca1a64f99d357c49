"""KvProducer on the real broker: order per partition, flush, errors, its sender thread ends.

The sender runs on a thread of its own (ingest/producer.py); these tests pin what the callers
rely on: records of a partition arrive in submit order with seq 1, 2, …; ``flush`` returns only
once all are delivered; a refused record surfaces as :class:`ProduceError`; ``stop`` leaves no
thread behind.
"""

from __future__ import annotations

import threading

import pytest
from aiokafka import AIOKafkaConsumer

from ingest.batcher import ChangeBatch, End, Watermark
from ingest.keyspace import encode_int, record_prefix
from ingest.model import OpType, RowChange
from ingest.producer import KvProducer, ProduceError, RecordEncoder
from proto import tiundo_pb2

pytestmark = pytest.mark.integration

T, E = 100, 100_000
N = 300  # change batches in the ordering test


def _batch(partition: int, table: int, first: int, n: int, value: bytes = b"v") -> ChangeBatch:
    changes = tuple(
        RowChange(
            7, table, record_prefix(table) + encode_int(h), T + h, T + h + 1, OpType.PUT, value, b""
        )
        for h in range(first, first + n)
    )
    return ChangeBatch(partition, table, changes, 0)


def _sender_threads(topic: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"producer-{topic}"]


async def _read_all(bootstrap: str, topic: str, count: int) -> list[tuple[int, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    got: list[tuple[int, bytes]] = []
    try:
        while len(got) < count:
            batches = await consumer.getmany(timeout_ms=5_000)
            assert batches, f"only {len(got)} of {count} records"
            for tp, msgs in sorted(batches.items(), key=lambda kv: kv[0].partition):
                got.extend((tp.partition, m.value) for m in msgs if m.value is not None)
    finally:
        await consumer.stop()
    return got


async def test_records_arrive_in_submit_order_and_flush_delivers_all(
    kafka_bootstrap: str, fresh_topic
) -> None:
    topic = await fresh_topic(2)
    encoder = RecordEncoder("job", 2, target_ts=T, end_ts=E)
    producer = KvProducer(kafka_bootstrap, topic, encoder, linger_ms=5, max_pending=8)
    await producer.start()
    assert len(_sender_threads(topic)) == 1
    try:
        for i in range(20):  # one by one: backpressure (max_pending=8) engages on the way
            producer.submit([_batch(i % 2, 1, 100 * i, 50, b"x" * 300)])
            await producer.wait_capacity()
        # then a burst, flushed right away: flush must wait for all of it
        producer.submit([_batch(i % 2, 1, 100 * i, 50, b"x" * 300) for i in range(20, N)])
        producer.submit([Watermark(0, 500), Watermark(1, 500), End(0, E), End(1, E)])
        await producer.flush()
        assert producer.pending == 0 and encoder.records == N + 4
    finally:
        await producer.stop()
    assert _sender_threads(topic) == []
    got = await _read_all(kafka_bootstrap, topic, N + 4)
    for p in (0, 1):
        envs = [tiundo_pb2.Envelope.FromString(v) for q, v in got if q == p]
        seqs = [e.change_batch.seq for e in envs if e.HasField("change_batch")]
        firsts = [e.change_batch.changes[0].start_ts for e in envs if e.HasField("change_batch")]
        assert seqs == list(range(1, N // 2 + 1))
        assert firsts == [T + 100 * i for i in range(p, N, 2)]
        assert [e.WhichOneof("body") for e in envs[-2:]] == ["watermark", "end"]
        assert envs[-1].end.total_changes == N // 2 * 50 and envs[-1].end.batches == N // 2


async def test_a_refused_record_fails_flush_and_submit(kafka_bootstrap: str, fresh_topic) -> None:
    topic = await fresh_topic(1)
    encoder = RecordEncoder("job", 1, target_ts=T, end_ts=E)
    # a request limit below one record: aiokafka refuses it before sending
    producer = KvProducer(kafka_bootstrap, topic, encoder, batch_bytes=1024, max_request_bytes=2048)
    await producer.start()
    try:
        producer.submit([_batch(0, 1, 0, 100, b"x" * 100)])
        with pytest.raises(ProduceError, match=topic):
            await producer.flush()
        with pytest.raises(ProduceError):
            producer.submit([Watermark(0, 200)])
    finally:
        await producer.stop()
    assert _sender_threads(topic) == []


async def test_start_failure_leaves_no_thread() -> None:
    encoder = RecordEncoder("job", 1, target_ts=T, end_ts=E)
    producer = KvProducer("127.0.0.1:1", "no-broker", encoder)
    with pytest.raises(Exception, match=r"127\.0\.0\.1:1"):
        await producer.start()
    await producer.stop()
    assert _sender_threads("no-broker") == []
