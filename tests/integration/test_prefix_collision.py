"""Two jobs whose prefix and name concatenate alike share topic names; neither touches the other's.

Prefix ``t…-`` with job ``ax`` and prefix ``t…-a`` with job ``x`` both name ``t…-ax.kv`` (and
``.dead``, ``.progress``, ``.status``, ``.job``) but not their consumer groups, so a group check
cannot see the other's workers. The record on ``<name>.job`` names its owner: every command of
the other job is refused in one line naming it (exit 2) and the owner's topics stay.

Real Kafka and MariaDB; the fake cluster only for ``run``, whose --replace refusal comes after
the cluster's checks.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

import pytest

from app.cli.jobstate import delete_job_topics
from app.cli.pin import publish_record, read_record
from app.config import UndoConfig
from app.jobrecord import CHECK_DDL, CHECK_GC, CHECK_WRITER, build_record
from core.jobnames import JobNames
from core.kafka_admin import TopicSpec, ensure_topics, list_topics
from proto import tiundo_pb2

from .cli_harness import demo_cluster, tiundo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

__all__ = ["demo_cluster"]  # the fixture, used by name


async def _start_owner(bootstrap: str, names: JobNames) -> None:
    """The owner's record and own topics, as ``tiundo run`` leaves them before its workers."""
    cfg = UndoConfig(job=names.job, topic_prefix=names.prefix, progress_db="-")
    record = build_record(
        cfg,
        instance_id="0wner0000001",
        target_ts=100,
        end_ts=200,
        primary_ts=0,
        changefeed="",
        tables=[tiundo_pb2.JobTable(db_name="d", table_name="t", table_id=7, physical_ids=[7])],
        checks=(CHECK_GC, CHECK_DDL, CHECK_WRITER),
        created_unix_ms=1,
    )
    await publish_record(bootstrap, record)
    await ensure_topics(bootstrap, [TopicSpec(t, 1) for t in (names.kv, names.status)])


def _refused(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2 with one ``tiundo: error:`` line naming the owner (other lines: the run's steps)."""
    errors = [line for line in r.stderr.splitlines() if line.startswith("tiundo: error: ")]
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert len(errors) == 1 and "Traceback" not in r.stderr + r.stdout, r.stderr
    for n in needles:
        assert n in errors[0], (n, errors[0])


def test_a_job_never_touches_topics_another_job_owns(
    demo_cluster: tuple[dict[str, str], Path, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    env, _, _ = demo_cluster
    base = f"t{uuid.uuid4().hex[:8]}-"
    owner, other = JobNames("ax", base), JobNames("x", base + "a")
    assert owner.kv == other.kv and owner.group != other.group  # the collision under test
    asyncio.run(_start_owner(kafka_bootstrap, owner))
    mine = sorted(asyncio.run(list_topics(kafka_bootstrap, [owner.prefix])))
    env = {**env, "TIUNDO_TOPIC_PREFIX": other.prefix}
    who = ("job 'ax'", f"topic prefix {owner.prefix!r}")
    try:
        for args in (
            ["cleanup", "--job", "x", "--yes"],
            ["worker", "--job", "x", "--record-wait", "30"],
            ["run", "--resume", "x", "--job-dir", str(tmp_path / "resume")],
            ["run", "--job", "x", "--job-dir", str(tmp_path / "new")],
            ["run", "--job", "x", "--replace", "--job-dir", str(tmp_path / "replace")],
            ["status", "--job", "x"],
        ):
            _refused(tiundo(args, env), *who)
            assert sorted(asyncio.run(list_topics(kafka_bootstrap, [owner.prefix]))) == mine, args
        record = asyncio.run(read_record(kafka_bootstrap, "ax", prefix=owner.prefix))
        assert record is not None and record.instance_id == "0wner0000001"
        # the owner itself is not refused: its cleanup removes its own topics
        done = tiundo(["cleanup", "--job", "ax", "--yes"], {**env, "TIUNDO_TOPIC_PREFIX": base})
        assert done.returncode == 0, done.stdout + done.stderr
        assert not asyncio.run(list_topics(kafka_bootstrap, [owner.prefix]))
    finally:
        asyncio.run(delete_job_topics(kafka_bootstrap, "ax", prefix=owner.prefix))
