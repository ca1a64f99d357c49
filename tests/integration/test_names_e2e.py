"""Names TiDB allows, end to end: an exact pattern undoes exactly its table, nothing more.

A fake cluster (in this process) holds a database whose name needs quoting
(``we.ird db,`#%?[…``) with two look-alike tables: ``t*1`` and ``tx1``, which the unquoted
wildcard ``t*1`` would also match. Both are changed after T in the same transactions. ``tiundo
plan`` and ``tiundo run`` run as processes (real Kafka, real MariaDB) with
``TIUNDO_TABLES="`we.ird db,…`.`t*1`"``: ``t*1`` must be back at T, ``tx1`` exactly as torn as
before (not at T), and both commands must name the one resolved table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import aiomysql
import pytest

from app.cli.jobstate import delete_job_topics
from core.sqlident import quote_ident
from simulator.cluster import FakeCluster
from simulator.tabledef import ColumnDef, TableDef
from simulator.workload import Workload, WorkloadConfig

from .test_e2e_nasty import Script

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


async def _tiundo(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """``tiundo args`` as a process while this loop keeps serving the fake cluster."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 180)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_exact_pattern_undoes_that_table_and_leaves_its_look_alike_untouched(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    db = f"we.ird db,`#%?[{uuid.uuid4().hex[:6]}"
    job = f"names-{uuid.uuid4().hex[:6]}"
    sp_db = f"{mysql_db.db}_cdc"[:64]
    cols = (ColumnDef("id", "int", nullable=False), ColumnDef("v", "varchar", length=16))
    tables = tuple(TableDef(db, n, cols, primary_key=("id",)) for n in ("t*1", "tx1"))
    admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
    async with admin.cursor() as cur:
        await cur.execute(f"CREATE DATABASE {quote_ident(db, for_params=False)}")
    cluster = FakeCluster(stores=2, regions_per_table=2, resolved_ts_interval=0.05, handle_step=4)
    await cluster.start()
    conn = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=False)
    try:
        cfg = WorkloadConfig(seed=3, syncpoint_db=sp_db, initial_rows=0)
        w = Workload(conn, db, cluster.mvcc, cluster.catalog, cfg, tables)
        await w.setup()
        s = Script(w)
        for name in ("t*1", "tx1"):
            await s.txn(*(s.ins(name, id=i, v=f"{name}@T{i}") for i in range(1, 9)))
        sp = await w.take_syncpoint()
        for name in ("t*1", "tx1"):
            await s.txn(s.upd(name, 1, v="after"), s.dele(name, 2), s.ins(name, id=20, v="new"))
        await s.txn(s.upd("t*1", 3, v="torn"), s.upd("tx1", 3, v="torn"), s.dele("tx1", 8))
        torn = await w.checksums()
        for name in ("t*1", "tx1"):
            assert torn[name].digest != sp.checksums[name].digest, name

        exact = "`" + db.replace("`", "``") + "`.`t*1`"  # SQL's quoting: backquote doubled
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIUNDO_")}
        env.update(
            TIUNDO_PD=f"pd://{cluster.pd_address}",
            TIUNDO_STATUS_API=f"http://{cluster.status_address}",
            TIUNDO_DOWNSTREAM=dataclasses.replace(mysql_db, db=sp_db).url,
            TIUNDO_SYNCPOINT_DB=sp_db,
            TIUNDO_PROGRESS_DB=mysql_db.db,
            TIUNDO_DIALECT="mysql",
            TIUNDO_KAFKA=kafka_bootstrap,
            TIUNDO_PARTITIONS="2",
            TIUNDO_SESSION_TIMEOUT_S="6",
            TIUNDO_WRITER_CHECK_S="0",
            TIUNDO_TABLES=exact,
            PYTHONPATH=str(ROOT),
        )
        code, out = await _tiundo(["plan", "--no-count"], env)
        assert code == 0, out
        assert f"  {exact} " in out and "`tx1`" not in out and ".tx1" not in out, out

        args = ["run", "--job", job, "--workers", "1", "--job-dir", str(tmp_path / job)]
        code, out = await _tiundo(args, env)
        assert code == 0, out
        assert f"1 table(s): {exact}" in out and f"job {job}: SUCCEEDED" in out, out

        after = await w.checksums()
        assert after["t*1"].digest == sp.checksums["t*1"].digest  # back at T
        assert after["tx1"].digest == torn["tx1"].digest  # untouched: as torn as before
        assert after["tx1"].checksum == torn["tx1"].checksum
    finally:
        conn.close()
        await cluster.stop()
        async with admin.cursor() as cur:
            for name in (db, sp_db):
                await cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name, for_params=False)}")
        admin.close()
        await delete_job_topics(kafka_bootstrap, job)
