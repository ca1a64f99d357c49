"""What each partition of this worker is doing: ``beat/<p>`` notes, and a re-read of idle ones.

Issue 14: after a worker was killed mid-apply and restarted, a worker that had just been given
partitions nobody had committed an offset for recovered its tables and never handled them
again; the job stayed RUNNING without a word. Faust drops records it fetched while a rebalance
or recovery was under way and counts on "seek to the committed offset" to fetch them again, but
aiokafka's ``seek_to_committed`` leaves a partition without a committed offset (or at offset 0)
where the dropped fetch left it: after the last record, End included. Two guards here:

- :func:`seek_uncommitted_to_start`, installed on the app's consumer (:mod:`app.main`), seeks
  such ``<job>.kv`` partitions to their start instead (what ``auto_offset_reset=earliest``
  means), so the dropped records are read again (handling them twice is harmless: compaction
  is order-free and idempotent, the undo resumes from its counters);
- :func:`reread_idle_partitions`: a partition of this worker without a report that has handled
  nothing for half of ``TIUNDO_STALL_S`` is read again from its committed offset (or its
  start), whatever dropped its records.

Every partition notes what it does on ``<job>.progress`` (``beat/<p>``, at most every
:data:`app.undo.activity.BEAT_S`), so ``tiundo run``/``status`` can name a partition nobody
moves and the worker that holds it (:func:`app.undo.activity.stalls`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from faust.types import TP

from app.stages.board import get_board
from app.topics import app, config
from app.undo import barrier
from app.undo.activity import BEAT_S, Activity, beat_key

__all__ = ["beat", "reread_idle_partitions", "seek_uncommitted_to_start", "worker_name"]

log = logging.getLogger(__name__)

#: how often the idle check runs
WATCH_EVERY_S = 2.0

#: partition → monotonic time it was (last) assigned to this worker
_assigned: dict[int, float] = {}
#: partition → monotonic time of its last activity (a record handled, a transaction, a poll)
_active: dict[int, float] = {}
#: partition → (monotonic time of its last published note, stage of that note)
_published: dict[int, tuple[float, str]] = {}


def worker_name() -> str:
    """The name notes give this worker: ``host:pid`` and its datadir."""
    return f"{socket.gethostname()}:{os.getpid()} ({config.datadir})"


async def beat(partition: int, stage: str, *, force: bool = False, moved: bool = True) -> None:
    """Note that ``partition`` is doing ``stage`` now; publish it unless one went out lately.

    ``moved``: the partition made progress (resets its idle clock). Best effort: a note that
    cannot be written is logged, never raised (records and reports have their own retries).
    """
    now = time.monotonic()
    if moved:
        _active[partition] = now
    last = _published.get(partition)
    if not force and last is not None and now - last[0] < BEAT_S:
        return
    _published[partition] = (now, stage)
    try:
        board = await get_board()
        act = Activity(partition, worker_name(), stage, int(time.time() * 1000))
        await board.publish(beat_key(partition), act.to_json(board.owner))
    except Exception as exc:  # a missing note only makes the stall watch less precise
        log.warning("partition %d: could not note its progress: %r", partition, exc)


def _kv_partitions(tps: Any) -> set[int]:
    return {tp.partition for tp in tps if tp.topic == config.kv_topic}


@app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
async def _on_assigned(sender: Any, assigned: Any = (), **kwargs: Any) -> None:
    """Restart the idle clocks of the partitions this worker now holds (recovery comes first)."""
    now = time.monotonic()
    held = _kv_partitions(assigned)
    for p in list(_assigned):
        if p not in held:
            _assigned.pop(p, None)
            _published.pop(p, None)
    for p in held:
        _assigned[p] = now
        _active.pop(p, None)


async def seek_uncommitted_to_start(consumer: Any, committed: Mapping[Any, Any]) -> None:
    """After ``seek_to_committed``: seek ``<job>.kv`` partitions it left alone to their start.

    aiokafka seeks only partitions whose committed offset is > 0; the others keep the position
    of whatever was fetched (and maybe dropped by Faust) before.
    """
    for tp, offset in committed.items():
        if tp.topic == config.kv_topic and not offset:
            log.info("partition %d: no committed offset: reading it from its start", tp.partition)
            await consumer.seek(TP(tp.topic, tp.partition), 0)


@app.timer(interval=WATCH_EVERY_S)  # type: ignore[untyped-decorator]
async def reread_idle_partitions() -> None:
    """Note the partitions still idle since their assignment; read again the long-idle ones."""
    if app.rebalancing or not _assigned:
        return
    board = await get_board()
    await board.refresh()
    now = time.monotonic()
    assignment = app.consumer.assignment()
    for p, since in sorted(_assigned.items()):
        if barrier.part_key(p) in board.notes or TP(config.kv_topic, p) not in assignment:
            continue
        if p not in _published:
            await beat(p, "assigned to this worker, nothing handled yet", force=True, moved=False)
        idle = now - max(since, _active.get(p, since))
        if idle < config.stall_s / 2:
            continue
        tp = TP(config.kv_topic, p)
        offset = getattr(app.consumer, "_committed_offset", {}).get(tp) or 0
        log.warning(
            "partition %d: nothing handled for %.0f s while this worker holds it and it has no "
            "report; reading it again from offset %d",
            p, idle, offset,
        )  # fmt: skip
        await app.consumer.seek(tp, offset)
        await beat(p, f"idle {idle:.0f} s: read again from offset {offset}", force=True)
