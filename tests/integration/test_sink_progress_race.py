"""Sinks of parallel partitions creating the exactly-once counter table on a fresh downstream.

Found by the chaos soak (seeds 2018 and 2023, a run's own fresh MariaDB): every partition's sink
looked for ``tiundo_meta``, found none, and ran ``CREATE DATABASE``; all but the first got
"database exists" (1007), a non-retriable SinkError, and the job failed at its first apply.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomysql
import pytest

from app.sink.mysql import MySQLSink, Step
from app.undo.sqlgen import Dialect
from core.urls import MySQLTarget

pytestmark = pytest.mark.integration


async def test_parallel_sinks_create_the_counter_table_on_a_fresh_downstream(
    mysql_db: Any,
) -> None:
    meta = f"{mysql_db.db}_meta"  # no such database yet: a fresh downstream
    url = MySQLTarget(mysql_db.host, mysql_db.port, mysql_db.user, mysql_db.password, mysql_db.db)
    sinks = [
        MySQLSink(url, dialect=Dialect.MYSQL, retries=2, backoff_s=0.05, progress_db=meta)
        for _ in range(8)
    ]
    admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
    try:
        steps = [Step("race", p, 1, 0, "b", 1) for p in range(len(sinks))]
        counts = await asyncio.gather(
            *(s.committed(st) for s, st in zip(sinks, steps, strict=True)),
            return_exceptions=True,  # every sink finishes: none is closed while in use
        )
        assert counts == [0] * len(sinks)
        async with admin.cursor() as cur:
            await cur.execute(f"SELECT COUNT(*) FROM `{meta}`.`undo_progress`")
            assert (await cur.fetchone())[0] == len(sinks)
    finally:
        for s in sinks:
            await s.close()
        async with admin.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{meta}`")
        admin.close()
