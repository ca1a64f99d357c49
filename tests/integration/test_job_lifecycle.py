"""A job is one pinned window: a taken name is refused, workers take settings from its record.

Each test starts from the demo's torn downstream (``demo_cluster``) and ends by comparing every
table with its state at T (``tiundo verify --expect``, row digests). The scenarios are the ones
that once ended in SUCCEEDED with tables not at T:

- the same job name twice: the second start re-reported the first job's status (or reused its
  exactly-once counters) and undid nothing;
- ``--attach --dry-run``: the dry run reached only spawned workers, so an attached worker
  applied the undo for real;
- a worker whose own environment differs (batch sizes, dialect, dry run) wrote by its own
  settings instead of the job's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pymysql
import pytest

from app.cli.jobstate import delete_job_topics
from core.kafka_admin import list_topics

from .cli_harness import (
    ROOT,
    assert_one_line_error,
    demo_cluster,
    holds_gc_safe_point,
    read_env,
    running_demo_cluster,
    tiundo,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

__all__ = ["demo_cluster"]  # the fixture, used by name

Cluster = tuple[dict[str, str], Path, str]


@pytest.fixture
def job(kafka_bootstrap: str) -> Iterator[str]:
    name = f"life-{uuid.uuid4().hex[:8]}"
    yield name
    asyncio.run(delete_job_topics(kafka_bootstrap, name))


def _conn(mysql_config: Any, db: str | None = None) -> pymysql.Connection[Any]:
    return pymysql.connect(
        host=mysql_config.host, port=mysql_config.port, user=mysql_config.user,
        password=mysql_config.password, database=db, autocommit=True,
    )  # fmt: skip


def _tables(mysql_config: Any, db: str) -> list[str]:
    with _conn(mysql_config, db) as conn, conn.cursor() as cur:
        cur.execute("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")
        return [row[0] for row in cur.fetchall()]


def _save_torn(mysql_config: Any, db: str) -> str:
    """Copy every table of ``db`` (the torn downstream) into ``<db>_torn``."""
    saved = f"{db}_torn"
    with _conn(mysql_config) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{saved}`")
        for t in _tables(mysql_config, db):
            cur.execute(f"CREATE TABLE `{saved}`.`{t}` LIKE `{db}`.`{t}`")
            cur.execute(f"INSERT INTO `{saved}`.`{t}` SELECT * FROM `{db}`.`{t}`")
    return saved


def _tear_again(mysql_config: Any, db: str, saved: str) -> None:
    """Put the torn rows back (as if the disaster happened again on the same window)."""
    with _conn(mysql_config) as conn, conn.cursor() as cur:
        for t in _tables(mysql_config, db):
            cur.execute(f"DELETE FROM `{db}`.`{t}`")
            cur.execute(f"INSERT INTO `{db}`.`{t}` SELECT * FROM `{saved}`.`{t}`")


def _drop(mysql_config: Any, db: str) -> None:
    with _conn(mysql_config) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{db}`")


def _verify(env: dict[str, str], expect: Path) -> subprocess.CompletedProcess[str]:
    return tiundo(["verify", "--expect", str(expect)], env)


def _assert_at_t(env: dict[str, str], expect: Path) -> None:
    r = _verify(env, expect)
    assert r.returncode == 0 and "DIFFERENT" not in r.stdout, r.stdout + r.stderr


def test_same_job_name_twice_is_refused_and_replace_undoes_the_second_window(
    demo_cluster: Cluster, mysql_config: Any, job: str, tmp_path: Path
) -> None:
    env, expect, db = demo_cluster
    saved = _save_torn(mysql_config, db)
    try:
        job_dir = str(tmp_path / "jobs" / job)
        first = tiundo(["run", "--job", job, "--workers", "1", "--job-dir", job_dir], env)
        assert first.returncode == 0 and f"job {job}: SUCCEEDED" in first.stdout, first.stderr
        _assert_at_t(env, expect)
        # the job ended: its GC safe point at T is gone (an interrupted one keeps it)
        t = json.loads(expect.read_text())["target_ts"]
        assert not holds_gc_safe_point(env["TIUNDO_PD"], t)

        _tear_again(mysql_config, db, saved)
        torn = _verify(env, expect)
        assert torn.returncode == 1 and "DIFFERENT" in torn.stdout

        again = tiundo(["run", "--job", job, "--workers", "1", "--job-dir", job_dir], env)
        assert_one_line_error(again, 2, f"job name {job!r} is taken", "SUCCEEDED", "--replace")
        # the refusal wrote nothing
        assert _verify(env, expect).stdout == torn.stdout

        replaced = tiundo(
            ["run", "--job", job, "--workers", "1", "--job-dir", job_dir, "--replace"], env
        )
        assert replaced.returncode == 0, replaced.stdout + replaced.stderr
        assert f"job {job}: SUCCEEDED" in replaced.stdout
        _assert_at_t(env, expect)
    finally:
        _drop(mysql_config, saved)


def _attached_worker(
    env: dict[str, str], job: str, datadir: Path, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    """A worker started by hand, with an environment that disagrees with the job's settings."""
    wenv = dict(env)
    wenv.update(
        TIUNDO_JOB=job,
        TIUNDO_DATADIR=str(datadir),
        TIUNDO_DRY_RUN="",  # its own env says: apply
        TIUNDO_DIALECT="tidb",  # TiDB session statements would fail on MariaDB
        TIUNDO_BATCH_ROWS="1",
        TIUNDO_TXN_STATEMENTS="1",
        TIUNDO_MOUNT_CHUNK="3",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        env=wenv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_attach_dry_run_applies_nothing_whatever_the_worker_env_says(
    demo_cluster: Cluster, mysql_config: Any, job: str, tmp_path: Path
) -> None:
    env, expect, db = demo_cluster
    torn = _verify(env, expect)
    assert torn.returncode == 1 and "DIFFERENT" in torn.stdout
    plan = tmp_path / "undo.sql"
    with (tmp_path / "w1.log").open("wb") as wlog:
        worker = _attached_worker(env, job, tmp_path / "w1", wlog)
        try:
            run = tiundo(
                ["run", "--job", job, "--attach", "--dry-run", str(plan),
                 "--job-dir", str(tmp_path / "jobdir")],
                env,
            )  # fmt: skip
        finally:
            _stop(worker)
    log = (tmp_path / "w1.log").read_text(errors="replace")
    assert run.returncode == 0, run.stdout + run.stderr + log[-2000:]
    assert f"job {job}: SUCCEEDED" in run.stdout and "dry run" in run.stdout
    assert f"dry run to {tmp_path / 'jobdir' / 'sql'}" in log  # the worker took the record's
    # nothing was applied: the downstream is exactly as torn as before
    assert _verify(env, expect).stdout == torn.stdout
    text = plan.read_text()
    assert "-- phase 0" in text and "handle=" in text
    # the job's dialect (mysql), not the worker's (tidb would tag the session's writes)
    assert "tidb_cdc_write_source" not in text
    # and the reviewed file, applied by hand with the mysql client, brings every table back to T
    c = mysql_config
    subprocess.run(
        ["mysql", f"-h{c.host}", f"-P{c.port}", f"-u{c.user}", f"-p{c.password}",
         "--default-character-set=utf8mb4", db],
        input=plan.read_bytes(), check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    _assert_at_t(env, expect)


@pytest.mark.parametrize("command", ["ingest", "run"])
def test_every_entry_point_refuses_a_column_type_change_after_t(
    mysql_config: Any, kafka_bootstrap: str, job: str, tmp_path: Path, command: str
) -> None:
    """``tiundo ingest`` (what a compose deployment runs) checks as ``tiundo run`` does."""
    with running_demo_cluster(
        mysql_config, kafka_bootstrap, tmp_path, "--ddl-after-t", "ukeys"
    ) as (env, expect, _db):
        torn = _verify(env, expect)
        r = tiundo([command, "--job", job, "--job-dir", str(tmp_path / "j")] if command == "run"
                   else [command, "--job", job], env)  # fmt: skip
        assert_one_line_error(r, 3, "DDL job", "ukeys", "MODIFY COLUMN")
        # refused before anything was pinned or written
        assert _verify(env, expect).stdout == torn.stdout
        listed = asyncio.run(list_topics(kafka_bootstrap, [f"{job}."]))
        assert listed == []


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    out = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat_file.parent.name))
    return out


def _counter_rows(mysql_config: Any, job: str) -> int:
    with _conn(mysql_config) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = 'tiundo_meta' AND TABLE_NAME = 'undo_progress'"
        )
        if not cur.fetchone()[0]:
            return 0
        cur.execute("SELECT COUNT(*) FROM tiundo_meta.undo_progress WHERE job = %s", (job,))
        return int(cur.fetchone()[0])


def _wait_group_empty(kafka_bootstrap: str, job: str, timeout_s: float = 60) -> None:
    from core.kafka_admin import group_members

    deadline = time.monotonic() + timeout_s
    while asyncio.run(group_members(kafka_bootstrap, f"tiundo-{job}")):
        assert time.monotonic() < deadline, "the killed workers' group never emptied"
        time.sleep(1)


@pytest.mark.parametrize(
    ("phase", "how"),
    [("ingest", "machine lost"), ("apply", "machine lost"), ("ingest", "SIGTERM"),
     ("apply", "SIGTERM")],
)  # fmt: skip
def test_run_stopped_in_each_phase_then_resume_ends_at_t(
    demo_cluster: Cluster, mysql_config: Any, kafka_bootstrap: str, job: str, tmp_path: Path,
    phase: str, how: str,
) -> None:  # fmt: skip
    """``tiundo run`` stopped (SIGTERM), or killed with its workers (kill -9: the machine is
    gone), while ingesting or applying; then ``--resume`` ends at T."""
    env, expect, _db = demo_cluster
    env = {**env, "TIUNDO_BATCH_ROWS": "1", "TIUNDO_TXN_STATEMENTS": "1"}  # a long apply
    job_dir = str(tmp_path / "jobdir")
    err = (tmp_path / "run.err").open("w+b")
    run = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run", "--job", job, "--workers", "2",
         "--job-dir", job_dir, "--progress", "plain"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert run.poll() is None, (tmp_path / "run.err").read_text()
            assert time.monotonic() < deadline, f"{phase} never started"
            text = (tmp_path / "run.err").read_text(errors="replace")
            if phase == "ingest" and "job record pinned" in text:
                time.sleep(0.5)
                break
            if phase == "apply" and _counter_rows(mysql_config, job) > 0:
                break
            time.sleep(0.05)
        if how == "SIGTERM":
            run.send_signal(signal.SIGTERM)
            assert run.wait(60) == 130, (tmp_path / "run.err").read_text()
        else:
            doomed = [run.pid, *_children(run.pid)]
            for pid in doomed:
                os.kill(pid, signal.SIGKILL)
            run.wait(10)
    finally:
        if run.poll() is None:
            run.kill()
        err.close()
    applied_before = _counter_rows(mysql_config, job)
    _wait_group_empty(kafka_bootstrap, job)

    resumed = tiundo(["run", "--resume", job, "--workers", "2", "--job-dir", job_dir], env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"job {job}: SUCCEEDED" in resumed.stdout
    assert "attempt 1" in resumed.stderr
    _assert_at_t(env, expect)
    if phase == "apply":
        assert applied_before > 0  # the first attempt had committed some transactions


def test_resume_of_an_unknown_job_is_one_line(kafka_bootstrap: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIUNDO_")} | {
        "TIUNDO_KAFKA": kafka_bootstrap,
        "TIUNDO_DOWNSTREAM": "mysql://u@127.0.0.1:9/x",
    }
    name = f"nosuch-{uuid.uuid4().hex[:8]}"
    r = tiundo(["run", "--resume", name], env)
    assert_one_line_error(r, 2, f"--resume {name}", "no such job")
    r = tiundo(["run", "--resume", name, "--replace"], env)
    assert_one_line_error(r, 2, "choose one")


@contextlib.contextmanager
def _run_in_background(
    env: dict[str, str], job: str, tmp_path: Path, *extra: str
) -> Iterator[subprocess.Popen[str]]:
    """``tiundo run`` as a process (stdout piped, stderr in ``run.err``), killed if it outlives
    the block."""
    with (tmp_path / "run.err").open("wb") as err:
        run = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run", "--job", job, "--job-dir",
             str(tmp_path / "jobdir"), "--progress", "plain", *extra],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
        try:
            yield run
        finally:
            if run.poll() is None:
                run.kill()
                run.wait(10)


def _wait_apply_started(
    run: subprocess.Popen[str], mysql_config: Any, job: str, tmp_path: Path
) -> None:
    """Until the first undo transaction is committed downstream (its counter row exists)."""
    deadline = time.monotonic() + 120
    while _counter_rows(mysql_config, job) == 0:
        assert run.poll() is None, (tmp_path / "run.err").read_text()
        assert time.monotonic() < deadline, "the apply never started"
        time.sleep(0.05)


def test_a_foreign_write_during_the_apply_gives_exit_5_from_run_and_report(
    demo_cluster: Cluster, mysql_config: Any, job: str, tmp_path: Path
) -> None:
    """The feed stays open until the last partition reports: a write by another client while
    the undo is applied is counted per table, stored in the status, and is never a success."""
    env, _expect, _db = demo_cluster
    env = {**env, "TIUNDO_BATCH_ROWS": "1", "TIUNDO_TXN_STATEMENTS": "1"}  # a long apply
    cluster_pid = int(read_env(tmp_path / "cluster.env")["DEMO_PID"])
    with _run_in_background(env, job, tmp_path, "--workers", "1") as run:
        _wait_apply_started(run, mysql_config, job, tmp_path)
        for _ in range(3):  # another writer, while the undo is being applied
            os.kill(cluster_pid, signal.SIGUSR1)
            time.sleep(0.2)
        out, _ = run.communicate(timeout=180)
    stderr = (tmp_path / "run.err").read_text(errors="replace")
    assert run.returncode == 5, out + stderr
    assert "write(s) by others after E" in out and "foreign" in out, out
    rep = tiundo(["report", "--job", job], env)
    assert rep.returncode == 5, rep.stdout + rep.stderr
    assert "may not be at T" in rep.stdout and "every table is back at T" not in rep.stdout
    assert "foreign" in rep.stdout


def test_a_spawned_worker_killed_mid_apply_is_started_again_and_the_job_ends_at_t(
    demo_cluster: Cluster, mysql_config: Any, job: str, tmp_path: Path
) -> None:
    env, expect, _db = demo_cluster
    env = {**env, "TIUNDO_BATCH_ROWS": "1", "TIUNDO_TXN_STATEMENTS": "1"}  # a long apply
    with _run_in_background(env, job, tmp_path, "--workers", "1") as run:
        _wait_apply_started(run, mysql_config, job, tmp_path)
        (worker,) = _children(run.pid)
        os.kill(worker, signal.SIGKILL)
        out, _ = run.communicate(timeout=240)
    stderr = (tmp_path / "run.err").read_text(errors="replace")
    assert run.returncode == 0, out + stderr[-3000:]
    assert "starting it again" in stderr
    assert f"job {job}: SUCCEEDED" in out
    _assert_at_t(env, expect)


def test_an_attached_worker_restarted_with_other_settings_changes_nothing_written(
    demo_cluster: Cluster, mysql_config: Any, kafka_bootstrap: str, job: str, tmp_path: Path
) -> None:
    """kill -9 of an attached worker mid-apply, restarted with other batch settings: the
    transactions are cut as the job record says, so the counters still line up (before the
    record, a restart with another TIUNDO_BATCH_ROWS replayed a `_tidb_rowid` phase under
    another transaction sequence and ended SUCCEEDED with rows missing)."""
    env, expect, _db = demo_cluster
    env = {**env, "TIUNDO_BATCH_ROWS": "1", "TIUNDO_TXN_STATEMENTS": "1"}  # a long apply
    with (tmp_path / "w1.log").open("wb") as w1log, (tmp_path / "w2.log").open("wb") as w2log:
        first = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            env={**env, "TIUNDO_JOB": job, "TIUNDO_DATADIR": str(tmp_path / "w")},
            cwd=ROOT, stdout=w1log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        second: subprocess.Popen[bytes] | None = None
        run = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run", "--job", job, "--attach",
             "--job-dir", str(tmp_path / "jobdir"), "--progress", "plain"],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while _counter_rows(mysql_config, job) == 0:
                assert run.poll() is None and first.poll() is None, "the job ended early"
                assert time.monotonic() < deadline, "the apply never started"
                time.sleep(0.05)
            first.kill()
            first.wait(10)
            # the same datadir, other settings in its environment
            second = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker"],
                env={**env, "TIUNDO_JOB": job, "TIUNDO_DATADIR": str(tmp_path / "w"),
                     "TIUNDO_BATCH_ROWS": "1000", "TIUNDO_TXN_STATEMENTS": "8",
                     "TIUNDO_MOUNT_CHUNK": "7"},
                cwd=ROOT, stdout=w2log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            out, err = run.communicate(timeout=240)
        finally:
            for proc in (run, first, second):
                if proc is not None and proc.poll() is None:
                    if proc is run:
                        proc.kill()
                    else:
                        _stop(proc)  # type: ignore[arg-type]
    assert run.returncode == 0, out + err + (tmp_path / "w2.log").read_text()[-2000:]
    assert f"job {job}: SUCCEEDED" in out
    _assert_at_t(env, expect)
