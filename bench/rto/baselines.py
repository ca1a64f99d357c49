"""The two baselines tiundo is measured against, as contenders (see :mod:`bench.rto.contenders`).

- ``raw_apply``: the limit. The net undo rows (one per changed key, already folded) written
  straight to MariaDB with tiundo's own planner and multi-row statements
  (:mod:`app.undo.plan`, :mod:`app.undo.sqlgen`), no Kafka, no Faust, no decoding. Timed: building
  the statements (``generate_s``) and executing them (``apply_s``), one transaction per
  statement; with ``connections`` > 1 whole tables are spread over connections (a table's
  two ``_tidb_rowid`` phases stay on one connection, in order).
- ``per_event``: a binlog2sql-style flashback. One inverse statement per change, newest first
  (:mod:`bench.rto.pervent`), written to a file while streaming the change list backwards
  (``generate_s``), then applied by the mysql client in transactions of 1000 (``apply_s``).
  Unlike binlog2sql, generation starts from already decoded changes, not binlog events.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from app.undo.model import MountedRow, table_spec
from app.undo.plan import plan_table
from app.undo.sqlgen import BatchLimits, Dialect, Statement, plan_statements, session_statements
from bench.rto.contenders import BenchEnv, Contender, Timing
from bench.rto.db import connect
from bench.rto.history import NetRow, no_gc
from bench.rto.pervent import ScriptTable, script_lines
from bench.rto.procs import RssWatcher
from simulator.tabledef import FIRST_USER_ID, TableDef

__all__ = ["CONTENDERS", "build_statements", "per_event", "raw_apply"]

TXN_STATEMENTS = 1000
PER_EVENT_MAX_CHANGES = 2_000_000
"""Above this the per-event replay (linear in changes, ~10k statements/s) is skipped: the
``hot`` workload of ``--size full`` would take most of an hour per repeat."""


def _image(columns: Sequence[str], row: tuple[object, ...] | None) -> dict[str, object] | None:
    return None if row is None else dict(zip(columns, row, strict=True))


def build_statements(
    tables: Sequence[TableDef], net: Sequence[Sequence[NetRow]], limits: BatchLimits
) -> list[tuple[tuple[Statement, ...], ...]]:
    """Per table, the statements per phase that restore its net rows (tiundo's planner)."""
    out = []
    for i, (tdef, rows) in enumerate(zip(tables, net, strict=True)):
        spec = table_spec(tdef.table_info(FIRST_USER_ID + i), tdef.db)
        cols = [c.name for c in tdef.columns]
        mounted = [
            MountedRow(
                r.handle,
                _image(cols, r.t_image),
                _image(cols, r.e_image),
                r.first_commit_ts,
                r.last_commit_ts,
            )
            for r in rows
        ]
        out.append(plan_statements(plan_table(spec, mounted), limits, Dialect.MYSQL))
    return out


async def _apply_tables(env: BenchEnv, work: Sequence[tuple[tuple[Statement, ...], ...]]) -> int:
    conn = await connect(env.mysql, autocommit=False)
    n = 0
    try:
        async with conn.cursor() as cur:
            for s in session_statements(Dialect.MYSQL):
                await cur.execute(s)
            for phases in work:
                for phase in phases:
                    for st in phase:
                        await cur.execute(st.sql, st.params)
                        await conn.commit()
                        n += 1
    finally:
        conn.close()
    return n


async def raw_apply(env: BenchEnv, params: Mapping[str, int]) -> Timing:
    """The raw apply limit (module docstring); ``params["connections"]`` (default 1)."""
    net = env.net_rows()  # untimed: the limit starts with the net rows in hand
    conns = max(1, params.get("connections", 1))
    t0 = time.perf_counter()
    with no_gc():
        per_table = build_statements(env.tables, net, BatchLimits())
    t1 = time.perf_counter()
    # whole tables per connection, biggest first onto the least loaded connection
    loads: list[list[tuple[tuple[Statement, ...], ...]]] = [[] for _ in range(conns)]
    weight = [0] * conns
    for phases in sorted(per_table, key=lambda p: -sum(s.rows for ph in p for s in ph)):
        k = weight.index(min(weight))
        loads[k].append(phases)
        weight[k] += sum(s.rows for ph in phases for s in ph)
    counts = await asyncio.gather(*(_apply_tables(env, w) for w in loads if w))
    t2 = time.perf_counter()
    return {
        "seconds": t2 - t0,
        "generate_s": t1 - t0,
        "apply_s": t2 - t1,
        "statements": sum(counts),
        "rows": sum(len(r) for r in net),
    }


def _mysql_client() -> str:
    for name in ("mariadb", "mysql"):
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("no mariadb/mysql client on PATH (apt-get install mariadb-client)")


def _run_client(env: BenchEnv, script: Path) -> tuple[int, bytes, int]:
    """Apply ``script`` with the mysql client; (exit code, stderr, client's peak RSS KiB)."""
    m = env.mysql
    cmd = [
        _mysql_client(),
        f"--host={m.host}",
        f"--port={m.port}",
        f"--user={m.user}",
        f"--database={env.db}",
        "--default-character-set=utf8mb4",
        "--batch",
        "--silent",
    ]
    watcher = RssWatcher()
    with script.open("rb") as stdin, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            cmd,
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "MYSQL_PWD": m.password},
        )
        watcher.add("mysql_client", proc.pid)
        code = proc.wait()
        peak = watcher.stop().get("mysql_client", 0)
        err.seek(0)
        return code, err.read(), peak


async def per_event(env: BenchEnv, params: Mapping[str, int]) -> Timing:
    """The per-event reverse replay (module docstring)."""
    script = Path(env.scratch) / "flashback.sql"
    script.parent.mkdir(parents=True, exist_ok=True)
    txn = params.get("txn_statements", TXN_STATEMENTS)
    t0 = time.perf_counter()
    tables = [ScriptTable(t, env.db) for t in env.tables]
    statements = 0
    with script.open("w", encoding="utf-8") as out, no_gc():
        out.write("SET time_zone = '+00:00';\n")
        for line in script_lines(tables, env.iter_changes_newest_first(), txn):
            out.write(line)
            out.write("\n")
            statements += line[0] in "DIU"  # not BEGIN;/COMMIT;
    t1 = time.perf_counter()
    code, stderr, client_kib = await asyncio.to_thread(_run_client, env, script)
    t2 = time.perf_counter()
    if code != 0:
        err = stderr.decode("utf-8", "replace").strip()[-2000:]
        raise RuntimeError(f"mysql client exited {code}: {err}")
    size = script.stat().st_size
    script.unlink()
    return {
        "seconds": t2 - t0,
        "generate_s": t1 - t0,
        "apply_s": t2 - t1,
        "statements": statements,
        "script_mib": round(size / (1 << 20), 1),
        "rss_kib": {"mysql_client": client_kib},
    }


CONTENDERS: tuple[Contender, ...] = (
    Contender("raw_apply", "raw_apply", raw_apply, {"connections": 1}),
    Contender("raw_apply_2conn", "raw_apply", raw_apply, {"connections": 2}),
    Contender(
        "per_event",
        "per_event",
        per_event,
        {"txn_statements": TXN_STATEMENTS},
        max_changes=PER_EVENT_MAX_CHANGES,
    ),
)
