"""The workload driver against the real MariaDB: both sides hold the same rows, at T and now.

The digests compare every column of every row (all MySQL types) as MariaDB returns them with
what the codec decodes from the MVCC store's bytes; a seed reproduces MariaDB's own CHECKSUM
TABLE values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiomysql
import pytest

from core.digest import canonical_row
from simulator.catalog import Catalog
from simulator.checksum import mvcc_rows
from simulator.mvcc import MvccStore
from simulator.syncpoint import syncpoint_table_def
from simulator.tso import Tso
from simulator.workload import Workload, WorkloadConfig

pytestmark = pytest.mark.integration

LATEST = (1 << 63) - 1


@pytest.fixture
async def conn(mysql_db: Any) -> AsyncIterator[aiomysql.Connection]:
    c = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=False)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
async def extra_dbs(mysql_db: Any) -> AsyncIterator[list[str]]:
    """Databases a test creates on the side (syncpoint schemas, a second workload): dropped."""
    names: list[str] = []
    yield names
    admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
    try:
        async with admin.cursor() as cur:
            for name in names:
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()


def _workload(conn: aiomysql.Connection, db: str, extra_dbs: list[str], seed: int = 3) -> Workload:
    sp_db = f"{db}_cdc"[:64]
    extra_dbs.append(sp_db)
    cfg = WorkloadConfig(seed=seed, syncpoint_db=sp_db)
    return Workload(conn, db, MvccStore(Tso()), Catalog(), cfg)


async def test_mariadb_and_mvcc_stay_in_step(
    conn: aiomysql.Connection, mysql_db: Any, extra_dbs: list[str]
) -> None:
    w = _workload(conn, mysql_db.db, extra_dbs)
    await w.setup()
    await w.load()
    await w.run(40)
    sp = await w.take_syncpoint(verify=True)  # raises if MariaDB, model and MVCC disagree
    assert {n: c.digest for n, c in sp.checksums.items()} == dict(sp.mvcc) == dict(sp.model)
    assert all(c.rows > 0 and c.checksum for c in sp.checksums.values())
    torn = [await w.tear() for _ in range(3)]
    await w.run(10)
    now = await w.mariadb_digests()
    await conn.commit()
    assert now == w.model_digests() == w.mvcc_digests(LATEST)
    changed = {t for tt in torn for t in tt.applied}
    assert any(now[t] != sp.checksums[t].digest for t in changed)
    # the state at T is still readable from the MVCC store, unchanged
    assert w.mvcc_digests(sp.ts) == dict(sp.mvcc)
    after = await w.checksums()
    assert any(after[t].checksum != sp.checksums[t].checksum for t in changed)


async def test_every_type_reads_back_identically(
    conn: aiomysql.Connection, mysql_db: Any, extra_dbs: list[str]
) -> None:
    w = _workload(conn, mysql_db.db, extra_dbs, seed=5)
    await w.setup()
    await w.load(rows_per_table=30)
    info = w.table_info("all_types")
    cols = ", ".join(f"`{c.name}`" for c in info.sql_columns())
    async with conn.cursor() as cur:
        await cur.execute(f"SELECT {cols} FROM `{mysql_db.db}`.`all_types`")
        raw = await cur.fetchall()
    await conn.commit()
    import json

    maria = sorted(
        canonical_row(
            info,
            {
                c.name: (json.loads(v) if c.name == "c_json" and v is not None else v)
                for c, v in zip(info.sql_columns(), r, strict=True)
            },
        )
        for r in raw
    )
    tikv = sorted(canonical_row(info, r) for r in mvcc_rows(w.mvcc, info, LATEST))
    assert len(maria) == 30
    assert maria == tikv


async def test_seed_reproduces_checksums(
    conn: aiomysql.Connection, mysql_db: Any, extra_dbs: list[str]
) -> None:
    second_db = f"{mysql_db.db}_b"[:64]
    extra_dbs.append(second_db)
    async with conn.cursor() as cur:
        await cur.execute(f"CREATE DATABASE `{second_db}` CHARACTER SET utf8mb4")
    second_cfg = dataclasses.replace(mysql_db, db=second_db)
    conn2 = await aiomysql.connect(**second_cfg.connect_kwargs(), autocommit=False)
    try:
        points = []
        for c, db in ((conn, mysql_db.db), (conn2, second_db)):
            w = _workload(c, db, extra_dbs, seed=21)
            await w.setup()
            await w.load()
            await w.run(30)
            points.append(await w.take_syncpoint())
    finally:
        conn2.close()
    a, b = points
    assert a.checksums == b.checksums  # CHECKSUM TABLE, row counts and digests
    assert a.mvcc == b.mvcc


async def test_syncpoint_table_is_ticdcs(
    conn: aiomysql.Connection, mysql_db: Any, extra_dbs: list[str]
) -> None:
    w = _workload(conn, mysql_db.db, extra_dbs)
    await w.setup()
    await w.load(rows_per_table=2)
    sp = await w.take_syncpoint()
    sp_db = w.config.syncpoint_db
    # the TableDef renders the same table as TiCDC's DDL
    async with conn.cursor() as cur:
        await cur.execute(syncpoint_table_def(mysql_db.db).create_sql())
        shapes = []
        for db in (sp_db, mysql_db.db):
            await cur.execute(
                "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, COLUMN_DEFAULT "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = 'syncpoint_v1' ORDER BY ORDINAL_POSITION",
                (db,),
            )
            shapes.append(await cur.fetchall())
        await cur.execute(
            f"SELECT ticdc_cluster_id, changefeed, primary_ts, secondary_ts, created_at "
            f"FROM `{sp_db}`.syncpoint_v1"
        )
        rows = await cur.fetchall()
    await conn.commit()
    assert shapes[0] == shapes[1] and len(shapes[0]) == 5
    info = w.catalog.table(sp_db, "syncpoint_v1")
    assert info is not None
    [decoded] = mvcc_rows(w.mvcc, info, LATEST)
    [row] = rows
    assert row[:4] == ("default", "tiundo-sim", str(sp.primary_ts), str(sp.secondary_ts))
    assert canonical_row(info, dict(zip(decoded, row, strict=True))) == canonical_row(info, decoded)
    assert mvcc_rows(w.mvcc, info, sp.ts) == []  # the row itself commits after T
