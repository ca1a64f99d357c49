"""Settings of one ingest job: a frozen dataclass with named defaults, env vars and ``validate()``.

Every external system is addressed by URL (STYLE.md §9): PD ``pd://host:port[,host:port]``
(or bare ``host:port``), Kafka ``kafka://host:port[,…]``, the downstream (syncpoint table)
``mysql://user:pw@host:port/db``, the TiDB status API ``http://host:port``. Each setting that
can come from the environment declares its variable next to it (:func:`core.settings.setting`);
:meth:`IngestConfig.from_env` reads them, explicit keyword arguments win.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from core import settings
from core.errors import ConfigError
from core.jobnames import PREFIX_ENV, JobNames, check_prefix
from core.settings import setting
from core.tls import TlsFiles
from core.topicpolicy import MIN_INSYNC_ENV, REPLICATION_ENV, RETENTION_ENV, TopicPolicy
from core.urls import (
    MySQLTarget,
    parse_host_ports,
    parse_http_url,
    parse_mysql_url,
    pd_scheme,
    redact,
)
from ingest.patterns import parse_pattern

__all__ = [
    "DEFAULT_TICDC_VERSION",
    "IngestConfig",
]

#: what the EventFeed header claims to be (no leading ``v``: TiKV parses it as semver)
DEFAULT_TICDC_VERSION: Final = "8.5.0"
_JOB_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """Everything :func:`ingest.worker.run_ingest` needs; see each field's comment."""

    # -- where things are -------------------------------------------------------------------
    #: PD endpoints, ``pd://host:port[,host:port]``
    pd: str = setting("TIUNDO_PD", "pd://127.0.0.1:2379")
    #: bootstrap servers, ``kafka://host:port[,…]``
    kafka: str = setting("TIUNDO_KAFKA", "kafka://127.0.0.1:9092")
    #: downstream SQL (syncpoint table), ``mysql://user:pw@host:port/db``;
    #: only needed when ``to_ts`` is not given
    downstream: str = setting("TIUNDO_DOWNSTREAM", "")
    #: TiDB status API, ``http://host:port`` (schema of the tables)
    status_api: str = setting("TIUNDO_STATUS_API", "http://127.0.0.1:10080")
    #: TLS to PD and every TiKV store, TiCDC's ``--ca/--cert/--key``: the CA's PEM file (empty
    #: with an ``https://`` PD URL = the system roots) and this client's certificate and key
    #: (mutual TLS). Any of them, or ``https://``, turns TLS on; ``http://`` with them is refused
    ca: str = setting("TIUNDO_CA", "")
    cert: str = setting("TIUNDO_CERT", "")
    key: str = setting("TIUNDO_KEY", "")
    #: job name; the topic is ``<job>.kv`` and the GC service id
    #: ``tiundo-<job>`` (``tiundo-<prefix>:<job>`` under a topic prefix)
    job: str = setting("TIUNDO_JOB", "tiundo")
    #: partitions of ``<job>.kv`` (same count as the Faust tables)
    partitions: int = setting("TIUNDO_PARTITIONS", 8)
    #: prefix of the job's topics (:class:`core.jobnames.JobNames`): ``<prefix><job>.kv``
    topic_prefix: str = setting(PREFIX_ENV, "")
    #: how ``<job>.kv`` is created (:class:`core.topicpolicy.TopicPolicy`; 0 = the default);
    #: ``tiundo run``/``tiundo ingest`` take them from the job record
    replication_factor: int = setting(REPLICATION_ENV, 0)
    min_insync_replicas: int = setting(MIN_INSYNC_ENV, 0)
    topic_retention_ms: int = setting(RETENTION_ENV, 0)
    #: the job start this ingest writes for: the pinned job record's ``instance_id`` and
    #: ``attempt``, stamped on every record so workers never take another start's records
    #: (set by ``tiundo run``/``tiundo ingest`` from the record; empty = none, e.g. a replay)
    instance: str = ""
    attempt: int = 0

    # -- what to undo -------------------------------------------------------------------------
    #: table patterns ``db.t`` / ``db.*`` (shell-style wildcards in an unquoted table part) /
    #: `` `my.db`.`t*1` `` (backquoted: exactly that name); see :mod:`ingest.patterns`
    tables: tuple[str, ...] = ()
    #: tables (``db.t`` patterns) whose records spread over partitions by handle hash
    spread_tables: tuple[str, ...] = ()
    #: T given by the user; ``None`` = newest syncpoint's ``secondary_ts``
    to_ts: int | None = None
    #: E given by the user; ``None`` = a PD TSO taken at start
    end_ts: int | None = None
    #: only syncpoint rows of this changefeed / TiCDC cluster id
    changefeed: str | None = None
    ticdc_cluster_id: str | None = None
    #: schema of the syncpoint table (TiCDC always uses ``tidb_cdc``; tests use a private one)
    syncpoint_db: str = "tidb_cdc"
    #: txn source id (bits 0-7) of tiundo's own undo writes, not counted as foreign writes
    own_source: int | None = None

    # -- EventFeed ----------------------------------------------------------------------------
    ticdc_version: str = DEFAULT_TICDC_VERSION
    #: try EventFeedV2 stream multiplexing (one stream per store) before plain EventFeed
    multiplexing: bool = True
    #: gRPC receive limit; TiKV batches reach ~6 MiB, TiCDC allows 256 MiB
    max_receive_bytes: int = 256 * 1024 * 1024
    #: first delay before reconnecting a broken store stream (TiCDC: 1 s, ×1.1, max 3 s)
    reconnect_base_s: float = 1.0
    reconnect_cap_s: float = 3.0
    #: first delay before re-registering a failed region (TiCDC's PD retry: 100 ms)
    region_retry_base_s: float = 0.1
    region_retry_cap_s: float = 2.0
    #: regions asked from PD per ScanRegions call (TiCDC: 1024)
    scan_limit: int = 1024
    #: timeout of each PD / status API / MySQL request
    request_timeout_s: float = 10.0
    #: how long a TiKV store may refuse every stream while PD still names it leader of regions
    #: the job needs (a dead store's leaders are normally re-elected elsewhere within ~10 s);
    #: then the job fails naming the store, its GC safepoint kept for ``--resume``
    store_outage_s: float = setting("TIUNDO_STORE_OUTAGE_S", 300.0)
    #: how long a job's start waits for PD to elect a leader (members answer but none leads:
    #: the old leader died, its lease runs out) before it fails
    pd_election_s: float = setting("TIUNDO_PD_ELECTION_S", 30.0)

    #: a region whose resolved ts has not moved for this long while below E gets its locks
    #: checked and resolved (orphans of a crashed TiDB hold it for ever); again after as long
    lock_stall_s: float = setting("TIUNDO_LOCK_STALL_S", 10.0)

    # -- GC safety ----------------------------------------------------------------------------
    #: service GC safepoint TTL; renewed every ``gc_ttl_s / 3``, removed at the end
    gc_ttl_s: int = 600

    # -- Kafka ----------------------------------------------------------------------------------
    create_topic: bool = True
    linger_ms: int = 20
    #: aiokafka per-partition batch: several ~200 KB ChangeBatch records per produce request,
    #: under the broker's default message.max.bytes (~1 MB); 256 KB sent one record a request
    producer_batch_bytes: int = 1_000_000
    max_request_bytes: int = 4 * 1024 * 1024
    #: bounds of one ChangeBatch record
    batch_max_changes: int = 1024
    batch_max_bytes: int = 512 * 1024
    #: outputs queued for the producer before the streams stop reading (backpressure)
    max_pending_outputs: int = 2048
    #: how long Kafka may be unreachable (a broker restart) before producing fails: records
    #: wait in the idempotent producer meanwhile, so none is lost or duplicated, END included
    kafka_outage_s: float = setting("TIUNDO_KAFKA_OUTAGE_S", 120.0)

    # -- operability ----------------------------------------------------------------------------
    #: write the raw ChangeDataEvent stream to this file while ingesting
    record: Path | None = None
    #: how often ``progress_cb`` is called
    progress_interval_s: float = 1.0

    @property
    def topic(self) -> str:
        """Kafka topic of the job's change records."""
        return JobNames(self.job, self.topic_prefix).kv

    @property
    def topic_policy(self) -> TopicPolicy:
        """How ``<job>.kv`` is created when this ingest creates it."""
        return TopicPolicy(
            self.replication_factor, self.min_insync_replicas, self.topic_retention_ms
        )

    @property
    def gc_service_id(self) -> str:
        """Service id of the job's PD GC safepoint."""
        return JobNames(self.job, self.topic_prefix).gc_service_id

    @property
    def pd_endpoints(self) -> tuple[str, ...]:
        """PD endpoints as ``host:port``."""
        return parse_host_ports(self.pd, "pd")

    @property
    def cluster_tls(self) -> TlsFiles | None:
        """TLS for PD and TiKV (``None`` = plaintext); see :attr:`ca`.

        ``http://`` with a CA or certificate is refused rather than upgraded: the URL and the
        flags would say two different things, and a silent choice could be the plaintext one.
        """
        files = TlsFiles(self.ca, self.cert, self.key)
        scheme = pd_scheme(self.pd)
        if scheme == "http" and files.given:
            raise ConfigError(
                f"TIUNDO_PD is {redact(self.pd)!r} (http://, plaintext) but --ca/--cert/--key are "
                "given: write https:// (or pd://) to use TLS, or drop them"
            )
        if scheme == "https" or files.given:
            return files.validate()
        return None

    @property
    def kafka_bootstrap(self) -> str:
        """Kafka bootstrap servers as aiokafka wants them."""
        return ",".join(parse_host_ports(self.kafka, "kafka"))

    @property
    def downstream_target(self) -> MySQLTarget:
        """The parsed downstream URL (``ConfigError`` when unset)."""
        if not self.downstream:
            raise ConfigError(
                "no downstream (TIUNDO_DOWNSTREAM / --downstream mysql://…) to read the "
                "syncpoint table from, and no --to-ts given"
            )
        return parse_mysql_url(self.downstream, default_db="tidb_cdc")

    @property
    def status_tls(self) -> TlsFiles:
        """TLS files for an ``https://`` status API: the cluster's ``--ca/--cert/--key``."""
        return TlsFiles(self.ca, self.cert, self.key)

    @property
    def status_api_url(self) -> str:
        """The status API base URL."""
        return parse_http_url(self.status_api)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> IngestConfig:
        """Defaults, then the declared env vars, then ``overrides`` (``None`` = not given)."""
        return settings.from_env(cls, env, **overrides)

    def replace(self, **changes: Any) -> IngestConfig:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> IngestConfig:
        """Raise :class:`ConfigError` naming the first bad setting; return ``self``."""
        if not _JOB_RE.match(self.job):
            raise ConfigError(f"job name {self.job!r}: use letters, digits, '.', '_', '-'")
        check_prefix(self.topic_prefix)
        self.topic_policy.check()
        self.pd_endpoints  # noqa: B018 - parses or raises
        self.cluster_tls  # noqa: B018
        self.kafka_bootstrap  # noqa: B018
        self.status_api_url  # noqa: B018
        if not self.tables:
            raise ConfigError("no tables selected (give db.table or db.* patterns)")
        for pattern in (*self.tables, *self.spread_tables):
            parse_pattern(pattern)  # raises ConfigError naming it
        if self.partitions < 1:
            raise ConfigError(f"partitions must be >= 1, got {self.partitions}")
        if self.to_ts is None:
            self.downstream_target  # noqa: B018
        elif self.to_ts <= 0:
            raise ConfigError(f"--to-ts must be a positive TSO, got {self.to_ts}")
        if self.end_ts is not None and self.to_ts is not None and self.end_ts <= self.to_ts:
            raise ConfigError(f"--end-ts {self.end_ts} must be above --to-ts {self.to_ts}")
        if self.own_source is not None and not 0 < self.own_source < 256:
            raise ConfigError(f"own txn source must be 1..255, got {self.own_source}")
        if not re.match(r"^\d+\.\d+\.\d+$", self.ticdc_version):
            raise ConfigError(
                f"ticdc_version {self.ticdc_version!r}: plain semver without 'v' (TiKV gates on it)"
            )
        for name in (
            "reconnect_base_s",
            "region_retry_base_s",
            "request_timeout_s",
            "kafka_outage_s",
            "store_outage_s",
            "pd_election_s",
            "lock_stall_s",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0")
        if self.reconnect_cap_s < self.reconnect_base_s:
            raise ConfigError("reconnect_cap_s must be >= reconnect_base_s")
        if self.region_retry_cap_s < self.region_retry_base_s:
            raise ConfigError("region_retry_cap_s must be >= region_retry_base_s")
        if self.gc_ttl_s < 3:
            raise ConfigError(f"gc_ttl_s must be >= 3 seconds, got {self.gc_ttl_s}")
        if self.batch_max_changes < 1 or self.batch_max_bytes < 1024:
            raise ConfigError("batch_max_changes must be >= 1 and batch_max_bytes >= 1024")
        if self.batch_max_bytes + 64 * 1024 > self.max_request_bytes:
            raise ConfigError("batch_max_bytes must leave 64 KiB below max_request_bytes")
        if self.scan_limit < 1 or self.max_pending_outputs < 1:
            raise ConfigError("scan_limit and max_pending_outputs must be >= 1")
        return self
