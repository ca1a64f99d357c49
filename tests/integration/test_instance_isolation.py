"""Records of another instance of a job are never taken for this one's.

A worker of an old instance (still running elsewhere during a ``--replace``, or a zombie after
a rebalance) may publish into the new job's recreated topics. Its ``part/<p>`` report once made
the new job skip partition p (``undo_partition`` saw it and only finished the job) and report
SUCCEEDED with that partition's rows not at T; its status made ``tiundo report`` say SUCCEEDED
before this instance's workers had done anything. Here the job is staged as a deployment runs it
(``tiundo ingest`` pins and ingests, ``tiundo worker`` undoes), with a forged report of another
instance on the board before the worker reads the End.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from app.cli.jobstate import delete_job_topics
from app.report import PartitionReport
from core.kafka_admin import COMPACTED, TopicSpec, ensure_topics
from proto import tiundo_pb2

from .cli_harness import ROOT, demo_cluster, tiundo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

__all__ = ["demo_cluster"]  # the fixture, used by name

Cluster = tuple[dict[str, str], Path, str]


@pytest.fixture
def job(kafka_bootstrap: str) -> Iterator[str]:
    name = f"inst-{uuid.uuid4().hex[:8]}"
    yield name
    asyncio.run(delete_job_topics(kafka_bootstrap, name))


async def _forge(bootstrap: str, job: str, partition: int) -> None:
    """What a worker of another instance leaves: ``part/<partition>`` (finished, nothing to
    do, no error) and a SUCCEEDED status of the job."""
    topic, status_topic = f"{job}.progress", f"{job}.status"
    await ensure_topics(
        bootstrap, [TopicSpec(topic, 1, COMPACTED), TopicSpec(status_topic, 1, COMPACTED)]
    )
    status = tiundo_pb2.JobStatus(
        job_id=job, state=tiundo_pb2.JobStatus.SUCCEEDED, message="every table is back at T",
        instance_id="0ld0ld0ld0ld", attempt=0,
    )  # fmt: skip
    forged = PartitionReport(
        partition=partition, target_ts=1, end_ts=2, started_unix_ms=1, finished_unix_ms=2
    )
    obj = json.loads(forged.to_json())
    obj.update(instance="0ld0ld0ld0ld", attempt=0)  # a worker of an earlier instance wrote it
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, json.dumps(obj).encode(), key=f"part/{partition}".encode()
        )
        await producer.send_and_wait(status_topic, status.SerializeToString(), key=job.encode())
    finally:
        await producer.stop()


def _only(expect: Path, keep: Callable[[str], bool], out: Path) -> list[str]:
    """An ``--expect`` file of the tables ``keep`` selects; their names."""
    obj = json.loads(expect.read_text())
    obj["tables"] = {name: v for name, v in obj["tables"].items() if keep(name)}
    out.write_text(json.dumps(obj))
    return sorted(obj["tables"])


@pytest.mark.parametrize(
    "selected",
    [
        # no partition waits for another: the skipped partition was reported SUCCEEDED
        "pk",
        # the _tidb_rowid barrier waited for the skipped partition's holds/ note for ever
        "all",
    ],
)
def test_a_report_of_another_instance_does_not_skip_its_partition(
    demo_cluster: Cluster, kafka_bootstrap: str, job: str, tmp_path: Path, selected: str
) -> None:
    env, expect, db = demo_cluster
    if selected == "pk":
        expect_all = expect
        expect = tmp_path / "expect-pk.json"
        names = _only(expect_all, lambda name: not name.startswith("rowid_"), expect)
        env = {**env, "TIUNDO_TABLES": ",".join(f"{db}.{n}" for n in names)}
    ing = tiundo(["ingest", "--job", job, "--no-fence"], env)
    assert ing.returncode == 0, ing.stdout + ing.stderr
    result = json.loads(ing.stdout)
    assert result["changes_per_partition"][0] > 0  # partition 0 has rows to undo
    asyncio.run(_forge(kafka_bootstrap, job, 0))

    wenv = {**env, "TIUNDO_JOB": job, "TIUNDO_DATADIR": str(tmp_path / "w0")}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            env=wenv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            while True:
                assert worker.poll() is None, log_path.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
                rep = tiundo(["report", "--job", job], env)
                if "RUNNING" not in rep.stdout and "WAITING" not in rep.stdout:
                    break
                time.sleep(1)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
    text = log_path.read_text(errors="replace")
    assert rep.returncode == 0, rep.stdout + rep.stderr + text[-3000:]
    assert f"job {job}: SUCCEEDED" in rep.stdout
    verify = tiundo(["verify", "--expect", str(expect)], env)
    assert verify.returncode == 0 and "DIFFERENT" not in verify.stdout, verify.stdout + text[-3000:]
    assert "another instance" in text  # the forged note was seen and said
    (instance,) = re.findall(r"\(instance (\w+)\)", ing.stderr)
    shown = json.loads(tiundo(["report", "--job", job, "--json"], env).stdout)
    assert shown["status"]["instance_id"] == instance  # this start's status, not the forged one
