"""``python -m bench.chaos --runs N --seed S [--faults LIST] [--size tiny|small]``.

Run ``i`` (0-based) has seed ``S + i``, so ``--runs 1 --seed S+i`` (same ``--size`` and
``--faults``) replays it; a failing run prints that command. Exit 1 when any run was wrong, a
false success or hung; 2 on bad flags.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.chaos.plan import IMPLEMENTED, SIZES, draw_plan, parse_faults
from bench.chaos.report import by_kind, failed, never_struck, replay_command, run_line, summary
from bench.chaos.runner import ChaosConfig, run_one

DEFAULT_MYSQL = "mysql://tiundo:tiundo@127.0.0.1:3306/tiundo_test"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    p.add_argument("--runs", type=int, default=5, help="how many runs (default 5)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first run (default 1)")
    p.add_argument(
        "--faults",
        default="",
        help="comma-separated fault kinds to draw from (default: every implemented one: "
        + ", ".join(k.value for k in IMPLEMENTED)
        + ")",
    )
    p.add_argument("--size", choices=sorted(SIZES), default="tiny")
    p.add_argument(
        "--mysql",
        default=os.environ.get("TIUNDO_MYSQL") or DEFAULT_MYSQL,
        help="MariaDB admin URL (env TIUNDO_MYSQL)",
    )
    p.add_argument("--kafka", default=os.environ.get("TIUNDO_KAFKA") or "127.0.0.1:9092")
    p.add_argument("--workdir", default="", help="run folders (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep every run's folder, not only failing")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the soak; print a line per run, the table by fault kind and the summary."""
    args = _parser().parse_args(argv)
    try:
        kinds = parse_faults(args.faults)
        if args.runs < 1:
            raise ValueError(f"--runs {args.runs}: at least 1")
    except ValueError as exc:
        print(f"chaos: error: {exc}", file=sys.stderr)
        return 2
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tiundo-chaos-"))
    cfg = ChaosConfig(args.mysql, args.kafka, workdir, kinds, keep=args.keep)
    results = []
    t0 = time.monotonic()
    for i in range(args.runs):
        plan = draw_plan(args.seed + i, args.size, kinds)
        r = run_one(plan, cfg)
        results.append(r)
        print(f"run {i + 1}/{args.runs}: {run_line(r)}", flush=True)
        if failed(r):
            print(f"  replay: {replay_command(r, IMPLEMENTED)}", flush=True)
    print(f"\nby fault kind ({time.monotonic() - t0:.0f} s in all):")
    for line in by_kind(results):
        print("  " + line)
    print(summary(results), flush=True)
    idle = never_struck(results)
    if idle:
        print(f"chaos: never struck (the injector is broken?): {', '.join(idle)}", flush=True)
    return 1 if idle or any(failed(r) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
