"""The job record: one pinned, checked window, and the settings every worker must share.

``tiundo run`` (and ``tiundo ingest``) write it once, before anything runs, to the compacted topic
``<job>.job`` (:attr:`JOB_TOPIC_SUFFIX`). Workers, whether ``run`` spawned them or they were
attached from other machines, take from it every setting that changes what is written (dry run,
dialect, write source, how transactions are cut, time zone, counter database) and the window;
their own flags and environment cannot turn a dry run into an apply or cut transactions
differently after a restart. The downstream's ``new_collation_enabled`` is pinned too (resolved
by ``run`` from ``mysql.tidb`` when ``TIUNDO_NEW_COLLATION=auto``): it decides how clustered
string primary keys decode. The record's ``instance_id`` is fresh for every start of a job: the
downstream's exactly-once counters are keyed by it, so a second job under an old name never takes
the first one's counters for its own.

A worker refuses a record whose checks did not pass (:func:`pin`). Pure: stdlib and generated
messages only.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from google.protobuf.message import DecodeError as ProtoDecodeError

from app.config import UndoConfig
from app.undo.chunk import STATE_FORMAT
from core.errors import ConfigError, DecodeError
from core.jobnames import PREFIX_ENV
from core.urls import parse_mysql_url
from proto import tiundo_pb2

__all__ = [
    "CHECK_DDL",
    "CHECK_GC",
    "CHECK_WRITER",
    "CHECK_WRITER_FORCED",
    "JOB_TOPIC_SUFFIX",
    "build_record",
    "counter_settings",
    "decode_record",
    "describe",
    "downstream_address",
    "foreign_owner",
    "missing_checks",
    "new_instance_id",
    "pin",
    "schema_pins",
]

JOB_TOPIC_SUFFIX: Final = ".job"

CHECK_GC: Final = "gc"
"""T is not below the cluster's GC safepoint."""
CHECK_DDL: Final = "ddl"
"""No DDL after T on a selected table."""
CHECK_WRITER: Final = "writer"
"""No newer syncpoint appeared while we watched: no changefeed is still writing."""
CHECK_WRITER_FORCED: Final = "writer-forced"
"""The writer check was skipped with ``--force`` (the operator took the responsibility)."""


def new_instance_id() -> str:
    """A fresh id for one start of a job (12 hex digits)."""
    return uuid.uuid4().hex[:12]


def build_record(
    config: UndoConfig,
    *,
    instance_id: str,
    target_ts: int,
    end_ts: int,
    primary_ts: int,
    changefeed: str,
    tables: Iterable[tiundo_pb2.JobTable],
    checks: Sequence[str],
    created_unix_ms: int,
    spread_tables: Sequence[str] = (),
) -> tiundo_pb2.JobRecord:
    """The record of ``config``'s job over ``(target_ts, end_ts]``."""
    if not 0 < target_ts < end_ts:
        raise ConfigError(f"job {config.job}: empty or inverted window ({target_ts}, {end_ts}]")
    return tiundo_pb2.JobRecord(
        job_id=config.job,
        instance_id=instance_id,
        target_ts=target_ts,
        end_ts=end_ts,
        primary_ts=primary_ts,
        changefeed=changefeed,
        tables=list(tables),
        checks_passed=list(checks),
        partitions=config.partitions,
        dialect=config.dialect,
        txn_source=config.txn_source,
        batch_rows=config.batch_rows,
        txn_statements=config.txn_statements,
        tz=config.tz,
        progress_db=config.progress_db,
        dry_run_dir=config.dry_run,
        created_unix_ms=created_unix_ms,
        mount_chunk=config.mount_chunk,
        spread_tables=list(spread_tables),
        downstream=downstream_address(config.downstream),
        new_collation=config.new_collation if config.new_collation != "auto" else "",
        txn_max_bytes=config.txn_max_bytes,
        txn_entry_max_bytes=config.txn_entry_max_bytes,
        topic_prefix=config.topic_prefix,
        replication_factor=config.replication_factor,
        min_insync_replicas=config.min_insync_replicas,
        topic_retention_ms=config.topic_retention_ms,
        state_format=STATE_FORMAT,
    )


def decode_record(raw: bytes, job: str) -> tiundo_pb2.JobRecord:
    """Parse a ``<job>.job`` value; :class:`DecodeError` when it is not a record of ``job``."""
    try:
        record = tiundo_pb2.JobRecord.FromString(raw)
    except ProtoDecodeError as exc:
        raise DecodeError(f"{job}{JOB_TOPIC_SUFFIX}: not a JobRecord ({exc})") from exc
    if record.job_id != job or not record.instance_id:
        raise DecodeError(
            f"{job}{JOB_TOPIC_SUFFIX}: record of job {record.job_id!r} "
            f"instance {record.instance_id!r}, expected job {job!r}"
        )
    return record


def foreign_owner(notes: Mapping[bytes, bytes], job: str, prefix: str) -> str | None:
    """Who else owns the job's topics, as ``<job>.job``'s records show (``None``: nobody).

    Topic names are ``<prefix><job>.…``: prefix ``team-`` with job ``ax`` and prefix ``team-a``
    with job ``x`` name the same topics but not the same consumer group, so the group cannot
    tell that the other job's workers run. Its record can: it names its (job, prefix).
    """
    for key, raw in sorted(notes.items()):
        try:
            record = tiundo_pb2.JobRecord.FromString(raw)
        except ProtoDecodeError:
            record = tiundo_pb2.JobRecord(job_id=key.decode(errors="replace"))
        if key != job.encode() or record.job_id != job or record.topic_prefix != prefix:
            instance = f", instance {record.instance_id}" if record.instance_id else ""
            return (
                f"job {record.job_id or key.decode(errors='replace')!r} (topic prefix "
                f"{record.topic_prefix!r}{instance})"
            )
    return None


def missing_checks(record: tiundo_pb2.JobRecord) -> list[str]:
    """The checks a record must show and does not (empty: it may be undone)."""
    passed = set(record.checks_passed)
    missing = [c for c in (CHECK_GC, CHECK_DDL) if c not in passed]
    if not passed & {CHECK_WRITER, CHECK_WRITER_FORCED}:
        missing.append(CHECK_WRITER)
    return missing


def pin(config: UndoConfig, record: tiundo_pb2.JobRecord) -> UndoConfig:
    """``config`` with every setting the record pins taken from the record.

    What stays the worker's own: where it runs (datadir, web port, Kafka and downstream
    addresses, credentials, retries, timeouts). The topic prefix is the worker's own too (it
    finds the record with it) and must equal the record's, as the downstream must. Raises
    :class:`ConfigError` when the record is of another job or its checks did not pass.
    """
    if record.job_id != config.job:
        raise ConfigError(f"job record of {record.job_id!r} handed to a worker of {config.job!r}")
    if record.topic_prefix != config.topic_prefix:
        raise ConfigError(
            f"job {record.job_id}: this worker's topic prefix is {config.topic_prefix!r}, the "
            f"job was pinned with {record.topic_prefix!r} ({PREFIX_ENV}): set the job's"
        )
    missing = missing_checks(record)
    if missing:
        raise ConfigError(
            f"job {record.job_id} instance {record.instance_id}: its record shows no passed "
            f"{', '.join(missing)} check; start the job with `tiundo run`, which checks first"
        )
    mine = downstream_address(config.downstream)
    if record.downstream and mine != record.downstream:
        raise ConfigError(
            f"job {record.job_id}: this worker's downstream is {mine}, the job writes to "
            f"{record.downstream} (TIUNDO_DOWNSTREAM): a worker never undoes another server"
        )
    if not record.txn_max_bytes or not record.txn_entry_max_bytes:
        raise ConfigError(
            f"job {record.job_id} instance {record.instance_id}: its record pins no transaction "
            "byte bound (written by an older tiundo, which cut by rows only); finish it with "
            "that version or start a new job"
        )
    if record.state_format != STATE_FORMAT:
        theirs = f"format {record.state_format}" if record.state_format else "an older format"
        raise ConfigError(
            f"job {record.job_id} instance {record.instance_id}: its workers keep the compact "
            f"state in {theirs}, this worker in format {STATE_FORMAT}: run every worker of a "
            "job on the tiundo version that started it, or start a new job"
        )
    return config.replace(
        instance=record.instance_id,
        attempt=record.attempt,
        partitions=record.partitions,
        dialect=record.dialect,
        txn_source=record.txn_source,
        batch_rows=record.batch_rows,
        txn_statements=record.txn_statements,
        mount_chunk=record.mount_chunk,
        txn_max_bytes=record.txn_max_bytes,
        txn_entry_max_bytes=record.txn_entry_max_bytes,
        tz=record.tz,
        progress_db=record.progress_db,
        dry_run=record.dry_run_dir,
        primary_ts=record.primary_ts,
        schema_versions=schema_pins(record.tables),
        new_collation=record.new_collation or config.new_collation,
        # a record of an older tiundo pins none: its topics were created with factor 1
        replication_factor=record.replication_factor or 1,
        min_insync_replicas=record.min_insync_replicas,
        topic_retention_ms=record.topic_retention_ms,
    ).validate()


def downstream_address(url: str) -> str:
    """``host:port`` of a ``mysql://`` URL: the downstream's identity in the record (no secret)."""
    target = parse_mysql_url(url)
    return f"{target.host.lower()}:{target.port}"


def schema_pins(tables: Iterable[tiundo_pb2.JobTable]) -> str:
    """``table_id=version,…`` of the record's tables (``UndoConfig.schema_versions``)."""
    return ",".join(f"{t.table_id}={t.schema_version}" for t in tables)


_SETTINGS_WIDTH: Final = 64
"""``undo_progress.settings`` is a VARCHAR(64) (:mod:`app.sink.mysql`)."""


def counter_settings(config: UndoConfig) -> str:
    """The part of a counter key that names one instance's transaction sequence.

    Transactions are numbered per (partition, table, phase); the numbering depends on how
    they are cut (batch rows, statements per transaction, mount chunk, bytes per transaction,
    the entry bound that drops rows), and is only meaningful within one instance of a job.
    A cut too long to spell out within the column is named by its digest instead.
    """
    cut = (
        f"{config.batch_rows}x{config.txn_statements}x{config.mount_chunk}"
        f"x{config.txn_max_bytes}x{config.txn_entry_max_bytes}b"
    )
    prefix = f"{config.instance}/" if config.instance else ""
    if len(prefix) + len(cut) > _SETTINGS_WIDTH:
        cut = "h" + hashlib.sha256(cut.encode()).hexdigest()[:32]
    return prefix + cut


def describe(record: tiundo_pb2.JobRecord) -> str:
    """One line naming the job's window (for refusals and logs)."""
    tables = ", ".join(f"{t.db_name}.{t.table_name}" for t in record.tables[:5])
    more = f" and {len(record.tables) - 5} more" if len(record.tables) > 5 else ""
    mode = f", dry run to {record.dry_run_dir}" if record.dry_run_dir else ""
    return (
        f"job {record.job_id} (instance {record.instance_id}): window "
        f"({record.target_ts}, {record.end_ts}] over {tables or 'no table'}{more}{mode}"
    )
