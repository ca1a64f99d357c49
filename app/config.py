"""Settings of the Faust undo application, one dataclass, each env var next to its setting.

The variables are declared with :mod:`core.settings`, which reads them
(:meth:`UndoConfig.from_env`) and writes them for worker subprocesses (:meth:`UndoConfig.to_env`).

The job id is fixed per app instance: every worker of one job runs with the same
``TIUNDO_JOB``, and the Faust app id, the topic names and the RocksDB table names all derive from
it, so two jobs never share state. Pure: stdlib only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from core import settings
from core.errors import ConfigError
from core.jobnames import PREFIX_ENV, JobNames, check_prefix
from core.metrics_addr import ADDR_ENV, parse_addr
from core.settings import env_var, setting
from core.tls import TlsFiles
from core.topicpolicy import MIN_INSYNC_ENV, REPLICATION_ENV, RETENTION_ENV, TopicPolicy
from core.urls import parse_mysql_url, redact

__all__ = ["FAUST_TABLES", "UndoConfig", "job_topics", "parse_tz"]

_JOB_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_TZ_RE = re.compile(r"^[+-](\d{2}):(\d{2})$")


#: the Faust tables of the undo app (:mod:`app.topics`); each has a ``<app id>-<name>-changelog``
FAUST_TABLES: Final = ("compact", "progress")


def job_topics(job: str, *, keep_record: bool = False, prefix: str = "") -> tuple[str, ...]:
    """Every Kafka topic of ``job`` (under the topic ``prefix``), by its exact name.

    Never a prefix: job ``a``'s Faust topics ``tiundo-a-…`` share a prefix with job ``a-b``'s.
    ``keep_record`` leaves out ``<job>.job``.
    """
    return JobNames(job, prefix).topics(FAUST_TABLES, keep_record=keep_record)


def parse_tz(text: str) -> dt.timezone:
    """``+HH:MM`` / ``-HH:MM`` as a fixed-offset timezone (what TIMESTAMP values decode in)."""
    m = _TZ_RE.match(text)
    if not m or int(m.group(1)) > 14 or int(m.group(2)) > 59:
        raise ConfigError(f"TIUNDO_TZ must be an offset like +00:00, got {text!r}")
    delta = dt.timedelta(hours=int(m.group(1)), minutes=int(m.group(2)))
    return dt.timezone(-delta if text[0] == "-" else delta)


@dataclass(frozen=True, slots=True)
class UndoConfig:
    """Everything a worker of one undo job needs; build with :meth:`from_env`, then validate."""

    job: str = dataclasses.field(metadata=env_var("TIUNDO_JOB", unset=""))
    """Job id (unset = empty, which :meth:`validate` rejects); topics ``<job>.kv``,
    ``<job>.dead``, ``<job>.progress``, ``<job>.status`` and the Faust app id ``tiundo-<job>``
    derive from it (:class:`core.jobnames.JobNames`), each behind ``topic_prefix``."""
    topic_prefix: str = setting(PREFIX_ENV, "")
    """Prefix of every topic and of the consumer group of the job (shared Kafka clusters). A
    worker's own: it finds the job record with it, and refuses a record pinned with another."""
    replication_factor: int = setting(REPLICATION_ENV, 0)
    """Replication factor of every topic the job creates; 0 = min(3, brokers). Pinned."""
    min_insync_replicas: int = setting(MIN_INSYNC_ENV, 0)
    """``min.insync.replicas`` of those topics; 0 = replication factor - 1 (>= 1). Pinned."""
    topic_retention_ms: int = setting(RETENTION_ENV, 0)
    """``retention.ms`` of ``<job>.kv`` and ``<job>.dead``; 0 = the broker's, -1 = for ever.
    Pinned."""
    kafka: str = setting("TIUNDO_KAFKA", "kafka://127.0.0.1:9092")
    """``kafka://host:port[,host:port]``."""
    downstream: str = setting("TIUNDO_DOWNSTREAM", "mysql://root@127.0.0.1:4000")
    """``mysql://user:pass@host:port`` of the TiDB (or MySQL) to rewind."""
    status_api: str = setting("TIUNDO_STATUS_API", "http://127.0.0.1:10080")
    """``http://host:port`` of a TiDB status port (schema at T)."""
    ca: str = setting("TIUNDO_CA", "")
    """The cluster's CA (PEM file), as ``tiundo run``'s ``--ca``: checks an ``https://`` status
    port (empty: the system roots). The worker's own, never pinned."""
    cert: str = setting("TIUNDO_CERT", "")
    """This client's certificate for an ``https://`` status port that asks for one (``--cert``)."""
    key: str = setting("TIUNDO_KEY", "")
    """The key of ``cert`` (``--key``)."""
    partitions: int = setting("TIUNDO_PARTITIONS", 8)
    """Partitions of ``<job>.kv`` (= of every table); checked at start."""
    batch_rows: int = setting("TIUNDO_BATCH_ROWS", 1000)
    """Rows per multi-row statement."""
    txn_statements: int = setting("TIUNDO_TXN_STATEMENTS", 4)
    """A transaction holds up to this many full statements' rows (``txn_statements ×
    batch_rows`` rows; one-row deletes share it, many per transaction)."""
    txn_max_bytes: int = setting("TIUNDO_TXN_MAX_BYTES", 64 << 20)
    """A transaction's statements hold at most this many bytes of data (estimated from their
    parameters): wide rows would otherwise pass TiDB's ``txn-total-size-limit`` (100 MB by
    default, error 8004) long before the row count is reached. A statement over it is alone."""
    txn_entry_max_bytes: int = setting("TIUNDO_TXN_ENTRY_MAX_BYTES", 6 << 20)
    """A row to write larger than this (estimated) is dead-lettered: TiDB refuses a key-value
    entry over ``txn-entry-size-limit`` (6 MiB by default, error 8025); raise both together."""
    dialect: str = setting("TIUNDO_DIALECT", "tidb")
    """``tidb`` or ``mysql`` (MariaDB stands in for TiDB in tests)."""
    datadir: str = setting("TIUNDO_DATADIR", "tiundo-data")
    """This worker's RocksDB directory (one per worker process)."""
    tz: str = setting("TIUNDO_TZ", "+00:00")
    """Offset TIMESTAMP values are decoded in and the sink session uses."""
    dry_run: str = setting("TIUNDO_DRY_RUN", "")
    """A directory (shared by all workers) to write the undo SQL to instead of applying it;
    empty = apply."""
    txn_source: int = setting("TIUNDO_TXN_SOURCE", 1)
    """``tidb_cdc_write_source`` (1..15) tagging our writes on TiDB."""
    primary_ts: int = setting("TIUNDO_PRIMARY_TS", 0)
    """The syncpoint's upstream primary_ts, for the report (0 = unknown)."""
    web_port: int = setting("TIUNDO_WEB_PORT", 0)
    """Faust web port of this worker; 0 = web disabled."""
    metrics_addr: str = setting(ADDR_ENV, "")
    """``host:port`` this worker serves Prometheus ``/metrics`` on; empty = none. The
    worker's own (never pinned): ``tiundo run`` gives its workers its own port + 1, + 2, …."""
    sink_retries: int = setting("TIUNDO_SINK_RETRIES", 10)
    """Attempts per transaction on transient errors."""
    retry_backoff_s: float = setting("TIUNDO_RETRY_BACKOFF_S", 0.2)
    """First backoff; doubles per attempt, capped at 5 s."""
    retry_deadline_s: float = setting("TIUNDO_RETRY_DEADLINE_S", 300.0)
    """How long a record (or a downstream transaction) may keep failing with transient errors
    (Kafka, downstream unreachable, deadlocks) before its partition fails with the last one;
    any other error fails the partition at once (:mod:`app.stages.failure`)."""
    sink_connect_timeout_s: float = setting("TIUNDO_SINK_CONNECT_TIMEOUT_S", 10.0)
    """Opening a downstream connection (TCP, greeting, login, session settings)."""
    sink_timeout_s: float = setting("TIUNDO_SINK_TIMEOUT_S", 120.0)
    """Waiting for the downstream's answer to one request (statements, commit): a downstream
    that never answers becomes a transient error (more than InnoDB's and TiDB's 50 s lock
    wait, so a lock wait still ends as the server's own error)."""
    mount_chunk: int = setting("TIUNDO_MOUNT_CHUNK", 5000)
    """Row keys mounted and planned at a time (bounds memory)."""
    compact_buffer_changes: int = setting("TIUNDO_COMPACT_BUFFER_CHANGES", 50000)
    """Changes a partition merges in memory before it writes them to its compact table (each
    distinct key once) and acknowledges their records (:mod:`app.undo.buffer`). The worker's
    own: it changes when state is written, never what."""
    compact_flush_s: float = setting("TIUNDO_COMPACT_FLUSH_S", 2.0)
    """A partition with merged changes that received nothing for this long writes them; it
    also writes whenever it has caught up with ``<job>.kv``, and always before its End."""
    compact_max_delay_s: float = setting("TIUNDO_COMPACT_MAX_DELAY_S", 0.5)
    """While records keep coming, a partition writes what it merged at least this often (the
    writes overlap the ingest; a worker behind merges more per write). The worker's own."""
    state_write_buffer_mb: int = setting("TIUNDO_STATE_WRITE_BUFFER_MB", 8)
    """RocksDB memtable size of each table partition a worker holds (two per partition, so
    ``2 × 2 × this`` MiB per partition at most). Faust's default, 3 × 64 MiB, keeps a
    10-million-change window's states in memory instead of on disk."""
    state_block_cache_mb: int = setting("TIUNDO_STATE_BLOCK_CACHE_MB", 16)
    """RocksDB block cache of each table partition (Faust's default: 2 GiB each)."""
    progress_db: str = setting("TIUNDO_PROGRESS_DB", "tiundo_meta")
    """Downstream database of the ``undo_progress`` counters that make every undo transaction
    exactly-once (created if missing); ``-`` = none: a crash between a commit and its local
    progress record may then re-apply one transaction."""
    session_timeout_s: float = setting("TIUNDO_SESSION_TIMEOUT_S", 30.0)
    """Kafka group session timeout: how long a killed worker's partitions stay orphaned
    before the others take them over (broker minimum: 6 s)."""
    stall_s: float = setting("TIUNDO_STALL_S", 120.0)
    """A partition without a report that no worker moved for this long is stalled: ``tiundo
    run`` and ``tiundo status`` name it and the worker holding it, and that worker reads it
    again from its committed offset after half of it (:mod:`app.stages.watch`); still stalled
    as long again (at least ``retry_deadline_s``), it fails ``tiundo run``."""
    instance: str = setting("TIUNDO_INSTANCE", "")
    """Id of this start of the job, from its job record (:mod:`app.jobrecord`); keys the
    downstream's exactly-once counters. Empty only for workers started without a record."""
    new_collation: str = setting("TIUNDO_NEW_COLLATION", "auto")
    """The downstream cluster's ``new_collation_enabled``: ``on``, ``off`` or ``auto`` (read
    ``mysql.tidb`` on the downstream, :mod:`app.sink.collation`). Off (clusters bootstrapped
    before v6.0), clustered string PK values live only in the row key. Pinned in the job
    record, so ``auto`` is resolved once, when the job starts."""
    attempt: int = setting("TIUNDO_ATTEMPT", 0)
    """How often the job was resumed, from its record; with ``instance`` it names the worker's
    local state folder, so a resumed job never reads what an earlier attempt left behind."""
    schema_versions: str = setting("TIUNDO_SCHEMA_VERSIONS", "")
    """``table_id=version,…`` from the job record (:func:`app.jobrecord.schema_pins`): the
    ``update_timestamp`` of each selected table's schema when the job was pinned. A worker
    refuses to decode a table whose schema has another one (a DDL after the checks); empty only
    for workers started without a record."""

    @property
    def status_tls(self) -> TlsFiles:
        """TLS files for an ``https://`` status API (:class:`core.status_api.StatusApiClient`)."""
        return TlsFiles(self.ca, self.cert, self.key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> UndoConfig:
        """Read every TIUNDO_* setting (unset or empty = the declared default)."""
        return settings.from_env(cls, env)

    def to_env(self) -> dict[str, str]:
        """The TIUNDO_* variables that reproduce this config (for worker subprocesses)."""
        return settings.to_env(self)

    def replace(self, **changes: object) -> UndoConfig:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> UndoConfig:
        """Raise :class:`ConfigError` naming the first bad setting; return self."""
        if not _JOB_RE.match(self.job):
            raise ConfigError(
                f"TIUNDO_JOB must be 1-63 letters, digits, '_' or '-', got {self.job!r}"
            )
        check_prefix(self.topic_prefix)
        self.topic_policy.check()
        if self.metrics_addr:
            parse_addr(self.metrics_addr)
        if not self.kafka.startswith("kafka://") or not self.kafka.removeprefix("kafka://"):
            raise ConfigError(f"TIUNDO_KAFKA must be kafka://host:port, got {redact(self.kafka)!r}")
        parse_mysql_url(self.downstream)
        if not re.match(r"^https?://[^/]+", self.status_api):
            raise ConfigError(
                f"TIUNDO_STATUS_API must be http://host:port, got {redact(self.status_api)!r}"
            )
        for name, value in (
            ("TIUNDO_PARTITIONS", self.partitions),
            ("TIUNDO_BATCH_ROWS", self.batch_rows),
            ("TIUNDO_TXN_STATEMENTS", self.txn_statements),
            ("TIUNDO_SINK_RETRIES", self.sink_retries),
            ("TIUNDO_MOUNT_CHUNK", self.mount_chunk),
            ("TIUNDO_COMPACT_BUFFER_CHANGES", self.compact_buffer_changes),
            ("TIUNDO_STATE_WRITE_BUFFER_MB", self.state_write_buffer_mb),
            ("TIUNDO_STATE_BLOCK_CACHE_MB", self.state_block_cache_mb),
            ("TIUNDO_TXN_MAX_BYTES", self.txn_max_bytes),
            ("TIUNDO_TXN_ENTRY_MAX_BYTES", self.txn_entry_max_bytes),
        ):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if self.dialect not in ("tidb", "mysql"):
            raise ConfigError(f"TIUNDO_DIALECT must be tidb or mysql, got {self.dialect!r}")
        if self.new_collation not in ("auto", "on", "off"):
            raise ConfigError(
                f"TIUNDO_NEW_COLLATION must be auto, on or off, got {self.new_collation!r}"
            )
        if not self.datadir:
            raise ConfigError("TIUNDO_DATADIR must not be empty")
        parse_tz(self.tz)
        if not 1 <= self.txn_source <= 15:
            raise ConfigError(f"TIUNDO_TXN_SOURCE must be in 1..15, got {self.txn_source}")
        if self.progress_db != "-" and not re.match(r"^[A-Za-z0-9_]{1,64}$", self.progress_db):
            raise ConfigError(
                f"TIUNDO_PROGRESS_DB must be a plain database name or '-', got {self.progress_db!r}"
            )
        if self.session_timeout_s < 6:
            raise ConfigError("TIUNDO_SESSION_TIMEOUT_S must be >= 6 (Kafka's minimum)")
        for name, secs in (
            ("TIUNDO_RETRY_DEADLINE_S", self.retry_deadline_s),
            ("TIUNDO_SINK_CONNECT_TIMEOUT_S", self.sink_connect_timeout_s),
            ("TIUNDO_SINK_TIMEOUT_S", self.sink_timeout_s),
            ("TIUNDO_STALL_S", self.stall_s),
            ("TIUNDO_COMPACT_FLUSH_S", self.compact_flush_s),
            ("TIUNDO_COMPACT_MAX_DELAY_S", self.compact_max_delay_s),
        ):
            if not secs > 0:
                raise ConfigError(f"{name} must be a number of seconds > 0, got {secs}")
        self.pinned_schemas()
        if self.primary_ts < 0 or self.web_port < 0 or self.retry_backoff_s < 0:
            raise ConfigError("TIUNDO_PRIMARY_TS, TIUNDO_WEB_PORT, TIUNDO_RETRY_BACKOFF_S are >= 0")
        return self

    def pinned_schemas(self) -> dict[int, int]:
        """Logical table id → pinned schema version, parsed from ``schema_versions``."""
        out: dict[int, int] = {}
        for item in filter(None, (x.strip() for x in self.schema_versions.split(","))):
            tid, sep, version = item.partition("=")
            try:
                if not sep:
                    raise ValueError(item)
                out[int(tid)] = int(version)
            except ValueError:
                raise ConfigError(
                    f"TIUNDO_SCHEMA_VERSIONS must be table_id=version,…, got {item!r}"
                ) from None
        return out

    def state_options(self) -> dict[str, int]:
        """Faust's RocksDB options (``Table(options=...)``) for every table partition.

        Bounds a worker's state memory: each open partition DB holds at most two memtables and
        its block cache, instead of Faust's 3 × 64 MiB and 2 GiB (issue 15, peak RSS).
        """
        mib = 1 << 20
        return {
            "write_buffer_size": self.state_write_buffer_mb * mib,
            "max_write_buffer_number": 2,
            "block_cache_size": self.state_block_cache_mb * mib,
        }

    @property
    def state_dir(self) -> str:
        """The RocksDB folder of this attempt inside ``datadir`` (Faust's ``datadir``)."""
        if not self.instance:
            return self.datadir
        return os.path.join(self.datadir, f"{self.instance}-{self.attempt}")

    @property
    def kafka_bootstrap(self) -> str:
        """``host:port[,...]`` for aiokafka."""
        return self.kafka.removeprefix("kafka://").rstrip("/")

    @property
    def names(self) -> JobNames:
        """The job's topic and group names under its prefix."""
        return JobNames(self.job, self.topic_prefix)

    @property
    def topic_policy(self) -> TopicPolicy:
        """How the job's topics are created (replication, min ISR, retention)."""
        return TopicPolicy(
            self.replication_factor, self.min_insync_replicas, self.topic_retention_ms
        )

    @property
    def app_id(self) -> str:
        """Faust app id (= consumer group and prefix of changelog topics)."""
        return self.names.group

    @property
    def kv_topic(self) -> str:
        """Changes from the ingest worker (pre-created with ``partitions`` partitions)."""
        return self.names.kv

    @property
    def dead_topic(self) -> str:
        """Dead letters (Envelope.dead_letter)."""
        return self.names.dead

    @property
    def progress_topic(self) -> str:
        """Compacted: per-partition phase completion (the cross-partition barrier) and reports."""
        return self.names.progress

    @property
    def status_topic(self) -> str:
        """Compacted: JobStatus records keyed by job id."""
        return self.names.status
