"""Publishing the job's status so the last record on ``<job>.status`` is never stale.

Every worker publishes the status after its partitions report, from the reports it has read.
Two workers finishing together raced (seen in ``test_e2e_nasty``, 2 workers × 4 partitions):
worker A read 3 reports, worker B read all 4 and published SUCCEEDED, then A's RUNNING
("3 of 4 partitions finished") reached the compacted topic after it. Latest wins there, nobody
published again, and ``tiundo run`` waited for ever on a job that had ended.

So a publisher of RUNNING reads the reports again after its record is acknowledged, and
publishes again while they changed. Whoever publishes last has read every report acknowledged
before its own record, so its view is at least as complete as any earlier record's. A final
status is not read again: every partition had reported, so no view can be more complete (and
the workers are being stopped once it is out). Reports only grow (one per partition), so the
loop ends after at most one more round per partition.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

__all__ = ["publish_settled"]

S = TypeVar("S")


async def publish_settled(
    read_reports: Callable[[], Awaitable[Mapping[int, Any]]],
    status_of: Callable[[Mapping[int, Any]], S],
    publish: Callable[[S], Awaitable[None]],
    final: Callable[[S], bool],
) -> S:
    """Publish ``status_of(reports)`` until it is final or the reports read after it agree."""
    reports = dict(await read_reports())
    while True:
        status = status_of(reports)
        await publish(status)
        if final(status):
            return status
        again = dict(await read_reports())
        if again == reports:
            return status
        reports = again
