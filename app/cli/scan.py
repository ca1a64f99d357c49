"""``tiundo plan``'s read-only pass over ``(T, E]``: the ingest worker with Kafka swapped out.

The plan counts the row keys each table changed in the window, so a DBA sees what an undo
would touch before anything is written. It runs the real :class:`~ingest.worker.IngestWorker`
(PD discovery, EventFeed streams, matcher, region errors, frontier) so the counts are exactly
what ``tiundo run`` would send; only the Kafka producer is replaced by :class:`CountingSink`,
which keeps the batches' keys instead of producing them, and the topic is not created.

The sink goes in through the worker's ``sink_factory`` hook. The PD service GC safepoint at
``T`` is still held while scanning (it is released at the end): the only write the plan makes,
to PD.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ingest.batcher import ChangeBatch, Output
from ingest.config import IngestConfig
from ingest.fold import versions_of
from ingest.producer import RecordEncoder
from ingest.worker import IngestResult, IngestWorker, ProgressCallback

__all__ = ["CountingSink", "ScanResult", "scan_window"]


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Changed row keys per physical table id in ``(T, E]``, and the ingest's own summary."""

    keys_per_table: dict[int, int]
    changes_per_table: dict[int, int]
    result: IngestResult
    table_names: dict[int, str] = field(default_factory=dict)


class CountingSink:
    """An :class:`~ingest.producer.OutputSink` that counts instead of sending.

    Keys are kept as a set per table (memory grows with distinct changed keys, like the undo's
    own compact table); the encoder still numbers batches so the ingest's result is complete.
    """

    def __init__(self, encoder: RecordEncoder) -> None:
        self.encoder = encoder
        self.bytes_sent = 0
        self.keys: dict[int, set[bytes]] = {}
        self.changes: dict[int, int] = {}

    @property
    def pending(self) -> int:
        """Nothing is ever queued."""
        return 0

    async def start(self) -> None:
        """No connection to make."""

    def submit(self, outputs: Iterable[Output]) -> None:
        """Count the changed keys of each batch."""
        for out in outputs:
            _, _, value = self.encoder.encode(out)
            self.bytes_sent += len(value)
            if isinstance(out, ChangeBatch):
                keys = self.keys.setdefault(out.table_id, set())
                keys.update(c.key for c in out.changes)
                versions = sum(map(versions_of, out.changes))
                self.changes[out.table_id] = self.changes.get(out.table_id, 0) + versions

    async def wait_capacity(self) -> None:
        """Never full."""

    def raise_if_failed(self) -> None:
        """Never fails."""

    async def flush(self) -> None:
        """Nothing to flush."""

    async def stop(self) -> None:
        """Nothing to stop."""


async def scan_window(
    config: IngestConfig, progress_cb: ProgressCallback | None = None
) -> ScanResult:
    """Read ``(T, E]`` of the config's tables through the EventFeed; write nothing to Kafka."""
    sinks: list[CountingSink] = []

    async def counting_sink(_: IngestConfig, encoder: RecordEncoder) -> CountingSink:
        sinks.append(CountingSink(encoder))
        return sinks[-1]

    worker = IngestWorker(config, progress_cb, sink_factory=counting_sink)
    result = await worker.run()
    [sink] = sinks
    names = worker.core.table_names if worker.core is not None else {}
    return ScanResult(
        keys_per_table={t: len(k) for t, k in sink.keys.items()},
        changes_per_table=dict(sink.changes),
        result=result,
        table_names=dict(names),
    )
