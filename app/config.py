"""Settings of the Faust undo application, one dataclass, each env var next to its setting.

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

from core.errors import ConfigError
from core.urls import parse_mysql_url

__all__ = ["UndoConfig", "parse_tz"]

_JOB_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_TZ_RE = re.compile(r"^[+-](\d{2}):(\d{2})$")


def parse_tz(text: str) -> dt.timezone:
    """``+HH:MM`` / ``-HH:MM`` as a fixed-offset timezone (what TIMESTAMP values decode in)."""
    m = _TZ_RE.match(text)
    if not m or int(m.group(1)) > 14 or int(m.group(2)) > 59:
        raise ConfigError(f"TIUNDO_TZ must be an offset like +00:00, got {text!r}")
    delta = dt.timedelta(hours=int(m.group(1)), minutes=int(m.group(2)))
    return dt.timezone(-delta if text[0] == "-" else delta)


def _env(name: str, env: Mapping[str, str], default: str) -> str:
    return env.get(name, "") or default


def _int(name: str, env: Mapping[str, str], default: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _float(name: str, env: Mapping[str, str], default: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


DEFAULT_KAFKA = "kafka://127.0.0.1:9092"
DEFAULT_DOWNSTREAM = "mysql://root@127.0.0.1:4000"
DEFAULT_STATUS_API = "http://127.0.0.1:10080"
DEFAULT_PARTITIONS = 8
DEFAULT_BATCH_ROWS = 1000
DEFAULT_TXN_STATEMENTS = 4
DEFAULT_DIALECT = "tidb"
DEFAULT_DATADIR = "tiundo-data"
DEFAULT_TZ = "+00:00"
DEFAULT_TXN_SOURCE = 1
DEFAULT_SINK_RETRIES = 10
DEFAULT_RETRY_BACKOFF_S = 0.2
DEFAULT_MOUNT_CHUNK = 5000
DEFAULT_SESSION_TIMEOUT_S = 30.0
DEFAULT_PROGRESS_DB = "tiundo_meta"


@dataclass(frozen=True, slots=True)
class UndoConfig:
    """Everything a worker of one undo job needs; build with :meth:`from_env`, then validate."""

    job: str
    """TIUNDO_JOB: job id; topics ``<job>.kv``, ``<job>.dead``, ``<job>.progress``,
    ``<job>.status`` and the Faust app id ``tiundo-<job>`` derive from it."""
    kafka: str = DEFAULT_KAFKA
    """TIUNDO_KAFKA: ``kafka://host:port[,host:port]``."""
    downstream: str = DEFAULT_DOWNSTREAM
    """TIUNDO_DOWNSTREAM: ``mysql://user:pass@host:port`` of the TiDB (or MySQL) to rewind."""
    status_api: str = DEFAULT_STATUS_API
    """TIUNDO_STATUS_API: ``http://host:port`` of a TiDB status port (schema at T)."""
    partitions: int = DEFAULT_PARTITIONS
    """TIUNDO_PARTITIONS: partitions of ``<job>.kv`` (= of every table); checked at start."""
    batch_rows: int = DEFAULT_BATCH_ROWS
    """TIUNDO_BATCH_ROWS: rows per multi-row statement."""
    txn_statements: int = DEFAULT_TXN_STATEMENTS
    """TIUNDO_TXN_STATEMENTS: a transaction holds up to this many full statements' rows
    (``txn_statements × batch_rows`` rows; one-row deletes share it, many per transaction)."""
    dialect: str = DEFAULT_DIALECT
    """TIUNDO_DIALECT: ``tidb`` or ``mysql`` (MariaDB stands in for TiDB in tests)."""
    datadir: str = DEFAULT_DATADIR
    """TIUNDO_DATADIR: this worker's RocksDB directory (one per worker process)."""
    tz: str = DEFAULT_TZ
    """TIUNDO_TZ: offset TIMESTAMP values are decoded in and the sink session uses."""
    dry_run: str = ""
    """TIUNDO_DRY_RUN: a directory (shared by all workers) to write the undo SQL to instead
    of applying it; empty = apply."""
    txn_source: int = DEFAULT_TXN_SOURCE
    """TIUNDO_TXN_SOURCE: ``tidb_cdc_write_source`` (1..15) tagging our writes on TiDB."""
    primary_ts: int = 0
    """TIUNDO_PRIMARY_TS: the syncpoint's upstream primary_ts, for the report (0 = unknown)."""
    web_port: int = 0
    """TIUNDO_WEB_PORT: Faust web port of this worker; 0 = web disabled."""
    sink_retries: int = DEFAULT_SINK_RETRIES
    """TIUNDO_SINK_RETRIES: attempts per transaction on transient errors."""
    retry_backoff_s: float = DEFAULT_RETRY_BACKOFF_S
    """TIUNDO_RETRY_BACKOFF_S: first backoff; doubles per attempt, capped at 5 s."""
    mount_chunk: int = DEFAULT_MOUNT_CHUNK
    """TIUNDO_MOUNT_CHUNK: row keys mounted and planned at a time (bounds memory)."""
    progress_db: str = DEFAULT_PROGRESS_DB
    """TIUNDO_PROGRESS_DB: downstream database of the ``undo_progress`` counters that make
    every undo transaction exactly-once (created if missing); ``-`` = none: a crash between
    a commit and its local progress record may then re-apply one transaction."""
    session_timeout_s: float = DEFAULT_SESSION_TIMEOUT_S
    """TIUNDO_SESSION_TIMEOUT_S: Kafka group session timeout: how long a killed worker's
    partitions stay orphaned before the others take them over (broker minimum: 6 s)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> UndoConfig:
        """Read every TIUNDO_* setting (unset or empty = the named default)."""
        e = os.environ if env is None else env
        return cls(
            job=_env("TIUNDO_JOB", e, ""),
            kafka=_env("TIUNDO_KAFKA", e, DEFAULT_KAFKA),
            downstream=_env("TIUNDO_DOWNSTREAM", e, DEFAULT_DOWNSTREAM),
            status_api=_env("TIUNDO_STATUS_API", e, DEFAULT_STATUS_API),
            partitions=_int("TIUNDO_PARTITIONS", e, DEFAULT_PARTITIONS),
            batch_rows=_int("TIUNDO_BATCH_ROWS", e, DEFAULT_BATCH_ROWS),
            txn_statements=_int("TIUNDO_TXN_STATEMENTS", e, DEFAULT_TXN_STATEMENTS),
            dialect=_env("TIUNDO_DIALECT", e, DEFAULT_DIALECT),
            datadir=_env("TIUNDO_DATADIR", e, DEFAULT_DATADIR),
            tz=_env("TIUNDO_TZ", e, DEFAULT_TZ),
            dry_run=_env("TIUNDO_DRY_RUN", e, ""),
            txn_source=_int("TIUNDO_TXN_SOURCE", e, DEFAULT_TXN_SOURCE),
            primary_ts=_int("TIUNDO_PRIMARY_TS", e, 0),
            web_port=_int("TIUNDO_WEB_PORT", e, 0),
            sink_retries=_int("TIUNDO_SINK_RETRIES", e, DEFAULT_SINK_RETRIES),
            retry_backoff_s=_float("TIUNDO_RETRY_BACKOFF_S", e, DEFAULT_RETRY_BACKOFF_S),
            mount_chunk=_int("TIUNDO_MOUNT_CHUNK", e, DEFAULT_MOUNT_CHUNK),
            progress_db=_env("TIUNDO_PROGRESS_DB", e, DEFAULT_PROGRESS_DB),
            session_timeout_s=_float("TIUNDO_SESSION_TIMEOUT_S", e, DEFAULT_SESSION_TIMEOUT_S),
        )

    def to_env(self) -> dict[str, str]:
        """The TIUNDO_* variables that reproduce this config (for worker subprocesses)."""
        names = {
            "job": "TIUNDO_JOB",
            "kafka": "TIUNDO_KAFKA",
            "downstream": "TIUNDO_DOWNSTREAM",
            "status_api": "TIUNDO_STATUS_API",
            "partitions": "TIUNDO_PARTITIONS",
            "batch_rows": "TIUNDO_BATCH_ROWS",
            "txn_statements": "TIUNDO_TXN_STATEMENTS",
            "dialect": "TIUNDO_DIALECT",
            "datadir": "TIUNDO_DATADIR",
            "tz": "TIUNDO_TZ",
            "dry_run": "TIUNDO_DRY_RUN",
            "txn_source": "TIUNDO_TXN_SOURCE",
            "primary_ts": "TIUNDO_PRIMARY_TS",
            "web_port": "TIUNDO_WEB_PORT",
            "sink_retries": "TIUNDO_SINK_RETRIES",
            "retry_backoff_s": "TIUNDO_RETRY_BACKOFF_S",
            "mount_chunk": "TIUNDO_MOUNT_CHUNK",
            "progress_db": "TIUNDO_PROGRESS_DB",
            "session_timeout_s": "TIUNDO_SESSION_TIMEOUT_S",
        }
        return {env: str(getattr(self, f)) for f, env in names.items()}

    def replace(self, **changes: object) -> UndoConfig:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> UndoConfig:
        """Raise :class:`ConfigError` naming the first bad setting; return self."""
        if not _JOB_RE.match(self.job):
            raise ConfigError(
                f"TIUNDO_JOB must be 1-63 letters, digits, '_' or '-', got {self.job!r}"
            )
        if not self.kafka.startswith("kafka://") or not self.kafka.removeprefix("kafka://"):
            raise ConfigError(f"TIUNDO_KAFKA must be kafka://host:port, got {self.kafka!r}")
        parse_mysql_url(self.downstream)
        if not re.match(r"^https?://[^/]+", self.status_api):
            raise ConfigError(
                f"TIUNDO_STATUS_API must be http://host:port, got {self.status_api!r}"
            )
        for name, value in (
            ("TIUNDO_PARTITIONS", self.partitions),
            ("TIUNDO_BATCH_ROWS", self.batch_rows),
            ("TIUNDO_TXN_STATEMENTS", self.txn_statements),
            ("TIUNDO_SINK_RETRIES", self.sink_retries),
            ("TIUNDO_MOUNT_CHUNK", self.mount_chunk),
        ):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if self.dialect not in ("tidb", "mysql"):
            raise ConfigError(f"TIUNDO_DIALECT must be tidb or mysql, got {self.dialect!r}")
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
        if self.primary_ts < 0 or self.web_port < 0 or self.retry_backoff_s < 0:
            raise ConfigError("TIUNDO_PRIMARY_TS, TIUNDO_WEB_PORT, TIUNDO_RETRY_BACKOFF_S are >= 0")
        return self

    @property
    def kafka_bootstrap(self) -> str:
        """``host:port[,...]`` for aiokafka."""
        return self.kafka.removeprefix("kafka://").rstrip("/")

    @property
    def app_id(self) -> str:
        """Faust app id (= consumer group and prefix of changelog topics)."""
        return f"tiundo-{self.job}"

    @property
    def kv_topic(self) -> str:
        """Changes from the ingest worker (pre-created with ``partitions`` partitions)."""
        return f"{self.job}.kv"

    @property
    def dead_topic(self) -> str:
        """Dead letters (Envelope.dead_letter)."""
        return f"{self.job}.dead"

    @property
    def progress_topic(self) -> str:
        """Compacted: per-partition phase completion (the cross-partition barrier) and reports."""
        return f"{self.job}.progress"

    @property
    def status_topic(self) -> str:
        """Compacted: JobStatus records keyed by job id."""
        return f"{self.job}.status"
