"""Shared pieces of the ``tiundo`` commands: flags, stage configs, the one-line error contract.

Flags come with their TIUNDO_* env vars; the two stage configs are built from them.

A flag for a setting of :class:`~ingest.config.IngestConfig` or :class:`~app.config.UndoConfig`
takes its environment variable (and, where they coincide, its default) from that config's
declaration (:func:`core.settings.env_name`, :func:`core.settings.default_of`); flags the stages
do not read from the environment get their own ``TIUNDO_*`` name once, in :data:`CLI_ENV`. URLs
are parsed by the stages' own parsers; this module only normalises a bare ``host:port`` Kafka
address to ``kafka://``.

Errors a DBA can act on end the command with one line on stderr and an exit status, never a
traceback (:func:`run_command`):

====  ==========================================================================
 0    done (job SUCCEEDED, verify matched, plan printed)
 1    the job ran and did not succeed (FAILED/INCOMPLETE), or verify found a difference
 2    bad flags or settings (:class:`~core.errors.ConfigError`, click usage errors)
 3    unsafe to undo: no syncpoint, T below the GC safepoint, DDL after T, live changefeed
 4    a service did not answer (PD, Kafka, downstream, status API)
 5    the undo succeeded, but another writer changed selected tables after E
 130  interrupted (Ctrl-C, SIGTERM, SIGHUP); what was started is stopped
====  ==========================================================================

SIGTERM (systemd, ``docker stop``) and SIGHUP (a closed SSH session) take the Ctrl-C path
(:func:`run_command`): the command's task is cancelled, so its ``finally`` blocks stop what it
started (the ingest, its GC safepoint, the workers), then ``interrupted`` and 130.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import signal
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeVar

import click

from app.cli.output import failed
from app.config import UndoConfig
from core import settings
from core.errors import ConfigError, TiundoError, TransientError, UnsafeToUndoError
from core.jobnames import JobNames
from core.logs import FORMATS, LEVELS, LogConfig, setup_logging
from core.secrets import DownstreamPassword, with_password
from core.settings import default_of, env_name
from core.urls import parse_host_ports
from ingest.config import IngestConfig
from ingest.patterns import split_patterns

__all__ = [
    "CLI_ENV",
    "EXIT_FAILED",
    "EXIT_FOREIGN_WRITES",
    "EXIT_INTERRUPTED",
    "EXIT_UNREACHABLE",
    "EXIT_UNSAFE",
    "EXIT_USAGE",
    "STOP_SIGNALS",
    "JobFailedError",
    "Settings",
    "UnreachableError",
    "cluster_options",
    "exit_code_for",
    "fail",
    "fail_for",
    "interruptible",
    "kafka_url",
    "log_options",
    "metrics_option",
    "one_line",
    "run_command",
    "stall_options",
    "start_logging",
    "time_to_tso",
    "undo_options",
    "window_options",
]

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNSAFE: Final = 3
EXIT_UNREACHABLE: Final = 4
#: the undo of (T, E] succeeded, but another writer changed selected tables after E
EXIT_FOREIGN_WRITES: Final = 5
EXIT_INTERRUPTED: Final = 130

DEFAULT_WORKERS: Final = 2
DEFAULT_WRITER_CHECK_S: Final = 2.0

#: flag (parameter name) → env var, for the flags whose setting no stage config reads from the
#: environment; the stage settings' variables come from their declarations
CLI_ENV: Final[Mapping[str, str]] = MappingProxyType(
    {
        "timeout_s": "TIUNDO_TIMEOUT_S",
        "tables": "TIUNDO_TABLES",
        "spread": "TIUNDO_SPREAD",
        "to_ts": "TIUNDO_TO_TS",
        "to_time": "TIUNDO_TO_TIME",
        "changefeed": "TIUNDO_CHANGEFEED",
        "ticdc_cluster": "TIUNDO_TICDC_CLUSTER",
        "end_ts": "TIUNDO_END_TS",
        "syncpoint_db": "TIUNDO_SYNCPOINT_DB",
        "record": "TIUNDO_RECORD",
        "workers": "TIUNDO_WORKERS",
        "attach": "TIUNDO_ATTACH",
        "job_dir": "TIUNDO_JOB_DIR",
        "dry_run_file": "TIUNDO_DRY_RUN_FILE",
        "job_timeout_s": "TIUNDO_JOB_TIMEOUT_S",
        "writer_check_s": "TIUNDO_WRITER_CHECK_S",
        "force": "TIUNDO_FORCE",
        "expect": "TIUNDO_EXPECT",
        "record_wait_s": "TIUNDO_RECORD_WAIT_S",
    }
)

T = TypeVar("T")


class UnreachableError(TransientError):
    """A service (PD, Kafka, the downstream, the status API) did not answer."""


class JobFailedError(TiundoError):
    """The job ran to its end without succeeding (its report says why)."""


def one_line(text: object) -> str:
    """A message as one line (DBA-facing errors never span lines)."""
    return " ".join(str(text).split())


def fail(message: str, code: int) -> NoReturn:
    """Print ``tiundo: error: message`` on stderr and exit with ``code``.

    Under ``--json`` the command's document says it on stdout too (:mod:`app.cli.output`).
    """
    failed(one_line(message), code)
    click.echo(f"tiundo: error: {one_line(message)}", err=True)
    raise SystemExit(code)


def exit_code_for(exc: TiundoError) -> int:
    """The exit status of an error (see the module docstring)."""
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, UnsafeToUndoError):
        return EXIT_UNSAFE
    if isinstance(exc, TransientError):
        return EXIT_UNREACHABLE
    return EXIT_FAILED


#: signals that stop a command as Ctrl-C (SIGINT) does
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGHUP)


def run_command(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; every failure ends in one line and an exit code.

    ``SystemExit`` from inside passes through; the rest goes through :func:`fail_for`.
    :data:`STOP_SIGNALS` interrupt it as Ctrl-C does (:func:`interruptible`).
    """
    try:
        return asyncio.run(interruptible(coro))
    except (KeyboardInterrupt, Exception) as exc:
        fail_for(exc)


async def interruptible(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` with :data:`STOP_SIGNALS` treated as Ctrl-C.

    What ``asyncio.run`` does for SIGINT (``asyncio.Runner._on_sigint``): the first signal
    cancels the command's task, so its ``finally`` blocks run and it ends in
    ``KeyboardInterrupt``; a second one raises ``KeyboardInterrupt`` at once. SIGINT is left to
    ``asyncio.run``. A signal whose handler is not the default is left alone: an ignored SIGHUP
    (``nohup``) stays ignored, and an inner handler (the ingest's clean stop, added with
    ``loop.add_signal_handler``) replaces this one while it runs.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def on_signal(sig: int) -> None:
        received.append(sig)
        if len(received) > 1 or task is None:
            raise KeyboardInterrupt
        task.cancel()

    installed = [s for s in STOP_SIGNALS if signal.getsignal(s) is signal.SIG_DFL]
    for sig in installed:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await coro
    except asyncio.CancelledError:
        if received:
            raise KeyboardInterrupt from None
        raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)  # back to SIG_DFL, as found


def fail_for(exc: BaseException) -> NoReturn:
    """End the command with one line and the exit status ``exc`` calls for.

    Anything unexpected ends in one line too (with its type, so a bug report can name it);
    ``TIUNDO_DEBUG=1`` re-raises it with its traceback.
    """
    if isinstance(exc, KeyboardInterrupt):
        fail("interrupted", EXIT_INTERRUPTED)
    if isinstance(exc, TiundoError):
        fail(str(exc), exit_code_for(exc))
    if os.environ.get("TIUNDO_DEBUG") == "1":
        raise exc
    fail(f"unexpected {type(exc).__name__}: {exc} (TIUNDO_DEBUG=1 shows the traceback)", 1)


def kafka_url(raw: str) -> str:
    """``kafka://h:p[,h:p]`` from a URL or a bare ``h:p`` list (the Makefile exports bare)."""
    return "kafka://" + ",".join(parse_host_ports(raw, "kafka"))


_TSO_LOGICAL_BITS: Final = 18
_NAIVE_HINT = "add a UTC offset, e.g. 2024-05-01T12:00:00+08:00"


def time_to_tso(text: str) -> int:
    """``--to-time`` (ISO 8601 with an offset) as the TSO of that instant (logical 0)."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--to-time {text!r} is not an ISO 8601 time ({_NAIVE_HINT})") from exc
    if when.tzinfo is None:
        raise ConfigError(f"--to-time {text!r} has no time zone: {_NAIVE_HINT}")
    ms = int(when.timestamp() * 1000)
    if ms <= 0:
        raise ConfigError(f"--to-time {text!r} is before 1970")
    return ms << _TSO_LOGICAL_BITS


def tso_time(ts: int) -> str:
    """The wall time of a TSO, UTC, for humans."""
    ms = ts >> _TSO_LOGICAL_BITS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def default_job() -> str:
    """A job name unique per second: ``undo-YYYYmmdd-HHMMSS`` (UTC)."""
    return "undo-" + dt.datetime.now(tz=dt.UTC).strftime("%Y%m%d-%H%M%S")


def _split_patterns(values: Sequence[str]) -> tuple[str, ...]:
    """``-t a.* -t b.t`` or ``TIUNDO_TABLES="a.* `my db`.t"`` → patterns.

    Spaces and commas separate patterns only outside backquotes
    (:func:`ingest.patterns.split_patterns`), so an exact `` `my db`.`t,1` `` stays whole.
    """
    out: list[str] = []
    for v in values:
        out.extend(split_patterns(v))
    return tuple(out)


class _PatternList(click.ParamType):
    """A ``--tables``/``--spread`` value: the environment variable is not split by click.

    Click splits a repeatable option's variable on whitespace, which would cut a backquoted
    name holding a space; :func:`_split_patterns` splits it instead, outside backquotes.
    """

    name = "patterns"

    def split_envvar_value(self, rv: str) -> Sequence[str]:
        return [rv]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return str(value)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the commands were given, after env vars and defaults; builds stage configs."""

    pd: str = default_of(IngestConfig, "pd")
    kafka: str = default_of(IngestConfig, "kafka")
    downstream: str = ""
    status_api: str = default_of(IngestConfig, "status_api")
    job: str = ""
    topic_prefix: str = default_of(IngestConfig, "topic_prefix")
    partitions: int = default_of(IngestConfig, "partitions")
    tables: tuple[str, ...] = ()
    spread: tuple[str, ...] = ()
    to_ts: int | None = None
    to_time: str | None = None
    changefeed: str | None = None
    ticdc_cluster: str | None = None
    end_ts: int | None = None
    syncpoint_db: str = default_of(IngestConfig, "syncpoint_db")
    batch_rows: int = default_of(UndoConfig, "batch_rows")
    txn_statements: int = default_of(UndoConfig, "txn_statements")
    dialect: str = default_of(UndoConfig, "dialect")
    tz: str = default_of(UndoConfig, "tz")
    txn_source: int = default_of(UndoConfig, "txn_source")
    timeout_s: float = default_of(IngestConfig, "request_timeout_s")
    ca: str = ""
    cert: str = ""
    key: str = ""
    stall_s: float = default_of(UndoConfig, "stall_s")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Settings:
        """From click's parameters (unknown keys ignored, ``None`` = default)."""
        names = set(cls.__slots__)
        kw = {k: v for k, v in params.items() if k in names and v is not None}
        for key in ("tables", "spread"):
            if key in kw:
                kw[key] = _split_patterns(kw[key])
        if "kafka" in kw:
            kw["kafka"] = kafka_url(kw["kafka"])
        # --password-file / TIUNDO_DOWNSTREAM_PASSWORD go into the URL once, here, so every
        # stage and every worker this command starts connects with it
        if kw.get("downstream"):
            source = settings.from_env(
                DownstreamPassword, password_file=params.get("password_file")
            )
            kw["downstream"] = with_password(
                kw["downstream"], source.resolve(), "TIUNDO_DOWNSTREAM"
            )
        return cls(**kw)

    @property
    def names(self) -> JobNames:
        """The job's topic and group names (under ``--topic-prefix``)."""
        return JobNames(self.job, self.topic_prefix)

    def target_ts(self) -> int | None:
        """T from ``--to-ts`` or ``--to-time`` (both given = an error), else ``None``."""
        if self.to_ts is not None and self.to_time is not None:
            raise ConfigError("give --to-ts or --to-time, not both")
        if self.to_time is not None:
            return time_to_tso(self.to_time)
        return self.to_ts

    def ingest_config(self, **overrides: Any) -> IngestConfig:
        """The ingest stage's config (validated)."""
        if not self.job:
            raise ConfigError("no job name (--job / TIUNDO_JOB)")
        base: dict[str, Any] = {
            "pd": self.pd,
            "kafka": self.kafka,
            "downstream": self.downstream,
            "status_api": self.status_api,
            "job": self.job,
            "topic_prefix": self.topic_prefix,
            "partitions": self.partitions,
            "tables": self.tables,
            "spread_tables": self.spread,
            "to_ts": self.target_ts(),
            "end_ts": self.end_ts,
            "changefeed": self.changefeed,
            "ticdc_cluster_id": self.ticdc_cluster,
            "syncpoint_db": self.syncpoint_db,
            "own_source": self.txn_source,
            "request_timeout_s": self.timeout_s,
            "ca": self.ca or None,
            "cert": self.cert or None,
            "key": self.key or None,
        }
        base.update(overrides)
        # settings with no flag (TIUNDO_KAFKA_OUTAGE_S, TIUNDO_LOCK_STALL_S, ...) still come
        # from the environment, read by IngestConfig itself
        return IngestConfig.from_env(**base).validate()

    def undo_config(self, **overrides: Any) -> UndoConfig:
        """The Faust workers' config (validated; ``--downstream`` is required here)."""
        if not self.downstream:
            raise ConfigError("no downstream (--downstream / TIUNDO_DOWNSTREAM mysql://…)")
        # settings with no flag (TIUNDO_SESSION_TIMEOUT_S, TIUNDO_SINK_RETRIES, ...) still
        # come from the environment, read by UndoConfig itself
        cfg = UndoConfig.from_env().replace(
            job=self.job,
            topic_prefix=self.topic_prefix,
            kafka=self.kafka,
            downstream=self.downstream,
            status_api=self.status_api,
            ca=self.ca,
            cert=self.cert,
            key=self.key,
            partitions=self.partitions,
            batch_rows=self.batch_rows,
            txn_statements=self.txn_statements,
            dialect=self.dialect,
            tz=self.tz,
            txn_source=self.txn_source,
            stall_s=self.stall_s,
        )
        return cfg.replace(**overrides).validate() if overrides else cfg.validate()


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _stack(*options: Decorator) -> Decorator:
    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


def _opt(*names: str, env: str, help: str, **kw: Any) -> Decorator:
    return click.option(*names, envvar=env, show_envvar=True, help=help, **kw)


def _ingest(field: str) -> str:
    return env_name(IngestConfig, field)


def _undo(field: str) -> str:
    return env_name(UndoConfig, field)


def _default(field: str) -> object:
    """A flag's default as its help shows it (the CLI's :class:`Settings` holds the value)."""
    return default_of(Settings, field)


def kafka_options() -> Decorator:
    """``--kafka`` and ``--job``: enough to find a job's topics."""
    return _stack(
        _opt("--kafka", env=_ingest("kafka"),
             help=f"Kafka, kafka://host:port [{_default('kafka')}]"),
        _opt("--job", env=_ingest("job"), help="job name; topics <job>.kv, <job>.status, ..."),
        _opt("--topic-prefix", env=_ingest("topic_prefix"),
             help="prefix of every topic and the consumer group of the job (shared Kafka) ['']"),
        _opt("--partitions", env=_ingest("partitions"), type=click.IntRange(1, 4096),
             help=f"partitions of <job>.kv [{_default('partitions')}]"),
    )  # fmt: skip


def metrics_option() -> Decorator:
    """``--metrics-addr``: where this process serves Prometheus ``/metrics`` (off if empty)."""
    return _opt("--metrics-addr", env=_undo("metrics_addr"),
                help="serve Prometheus /metrics on host:port (run: its workers on port+1, "
                "+2, ...) [off]")  # fmt: skip


def cluster_options() -> Decorator:
    """Where the downstream cluster is."""
    return _stack(
        _opt("--pd", env=_ingest("pd"), help=f"PD, pd://host:port[,host:port] [{_default('pd')}]"),
        _opt("--status-api", env=_ingest("status_api"),
             help=f"TiDB status API, http(s)://host:port [{_default('status_api')}]"),
        _opt("--downstream", env=_ingest("downstream"),
             help="downstream SQL, mysql://user:pass@host:port (syncpoint table, undo target)"),
        _opt("--timeout", "timeout_s", env=CLI_ENV["timeout_s"], type=click.FloatRange(0.1),
             help=f"seconds per request to PD, status API, downstream [{_default('timeout_s'):g}]"),
        _opt("--ca", env=_ingest("ca"),
             help="PEM CA of PD, TiKV and an https:// status API: TLS to PD and TiKV, as "
             "TiCDC's --ca [https:// URLs: the system roots]"),
        _opt("--cert", env=_ingest("cert"),
             help="PEM client certificate for PD, TiKV and an https:// status API (mutual "
             "TLS), with --key"),
        _opt("--key", env=_ingest("key"), help="PEM private key of --cert"),
        _opt("--password-file", env=env_name(DownstreamPassword, "password_file"),
             help="file holding the downstream password (or TIUNDO_DOWNSTREAM_PASSWORD); "
             "not in --downstream then"),
    )  # fmt: skip


def window_options() -> Decorator:
    """What to undo: tables and the window ``(T, E]``."""
    return _stack(
        _opt("--tables", "-t", env=CLI_ENV["tables"], multiple=True, type=_PatternList(),
             help="db.t, db.* (wildcards in an unquoted table name) or `my.db`.`t*1` "
             "(backquoted: exactly that name); repeat, or separate by spaces or commas"),
        _opt("--spread", env=CLI_ENV["spread"], multiple=True, type=_PatternList(),
             help="db.t whose rows spread over all partitions by handle (big tables)"),
        _opt("--to-ts", env=CLI_ENV["to_ts"], type=click.IntRange(1),
             help="T as a TSO [newest syncpoint's secondary_ts]"),
        _opt("--to-time", env=CLI_ENV["to_time"],
             help="T as an ISO 8601 time with offset, e.g. 2024-05-01T12:00:00+00:00"),
        _opt("--changefeed", env=CLI_ENV["changefeed"],
             help="take T from this changefeed's syncpoints (needed when syncpoint_v1 holds "
             "several changefeeds)"),
        _opt("--ticdc-cluster", "ticdc_cluster", env=CLI_ENV["ticdc_cluster"],
             help="and from this TiCDC cluster's (ticdc_cluster_id; needed when two clusters "
             "share the changefeed name)"),
        _opt("--end-ts", env=CLI_ENV["end_ts"], type=click.IntRange(1),
             help="E as a TSO [a PD TSO at start]"),
        _opt("--syncpoint-db", env=CLI_ENV["syncpoint_db"],
             help=f"schema of syncpoint_v1 [{_default('syncpoint_db')}]"),
    )  # fmt: skip


def stall_options() -> Decorator:
    """When ``tiundo run``/``status`` name a partition that nobody moves (issue 14)."""
    return _opt(
        "--stall-s", env=_undo("stall_s"), type=click.FloatRange(1),
        help="a partition without a report that no worker moved for this long is named, "
        "with the worker holding it; `run` gives up on one still stalled as long again "
        f"(at least TIUNDO_RETRY_DEADLINE_S) [{_default('stall_s'):g}]",
    )  # fmt: skip


def undo_options() -> Decorator:
    """How the workers write the undo."""
    return _stack(
        _opt("--batch-rows", env=_undo("batch_rows"), type=click.IntRange(1),
             help=f"rows per multi-row statement [{_default('batch_rows')}]"),
        _opt("--txn-statements", env=_undo("txn_statements"), type=click.IntRange(1),
             help="full multi-row statements per downstream transaction "
             f"(× --batch-rows rows) [{_default('txn_statements')}]"),
        _opt("--dialect", env=_undo("dialect"), type=click.Choice(["tidb", "mysql"]),
             help=f"downstream SQL dialect [{_default('dialect')}]"),
        _opt("--tz", env=_undo("tz"), help=f"offset TIMESTAMP values decode in [{_default('tz')}]"),
        _opt("--txn-source", env=_undo("txn_source"), type=click.IntRange(1, 15),
             help=f"tidb_cdc_write_source tagging tiundo's writes [{_default('txn_source')}]"),
    )  # fmt: skip


def log_options() -> Decorator:
    """``--log-level``, ``--log-file``, ``--log-format``: the same on every command."""
    return _stack(
        _opt("--log-level", env=env_name(LogConfig, "level"),
             type=click.Choice(LEVELS, case_sensitive=False),
             help="lowest level logged [info into a file; on stderr tiundo's own warnings]"),
        _opt("--log-file", env=env_name(LogConfig, "file"), type=click.Path(dir_okay=False),
             help="append log lines to FILE [stderr; tiundo run: <job dir>/run.log]"),
        _opt("--log-format", env=env_name(LogConfig, "format"), type=click.Choice(FORMATS),
             help=f"text lines or one JSON object per line [{default_of(LogConfig, 'format')}]"),
    )  # fmt: skip


def start_logging(
    params: Mapping[str, Any],
    *,
    job: str,
    role: str,
    default_file: Path | None = None,
    default_level: str = "",
) -> LogConfig:
    """Install the command's log handler (:mod:`core.logs`); the config it used.

    ``default_file``: where lines go when no ``--log-file``/``TIUNDO_LOG_FILE`` says (``tiundo
    run`` keeps the screen for its progress); ``default_level``: the level when none is given
    (``tiundo worker``, a daemon, logs info and its libraries' lines).
    """
    config = LogConfig.from_env(
        level=params.get("log_level"), file=params.get("log_file"), format=params.get("log_format")
    )
    if not config.file and default_file is not None:
        config = config.with_file(default_file)
    if not config.level and default_level:
        config = dataclasses.replace(config, level=default_level)
    setup_logging(config, job=job, role=role)
    return config
