"""A DDL that lands after the checks passed must fail the job, never let it succeed.

The preflight refuses a DDL after T (``GET /ddl/history``), but a DDL can still land after the
job record was pinned and before the workers read the schema they decode with. TiDB's status
API serves only the current schema, so the workers compare the TableInfo they got with the
version pinned in the job record (``JobTable.schema_version`` = ``update_timestamp``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.cli.jobstate import delete_job_topics

from .cli_harness import ROOT, read_env, running_demo_cluster, tiundo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def job(kafka_bootstrap: str) -> Iterator[str]:
    name = f"schema-{uuid.uuid4().hex[:8]}"
    yield name
    asyncio.run(delete_job_topics(kafka_bootstrap, name))


def _update_ts(env: dict[str, str], db: str, table: str) -> int:
    """``update_timestamp`` of ``db.table`` as the status API serves it now."""
    url = f"{env['TIUNDO_STATUS_API']}/schema/{db}/{table}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return int(json.loads(resp.read())["update_timestamp"])


def _wait_for(what: str, check: Any, proc: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + 120
    while not check():
        assert proc.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.1)


def test_a_ddl_after_the_record_was_pinned_fails_the_job_naming_both_versions(
    mysql_config: Any, kafka_bootstrap: str, job: str, tmp_path: Path
) -> None:
    with running_demo_cluster(
        mysql_config, kafka_bootstrap, tmp_path, "--ddl-on-usr2", "ukeys"
    ) as (env, _expect, db):
        cenv = read_env(tmp_path / "cluster.env")
        assert "ukeys" in cenv["DEMO_TABLES_CHANGED"].split(",")  # it has rows to decode
        err_log = tmp_path / "run.err"
        with err_log.open("wb") as err:
            run = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "run", "--job", job, "--attach",
                 "--job-dir", str(tmp_path / "jobdir"), "--progress", "plain"],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
            )  # fmt: skip
            worker: subprocess.Popen[bytes] | None = None
            try:
                # the checks passed and the record is pinned; no worker has read a schema yet
                _wait_for(
                    "the pin",
                    lambda: "job record pinned" in err_log.read_text(errors="replace"),
                    run,
                    err_log,
                )
                pinned = _update_ts(env, db, "ukeys")
                assert pinned > 0  # TiDB stamps every table with the TSO of its last DDL
                os.kill(int(cenv["DEMO_PID"]), signal.SIGUSR2)  # ALTER TABLE ukeys COMMENT …
                _wait_for("the DDL", lambda: _update_ts(env, db, "ukeys") != pinned, run, err_log)
                moved = _update_ts(env, db, "ukeys")
                wenv = {**env, "TIUNDO_JOB": job, "TIUNDO_DATADIR": str(tmp_path / "w1")}
                with (tmp_path / "w1.log").open("wb") as wlog:
                    worker = subprocess.Popen(
                        [sys.executable, "-m", "app.cli", "worker"],
                        env=wenv, cwd=ROOT, stdout=wlog, stderr=subprocess.STDOUT,
                    )  # fmt: skip
                out, _ = run.communicate(timeout=200)
            finally:
                for proc in (run, worker):
                    if proc is not None and proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
                        try:
                            proc.wait(30)
                        except subprocess.TimeoutExpired:
                            proc.kill()
        stderr = err_log.read_text(errors="replace")
        wtail = (tmp_path / "w1.log").read_text(errors="replace")[-3000:]
        assert run.returncode == 1, out + stderr + wtail
        assert f"job {job}: FAILED" in out and "SUCCEEDED" not in out, out
        # one reason naming the table and both schema versions
        [line] = [ln for ln in out.splitlines() if "SchemaChangedError" in ln]
        assert f"{db}.ukeys" in line and str(pinned) in line and str(moved) in line, line
        rep = tiundo(["report", "--job", job], env)
        assert rep.returncode == 1 and "FAILED" in rep.stdout, rep.stdout + rep.stderr
        assert f"{db}.ukeys" in rep.stdout and str(moved) in rep.stdout
