"""The workload over a running FakeCluster: the cluster's status API serves its tables.

This is how tiundo meets the fake cluster: rows written by the workload into the cluster's
MVCC store, schema read over HTTP exactly like ``/schema/{db}/{table}`` on a TiDB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiomysql
import pytest

from core.codec.tableinfo import TableInfo
from simulator.cluster import FakeCluster
from simulator.workload import Workload, WorkloadConfig

pytestmark = pytest.mark.integration


@pytest.fixture
async def cluster() -> AsyncIterator[FakeCluster]:
    c = FakeCluster(stores=1)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def test_status_api_serves_the_workload_schema(cluster: FakeCluster, mysql_db: Any) -> None:
    conn = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=False)
    sp_db = f"{mysql_db.db}_cdc"[:64]
    try:
        cfg = WorkloadConfig(seed=4, syncpoint_db=sp_db)
        w = Workload(conn, mysql_db.db, cluster.mvcc, cluster.catalog, cfg)
        await w.setup()
        await w.load(rows_per_table=3)
        sp = await w.take_syncpoint()
        assert cluster.status_address is not None
        base = f"http://{cluster.status_address}"
        async with aiohttp.ClientSession() as http:
            for info in w.tables:
                async with http.get(f"{base}/schema/{mysql_db.db}/{info.name}") as resp:
                    assert resp.status == 200
                    assert TableInfo.from_json(await resp.json()) == info
                for pid in info.physical_ids():
                    async with http.get(f"{base}/schema?table_id={pid}") as resp:
                        assert TableInfo.from_json(await resp.json()) == info
            async with http.get(f"{base}/schema/{sp_db}/syncpoint_v1") as resp:
                sp_info = TableInfo.from_json(await resp.json())
        assert sp_info.is_common_handle
        assert [c.name for c in sp_info.columns][-1] == "created_at"
        assert sp.ts < cluster.tso.next()
    finally:
        conn.close()
        admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
        try:
            async with admin.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{sp_db}`")
        finally:
            admin.close()
