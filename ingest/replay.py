"""Replay a recording into Kafka with no cluster: same RegionWorker, same producer.

The recording's frames (:mod:`ingest.recording`) are fed to a fresh
:class:`~ingest.region_worker.RegionWorker` in their order: register frames add the
subscriptions the live worker added, message frames are the raw ChangeDataEvents, broken-stream
frames drop a stream's subscriptions. Failures the worker reports are not acted on (the
re-registrations that followed them live are in the recording). The window, tables and schema
come from the header; Kafka, job name, partitions and batching from the config. Replaying a
complete recording therefore produces, partition by partition, the records of the live run
(only ``job_id`` differs when the job name does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

from core.errors import DecodeError
from core.kafka_admin import ensure_topic
from ingest.config import IngestConfig
from ingest.discover import SelectedTable
from ingest.producer import KvProducer, RecordEncoder
from ingest.recording import RecordingReader, Registration
from ingest.region_worker import MessageResult, RegionWorker, Subscription
from ingest.window import UndoWindow
from ingest.worker import (
    IngestResult,
    Progress,
    ProgressCallback,
    build_region_worker,
    make_result,
)

__all__ = ["feed_recording", "run_replay"]

log = logging.getLogger(__name__)


def _tables(reader: RecordingReader) -> list[SelectedTable]:
    h = reader.header
    return [
        SelectedTable(
            db=str(t["db"]),
            name=str(t["name"]),
            table_id=int(t["table_id"]),
            physical_ids=tuple(int(p) for p in t["physical_ids"]),
            info=h.schema.get(str(t["table_id"]), {}),
        )
        for t in h.tables
    ]


def _subscription(reg: Registration) -> Subscription:
    return Subscription(
        stream_id=reg.stream_id,
        request_id=reg.request_id,
        table_id=reg.table_id,
        region=reg.region,
        span=reg.span,
        checkpoint_ts=reg.checkpoint_ts,
        store_id=reg.store_id,
    )


def feed_recording(
    reader: RecordingReader, core: RegionWorker, *, stop_when_done: bool = True
) -> Iterator[MessageResult]:
    """Feed every frame to ``core``; yields the result of each message frame."""
    for frame in reader:
        kind = frame.kind
        if kind == "M":
            result = core.on_message(frame.stream_id, frame.data)
            yield result
            if stop_when_done and result.ended:
                return
        elif kind == "R":
            assert frame.obj is not None
            core.add(_subscription(Registration.from_json(frame.obj)))
        elif kind == "B":
            assert frame.obj is not None
            core.bind_stream(frame.stream_id, int(frame.obj["request_id"]))
        elif kind == "X":
            core.drop_stream(frame.stream_id)


async def run_replay(
    path: Path | str, config: IngestConfig, progress_cb: ProgressCallback | None = None
) -> IngestResult:
    """Push the recording at ``path`` into ``<job>.kv``; the result says whether END was reached.

    ``progress_cb`` is accepted for symmetry with :func:`ingest.worker.run_ingest` and called
    once at the end.
    """
    started = time.monotonic()
    reader = RecordingReader(path)
    h = reader.header
    tables = _tables(reader)
    if not tables:
        raise DecodeError(f"{path}: recording names no table")
    core = build_region_worker(config, tables, h.target_ts, h.end_ts)
    await ensure_topic(
        config.kafka_bootstrap,
        config.topic,
        config.partitions,
        create=config.create_topic,
        policy=config.topic_policy,
    )
    encoder = RecordEncoder(
        config.job,
        config.partitions,
        target_ts=h.target_ts,
        end_ts=h.end_ts,
        instance_id=config.instance,
        attempt=config.attempt,
    )
    producer = KvProducer(
        config.kafka_bootstrap,
        config.topic,
        encoder,
        linger_ms=config.linger_ms,
        batch_bytes=config.producer_batch_bytes,
        max_request_bytes=config.max_request_bytes,
        max_pending=config.max_pending_outputs,
    )
    await producer.start()
    try:
        for message in feed_recording(reader, core):
            if message.outputs:
                producer.submit(message.outputs)
                await producer.wait_capacity()
        await producer.flush()
    finally:
        await producer.stop()
    if reader.truncated:
        log.warning("replay: %s ends with a partial frame (recording cut short)", path)
    state = "done" if core.done else "stopped"
    window = UndoWindow(h.target_ts, h.end_ts, h.primary_ts)
    result = make_result(
        config, core, encoder, window, tables, state=state, started=started, recording=str(path)
    )
    if progress_cb is not None:
        progress_cb(
            Progress(
                state=state,
                target_ts=h.target_ts,
                end_ts=h.end_ts,
                frontier_ts=core.frontier.resolved_ts,
                events=core.events,
                rows=core.rows,
                changes=core.changes,
                records_sent=encoder.records,
                elapsed_s=result.duration_s,
            )
        )
    return result
