"""``python -m ingest``: run an ingest job, or replay a recording, from the command line.

``python -m ingest run --tables 'db.*' [--to-ts T] [--end-ts E] [--record FILE] …``
``python -m ingest replay FILE [--job NAME] …``

Settings not given as flags come from the environment (``TIUNDO_PD``, ``TIUNDO_KAFKA``,
``TIUNDO_DOWNSTREAM``, ``TIUNDO_STATUS_API``, ``TIUNDO_JOB``, ``TIUNDO_PARTITIONS``). SIGTERM and
SIGINT stop the job cleanly: what was produced is flushed and the GC safepoint released. The
result is printed as one JSON line; progress goes to stderr once a second. Exit status: 0 done,
3 stopped before the end, 2 bad configuration, 1 any other failure.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

from core.errors import ConfigError, TiundoError
from ingest.config import IngestConfig
from ingest.replay import run_replay
from ingest.worker import IngestResult, IngestWorker, Progress

log = logging.getLogger("ingest")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ingest", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--kafka", help="kafka://host:port (TIUNDO_KAFKA)")
        sp.add_argument("--job", help="job name; topic <job>.kv (TIUNDO_JOB)")
        sp.add_argument("--partitions", type=int, help="partitions of <job>.kv")
        sp.add_argument("--spread", action="append", default=[], help="db.t spread by handle")
        sp.add_argument("-v", "--verbose", action="store_true")

    run = sub.add_parser("run", help="ingest (T, E] of the selected tables into <job>.kv")
    common(run)
    run.add_argument("--pd", help="pd://host:port[,host:port] (TIUNDO_PD)")
    run.add_argument("--status-api", help="http://host:port of TiDB (TIUNDO_STATUS_API)")
    run.add_argument("--downstream", help="mysql://user:pw@host:port/db (TIUNDO_DOWNSTREAM)")
    run.add_argument("--tables", action="append", required=True, help="db.t or db.* (repeat)")
    run.add_argument("--to-ts", type=int, help="T (default: newest syncpoint secondary_ts)")
    run.add_argument("--end-ts", type=int, help="E (default: a PD TSO at start)")
    run.add_argument("--changefeed", help="only syncpoints of this changefeed")
    run.add_argument("--syncpoint-db", help="schema of syncpoint_v1 (default tidb_cdc)")
    run.add_argument("--record", type=Path, help="write the raw EventFeed stream to FILE")

    rep = sub.add_parser("replay", help="push a recording into <job>.kv, no cluster needed")
    common(rep)
    rep.add_argument("file", type=Path)
    return p


def _config(args: argparse.Namespace) -> IngestConfig:
    overrides: dict[str, Any] = {
        "kafka": args.kafka,
        "job": args.job,
        "partitions": args.partitions,
        "spread_tables": tuple(args.spread) or None,
    }
    if args.command == "run":
        overrides.update(
            pd=args.pd,
            status_api=args.status_api,
            downstream=args.downstream,
            tables=tuple(args.tables),
            to_ts=args.to_ts,
            end_ts=args.end_ts,
            changefeed=args.changefeed,
            syncpoint_db=args.syncpoint_db,
            record=args.record,
        )
    return IngestConfig.from_env(**overrides)


def _print_progress(p: Progress) -> None:
    print(
        f"[{p.state}] regions {p.regions_initialized}/{p.regions} rows {p.rows} "
        f"changes {p.changes} {p.events_per_s:,.0f} rows/s lag {p.lag_ms} ms",
        file=sys.stderr,
    )


async def _main(args: argparse.Namespace) -> IngestResult:
    config = _config(args)
    if args.command == "replay":
        return await run_replay(args.file, config)
    return await IngestWorker(config, _print_progress).run_until_signalled()


def main(argv: list[str] | None = None) -> int:
    """Parse, run, print the result as JSON; return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = asyncio.run(_main(args))
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return 2
    except TiundoError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
    print(json.dumps(dataclasses.asdict(result), default=str))
    return 0 if result.state == "done" else 3


if __name__ == "__main__":
    sys.exit(main())
