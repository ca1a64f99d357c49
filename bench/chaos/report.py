"""The soak's output (pure): a line per run, a table by fault kind, the summary line.

``chaos: N runs, F faults, W wrong, S false successes, H hung`` is the last line; a failing
run's line is followed by the command that replays exactly it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.chaos.oracle import Outcome
from bench.chaos.plan import Fault, Kind, RunPlan

__all__ = ["Injected", "RunResult", "by_kind", "failed", "replay_command", "run_line", "summary"]


@dataclass(frozen=True, slots=True)
class Injected:
    """A planned fault and what became of it: struck at ``at_s`` (s after the run started)
    while the job was in ``seen`` (the phase observed then), or ``at_s`` None when the job
    never reached its phase (or ended first)."""

    fault: Fault
    at_s: float | None
    seen: str = ""
    note: str = ""

    def label(self) -> str:
        """``kind@phase+delay`` plus when it struck (or ``missed``)."""
        if self.at_s is None:
            return f"{self.fault.label()}(missed{': ' + self.note if self.note else ''})"
        seen = f" in {self.seen}" if self.seen and self.seen != self.fault.phase else ""
        return f"{self.fault.label()}(t={self.at_s:.1f}s{seen})"


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run: its plan, faults as injected, verdict, exit status and RTO."""

    plan: RunPlan
    injected: Sequence[Injected]
    outcome: Outcome
    exit_code: int | None
    rto_s: float
    detail: str = ""
    kinds: Sequence[Kind] = field(default_factory=tuple)


def failed(r: RunResult) -> bool:
    """Whether the run counts against the soak."""
    return r.outcome is not Outcome.OK


def replay_command(r: RunResult, all_kinds: Sequence[Kind]) -> str:
    """The command that replays exactly this run (same seed, size and fault kinds)."""
    faults = "" if tuple(r.kinds) == tuple(all_kinds) else f" --faults {','.join(r.kinds)}"
    return f"python -m bench.chaos --runs 1 --seed {r.plan.seed} --size {r.plan.size}{faults}"


def run_line(r: RunResult) -> str:
    """One line: seed, shape, faults with their times, outcome, exit, RTO."""
    p = r.plan
    faults = " ".join(i.label() for i in r.injected)
    detail = f" ({r.detail})" if r.detail else ""
    code = "-" if r.exit_code is None else str(r.exit_code)
    return (
        f"seed={p.seed} {p.workers}w×{p.partitions}p faults: {faults} -> {r.outcome} "
        f"exit={code} RTO={r.rto_s:.1f}s{detail}"
    )


def by_kind(results: Sequence[RunResult]) -> list[str]:
    """The table by fault kind: struck, missed, and the verdicts of the runs it was in."""
    kinds: dict[str, dict[str, int]] = {}
    for r in results:
        for i in r.injected:
            row = kinds.setdefault(
                i.fault.kind.value, {"struck": 0, "missed": 0, **{o.value: 0 for o in Outcome}}
            )
            row["struck" if i.at_s is not None else "missed"] += 1
            if i.at_s is not None:
                row[r.outcome.value] += 1
    cols = ["struck", "missed", *(o.value for o in Outcome)]
    head = f"{'fault kind':<16}" + "".join(f"{c:>15}" for c in cols)
    lines = [head]
    for name in sorted(kinds):
        lines.append(f"{name:<16}" + "".join(f"{kinds[name][c]:>15}" for c in cols))
    return lines


def summary(results: Sequence[RunResult]) -> str:
    """``chaos: N runs, F faults, W wrong, S false successes, H hung`` (F = faults struck)."""
    struck = sum(1 for r in results for i in r.injected if i.at_s is not None)
    n = {o: sum(1 for r in results if r.outcome is o) for o in Outcome}
    return (
        f"chaos: {len(results)} runs, {struck} faults, {n[Outcome.WRONG]} wrong, "
        f"{n[Outcome.FALSE_SUCCESS]} false successes, {n[Outcome.HUNG]} hung"
    )


#: draws of one kind with no strike at all after which the soak distrusts its injector
NEVER_STRUCK_AFTER = 3


def never_struck(results: Sequence[RunResult]) -> list[str]:
    """Kinds drawn at least :data:`NEVER_STRUCK_AFTER` times that never struck once.

    A fault that always misses tests nothing, and reads as a pass: a worker kill that could
    not find the worker's pid (its log format had changed) missed all 16 of its draws.
    """
    drawn: dict[str, int] = {}
    struck: set[str] = set()
    for r in results:
        for i in r.injected:
            drawn[i.fault.kind.value] = drawn.get(i.fault.kind.value, 0) + 1
            if i.at_s is not None:
                struck.add(i.fault.kind.value)
    return sorted(k for k, n in drawn.items() if n >= NEVER_STRUCK_AFTER and k not in struck)
