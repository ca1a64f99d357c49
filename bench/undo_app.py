"""The Faust undo app alone: compaction and apply throughput with 1 or 2 real workers.

No PD, TiKV or ingest: a seeded synthetic history is encoded as the ingest worker would send
it (``tiundo.v1.Envelope`` ChangeBatch records of up to 1024 changes of one table, rows
TiDB-encoded by :mod:`core.codec`, partition by :class:`ingest.partitioner.Partitioner`, then
End on every partition) and produced to a fresh ``<job>.kv`` before any worker starts. The
schema comes from :class:`simulator.status_api.StatusApiServer`; MariaDB starts at the rows at
E; workers run ``app.main.run_worker`` in subprocesses as ``tiundo run`` starts them. Each run
ends with ``CHECKSUM TABLE`` of every table against a reference loaded with the rows at T.

Tables: ``--tables`` (default 16), the last ``--rowid-tables`` (default 2) without a primary
key (``_tidb_rowid``: one with a unique key, one without, whose phase-1 deletes are
all-column ``LIMIT 1``), the others ``id BIGINT`` primary key; payload ``a INT, b
VARCHAR(64), c DECIMAL(12,2), d DATETIME``. Keys are split evenly; every key changes at least
once (20 % absent at T, 15 % deleted by E).

Timings per run (from the partition reports and the workers' logs):

- ``ready``: worker spawn → the last worker's faust "Ready";
- ``compact``: ready → the last partition's End (everything before End was compacted);
- ``apply``: the first partition's End → the last partition's report (mount, plan, SQL);
- ``total``: spawn → the last report.

Run: ``.venv/bin/python -m bench.undo_app --changes 1000000 --keys 200000 --workers 2``
(``--runs N`` medians, ``--profile DIR`` writes one cProfile file per worker,
``--env K=V`` passes TIUNDO_* settings to the workers; MariaDB from ``TIUNDO_MYSQL``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import os
import pickle
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomysql
from aiokafka import AIOKafkaProducer

from app.cli.jobstate import delete_job_topics, read_compacted
from app.report import PartitionReport
from app.undo.sqlgen import to_param
from core.codec.keys import encode_record_key
from core.codec.mysqldef import TYPE_DATETIME
from core.codec.mytime import MyTime
from core.codec.row import encode_row
from core.codec.tableinfo import TableInfo
from core.kafka_admin import ensure_topic
from core.sqlident import quote_ident
from ingest.partitioner import Partitioner, table_key
from proto import tiundo_pb2
from simulator.catalog import Catalog
from simulator.status_api import StatusApiServer
from simulator.tabledef import ColumnDef, IndexDef, TableDef

ROOT = Path(__file__).resolve().parents[1]
DB = "tiundo_bench_app"
REF_DB = "tiundo_bench_app_ref"
BATCH_CHANGES = 1024
T_TS = 1 << 40
Row = tuple[object, ...]
_FINAL = (
    tiundo_pb2.JobStatus.SUCCEEDED,
    tiundo_pb2.JobStatus.FAILED,
    tiundo_pb2.JobStatus.INCOMPLETE,
)


# ---- data set ---------------------------------------------------------------------------------
def bench_tables(n: int, rowid: int) -> list[TableDef]:
    """``n`` tables, the last ``rowid`` of them without a primary key."""
    c = ColumnDef
    payload = (c("a", "int"), c("b", "varchar", 64), c("c", "decimal", 12, 2), c("d", "datetime"))
    out = []
    for i in range(n):
        if i < n - rowid:
            out.append(
                TableDef(DB, f"t{i:02d}", (c("id", "bigint", nullable=False), *payload), ("id",))
            )
        elif (n - i) % 2 == 0:
            uk = (IndexDef("uk_u", ("u",), unique=True),)
            out.append(
                TableDef(DB, f"r{i:02d}", (c("u", "bigint", nullable=False), *payload), indexes=uk)
            )
        else:
            ix = (IndexDef("ix_a", ("a",)),)
            cols = (c("a", "int", nullable=False), *payload[1:])
            out.append(TableDef(DB, f"r{i:02d}", cols, indexes=ix))
    return out


@dataclass(slots=True)
class DataSet:
    """Encoded records per partition, rows at T and at E per table (SQL parameters)."""

    records: list[list[bytes]]
    ends: list[bytes]
    at_t: list[list[Row]]
    at_e: list[list[Row]]
    changes: int
    keys: int


def _row(rng: random.Random, tdef: TableDef, handle: int) -> Row:
    s = rng.getrandbits(32)
    n = 4 + s % 40
    d = MyTime(
        2000 + s % 30,
        1 + (s >> 5) % 12,
        1 + (s >> 9) % 28,
        (s >> 14) % 24,
        (s >> 19) % 60,
        (s >> 25) % 60,
        0,
        TYPE_DATETIME,
        0,
    )
    a = rng.randrange(-(1 << 31), 1 << 31)
    b = f"{rng.getrandbits(4 * n):0{n}x}"
    c = Decimal(rng.randrange(-(10**11), 10**11)).scaleb(-2)
    first = tdef.columns[0].name
    if first in ("id", "u"):
        return (handle, a, b, c, d)
    return (a, b, c, d)


def generate(
    tables: Sequence[TableDef],
    infos: Sequence[TableInfo],
    partitions: int,
    n_changes: int,
    n_keys: int,
    job: str,
    seed: int,
) -> DataSet:
    """The history, encoded (see the module docstring)."""
    rng = random.Random(seed)
    n_changes = max(n_changes, n_keys)
    # changes per key: one each, the rest uniformly at random
    per_key = [1] * n_keys
    for k in rng.choices(range(n_keys), k=n_changes - n_keys):
        per_key[k] += 1
    order = list(range(n_changes))
    rng.shuffle(order)
    events: list[tuple[int, int, bytes, int, bytes, bytes]] = []  # ts, tid, key, op, new, old
    at_t: list[list[Row]] = [[] for _ in tables]
    at_e: list[list[Row]] = [[] for _ in tables]
    pos = 0
    for k in range(n_keys):
        ti = k % len(tables)
        tdef, info = tables[ti], infos[ti]
        handle = k // len(tables) + 1
        key = encode_record_key(info.id, handle)
        names = [c.name for c in tdef.columns]
        m = per_key[k]
        stamps = sorted(order[pos : pos + m])
        pos += m
        present = rng.random() < 0.8
        deleted_at_end = rng.random() < 0.15 and (present or m >= 2)
        cur: Row | None = _row(rng, tdef, handle) if present else None
        if cur is not None:
            at_t[ti].append(cur)
        cur_raw = encode_row(info, dict(zip(names, cur, strict=True))) if cur else b""
        for i, ts in enumerate(stamps):
            if i == m - 1 and deleted_at_end:
                new: Row | None = None
                new_raw = b""
            else:
                new = _row(rng, tdef, handle)
                new_raw = encode_row(info, dict(zip(names, new, strict=True)))
            op = 1 if new is not None else 2
            events.append((T_TS + 2 + 2 * ts, info.id, key, op, new_raw, cur_raw))
            cur, cur_raw = new, new_raw
        if cur is not None:
            at_e[ti].append(cur)
    events.sort()
    part = Partitioner(partitions)
    records: list[list[bytes]] = [[] for _ in range(partitions)]
    seqs = [0] * partitions
    totals = [0] * partitions
    open_: dict[int, tiundo_pb2.ChangeBatch] = {}

    def flush(tid: int) -> None:
        cb = open_.pop(tid)
        p = part.for_table(tid)
        seqs[p] += 1
        cb.seq = seqs[p]
        totals[p] += len(cb.changes)
        records[p].append(tiundo_pb2.Envelope(change_batch=cb).SerializeToString())

    for ts, tid, key, op, new_raw, old_raw in events:
        cb = open_.get(tid)
        if cb is None:
            cb = open_[tid] = tiundo_pb2.ChangeBatch(job_id=job, table_id=tid)
        cb.changes.add(
            key=key,
            start_ts=ts - 1,
            commit_ts=ts,
            op_type=op,
            value=new_raw,
            old_value=old_raw,
            region_id=1,
        )
        if len(cb.changes) >= BATCH_CHANGES:
            flush(tid)
    for tid in list(open_):
        flush(tid)
    e_ts = T_TS + 4 + 2 * n_changes
    ends = [
        tiundo_pb2.Envelope(
            end=tiundo_pb2.End(
                job_id=job,
                end_ts=e_ts,
                target_ts=T_TS,
                total_changes=totals[p],
                batches=seqs[p],
            )
        ).SerializeToString()
        for p in range(partitions)
    ]
    return DataSet(records, ends, at_t, at_e, n_changes, n_keys)


# ---- services ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Mysql:
    host: str
    port: int
    user: str
    password: str

    @classmethod
    def parse(cls, url: str) -> Mysql:
        u = urlsplit(url)
        return cls(
            u.hostname or "127.0.0.1",
            u.port or 3306,
            unquote(u.username or "root"),
            unquote(u.password or ""),
        )

    def url(self, db: str) -> str:
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{db}"


async def _connect(my: Mysql) -> Any:
    return await aiomysql.connect(
        host=my.host,
        port=my.port,
        user=my.user,
        password=my.password,
        charset="utf8mb4",
        autocommit=True,
        init_command="SET time_zone = '+00:00'",
    )


async def load(my: Mysql, db: str, tables: Sequence[TableDef], rows: Sequence[list[Row]]) -> None:
    """(Re)create ``db`` with ``tables`` holding ``rows``."""
    conn = await _connect(my)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SET SESSION sql_log_bin = 0")
            await cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(db, for_params=False)}")
            await cur.execute(f"CREATE DATABASE {quote_ident(db, for_params=False)}")
            await cur.execute(f"USE {quote_ident(db, for_params=False)}")
            for tdef, trows in zip(tables, rows, strict=True):
                tdef = dataclasses.replace(tdef, db=db)
                await cur.execute(tdef.create_sql())
                cols = ",".join(quote_ident(c.name) for c in tdef.columns)
                ph = "(" + ",".join(["%s"] * len(tdef.columns)) + ")"
                sql = f"INSERT INTO {quote_ident(tdef.name)} ({cols}) VALUES {ph}"
                for i in range(0, len(trows), 2000):
                    chunk = [tuple(to_param(v) for v in r) for r in trows[i : i + 2000]]
                    await cur.executemany(sql, chunk)
    finally:
        conn.close()


async def checksums(my: Mysql, db: str, tables: Sequence[TableDef]) -> dict[str, int]:
    """CHECKSUM TABLE of every table."""
    conn = await _connect(my)
    try:
        async with conn.cursor() as cur:
            q = functools.partial(quote_ident, for_params=False)  # CHECKSUM TABLE has no parameters
            names = ", ".join(f"{q(db)}.{q(t.name)}" for t in tables)
            await cur.execute(f"CHECKSUM TABLE {names}")
            return {str(r[0]).split(".", 1)[1]: int(r[1]) for r in await cur.fetchall()}
    finally:
        conn.close()


async def produce(bootstrap: str, topic: str, data: DataSet, partitions: int) -> float:
    """Create ``topic`` and write every record and End; return the seconds it took."""
    await ensure_topic(bootstrap, topic, partitions)
    started = time.monotonic()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=1 << 20,
        max_request_size=8 << 20,
    )
    await producer.start()
    try:
        futs = []
        for p, recs in enumerate(data.records):
            for r in recs:
                futs.append(await producer.send(topic, r, key=table_key(0), partition=p))
        for p in range(partitions):
            futs.append(await producer.send(topic, data.ends[p], key=b"end", partition=p))
        await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return time.monotonic() - started


_PLAIN = (
    "from app.config import UndoConfig; from app.main import run_worker; "
    "run_worker(UndoConfig.from_env())"
)


def spawn(
    env: dict[str, str], datadir: Path, log: Path, profile: Path | None
) -> subprocess.Popen[bytes]:
    full = {**os.environ, **env, "TIUNDO_DATADIR": str(datadir), "TIUNDO_WEB_PORT": "0"}
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _PLAIN],
            cwd=ROOT,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if profile is not None:  # py-spy (pip install py-spy): sampled stacks, collapsed format
        spy = Path(sys.executable).with_name("py-spy")
        subprocess.Popen(
            [
                str(spy),
                "record",
                "-p",
                str(proc.pid),
                "-r",
                "50",
                "-f",
                "raw",
                "-o",
                str(profile),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


_READY = re.compile(rb"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})[^\]]*\].*\[\^Worker\]: Ready")


def ready_time(log: Path) -> float | None:
    """Unix time of faust's "[^Worker]: Ready" line (local time in the log)."""
    for line in log.read_bytes().splitlines():
        m = _READY.match(line)
        if m:
            local = time.strptime(m.group(1).decode(), "%Y-%m-%d %H:%M:%S")
            return time.mktime(local) + int(m.group(2)) / 1000
    return None


# ---- one run ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunResult:
    ready: float
    compact: float
    apply: float
    total: float
    produce: float
    state: str
    consistent: bool


async def one_run(
    args: argparse.Namespace,
    tables: Sequence[TableDef],
    catalog: Catalog,
    data: DataSet,
    ref: dict[str, int],
    job: str,
    run: int,
) -> RunResult:
    my = Mysql.parse(args.mysql)
    await load(my, DB, tables, data.at_e)
    produced = await produce(args.kafka, f"{job}.kv", data, args.partitions)
    api = StatusApiServer(catalog)
    await api.start()
    work = Path(tempfile.mkdtemp(prefix=f"bench-undo-{job}-"))
    env = {
        "TIUNDO_JOB": job,
        "TIUNDO_KAFKA": f"kafka://{args.kafka}",
        "TIUNDO_DOWNSTREAM": my.url(DB),
        "TIUNDO_STATUS_API": api.url,
        "TIUNDO_PARTITIONS": str(args.partitions),
        "TIUNDO_DIALECT": "mysql",
        "TIUNDO_PROGRESS_DB": DB,
        "TIUNDO_SESSION_TIMEOUT_S": "10",
    }
    env.update(kv.split("=", 1) for kv in args.env)
    procs = []
    logs = [work / f"w{i}.log" for i in range(args.workers)]
    prof = [
        Path(args.profile) / f"{job}-w{i}.txt" if args.profile else None
        for i in range(args.workers)
    ]
    spawned = time.time()
    try:
        for i in range(args.workers):
            procs.append(spawn(env, work / f"w{i}", logs[i], prof[i]))
        deadline = time.monotonic() + args.timeout
        status = None
        while time.monotonic() < deadline:
            notes = await read_compacted(args.kafka, f"{job}.status")
            if job.encode() in notes:
                status = tiundo_pb2.JobStatus.FromString(notes[job.encode()])
                if status.state in _FINAL:
                    break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker exited: " + logs[0].read_text()[-3000:])
            await asyncio.sleep(0.25)
        else:
            raise TimeoutError(f"no final status in {args.timeout} s (see {work})")
        progress = await read_compacted(args.kafka, f"{job}.progress")
    finally:
        for p in procs:
            stop(p)
        await api.stop()
    reports = [PartitionReport.from_json(v) for k, v in progress.items() if k.startswith(b"part/")]
    ready = max((ready_time(log) or spawned) for log in logs)
    first_end = min(r.started_unix_ms for r in reports) / 1000
    last_end = max(r.started_unix_ms for r in reports) / 1000
    done = max(r.finished_unix_ms for r in reports) / 1000
    got = await checksums(my, DB, tables)
    ok = got == ref and status.state == tiundo_pb2.JobStatus.SUCCEEDED
    if not ok or args.keep:
        print(
            f"  run {run}: consistent={ok} state={status.state} {status.message} (logs in {work})"
        )
    else:
        shutil.rmtree(work, ignore_errors=True)
    await delete_job_topics(args.kafka, job)
    return RunResult(
        ready - spawned,
        last_end - ready,
        done - first_end,
        done - spawned,
        produced,
        tiundo_pb2.JobStatus.State.Name(status.state),
        ok,
    )


async def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--keys", type=int, default=40_000)
    ap.add_argument("--size", choices=["small", "full"], help="small: 200k/40k, full: 1M/200k")
    ap.add_argument("--tables", type=int, default=16)
    ap.add_argument("--rowid-tables", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument(
        "--kafka", default=os.environ.get("TIUNDO_KAFKA", "127.0.0.1:9092").removeprefix("kafka://")
    )
    ap.add_argument(
        "--mysql",
        default=os.environ.get("TIUNDO_MYSQL") or "mysql://tiundo:tiundo@127.0.0.1:3306/x",
    )
    ap.add_argument("--profile", help="directory for one cProfile file per worker")
    ap.add_argument("--keep", action="store_true", help="keep worker logs and datadirs")
    ap.add_argument("--env", action="append", default=[], help="TIUNDO_X=V for the workers")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", module="aiomysql")
    if args.size:
        args.changes, args.keys = {"small": (200_000, 40_000), "full": (1_000_000, 200_000)}[
            args.size
        ]
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    tables = bench_tables(args.tables, args.rowid_tables)
    catalog = Catalog()
    infos = [catalog.add_table(t) for t in tables]
    jobs = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(args.runs)]
    t0 = time.monotonic()
    cache = Path(tempfile.gettempdir()) / (
        f"tiundo-bench-undo-{args.changes}-{args.keys}-{args.tables}-{args.rowid_tables}-"
        f"{args.partitions}-{args.seed}.pickle"
    )
    if cache.exists():
        data = pickle.loads(cache.read_bytes())
    else:
        data = generate(tables, infos, args.partitions, args.changes, args.keys, "", args.seed)
        cache.write_bytes(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    per_part = [sum(1 for _ in r) for r in data.records]
    print(
        f"generated {data.changes} changes over {data.keys} keys in {time.monotonic() - t0:.1f} s; "
        f"batches per partition {per_part}"
    )
    my = Mysql.parse(args.mysql)
    await load(my, REF_DB, [t for t in tables], data.at_t)
    ref = await checksums(my, REF_DB, tables)
    results = []
    for i, job in enumerate(jobs):
        r = await one_run(args, tables, catalog, data, ref, job, i)
        results.append(r)
        print(
            f"run {i}: ready {r.ready:.1f} s, compact {r.compact:.1f} s "
            f"({data.changes / max(r.compact, 1e-9):,.0f} changes/s), apply {r.apply:.1f} s "
            f"({data.keys / max(r.apply, 1e-9):,.0f} keys/s), total {r.total:.1f} s "
            f"[{r.state}{'' if r.consistent else ', INCONSISTENT'}]; produce {r.produce:.1f} s"
        )
    med = {
        f: statistics.median(getattr(r, f) for r in results)
        for f in ("ready", "compact", "apply", "total")
    }
    print(
        f"median of {len(results)}: ready {med['ready']:.1f} s, compact {med['compact']:.1f} s "
        f"({data.changes / max(med['compact'], 1e-9):,.0f} changes/s), apply {med['apply']:.1f} s "
        f"({data.keys / max(med['apply'], 1e-9):,.0f} keys/s), total {med['total']:.1f} s"
    )
    return 0 if all(r.consistent for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
