"""A worker that read fewer partition reports never leaves the last word on the job's status.

The race seen in ``test_e2e_nasty`` (2 workers × 4 partitions): worker A read 3 reports, worker
B read 4 and published SUCCEEDED, A's RUNNING landed after it, and the job looked hung.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from app.stages.settle import publish_settled

PARTITIONS = 4


def _status(reports: Mapping[int, str]) -> str:
    n = len(reports)
    return "SUCCEEDED" if n == PARTITIONS else f"RUNNING - {n} of {PARTITIONS} partitions finished"


def _final(status: str) -> bool:
    return not status.startswith("RUNNING")


class Topics:
    """The progress topic's reports and the compacted status topic (latest record wins)."""

    def __init__(self, reports: dict[int, str]) -> None:
        self.reports = reports
        self.status: list[str] = []
        self.reads = 0

    async def read(self) -> dict[int, str]:
        await asyncio.sleep(0)
        self.reads += 1
        return dict(self.reports)

    @property
    def latest(self) -> str:
        return self.status[-1]


async def test_the_slower_publisher_publishes_again_after_the_last_report() -> None:
    topics = Topics({0: "ok", 1: "ok", 2: "ok"})

    async def publish_a(status: str) -> None:
        # while A's RUNNING is in flight, B reports the 4th partition and publishes first
        topics.reports[3] = "ok"
        topics.status.append(_status(topics.reports))
        topics.status.append(status)

    got = await publish_settled(topics.read, _status, publish_a, _final)
    assert topics.status[:2] == ["SUCCEEDED", "RUNNING - 3 of 4 partitions finished"]
    assert (got, topics.latest) == ("SUCCEEDED", "SUCCEEDED")


async def test_a_settled_view_publishes_once() -> None:
    topics = Topics({0: "ok", 1: "ok"})

    async def publish(status: str) -> None:
        topics.status.append(status)

    got = await publish_settled(topics.read, _status, publish, _final)
    assert topics.status == [got] == ["RUNNING - 2 of 4 partitions finished"]


async def test_reports_arriving_one_by_one_end_in_the_complete_status() -> None:
    topics = Topics({0: "ok"})

    async def publish(status: str) -> None:
        topics.status.append(status)
        if len(topics.reports) < PARTITIONS:  # each publish races one more report
            topics.reports[len(topics.reports)] = "ok"

    await publish_settled(topics.read, _status, publish, _final)
    assert topics.latest == "SUCCEEDED"
    assert len(topics.status) == PARTITIONS


async def test_a_final_status_is_not_read_again() -> None:
    # every partition reported: no view is more complete, and the workers are being stopped
    topics = Topics({p: "ok" for p in range(PARTITIONS)})

    async def publish(status: str) -> None:
        topics.status.append(status)

    assert await publish_settled(topics.read, _status, publish, _final) == "SUCCEEDED"
    assert (topics.status, topics.reads) == (["SUCCEEDED"], 1)
