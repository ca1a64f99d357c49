"""The compact agent: ``<job>.kv`` → the compact table; on End, the partition's undo.

Per ChangeBatch (one event, many changes of one table): group the changes by row key and
read-merge-write each distinct key once (tables cannot be written inside ``take()``, and one
write per key per batch keeps the changelog small). Merges are order-free and idempotent
(:mod:`app.undo.merge`), so Kafka re-delivery after a crash is harmless. The batch's seq and
size go to the progress table for the End completeness check; distinct seqs are counted, so a
re-delivered batch is not counted twice.

Records of another start of the job (another ``instance_id``, or an earlier ``attempt``: an
ingest of an earlier instance still writing into the recreated topic) are ignored, counted and
logged once per writer (:mod:`app.undo.owner`); records that name no start (a replay) are taken.

A change that cannot be compacted (undecodable envelope, key of another table, unknown op) is
sent to ``<job>.dead`` with its raw bytes and counted; it never stops the partition.

``isolated_partitions=True``: one actor per partition, so a partition busy with its undo (End)
does not hold up the others, and a partition waiting at the ``_tidb_rowid`` barrier cannot
block the partition it waits for. An exception escaping the agent would ack (lose) the event
(faust pitfall) and stop the actor, so nothing escapes: transient failures are retried in place
until ``TIUNDO_RETRY_DEADLINE_S``, and then (or at once for any other failure) the partition is
reported FAILED with the reason (:mod:`app.stages.failure`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from google.protobuf.message import DecodeError as ProtoDecodeError

from app.stages.board import get_board
from app.stages.failure import is_transient
from app.stages.supervise import ActorSupervisor
from app.stages.undo import fail_partition, failure_reason, undo_partition
from app.stages.watch import beat
from app.topics import app, compact_table, config, kv_topic, progress_table
from app.undo.merge import StateDecodeError, decode_state, encode_state, merge_many
from app.undo.model import DELETE, PUT
from app.undo.mount import MountError, key_table_id
from app.undo.owner import Owner, Strangers
from core.codec.keys import has_record_prefix
from core.metrics import RECORDS_COMPACTED
from core.retry import Backoff, retry_async
from proto import tiundo_pb2

__all__ = ["compact_batch", "compact_kv"]

log = logging.getLogger(__name__)

_BACKOFF = Backoff(0.5, 2.0, cap=30.0)
"""0.5 s doubling to 30 s, for ``retry_deadline_s`` of transient failures."""
_OWNER = Owner(config.instance, config.attempt)
_STRANGERS = Strangers()


def _of_another_start(kind: str, instance: str, attempt: int) -> bool:
    """Whether a record was written by another start of the job (then it is ignored)."""
    if _OWNER.takes_record(instance, attempt):
        return False
    writer = Owner(instance, attempt)
    if _STRANGERS.seen(kind, writer):
        log.warning(
            "ignoring %s records of another instance (%s) of job %s; this worker's job start "
            "is %s", kind, writer, config.job, _OWNER,
        )  # fmt: skip
    return True


async def _dead(letter: tiundo_pb2.DeadLetter) -> None:
    board = await get_board()
    await board.dead_letter(letter)
    progress_table[b"dead"] = str(int(progress_table.get(b"dead") or b"0") + 1).encode()


def _bad_change(batch: tiundo_pb2.ChangeBatch, ch: tiundo_pb2.RowChange) -> str:
    if ch.op_type not in (PUT, DELETE):
        return f"op_type {ch.op_type} is neither PUT nor DELETE"
    if ch.op_type == PUT and not ch.value:
        return "PUT without a value"
    try:
        tid = key_table_id(ch.key)
    except MountError as exc:
        return str(exc)
    if tid != batch.table_id:
        return f"key of table {tid} in a batch of table {batch.table_id}"
    if not has_record_prefix(ch.key):
        return "not a record key"
    return ""


async def compact_batch(batch: tiundo_pb2.ChangeBatch) -> int:
    """Fold one batch into the compact table (current event's partition); return keys written."""
    by_key: dict[bytes, list[tiundo_pb2.RowChange]] = defaultdict(list)
    for ch in batch.changes:
        why = _bad_change(batch, ch)
        if why:
            await _dead(
                tiundo_pb2.DeadLetter(
                    job_id=batch.job_id, stage="compact", error=why, key=ch.key, value=ch.value,
                    old_value=ch.old_value, table_id=batch.table_id, commit_ts=ch.commit_ts,
                    start_ts=ch.start_ts, region_id=ch.region_id,
                )
            )  # fmt: skip
            continue
        by_key[ch.key].append(ch)
    for key, changes in by_key.items():
        old = compact_table.get(key)
        try:
            state = decode_state(old) if old else None
        except StateDecodeError as exc:  # the stored state is damaged: keep the changes
            for ch in changes:
                await _dead(
                    tiundo_pb2.DeadLetter(
                        job_id=batch.job_id, stage="compact", error=f"stored state: {exc}",
                        key=ch.key, value=ch.value, old_value=ch.old_value,
                        table_id=batch.table_id, commit_ts=ch.commit_ts, start_ts=ch.start_ts,
                        region_id=ch.region_id,
                    )
                )  # fmt: skip
            continue
        new = merge_many(state, changes)
        assert new is not None
        compact_table[key] = encode_state(new)
    seq_key = f"seq/{batch.seq:020d}".encode()
    progress_table[seq_key] = str(len(batch.changes)).encode()
    return len(by_key)


async def handle(partition: int, raw: bytes) -> None:
    """One ``<job>.kv`` record (raises only on infrastructure errors: the caller retries)."""
    try:
        env = tiundo_pb2.Envelope.FromString(raw)
        kind = env.WhichOneof("body")
    except ProtoDecodeError as exc:
        await _dead(
            tiundo_pb2.DeadLetter(
                job_id=config.job, stage="compact", error=f"undecodable Envelope: {exc}", value=raw
            )
        )
        return
    if kind == "change_batch":
        batch = env.change_batch
        if batch.job_id and batch.job_id != config.job:
            log.warning("skipping a batch of job %r", batch.job_id)
            return
        if _of_another_start(kind, batch.instance_id, batch.attempt):
            return
        await compact_batch(batch)
    elif kind == "watermark":
        if _of_another_start(kind, env.watermark.instance_id, env.watermark.attempt):
            return
        progress_table[b"wm"] = str(env.watermark.resolved_ts).encode()
    elif kind == "end":
        if env.end.job_id and env.end.job_id != config.job:
            log.warning("skipping an End of job %r", env.end.job_id)
            return
        if _of_another_start(kind, env.end.instance_id, env.end.attempt):
            return
        log.info("partition %d: End (T=%d E=%d)", partition, env.end.target_ts, env.end.end_ts)
        await beat(partition, "End: undo started", force=True)
        await undo_partition(partition, env.end)
    else:
        await _dead(
            tiundo_pb2.DeadLetter(
                job_id=config.job, stage="compact", error=f"unexpected record {kind}", value=raw
            )
        )


async def _handle_in_place(partition: int, offset: int, raw: bytes) -> None:
    """:func:`handle` one record; a failure that a retry cannot fix fails the partition.

    Transient errors (:func:`app.stages.failure.is_transient`) are retried in place until they
    have lasted ``retry_deadline_s``; then, or at once for any other error, the partition's
    report says FAILED with the reason (so the job ends FAILED, never RUNNING for ever) and the
    record is acked: the End of a failed partition only re-publishes the job status.
    """

    def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
        log.warning(
            "partition %d offset %d: %s; retrying in %.1f s",
            partition, offset, failure_reason(exc), delay,
        )  # fmt: skip

    try:
        await retry_async(
            lambda: handle(partition, raw),
            backoff=_BACKOFF,
            what=f"partition {partition} offset {offset}",
            retriable=is_transient,
            failing_s=config.retry_deadline_s,
            on_retry=on_retry,
        )
    except Exception as exc:
        exc.add_note(f"partition {partition} offset {offset}")
        why = failure_reason(exc)
        log.error("partition %d failed: %s", partition, why, exc_info=exc)
        await _report_failure(partition, why)


async def _report_failure(partition: int, why: str) -> None:
    """:func:`fail_partition`, retried for ever: the report is how the job can end.

    Only Kafka being away makes it fail, and then nobody could read the report anyway
    (``tiundo run`` says Kafka did not answer).
    """
    await retry_async(
        lambda: fail_partition(partition, why),
        backoff=_BACKOFF,
        what=f"report of failed partition {partition}",
        retriable=lambda exc: isinstance(exc, Exception),
    )


@app.agent(  # type: ignore[untyped-decorator]
    kv_topic, isolated_partitions=True, supervisor_strategy=ActorSupervisor
)
async def compact_kv(stream: Any) -> None:
    """Compact every record; one that keeps failing fails its partition, never the agent."""
    async for event in stream.events():
        partition, offset = event.message.partition, event.message.offset
        await beat(partition, f"compacting (offset {offset})")
        await _handle_in_place(partition, offset, event.value)
        RECORDS_COMPACTED.labels(partition=str(partition)).inc()
