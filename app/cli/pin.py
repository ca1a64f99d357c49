"""Pinning a job: claim its name, publish its record once, and hand the record to workers.

A job name is taken once. Starting a job whose name already has topics (from an earlier run,
finished or not) is refused with one line naming the old job's window and state; ``--replace``
first deletes the old job's topics, its consumer group's changelogs and its downstream counter
rows. Then the job record (:mod:`app.jobrecord`) goes to the compacted topic ``<job>.job``
before any worker or ingest starts. ``tiundo worker`` waits for that record and takes every
setting that changes what is written from it (:func:`app.jobrecord.pin`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from app.cli.common import Settings
from app.cli.counters import delete_counters
from app.cli.jobstate import delete_job_topics, read_compacted
from app.cli.plan import Prepared
from app.config import UndoConfig, job_topics
from app.jobrecord import (
    CHECK_DDL,
    CHECK_GC,
    CHECK_WRITER,
    CHECK_WRITER_FORCED,
    JOB_TOPIC_SUFFIX,
    build_record,
    decode_record,
    describe,
    new_instance_id,
)
from app.sink.collation import read_new_collation
from core.errors import ConfigError, DecodeError, TransientError, UnsafeToUndoError
from core.kafka_admin import (
    COMPACTED,
    TopicSpec,
    create_topic_exclusive,
    ensure_topics,
    group_members,
    list_topics,
)
from core.urls import parse_mysql_url
from ingest.patterns import quote_pattern
from proto import tiundo_pb2

__all__ = [
    "job_tables",
    "passed_checks",
    "pin_job",
    "publish_record",
    "read_record",
    "refuse_taken_name",
    "replace_job",
    "reset_for_resume",
    "resume_settings",
    "same_tables",
    "wait_for_record",
]

log = logging.getLogger(__name__)


def job_topic(job: str) -> str:
    """The compacted topic holding the job record."""
    return f"{job}{JOB_TOPIC_SUFFIX}"


def _taken(names: list[str], job: str) -> list[str]:
    own = set(job_topics(job))
    return [n for n in names if n in own]


async def read_record(bootstrap: str, job: str) -> tiundo_pb2.JobRecord | None:
    """The job's record, or ``None`` when the job was never pinned."""
    notes = await read_compacted(bootstrap, job_topic(job))
    raw = notes.get(job.encode())
    return None if raw is None else decode_record(raw, job)


async def _old_state(bootstrap: str, job: str) -> str:
    notes = await read_compacted(bootstrap, f"{job}.status")
    raw = notes.get(job.encode())
    if raw is None:
        return "no status"
    status = tiundo_pb2.JobStatus.FromString(raw)
    return tiundo_pb2.JobStatus.State.Name(status.state)


async def refuse_taken_name(bootstrap: str, job: str) -> None:
    """Raise :class:`ConfigError` naming the earlier job when ``job``'s name is taken.

    Cheap, so it runs before anything is asked of the cluster; the atomic claim is
    :func:`pin_job`'s exclusive creation of ``<job>.job``.
    """
    found = _taken(await list_topics(bootstrap, [f"{job}.", f"tiundo-{job}-"]), job)
    if not found:
        return
    try:
        old = await read_record(bootstrap, job)
    except DecodeError:
        old = None
    what = describe(old) if old is not None else f"job {job} (topics {', '.join(found[:3])})"
    state = await _old_state(bootstrap, job)
    raise ConfigError(
        f"the job name {job!r} is taken: {what}, state {state}; choose another --job, or "
        "--replace to delete that job's topics and downstream counters first"
    )


async def replace_job(bootstrap: str, job: str, *, downstream: str, progress_db: str) -> None:
    """Delete an earlier job of this name: its topics and its downstream counter rows.

    Refused while its workers run; returns once Kafka shows the topics gone.
    """
    found = _taken(await list_topics(bootstrap, [f"{job}.", f"tiundo-{job}-"]), job)
    if not found:
        return
    await _refuse_live_workers(bootstrap, job, "--replace")
    deleted = await delete_job_topics(bootstrap, job)
    rows = await delete_counters(downstream, progress_db, job)
    log.warning("job %s: replaced; deleted topics %s and %d counter row(s)", job, deleted, rows)


async def publish_record(bootstrap: str, record: tiundo_pb2.JobRecord) -> None:
    """Write the record to ``<job>.job`` (created compacted, one partition), acknowledged."""
    topic = job_topic(record.job_id)
    await ensure_topics(bootstrap, [TopicSpec(topic, 1, configs=COMPACTED)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        await producer.start()
        await producer.send_and_wait(topic, record.SerializeToString(), key=record.job_id.encode())
    except KafkaError as exc:
        raise TransientError(
            f"Kafka at {bootstrap}: job record of {record.job_id}: {exc!r}"
        ) from exc
    finally:
        await producer.stop()


async def wait_for_record(
    bootstrap: str, job: str, *, timeout_s: float, poll_s: float = 1.0
) -> tiundo_pb2.JobRecord:
    """The job's record, waiting up to ``timeout_s`` for ``tiundo run`` to publish it."""
    deadline = time.monotonic() + timeout_s
    said = False
    while True:
        record = await read_record(bootstrap, job)
        if record is not None:
            return record
        if time.monotonic() > deadline:
            raise ConfigError(
                f"job {job}: no job record on {job_topic(job)} after {timeout_s:.0f} s; "
                "start the job with `tiundo run` (or `tiundo ingest`) first"
            )
        if not said:
            log.warning("job %s: waiting for its job record on %s", job, job_topic(job))
            said = True
        await asyncio.sleep(poll_s)


def job_tables(prep: Prepared) -> list[tiundo_pb2.JobTable]:
    """The selected tables as the record keeps them (schema version = TableInfo's update ts)."""
    return [
        tiundo_pb2.JobTable(
            db_name=t.db,
            table_name=t.name,
            table_id=t.table_id,
            physical_ids=list(t.physical_ids),
            schema_version=int(t.info.get("update_timestamp") or 0),
        )
        for t in prep.tables
    ]


def passed_checks(prep: Prepared) -> list[str]:
    """What :func:`app.cli.plan.prepare` checked (it raises on a failed check)."""
    return [CHECK_GC, CHECK_DDL, CHECK_WRITER if prep.writer_checked else CHECK_WRITER_FORCED]


async def pinned_collation(config: UndoConfig) -> str:
    """``on``/``off``: ``TIUNDO_NEW_COLLATION``, or with ``auto`` the downstream's setting."""
    if config.new_collation != "auto":
        return config.new_collation
    on = await read_new_collation(
        parse_mysql_url(config.downstream),
        config.dialect,
        connect_timeout_s=config.sink_connect_timeout_s,
    )
    return "on" if on else "off"


async def pin_job(prep: Prepared, config: UndoConfig, *, replace: bool) -> tiundo_pb2.JobRecord:
    """Claim the job's name and publish its record; ``config`` with the record's instance."""
    config = config.replace(new_collation=await pinned_collation(config))
    bootstrap = config.kafka_bootstrap
    if replace:
        await replace_job(
            bootstrap, config.job, downstream=config.downstream, progress_db=config.progress_db
        )
    else:
        await refuse_taken_name(bootstrap, config.job)
    w = prep.window
    record = build_record(
        config,
        instance_id=new_instance_id(),
        target_ts=w.target_ts,
        end_ts=w.end_ts,
        primary_ts=w.primary_ts,
        changefeed=w.feed,
        tables=job_tables(prep),
        checks=passed_checks(prep),
        created_unix_ms=int(time.time() * 1000),
        spread_tables=prep.config.spread_tables,
    )
    # the claim itself: the broker creates <job>.job for one of two racing starts only
    if not await create_topic_exclusive(bootstrap, TopicSpec(job_topic(config.job), 1, COMPACTED)):
        raise ConfigError(
            f"the job name {config.job!r} was just taken by another start of tiundo; choose "
            "another --job"
        )
    await publish_record(bootstrap, record)
    return record


def resume_settings(s: Settings, record: tiundo_pb2.JobRecord) -> Settings:
    """The settings of a resumed job: its window, tables and partitioning from the record."""
    if not s.job or s.job != record.job_id:
        raise ConfigError(f"--resume {s.job}: the record is of job {record.job_id!r}")
    if record.progress_db == "-":
        raise ConfigError(
            f"--resume {s.job}: the job keeps no downstream counters (TIUNDO_PROGRESS_DB=-), so "
            "a resume cannot tell what was committed; start a new job with --replace"
        )
    return dataclasses.replace(
        s,
        tables=tuple(quote_pattern(t.db_name, t.table_name) for t in record.tables),
        spread=tuple(record.spread_tables),
        to_ts=record.target_ts,
        to_time=None,
        end_ts=record.end_ts,
        partitions=record.partitions,
        txn_source=record.txn_source,
    )


def same_tables(prep: Prepared, record: tiundo_pb2.JobRecord) -> None:
    """Refuse a resume whose tables resolve to other ids than the record's (renamed, recreated)."""
    now = {(t.db, t.name): (t.table_id, tuple(t.physical_ids)) for t in prep.tables}
    then = {(t.db_name, t.table_name): (t.table_id, tuple(t.physical_ids)) for t in record.tables}
    if now != then:
        changed = sorted(f"{db}.{name}" for db, name in now.keys() ^ then.keys())
        changed += sorted(f"{k[0]}.{k[1]}" for k in now.keys() & then.keys() if now[k] != then[k])
        raise UnsafeToUndoError(
            f"job {record.job_id}: the tables are not those the job was pinned with "
            f"({', '.join(changed)}); start a new job instead of --resume"
        )


async def reset_for_resume(bootstrap: str, job: str) -> list[str]:
    """Delete what a resumed job redoes; keep its record and its downstream counters.

    The transactions of a job are a function of its record alone (window, tables, how
    transactions are cut): the compacted state of ``(T, E]`` is the same however often it is
    built, and keys are planned in key order. So a resumed job ingests and compacts again from
    scratch, and the downstream counters (keyed by the record's instance id) skip exactly the
    transactions the first attempt committed: nothing applied twice, nothing skipped.
    Refused while workers of the job are still members of its consumer group.
    """
    await _refuse_live_workers(bootstrap, job, "--resume")
    return await delete_job_topics(bootstrap, job, keep_record=True)


async def _refuse_live_workers(bootstrap: str, job: str, what: str) -> None:
    """A job whose workers still run is neither replaced nor resumed under their feet."""
    group = f"tiundo-{job}"
    members = await group_members(bootstrap, group)
    if members:
        raise ConfigError(
            f"job {job}: {members} worker(s) still run (Kafka group {group}); stop them, or "
            f"follow the job with `tiundo status`, before {what}"
        )
