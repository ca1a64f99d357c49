"""The one-command demo (``make demo``): a torn downstream rewound to its last syncpoint.

``python scripts/demo.py`` (what ``make demo`` runs after ``make services``):

1. starts the fake downstream cluster (PD, 3 TiKV stores, TiDB status API) in a child process
   (``python scripts/demo.py cluster``) that also drives a seeded workload on MariaDB and the
   cluster in step: initial rows, random transactions, a TiCDC-style syncpoint (T, with every
   table's checksum recorded in an ``--expect`` file), then more writes and torn multi-table
   transactions — the downstream a dying changefeed leaves behind;
2. runs ``tiundo plan``, ``tiundo run`` (ingest + 2 Faust workers, live progress) and
   ``tiundo verify --expect``, exactly as a DBA would, each as its own process;
3. prints the timings and stops the cluster; Kafka and MariaDB keep running for further
   tries (``make stop`` stops them).

Settings: ``TIUNDO_MYSQL`` (MariaDB admin URL, as for the tests), ``TIUNDO_KAFKA``,
``DEMO_ROWS``/``DEMO_TXNS``/``DEMO_SEED`` (size of the workload).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_MYSQL = "mysql://tiundo:tiundo@127.0.0.1:3306/tiundo_test"


def _mysql(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
    }


# ---- the cluster process ------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    """Write atomically (the demo polls for the env file: it must never see half of it)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


async def host_cluster(args: argparse.Namespace) -> None:
    """Fake cluster + workload; write the env and expect files; serve until SIGTERM."""
    import warnings

    import aiomysql

    warnings.filterwarnings("ignore", module="aiomysql")  # "database doesn't exist" notes

    from simulator.cluster import FakeCluster
    from simulator.workload import Workload, WorkloadConfig

    m = _mysql(args.mysql)
    db, sp_db = args.db, f"{args.db}_cdc"
    admin = await aiomysql.connect(**m, autocommit=True)
    try:
        async with admin.cursor() as cur:
            for name in (db, sp_db):
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            await cur.execute(f"CREATE DATABASE `{db}`")
    finally:
        admin.close()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cluster = FakeCluster(
        stores=3, regions_per_table=2, resolved_ts_interval=0.2, handle_step=args.rows // 2 or 1
    )
    await cluster.start()
    conn = await aiomysql.connect(**m, db=db, autocommit=False, charset="utf8mb4")
    try:
        cfg = WorkloadConfig(seed=args.seed, syncpoint_db=sp_db, initial_rows=args.rows)
        w = Workload(conn, db, cluster.mvcc, cluster.catalog, cfg)
        t0 = time.monotonic()
        await w.setup()
        await w.load()
        await w.run(args.txns)
        sp = await w.take_syncpoint()
        await w.run(args.txns)
        for _ in range(args.tears):
            await w.tear()
            await w.run(max(1, args.txns // 10))
        after = await w.checksums()
        changed = sorted(n for n, c in after.items() if c != sp.checksums[n])
        if args.ddl_after_t:
            _ddl_after_t(cluster, db, args.ddl_after_t)
        after_t = [h for h in w.history if h.commit_ts > sp.ts and h.record_keys]
        expect = {
            "db": db,
            "target_ts": sp.ts,
            "primary_ts": sp.primary_ts,
            # what an undo to T reverts (the RPO's changes and transactions undone)
            "changes_after_t": sum(h.record_keys for h in after_t),
            "transactions_after_t": len(after_t),
            "tables": {
                n: {"rows": c.rows, "digest": c.digest, "checksum": c.checksum}
                for n, c in sp.checksums.items()
            },
        }
        _write(Path(args.expect), json.dumps(expect, indent=1, sort_keys=True))
        # the path names the schema the syncpoint table is read from (ingest connects to it)
        url = f"mysql://{m['user']}:{m['password']}@{m['host']}:{m['port']}/{sp_db}"
        env = {
            "TIUNDO_PD": f"pd://{cluster.pd_address}",
            "TIUNDO_STATUS_API": f"http://{cluster.status_address}",
            "TIUNDO_DOWNSTREAM": url,
            "TIUNDO_SYNCPOINT_DB": sp_db,
            "TIUNDO_TABLES": f"{db}.*",
            "TIUNDO_DIALECT": "mysql",
            "DEMO_TXNS_TOTAL": str(len(w.history)),
            "DEMO_TABLES_CHANGED": ",".join(changed),
            "DEMO_WORKLOAD_S": f"{time.monotonic() - t0:.1f}",
            "DEMO_PID": str(os.getpid()),
        }
        _write(Path(args.env_file), "".join(f"{k}={v}\n" for k, v in env.items()))
        # SIGUSR1: another writer commits one more transaction (tests of the fence), to tables
        # keyed by primary key: their undo never expects a row count, so the foreign row cannot
        # make the undo fail, and the job must say "succeeded, but written by others" (exit 5)
        writes: list[asyncio.Future[Any]] = []
        loop.add_signal_handler(
            signal.SIGUSR1,
            lambda: writes.append(asyncio.ensure_future(w.step(FENCE_TABLES))),
        )
        if args.ddl_on_usr2:  # SIGUSR2: a DDL lands (tests of a schema change after the checks)
            if cluster.catalog.table(db, args.ddl_on_usr2) is None:
                raise SystemExit(f"--ddl-on-usr2: no table {db}.{args.ddl_on_usr2}")
            loop.add_signal_handler(
                signal.SIGUSR2, lambda: _comment_ddl(cluster, db, args.ddl_on_usr2)
            )
        await stop.wait()
        await asyncio.gather(*writes)
    finally:
        conn.close()
        await cluster.stop()


#: tables another writer writes on SIGUSR1 (cluster mode): primary-key tables of demo_tables()
FENCE_TABLES = ("all_types", "unsigned_pk")


def _ddl_after_t(cluster: Any, db: str, table: str) -> None:
    """A finished ``MODIFY COLUMN`` job on ``db.table`` after T, as TiDB's DDL history lists it."""
    if cluster.catalog.table(db, table) is None:
        raise SystemExit(f"--ddl-after-t: no table {db}.{table}")
    start = cluster.tso.next()
    cluster.status_api.finish_ddl(
        db, table, job_type=12,  # model.ActionModifyColumn
        query=f"ALTER TABLE `{db}`.`{table}` MODIFY COLUMN c1 BIGINT",
        start_ts=start, finished_ts=cluster.tso.next(),
    )  # fmt: skip


def _comment_ddl(cluster: Any, db: str, table: str) -> None:
    """``ALTER TABLE … COMMENT`` on ``db.table`` now: its schema version moves.

    Its columns do not (rows still decode), so only the version tells the schema is not the
    one the job was pinned with.
    """
    start = cluster.tso.next()
    cluster.status_api.finish_ddl(
        db, table, job_type=17,  # model.ActionModifyTableComment
        query=f"ALTER TABLE `{db}`.`{table}` COMMENT = 'changed'",
        start_ts=start, finished_ts=cluster.tso.next(), extra={"comment": "changed"},
    )  # fmt: skip


# ---- the demo -----------------------------------------------------------------------------


def _read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        out[key] = value
    return out


def _step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def _tiundo(args: list[str], env: dict[str, str]) -> tuple[int, float]:
    cmd = [sys.executable, "-m", "app.cli", *args]
    print("$ tiundo " + " ".join(args), flush=True)
    t0 = time.monotonic()
    rc = subprocess.call(cmd, env=env, cwd=ROOT)
    return rc, time.monotonic() - t0


def demo(args: argparse.Namespace) -> int:
    """Run the whole demo; return the exit status."""
    work = ROOT / ".run" / "demo"
    work.mkdir(parents=True, exist_ok=True)
    env_file, expect = work / "cluster.env", work / "expect.json"
    env_file.unlink(missing_ok=True)
    t_start = time.monotonic()
    _step("1. fake downstream cluster + workload (MariaDB + PD/TiKV/TiDB-status on loopback)")
    cluster = subprocess.Popen(
        [sys.executable, __file__, "cluster", "--env-file", str(env_file),
         "--expect", str(expect), "--mysql", args.mysql, "--rows", str(args.rows),
         "--txns", str(args.txns), "--seed", str(args.seed)],
        cwd=ROOT,
    )  # fmt: skip
    timings: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists():
            if cluster.poll() is not None:
                print("demo: the cluster process failed (see above)", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print("demo: the cluster did not come up in 120 s", file=sys.stderr)
                return 1
            time.sleep(0.2)
        cenv = _read_env(env_file)
        timings["workload"] = time.monotonic() - t_start
        print(
            f"workload: {cenv['DEMO_TXNS_TOTAL']} transactions in {cenv['DEMO_WORKLOAD_S']} s; "
            f"syncpoint taken, then more writes and torn transactions; tables now different "
            f"from T: {cenv['DEMO_TABLES_CHANGED']}"
        )
        print(f"cluster: PD {cenv['TIUNDO_PD']}, status API {cenv['TIUNDO_STATUS_API']}")
        env = {**os.environ, **{k: v for k, v in cenv.items() if k.startswith("TIUNDO_")}}
        env["TIUNDO_KAFKA"] = args.kafka
        env["TIUNDO_PARTITIONS"] = "4"
        env["TIUNDO_SESSION_TIMEOUT_S"] = "6"
        env["PYTHONPATH"] = str(ROOT)
        job = "demo-" + time.strftime("%Y%m%d-%H%M%S")

        _step("2. tiundo verify (before: the downstream is torn, so this must fail)")
        rc, _ = _tiundo(["verify", "--expect", str(expect)], env)
        if rc == 0:
            print("demo: the workload left the tables at T; nothing to show", file=sys.stderr)
            return 1

        _step("3. tiundo plan (T from the syncpoint table, E from PD, rows per table; no writes)")
        rc, timings["plan"] = _tiundo(["plan", "--writer-check", "1"], env)
        if rc != 0:
            return rc

        _step("4. tiundo run (ingest + 2 Faust workers, live progress, report)")
        rc, timings["run"] = _tiundo(
            ["run", "--job", job, "--workers", "2", "--writer-check", "1",
             "--job-dir", str(work / job)], env,
        )  # fmt: skip
        if rc != 0:
            return rc

        _step("5. tiundo verify (every table against its checksum at T)")
        rc, timings["verify"] = _tiundo(["verify", "--expect", str(expect)], env)
        if rc != 0:
            return rc
        _step("done")
        total = time.monotonic() - t_start
        print(
            f"timings: workload {timings['workload']:.1f} s, plan {timings['plan']:.1f} s, "
            f"run {timings['run']:.1f} s, verify {timings['verify']:.1f} s; demo {total:.1f} s"
        )
        print(
            "the fake cluster is stopped; Kafka and MariaDB keep running (make stop stops them); "
            f"job files under {work}"
        )
        return 0
    finally:
        if cluster.poll() is None:
            cluster.send_signal(signal.SIGTERM)
            try:
                cluster.wait(20)
            except subprocess.TimeoutExpired:
                cluster.kill()


def main(argv: list[str] | None = None) -> int:
    """``demo.py [cluster ...]``."""
    p = argparse.ArgumentParser(prog="scripts/demo.py", description=__doc__.splitlines()[0])
    p.add_argument("mode", nargs="?", default="demo", choices=["demo", "cluster"])
    p.add_argument("--mysql", default=os.environ.get("TIUNDO_MYSQL") or DEFAULT_MYSQL)
    p.add_argument("--kafka", default=os.environ.get("TIUNDO_KAFKA") or "127.0.0.1:9092")
    p.add_argument("--db", default="tiundo_demo")
    p.add_argument("--rows", type=int, default=int(os.environ.get("DEMO_ROWS", "200")))
    p.add_argument("--txns", type=int, default=int(os.environ.get("DEMO_TXNS", "300")))
    p.add_argument("--tears", type=int, default=5)
    p.add_argument("--seed", type=int, default=int(os.environ.get("DEMO_SEED", "2024")))
    p.add_argument("--env-file", default="")
    p.add_argument("--expect", default="")
    p.add_argument(
        "--ddl-after-t",
        default="",
        metavar="TABLE",
        help="cluster mode: the DDL history shows a column-type change of TABLE after T",
    )
    p.add_argument(
        "--ddl-on-usr2",
        default="",
        metavar="TABLE",
        help="cluster mode: on SIGUSR2, an ALTER TABLE … COMMENT of TABLE moves its schema version",
    )
    args = p.parse_args(argv)
    if args.mode == "cluster":
        asyncio.run(host_cluster(args))
        return 0
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
