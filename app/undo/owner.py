"""Whose record is it: the job start (instance id and attempt) that wrote a record or note. Pure.

A job's topics are recreated under the same names (``--replace`` deletes them, ``--resume``
deletes all but the record), and a worker or ingest of an earlier start may still write into
them: one left running on another machine, a zombie after a rebalance, a late write of a killed
process. Every Kafka record of a job therefore names the start that wrote it — the job record's
``instance_id`` (fresh per start) and ``attempt`` (bumped by ``--resume``, which keeps the
instance) — and a reader that knows its own start takes only those.

Two strengths: progress notes and job statuses decide whether a partition is done or the job
succeeded, so one that does not name this start is never taken (:meth:`Owner.owns`). Records
of ``<job>.kv`` are taken unless they name another start (:meth:`Owner.takes_record`): a replay
of a recording (``tiundo replay``) writes them without one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Owner", "Strangers"]


@dataclass(frozen=True, slots=True)
class Owner:
    """One start of a job: ``instance`` empty = not known (a worker without a job record)."""

    instance: str = ""
    attempt: int = 0

    def owns(self, instance: str, attempt: int) -> bool:
        """A note or status written by this start (anything, when this start is not known)."""
        return not self.instance or (instance == self.instance and attempt == self.attempt)

    def takes_record(self, instance: str, attempt: int) -> bool:
        """A ``<job>.kv`` record to process: this start's, or one that names none."""
        return not instance or self.owns(instance, attempt)

    def __str__(self) -> str:
        return f"instance {self.instance or '(none)'} attempt {self.attempt}"


@dataclass(slots=True)
class Strangers:
    """Records ignored because another start wrote them, counted per (what, writer).

    :meth:`seen` says whether a writer is new, so it is logged once, not per record.
    """

    counts: Counter[tuple[str, Owner]] = field(default_factory=Counter)

    def seen(self, what: str, writer: Owner) -> bool:
        """Count one ignored ``what`` of ``writer``; True for the first of that kind."""
        key = (what, writer)
        self.counts[key] += 1
        return self.counts[key] == 1

    @property
    def total(self) -> int:
        """Records ignored so far."""
        return sum(self.counts.values())
