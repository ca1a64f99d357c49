"""A group leader that assigned without ``<job>.kv``'s metadata rebalances once it is back.

Issue 14 (the chaos soak's ``kafka-restart`` hang): a worker subscribed while the broker was
down, so its forced metadata refresh failed (aiokafka does not retry it); when the broker came
back it led the group with no partition metadata for the job's topic ("No partition metadata"
/ "Ignoring missing topic"), assigned every member nothing, and nothing rebalanced until the
next periodic refresh: Faust's 5 minutes, the job RUNNING with no partition held. Here the
topic does not exist yet when the group forms (the same leader's view, deterministic), and the
consumer runs with the undo app's metadata age: it must hold every partition well within a
minute of the topic appearing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from app.config import UndoConfig
from app.main import create_app
from tests.conftest import unique_name

pytestmark = pytest.mark.integration

PARTITIONS = 3
#: generous against this 2-core machine's noise; the old 300 s metadata age never gets there
ASSIGNED_WITHIN_S = 45.0


class _Joined(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.event.set()


async def _poll(consumer: AIOKafkaConsumer) -> None:
    while True:
        await consumer.getmany(timeout_ms=200)


async def test_leader_without_topic_metadata_rebalances_when_it_appears(
    kafka_bootstrap: str, fresh_topic: Callable[..., Awaitable[str]], tmp_path: Path
) -> None:
    app = create_app(
        UndoConfig(job="metadata-age", kafka=f"kafka://{kafka_bootstrap}", datadir=str(tmp_path))
    )
    topic = unique_name("tiundo-test", "late-topic").replace("_", "-")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic}-group",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        metadata_max_age_ms=app.conf.consumer_metadata_max_age_ms,
    )
    joined = _Joined()
    await consumer.start()
    poller: asyncio.Task[None] | None = None
    try:
        consumer.subscribe([topic], listener=joined)
        poller = asyncio.create_task(_poll(consumer))
        await asyncio.wait_for(joined.event.wait(), 30)
        assert consumer.assignment() == set()  # the leader had no metadata for the topic
        await fresh_topic(PARTITIONS, name=topic)
        t0 = time.monotonic()
        while len(consumer.assignment()) < PARTITIONS:
            if time.monotonic() - t0 > ASSIGNED_WITHIN_S:
                break
            await asyncio.sleep(0.25)
        held = sorted(tp.partition for tp in consumer.assignment())
        assert held == list(range(PARTITIONS)), (
            f"{time.monotonic() - t0:.0f} s after {topic} appeared the group still holds {held}"
        )
    finally:
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
        await consumer.stop()
