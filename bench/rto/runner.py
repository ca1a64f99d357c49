"""The harness: per workload, generate → load → (reset → run in a child → verify) × repeats.

Per workload (``base``: the size's changes over its rows; ``hot``: ``hot_factor`` times the
changes over the same rows) the history is generated once and written to disk, then loaded
into three databases: ``<prefix>_t`` (the rows at T: the reference checksums), ``<prefix>_e``
(the torn rows at E: the reset source) and ``<prefix>`` (where contenders work). Each run
resets the work tables from the E copy, checks they differ from T, runs the contender in a
spawned process (its peak RSS is its own) while sampling MariaDB's RSS, and then compares
every table's ``CHECKSUM TABLE`` with T. A run that does not end consistent is FAILED and not
timed. Results go to a JSON file and a PNG chart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from bench.rto import db, store
from bench.rto.config import BenchConfig, WorkloadSize
from bench.rto.contenders import BenchEnv, Contender, all_contenders
from bench.rto.history import generate, rows_at_e
from bench.rto.procs import self_peak_kib
from bench.rto.schema import bench_tables
from bench.rto.stats import Summary, format_table, summarize
from core.urls import parse_mysql_url

__all__ = ["BINLOG2SQL", "run_bench", "selected"]

BINLOG2SQL: Final[dict[str, Any]] = {
    "status": "not run: not installable from PyPI",
    "detail": (
        "PyPI has no 'binlog2sql' distribution; 'binlog2sql-util' 1.0.4 packages only the "
        "helper module (SQL patterns, reversed_lines), not the Binlog2sql driver or its CLI. "
        "The tool lives on GitHub (danfengcao/binlog2sql), which this machine cannot reach."
    ),
    "reference": {
        "source": "/work/shared/facts/services.md (same kind of machine; NOT measured in this run)",
        "full": {
            "changes": 1_000_000,
            "rows": 200_000,
            "undo_statements": 817_822,
            "generate_s": 111.0,
            "apply_s": 110.0,
            "seconds": 221.0,
        },
        "small": {"changes": 100_000, "rows": 20_000, "seconds": 24.0},
    },
}

Out = Callable[[str], None]


def selected(label: str, only: Sequence[str], skip: Sequence[str]) -> bool:
    """``contender@workload`` passes when it starts with one of ``only`` (if any) and with
    none of ``skip``."""
    if only and not any(label.startswith(p) for p in only):
        return False
    return not any(label.startswith(p) for p in skip)


def _child_main(contender: Contender, env: BenchEnv, conn: Connection) -> None:
    """Child process body: run the contender, add its own peak RSS."""
    try:
        timing: dict[str, Any] = dict(asyncio.run(contender.fn(env, contender.params)))
        rss = {str(k): int(v) for k, v in dict(timing.get("rss_kib") or {}).items()}
        rss["self"] = self_peak_kib()
        timing["rss_kib"] = rss
        conn.send(("ok", timing))
    except BaseException as exc:  # the parent reports it; the child must not die silently
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


async def _run_child(
    contender: Contender, env: BenchEnv, timeout_s: float, server_pid: int | None
) -> tuple[bool, dict[str, Any], str]:
    """Run one contender in a spawned process; (finished, timing, error)."""
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_child_main, args=(contender, env, send), name=f"rto-{contender.name}"
    )
    base = db.rss_kib(server_pid) if server_pid else None
    peak = base or 0
    proc.start()
    send.close()
    deadline = time.monotonic() + timeout_s
    result: tuple[str, Any] | None = None
    while proc.is_alive() and time.monotonic() < deadline:
        if server_pid:
            peak = max(peak, db.rss_kib(server_pid) or 0)
        if result is None and recv.poll():
            result = recv.recv()
        await asyncio.sleep(0.1)
    if proc.is_alive():
        proc.kill()  # our own child, by its object
        await asyncio.to_thread(proc.join)
        return False, {}, f"timed out after {timeout_s:.0f}s"
    await asyncio.to_thread(proc.join)
    if result is None and recv.poll():
        result = recv.recv()
    recv.close()
    if result is None:
        return False, {}, f"child exited {proc.exitcode} without a result"
    status, payload = result
    if status != "ok":
        return False, {}, str(payload)
    timing = dict(payload)
    if base is not None:
        timing.setdefault("rss_kib", {})["mariadbd_growth"] = max(0, peak - base)
    return True, timing, ""


async def _prepare(
    cfg: BenchConfig, name: str, size: WorkloadSize, conn: Any, out: Out
) -> tuple[BenchEnv, dict[str, int | None], dict[str, Any]]:
    """Generate, store and load one workload; returns its env, T checksums and facts."""
    t0 = time.perf_counter()
    tables = bench_tables(cfg.db_prefix)
    history = generate(tables, size, cfg.seed)
    t1 = time.perf_counter()
    workdir = Path(cfg.workdir) / f"{size.name}-{name}"
    net = store.save(history, workdir)
    t2 = time.perf_counter()
    t_tables = db.tables_in(tables, f"{cfg.db_prefix}_t")
    e_tables = db.tables_in(tables, f"{cfg.db_prefix}_e")
    at_e = rows_at_e(history)
    for tabs, rows in ((t_tables, history.at_t), (e_tables, at_e)):
        await db.create_database(conn, tabs[0].db, tabs)
        await db.load_rows(conn, tabs, rows)
    await db.create_database(conn, cfg.db_prefix, tables)
    t3 = time.perf_counter()
    expected = await db.checksums(conn, t_tables[0].db, t_tables)
    at_e_sums = await db.checksums(conn, e_tables[0].db, e_tables)
    differ = sorted(n for n in expected if expected[n] != at_e_sums[n])
    keys = sum(len(r) for r in net)
    facts = {
        "changes": history.changes,
        "keys": keys,
        "txns": len(history.txns),
        "ops": history.op_counts(),
        "rows_at_t": sum(len(r) for r in history.at_t),
        "rows_at_e": sum(len(r) for r in at_e),
        "torn_tail": asdict(history.torn),
        "tables_changed": len(differ),
        "generate_s": round(t1 - t0, 2),
        "store_s": round(t2 - t1, 2),
        "load_s": round(t3 - t2, 2),
    }
    out(
        f"[{name}] {history.changes:,} changes over {keys:,} distinct keys in "
        f"{len(history.txns):,} txns; torn tail {history.torn.applied} applied, "
        f"{history.torn.dropped} dropped; generated {t1 - t0:.1f}s, stored {t2 - t1:.1f}s, "
        f"loaded T and E copies {t3 - t2:.1f}s"
    )
    env = BenchEnv(
        mysql=parse_mysql_url(cfg.mysql_url),
        db=cfg.db_prefix,
        t_db=t_tables[0].db,
        workload=name,
        workdir=str(workdir),
        scratch=str(Path(cfg.workdir) / "scratch"),
        tables=tables,
        t_ts=history.t_ts,
        e_ts=history.e_ts,
        changes=history.changes,
        keys=keys,
    )
    return env, expected, facts


async def run_bench(cfg: BenchConfig, out: Out = print) -> dict[str, Any]:
    """Run every selected contender on every workload; print and return the results."""
    cfg.validate()
    target = parse_mysql_url(cfg.mysql_url)
    workloads: list[tuple[str, WorkloadSize]] = [("base", cfg.size)]
    if cfg.hot_factor:
        workloads.append(("hot", cfg.size.scaled(cfg.hot_factor)))
    contenders = all_contenders()
    started = dt.datetime.now(dt.UTC)
    conn = await db.connect(target)
    runs: list[dict[str, Any]] = []
    facts: dict[str, dict[str, Any]] = {}
    skipped: dict[str, dict[str, str]] = {}
    try:
        server_pid = await db.mariadb_pid(conn)
        version = await db.server_version(conn)
        out(
            f"RTO bench: size {cfg.size.name}, {cfg.repeats} repeat(s), seed {cfg.seed}, "
            f"MariaDB {version} (pid {server_pid or 'not local'}), {os.cpu_count()} cores"
        )
        out(f"binlog2sql: {BINLOG2SQL['status']} ({BINLOG2SQL['detail']})")
        for wname, size in workloads:
            todo = [
                c
                for c in contenders
                if wname in c.workloads and selected(f"{c.name}@{wname}", cfg.only, cfg.skip)
            ]
            if not todo:
                continue
            env, expected, wfacts = await _prepare(cfg, wname, size, conn, out)
            facts[wname] = wfacts
            for c in todo:
                label = f"{c.name}@{wname}"
                limit = c.max_changes
                if limit is not None and env.changes > limit:
                    why = f"{env.changes:,} changes > its max_changes {limit:,}"
                    skipped.setdefault(wname, {})[c.name] = why
                    out(f"  {label}: skipped ({why})")
                    continue
                repeats = cfg.repeats if wname == "base" else min(cfg.repeats, cfg.hot_repeats)
                for rep in range(repeats):
                    await db.reset_tables(conn, f"{cfg.db_prefix}_e", env.db, env.tables)
                    before = await db.checksums(conn, env.db, env.tables)
                    if before == expected:
                        raise RuntimeError("the torn state equals T: nothing to undo")
                    done, timing, error = await _run_child(c, env, cfg.timeout_s, server_pid)
                    after = await db.checksums(conn, env.db, env.tables) if done else {}
                    bad = sorted(n for n in expected if after.get(n) != expected[n])
                    ok = done and not bad
                    if done and bad:
                        error = f"not consistent at T: {len(bad)} table(s) differ: {bad[:4]}"
                    rec: dict[str, Any] = {
                        "label": label,
                        "contender": c.name,
                        "series": c.series,
                        "params": dict(c.params),
                        "workload": wname,
                        "repeat": rep,
                        "ok": ok,
                        **({"error": error} if error else {}),
                        **{k: v for k, v in timing.items() if not (k == "seconds" and not ok)},
                    }
                    runs.append(rec)
                    brief = f"FAILED: {error}"
                    if ok:
                        brief = f"{timing['seconds']:.2f}s"
                        if "generate_s" in timing:
                            brief += (
                                f" (generate {timing['generate_s']:.2f}"
                                f" + apply {timing.get('apply_s', 0):.2f})"
                            )
                        if timing.get("note"):
                            brief += f" ({timing['note']})"
                    out(f"  {label} #{rep + 1}: {brief}")
        await db.drop_database(conn, f"{cfg.db_prefix}_e")
        await db.drop_database(conn, f"{cfg.db_prefix}_t")
        await db.drop_database(conn, cfg.db_prefix)
    finally:
        conn.close()
    shutil.rmtree(Path(cfg.workdir), ignore_errors=True)
    summaries = summarize(runs, facts)
    out("")
    out(format_table(summaries))
    ref = BINLOG2SQL["reference"].get(cfg.size.name)
    if ref:
        out(
            f"binlog2sql reference for this size (services.md, not measured in this run): "
            f"{ref['seconds']:.0f}s"
        )
    results = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "size": asdict(cfg.size),
            "repeats": cfg.repeats,
            "hot_repeats": min(cfg.repeats, cfg.hot_repeats),
            "seed": cfg.seed,
            "hot_factor": cfg.hot_factor,
            "mariadb": version,
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "harness_peak_rss_kib": self_peak_kib(),
        },
        "workloads": facts,
        "runs": runs,
        "skipped": skipped,
        "summary": [_summary_json(s) for s in summaries],
        "binlog2sql": BINLOG2SQL,
    }
    return results


def _summary_json(s: Summary) -> dict[str, Any]:
    d = asdict(s)
    d["peak_rss_kib"] = dict(s.peak_rss_kib)
    return d


def write_results(results: dict[str, Any], directory: str) -> Path:
    """``<directory>/rto-<size>-<UTC stamp>.json``; returns the path."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    stamp = str(results["meta"]["started"]).replace(":", "").replace("-", "")[:15]
    target = path / f"rto-{results['meta']['size']['name']}-{stamp}.json"
    target.write_text(json.dumps(results, indent=1, default=str) + "\n")
    return target
