"""RPO: what an undo to T gives up, as figures for the report, ``run``, ``plan`` and the bench.

An undo rewinds the downstream to T, the syncpoint where it matched the upstream at
``primary_ts``. What is lost is everything the upstream committed after ``primary_ts``:

- ``point_age_ms``: how old the recovered upstream point was when the job started (wall clock
  at the start minus ``primary_ts``'s physical time); unknown (``None``) when T was given by a
  flag, since then no upstream point is known;
- ``window_ms``: the downstream commit window undone, ``E - T`` in physical milliseconds;
- ``changes_undone`` / ``transactions_undone``: the changes in ``(T, E]`` of the selected
  tables the ingest read, and their distinct transactions (``None`` while unknown).

TSOs are ``physical ms << 18 | logical``. Pure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from proto import tiundo_pb2

__all__ = ["Rpo", "physical_ms", "rpo", "rpo_fields", "rpo_line", "rpo_of_status"]

#: bits of a TSO's logical part
LOGICAL_BITS = 18

_FINAL = (
    tiundo_pb2.JobStatus.SUCCEEDED,
    tiundo_pb2.JobStatus.FAILED,
    tiundo_pb2.JobStatus.INCOMPLETE,
)


def physical_ms(ts: int) -> int:
    """A TSO's physical part: unix milliseconds."""
    return ts >> LOGICAL_BITS


@dataclass(frozen=True, slots=True)
class Rpo:
    """The RPO figures of one job (see the module docstring)."""

    point_age_ms: int | None
    window_ms: int
    changes_undone: int | None
    transactions_undone: int | None


def rpo(
    *,
    started_unix_ms: int,
    primary_ts: int,
    target_ts: int,
    end_ts: int,
    changes: int | None,
    transactions: int | None,
) -> Rpo:
    """The figures from the job's start, its window and what the ingest read."""
    age = started_unix_ms - physical_ms(primary_ts) if primary_ts and started_unix_ms else None
    window = max(0, physical_ms(end_ts) - physical_ms(target_ts))
    return Rpo(age, window, changes, transactions)


def rpo_of_status(status: tiundo_pb2.JobStatus, started_unix_ms: int) -> Rpo:
    """The figures a job status carries; the counts only once every partition reported.

    A FAILED job whose partitions did not all report has no counts (both stay 0 then).
    """
    known = status.state in _FINAL and (
        status.state != tiundo_pb2.JobStatus.FAILED
        or bool(status.changes_undone or status.transactions_undone)
    )
    return rpo(
        started_unix_ms=started_unix_ms,
        primary_ts=status.primary_ts,
        target_ts=status.target_ts,
        end_ts=status.end_ts,
        changes=status.changes_undone if known else None,
        transactions=status.transactions_undone if known else None,
    )


def _seconds(ms: int | None) -> str:
    return "unknown" if ms is None else f"{ms / 1000:.3f} s"


def _count(n: int | None) -> str:
    return "unknown" if n is None else str(n)


def rpo_line(r: Rpo, *, when: str = "job start") -> str:
    """One report line (two-space indent, like the rest of the report); ``when`` the age's."""
    age = _seconds(r.point_age_ms)
    if r.point_age_ms is None:
        age += " (T given by flag: no upstream point)"
    return (
        f"  RPO: upstream point age at {when} = {age}   window undone (E - T) = "
        f"{_seconds(r.window_ms)}   changes undone = {_count(r.changes_undone)}   "
        f"transactions undone = {_count(r.transactions_undone)}"
    )


def rpo_fields(r: Rpo) -> dict[str, Any]:
    """The ``--json`` object (snake_case keys, integers or null)."""
    return asdict(r)
