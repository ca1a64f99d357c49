"""A job under a topic prefix, end to end: every topic and the consumer group carry it.

Real Kafka (one broker) and MariaDB, the fake cluster as in :mod:`test_cli_e2e`. The default
replication factor is min(3, brokers) = 1 here, and an explicit factor above the broker count
is refused before anything is created, in one line naming the setting.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from app.cli.jobstate import delete_job_topics
from app.config import job_topics
from core.kafka_admin import list_topics

from .cli_harness import assert_one_line_error, demo_cluster, tiundo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

__all__ = ["demo_cluster"]  # the fixture, used by name


async def _kafka_view(bootstrap: str, topics: list[str]) -> tuple[list[str], dict[str, Any]]:
    """(every consumer group, topic → (replication factor, min.insync.replicas, retention))."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups()]
        metas = {m["topic"]: m for m in await admin.describe_topics(topics)}
        view: dict[str, Any] = {}
        for topic in topics:
            [resp] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            [res] = resp.to_object()["resources"]
            values = {c["config_names"]: c["config_value"] for c in res["config_entries"]}
            factors = {len(p["replicas"]) for p in metas[topic]["partitions"]}
            view[topic] = (factors, values["min.insync.replicas"], values["retention.ms"])
        return groups, view
    finally:
        await admin.close()


def test_a_prefixed_job_keeps_every_name_under_its_prefix(
    demo_cluster: tuple[dict[str, str], Path, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    env, expect, _ = demo_cluster
    prefix = f"t{uuid.uuid4().hex[:6]}."
    job = f"pfx-{uuid.uuid4().hex[:8]}"
    env = {**env, "TIUNDO_TOPIC_PREFIX": prefix, "TIUNDO_TOPIC_RETENTION_MS": "86400000"}
    try:
        refused = tiundo(
            ["run", "--job", job, "--job-dir", str(tmp_path / "refused")],
            {**env, "TIUNDO_REPLICATION_FACTOR": "2"},
        )
        assert_one_line_error(refused, 2, "TIUNDO_REPLICATION_FACTOR=2", "1 broker(s)")
        assert not asyncio.run(list_topics(kafka_bootstrap, [prefix, job, f"tiundo-{job}"]))

        run = tiundo(["run", "--job", job, "--workers", "2", "--job-dir", str(tmp_path / job)], env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"job {job}: SUCCEEDED" in run.stdout
        assert tiundo(["verify", "--expect", str(expect)], env).returncode == 0
        # status and report find the job under its prefix only
        rep = tiundo(["report", "--job", job], env)
        assert rep.returncode == 0 and "SUCCEEDED" in rep.stdout, rep.stdout + rep.stderr
        bare = tiundo(["status", "--job", job], {**env, "TIUNDO_TOPIC_PREFIX": ""})
        assert_one_line_error(bare, 2, f"no job {job!r}")

        mine = asyncio.run(list_topics(kafka_bootstrap, [prefix]))
        assert set(mine) == set(job_topics(job, prefix=prefix)), mine
        # nothing of the job outside the prefix: no bare topic, no bare group
        assert not asyncio.run(list_topics(kafka_bootstrap, [f"{job}.", f"tiundo-{job}"]))
        groups, view = asyncio.run(_kafka_view(kafka_bootstrap, mine))
        assert f"{prefix}tiundo-{job}" in groups and f"tiundo-{job}" not in groups
        for topic, (factors, insync, retention) in view.items():
            assert factors == {1} and insync == "1", (topic, factors, insync)  # min(3, 1 broker)
            if topic in (f"{prefix}{job}.kv", f"{prefix}{job}.dead"):
                assert retention == "86400000", topic
    finally:
        asyncio.run(delete_job_topics(kafka_bootstrap, job, prefix=prefix))
