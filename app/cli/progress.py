"""Live progress of ``tiundo run``: one bar per phase, drawn with rich, or plain lines.

The phases and where their numbers come from:

1. **regions initialized** — the ingest worker's regions whose initial scan finished
   (:class:`ingest.worker.Progress`);
2. **frontier → E** — how far the resolved-ts frontier has moved from T towards E, in
   milliseconds of physical time;
3. **records compacted** — records of ``<job>.kv`` the workers have compacted, out of those
   produced: a partition whose END was consumed counts whole, the others by the consumer
   group's committed offset (:func:`app.cli.jobstate.compacted_records`);
4. **partitions undone** — partitions whose undo finished, with the rows applied so far.

:class:`PhaseModel` turns the two inputs into ``(completed, total, note)`` per phase and is
pure; :class:`RichDisplay` and :class:`LineDisplay` only draw it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.cli.jobstate import JobSnapshot
from ingest.worker import Progress as IngestProgress

__all__ = ["Display", "LineDisplay", "PhaseModel", "RichDisplay", "make_display"]

PHASES = ("regions initialized", "frontier → E (ms)", "records compacted", "partitions undone")


@dataclass
class PhaseModel:
    """The latest ingest progress and job snapshot, as four phases."""

    partitions: int
    ingest: IngestProgress | None = None
    job: JobSnapshot | None = None
    ingest_state: str = "starting"
    started: float = field(default_factory=time.monotonic)

    def phases(self) -> list[tuple[int, int, str]]:
        """``(completed, total, note)`` for each of :data:`PHASES` (total 0 = not known yet)."""
        p, j = self.ingest, self.job
        out: list[tuple[int, int, str]] = []
        if p is None or not p.regions:
            out.append((0, 0, self.ingest_state))
        else:
            out.append((p.regions_initialized, p.regions, f"{p.changes} changes"))
        if p is None or not p.end_ts:
            out.append((0, 0, ""))
        else:
            span = max(1, (p.end_ts >> 18) - (p.target_ts >> 18))
            done = span - min(span, p.lag_ms) if p.frontier_ts else 0
            out.append((done, span, "END sent" if self.ingest_state in ("fencing", "done") else ""))
        if j is None or not j.kv_end:
            out.append((0, 0, ""))
        else:
            out.append((min(j.kv_consumed, j.kv_end), j.kv_end, ""))
        finished = len(j.reports) if j is not None else 0
        applied = j.rows_applied if j is not None else 0
        out.append((finished, self.partitions, f"{applied} rows applied"))
        return out


class Display(Protocol):
    """Something that shows a :class:`PhaseModel` while the job runs."""

    def __enter__(self) -> Display: ...
    def __exit__(self, *exc: object) -> None: ...
    def update(self, model: PhaseModel) -> None:
        """Show the model's current phases."""


class RichDisplay:
    """Four live bars on a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            refresh_per_second=4,
        )
        self._tasks = [self._progress.add_task(d, total=None, note="") for d in PHASES]

    def __enter__(self) -> RichDisplay:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, model: PhaseModel) -> None:
        """Move the bars."""
        for task, (done, total, note) in zip(self._tasks, model.phases(), strict=True):
            self._progress.update(task, completed=done, total=total or None, note=note)


class LineDisplay:
    """A plain line per change, at most every ``interval_s`` (logs, pipes, CI)."""

    def __init__(self, out: TextIO | None = None, interval_s: float = 2.0) -> None:
        self._out = out or sys.stderr
        self._interval = interval_s
        self._last = ""
        self._last_t = float("-inf")
        self._model: PhaseModel | None = None

    def __enter__(self) -> LineDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        """Print the final state if the interval held it back."""
        if self._model is not None:
            self._interval = 0.0
            self.update(self._model)

    def line(self, model: PhaseModel) -> str:
        """The phases as one line."""
        parts = []
        for name, (done, total, note) in zip(PHASES, model.phases(), strict=True):
            shown = f"{done}/{total}" if total else "-"
            parts.append(f"{name.split(' ')[0]} {shown}" + (f" ({note})" if note else ""))
        return f"[{time.monotonic() - model.started:6.1f}s] " + " | ".join(parts)

    def update(self, model: PhaseModel) -> None:
        """Print when something changed and the interval passed."""
        self._model = model
        text = self.line(model)
        key = text.split("] ", 1)[1]
        now = time.monotonic()
        if key != self._last and now - self._last_t >= self._interval:
            print(text, file=self._out, flush=True)
            self._last, self._last_t = key, now


class _NoDisplay:
    def __enter__(self) -> _NoDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, model: PhaseModel) -> None:
        return None


def make_display(kind: str) -> Display:
    """``auto`` (bars on a terminal, lines otherwise), ``rich``, ``plain`` or ``none``."""
    if kind == "auto":
        kind = "rich" if sys.stderr.isatty() else "plain"
    if kind == "rich":
        return RichDisplay()
    if kind == "plain":
        return LineDisplay()
    return _NoDisplay()
