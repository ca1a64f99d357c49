"""Writing a partition's merge buffer to the compact table, and acknowledging what it covers.

The compact agent (:mod:`app.stages.compact`) merges each record's changes into its
partition's :class:`app.undo.buffer.MergeBuffer` and leaves the record unacknowledged; a
:class:`Flusher` writes every buffered key once (its absolute state, so a retried or re-delivered
flush is harmless), a chunk of keys per table write and changelog record (:mod:`app.undo.chunk`),
then the batch seqs (the End completeness check counts a batch only once
its keys are durable), then acks the records in offset order: Faust commits an offset only
once every record before it is acked, so a kill -9 before the flush re-delivers them.

When (:class:`app.undo.buffer.FlushPolicy`): the buffer is full, the partition has caught up
with ``<job>.kv``, its oldest unwritten record is ``TIUNDO_COMPACT_MAX_DELAY_S`` old, it has
been idle ``TIUNDO_COMPACT_FLUSH_S`` (:func:`watch_idle`, a task next to the actor), and always
before its End is handled. A long flush yields to the event loop between chunks, so the other
partitions' actors and the heartbeats keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from faust import streams as faust_streams

from app.main import FLUSHED
from app.stages.failure import is_transient
from app.stages.undo import fail_partition, failure_reason
from app.stages.watch import beat
from app.topics import app, compact_table, config, progress_table
from app.undo.buffer import FlushPolicy, MergeBuffer
from app.undo.chunk import chunk_key, encode_chunk, split_chunks
from app.undo.merge import encode_state
from core.metrics import RECORDS_COMPACTED
from core.retry import Backoff, retry_async

__all__ = [
    "POLICY",
    "Flusher",
    "flush_in_place",
    "in_place",
    "lag_after",
    "report_failure",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

POLICY = FlushPolicy(
    max_changes=config.compact_buffer_changes,
    idle_s=config.compact_flush_s,
    max_delay_s=config.compact_max_delay_s,
)
BACKOFF = Backoff(0.5, 2.0, cap=30.0)
"""0.5 s doubling to 30 s, for ``retry_deadline_s`` of transient failures."""


@contextlib.contextmanager
def as_event(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event in this task (a table write takes its partition).

    Inside the actor this is the event just handled already; the idle task has none of its own.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


def lag_after(event: Any) -> int | None:
    """Records of the event's partition Kafka holds after it (None: unknown)."""
    try:
        highwater = app.consumer.highwater(event.message.tp)
    except Exception:  # not assigned any more, consumer restarting: unknown
        return None
    if highwater is None:
        return None
    offset: int = event.message.offset
    return int(highwater) - offset - 1


class Flusher:
    """One partition's buffer and its records not acked yet (one per compact actor)."""

    def __init__(self, partition: int, ack: Callable[[Any], Awaitable[Any]]) -> None:
        self.partition = partition
        self.buffer = MergeBuffer()
        #: names this actor's chunks (:func:`app.undo.chunk.chunk_key`): never reused, since
        #: the changelog keeps one record per key
        self.writer = os.urandom(8)
        self._chunks = 0
        self._ack = ack
        self._pending: list[Any] = []
        #: held while a record is handled or the buffer written (the idle task shares it)
        self.lock = asyncio.Lock()
        self.last_event: Any = None
        self.last_seen = time.monotonic()
        #: when the oldest record not acked yet arrived
        self.oldest = self.last_seen

    @property
    def pending(self) -> int:
        """Records handled and not acked yet."""
        return len(self._pending)

    def received(self, event: Any) -> None:
        """A record of the partition arrived (the idle clock restarts)."""
        self.last_event = event
        self.last_seen = time.monotonic()

    def handled(self, event: Any) -> None:
        """The record is merged (or needs nothing written): ack it with the next flush."""
        if not self._pending:
            self.oldest = self.last_seen
        self._pending.append(event)

    @property
    def age_s(self) -> float:
        """Since the oldest record not acked yet arrived."""
        return time.monotonic() - self.oldest if self._pending else 0.0

    async def flush(self, why: str) -> int:
        """Write the buffer, then ack the pending records; returns the keys written."""
        states = self.buffer.states()
        if states:
            await beat(self.partition, f"writing {len(states)} merged keys ({why})")
        with as_event(self.last_event):
            entries = ((key, encode_state(state)) for key, state in states.items())
            for i, chunk in enumerate(split_chunks(entries)):
                if i:
                    await asyncio.sleep(0)
                number, self._chunks = self._chunks, self._chunks + 1
                compact_table[chunk_key(self.writer, number)] = encode_chunk(chunk)
            for seq, n in self.buffer.seqs.items():
                progress_table[f"seq/{seq:020d}".encode()] = str(n).encode()
        log.debug(
            "partition %d: %s: wrote %d keys of %d changes, acking %d records",
            self.partition, why, len(states), self.buffer.changes, len(self._pending),
        )  # fmt: skip
        self.buffer.clear()
        await self._ack_all()
        return len(states)

    async def drop(self) -> None:
        """Forget the buffer and ack its records (their partition failed, as the record did)."""
        self.buffer.clear()
        await self._ack_all()

    async def _ack_all(self) -> None:
        pending, self._pending = self._pending, []
        for event in pending:
            await self._ack(event)
        if pending:  # in offset order: commits may now reach the last one
            last: int = pending[-1].message.offset + 1
            FLUSHED[self.partition] = max(FLUSHED.get(self.partition, 0), last)
        if pending:
            RECORDS_COMPACTED.labels(partition=str(self.partition)).inc(len(pending))


async def in_place(
    call: Callable[[], Awaitable[T]],
    what: str,
    on_retry: Callable[[int, BaseException, float], None],
) -> T:
    """``call()``, transient failures retried in place (any other raised).

    Retried until ``retry_deadline_s`` after the first failure (:func:`core.retry.retry_async`).
    The first attempt runs bare: tenacity's set-up costs ~20 µs, once per record otherwise.
    """
    try:
        return await call()
    except Exception as exc:
        if not is_transient(exc):
            raise
        first_failed = time.monotonic()
        on_retry(0, exc, 0.0)
    return await retry_async(
        call,
        backoff=BACKOFF,
        what=what,
        retriable=is_transient,
        failing_s=max(0.0, config.retry_deadline_s - (time.monotonic() - first_failed)),
        on_retry=on_retry,
    )


async def report_failure(partition: int, why: str) -> None:
    """:func:`fail_partition`, retried for ever: the report is how the job can end.

    Only Kafka being away makes it fail, and then nobody could read the report anyway
    (``tiundo run`` says Kafka did not answer).
    """
    await retry_async(
        lambda: fail_partition(partition, why),
        backoff=BACKOFF,
        what=f"report of failed partition {partition}",
        retriable=lambda exc: isinstance(exc, Exception),
    )


async def flush_in_place(flusher: Flusher, why: str) -> None:
    """:meth:`Flusher.flush`, transient failures retried; any other fails the partition.

    A failed partition's buffer is dropped and its records acked, as a record that fails is.
    """
    p = flusher.partition

    def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
        log.warning("partition %d: flush: %s; retrying in %.1f s", p, failure_reason(exc), delay)

    try:
        await in_place(lambda: flusher.flush(why), f"partition {p} flush", on_retry)
    except Exception as exc:
        exc.add_note(f"partition {p} flush ({why})")
        reason = failure_reason(exc)
        log.error("partition %d failed: %s", p, reason, exc_info=exc)
        await report_failure(p, reason)
        await flusher.drop()


async def watch_idle(flusher: Flusher, policy: FlushPolicy = POLICY) -> None:
    """Flush ``flusher`` whenever its partition has been idle ``policy.idle_s``.

    Runs until cancelled with its actor.
    """
    tick = max(0.05, policy.idle_s / 4)
    while True:
        await asyncio.sleep(tick)
        if app.rebalancing or not policy.idle_due(
            flusher.pending, time.monotonic() - flusher.last_seen
        ):
            continue
        async with flusher.lock:
            if flusher.pending and flusher.last_event is not None:
                await flush_in_place(flusher, "idle")
