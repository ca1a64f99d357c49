"""core.kafka_admin on the real broker: create with configs, check counts, delete by prefix."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from core.errors import ConfigError
from core.kafka_admin import COMPACTED, TopicSpec, delete_topics, ensure_topic, ensure_topics

pytestmark = pytest.mark.integration


async def _cleanup_policy(bootstrap: str, topic: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [resp] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [resource] = resp.to_object()["resources"]
        values = {c["config_names"]: c["config_value"] for c in resource["config_entries"]}
        return str(values["cleanup.policy"])
    finally:
        await admin.close()


async def test_ensure_delete_round(kafka_bootstrap: str) -> None:
    job = f"admin-{uuid.uuid4().hex[:10]}"
    try:
        with pytest.raises(ConfigError, match=rf"^topic {job}\.kv does not exist \(error 3\)$"):
            await ensure_topic(kafka_bootstrap, f"{job}.kv", 3, create=False)
        await ensure_topics(
            kafka_bootstrap,
            [TopicSpec(f"{job}.kv", 3), TopicSpec(f"{job}.progress", 1, COMPACTED)],
        )
        assert await _cleanup_policy(kafka_bootstrap, f"{job}.progress") == "compact"
        assert await _cleanup_policy(kafka_bootstrap, f"{job}.kv") == "delete"
        # existing topics: created again is a no-op, checked is fine, a wrong count is refused
        await ensure_topic(kafka_bootstrap, f"{job}.kv", 3)
        await ensure_topic(kafka_bootstrap, f"{job}.kv", 3, create=False)
        with pytest.raises(ConfigError, match=rf"^topic {job}\.kv has 3 partitions, the job is"):
            await ensure_topic(kafka_bootstrap, f"{job}.kv", 4)
        with pytest.raises(ConfigError, match=rf"^topic {job}\.progress has 1 partitions"):
            await ensure_topic(kafka_bootstrap, f"{job}.progress", 2, create=False)
    finally:
        deleted = await delete_topics(kafka_bootstrap, [f"{job}.kv", f"{job}.progress"])
    assert deleted == [f"{job}.kv", f"{job}.progress"]
