"""A worker refuses a ``<job>.kv`` that is missing or has another partition count."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.cli.jobstate import delete_job_topics

from .faust_undo_harness import Worker, undo_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def _exit_code(worker: Worker, seconds: float) -> int:
    assert worker.proc is not None
    return await asyncio.wait_for(asyncio.to_thread(worker.proc.wait), seconds)


@pytest.mark.parametrize("kv_partitions", [None, 2])
async def test_worker_fails_clearly_on_a_bad_kv_topic(
    kafka_bootstrap: str, fresh_topic: Any, tmp_path: Path, kv_partitions: int | None
) -> None:
    job = f"topics-{uuid.uuid4().hex[:8]}"
    if kv_partitions is not None:
        await fresh_topic(partitions=kv_partitions, name=f"{job}.kv")
    settings = undo_env(
        job=job, kafka=kafka_bootstrap, downstream="mysql://u@127.0.0.1:1",
        status_api="http://127.0.0.1:1", partitions=3,
    )  # fmt: skip
    worker = Worker(settings, tmp_path / "w", tmp_path / "w.log")
    try:
        code = await _exit_code(worker, 60)
    finally:
        worker.stop()
        await delete_job_topics(kafka_bootstrap, job)
    log = worker.log.read_text(errors="replace")
    assert code != 0, log[-3000:]
    if kv_partitions is None:
        assert f"topic {job}.kv does not exist" in log, log[-3000:]
    else:
        assert f"topic {job}.kv has 2 partitions" in log and "TIUNDO_PARTITIONS=3" in log
