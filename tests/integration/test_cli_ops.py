"""Operating a job from scripts: ``run --json``, its logs and progress, ``cleanup``; real processes.

One fake cluster with a torn workload (``cli_harness``), real Kafka and MariaDB: ``tiundo run
--json --progress plain`` undoes it; the plain progress ends with every record compacted and
holds no library line; the log files are JSON lines naming the job; ``verify``/``report``
``--json`` have the one shape; ``tiundo cleanup --job A --yes`` then removes job A's topics,
consumer group, counter rows and folder and leaves job B's alone.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pymysql
import pytest

from app.cli.jobstate import delete_job_topics
from app.cli.pin import read_record
from app.config import job_topics
from core.kafka_admin import describe_group, list_topics
from tests.json_shape import check_document

from .cli_harness import demo_cluster, tiundo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

__all__ = ["demo_cluster"]  # the fixture, used by name

_NOISE = ("aiokafka", "Failed fetch offsets", "NotLeaderForPartition", "Traceback")


def _counter_rows(mysql_config: Any, job: str) -> int:
    conn = pymysql.connect(
        host=mysql_config.host, port=mysql_config.port, user=mysql_config.user,
        password=mysql_config.password, autocommit=True,
    )  # fmt: skip
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = 'tiundo_meta' AND TABLE_NAME = 'undo_progress'"
            )
            if not cur.fetchone()[0]:
                return 0
            cur.execute("SELECT COUNT(*) FROM `tiundo_meta`.`undo_progress` WHERE job = %s", (job,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _add_counter_row(mysql_config: Any, job: str, settings: str) -> None:
    conn = pymysql.connect(
        host=mysql_config.host, port=mysql_config.port, user=mysql_config.user,
        password=mysql_config.password, autocommit=True,
    )  # fmt: skip
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO `tiundo_meta`.`undo_progress` (job, part, tbl, phase, settings, txn) "
                "VALUES (%s, 0, 1, 0, %s, 1)",
                (job, settings),
            )
    finally:
        conn.close()


def _wait_group_empty(bootstrap: str, group: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while asyncio.run(describe_group(bootstrap, group))[1]:
        assert time.monotonic() < deadline, f"group {group} kept members after the run"
        time.sleep(0.5)


def _drop_counter_rows(mysql_config: Any, job: str) -> None:
    conn = pymysql.connect(
        host=mysql_config.host, port=mysql_config.port, user=mysql_config.user,
        password=mysql_config.password, autocommit=True,
    )  # fmt: skip
    try:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM `tiundo_meta`.`undo_progress` WHERE job = %s", (job,))
    finally:
        conn.close()


def _records(line: str) -> tuple[int, int]:
    m = re.search(r"records (\d+)/(\d+)", line)
    assert m, line
    return int(m.group(1)), int(m.group(2))


def _own_topics(bootstrap: str, job: str) -> set[str]:
    found = asyncio.run(list_topics(bootstrap, [f"{job}.", f"tiundo-{job}-"]))
    return set(found) & set(job_topics(job))


def test_run_json_progress_logs_then_cleanup_of_one_job_only(
    demo_cluster: tuple[dict[str, str], Path, str],
    kafka_bootstrap: str,
    mysql_config: Any,
    tmp_path: Path,
) -> None:
    env, expect, _ = demo_cluster
    exp = json.loads(expect.read_text())
    a, b = f"ops-{uuid.uuid4().hex[:8]}", f"ops-{uuid.uuid4().hex[:8]}"
    dir_a, dir_b = tmp_path / a, tmp_path / b
    try:
        run = tiundo(
            ["run", "--job", a, "--workers", "2", "--job-dir", str(dir_a), "--progress", "plain",
             "--json", "--log-format", "json"],
            env,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        doc = check_document(json.loads(run.stdout), "run", 0)
        assert doc["job"] == a and doc["status"]["state"] == "SUCCEEDED"
        assert doc["status"]["target_ts"] == exp["target_ts"]
        assert doc["rows_restored_or_deleted"] > 0 and doc["log_file"] == str(dir_a / "run.log")

        # the display: every bar ends where its work ended, and no library line on the screen
        lines = [ln for ln in run.stderr.splitlines() if "records " in ln]
        assert lines, run.stderr
        done, total = _records(lines[-1])
        assert total > 0 and done == total, lines[-1]
        assert "partitions 3/3" in lines[-1], lines[-1]
        for noise in _NOISE:
            assert noise not in run.stderr, (noise, run.stderr)

        # the logs: JSON lines, each naming the job; the workers' too, with their names
        run_log = [json.loads(x) for x in (dir_a / "run.log").read_text().splitlines()]
        assert run_log and all(d["job"] == a and d["role"] == "run" for d in run_log)
        assert any(d["level"] == "info" for d in run_log)  # INFO lines are no longer lost
        worker_lines = [
            json.loads(x)
            for x in (dir_a / "worker0.log").read_text().splitlines()
            if x.startswith("{")
        ]
        assert worker_lines and all(d["job"] == a for d in worker_lines)
        assert {d["role"] for d in worker_lines} == {"worker0"}

        ver = tiundo(["verify", "--expect", str(expect), "--json"], env)
        vdoc = check_document(json.loads(ver.stdout), "verify", 0)
        assert ver.returncode == 0 and vdoc["ok"] is True and vdoc["tables"]
        rep = tiundo(["report", "--job", a, "--json"], env)
        rdoc = check_document(json.loads(rep.stdout), "report", 0)
        assert rdoc["status"] == doc["status"]

        # job B: pinned and ingested (topics and record), a counter row, a folder
        ing = tiundo(["ingest", "--job", b, "--no-fence", "--force"], env)
        assert ing.returncode == 0, ing.stdout + ing.stderr
        check_document(json.loads(ing.stdout), "ingest", 0)
        record_b = asyncio.run(read_record(kafka_bootstrap, b))
        assert record_b is not None
        _add_counter_row(mysql_config, b, f"{record_b.instance_id}/0")
        # a job of the same name under another topic prefix (another tenant): never B's to delete
        _add_counter_row(mysql_config, b, "0ther1nstance/0")
        dir_b.mkdir()
        (dir_b / "keep").write_text("b")
        before_b = _own_topics(kafka_bootstrap, b)
        assert f"{b}.kv" in before_b

        assert _counter_rows(mysql_config, a) > 0
        assert asyncio.run(describe_group(kafka_bootstrap, f"tiundo-{a}"))[0]
        # run stopped its worker; a worker killed on a slow machine stays a member of the group
        # until its session times out, and cleanup refuses while a member is seen
        _wait_group_empty(kafka_bootstrap, f"tiundo-{a}")
        clean = tiundo(["cleanup", "--job", a, "--job-dir", str(dir_a), "--yes", "--json"], env)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        cdoc = check_document(json.loads(clean.stdout), "cleanup", 0)
        assert f"{a}.kv" in cdoc["removed"]["topics"] and cdoc["removed"]["counter_rows"] > 0
        assert f"Kafka consumer group: tiundo-{a}" in clean.stderr  # shown before removing
        assert _own_topics(kafka_bootstrap, a) == set()
        assert not asyncio.run(describe_group(kafka_bootstrap, f"tiundo-{a}"))[0]
        assert _counter_rows(mysql_config, a) == 0
        assert not dir_a.exists()
        # job B untouched
        assert _own_topics(kafka_bootstrap, b) == before_b
        assert _counter_rows(mysql_config, b) == 2
        assert (dir_b / "keep").read_text() == "b"

        again = tiundo(["cleanup", "--job", a, "--job-dir", str(dir_a), "--yes"], env)
        assert again.returncode == 0 and f"nothing of job {a} is left" in again.stderr
        clean_b = tiundo(["cleanup", "--job", b, "--job-dir", str(dir_b), "--yes"], env)
        assert clean_b.returncode == 0, clean_b.stderr
        assert _counter_rows(mysql_config, b) == 1 and not dir_b.exists()  # the other tenant's
    finally:
        for job in (a, b):
            asyncio.run(delete_job_topics(kafka_bootstrap, job))
        _drop_counter_rows(mysql_config, b)
