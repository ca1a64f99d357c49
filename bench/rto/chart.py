"""The PNG chart of a run: RTO and throughput against partitions/workers, tiundo vs baselines.

One row per workload (``base``, ``hot``), two panels each: median RTO (seconds, log scale) and
changes undone per second. Contenders with a ``partitions`` param are lines over partitions,
one per ``workers`` value; the others are horizontal lines (they have no such knob). The
binlog2sql figure of services.md is drawn dotted and labelled as not measured in the run.
matplotlib (the ``bench`` extra) is imported only when a chart is drawn, with the Agg backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["draw", "partition_axis"]

_PARTITIONS = (1, 4, 8)
_COLORS = {"raw_apply": "tab:green", "per_event": "tab:red", "binlog2sql": "tab:gray"}


def _fmt(value: float, metric: str) -> str:
    return f"{value:.2f} s" if metric == "median_s" else f"{value:,.0f}/s"


def partition_axis(partitions: Iterable[int]) -> tuple[list[int], tuple[float, float]]:
    """Ticks and limits of the (log 2) partitions axis: every count measured, none cut off.

    Without any tiundo run the axis still shows :data:`_PARTITIONS` for the baselines' lines.
    """
    ticks = sorted({int(p) for p in partitions if int(p) > 0}) or list(_PARTITIONS)
    return ticks, (ticks[0] / 1.25, ticks[-1] * 1.25)


def draw(results: Mapping[str, Any], path: str | Path) -> Path:
    """Write the chart for ``results`` (as :func:`bench.rto.runner.run_bench` returns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summaries: Sequence[Mapping[str, Any]] = results["summary"]
    runs: Sequence[Mapping[str, Any]] = results["runs"]
    params = {r["label"]: (r.get("series", ""), dict(r.get("params", {}))) for r in runs}
    workloads = [w for w in ("base", "hot") if any(s["workload"] == w for s in summaries)]
    facts = results["workloads"]
    skipped: Mapping[str, Mapping[str, str]] = results.get("skipped", {})
    fig, axes = plt.subplots(len(workloads), 2, figsize=(12, 4.2 * len(workloads)), squeeze=False)
    size = results["meta"]["size"]["name"]
    ref = results.get("binlog2sql", {}).get("reference", {}).get(size)
    ticks, (left, right) = partition_axis(
        p["partitions"] for _, p in params.values() if "partitions" in p
    )
    for row, wname in enumerate(workloads):
        f = facts[wname]
        title = f"{wname}: {f['changes']:,} changes over {f['keys']:,} keys"
        for col, metric in enumerate(("median_s", "changes_per_s")):
            ax = axes[row][col]
            lines: dict[tuple[str, int], list[tuple[int, float]]] = {}
            for s in summaries:
                if s["workload"] != wname or s[metric] is None:
                    continue
                series, p = params.get(s["label"], ("", {}))
                value = float(s[metric])
                if "partitions" in p:
                    key = (series, int(p.get("workers", 1)))
                    lines.setdefault(key, []).append((int(p["partitions"]), value))
                else:
                    color = _COLORS.get(series)
                    style = (
                        "--" if series == "raw_apply" and "2conn" not in s["contender"] else "-."
                    )
                    ax.axhline(value, color=color, linestyle=style, label=s["contender"])
                    ax.annotate(
                        _fmt(value, metric),
                        (right, value),
                        fontsize=7,
                        color=color or "0.2",
                        ha="right",
                        va="bottom",
                    )
            for (series, workers), pts in sorted(lines.items()):
                pts.sort()
                ax.plot(
                    [x for x, _ in pts],
                    [y for _, y in pts],
                    marker="o",
                    label=f"{series} {workers} worker{'s' if workers > 1 else ''}",
                )
            if ref and wname == "base":
                value = ref["seconds"] if metric == "median_s" else ref["changes"] / ref["seconds"]
                ax.axhline(
                    value,
                    color=_COLORS["binlog2sql"],
                    linestyle=":",
                    label="binlog2sql (services.md, not run here)",
                )
                ax.annotate(
                    _fmt(value, metric),
                    (right, value),
                    fontsize=7,
                    color=_COLORS["binlog2sql"],
                    ha="right",
                    va="bottom",
                )
            notes = [] if lines else ["tiundo end to end: not measured in this run"]
            notes += [f"{k}: skipped ({why})" for k, why in skipped.get(wname, {}).items()]
            if notes:
                ax.text(
                    0.5,
                    0.04,
                    "\n".join(notes),
                    transform=ax.transAxes,
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color="0.4",
                )
            plotted = [float(v) for ln in ax.get_lines() for v in ln.get_ydata()]
            if plotted:
                ax.set_ylim(min(plotted) / 3, max(plotted) * 3)
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.set_xlim(left, right)
            ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
            ax.set_xlabel("Kafka partitions")
            if metric == "median_s":
                ax.set_yscale("log")
                ax.set_ylabel("RTO, median seconds (log)")
            else:
                ax.set_yscale("log")
                ax.set_ylabel("changes undone per second (log)")
            ax.set_title(title, fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8, loc="best")
    fig.suptitle(
        f"tiundo RTO benchmark, size {size} ({results['meta']['cores']} cores, "
        f"MariaDB {results['meta']['mariadb']})",
        fontsize=11,
    )
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
