"""Compact agent on the real broker: state in RocksDB, a worker restart, re-delivery, End.

We produce ChangeBatch records ourselves (rows TiDB-encoded by the codec), let one worker
compact part of them, stop it and read its RocksDB partition file directly: every key holds
exactly the merge of its changes. Then more batches, a re-delivered batch and an undecodable
record arrive, the worker restarts on the same datadir or on an empty one (another machine: its
state comes back from the changelog's flush chunks), End closes both partitions, and:
the table in MariaDB is back at T, the bad record is in ``<job>.dead`` with its raw bytes, and
the job says INCOMPLETE (never SUCCEEDED while a dead letter exists).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiomysql
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from app.cli.jobstate import delete_job_topics
from app.undo.chunk import decode_chunk, is_chunk_key
from app.undo.merge import KeyState, combine, decode_state, state_of, state_of_folded
from core.codec.keys import encode_record_key
from core.codec.row import encode_row
from proto import tiundo_pb2
from simulator.catalog import Catalog
from simulator.status_api import StatusApiServer
from simulator.tabledef import ColumnDef, TableDef

from .faust_undo_harness import Worker, undo_env, wait_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

T, E = 100, 200
PUT, DELETE = 1, 2
# handle -> value at T (None = absent); the history below moves each to its value at E
AT_T = {2: "a", 3: "gone-later", 5: "x", 6: "untouched"}
AT_E = {1: "new-2", 2: "c", 5: "x", 6: "untouched"}


def _changes(info: Any, tid: int) -> list[list[tuple[Any, ...]]]:
    """Three batches of (handle, commit_ts, op, new v, old v), or of a folded record (what the
    ingest sends for a key's consecutive versions): (handle, first commit_ts, first op, value
    at the latest, old value at the first, latest commit_ts, latest op)."""
    return [
        [(1, 110, PUT, "new", None), (2, 111, PUT, "b", "a"), (2, 121, PUT, "c", "b")],
        [(3, 112, DELETE, None, "gone-later"), (4, 113, PUT, "tmp", None)],
        [(4, 123, DELETE, None, "tmp"), (5, 114, PUT, "x", "x", 124, PUT),
         (1, 120, PUT, "new-2", "new")],
    ]  # fmt: skip


def _envelope(job: str, info: Any, seq: int, batch: list[Any]) -> tiundo_pb2.Envelope:
    def img(h: int, v: str | None) -> bytes:
        return b"" if v is None else encode_row(info, {"id": h, "v": v})

    cb = tiundo_pb2.ChangeBatch(job_id=job, table_id=info.id, seq=seq)
    for h, ts, op, new, old, *last in batch:
        ch = cb.changes.add(
            key=encode_record_key(info.id, h), start_ts=ts - 1, commit_ts=ts, op_type=op,
            value=img(h, new), old_value=img(h, old),
        )  # fmt: skip
        if last:
            ch.versions, ch.last_commit_ts, ch.last_start_ts = 2, last[0], last[0] - 1
            ch.last_op_type = last[1]
    return tiundo_pb2.Envelope(change_batch=cb)


def _versions(env: tiundo_pb2.Envelope) -> int:
    return sum(max(ch.versions, 1) for ch in env.change_batch.changes)


async def _produce(bootstrap: str, topic: str, records: list[tuple[int, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition, value in records:
            await producer.send_and_wait(topic, value, key=b"t", partition=partition)
    finally:
        await producer.stop()


async def _changelog_rows(bootstrap: str, topic: str, partitions: int) -> set[bytes]:
    """Row keys the table's changelog holds (flush chunks expanded, :mod:`app.undo.chunk`)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return set()
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        rows: set[bytes] = set()
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                for rec in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                    assert rec.key is not None and rec.value is not None
                    if is_chunk_key(rec.key):
                        rows.update(k for k, _ in decode_chunk(rec.value))
                    else:
                        rows.add(rec.key)
        return rows
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> int:
    """The group's committed offset of ``topic`` partition 0 (0 when none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        got = await admin.list_consumer_group_offsets(group)
        meta = got.get(TopicPartition(topic, 0))
        return meta.offset if meta is not None and meta.offset > 0 else 0
    finally:
        await admin.close()


def _rocksdb_states(datadir: Path) -> dict[bytes, KeyState]:
    from rocksdict import AccessType, Options, Rdict

    out: dict[bytes, KeyState] = {}
    paths = sorted(datadir.glob("v*/tables/compact-*.db"))
    assert paths, f"no compact table files under {datadir}"
    for path in paths:
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            out.update((bytes(k), decode_state(bytes(v))) for k, v in db.items(from_key=b"t"))
        finally:
            db.close()
    return out


def _expected(envs: list[tiundo_pb2.Envelope]) -> dict[bytes, KeyState]:
    per_key: dict[bytes, list[Any]] = defaultdict(list)
    for env in envs:
        for ch in env.change_batch.changes:
            per_key[ch.key].append(ch)
    out = {}
    for k, chs in per_key.items():
        states = [state_of_folded(ch) if ch.versions > 1 else state_of(ch) for ch in chs]
        out[k] = functools.reduce(combine, states)
    return out


async def _dead_letters(bootstrap: str, topic: str) -> list[tiundo_pb2.DeadLetter]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        out = []
        while await consumer.position(tp) < end:
            for rec in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                out.append(tiundo_pb2.Envelope.FromString(rec.value).dead_letter)
        return out
    finally:
        await consumer.stop()


@pytest.mark.parametrize("machine", ["same", "another"])
async def test_compact_survives_restart_and_dead_letters_block_success(
    kafka_bootstrap: str, fresh_topic: Any, mysql_db: Any, tmp_path: Path, machine: str
) -> None:
    job = f"compact-{uuid.uuid4().hex[:8]}"
    catalog = Catalog()
    tdef = TableDef(
        mysql_db.db, "t",
        (ColumnDef("id", "bigint", nullable=False), ColumnDef("v", "varchar", 20)),
        primary_key=("id",),
    )  # fmt: skip
    info = catalog.add_table(tdef)
    api = StatusApiServer(catalog)
    await api.start()
    admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
    worker = None
    try:
        async with admin.cursor() as cur:
            await cur.execute(tdef.create_sql())
            for h, v in AT_E.items():
                await cur.execute(f"INSERT INTO `{mysql_db.db}`.t VALUES (%s, %s)", (h, v))
        kv = await fresh_topic(partitions=2, name=f"{job}.kv")
        envs = [_envelope(job, info, i + 1, b) for i, b in enumerate(_changes(info, info.id))]
        settings = undo_env(
            job=job, kafka=kafka_bootstrap, downstream=mysql_db.url, status_api=api.url,
            partitions=2, TIUNDO_BATCH_ROWS="2", TIUNDO_PROGRESS_DB=mysql_db.db,
        )  # fmt: skip
        datadir = tmp_path / "w"

        # 1) two batches, then a clean stop: the state is on disk
        await _produce(kafka_bootstrap, kv, [(0, e.SerializeToString()) for e in envs[:2]])
        worker = Worker(settings, datadir, tmp_path / "w.log")
        changelog = f"tiundo-{job}-compact-changelog"
        async with asyncio.timeout(60):
            while len(await _changelog_rows(kafka_bootstrap, changelog, 2)) < 4:  # keys 1,2,3,4
                assert worker.alive(), worker.tail()
                await asyncio.sleep(0.2)
            # and both batches acknowledged: a restart re-reads none of them (`changes` below
            # counts deliveries, so a re-read before the commit would count them twice)
            while await _committed(kafka_bootstrap, f"tiundo-{job}", kv) < 2:
                assert worker.alive(), worker.tail()
                await asyncio.sleep(0.2)
        worker.stop()
        assert _rocksdb_states(datadir) == _expected(envs[:2])
        # the table partitions were opened with tiundo's bounded options, not Faust's defaults
        [options] = sorted(datadir.glob("v*/tables/compact-0.db/OPTIONS-*"))[-1:]
        text = options.read_text()
        assert "write_buffer_size=8388608" in text and "max_write_buffer_number=2" in text, text

        # 2) the rest, a re-delivered batch, a bad record, End on both partitions
        garbage = b"\xff\x00not-protobuf"
        # a folded record whose latest change is a PUT without a value: dead, the rest merged
        bad_fold = _envelope(job, info, 4, [(7, 130, PUT, None, None, 131, PUT)])
        total = sum(map(_versions, [*envs, bad_fold]))
        end = tiundo_pb2.Envelope(
            end=tiundo_pb2.End(job_id=job, end_ts=E, target_ts=T, total_changes=total, batches=4)
        )
        empty_end = tiundo_pb2.Envelope(end=tiundo_pb2.End(job_id=job, end_ts=E, target_ts=T))
        wm = tiundo_pb2.Envelope(watermark=tiundo_pb2.Watermark(job_id=job, resolved_ts=E))
        await _produce(
            kafka_bootstrap,
            kv,
            [(0, envs[2].SerializeToString()), (0, envs[1].SerializeToString()), (0, garbage),
             (0, bad_fold.SerializeToString()),
             (0, wm.SerializeToString()), (0, end.SerializeToString()),
             (1, wm.SerializeToString()), (1, empty_end.SerializeToString())],
        )  # fmt: skip
        if machine == "same":
            worker.start()
        else:  # an empty datadir: the first batches' state comes back from the changelog
            datadir = tmp_path / "w2"
            worker = Worker(settings, datadir, tmp_path / "w2.log")
        status = await wait_status(kafka_bootstrap, job, [worker], 90)
        worker.stop()
        assert status.state == tiundo_pb2.JobStatus.INCOMPLETE, status
        assert status.dead_letters == 2
        [t] = status.tables
        assert (t.table_id, t.table_name, t.restored, t.deleted, t.skipped) == (
            info.id, "t", 2, 1, 2,
        )  # fmt: skip
        assert (status.target_ts, status.end_ts) == (T, E)
        letters = await _dead_letters(kafka_bootstrap, f"{job}.dead")
        letter, fold_letter = sorted(letters, key=lambda d: d.commit_ts)  # garbage: no ts
        assert (letter.stage, letter.value) == ("compact", garbage)
        assert "undecodable" in letter.error
        assert (fold_letter.stage, fold_letter.key, fold_letter.commit_ts) == (
            "compact", encode_record_key(info.id, 7), 130,
        )  # fmt: skip
        assert fold_letter.error == (
            "folded record: latest change a PUT without a value "
            "(folded record of 2 changes, commit_ts 130..131; value is the latest's)"
        )

        # re-delivery changed no image; the table is back at T
        states = _rocksdb_states(datadir)
        want = _expected([*envs, envs[1]])
        if machine == "same":
            assert states == want
        else:
            # A worker starting on an empty datadir was handed its first record twice in 2 of 4
            # runs (Faust's start-up seek to the committed offset): harmless to the images, and
            # `changes` counts deliveries, duplicates included (app/undo/merge.py)
            assert {k: (s.old_value, s.value) for k, s in states.items()} == {
                k: (s.old_value, s.value) for k, s in want.items()
            }
            assert all(states[k].changes >= want[k].changes for k in want)
        async with admin.cursor() as cur:
            await cur.execute(f"SELECT id, v FROM `{mysql_db.db}`.t ORDER BY id")
            assert dict(await cur.fetchall()) == AT_T
    finally:
        if worker is not None:
            worker.stop()
        admin.close()
        await api.stop()
        await delete_job_topics(kafka_bootstrap, job)


async def test_a_refused_statement_fails_the_job_with_its_reason(
    kafka_bootstrap: str, fresh_topic: Any, mysql_db: Any, tmp_path: Path
) -> None:
    job = f"refused-{uuid.uuid4().hex[:8]}"
    catalog = Catalog()
    tdef = TableDef(
        mysql_db.db, "never_created",
        (ColumnDef("id", "bigint", nullable=False), ColumnDef("v", "varchar", 20)),
        primary_key=("id",),
    )  # fmt: skip
    info = catalog.add_table(tdef)
    api = StatusApiServer(catalog)
    await api.start()
    worker = None
    try:
        kv = await fresh_topic(partitions=1, name=f"{job}.kv")
        [batch] = _changes(info, info.id)[:1]
        env = _envelope(job, info, 1, batch)
        end = tiundo_pb2.Envelope(
            end=tiundo_pb2.End(job_id=job, end_ts=E, target_ts=T, total_changes=3, batches=1)
        )
        await _produce(
            kafka_bootstrap, kv, [(0, env.SerializeToString()), (0, end.SerializeToString())]
        )
        settings = undo_env(
            job=job, kafka=kafka_bootstrap, downstream=mysql_db.url, status_api=api.url,
            partitions=1, TIUNDO_PROGRESS_DB=mysql_db.db,
        )  # fmt: skip
        worker = Worker(settings, tmp_path / "w", tmp_path / "w.log")
        status = await wait_status(kafka_bootstrap, job, [worker], 60)
        assert status.state == tiundo_pb2.JobStatus.FAILED, status
        assert "partition 0: SinkError" in status.message
        assert "never_created" in status.message and "1146" in status.message
    finally:
        if worker is not None:
            worker.stop()
        await api.stop()
        await delete_job_topics(kafka_bootstrap, job)
