"""The fake cluster of one chaos run, as a process, with a control port for its faults.

``python -m bench.chaos.cluster_host --db D --seed S …`` starts three PD members, three TiKV
stores and the TiDB status API (as ``scripts/demo.py cluster`` does), drives the run's seeded
workload on MariaDB and the cluster in step (rows, transactions, a syncpoint = T, more
transactions, torn multi-table ones, hot keys), and keeps the truth for the oracle in MariaDB:

- ``<D>_t``: every table as it was at T (copied right after the syncpoint, where the workload
  checked that MariaDB, its model and the MVCC store at T agree);
- ``<D>_pre``: every table as the disaster left it (the non-selected ones must stay so).

It then writes the env file (``TIUNDO_*`` for tiundo, ``CHAOS_CONTROL`` = its control port,
``CHAOS_ROWID_TIDS``) and serves one-line commands on the control port until SIGTERM: the TiKV
faults of :mod:`simulator.faults`, PD leader changes (``pd-leader move|stop/N``), the foreign
writer (``foreign``: one transaction on the fence tables, as the demo's SIGUSR1) and, with
``--proxy``, a lost COMMIT acknowledgement (``commit-ack-lost`` arms it for the next undo
transaction; ``ack-cuts`` says how many were cut; tiundo's downstream then goes through
:class:`bench.chaos.ackproxy.AckProxy`). Each command is answered by one line, ``ok …``,
``none …`` (no target now: ask again later) or ``error …``. tiundo gets every PD member's
address (``TIUNDO_PD=pd://a,b,c``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bench.chaos.ackproxy import AckProxy
from bench.chaos.plan import ALL_TABLES, FENCE_TABLES, LOCK_TABLE, ROWID_TABLES
from core.sqlident import quote_ident
from simulator.cdc_delegate import ErrorKind
from simulator.cluster import FakeCluster
from simulator.regions import Region, record_key
from simulator.workload import Update, Workload, WorkloadConfig

__all__ = ["main"]

HANDLE_STEP = 50
#: a stopped PD member starts again this long after its stop
PD_DOWN_S = 10.0


def mysql_params(url: str) -> dict[str, Any]:
    """aiomysql/pymysql connect arguments of a ``mysql://`` URL (no database)."""
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
    }


async def _copy_tables(admin: Any, src: str, dst: str, tables: list[str]) -> None:
    """``dst`` := a copy of ``src``'s ``tables`` (rows and definitions)."""
    q = quote_ident
    async with admin.cursor() as cur:
        await cur.execute(f"DROP DATABASE IF EXISTS {q(dst)}")
        await cur.execute(f"CREATE DATABASE {q(dst)}")
        for t in tables:
            await cur.execute(f"CREATE TABLE {q(dst)}.{q(t)} LIKE {q(src)}.{q(t)}")
            await cur.execute(f"INSERT INTO {q(dst)}.{q(t)} SELECT * FROM {q(src)}.{q(t)}")


def _write(path: Path, text: str) -> None:
    """Atomically (the runner polls for the file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


class Control:
    """The faults one command line can ask for (see the module docstring)."""

    def __init__(
        self,
        cluster: FakeCluster,
        w: Workload,
        selected: list[str],
        proxy: AckProxy | None = None,
    ) -> None:
        self.cluster = cluster
        self.w = w
        self.selected = selected
        self.proxy = proxy
        self._later: list[asyncio.Task[None]] = []

    def _regions(self) -> list[Region]:
        """Regions holding records of the selected tables, by id."""
        found: dict[int, Region] = {}
        for name in self.selected:
            info = self.w.table_info(name)
            for pid in info.physical_ids():
                for h in (0, HANDLE_STEP + 1):
                    r = self.cluster.regions.locate_raw(record_key(pid, h))
                    found[r.id] = r
        return [found[k] for k in sorted(found)]

    def _after(self, seconds: float, undo: Callable[[], Awaitable[None] | None]) -> None:
        async def later() -> None:
            await asyncio.sleep(seconds)
            res = undo()
            if res is not None:
                await res

        self._later.append(asyncio.create_task(later()))

    def _lock_mutations(self, pick: int, n: int = 2) -> tuple[list[Any], list[bytes]]:
        """Re-writes of up to ``n`` current rows of the lock table: a lock that changes no data.

        Rows another held or orphan lock still holds are skipped (a second prewrite there
        would be refused, as TiKV refuses it).
        """
        rows = self.w.rows(LOCK_TABLE)
        rng = random.Random(pick)
        ops: list[Update] = []
        for i in rng.sample(sorted(rows), len(rows)):
            op = Update(LOCK_TABLE, i, i, rows[i], rows[i])
            if all(self.cluster.mvcc.lock(m.key) is None for m in self.w.mutations([op])):
                ops.append(op)
                if len(ops) == n:
                    break
        muts = self.w.mutations(ops)
        return muts, [m.key for m in muts]

    async def handle(self, words: list[str]) -> str:
        """Run one command; the answer line."""
        f = self.cluster.faults
        cmd, args = words[0], words[1:]
        pick = int(args[-1]) if args and args[-1].isdigit() else 0
        if cmd == "foreign":
            await _reconnect(self.w.conn)  # the run's MariaDB may have restarted since
            res = await self.w.step(FENCE_TABLES)
            return f"ok commit_ts={res.commit_ts}"
        if cmd == "pd-leader":
            return await self._pd_leader(args[0])
        if cmd == "commit-ack-lost":
            if self.proxy is None:
                return "error the host runs without --proxy"
            self.proxy.arm()  # the next undo transaction's COMMIT loses its ack
            return f"ok armed ({self.proxy.cut} cut before)"
        if cmd == "ack-cuts":
            return f"ok {0 if self.proxy is None else self.proxy.cut}"
        if cmd == "region-error":
            regions = self._regions()
            r = regions[pick % len(regions)]
            n = f.fail_region(r.id, ErrorKind(args[0]))
            return f"ok region {r.id}: {n} subscription(s)"
        if cmd == "split-scan":
            names = [t for t in self.selected if t not in ROWID_TABLES]
            name = names[pick % len(names)]
            pid = min(self.w.table_info(name).physical_ids())
            key = record_key(pid, HANDLE_STEP // 2)
            r = self.cluster.regions.locate_raw(key)
            f.split_during_scan(r.id, key, after_messages=1)
            return f"ok region {r.id} of {name} splits during its scan"
        if cmd == "leader-move":
            regions = self._regions()
            r = regions[pick % len(regions)]
            return f"ok region {r.id} leader -> store {f.move_leader(r.id)}"
        if cmd == "store-restart":
            seconds, sid = float(args[0]), 1 + pick % len(self.cluster.tikv_servers)
            await f.stop_store(sid)
            self._after(seconds, lambda: f.restart_store(sid))
            return f"ok store {sid} down for {seconds:g} s"
        if cmd == "duplicate":
            f.duplicate_events(True)
            self._after(float(args[0]), lambda: f.duplicate_events(False))
            return "ok"
        if cmd == "delay":
            sid = 1 + pick % len(self.cluster.tikv_servers)
            f.delay_resolved_ts(0.5)
            f.slow_stream(sid, 0.05)

            def clear() -> None:
                f.delay_resolved_ts(0)
                f.slow_stream(sid, 0)

            self._after(float(args[0]), clear)
            return f"ok ticks +0.5 s, store {sid} slow"
        if cmd == "held-lock":
            muts, keys = self._lock_mutations(pick)
            start_ts = f.hold_lock(muts, ttl_ms=600_000)

            def release() -> None:
                f.release_lock(start_ts, keys, commit=False)

            self._after(float(args[0]), release)
            return f"ok lock start_ts={start_ts} on {len(keys)} key(s)"
        if cmd == "orphan-lock":
            how = args[0]
            if how.startswith("async-"):  # a primary and 2 secondaries, one maybe missing
                muts, _keys = self._lock_mutations(pick, 3)
                o = f.orphan_async_commit(muts, missing_secondary=how == "async-rollback")
            else:
                muts, _keys = self._lock_mutations(pick)
                o = f.orphan_lock(muts, ttl_ms=1, commit_primary=how == "commit")
            return f"ok orphan {how} start_ts={o.start_ts} commit_ts={o.commit_ts}"
        return f"error unknown command {cmd!r}"

    async def _pd_leader(self, how: str) -> str:
        """``move``: the next member leads; ``stop/N``: the leader stops, another is elected
        N s later, the stopped one restarts :data:`PD_DOWN_S` s after its stop."""
        f, shared = self.cluster.faults, self.cluster.pd_shared
        old = shared.leader
        if how == "move":
            return f"ok PD leader {old} -> {f.move_pd_leader()}"
        if old is None:
            return "none: no PD member leads now"
        elect = float(how.split("/", 1)[1])
        await f.stop_pd(old, elect_after=elect)
        self._after(PD_DOWN_S, lambda: f.restart_pd(old))
        return f"ok PD leader {old} stopped, election after {elect:g} s"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One command per line, one answer per line."""
        try:
            while line := await reader.readline():
                words = line.decode().split()
                if not words:
                    continue
                try:
                    answer = await self.handle(words)
                except Exception as exc:  # the answer names it
                    answer = f"error {type(exc).__name__}: {exc}"
                writer.write(answer.encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    async def close(self) -> None:
        """Cancel pending fault ends (the cluster is stopping)."""
        for t in self._later:
            t.cancel()
        await asyncio.gather(*self._later, return_exceptions=True)


async def _reconnect(conn: Any) -> None:
    """Open ``conn`` again if its server went away (its session settings restored)."""
    try:
        await conn.ping(reconnect=False)
    except Exception:
        await conn.ping(reconnect=True)
        async with conn.cursor() as cur:
            await cur.execute("SET SESSION time_zone = '+00:00'")
        await conn.commit()


async def host(args: argparse.Namespace) -> None:
    """Cluster + workload + truth copies + env file, then the control port until SIGTERM."""
    import aiomysql

    warnings.filterwarnings("ignore", module="aiomysql")
    m = mysql_params(args.mysql)
    db, sp_db = args.db, f"{args.db}_cdc"
    selected = [t for t in args.selected.split(",") if t]
    admin = await aiomysql.connect(**m, autocommit=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cluster = FakeCluster(
        stores=3,
        regions_per_table=2,
        resolved_ts_interval=0.2,
        handle_step=HANDLE_STEP,
        pd_members=args.pd_members,
    )
    conn = None
    proxy = None
    try:
        async with admin.cursor() as cur:
            for name in (db, sp_db, f"{db}_t", f"{db}_pre"):
                await cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
            await cur.execute(f"CREATE DATABASE {quote_ident(db)}")
        await cluster.start()
        conn = await aiomysql.connect(**m, db=db, autocommit=False, charset="utf8mb4")
        cfg = WorkloadConfig(
            seed=args.seed,
            syncpoint_db=sp_db,
            initial_rows=args.rows,
            hot_keys=args.hot_keys,
            hot_ratio=args.hot_ratio,
        )
        w = Workload(conn, db, cluster.mvcc, cluster.catalog, cfg)
        await w.setup()
        await w.load()
        await w.run(args.txns)
        await w.take_syncpoint()
        await _copy_tables(admin, db, f"{db}_t", list(ALL_TABLES))
        await w.run(args.txns)
        for _ in range(args.tears):
            await w.tear()
            await w.run(max(1, args.txns // 10))
        await _copy_tables(admin, db, f"{db}_pre", list(ALL_TABLES))
        down_host, down_port = m["host"], m["port"]
        if args.proxy:
            proxy = AckProxy(down_host, down_port)
            down_host, down_port = "127.0.0.1", await proxy.start()
        control = Control(cluster, w, selected, proxy)
        server = await asyncio.start_server(control.serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"mysql://{m['user']}:{m['password']}@{down_host}:{down_port}/{sp_db}"
        rowid = [str(w.table_info(t).id) for t in ROWID_TABLES]
        env = {
            "TIUNDO_PD": "pd://" + ",".join(cluster.pd_addresses),
            "TIUNDO_STATUS_API": f"http://{cluster.status_address}",
            "TIUNDO_DOWNSTREAM": url,
            "TIUNDO_SYNCPOINT_DB": sp_db,
            "TIUNDO_TABLES": ",".join(f"{db}.{t}" for t in selected),
            "TIUNDO_DIALECT": "mysql",
            "CHAOS_CONTROL": str(port),
            "CHAOS_ROWID_TIDS": ",".join(rowid),
            "CHAOS_PID": str(os.getpid()),
        }
        _write(Path(args.env_file), "".join(f"{k}={v}\n" for k, v in env.items()))
        async with server:
            await stop.wait()
            await control.close()
    finally:
        if proxy is not None:
            await proxy.close()
        if conn is not None:
            conn.close()
        admin.close()
        await cluster.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.chaos.cluster_host …`` (started by the runner)."""
    p = argparse.ArgumentParser(prog="python -m bench.chaos.cluster_host", description=__doc__)
    p.add_argument("--mysql", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--txns", type=int, required=True)
    p.add_argument("--tears", type=int, required=True)
    p.add_argument("--hot-keys", type=int, default=3)
    p.add_argument("--hot-ratio", type=float, default=0.3)
    p.add_argument("--selected", required=True, help="comma-separated table names")
    p.add_argument("--env-file", required=True)
    p.add_argument("--pd-members", type=int, default=3)
    p.add_argument("--proxy", action="store_true", help="downstream through an AckProxy")
    args = p.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(host(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
