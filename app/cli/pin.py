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
    build_record,
    decode_record,
    describe,
    foreign_owner,
    new_instance_id,
)
from app.sink.collation import read_new_collation
from core.errors import ConfigError, DecodeError, TransientError, UnsafeToUndoError
from core.jobnames import PREFIX_ENV, JobNames
from core.kafka_admin import (
    COMPACTED,
    TopicSpec,
    create_topic_exclusive,
    ensure_topics,
    group_members,
    list_topics,
    resolve_policy,
)
from core.kafka_security import kafka_options
from core.topicpolicy import TopicPolicy
from core.urls import parse_mysql_url
from ingest.config import IngestConfig
from ingest.patterns import quote_pattern
from proto import tiundo_pb2

__all__ = [
    "ingest_pinned",
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


def job_topic(job: str, prefix: str = "") -> str:
    """The compacted topic holding the job record."""
    return JobNames(job, prefix).record


async def _taken(bootstrap: str, job: str, prefix: str) -> list[str]:
    """The job's topics that exist (exact names, never a prefix match)."""
    names = JobNames(job, prefix)
    own = set(job_topics(job, prefix=prefix))
    return [n for n in await list_topics(bootstrap, names.listing_prefixes) if n in own]


async def read_record(bootstrap: str, job: str, *, prefix: str = "") -> tiundo_pb2.JobRecord | None:
    """The job's record, or ``None`` when the job was never pinned.

    Refused (:class:`ConfigError`, naming it) when the topic holds another job's record: the
    two jobs' prefixes and names concatenate alike (:func:`app.jobrecord.foreign_owner`), so
    every topic of this job is that job's, and nothing may replace, resume, attach to or
    clean them up under this name.
    """
    topic = job_topic(job, prefix)
    notes = await read_compacted(bootstrap, topic)
    other = foreign_owner(notes, job, prefix)
    if other is not None:
        raise ConfigError(
            f"job {job!r} under {PREFIX_ENV} {prefix!r}: its topics ({topic} and the others "
            f"of {topic.removesuffix('.job')}.*) belong to {other}, whose prefix and name "
            "concatenate alike; choose another --job or --topic-prefix"
        )
    raw = notes.get(job.encode())
    return None if raw is None else decode_record(raw, job)


async def _old_state(bootstrap: str, job: str, prefix: str) -> str:
    notes = await read_compacted(bootstrap, JobNames(job, prefix).status)
    raw = notes.get(job.encode())
    if raw is None:
        return "no status"
    status = tiundo_pb2.JobStatus.FromString(raw)
    return tiundo_pb2.JobStatus.State.Name(status.state)


async def refuse_taken_name(bootstrap: str, job: str, *, prefix: str = "") -> None:
    """Raise :class:`ConfigError` naming the earlier job when ``job``'s name is taken.

    Cheap, so it runs before anything is asked of the cluster; the atomic claim is
    :func:`pin_job`'s exclusive creation of ``<job>.job``.
    """
    found = await _taken(bootstrap, job, prefix)
    if not found:
        return
    try:
        old = await read_record(bootstrap, job, prefix=prefix)
    except DecodeError:
        old = None
    what = describe(old) if old is not None else f"job {job} (topics {', '.join(found[:3])})"
    state = await _old_state(bootstrap, job, prefix)
    raise ConfigError(
        f"the job name {job!r} is taken: {what}, state {state}; choose another --job, or "
        "--replace to delete that job's topics and downstream counters first"
    )


async def replace_job(
    bootstrap: str, job: str, *, downstream: str, progress_db: str, prefix: str = ""
) -> None:
    """Delete an earlier job of this name: its topics and its downstream counter rows.

    Refused while its workers run; returns once Kafka shows the topics gone.
    """
    found = await _taken(bootstrap, job, prefix)
    if not found:
        return
    try:  # first: topics another job owns are refused (read_record), however idle its group
        old = await read_record(bootstrap, job, prefix=prefix)
    except DecodeError:
        old = None
    await _refuse_live_workers(bootstrap, job, "--replace", prefix)
    deleted = await delete_job_topics(bootstrap, job, prefix=prefix)
    if old is None:  # no instance to name: its rows (if any) stay, harmless (keyed by instance)
        log.warning("job %s: replaced; deleted topics %s; no job record, so no counter row "
                    "deleted", job, deleted)  # fmt: skip
        return
    rows = await delete_counters(downstream, progress_db, job, old.instance_id)
    log.warning("job %s: replaced; deleted topics %s and %d counter row(s) of instance %s",
                job, deleted, rows, old.instance_id)  # fmt: skip


async def publish_record(bootstrap: str, record: tiundo_pb2.JobRecord) -> None:
    """Write the record to ``<job>.job`` (created compacted, one partition), acknowledged."""
    topic = job_topic(record.job_id, record.topic_prefix)
    await ensure_topics(bootstrap, [TopicSpec(topic, 1, configs=COMPACTED)], policy=_policy(record))
    producer = AIOKafkaProducer(
        **kafka_options(), bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
    )
    try:
        await producer.start()
        await producer.send_and_wait(topic, record.SerializeToString(), key=record.job_id.encode())
    except KafkaError as exc:
        raise TransientError(
            f"Kafka at {bootstrap}: job record of {record.job_id}: {exc!r}"
        ) from exc
    finally:
        await producer.stop()


def _policy(record: tiundo_pb2.JobRecord) -> TopicPolicy:
    """How the record's job creates its topics (a record of an older tiundo: factor 1)."""
    return TopicPolicy(
        record.replication_factor or 1, record.min_insync_replicas, record.topic_retention_ms
    )


def ingest_pinned(cfg: IngestConfig, record: tiundo_pb2.JobRecord) -> IngestConfig:
    """The ingest config writing for ``record``'s start, its topic created as pinned."""
    policy = _policy(record)
    return cfg.replace(
        instance=record.instance_id,
        attempt=record.attempt,
        topic_prefix=record.topic_prefix,
        replication_factor=policy.replication_factor,
        min_insync_replicas=policy.min_insync_replicas,
        topic_retention_ms=policy.retention_ms,
    )


async def wait_for_record(
    bootstrap: str, job: str, *, timeout_s: float, poll_s: float = 1.0, prefix: str = ""
) -> tiundo_pb2.JobRecord:
    """The job's record, waiting up to ``timeout_s`` for ``tiundo run`` to publish it."""
    deadline = time.monotonic() + timeout_s
    said = False
    topic = job_topic(job, prefix)
    while True:
        record = await read_record(bootstrap, job, prefix=prefix)
        if record is not None:
            return record
        if time.monotonic() > deadline:
            raise ConfigError(
                f"job {job}: no job record on {topic} after {timeout_s:.0f} s; "
                "start the job with `tiundo run` (or `tiundo ingest`) first"
            )
        if not said:
            log.warning("job %s: waiting for its job record on %s", job, topic)
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
    """Claim the job's name and publish its record; ``config`` with the record's instance.

    The topic policy is resolved against the cluster's broker count here, once, and pinned.
    """
    bootstrap = config.kafka_bootstrap
    policy = await resolve_policy(bootstrap, config.topic_policy)
    config = config.replace(
        new_collation=await pinned_collation(config),
        replication_factor=policy.replication_factor,
        min_insync_replicas=policy.min_insync_replicas,
        topic_retention_ms=policy.retention_ms,
    )
    prefix = config.topic_prefix
    if replace:
        await replace_job(
            bootstrap,
            config.job,
            downstream=config.downstream,
            progress_db=config.progress_db,
            prefix=prefix,
        )
    else:
        await refuse_taken_name(bootstrap, config.job, prefix=prefix)
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
    claim = TopicSpec(job_topic(config.job, prefix), 1, COMPACTED)
    if not await create_topic_exclusive(bootstrap, claim, policy=policy):
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


async def reset_for_resume(bootstrap: str, job: str, *, prefix: str = "") -> list[str]:
    """Delete what a resumed job redoes; keep its record and its downstream counters.

    The transactions of a job are a function of its record alone (window, tables, how
    transactions are cut): the compacted state of ``(T, E]`` is the same however often it is
    built, and keys are planned in key order. So a resumed job ingests and compacts again from
    scratch, and the downstream counters (keyed by the record's instance id) skip exactly the
    transactions the first attempt committed: nothing applied twice, nothing skipped.
    Refused while workers of the job are still members of its consumer group.
    """
    await _refuse_live_workers(bootstrap, job, "--resume", prefix)
    return await delete_job_topics(bootstrap, job, keep_record=True, prefix=prefix)


async def _refuse_live_workers(bootstrap: str, job: str, what: str, prefix: str = "") -> None:
    """A job whose workers still run is neither replaced nor resumed under their feet."""
    group = JobNames(job, prefix).group
    members = await group_members(bootstrap, group)
    if members:
        raise ConfigError(
            f"job {job}: {members} worker(s) still run (Kafka group {group}); stop them, or "
            f"follow the job with `tiundo status`, before {what}"
        )
