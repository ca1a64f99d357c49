"""The compact agent: ``<job>.kv`` → the compact table; on End, the partition's undo.

Per ChangeBatch (one event, many changes of one table): merge each change into the
partition's in-memory buffer (:mod:`app.undo.buffer`), a key's stored state read once when it
enters the buffer; the buffer is written to the table, each key once, and the records it covers
acked only then (:mod:`app.stages.compact_flush`: when full, caught up, at
``TIUNDO_COMPACT_MAX_DELAY_S``, idle, and always before End). Merges are order-free and
idempotent (:mod:`app.undo.merge`), so Kafka re-delivery after a crash is harmless. The batch's
seq and size go to the progress table with the flush, for the End completeness check; distinct
seqs are counted, so a re-delivered batch is not counted twice.

Every record's offset is checked against the next one the actor expects
(:mod:`app.undo.delivery`): records Faust skipped around a rebalance are read again, never
merged past.

Records of another start of the job (another ``instance_id``, or an earlier ``attempt``: an
ingest of an earlier instance still writing into the recreated topic) are ignored, counted and
logged once per writer (:mod:`app.undo.owner`); records that name no start (a replay) are taken.

A change that cannot be compacted (undecodable envelope, key of another table, unknown op, a
key whose stored state is damaged) is sent to ``<job>.dead`` with its raw bytes and counted; it
never stops the partition.

``isolated_partitions=True``: one actor per partition, so a partition busy with its undo (End)
does not hold up the others, and a partition waiting at the ``_tidb_rowid`` barrier cannot
block the partition it waits for. Acks are manual (``stream.noack()``): an exception escaping
the agent would stop the actor, so nothing escapes: transient failures are retried in place
until ``TIUNDO_RETRY_DEADLINE_S``, and then (or at once for any other failure) the partition is
reported FAILED with the reason (:mod:`app.stages.failure`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.errors import OffsetOutOfRangeError
from google.protobuf.message import DecodeError as ProtoDecodeError

from app.stages.board import get_board
from app.stages.compact_flush import (
    POLICY,
    Flusher,
    flush_in_place,
    in_place,
    lag_after,
    report_failure,
    watch_idle,
)
from app.stages.refetch import read_range
from app.stages.supervise import ActorSupervisor
from app.stages.undo import failure_reason, undo_partition
from app.stages.watch import beat
from app.topics import app, compact_table, config, kv_topic, progress_table
from app.undo.buffer import MergeBuffer
from app.undo.delivery import DeliveryGuard, Hole
from app.undo.merge import KeyState, StateDecodeError, decode_state, state_of_folded
from app.undo.model import DELETE, PUT
from app.undo.mount import MountError, key_table_id
from app.undo.owner import Owner, Strangers
from core.codec.keys import has_record_prefix, record_prefix
from proto import tiundo_pb2

__all__ = ["compact_batch", "compact_kv"]

log = logging.getLogger(__name__)

_OPS = (PUT, DELETE)
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


def _letter(batch: tiundo_pb2.ChangeBatch, ch: tiundo_pb2.RowChange, why: str) -> Any:
    if ch.versions > 1:  # the letter's commit/start ts are the earliest change's
        why = (
            f"{why} (folded record of {ch.versions} changes, commit_ts {ch.commit_ts}.."
            f"{ch.last_commit_ts}; value is the latest's)"
        )
    return tiundo_pb2.DeadLetter(
        job_id=batch.job_id, stage="compact", error=why, key=ch.key, value=ch.value,
        old_value=ch.old_value, table_id=batch.table_id, commit_ts=ch.commit_ts,
        start_ts=ch.start_ts, region_id=ch.region_id,
    )  # fmt: skip


def _bad_change(batch: tiundo_pb2.ChangeBatch, ch: tiundo_pb2.RowChange) -> str:
    if ch.op_type not in (PUT, DELETE):
        return f"op_type {ch.op_type} is neither PUT nor DELETE"
    if ch.versions > 1:
        # a folded record: value is the latest change's, so last_op_type decides
        if ch.last_op_type not in (PUT, DELETE):
            return f"folded record: last_op_type {ch.last_op_type} is neither PUT nor DELETE"
        if ch.last_op_type == PUT and not ch.value:
            return "folded record: latest change a PUT without a value"
        if ch.last_commit_ts <= ch.commit_ts:
            return (
                f"folded record: last_commit_ts {ch.last_commit_ts} not above "
                f"commit_ts {ch.commit_ts}"
            )
    elif ch.op_type == PUT and not ch.value:
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


async def compact_batch(batch: tiundo_pb2.ChangeBatch, buffer: MergeBuffer) -> int:
    """Merge one batch into ``buffer`` (current event's partition); return the records merged.

    A key not buffered yet enters with its stored state (read here, once per flush). Every
    dead letter is sent before anything is merged, so a retry after a failed send merges the
    batch once. The loop runs once per change (1 M at full size, 10 M hot): a good change is
    recognised by its key prefix (``t{table}_r``, what :func:`_bad_change` checks) and op.
    A folded record (``versions`` >= 2, ``ingest/fold.py``) enters as the state it stands for.
    """
    prefix = record_prefix(batch.table_id)
    good: list[tiundo_pb2.RowChange] = []
    bases: dict[bytes, KeyState | None] = {}
    letters: list[Any] = []
    damaged: dict[bytes, str] = {}
    changes = len(batch.changes)  # a folded record counts its versions (End's total_changes)
    for ch in batch.changes:
        key, op, versions = ch.key, ch.op_type, ch.versions
        if versions > 1:
            changes += versions - 1
            last = ch.last_op_type
            if not (
                key.startswith(prefix)
                and op in _OPS
                and (last == DELETE or (last == PUT and ch.value))
                and ch.last_commit_ts > ch.commit_ts
            ):
                letters.append(_letter(batch, ch, _bad_change(batch, ch) or "not a record key"))
                continue
        elif not (key.startswith(prefix) and (op == DELETE or (op == PUT and ch.value))):
            letters.append(_letter(batch, ch, _bad_change(batch, ch) or "not a record key"))
            continue
        if key in damaged:
            letters.append(_letter(batch, ch, damaged[key]))
            continue
        if key not in bases and key not in buffer:
            old = compact_table.get(key)
            try:
                bases[key] = decode_state(old) if old else None
            except StateDecodeError as exc:  # the stored state is damaged: keep the changes
                damaged[key] = f"stored state: {exc}"
                letters.append(_letter(batch, ch, damaged[key]))
                continue
        good.append(ch)
    for letter in letters:
        await _dead(letter)
    for ch in good:
        if ch.versions > 1:
            buffer.add_state(ch.key, state_of_folded(ch), bases.pop(ch.key, None))
        else:
            buffer.add_change(ch.key, ch, bases.pop(ch.key, None))
    buffer.add_batch(batch.seq, changes)
    return len(good)


async def handle(partition: int, raw: bytes, flusher: Flusher) -> str:
    """One ``<job>.kv`` record; returns its kind.

    Raises only on infrastructure errors: the caller retries.
    """
    try:
        env = tiundo_pb2.Envelope.FromString(raw)
        kind = str(env.WhichOneof("body"))
    except ProtoDecodeError as exc:
        await _dead(
            tiundo_pb2.DeadLetter(
                job_id=config.job, stage="compact", error=f"undecodable Envelope: {exc}", value=raw
            )
        )
        return "undecodable"
    if kind == "change_batch":
        batch = env.change_batch
        if batch.job_id and batch.job_id != config.job:
            log.warning("skipping a batch of job %r", batch.job_id)
            return kind
        if _of_another_start(kind, batch.instance_id, batch.attempt):
            return kind
        await compact_batch(batch, flusher.buffer)
    elif kind == "watermark":
        if _of_another_start(kind, env.watermark.instance_id, env.watermark.attempt):
            return kind
        progress_table[b"wm"] = str(env.watermark.resolved_ts).encode()
    elif kind == "end":
        if env.end.job_id and env.end.job_id != config.job:
            log.warning("skipping an End of job %r", env.end.job_id)
            return kind
        if _of_another_start(kind, env.end.instance_id, env.end.attempt):
            return kind
        log.info("partition %d: End (T=%d E=%d)", partition, env.end.target_ts, env.end.end_ts)
        await flusher.flush("End")  # every record before End durable, its seqs counted
        await beat(partition, "End: undo started", force=True)
        await undo_partition(partition, env.end)
    else:
        await _dead(
            tiundo_pb2.DeadLetter(
                job_id=config.job, stage="compact", error=f"unexpected record {kind}", value=raw
            )
        )
    return kind


async def _handle_in_place(partition: int, offset: int, raw: bytes, flusher: Flusher) -> str:
    """:func:`handle` one record; a failure that a retry cannot fix fails the partition.

    Transient errors (:func:`app.stages.failure.is_transient`) are retried in place until they
    have lasted ``retry_deadline_s``; then, or at once for any other error, the partition's
    report says FAILED with the reason (so the job ends FAILED, never RUNNING for ever) and the
    record is acked with the next flush: the End of a failed partition only re-publishes the
    job status. Returns the record's kind (``"failed"`` when it failed).
    """

    def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
        log.warning(
            "partition %d offset %d: %s; retrying in %.1f s",
            partition, offset, failure_reason(exc), delay,
        )  # fmt: skip

    try:
        return await in_place(
            lambda: handle(partition, raw, flusher),
            f"partition {partition} offset {offset}",
            on_retry,
        )
    except Exception as exc:
        exc.add_note(f"partition {partition} offset {offset}")
        why = failure_reason(exc)
        log.error("partition %d failed: %s", partition, why, exc_info=exc)
        await report_failure(partition, why)
        return "failed"


def _committed(tp: Any) -> int | None:
    """The partition's committed offset as this worker's consumer knows it (None: none)."""
    offset = getattr(app.consumer, "_committed_offset", {}).get(tp)
    return int(offset) if offset is not None else None


async def _fill(tp: Any, hole: Hole, flusher: Flusher) -> bool:
    """Read and handle the records Faust skipped (:mod:`app.undo.delivery`); False: failed.

    The records are merged like delivered ones and written with the next flush, which also
    acks the record that found the hole (so commits, capped at what flushes wrote, cover
    them). Offsets that hold no record any more fail the partition, naming them.
    """
    p = tp.partition
    log.warning(
        "partition %d: offsets %d..%d were not delivered (offset %d was): reading them directly",
        p, hole.first, hole.offset - 1, hole.offset,
    )  # fmt: skip

    def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
        log.warning("partition %d: re-read: %s; retrying in %.1f s", p, failure_reason(exc), delay)

    def gone(offsets: list[int]) -> LookupError:
        return LookupError(
            f"offsets {offsets[0]}..{offsets[-1]} of {tp.topic} partition {p} hold no record "
            "any more (retention?): the changes in them cannot be undone"
        )

    wanted = list(range(hole.first, hole.offset))
    try:
        try:
            records = await in_place(
                lambda: read_range(config.kafka_bootstrap, tp.topic, p, hole.first, hole.offset),
                f"partition {p} re-read of offsets {hole.first}..{hole.offset - 1}",
                on_retry,
            )
        except OffsetOutOfRangeError as exc:  # the log starts after the hole's first offset
            raise gone(wanted) from exc
        got = [offset for offset, _ in records]
        if got != wanted:
            raise gone(sorted(set(wanted) - set(got)))
    except Exception as exc:
        why = failure_reason(exc)
        log.error("partition %d failed: %s", p, why, exc_info=exc)
        await report_failure(p, why)
        return False
    for offset, raw in records:
        await _handle_in_place(p, offset, raw, flusher)
    add_gap = getattr(app.consumer, "_add_gap", None)
    if add_gap is not None:  # Faust's own bookkeeping: no ack will come for these offsets
        await add_gap(tp, hole.first, hole.offset - 1)
    return True


@app.agent(  # type: ignore[untyped-decorator]
    kv_topic, isolated_partitions=True, supervisor_strategy=ActorSupervisor
)
async def compact_kv(stream: Any) -> None:
    """Compact every record; one that keeps failing fails its partition, never the agent.

    Records are acked by the flush that makes them durable (never by the stream), so a crash
    before it re-delivers them; an actor cancelled by a rebalance drops its buffer with them.
    """
    manual = stream.noack()
    flusher: Flusher | None = None
    guard = DeliveryGuard()
    idle: asyncio.Task[None] | None = None
    try:
        async for event in manual.events():
            partition, offset = event.message.partition, event.message.offset
            if flusher is None:
                flusher = Flusher(partition, manual.ack)
                guard = DeliveryGuard(_committed(event.message.tp))
                idle = asyncio.create_task(watch_idle(flusher), name=f"compact-idle-{partition}")
            flusher.received(event)
            async with flusher.lock:
                hole = guard.check(offset)
                if hole is not None:  # records before this one never came: read them
                    if await _fill(event.message.tp, hole, flusher):
                        guard.filled(hole)
                    else:  # failed: its End only re-publishes the job status
                        guard.expected = None
                    guard.check(offset)
                await beat(partition, f"compacting (offset {offset})")
                kind = await _handle_in_place(partition, offset, event.value, flusher)
                flusher.handled(event)
                why = "End" if kind == "end" else ""
                why = why or POLICY.due(
                    flusher.buffer.changes, flusher.pending, lag_after(event), flusher.age_s
                )
                if why:
                    await flush_in_place(flusher, why)
    finally:
        if idle is not None:
            idle.cancel()
