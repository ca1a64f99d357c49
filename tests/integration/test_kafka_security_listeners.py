"""Kafka with SASL_PLAINTEXT, and SSL authenticating the server only: the private test broker.

The two set-ups a managed Kafka often offers besides SASL_SSL and mutual TLS
(:mod:`test_tls_kafka`): a SASL login without TLS, and TLS where only the broker shows a
certificate (``TIUNDO_KAFKA_CA`` alone). Through each listener: the admin calls, the job
record's writer and reader (:mod:`app.cli.pin`), a whole ingest of the fake cluster (read back
on the plaintext listener), and a whole undo: the ingest, then a Faust worker (a subprocess with
the same ``TIUNDO_KAFKA_*`` environment) that compacts and applies it to MariaDB.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.cli.jobstate import delete_job_topics
from app.cli.pin import job_topic, publish_record, read_record
from app.config import UndoConfig
from app.jobrecord import CHECK_DDL, CHECK_GC, CHECK_WRITER, build_record
from app.main import broker_credentials
from core.errors import TransientError
from core.kafka_admin import TopicSpec, delete_topics, ensure_topics, list_topics
from core.kafka_security import kafka_security
from ingest.worker import run_ingest
from proto import tiundo_pb2
from tests.tls_certs import Pki, make_pki

from .faust_undo_harness import Worker, undo_env, wait_status
from .ingest_harness import cluster_env, dump_topic, expected_changes
from .tls_kafka import PASSWORD, USER, TlsKafka, tls_kafka

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LISTENERS = ("sasl_plaintext", "ssl_server")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[TlsKafka]:
    with tls_kafka(tmp_path_factory.mktemp("kafka"), pki) as b:
        yield b


def secure(mp: pytest.MonkeyPatch, pki: Pki, broker: TlsKafka, listener: str) -> str:
    """The environment of a process on ``listener``; its bootstrap address."""
    for var in ("SASL_USER", "SASL_PASSWORD", "SASL_MECHANISM", "CA", "CERT", "KEY"):
        mp.delenv(f"TIUNDO_KAFKA_{var}", raising=False)
    if listener == "sasl_plaintext":
        mp.setenv("TIUNDO_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
        mp.setenv("TIUNDO_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
        mp.setenv("TIUNDO_KAFKA_SASL_USER", USER)
        mp.setenv("TIUNDO_KAFKA_SASL_PASSWORD", PASSWORD)
        return broker.sasl_plaintext
    mp.setenv("TIUNDO_KAFKA_SECURITY_PROTOCOL", "SSL")
    mp.setenv("TIUNDO_KAFKA_CA", str(pki.ca))  # no client certificate: the broker asks none
    return broker.ssl_server


def name(hint: str) -> str:
    return f"sec-{hint}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("listener", LISTENERS)
async def test_admin_calls_and_the_job_record(
    broker: TlsKafka, pki: Pki, monkeypatch: pytest.MonkeyPatch, listener: str
) -> None:
    bootstrap = secure(monkeypatch, pki, broker, listener)
    topic = name(listener.replace("_", "-"))
    await ensure_topics(bootstrap, [TopicSpec(topic, 2)])
    assert await list_topics(bootstrap, [topic]) == [topic]
    assert await delete_topics(bootstrap, [topic]) == [topic]

    job = name("rec").replace("-", "_")
    config = UndoConfig(job=job, kafka=f"kafka://{bootstrap}").validate()
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
    await publish_record(bootstrap, record)
    try:
        got = await read_record(bootstrap, job)
        assert got is not None and got.SerializeToString() == record.SerializeToString()
    finally:
        await delete_topics(bootstrap, [job_topic(job)])


@pytest.mark.parametrize("listener", LISTENERS)
async def test_a_wrong_login_or_ca_is_one_line_without_the_secret(
    broker: TlsKafka, pki: Pki, monkeypatch: pytest.MonkeyPatch, listener: str
) -> None:
    bootstrap = secure(monkeypatch, pki, broker, listener)
    if listener == "sasl_plaintext":
        monkeypatch.setenv("TIUNDO_KAFKA_SASL_PASSWORD", "not-" + PASSWORD)
    else:
        monkeypatch.setenv("TIUNDO_KAFKA_CA", str(pki.other_ca))
    with pytest.raises(TransientError) as err:
        await list_topics(bootstrap, ["x"])
    message = str(err.value)
    assert PASSWORD not in message and "\n" not in message, message
    assert bootstrap in message, message


@pytest.mark.parametrize("listener", LISTENERS)
async def test_ingest_produces_through_the_listener(
    broker: TlsKafka, pki: Pki, monkeypatch: pytest.MonkeyPatch, mysql_db: Any, listener: str
) -> None:
    bootstrap = secure(monkeypatch, pki, broker, listener)
    async with cluster_env(mysql_db, seed=37) as env:
        w = env.workload
        await w.run(10)
        sp = await w.take_syncpoint()
        await w.run(20)
        config = env.config(bootstrap, name("ingest"))
        try:
            result = await run_ingest(config)
            assert result.state == "done"
            dump = await dump_topic(broker.plaintext, config.topic, config.partitions)
        finally:
            await delete_topics(bootstrap, [config.topic])
        want = expected_changes(env.cluster.mvcc, env.physical_ids(), sp.ts, result.end_ts)
        assert want and set(dump.changes(want)) == want


@pytest.mark.parametrize("listener", LISTENERS)
def test_faust_gets_the_same_security(
    broker: TlsKafka, pki: Pki, monkeypatch: pytest.MonkeyPatch, listener: str
) -> None:
    secure(monkeypatch, pki, broker, listener)
    creds = broker_credentials(kafka_security())
    if listener == "sasl_plaintext":
        assert creds.protocol.value == "SASL_PLAINTEXT" and creds.ssl_context is None
        assert (creds.username, creds.password, creds.mechanism.value) == (
            USER,
            PASSWORD,
            "SCRAM-SHA-256",
        )
        assert PASSWORD not in repr(creds)
    else:
        assert creds.protocol.value == "SSL" and creds.context is not None


@pytest.mark.parametrize("listener", LISTENERS)
async def test_a_faust_worker_undoes_through_the_listener(
    broker: TlsKafka,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
    mysql_db: Any,
    tmp_path: Path,
    listener: str,
) -> None:
    bootstrap = secure(monkeypatch, pki, broker, listener)
    job = name("undo").replace("-", "_")
    async with cluster_env(mysql_db, seed=41, rows=10) as env:
        w = env.workload
        await w.run(15)
        sp = await w.take_syncpoint()
        await w.run(40)
        await w.tear()
        changed = {k: (v.rows, v.digest) for k, v in (await w.checksums()).items()}
        assert changed != {k: (v.rows, v.digest) for k, v in sp.checksums.items()}
        config = env.config(bootstrap, job, partitions=2)
        worker = None
        try:
            result = await run_ingest(config)
            assert result.state == "done", result
            settings = undo_env(
                job=job,
                kafka=bootstrap,
                downstream=mysql_db.url,
                status_api=str(env.cluster.status_url),
                partitions=2,
                TIUNDO_PROGRESS_DB=mysql_db.db,
            )
            # the worker inherits this process's TIUNDO_KAFKA_* (set by secure())
            worker = Worker(settings, tmp_path / "w", tmp_path / "w.log", entry="run_worker")
            status = await wait_status(bootstrap, job, [worker], 150)
            assert status.state == tiundo_pb2.JobStatus.SUCCEEDED, f"{status}\n{worker.tail()}"
        finally:
            if worker is not None:
                worker.stop()
            await delete_job_topics(bootstrap, job)  # the Faust changelogs too
        at_t = {k: (v.rows, v.digest) for k, v in sp.checksums.items()}
        assert {k: (v.rows, v.digest) for k, v in (await w.checksums()).items()} == at_t
