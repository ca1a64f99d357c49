"""Partition activity notes (``beat/<p>``) and the stall watch built on them. Pure.

A worker holding partition ``p`` of ``<job>.kv`` writes ``beat/<p>`` to ``<job>.progress``
when the partition is assigned to it, and then at most every :data:`BEAT_S` while it handles
the partition's records, applies its undo or waits at the ``_tidb_rowid`` barrier. Without this,
a partition that nobody handles (a worker wedged after a rebalance, issue 14) looked exactly like
one whose undo is slow: the job stayed RUNNING and said nothing. Readers (``tiundo run``,
``tiundo status``) call :func:`stalls`: a partition with no report whose last note is older than
the stall limit is named, with the worker that holds it and what it was doing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.undo.owner import Owner

__all__ = [
    "BEAT_S",
    "Activity",
    "Stall",
    "StallClock",
    "beat_key",
    "beats_of",
    "stall_lines",
    "stalls",
]

#: seconds between two notes of one partition in one stage (a new stage is noted at once)
BEAT_S = 5.0


def beat_key(partition: int) -> str:
    """Note of what ``partition`` was last seen doing, by which worker."""
    return f"beat/{partition}"


@dataclass(frozen=True, slots=True)
class Activity:
    """One ``beat/<p>`` note: ``worker`` (host:pid) was doing ``stage`` at ``at_ms``."""

    partition: int
    worker: str
    stage: str
    at_ms: int
    instance: str = ""
    attempt: int = 0

    def to_json(self, owner: Owner) -> bytes:
        """The note, signed with the job start that wrote it."""
        obj = {
            "partition": self.partition, "worker": self.worker, "stage": self.stage,
            "at_ms": self.at_ms, "instance": owner.instance, "attempt": owner.attempt,
        }  # fmt: skip
        return json.dumps(obj).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Activity:
        """Parse a note (``ValueError`` when it is not one)."""
        obj = json.loads(raw)
        if not isinstance(obj, dict):
            raise ValueError("a beat note is a JSON object")
        return cls(
            int(obj["partition"]), str(obj["worker"]), str(obj["stage"]), int(obj["at_ms"]),
            str(obj.get("instance", "")), int(obj.get("attempt", 0)),
        )  # fmt: skip


def beats_of(notes: Mapping[str, bytes]) -> dict[int, Activity]:
    """The ``beat/<p>`` notes among ``notes`` (unreadable ones are skipped)."""
    out: dict[int, Activity] = {}
    for key, raw in notes.items():
        if not key.startswith("beat/"):
            continue
        try:
            act = Activity.from_json(raw)
        except (ValueError, KeyError, TypeError):
            continue
        out[act.partition] = act
    return out


@dataclass(frozen=True, slots=True)
class Stall:
    """A partition without a report that nobody has moved for ``idle_s``."""

    partition: int
    idle_s: float
    #: the worker of the last note ("" when no worker ever noted the partition)
    worker: str
    stage: str


def stalls(
    partitions: int,
    beats: Mapping[int, Activity],
    finished: Iterable[int],
    *,
    now_ms: int,
    since_ms: int | None,
    stall_s: float,
) -> list[Stall]:
    """Partitions without a report whose last note is older than ``stall_s``.

    A partition no worker ever noted counts as idle from ``since_ms`` (when the watch
    started, say ``tiundo run``'s start); with ``None``, from the oldest note of any
    partition, and not at all when there is none (nothing is known yet).
    """
    done = set(finished)
    if since_ms is None and beats:
        since_ms = min(a.at_ms for a in beats.values())
    out = []
    for p in range(partitions):
        if p in done:
            continue
        act = beats.get(p)
        last = act.at_ms if act is not None else since_ms
        if last is None:
            continue
        idle = (now_ms - last) / 1000
        if idle >= stall_s:
            worker, stage = (act.worker, act.stage) if act is not None else ("", "")
            out.append(Stall(p, idle, worker, stage))
    return out


def stall_lines(found: Iterable[Stall]) -> list[str]:
    """One line per worker: its stalled partitions, how long, and what it last did."""
    by_worker: dict[str, list[Stall]] = {}
    for s in found:
        by_worker.setdefault(s.worker, []).append(s)
    lines = []
    for worker, group in sorted(by_worker.items()):
        parts = ", ".join(str(s.partition) for s in group)
        idle = min(s.idle_s for s in group)
        if worker:
            stages = "; ".join(sorted({s.stage for s in group}))
            lines.append(
                f"partition(s) {parts}: no progress for {idle:.0f} s, held by worker {worker} "
                f"(last: {stages}); see that worker's log"
            )
        else:
            lines.append(
                f"partition(s) {parts}: no progress for {idle:.0f} s, and no worker has "
                "taken them (are the workers running?)"
            )
    return lines


class StallClock:
    """How long a watcher has itself seen each partition stalled, to give up on it in the end.

    ``tiundo run`` names a stalled partition at once, but gives up on it (fails, so a job never
    sits RUNNING for good) only once the watcher has seen it stalled for ``give_up_s`` more while
    Kafka answered: the workers' own recovery (re-read, rejoin) and retries had that long.
    """

    def __init__(self, give_up_s: float) -> None:
        self.give_up_s = give_up_s
        self._since: dict[int, float] = {}

    def reset(self) -> None:
        """Forget every clock (Kafka was away: nobody could note anything meanwhile)."""
        self._since.clear()

    def beyond(self, stalled: Iterable[Stall], now: float) -> list[Stall]:
        """The stalls seen continuously for ``give_up_s`` by ``now`` (monotonic seconds)."""
        current = {s.partition: s for s in stalled}
        for p in list(self._since):
            if p not in current:
                del self._since[p]
        for p in current:
            self._since.setdefault(p, now)
        return [s for p, s in sorted(current.items()) if now - self._since[p] >= self.give_up_s]
