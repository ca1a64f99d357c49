"""Writes by others, once stored, stay in the job's status whatever a worker publishes later."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.cli.jobstate import JobWatcher, delete_job_topics, publish_status, store_foreign_writes
from core.kafka_admin import COMPACTED, TopicSpec, ensure_topics
from proto import tiundo_pb2

pytestmark = [pytest.mark.integration]

S = tiundo_pb2.JobStatus


def _final(job: str) -> Any:
    status = S(job_id=job, state=S.SUCCEEDED, message="every table is back at T")
    status.tables.add(table_id=70, db_name="shop", table_name="t", restored=3)
    return status


async def test_a_status_published_again_keeps_the_foreign_writes(kafka_bootstrap: str) -> None:
    job = f"fw-{uuid.uuid4().hex[:8]}"
    try:
        await ensure_topics(kafka_bootstrap, [TopicSpec(f"{job}.status", 1, COMPACTED)])
        await publish_status(kafka_bootstrap, _final(job))
        stored = await store_foreign_writes(kafka_bootstrap, job, 1, {70: 2}, {70: ("shop", "t")})
        assert stored is not None and stored.foreign_writes == 2
        # a worker publishes the final status again (an End delivered twice), without them
        await publish_status(kafka_bootstrap, _final(job))
        async with JobWatcher(kafka_bootstrap, job, 1) as watcher:
            snap = await watcher.snapshot()
        assert snap.status is not None
        assert snap.status.foreign_writes == 2
        assert {t.table_id: t.foreign_writes for t in snap.status.tables} == {70: 2}
        assert "may not be at T" in snap.status.message
    finally:
        await delete_job_topics(kafka_bootstrap, job)
