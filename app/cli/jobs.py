"""``tiundo status``/``report`` (read a job) and the one-stage ``ingest``, ``worker``, ``replay``.

The last three are thin wrappers over :func:`ingest.worker.run_ingest`,
:func:`app.main.run_worker` and :func:`ingest.replay.run_replay`), so a deployment runs every
piece through the one console script.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from app.cli.common import (
    CLI_ENV,
    EXIT_FAILED,
    Settings,
    cluster_options,
    kafka_options,
    run_command,
    undo_options,
    window_options,
)
from app.cli.jobstate import JobSnapshot, JobWatcher
from app.config import UndoConfig
from app.report import render
from core.errors import ConfigError
from core.settings import env_name
from ingest.config import IngestConfig
from ingest.replay import run_replay
from ingest.worker import IngestResult, IngestWorker, Progress
from proto import tiundo_pb2

__all__ = ["ingest", "replay", "report", "status", "worker"]


def _need_job(s: Settings) -> str:
    if not s.job:
        raise ConfigError("which job? give --job NAME (or TIUNDO_JOB)")
    return s.job


async def read_job(s: Settings) -> JobSnapshot:
    """One snapshot of the job's topics; ``ConfigError`` if Kafka knows nothing of it."""
    job = _need_job(s)
    async with JobWatcher(s.kafka.removeprefix("kafka://"), job, s.partitions) as watcher:
        snap = await watcher.snapshot()
    if snap.status is None and not snap.topic_exists:
        raise ConfigError(f"no job {job!r} in Kafka at {s.kafka} (no {job}.kv, no status)")
    return snap


def status_line(job: str, snap: JobSnapshot) -> str:
    """``job J: STATE - message`` plus what the workers have done so far."""
    st = snap.status
    if st is None:
        state, message = "WAITING", "the ingest has produced, no worker has reported yet"
    else:
        state, message = tiundo_pb2.JobStatus.State.Name(st.state), st.message
    return (
        f"job {job}: {state} - {message}; records compacted {snap.kv_consumed}/{snap.kv_end}, "
        f"partitions finished {len(snap.reports)}, rows applied {snap.rows_applied}"
    )


@click.command()
@kafka_options()
def status(**params: Any) -> None:
    """One line: where a job is (exit 0 if it could be read)."""
    s = Settings.from_params(params)
    snap = run_command(read_job(s))
    click.echo(status_line(s.job, snap))


@click.command()
@kafka_options()
@click.option("--json", "as_json", is_flag=True, help="print the JobStatus as JSON")
def report(**params: Any) -> None:
    """A job's final report; exit 0 only if it SUCCEEDED."""
    s = Settings.from_params(params)
    snap = run_command(read_job(s))
    if snap.status is None:
        click.echo(status_line(s.job, snap))
        raise SystemExit(EXIT_FAILED)
    if params["as_json"]:
        from google.protobuf import json_format

        click.echo(json_format.MessageToJson(snap.status, indent=None))
    else:
        click.echo(render(snap.status))
    if snap.status.state != tiundo_pb2.JobStatus.SUCCEEDED:
        raise SystemExit(EXIT_FAILED)


def print_progress(p: Progress) -> None:
    """One stderr line per progress tick (``tiundo ingest`` runs headless)."""
    click.echo(
        f"[{p.state}] regions {p.regions_initialized}/{p.regions} changes {p.changes} "
        f"records {p.records_sent} lag {p.lag_ms} ms",
        err=True,
    )


def _echo_result(result: IngestResult) -> None:
    click.echo(json.dumps(dataclasses.asdict(result), default=str, sort_keys=True))


@click.command()
@cluster_options()
@kafka_options()
@window_options()
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    envvar=CLI_ENV["record"],
    show_envvar=True,
    help="also write the raw EventFeed stream to FILE (for replay)",
)
def ingest(**params: Any) -> None:  # fmt: skip
    """Run only the ingest stage: (T, E] of the tables into <job>.kv (result as JSON)."""
    s = Settings.from_params(params)
    _need_job(s)
    cfg = s.ingest_config(record=params["record"])
    result = run_command(IngestWorker(cfg, print_progress).run_until_signalled())
    _echo_result(result)
    if result.state != "done":
        raise SystemExit(EXIT_FAILED)


@click.command()
@kafka_options()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--spread", multiple=True, help="db.t spread over partitions by handle")
def replay(file: Path, **params: Any) -> None:
    """Push a recording (tiundo ingest --record) into <job>.kv; no cluster needed."""
    s = Settings.from_params(params)
    cfg = IngestConfig(
        kafka=s.kafka, job=_need_job(s), partitions=s.partitions, spread_tables=s.spread
    )
    result = run_command(run_replay(file, cfg))
    _echo_result(result)
    if result.state != "done":
        raise SystemExit(EXIT_FAILED)


@click.command()
@kafka_options()
@cluster_options()
@undo_options()
@click.option(
    "--datadir",
    envvar=env_name(UndoConfig, "datadir"),
    show_envvar=True,
    help="this worker's RocksDB directory (one per worker process)",
)
@click.option(
    "--web-port",
    envvar=env_name(UndoConfig, "web_port"),
    show_envvar=True,
    type=int,
    help="Faust web port (0 = off) [0]",
)
@click.option(
    "--dry-run",
    "dry_run",
    envvar=env_name(UndoConfig, "dry_run"),
    show_envvar=True,
    help="directory to write the undo SQL to instead of applying it",
)
@click.option(
    "--primary-ts",
    envvar=env_name(UndoConfig, "primary_ts"),
    show_envvar=True,
    type=int,
    help="the syncpoint's upstream primary_ts, for the report",
)
@click.option("--loglevel", default="info", show_default=True)
def worker(**params: Any) -> None:  # fmt: skip
    """Run one Faust undo worker of a job until stopped (joins the others)."""
    s = Settings.from_params(params)
    _need_job(s)
    extra = {
        k: params[k]
        for k in ("datadir", "web_port", "dry_run", "primary_ts")
        if params.get(k) is not None
    }
    cfg = s.undo_config(**extra)
    from app.main import run_worker

    sys.argv = [sys.argv[0]]  # faust's worker parses argv itself
    run_worker(cfg, loglevel=params["loglevel"])
