"""docker-compose.yml's tiundo services, run as compose would run them, on the local services.

Docker is not available where the suite runs, so this runs each tiundo service's command with
the environment the compose file gives it, in the order ``up`` then ``run job`` starts them:
the worker replicas first (before any job exists: they must wait, not exit), then the job
service. Only what names the compose network's hosts is replaced (addresses of Kafka, PD, the
status API and the downstream), plus the table pattern, the dialect (MariaDB stands in for
TiDB) and the job name (unique per test). Every other setting is the file's own; a new one
in the file fails the test until it is classified here. Not covered: the images, the
healthcheck commands, the restart policies, and the listeners on a Docker network.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.cli.jobstate import delete_job_topics
from tests.compose_file import Service, load

from .cli_harness import ROOT, running_demo_cluster, tiundo

pytestmark = pytest.mark.integration

#: compose settings that name its network's hosts or its example tables: replaced here
_REPLACED = {
    "TIUNDO_PD", "TIUNDO_KAFKA", "TIUNDO_STATUS_API", "TIUNDO_DOWNSTREAM", "TIUNDO_TABLES",
    "TIUNDO_DIALECT", "TIUNDO_JOB", "TIUNDO_DATADIR",
}  # fmt: skip
#: compose settings taken as they are
_KEPT = {"TIUNDO_PARTITIONS", "TIUNDO_BATCH_ROWS", "TIUNDO_RECORD_WAIT_S"}


@pytest.fixture
def job(kafka_bootstrap: str) -> Iterator[str]:
    name = f"compose-{uuid.uuid4().hex[:8]}"
    yield name
    asyncio.run(delete_job_topics(kafka_bootstrap, name))


def _argv(svc: Service) -> list[str]:
    assert svc.command[0] == "tiundo", svc.command
    return [sys.executable, "-m", "app.cli", *svc.command[1:]]


def _env(svc: Service, local: dict[str, str], job: str, **extra: str) -> dict[str, str]:
    unknown = set(svc.env) - _REPLACED - _KEPT
    assert not unknown, f"classify the compose file's new settings for this test: {unknown}"
    env = {k: v for k, v in local.items() if k not in svc.env or k in _REPLACED}
    env.update({k: v for k, v in svc.env.items() if k in _KEPT})
    env.update(TIUNDO_JOB=job, **extra)
    return env


def test_compose_workers_wait_for_the_job_then_undo_it(
    mysql_config: Any, kafka_bootstrap: str, tmp_path: Path, job: str
) -> None:
    services = load()
    worker, run = services["worker"], services["job"]
    replicas = int(worker.spec["deploy"]["replicas"])
    with (
        contextlib.ExitStack() as stack,
        running_demo_cluster(mysql_config, kafka_bootstrap, tmp_path) as (local, expect, _db),
    ):
        local = {**local, "TIUNDO_DIALECT": "mysql"}
        logs = [tmp_path / f"worker{i}.log" for i in range(replicas)]
        sinks = [stack.enter_context(log.open("wb")) for log in logs]
        workers = [
            subprocess.Popen(
                _argv(worker),
                env=_env(worker, local, job, TIUNDO_DATADIR=str(tmp_path / f"faust{i}")),
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
            for i, sink in enumerate(sinks)
        ]
        try:
            # `up`: no job yet; the workers wait for one instead of exiting
            deadline = time.monotonic() + 60
            while not all("waiting for its job record" in log.read_text() for log in logs):
                for w, log in zip(workers, logs, strict=True):
                    assert w.poll() is None, f"a worker exited before its job: {log.read_text()}"
                assert time.monotonic() < deadline, [log.read_text()[-500:] for log in logs]
                time.sleep(0.2)
            # `docker compose run --rm job`
            r = subprocess.run(
                _argv(run), env=_env(run, local, job), cwd=ROOT, capture_output=True,
                text=True, timeout=300,
            )  # fmt: skip
            tails = "".join(log.read_text()[-1500:] for log in logs)
            assert r.returncode == 0, r.stdout + r.stderr + tails
            assert f"job {job}: SUCCEEDED" in r.stdout, r.stdout
            for w, log in zip(workers, logs, strict=True):
                assert w.poll() is None, f"a worker died during the job: {log.read_text()[-1500:]}"
        finally:
            for w in workers:
                if w.poll() is None:
                    w.terminate()
            for w in workers:
                try:
                    w.wait(30)
                except subprocess.TimeoutExpired:
                    w.kill()
        verify = tiundo(["verify", "--expect", str(expect)], local)
        assert verify.returncode == 0 and "DIFFERENT" not in verify.stdout, verify.stdout
