"""``tiundo status``/``report`` (read a job) and the one-stage ``ingest``, ``worker``, ``replay``.

The last three are thin wrappers over :func:`ingest.worker.run_ingest`,
:func:`app.main.run_worker` and :func:`ingest.replay.run_replay`), so a deployment runs every
piece through the one console script.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click
from aiokafka.errors import KafkaError

from app.cli.common import (
    CLI_ENV,
    EXIT_FAILED,
    EXIT_FOREIGN_WRITES,
    Settings,
    UnreachableError,
    cluster_options,
    kafka_options,
    log_options,
    metrics_option,
    run_command,
    stall_options,
    start_logging,
    undo_options,
    window_options,
)
from app.cli.jobstate import JobSnapshot, JobWatcher, set_when_final, store_foreign_writes
from app.cli.lifeline import watch_stdin
from app.cli.output import document, emit, json_errors, proto_fields
from app.cli.pin import ingest_pinned, pin_job, read_record, refuse_taken_name, wait_for_record
from app.cli.plan import preflight_options, prepare
from app.config import UndoConfig
from app.jobrecord import describe, pin
from app.report import render
from app.rpo import rpo_fields, rpo_of_status
from app.undo.activity import stall_lines
from app.undo.owner import Owner
from core import metrics
from core.errors import ConfigError, DecodeError
from core.kafka_admin import resolve_policy
from core.logs import dict_config
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
    bootstrap = s.kafka.removeprefix("kafka://")
    owner = await _record_owner(bootstrap, job, s.topic_prefix)
    async with JobWatcher(
        bootstrap, job, s.partitions, owner=owner, prefix=s.topic_prefix
    ) as watcher:
        snap = await watcher.snapshot()
    if snap.status is None and not snap.topic_exists:
        raise ConfigError(f"no job {job!r} in Kafka at {s.kafka} (no {s.names.kv}, no status)")
    return snap


async def _record_owner(bootstrap: str, job: str, prefix: str) -> Owner | None:
    """The start the job's record names (its statuses are the job's); ``None`` without one."""
    try:
        record = await read_record(bootstrap, job, prefix=prefix)
    except DecodeError:
        return None
    except (KafkaError, OSError) as exc:
        raise UnreachableError(f"cannot reach Kafka at {bootstrap}: {exc!r}") from exc
    return Owner(record.instance_id, record.attempt) if record is not None else None


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


def status_fields(snap: JobSnapshot) -> dict[str, Any]:
    """``status --json``: the line's numbers."""
    st = snap.status
    return {
        "state": "WAITING" if st is None else tiundo_pb2.JobStatus.State.Name(st.state),
        "message": "" if st is None else st.message,
        "records_compacted": snap.kv_consumed,
        "records": snap.kv_end,
        "partitions_finished": len(snap.reports),
        "rows_applied": snap.rows_applied,
    }


@click.command()
@kafka_options()
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
@log_options()
@stall_options()
def status(**params: Any) -> None:
    """One line: where a job is, then one per stalled partition (exit 0 if it could be read)."""
    start_logging(params, job=params.get("job") or "", role="status")
    if params["as_json"]:
        json_errors("status", params.get("job"))
    s = Settings.from_params(params)
    snap, partitions = run_command(_read_with_partitions(s))
    stalled = stall_lines(snap.stalled(partitions, s.stall_s))
    if params["as_json"]:
        emit(document("status", s.job, 0, **status_fields(snap), stalled=stalled))
    else:
        click.echo(status_line(s.job, snap))
        for line in stalled:
            click.echo(f"stalled: {line}")


async def _read_with_partitions(s: Settings) -> tuple[JobSnapshot, int]:
    """The snapshot and the job's partition count (its record's, else ``--partitions``)."""
    snap = await read_job(s)
    try:
        record = await read_record(
            s.kafka.removeprefix("kafka://"), _need_job(s), prefix=s.topic_prefix
        )
    except (DecodeError, KafkaError, OSError):
        record = None
    return snap, (record.partitions if record is not None and record.partitions else s.partitions)


async def _record_facts(s: Settings) -> tuple[str, int]:
    """The changefeed the job record names and when it was pinned (for the report's RPO).

    ``("", 0)`` when unknown: a report is still worth printing without them.
    """
    try:
        record = await read_record(
            s.kafka.removeprefix("kafka://"), _need_job(s), prefix=s.topic_prefix
        )
    except DecodeError:
        return "", 0
    return (record.changefeed, record.created_unix_ms) if record is not None else ("", 0)


@click.command()
@kafka_options()
@click.option("--json", "as_json", is_flag=True, help="print the JobStatus as JSON")
@log_options()
def report(**params: Any) -> None:
    """A job's final report; exit 0 only if it SUCCEEDED (5: and others wrote after E)."""
    start_logging(params, job=params.get("job") or "", role="report")
    if params["as_json"]:
        json_errors("report", params.get("job"))
    s = Settings.from_params(params)
    snap = run_command(read_job(s))
    if snap.status is None:
        if params["as_json"]:
            emit(document("report", s.job, EXIT_FAILED, status=None, **status_fields(snap)))
        else:
            click.echo(status_line(s.job, snap))
        raise SystemExit(EXIT_FAILED)
    changefeed, pinned_ms = run_command(_record_facts(s))
    code = report_exit(snap.status)
    rpo = rpo_of_status(snap.status, pinned_ms)
    if params["as_json"]:
        fields = {"status": proto_fields(snap.status), "changefeed": changefeed}
        emit(document("report", s.job, code, **fields, rpo=rpo_fields(rpo)))
    else:
        click.echo(render(snap.status, changefeed=changefeed, rpo=rpo))
    if code:
        raise SystemExit(code)


def report_exit(st: tiundo_pb2.JobStatus) -> int:
    """0 SUCCEEDED, 5 SUCCEEDED with writes by others after E, 1 otherwise."""
    if st.state != tiundo_pb2.JobStatus.SUCCEEDED:
        return EXIT_FAILED
    return EXIT_FOREIGN_WRITES if st.foreign_writes else 0


def print_progress(p: Progress) -> None:
    """One stderr line per progress tick (``tiundo ingest`` runs headless)."""
    click.echo(
        f"[{p.state}] regions {p.regions_initialized}/{p.regions} changes {p.changes} "
        f"records {p.records_sent} lag {p.lag_ms} ms",
        err=True,
    )


def _echo_result(command: str, result: IngestResult) -> None:
    """The stage's result, always as the ``--json`` document (:mod:`app.cli.output`)."""
    fields = {k: v for k, v in dataclasses.asdict(result).items() if k != "job"}
    code = 0 if result.state == "done" else EXIT_FAILED
    # JSON object keys are strings: table ids become "101"
    emit(document(command, result.job, code, **json.loads(json.dumps(fields, default=str))))


@click.command()
@cluster_options()
@kafka_options()
@window_options()
@undo_options()
@preflight_options
@metrics_option()
@click.option(
    "--replace",
    is_flag=True,
    help="the job name is taken: delete that job's topics and counters first (a flag only)",
)
@click.option(
    "--fence/--no-fence",
    default=True,
    show_default=True,
    help="after END keep the feed open until the job's status is final, counting writes by "
    "others (--no-fence: stop at END, e.g. when only recording)",
)
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    envvar=CLI_ENV["record"],
    show_envvar=True,
    help="also write the raw EventFeed stream to FILE (for replay; never overwritten)",
)
@log_options()
def ingest(**params: Any) -> None:  # fmt: skip
    """Run only the ingest stage: check, pin the job, (T, E] of the tables into <job>.kv.

    The same checks as ``tiundo run`` come first (GC safepoint, DDL after T, a changefeed
    still writing; a taken job name), then the job record that workers wait for; the result
    is printed as JSON.
    """
    s = Settings.from_params(params)
    start_logging(params, job=_need_job(s), role="ingest")
    json_errors("ingest", s.job)
    record: Path | None = params["record"]
    if record is not None and record.exists():
        raise ConfigError(f"--record {record}: the file exists; a recording is never overwritten")
    server = metrics.serve(params["metrics_addr"] or "")
    result = run_command(
        _pin_and_ingest(
            s,
            record=record,
            force=params["force"],
            replace=params["replace"],
            writer_check_s=params["writer_check_s"],
            fence=params["fence"],
        )
    )
    if server is not None:
        server.close()
    _echo_result("ingest", result)
    if result.state != "done":
        raise SystemExit(EXIT_FAILED)


async def _pin_and_ingest(
    s: Settings,
    *,
    record: Path | None,
    force: bool,
    replace: bool,
    writer_check_s: float,
    fence: bool,
) -> IngestResult:
    if not replace:  # a taken name is refused before anything is asked of the cluster
        await refuse_taken_name(s.ingest_config().kafka_bootstrap, s.job, prefix=s.topic_prefix)
    # topics the brokers cannot hold (replication factor) are refused before the cluster is asked
    await resolve_policy(s.ingest_config().kafka_bootstrap, s.undo_config().topic_policy)
    prep = await prepare(s, force=force, writer_check_s=writer_check_s)
    job = await pin_job(prep, s.undo_config(primary_ts=prep.window.primary_ts), replace=replace)
    click.echo(f"tiundo ingest: job record pinned: {describe(job)}", err=True)
    metrics.JOB_INFO.labels(s.job, job.instance_id, str(job.attempt), "ingest").set(1)
    owner = Owner(job.instance_id, job.attempt)
    cfg = ingest_pinned(prep.pinned().replace(record=record), job)
    worker = IngestWorker(cfg, print_progress)
    if not fence:
        return await worker.run_until_signalled()
    worker.fence = asyncio.Event()
    watch = asyncio.create_task(
        set_when_final(
            cfg.kafka_bootstrap,
            s.job,
            cfg.partitions,
            worker.fence,
            owner=owner,
            prefix=s.topic_prefix,
        )
    )
    try:
        result = await worker.run_until_signalled()
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    if result.foreign_by_table and worker.fence.is_set():
        names = {pid: (t.db, t.name) for t in prep.tables for pid in t.physical_ids}
        await store_foreign_writes(
            cfg.kafka_bootstrap,
            s.job,
            cfg.partitions,
            result.foreign_by_table,
            names,
            owner=owner,
            prefix=s.topic_prefix,
        )
    return result


@click.command()
@kafka_options()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--spread", multiple=True, help="db.t spread over partitions by handle")
@log_options()
def replay(file: Path, **params: Any) -> None:
    """Push a recording (tiundo ingest --record) into <job>.kv; no cluster needed."""
    s = Settings.from_params(params)
    start_logging(params, job=_need_job(s), role="replay")
    json_errors("replay", s.job)
    cfg = IngestConfig.from_env(
        kafka=s.kafka,
        job=_need_job(s),
        topic_prefix=s.topic_prefix,
        partitions=s.partitions,
        spread_tables=s.spread,
    )
    result = run_command(run_replay(file, cfg))
    _echo_result("replay", result)
    if result.state != "done":
        raise SystemExit(EXIT_FAILED)


@click.command()
@kafka_options()
@cluster_options()
@undo_options()
@metrics_option()
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
    "--record-wait",
    "record_wait_s",
    envvar=CLI_ENV["record_wait_s"],
    show_envvar=True,
    type=click.FloatRange(0),
    default=600.0,
    show_default=True,
    help="seconds to wait for the job record that `tiundo run` publishes",
)
@click.option(
    "--exit-on-stdin-eof",
    "exit_on_eof",
    is_flag=True,
    help="stop when stdin reaches EOF: set by `tiundo run`, whose pipe closes when it dies "
    "(a flag only, never from the environment)",
)
@log_options()
@click.option("--log-role", default="worker", hidden=True, help="name on this worker's log lines")
def worker(**params: Any) -> None:  # fmt: skip
    """Run one Faust undo worker of a job until stopped (joins the others).

    The worker waits for the job's record (``<job>.job``, published by ``tiundo run`` or
    ``tiundo ingest`` after their checks) and takes from it the window and every setting that
    changes what is written: dry run, dialect, write source, batch and transaction sizes, time
    zone, counter database. Its own flags and environment set only where it runs.
    ``--exit-on-stdin-eof`` (:mod:`app.cli.lifeline`) ties it to the ``tiundo run`` that
    started it, ``kill -9`` included.
    """
    if params["exit_on_eof"]:
        watch_stdin()
    s = Settings.from_params(params)
    job = _need_job(s)
    logs = start_logging(params, job=job, role=params["log_role"], default_level="info")
    extra = {
        k: params[k] for k in ("datadir", "web_port", "metrics_addr") if params.get(k) is not None
    }
    cfg = s.undo_config(**extra)
    metrics.serve(cfg.metrics_addr)  # serves while the worker runs (a daemon thread)
    record = run_command(
        wait_for_record(
            cfg.kafka_bootstrap, job, timeout_s=params["record_wait_s"], prefix=cfg.topic_prefix
        )
    )
    cfg = pin(cfg, record)
    click.echo(f"tiundo worker: {describe(record)}", err=True)
    metrics.JOB_INFO.labels(job, record.instance_id, str(record.attempt), "worker").set(1)
    from app.main import run_worker

    sys.argv = [sys.argv[0]]  # faust's worker parses argv itself
    run_worker(cfg, logging_config=dict_config(logs, job=job, role=params["log_role"]))
