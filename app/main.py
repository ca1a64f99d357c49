"""Builds the Faust app of one undo job; nothing else (topics, tables and agents live elsewhere).

Start a worker with ``faust -A app.main worker -l info --without-web`` (or ``--web-port N``:
the faust CLI's own web flags win over ``TIUNDO_WEB_PORT``), settings from the TIUNDO_* env vars
(:mod:`app.config`), or from Python with :func:`run_worker` (which honours TIUNDO_WEB_PORT,
0 = no web server). Several workers of one job share the partitions: give each its own
``TIUNDO_DATADIR`` (RocksDB locks a partition DB per process) and web port; on other machines,
the same settings.

The app is built lazily on first access of ``app.main.app`` (PEP 562), so importing this
module to call :func:`run_worker` does not need the environment to be set yet.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import faust

from app.config import UndoConfig
from core.kafka_security import KafkaSecurity, kafka_security
from core.private import private_folder

__all__ = [
    "FLUSHED",
    "METADATA_MAX_AGE_S",
    "broker_credentials",
    "cap_commits",
    "create_app",
    "get_app",
    "get_config",
    "run_worker",
]

#: how old the consumer's topic metadata may get (Faust: 300 s). aiokafka's group leader only
#: rebalances when a refresh shows a subscribed topic's partition count changed; one that joined
#: with no metadata for ``<job>.kv`` (its forced refresh failed while the broker restarted)
#: assigns nobody any partition and, with Faust's 5 minutes, the job sat RUNNING that long
#: (issue 14, the chaos soak's ``kafka-restart`` hang)
METADATA_MAX_AGE_S = 10.0

_state: dict[str, Any] = {}

#: ``<job>.kv`` partition → the offset after the last record a compact flush acked, i.e. wrote
#: (:mod:`app.stages.compact_flush`); commits of ``<job>.kv`` never pass it
FLUSHED: dict[int, int] = {}


class _App(faust.App):  # type: ignore[misc]
    """faust.App whose autodiscovery fails loudly: a worker without its agents must not run."""

    #: ``<job>.kv``, whose commits stop at what the compact stage wrote
    kv_topic_name = ""

    def _on_autodiscovery_error(self, name: str) -> None:
        raise ImportError(f"tiundo: importing {name} failed") from sys.exc_info()[1]

    def _new_consumer(self) -> Any:
        """Faust's consumer, whose seek to committed offsets also covers uncommitted partitions.

        See :func:`app.stages.watch.seek_uncommitted_to_start` (issue 14); its ``<job>.kv``
        commits stop at what the compact stage wrote (:func:`cap_commits`, issue 15).
        """
        consumer = super()._new_consumer()
        seek_to_committed = consumer.seek_to_committed

        async def seek_to_committed_or_start() -> Any:
            from app.stages.watch import seek_uncommitted_to_start  # the app is built first

            committed = await seek_to_committed()
            await seek_uncommitted_to_start(consumer, committed)
            return committed

        consumer.seek_to_committed = seek_to_committed_or_start
        cap_commits(consumer, self.kv_topic_name)
        return consumer


def cap_commits(consumer: Any, kv_topic: str) -> None:
    """Make ``consumer`` commit no ``kv_topic`` offset past :data:`FLUSHED` (issue 15).

    Faust acks a record it skips (fetched before a rebalance or a recovery finished) even on a
    ``noack()`` stream; with records before it merged in memory and not written yet, its next
    commit would pass over them, and a worker killed then would lose them. The skipped record
    is fetched again; only what a flush wrote may be committed.
    """
    new_offset = consumer._new_offset

    def capped(tp: Any) -> int | None:
        offset: int | None = new_offset(tp)
        if offset is None or tp.topic != kv_topic:
            return offset
        written = FLUSHED.get(tp.partition)
        return None if written is None else min(offset, written)

    consumer._new_offset = capped


def broker_credentials(security: KafkaSecurity) -> Any:
    """Faust's ``broker_credentials`` for ``security`` (``None`` = PLAINTEXT).

    The same settings as every other Kafka client (:mod:`core.kafka_security`), from this
    worker's own environment; Faust hands them to its producer, consumer and admin client.
    """
    if security.protocol == "PLAINTEXT":
        return None
    if security.protocol == "SSL":
        return faust.SSLCredentials(security.ssl_context())
    return faust.SASLCredentials(
        username=security.sasl_user,
        password=security.password(),
        ssl_context=security.ssl_context(),  # None for SASL_PLAINTEXT
        mechanism=security.sasl_mechanism,
    )


#: changelog records (then one per key written, now one per flush chunk) batched, not Faust's
#: defaults (no linger, 16 KiB batches): the full-size bench went from 41-42 s to 34.5 s
#: (bench/README.md). A batch stays below the broker's default ``message.max.bytes``
#: (1,048,588), or a broker would refuse it.
PRODUCER_LINGER_S = 0.02
PRODUCER_BATCH_BYTES = 512 * 1024


def create_app(config: UndoConfig) -> faust.App:
    """A Faust app for ``config`` (validated): RocksDB tables, at-least-once, agents discovered.

    ``stream_wait_empty=False``: the undo runs inside the END event of a partition, which may
    take minutes; a rebalance must not wait for it (the partition's actor is cancelled and the
    new owner resumes from the progress records).
    """
    config.validate()
    # the attempt's own folder (Faust creates only the last level); RocksDB holds row images
    private_folder(config.state_dir)
    app = _App(
        config.app_id,
        broker=config.kafka,
        broker_credentials=broker_credentials(kafka_security()),
        store="rocksdb://",
        datadir=config.state_dir,
        processing_guarantee="at_least_once",
        topic_partitions=config.partitions,
        # Faust's own topics are created beforehand under the job's policy
        # (app.stages.board.check_topics); this is the factor of any it still declares
        topic_replication_factor=max(1, config.replication_factor),
        consumer_auto_offset_reset="earliest",
        web_enabled=config.web_port > 0,
        web_port=config.web_port or 6066,
        web_bind="127.0.0.1",
        stream_wait_empty=False,
        # offsets committed every second (Faust: 2.8 s), so `tiundo status` and run's
        # "records compacted" follow the compaction instead of jumping at the end
        broker_commit_interval=1.0,
        stream_processing_timeout=3600.0,
        table_standby_replicas=0,
        broker_session_timeout=config.session_timeout_s,
        broker_heartbeat_interval=min(3.0, config.session_timeout_s / 3),
        broker_rebalance_timeout=max(config.session_timeout_s, 10.0),
        consumer_metadata_max_age_ms=int(METADATA_MAX_AGE_S * 1000),
        producer_linger=PRODUCER_LINGER_S,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        autodiscover=["app.stages"],  # no origin: faust would then scan all of `app`
        version=1,
    )
    app.kv_topic_name = config.kv_topic
    if config.metrics_addr:  # Faust's own sensor, served with tiundo's metrics (core.metrics)
        from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
        from prometheus_client import REGISTRY

        app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(REGISTRY, "tiundo_faust"))
    return app


def get_config() -> UndoConfig:
    """The config of this process's app (from the environment, read once)."""
    if "config" not in _state:
        _state["config"] = UndoConfig.from_env().validate()
    config: UndoConfig = _state["config"]
    return config


def get_app() -> faust.App:
    """The app of this process (built once from :func:`get_config`)."""
    if "app" not in _state:
        _state["app"] = create_app(get_config())
    app: faust.App = _state["app"]
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_worker(config: UndoConfig, *, logging_config: dict[str, Any] | None = None) -> NoReturn:
    """Run a worker of ``config``'s job in this process until it is stopped (for ``tiundo worker``).

    ``logging_config`` (:func:`core.logs.dict_config`) replaces faust's own logging set-up, so
    the worker's lines have the format, level and job id of every tiundo process. Exits the
    process with the worker's status (faust's ``Worker.execute_from_commandline``).
    """
    config.validate()
    os.environ.update(config.to_env())
    if "config" in _state and _state["config"] != config:
        raise RuntimeError("this process already built an app for another config")
    _state["config"] = config
    app = get_app()
    app.worker_init()  # what `faust worker` does: fixups, agents, then on_worker_init
    app.discover()
    app.worker_init_post_autodiscover()
    level = str(logging_config["root"]["level"]) if logging_config else "info"
    worker = faust.Worker(app, loglevel=level, quiet=True, logging_config=logging_config)
    worker.execute_from_commandline()
    raise SystemExit(0)
