"""Medians, ratios and the printed summary of a run. Pure: stdlib only.

A run record is a mapping with at least ``label`` (``contender@workload``), ``ok`` (the tables
equalled their checksums at T afterwards) and, when ok, ``seconds`` (the contender's RTO).
Failed runs are never timed: a contender with any failed run reports ``FAILED`` and no median.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Summary", "format_table", "summarize"]


@dataclass(frozen=True, slots=True)
class Summary:
    """One ``contender@workload`` over its repeats.

    ``ratio`` is the median RTO divided by the raw-apply limit's median on the same workload
    (None when either is missing or failed); throughputs are changes and distinct keys undone
    per second at the median.
    """

    label: str
    contender: str
    workload: str
    runs: int
    failed: int
    median_s: float | None
    min_s: float | None
    max_s: float | None
    ratio: float | None
    changes_per_s: float | None
    keys_per_s: float | None
    peak_rss_kib: Mapping[str, int]

    @property
    def ok(self) -> bool:
        """Every repeat ended consistent."""
        return self.failed == 0 and self.median_s is not None


def _peak(runs: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in runs:
        for proc, kib in (r.get("rss_kib") or {}).items():
            out[proc] = max(out.get(proc, 0), int(kib))
    return out


def summarize(
    runs: Sequence[Mapping[str, Any]],
    workloads: Mapping[str, Mapping[str, int]],
    reference: str = "raw_apply",
) -> list[Summary]:
    """One :class:`Summary` per label, in first-run order.

    ``workloads`` gives each workload's ``changes`` and ``keys`` (distinct changed keys);
    ``reference`` names the contender whose median is the denominator of ``ratio``.
    """
    by_label: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        by_label.setdefault(str(r["label"]), []).append(r)
    medians: dict[str, float | None] = {}
    for label, rs in by_label.items():
        times = [float(r["seconds"]) for r in rs if r.get("ok")]
        failed = len(rs) - len(times)
        medians[label] = statistics.median(times) if times and not failed else None
    out: list[Summary] = []
    for label, rs in by_label.items():
        contender, _, workload = label.partition("@")
        times = [float(r["seconds"]) for r in rs if r.get("ok")]
        med = medians[label]
        ref = medians.get(f"{reference}@{workload}")
        w = workloads.get(workload, {})
        out.append(
            Summary(
                label=label,
                contender=contender,
                workload=workload,
                runs=len(rs),
                failed=len(rs) - len(times),
                median_s=med,
                min_s=min(times) if times else None,
                max_s=max(times) if times else None,
                ratio=med / ref if med is not None and ref else None,
                changes_per_s=w["changes"] / med if med and w.get("changes") else None,
                keys_per_s=w["keys"] / med if med and w.get("keys") else None,
                peak_rss_kib=_peak(rs),
            )
        )
    return out


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def format_table(summaries: Sequence[Summary], reference: str = "raw_apply") -> str:
    """A fixed-width table: median RTO, spread, ratio vs ``reference``, throughput, peak RSS."""
    head = (
        f"{'contender@workload':<34} {'runs':>4} {'median s':>9} {'min..max s':>15} "
        f"{'x ' + reference:>13} {'changes/s':>10} {'keys/s':>9}  peak RSS MiB"
    )
    lines = [head, "-" * len(head)]
    for s in summaries:
        spread = f"{_num(s.min_s, '.2f')}..{_num(s.max_s, '.2f')}"
        rss = ", ".join(f"{p} {kib / 1024:.0f}" for p, kib in sorted(s.peak_rss_kib.items()))
        med = "FAILED" if not s.ok else _num(s.median_s, ".2f")
        lines.append(
            f"{s.label:<34} {s.runs:>4} {med:>9} {spread:>15} {_num(s.ratio, '.2f'):>13} "
            f"{_num(s.changes_per_s, ',.0f'):>10} {_num(s.keys_per_s, ',.0f'):>9}  {rss}"
        )
    return "\n".join(lines)
