"""Kafka with SASL_SSL and SSL: a private broker started by the test (its own ports).

Every kind of Kafka client tiundo opens reads its security from the same variables
(:mod:`core.kafka_security`): the admin calls (:mod:`core.kafka_admin`), the job record's writer
and reader (:mod:`app.cli.pin`), and the ingest's producer (a whole ingest of the fake cluster
goes through SASL_SSL; the test reads the topic back on the broker's plaintext listener). The
job record written there holds neither the SASL password nor the downstream's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from app.cli.pin import job_topic, publish_record, read_record
from app.config import UndoConfig
from app.jobrecord import CHECK_DDL, CHECK_GC, CHECK_WRITER, build_record
from app.main import broker_credentials
from core.errors import TransientError
from core.kafka_admin import TopicSpec, delete_topics, ensure_topics, list_topics
from core.kafka_security import kafka_options, kafka_security
from ingest.worker import run_ingest
from tests.tls_certs import Pki, make_pki

from .ingest_harness import cluster_env, dump_topic, expected_changes
from .tls_kafka import PASSWORD, USER, TlsKafka, tls_kafka

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DOWNSTREAM_SECRET = "downstream-s3cret"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[TlsKafka]:
    with tls_kafka(tmp_path_factory.mktemp("kafka"), pki) as b:
        yield b


def sasl_env(mp: pytest.MonkeyPatch, pki: Pki, mechanism: str = "SCRAM-SHA-512") -> None:
    mp.setenv("TIUNDO_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    mp.setenv("TIUNDO_KAFKA_SASL_MECHANISM", mechanism)
    mp.setenv("TIUNDO_KAFKA_SASL_USER", USER)
    mp.setenv("TIUNDO_KAFKA_SASL_PASSWORD", PASSWORD)
    mp.setenv("TIUNDO_KAFKA_CA", str(pki.ca))


def name(hint: str) -> str:
    return f"tls-{hint}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_admin_calls_over_sasl_ssl(
    broker: TlsKafka, pki: Pki, monkeypatch: pytest.MonkeyPatch, mechanism: str
) -> None:
    sasl_env(monkeypatch, pki, mechanism)
    topic = name(mechanism.lower())
    await ensure_topics(broker.sasl_ssl, [TopicSpec(topic, 2)])
    assert await list_topics(broker.sasl_ssl, [topic]) == [topic]
    assert await delete_topics(broker.sasl_ssl, [topic]) == [topic]


async def test_a_wrong_password_or_ca_fails_without_the_secret(
    broker: TlsKafka, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    sasl_env(monkeypatch, pki)
    monkeypatch.setenv("TIUNDO_KAFKA_SASL_PASSWORD", "not-" + PASSWORD)
    with pytest.raises(TransientError) as wrong_password:
        await list_topics(broker.sasl_ssl, ["x"])
    monkeypatch.setenv("TIUNDO_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("TIUNDO_KAFKA_CA", str(pki.other_ca))
    with pytest.raises(TransientError) as wrong_ca:
        await list_topics(broker.sasl_ssl, ["x"])
    for err in (wrong_password, wrong_ca):
        message = str(err.value)
        assert PASSWORD not in message and "\n" not in message, message
        assert broker.sasl_ssl.split(":")[1] in message, message


async def test_mutual_tls_listener(
    broker: TlsKafka, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIUNDO_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("TIUNDO_KAFKA_CA", str(pki.ca))
    with pytest.raises(TransientError, match=broker.ssl):  # a client certificate is required
        await list_topics(broker.ssl, ["x"])
    monkeypatch.setenv("TIUNDO_KAFKA_CERT", str(pki.client.cert))
    monkeypatch.setenv("TIUNDO_KAFKA_KEY", str(pki.client.key))
    topic = name("mtls")
    await ensure_topics(broker.ssl, [TopicSpec(topic, 1)])
    assert await delete_topics(broker.ssl, [topic]) == [topic]


async def test_the_job_record_over_sasl_ssl_holds_no_secret(
    broker: TlsKafka, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    sasl_env(monkeypatch, pki)
    job = name("record").replace("-", "_")
    config = UndoConfig(
        job=job,
        kafka=f"kafka://{broker.sasl_ssl}",
        downstream=f"mysql://root:{DOWNSTREAM_SECRET}@db:4000/?ssl-mode=REQUIRED",
    ).validate()
    record = build_record(
        config,
        instance_id="abc",
        target_ts=10,
        end_ts=20,
        primary_ts=9,
        changefeed="default/cf",
        tables=[],
        checks=[CHECK_GC, CHECK_DDL, CHECK_WRITER],
        created_unix_ms=1,
    )
    await publish_record(broker.sasl_ssl, record)
    try:
        got = await read_record(broker.sasl_ssl, job)
        assert got is not None and got.end_ts == 20 and got.downstream == "db:4000"
        consumer = AIOKafkaConsumer(
            **kafka_options(), bootstrap_servers=broker.sasl_ssl, enable_auto_commit=False
        )
        await consumer.start()
        try:
            tp = TopicPartition(job_topic(job), 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            raw = b"".join(
                m.value or b"" for m in (await consumer.getmany(tp, timeout_ms=5000))[tp]
            )
        finally:
            await consumer.stop()
        assert raw == record.SerializeToString()
        for secret in (PASSWORD, DOWNSTREAM_SECRET, "ssl-mode"):
            assert secret.encode() not in raw
    finally:
        await delete_topics(broker.sasl_ssl, [job_topic(job)])


async def test_ingest_produces_over_sasl_ssl(
    broker: TlsKafka, pki: Pki, monkeypatch: pytest.MonkeyPatch, mysql_db: Any
) -> None:
    sasl_env(monkeypatch, pki, "PLAIN")
    async with cluster_env(mysql_db, seed=31) as env:
        w = env.workload
        await w.run(10)
        sp = await w.take_syncpoint()
        await w.run(20)
        config = env.config(broker.sasl_ssl, name("ingest"))
        try:
            result = await run_ingest(config)
            assert result.state == "done"
            # read back on the plaintext listener: what the SASL_SSL producer wrote is there
            dump = await dump_topic(broker.plaintext, config.topic, config.partitions)
        finally:
            await delete_topics(broker.sasl_ssl, [config.topic])
        want = expected_changes(env.cluster.mvcc, env.physical_ids(), sp.ts, result.end_ts)
        assert want and set(dump.changes(want)) == want


def test_faust_gets_the_same_credentials(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    sasl_env(monkeypatch, pki)
    creds = broker_credentials(kafka_security())
    assert (creds.username, creds.password, creds.mechanism.value) == (
        USER,
        PASSWORD,
        "SCRAM-SHA-512",
    )
    assert creds.protocol.value == "SASL_SSL" and creds.ssl_context is not None
    assert PASSWORD not in repr(creds)
