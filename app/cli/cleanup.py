"""``tiundo cleanup --job J``: remove what a job left behind, after showing it.

A job leaves its Kafka topics (:func:`app.config.job_topics`), its workers' consumer group
``tiundo-<job>`` (committed offsets; both under ``--topic-prefix``), its exactly-once counter
rows downstream
(:mod:`app.cli.counters`) and its local folder (``--job-dir``, ``.tiundo/<job>``: worker state,
logs, dry-run SQL). :func:`plan_cleanup` says what of that exists, and is pure;
:func:`render_cleanup` shows it; after a confirmation (``--yes`` skips it) :func:`remove` deletes
it. A job whose workers still run (members of its group) is refused unless ``--force``:
deleting topics under live workers would have them recreate some and fail.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from app.cli.common import Settings, kafka_options, log_options, run_command, start_logging
from app.cli.counters import count_counters, counter_table, delete_counters
from app.cli.jobstate import delete_job_topics, read_compacted
from app.cli.output import document, emit, json_errors
from app.cli.pin import read_record
from app.config import UndoConfig, job_topics
from core.errors import ConfigError, DecodeError
from core.jobnames import JobNames
from core.kafka_admin import delete_group, describe_group, list_topics
from core.settings import env_name
from proto import tiundo_pb2

__all__ = ["CleanupPlan", "cleanup", "plan_cleanup", "refusal", "render_cleanup"]

FINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "INCOMPLETE"})


@dataclass(frozen=True, slots=True)
class CleanupPlan:
    """What ``tiundo cleanup`` removes for one job (only what exists)."""

    job: str
    topics: tuple[str, ...]
    group: str | None
    counter_rows: int
    counter_table: str | None
    folder: str | None
    state: str
    live_workers: int
    #: the instance whose counter rows go (the job record's; "" = no record, no rows)
    instance: str = ""

    @property
    def empty(self) -> bool:
        """Nothing of the job is left."""
        return not (self.topics or self.group or self.counter_rows or self.folder)


def plan_cleanup(
    job: str,
    *,
    existing_topics: Collection[str],
    group_known: bool,
    live_workers: int,
    counter_rows: int,
    progress_db: str,
    folder: Path,
    folder_exists: bool,
    state: str,
    topic_prefix: str = "",
    instance: str = "",
) -> CleanupPlan:
    """The plan from what was found: the job's own topics by exact name, never by prefix."""
    own = [t for t in job_topics(job, prefix=topic_prefix) if t in set(existing_topics)]
    return CleanupPlan(
        job=job,
        topics=tuple(sorted(own)),
        group=JobNames(job, topic_prefix).group if group_known else None,
        counter_rows=counter_rows,
        counter_table=counter_table(progress_db) if counter_rows else None,
        folder=str(folder) if folder_exists else None,
        state=state,
        live_workers=live_workers,
        instance=instance,
    )


def refusal(plan: CleanupPlan, *, force: bool) -> str | None:
    """Why the cleanup must not run (one line), or ``None``."""
    if plan.live_workers and not force:
        return (
            f"job {plan.job} is {plan.state} and {plan.live_workers} worker(s) still run (Kafka "
            f"group {plan.group}); stop them first, or --force"
        )
    return None


def render_cleanup(plan: CleanupPlan) -> str:
    """What will be removed, one line per kind."""
    if plan.empty:
        return f"tiundo cleanup: nothing of job {plan.job} is left"
    lines = [f"tiundo cleanup: job {plan.job} ({plan.state}) - will remove:"]
    if plan.topics:
        lines.append(f"  Kafka topics ({len(plan.topics)}): {', '.join(plan.topics)}")
    if plan.group:
        members = f" ({plan.live_workers} live member(s))" if plan.live_workers else ""
        lines.append(f"  Kafka consumer group: {plan.group}{members}")
    if plan.counter_rows:
        lines.append(f"  downstream counter rows: {plan.counter_rows} in {plan.counter_table}")
    if plan.folder:
        lines.append(f"  local folder: {plan.folder}")
    return "\n".join(lines)


async def _state(bootstrap: str, names: JobNames) -> str:
    raw = (await read_compacted(bootstrap, names.status)).get(names.job.encode())
    if raw is None:
        return "NOT STARTED"
    try:
        status = tiundo_pb2.JobStatus.FromString(raw)
    except DecodeError:
        return "UNKNOWN"
    return tiundo_pb2.JobStatus.State.Name(status.state)


async def _counters_of(bootstrap: str, names: JobNames) -> tuple[str, str]:
    """(counter database, instance id) from the job record; ("-", "") without one.

    Counter rows are keyed by instance (:mod:`app.cli.counters`): with no record there is no
    instance to name, and rows of a job of the same name under another prefix must stay.
    """
    try:
        record = await read_record(bootstrap, names.job, prefix=names.prefix)
    except DecodeError:
        record = None
    if record is None:
        return "-", ""
    return record.progress_db or UndoConfig.from_env().progress_db, record.instance_id


async def gather(s: Settings, folder: Path, folder_exists: bool) -> tuple[CleanupPlan, str]:
    """Look at Kafka, the downstream and the folder; the plan and the counter database."""
    job = s.job
    bootstrap = s.kafka.removeprefix("kafka://")
    names = s.names
    topics = await list_topics(bootstrap, list(names.listing_prefixes))
    known, members = await describe_group(bootstrap, names.group)
    progress_db, instance = await _counters_of(bootstrap, names)
    if progress_db != "-" and not s.downstream:
        raise ConfigError(
            f"no downstream (--downstream / TIUNDO_DOWNSTREAM mysql://…): job {job}'s counter "
            f"rows are in its {progress_db} database"
        )
    rows = (
        await count_counters(s.downstream, progress_db, job, instance) if progress_db != "-" else 0
    )
    plan = plan_cleanup(
        job,
        existing_topics=topics,
        group_known=known,
        live_workers=members,
        counter_rows=rows,
        progress_db=progress_db,
        folder=folder,
        folder_exists=folder_exists,
        state=await _state(bootstrap, names) if topics else "NOT STARTED",
        topic_prefix=names.prefix,
        instance=instance,
    )
    return plan, progress_db


async def remove(s: Settings, plan: CleanupPlan, progress_db: str) -> dict[str, Any]:
    """Delete what ``plan`` names; what went, as the ``--json`` fields."""
    bootstrap = s.kafka.removeprefix("kafka://")
    deleted: list[str] = []
    if plan.topics:
        deleted = await delete_job_topics(bootstrap, plan.job, prefix=s.topic_prefix)
    group = False
    if plan.group:
        group = await delete_group(bootstrap, plan.group)
    rows = 0
    if plan.counter_rows:
        rows = await delete_counters(s.downstream, progress_db, plan.job, plan.instance)
    if plan.folder:
        await asyncio.to_thread(shutil.rmtree, plan.folder)
    return {
        "topics": deleted,
        "group": plan.group if group else None,
        "counter_rows": rows,
        "folder": plan.folder,
    }


def _nothing() -> dict[str, Any]:
    return {"topics": [], "group": None, "counter_rows": 0, "folder": None}


@click.command()
@kafka_options()
@click.option(
    "--downstream",
    envvar=env_name(UndoConfig, "downstream"),
    show_envvar=True,
    help="downstream SQL, mysql://user:pass@host:port (the job's counter rows)",
)
@click.option(
    "--job-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="the job's local folder [.tiundo/<job>]",
)
@click.option("--yes", is_flag=True, help="remove without asking (a flag only)")
@click.option(
    "--force", is_flag=True, help="remove even while workers of the job run (a flag only)"
)
@click.option("--json", "as_json", is_flag=True, help="print what was removed as JSON")
@log_options()
def cleanup(**params: Any) -> None:
    """Remove a job's topics, consumer group, downstream counter rows and local folder."""
    s = Settings.from_params(params)
    if not s.job:
        raise ConfigError("which job? give --job NAME (or TIUNDO_JOB)")
    start_logging(params, job=s.job, role="cleanup")
    if params["as_json"]:
        json_errors("cleanup", s.job)
    folder = (params["job_dir"] or Path(".tiundo") / s.job).absolute()
    plan, progress_db = run_command(gather(s, folder, folder.is_dir()))
    why = refusal(plan, force=params["force"])
    if why is not None:
        raise ConfigError(why)
    click.echo(render_cleanup(plan), err=True)
    if plan.empty:
        if params["as_json"]:
            emit(document("cleanup", s.job, 0, state=plan.state, removed=_nothing()))
        return
    if not params["yes"]:
        if not sys.stdin.isatty():
            raise ConfigError("not a terminal, so nothing to confirm with: add --yes")
        click.confirm("remove all of this?", abort=True, err=True)
    done = run_command(remove(s, plan, progress_db))
    if params["as_json"]:
        emit(document("cleanup", s.job, 0, state=plan.state, removed=done))
        return
    click.echo(
        f"tiundo cleanup: job {s.job}: removed {len(done['topics'])} topic(s), "
        f"{'the consumer group, ' if done['group'] else ''}{done['counter_rows']} counter "
        f"row(s){', the folder' if done['folder'] else ''}"
    )
