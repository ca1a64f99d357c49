"""``python -m bench.rto [--size small|full] [--repeats N] …``: run the RTO benchmark."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bench.rto.config import SIZES, BenchConfig
from bench.rto.runner import run_bench, write_results


def _parser() -> argparse.ArgumentParser:
    d = BenchConfig(SIZES["small"])
    p = argparse.ArgumentParser(prog="python -m bench.rto", description=__doc__)
    p.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="small",
        help="small: 100k changes over 20k rows; full: 1M over 200k; huge: 10M over 2M "
        "(default small)",
    )
    p.add_argument("--repeats", type=int, default=d.repeats, help="runs per contender (median)")
    p.add_argument(
        "--hot-factor",
        type=int,
        default=d.hot_factor,
        help="events vs distinct keys: N x the changes on the same keys (0 = off)",
    )
    p.add_argument(
        "--hot-repeats",
        type=int,
        default=d.hot_repeats,
        help="runs per contender on the hot workload",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--mysql",
        default=os.environ.get("TIUNDO_MYSQL") or d.mysql_url,
        help="mysql://user:password@host:port/db (env TIUNDO_MYSQL)",
    )
    p.add_argument(
        "--db-prefix",
        default=d.db_prefix,
        help="databases <p>, <p>_t, <p>_e are created and dropped",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only contender@workload labels starting with this (repeatable)",
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        help="skip contender@workload labels starting with this (repeatable)",
    )
    p.add_argument("--workdir", default=d.workdir, help="scratch files (removed afterwards)")
    p.add_argument("--results", default=d.results, help="directory for the JSON results")
    p.add_argument("--chart", default=d.chart, help="PNG chart path ('' = none)")
    p.add_argument("--timeout", type=float, default=d.timeout_s, help="seconds per run")
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    cfg = BenchConfig(
        size=SIZES[a.size],
        mysql_url=a.mysql,
        db_prefix=a.db_prefix,
        repeats=a.repeats,
        seed=a.seed,
        hot_factor=a.hot_factor,
        hot_repeats=a.hot_repeats,
        workdir=a.workdir,
        results=a.results,
        chart=a.chart,
        only=tuple(a.only),
        skip=tuple(a.skip),
        timeout_s=a.timeout,
    )
    results = asyncio.run(run_bench(cfg))
    path = write_results(results, cfg.results)
    print(f"results: {path}")
    if cfg.chart:
        from bench.rto.chart import draw

        print(f"chart: {draw(results, cfg.chart)}")
    failed = [s for s in results["summary"] if s["failed"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
