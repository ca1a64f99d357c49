"""A Kafka broker restart in the middle of a job: ridden out, nothing lost or duplicated.

With one broker (no replica to fail over to), a restart longer than the producer's request
timeout used to fail the ingest for good, and an END record lost that way would hang the job.
The ingest now waits up to ``TIUNDO_KAFKA_OUTAGE_S`` (default 120 s) in its idempotent
producer; the Faust workers and ``tiundo run``'s watcher reconnect on their own. The test stops
and starts the suite's own broker (``scripts/kafka.sh``), so it runs only where the broker is
the one those scripts manage.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.cli.jobstate import delete_job_topics

from .cli_harness import ROOT, demo_cluster, tiundo

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]

__all__ = ["demo_cluster"]  # the fixture, used by name


def test_broker_restart_mid_ingest_ends_succeeded_at_t(
    demo_cluster: tuple[dict[str, str], Path, str], managed_kafka: Any, tmp_path: Path
) -> None:
    env, expect, _db = demo_cluster
    job = f"outage-{uuid.uuid4().hex[:8]}"
    err_path = tmp_path / "run.err"
    try:
        with err_path.open("wb") as err:
            run = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "run", "--job", job, "--workers", "1",
                 "--job-dir", str(tmp_path / "jobdir"), "--progress", "plain"],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 120
                while "job record pinned" not in err_path.read_text(errors="replace"):
                    assert run.poll() is None, err_path.read_text()
                    assert time.monotonic() < deadline, "the job never started"
                    time.sleep(0.05)
                stopped = managed_kafka.stop()
                assert stopped.returncode == 0, stopped.stdout + stopped.stderr
                time.sleep(8)  # down for longer than aiokafka's default retries ride out
                started = managed_kafka.start()
                assert started.returncode == 0, started.stdout + started.stderr
                out, _ = run.communicate(timeout=300)
            finally:
                if run.poll() is None:
                    run.kill()
        stderr = err_path.read_text(errors="replace")
        assert run.returncode == 0, out + stderr[-3000:]
        assert f"job {job}: SUCCEEDED" in out
        after = tiundo(["verify", "--expect", str(expect)], env)
        assert after.returncode == 0 and "DIFFERENT" not in after.stdout, after.stdout
    finally:
        asyncio.run(delete_job_topics(managed_kafka.bootstrap, job))
