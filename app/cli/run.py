"""``tiundo run``: preflight, ingest in-process, N Faust workers, live progress, final report.

On one machine the command is the whole job: it claims the job name, runs the checks of
``plan`` (:func:`app.cli.plan.prepare`), pins the job record (:mod:`app.cli.pin`: T, E, tables,
every setting that changes what is written), creates ``<job>.kv``, starts ``--workers N``
subprocesses (``tiundo worker``, each with its own RocksDB datadir under the job folder and no
web server; logs beside them; one that exits early is started again), runs the ingest in this
process with its fence (the feed stays open until the last partition reports), and follows the
job's topics (:class:`app.cli.jobstate.JobWatcher`) until the status is final. With ``--attach``
it starts no worker and relies on workers already running for this job (other machines,
``docker compose``), saying so when none runs. Ctrl-C, SIGTERM and SIGHUP stop the ingest
cleanly (its GC safepoint kept until its TTL, for a resume) and send SIGTERM to the workers it
started (:func:`app.cli.common.run_command`); should run die without that (``kill -9``), its
workers see their stdin pipe close and stop (:mod:`app.cli.lifeline`). ``--resume J``
continues the job afterwards; ``--replace`` deletes an earlier job of the same name first.

Exit: 0 SUCCEEDED, 1 FAILED/INCOMPLETE (or a worker died), 5 SUCCEEDED but written by others
after E, others per :mod:`app.cli.common`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click

from app.cli.common import (
    CLI_ENV,
    DEFAULT_WORKERS,
    EXIT_FAILED,
    EXIT_FOREIGN_WRITES,
    JobFailedError,
    Settings,
    UnreachableError,
    cluster_options,
    default_job,
    kafka_options,
    log_options,
    metrics_option,
    run_command,
    stall_options,
    start_logging,
    tso_time,
    undo_options,
    window_options,
)
from app.cli.jobstate import JobSnapshot, JobWatcher, store_foreign_writes
from app.cli.output import document, emit, json_errors, proto_fields
from app.cli.pin import (
    ingest_pinned,
    pin_job,
    publish_record,
    read_record,
    refuse_taken_name,
    reset_for_resume,
    resume_settings,
    same_tables,
)
from app.cli.plan import Prepared, preflight_options, prepare
from app.cli.progress import Display, PhaseModel, make_display
from app.config import UndoConfig
from app.jobrecord import describe, pin
from app.report import render, with_foreign_writes
from app.rpo import Rpo, rpo, rpo_fields
from app.undo.activity import StallClock, stall_lines
from app.undo.chunk import STATE_FORMAT
from app.undo.owner import Owner
from core import metrics
from core.errors import ConfigError
from core.kafka_admin import ensure_topic, group_members, resolve_policy
from core.metrics_addr import worker_addr
from core.private import private_folder
from core.retry import ride_out
from ingest.worker import IngestResult, IngestWorker
from proto import tiundo_pb2

__all__ = ["RunOutcome", "WorkerProcess", "run", "run_job", "stall_give_up_s"]

#: the folder holding the `app` package (workers import it from there, installed or not)
ROOT = Path(__file__).resolve().parents[2]
#: how often ``run`` starts a worker again that exited before the job ended
WORKER_RESTARTS = 5
#: how often ``--attach`` checks that some worker of the job is running
ATTACH_CHECK_S = 15.0
#: how long the ingest may take to end once the job's status is final (the fence opened),
#: and again once asked to stop; beyond that the run ends without it (issue 14)
INGEST_GRACE_S = 30.0


class WorkerProcess:
    """One ``tiundo worker`` subprocess with its own datadir, log file and metrics port."""

    def __init__(
        self,
        config: UndoConfig,
        datadir: Path,
        log: Path,
        log_args: Sequence[str] = (),
        *,
        metrics_addr: str = "",
    ) -> None:
        self.datadir = datadir
        self.log = log
        #: ``--log-level``/``--log-format`` inherited from ``run``, and the worker's name
        self._log_args = [*log_args, "--log-role", log.stem]
        # no web server per worker; metrics on their own port when run serves some
        own = config.replace(datadir=str(datadir), web_port=0, metrics_addr=metrics_addr)
        self._env = {**os.environ, **own.to_env()}
        self._env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), self._env.get("PYTHONPATH")) if p
        )
        private_folder(datadir)
        self._log: IO[bytes] = log.open("ab")
        self.restarts = 0
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", *self._log_args, "--exit-on-stdin-eof"],
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # the lifeline (app.cli.lifeline): EOF when this process dies, kill -9 included
            stdin=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the workers cleanly
        )

    def alive(self) -> bool:
        """Still running."""
        return self.proc.poll() is None

    def restart(self) -> None:
        """Start the worker again after it exited (its state and progress are kept)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.restarts += 1
        self.proc = self._spawn()

    def tail(self, lines: int = 5) -> str:
        """The last lines of its log, joined by ' | ' (for a one-line error)."""
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return " | ".join(t.strip() for t in text[-lines:] if t.strip())

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; then cut the lifeline."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self._log.close()


async def stop_all(procs: Sequence[WorkerProcess]) -> None:
    """Stop every worker at once, then raise the first error any stop raised.

    A Faust worker takes 1–2 s to stop (agents, commit, group leave, tables closed); one after
    another, W workers added W of those to the RTO, and one failing stop left the rest running.
    """
    stopped = await asyncio.gather(
        *(asyncio.to_thread(proc.stop) for proc in procs), return_exceptions=True
    )
    for result in stopped:
        if isinstance(result, BaseException):
            raise result


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What ``tiundo run`` ends with."""

    status: tiundo_pb2.JobStatus
    ingest: IngestResult
    wall_s: float
    sql_file: Path | None = None
    #: ``cluster/changefeed`` whose syncpoint gave T (the job record's; empty with --to-ts)
    changefeed: str = ""
    #: when the job record was pinned (unix ms): the RPO's point age is measured from it
    started_unix_ms: int = 0


async def _follow(
    watcher: JobWatcher,
    model: PhaseModel,
    display: Display,
    workers: list[WorkerProcess],
    ingest_task: asyncio.Task[IngestResult],
    fence: asyncio.Event,
    deadline: float,
    outage_s: float,
    stall_s: float,
    *,
    give_up_s: float | None = None,
    ingest_grace_s: float = INGEST_GRACE_S,
) -> JobSnapshot:
    """Poll the job until its status is final (raise if every worker died or time ran out).

    A partition that no worker moves for ``stall_s`` is named on stderr with the worker that
    holds it, again whenever that set changes (issue 14: a hang was silent); one still stalled
    ``give_up_s`` (None: ``stall_s``) after that fails the run
    (:class:`app.undo.activity.StallClock`), unless attached workers never took it. Once the
    status is final the fence opens; the snapshot is returned when the ingest ended, or after
    ``ingest_grace_s`` with a line saying it did not (:func:`end_ingest` stops it).
    """
    loop = asyncio.get_running_loop()
    next_check = loop.time() + ATTACH_CHECK_S
    failing_since: float | None = None
    final_since: float | None = None
    since_ms = int(time.time() * 1000)
    shown: tuple[tuple[int, str], ...] = ()
    clock = StallClock(stall_s if give_up_s is None else give_up_s)
    while True:
        if ingest_task.done() and final_since is None:
            ingest_task.result()  # an ingest failure ends the run with its own message
        try:
            snap = await watcher.snapshot()
        except UnreachableError:
            # Kafka down (a broker restart): the workers and the ingest wait for it too; give up
            # only after the same outage bound
            failing_since = failing_since if failing_since is not None else loop.time()
            clock.reset()
            if loop.time() - failing_since > outage_s:
                raise
            await asyncio.sleep(1.0)
            continue
        failing_since = None
        model.job = snap
        display.update(model)
        state = tiundo_pb2.JobStatus.State.Name(snap.status.state) if snap.status else "WAITING"
        metrics.set_state(metrics.JOB_STATE, metrics.JOB_STATES, state)
        stalled = snap.stalled(watcher.partitions, stall_s, since_ms=since_ms)
        if tuple((x.partition, x.worker) for x in stalled) != shown:
            shown = tuple((x.partition, x.worker) for x in stalled)
            for line in stall_lines(stalled):
                click.echo(f"tiundo run: stalled: {line}", err=True)
        # --attach: a partition no worker ever took is the operator's (the group is said empty)
        held = [x for x in stalled if workers or x.worker]
        stuck = [] if snap.final else clock.beyond(held, loop.time())
        if stuck:
            raise JobFailedError(
                f"giving up: {'; '.join(stall_lines(stuck))}; still stalled "
                f"{clock.give_up_s:.0f} s "
                f"after it was named; the job keeps its progress: tiundo run --resume {watcher.job}"
            )
        if snap.final:
            fence.set()  # the last partition reported: the feed may close now
            if ingest_task.done():
                return snap
            final_since = final_since if final_since is not None else loop.time()
            if loop.time() - final_since >= ingest_grace_s:
                click.echo(
                    f"tiundo run: the job is {state}, but the ingest did not end "
                    f"{ingest_grace_s:g} s after it (ingest {model.ingest_state}); stopping it",
                    err=True,
                )
                return snap
            await asyncio.sleep(0.1)
            continue  # the job is over: nothing below (restarts, deadline) applies any more
        for w in workers:
            # a worker that died (Kafka or the downstream gone for a while, a crash) is started
            # again: it resumes from its changelog and the downstream counters
            if not w.alive() and w.restarts < WORKER_RESTARTS:
                click.echo(
                    f"tiundo run: worker {w.log.stem} exited ({w.tail(1)}); starting it again",
                    err=True,
                )
                await asyncio.sleep(min(30.0, 2.0 * 2**w.restarts))
                w.restart()
        if workers and not any(w.alive() for w in workers):
            raise JobFailedError(f"every worker exited (log {workers[0].log}: {workers[0].tail()})")
        if not workers and not snap.final and loop.time() >= next_check:
            # --attach: say so when nobody works on the job, instead of waiting in silence
            next_check = loop.time() + ATTACH_CHECK_S
            if not await group_members(watcher.bootstrap, watcher.names.group):
                click.echo(
                    f"tiundo run: waiting: no worker of job {watcher.job} is running (Kafka "
                    f"group {watcher.names.group} is empty); start `tiundo worker --job "
                    f"{watcher.job}` where the workers run, or run without --attach",
                    err=True,
                )
        if loop.time() > deadline:
            raise JobFailedError(
                "the job did not finish in time (--job-timeout); workers keep their progress: "
                f"tiundo status --job {watcher.job}"
            )
        await asyncio.sleep(0.5)


def stall_give_up_s(cfg: UndoConfig) -> float:
    """How long ``run`` waits, once a partition is named stalled, before failing.

    Another ``TIUNDO_STALL_S``, never less than ``TIUNDO_RETRY_DEADLINE_S``: a partition whose
    worker still retries a transient error (the downstream away) fails by its own error first.
    """
    return max(cfg.stall_s, cfg.retry_deadline_s)


async def run_job(
    s: Settings,
    *,
    workers: int,
    attach: bool,
    job_dir: Path,
    force: bool,
    replace: bool,
    resume: bool,
    writer_check_s: float,
    dry_run: Path | None,
    job_timeout_s: float,
    display: Display,
    worker_log_args: Sequence[str] = (),
    log_file: str = "",
    metrics_addr: str = "",
) -> RunOutcome:
    """The whole job (see the module docstring)."""
    started = time.monotonic()
    bootstrap = s.undo_config().kafka_bootstrap  # (the tables of a resumed job are not known yet)
    resumed: tiundo_pb2.JobRecord | None = None
    prefix = s.topic_prefix
    if resume:
        resumed = await read_record(bootstrap, s.job, prefix=prefix)
        if resumed is None:
            raise ConfigError(f"--resume {s.job}: no such job (no record on {s.names.record})")
        s = resume_settings(s, resumed)
    elif not replace:  # a taken name is refused before anything is asked of the cluster
        await refuse_taken_name(bootstrap, s.job, prefix=prefix)
    if resumed is None:  # and topics the brokers cannot hold (replication factor)
        await resolve_policy(bootstrap, s.undo_config().topic_policy)
    prep = await prepare(s, force=force, writer_check_s=writer_check_s)
    cfg = prep.pinned()
    w = prep.window
    click.echo(
        f"job {s.job}: T={w.target_ts} ({tso_time(w.target_ts)} UTC) E={w.end_ts}, "
        f"{len(prep.tables)} table(s): {', '.join(t.qualified for t in prep.tables)}",
        err=True,
    )
    sql_dir = job_dir / "sql" if dry_run is not None else None
    ucfg = s.undo_config(primary_ts=w.primary_ts, dry_run=str(sql_dir) if sql_dir else "")
    if replace or resumed is not None:  # no worker state of an earlier job or attempt is kept
        await asyncio.to_thread(shutil.rmtree, job_dir / "workers", ignore_errors=True)
    if resumed is not None:
        if dry_run is not None and not resumed.dry_run_dir:
            raise ConfigError(f"--dry-run: job {s.job} applies its undo; a resumed job keeps it")
        same_tables(prep, resumed)
        await reset_for_resume(bootstrap, s.job, prefix=prefix)
        resumed.attempt += 1
        # the attempt rebuilds the compact state from nothing, so it keeps it this tiundo's way
        resumed.state_format = STATE_FORMAT
        await publish_record(bootstrap, resumed)
        record = resumed
    else:
        record = await pin_job(prep, ucfg, replace=replace)
    ucfg = pin(ucfg, record)
    if record.dry_run_dir:
        sql_dir = Path(record.dry_run_dir)
    logged = f"; log {log_file}" if log_file else ""
    click.echo(f"job record pinned: {describe(record)}, attempt {record.attempt}{logged}", err=True)
    metrics.JOB_INFO.labels(s.job, record.instance_id, str(record.attempt), "run").set(1)
    # every record the ingest writes names this start; the watcher takes only its statuses
    owner = Owner(record.instance_id, record.attempt)
    cfg = ingest_pinned(cfg, record)
    await ride_out(  # a broker restart here is ridden out like the ingest's
        lambda: ensure_topic(
            cfg.kafka_bootstrap, cfg.topic, cfg.partitions, policy=cfg.topic_policy
        ),
        what=f"job {s.job}: Kafka at {cfg.kafka_bootstrap}",
        outage_s=cfg.kafka_outage_s,
    )
    procs: list[WorkerProcess] = []
    ingest_worker = IngestWorker(cfg)
    fence = ingest_worker.fence = asyncio.Event()  # the feed stays open until the last report
    model = PhaseModel(cfg.partitions)

    def on_ingest(p: Any) -> None:
        model.ingest = p
        model.ingest_state = p.state
        display.update(model)

    ingest_worker.progress_cb = on_ingest
    ingest_task: asyncio.Task[IngestResult] | None = None
    try:
        if not attach:
            procs = [
                WorkerProcess(
                    ucfg,
                    job_dir / "workers" / f"worker{i}",
                    job_dir / f"worker{i}.log",
                    worker_log_args,
                    metrics_addr=worker_addr(metrics_addr, i) if metrics_addr else "",
                )
                for i in range(workers)
            ]
        ingest_task = asyncio.create_task(ingest_worker.run(), name="tiundo-ingest")
        deadline = asyncio.get_running_loop().time() + job_timeout_s
        with display:
            watcher = JobWatcher(
                cfg.kafka_bootstrap, s.job, cfg.partitions, owner=owner, prefix=prefix
            )
            await ride_out(  # Kafka down for a while (a broker restart): wait, like the rest
                watcher.start,
                what=f"job {s.job}: watching Kafka at {cfg.kafka_bootstrap}",
                outage_s=cfg.kafka_outage_s,
            )
            try:
                snap = await _follow(
                    watcher,
                    model,
                    display,
                    procs,
                    ingest_task,
                    fence,
                    deadline,
                    cfg.kafka_outage_s,
                    ucfg.stall_s,
                    give_up_s=stall_give_up_s(ucfg),
                )
            finally:
                await watcher.stop()
        result = await end_ingest(ingest_worker, ingest_task)
    finally:
        if ingest_task is not None and not ingest_task.done():
            ingest_worker.stop()
            await _await_bounded(ingest_task, INGEST_GRACE_S)
        elif ingest_task is not None and not ingest_task.cancelled():
            ingest_task.exception()  # retrieved: the error that ended the run says it already
        await stop_all(procs)
    assert snap.status is not None
    status = snap.status
    if result.foreign_by_table:  # stored, so `tiundo report` says it too
        stored = await store_foreign_writes(
            cfg.kafka_bootstrap,
            s.job,
            cfg.partitions,
            result.foreign_by_table,
            _names(prep),
            owner=owner,
            prefix=prefix,
        )
        status = stored or with_foreign_writes(status, result.foreign_by_table, _names(prep))
    sql_file = None
    if sql_dir is not None:  # a dry run (a resumed one too, with or without --dry-run FILE)
        built = sql_dir / f"{s.job}.sql"
        sql_file = built
        if dry_run is not None and built.exists():
            dry_run.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(built, dry_run)
            sql_file = dry_run
    wall_s = time.monotonic() - started
    return RunOutcome(status, result, wall_s, sql_file, record.changefeed, record.created_unix_ms)


async def end_ingest(
    ingest: IngestWorker, task: asyncio.Task[IngestResult], grace_s: float = INGEST_GRACE_S
) -> IngestResult:
    """The ingest's result once the job's status is final; the run never waits unbounded.

    An ingest still running is asked to stop, then cancelled ``grace_s`` later. One that
    failed or had to be cancelled gives its counters so far, with a line saying why: the
    job's final status, not the ingest's end, decides the exit.
    """
    if not task.done():
        ingest.stop()
        if not await _await_bounded(task, grace_s):
            click.echo(f"tiundo run: the ingest did not stop in {grace_s:g} s; cancelled", err=True)
    if task.done() and not task.cancelled() and task.exception() is None:
        return task.result()
    why = "cancelled" if task.cancelled() else f"{task.exception()}"
    click.echo(f"tiundo run: the ingest ended after the job's final status: {why}", err=True)
    return ingest.result_so_far()


async def _await_bounded(task: asyncio.Task[IngestResult], limit_s: float) -> bool:
    """Wait up to ``limit_s`` for ``task``, then cancel it (briefly waited for); ended in time."""
    done, _ = await asyncio.wait({task}, timeout=limit_s)
    if done:
        return True
    task.cancel()
    await asyncio.wait({task}, timeout=5.0)
    return False


def _names(prep: Prepared) -> dict[int, tuple[str, str]]:
    return {pid: (t.db, t.name) for t in prep.tables for pid in t.physical_ids}


def exit_status(out: RunOutcome) -> int:
    """0 only when every table is back at T and nobody else wrote after E."""
    if out.status.state != tiundo_pb2.JobStatus.SUCCEEDED:
        return EXIT_FAILED
    if out.status.foreign_writes or out.ingest.foreign_writes:
        # the rows those writers touched are not at T: not a plain success
        return EXIT_FOREIGN_WRITES
    return 0


def outcome_rpo(out: RunOutcome) -> Rpo:
    """What the undo gave up: the point's age at the job's start, and what the ingest read.

    The upstream point is the status's (the ingest of a pinned window does not know it).
    """
    ing = out.ingest
    return rpo(
        started_unix_ms=out.started_unix_ms,
        primary_ts=out.status.primary_ts or ing.primary_ts,
        target_ts=ing.target_ts,
        end_ts=ing.end_ts,
        changes=ing.changes,
        transactions=ing.transactions,
    )


def render_outcome(out: RunOutcome) -> str:
    """The final report: the job status, RPO, RTO and what the ingest saw."""
    st, ing = out.status, out.ingest
    lines = [render(st, changefeed=out.changefeed, rpo=outcome_rpo(out))]
    rows = sum(t.restored + t.deleted for t in st.tables)
    lines.append(
        f"  RTO (tiundo run, start to report) = {out.wall_s:.1f} s   rows restored or deleted = "
        f"{rows}   changes read = {ing.changes} in {ing.duration_s:.1f} s"
    )
    if st.primary_ts:
        lines.append(
            f"  recovered upstream point: primary_ts {st.primary_ts} "
            f"({tso_time(st.primary_ts)} UTC)"
        )
    foreign = max(st.foreign_writes, ing.foreign_writes)
    if foreign:
        lines.append(
            f"  WARNING: {foreign} write(s) after E by another writer while the job "
            "ran: a changefeed or client is still writing; those rows may differ from T"
        )
    if out.sql_file is not None:
        lines.append(f"  dry run: undo SQL in {out.sql_file} (nothing applied)")
    return "\n".join(lines)


def outcome_fields(out: RunOutcome, log_file: str) -> dict[str, Any]:
    """``run --json``: the status (as ``report --json``), RPO, RTO and what the ingest read."""
    st, ing = out.status, out.ingest
    return {
        "status": proto_fields(st),
        "changefeed": out.changefeed,
        "rpo": rpo_fields(outcome_rpo(out)),
        "rto_s": round(out.wall_s, 3),
        "rows_restored_or_deleted": sum(t.restored + t.deleted for t in st.tables),
        "changes_read": ing.changes,
        "ingest_s": round(ing.duration_s, 3),
        "foreign_writes": max(st.foreign_writes, ing.foreign_writes),
        "sql_file": str(out.sql_file) if out.sql_file is not None else None,
        "log_file": log_file,
    }


@click.command()
@cluster_options()
@kafka_options()
@window_options()
@undo_options()
@stall_options()
@preflight_options
@log_options()
@metrics_option()
@click.option(
    "--workers",
    envvar=CLI_ENV["workers"],
    show_envvar=True,
    type=click.IntRange(1, 64),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Faust worker processes to start",
)
@click.option(
    "--attach",
    is_flag=True,
    envvar=CLI_ENV["attach"],
    show_envvar=True,
    help="start no worker: use the workers already running for this job",
)
@click.option(
    "--replace",
    is_flag=True,
    help="the job name is taken: delete that job's topics, counters and job folder first "
    "(a flag only, never from the environment)",
)
@click.option(
    "--resume",
    metavar="JOB",
    help="continue JOB after its `tiundo run` died (same T, E, tables and settings; "
    "nothing applied twice, nothing skipped)",
)
@click.option(
    "--job-dir",
    envvar=CLI_ENV["job_dir"],
    show_envvar=True,
    type=click.Path(path_type=Path),
    help="worker datadirs and logs [.tiundo/<job>]",
)
@click.option(
    "--dry-run",
    "dry_run",
    envvar=CLI_ENV["dry_run_file"],
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the undo SQL to FILE instead of applying it",
)
@click.option(
    "--job-timeout",
    "job_timeout_s",
    envvar=CLI_ENV["job_timeout_s"],
    show_envvar=True,
    type=click.FloatRange(1),
    default=3600.0,
    show_default=True,
    help="give up following the job after this many seconds",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "rich", "plain", "none"]),
    default="auto",
    show_default=True,
    help="bars on a terminal, lines otherwise",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="print the outcome as one JSON object instead of the report",
)
def run(**params: Any) -> None:  # fmt: skip
    """Undo (T, E] of the tables: ingest, start workers, show progress, print the report."""
    resume = params["resume"]
    if resume is not None:
        if params.get("job") not in (None, resume):
            raise ConfigError(f"--resume {resume} with --job {params['job']}: name one job")
        if params["replace"]:
            raise ConfigError("--resume continues a job, --replace deletes it: choose one")
        params["job"] = resume
    params["job"] = params.get("job") or default_job()
    s = Settings.from_params(params)
    if not s.tables and resume is None:
        raise ConfigError("no tables selected (--tables db.t / db.*, or TIUNDO_TABLES)")
    s.undo_config()  # a bad worker setting fails now, before PD is asked anything
    # absolute: the record names the dry-run folder, and attached workers run elsewhere
    job_dir = (params["job_dir"] or Path(".tiundo") / s.job).absolute()
    # the screen is the progress display's: log lines (aiokafka's too) go to a file
    private_folder(job_dir)
    logs = start_logging(params, job=s.job, role="run", default_file=job_dir / "run.log")
    if params["as_json"]:
        json_errors("run", s.job)
    metrics_addr = params["metrics_addr"] or ""
    if metrics_addr:
        worker_addr(metrics_addr, 0 if params["attach"] else params["workers"] - 1)
    server = metrics.serve(metrics_addr)
    outcome = run_command(
        run_job(
            s,
            workers=params["workers"],
            attach=params["attach"],
            job_dir=job_dir,
            force=params["force"],
            replace=params["replace"],
            resume=params["resume"] is not None,
            writer_check_s=params["writer_check_s"],
            dry_run=params["dry_run"],
            job_timeout_s=params["job_timeout_s"],
            display=make_display(params["progress"]),
            worker_log_args=logs.worker_args(),
            log_file=logs.file,
            metrics_addr="" if params["attach"] else metrics_addr,
        )
    )
    if server is not None:
        server.close()
    code = exit_status(outcome)
    if params["as_json"]:
        emit(document("run", s.job, code, **outcome_fields(outcome, logs.file)))
    else:
        click.echo(render_outcome(outcome))
    if code:
        raise SystemExit(code)
