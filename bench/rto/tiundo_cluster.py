"""The fake downstream cluster tiundo's contender undoes, as one long-lived process per workload.

Seeding the history into the fake cluster's MVCC store takes 43 s and 640 MiB at full size, so
it is done once per workload, not per repeat: the first tiundo run of a workload starts
``python -m bench.rto.tiundo_cluster`` (its own session, so it outlives that run), which

1. reads the workload's :class:`~bench.rto.contenders.BenchEnv` (pickled by the contender),
2. seeds the history (:func:`bench.rto.mvcc_feed.seed_mvcc`) and starts PD, the TiKV stores
   and the TiDB status API on loopback,
3. writes TiCDC's syncpoint table into ``<db>_cdc`` with ``secondary_ts`` = the history's T
   (where ``tiundo run`` reads T from, as on a real downstream),
4. publishes its addresses in a JSON file (:class:`ClusterInfo`) and serves until its owner
   (the harness) exits, the workload's directory is removed (the harness's end) or SIGTERM (the
   next workload's cluster replaces it); then it drops ``<db>_cdc``.

The cluster never changes after seeding (tiundo writes only to MariaDB), so every repeat
reads the same ``(T, E]``; each job takes its own E from PD after the whole history.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pickle
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.rto.contenders import BenchEnv
from bench.rto.db import connect, drop_database
from bench.rto.mvcc_feed import seed_mvcc
from bench.rto.procs import self_peak_kib
from simulator.cluster import FakeCluster
from simulator.syncpoint import create_statements, insert_statement

__all__ = ["ClusterInfo", "read_info", "sp_db_of"]

STORES = 3
RESOLVED_TS_INTERVAL_S = 0.1
CHANGEFEED = "bench-rto"


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """Where a seeded cluster serves and what it holds (the JSON file it publishes)."""

    pid: int
    workdir: str
    pd: str
    status_api: str
    sp_db: str
    t_ts: int
    last_commit_ts: int
    txns: int
    seed_s: float
    rss_kib: int

    def to_json(self) -> str:
        """The file's text."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ClusterInfo:
        """Parse the file's text (ValueError/TypeError/KeyError on a bad one)."""
        return cls(**json.loads(text))


def read_info(path: Path) -> ClusterInfo | None:
    """The published info, or None when absent or unreadable (half written, old format)."""
    try:
        return ClusterInfo.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None


def sp_db_of(env: BenchEnv) -> str:
    """The schema of the syncpoint table (and tiundo's progress counters) for ``env``."""
    return f"{env.db}_cdc"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _serving(owner: int, workdir: str) -> bool:
    """Keep serving: the harness lives and has not removed the workload's directory."""
    return _alive(owner) and Path(workdir).exists()


def _unpublish(info_path: Path) -> None:
    """Remove the info file if it is still ours (a successor may have replaced it)."""
    current = read_info(info_path)
    if current is not None and current.pid == os.getpid():
        info_path.unlink(missing_ok=True)


async def _write_syncpoint(env: BenchEnv, sp_db: str, t_ts: int) -> None:
    conn = await connect(env.mysql)
    try:
        await drop_database(conn, sp_db)
        async with conn.cursor() as cur:
            for sql in create_statements(sp_db):
                await cur.execute(sql)
            # primary_ts: the upstream point; the bench has no upstream, T stands in for it
            await cur.execute(insert_statement(sp_db), ("bench", CHANGEFEED, str(t_ts), str(t_ts)))
    finally:
        conn.close()


async def host(env: BenchEnv, info_path: Path, owner: int) -> None:
    """Seed, serve, publish, wait (module docstring)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    t0 = time.perf_counter()
    cluster = FakeCluster(stores=STORES, resolved_ts_interval=RESOLVED_TS_INTERVAL_S)
    window = seed_mvcc(cluster.mvcc, cluster.catalog, env.tables, env.rows_at_t(), env.iter_txns())
    for table in window.infos:  # the region split per table a write_txn would have triggered
        cluster.ensure_table(table.id)
    seed_s = time.perf_counter() - t0
    sp_db = sp_db_of(env)
    await cluster.start()
    try:
        await _write_syncpoint(env, sp_db, window.t_ts)
        info = ClusterInfo(
            pid=os.getpid(),
            workdir=env.workdir,
            pd=f"pd://{cluster.pd_address}",
            status_api=f"http://{cluster.status_address}",
            sp_db=sp_db,
            t_ts=window.t_ts,
            last_commit_ts=window.last_commit_ts,
            txns=window.txns,
            seed_s=round(seed_s, 2),
            rss_kib=self_peak_kib(),
        )
        tmp = info_path.with_suffix(".tmp")
        tmp.write_text(info.to_json())
        tmp.replace(info_path)  # readers never see half a file
        print(f"cluster for {env.workload} seeded in {seed_s:.1f}s: {info}", flush=True)
        while not stop.is_set() and _serving(owner, env.workdir):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        with contextlib.suppress(Exception):
            conn = await connect(env.mysql)
            try:
                await drop_database(conn, sp_db)
            finally:
                conn.close()
        await cluster.stop()
        _unpublish(info_path)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.rto.tiundo_cluster --env PICKLE --info JSON --owner PID``."""
    p = argparse.ArgumentParser(prog="python -m bench.rto.tiundo_cluster")
    p.add_argument("--env", required=True, help="pickled BenchEnv of the workload")
    p.add_argument("--info", required=True, help="where to publish the cluster's addresses")
    p.add_argument("--owner", type=int, required=True, help="exit when this pid is gone")
    a = p.parse_args(argv)
    env = pickle.loads(Path(a.env).read_bytes())
    if not isinstance(env, BenchEnv):
        raise SystemExit(f"{a.env}: not a BenchEnv")
    asyncio.run(host(env, Path(a.info), a.owner))
    return 0


if __name__ == "__main__":
    sys.exit(main())
