"""A COMMIT whose acknowledgement is lost (bench.chaos.ackproxy) against the real sink and MariaDB.

The proxy forwards the COMMIT, closes the worker's socket and drops the server's OK: the
transaction is committed and the sink cannot know. Without the exactly-once counters the retry
applies a non-idempotent INSERT twice (the fault has teeth); with them it finds its counter
advanced and skips (the chaos soak's ``commit-ack-lost`` relies on this).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomysql
import pytest

from app.sink.mysql import MySQLSink, Step
from app.undo.sqlgen import Dialect, Statement
from bench.chaos.ackproxy import AckProxy
from core.urls import MySQLTarget

pytestmark = pytest.mark.integration


def _insert(db: str, v: int) -> Statement:
    return Statement(f"INSERT INTO `{db}`.`t` (`v`) VALUES (%s)", (v,), "insert", 1, 1, 2)


async def _count(admin: Any, db: str) -> int:
    async with admin.cursor() as cur:
        await cur.execute(f"SELECT COUNT(*) FROM `{db}`.`t`")
        return int((await cur.fetchone())[0])


async def _setup(mysql_db: Any) -> tuple[Any, AckProxy]:
    admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
    async with admin.cursor() as cur:  # no key: a re-applied INSERT is a second row
        await cur.execute(f"CREATE TABLE `{mysql_db.db}`.`t` (v INT) ENGINE=InnoDB")
    proxy = AckProxy(mysql_db.host, mysql_db.port)
    await proxy.start()
    return admin, proxy


def _sink(mysql_db: Any, proxy: AckProxy, progress_db: str = "") -> MySQLSink:
    url = MySQLTarget("127.0.0.1", proxy.port, mysql_db.user, mysql_db.password, mysql_db.db)
    return MySQLSink(url, dialect=Dialect.MYSQL, retries=5, backoff_s=0.05, progress_db=progress_db)


async def test_without_counters_a_lost_ack_applies_the_transaction_twice(mysql_db: Any) -> None:
    admin, proxy = await _setup(mysql_db)
    sink = _sink(mysql_db, proxy)
    try:
        await sink.apply([_insert(mysql_db.db, 0)])  # the session's own COMMITs pass first
        armed = proxy.arm(any_commit=True)
        assert await sink.apply([_insert(mysql_db.db, 1)])
        assert "server OK" in armed.result()
        assert proxy.cut == 1 and sink.retried >= 1
        assert await _count(admin, mysql_db.db) == 3  # 0, then 1 twice: the COMMIT landed
    finally:
        await sink.close()
        await proxy.close()
        admin.close()


async def test_with_counters_the_retry_after_a_lost_ack_is_skipped(mysql_db: Any) -> None:
    admin, proxy = await _setup(mysql_db)
    sink = _sink(mysql_db, proxy, progress_db=mysql_db.db)
    step = Step("ack-job", 0, 42, 2, "b1", 1)
    try:
        assert await sink.committed(step) == 0
        armed = proxy.arm()  # only an undo transaction's COMMIT (one that moved its counter)
        applied = await sink.apply([_insert(mysql_db.db, 1)], step)
        assert not applied  # the retry found the counter at 1: committed before, skipped
        assert "undo transaction" in armed.result() and proxy.cut == 1
        assert sink.retried >= 1 and sink.skipped == 1
        assert await _count(admin, mysql_db.db) == 1
        assert await sink.committed(step) == 1
        # the next transaction goes through normally
        assert await sink.apply([_insert(mysql_db.db, 2)], Step("ack-job", 0, 42, 2, "b1", 2))
        assert await _count(admin, mysql_db.db) == 2
    finally:
        await sink.close()
        await proxy.close()
        admin.close()


async def test_an_armed_proxy_leaves_other_commits_alone(mysql_db: Any) -> None:
    admin, proxy = await _setup(mysql_db)
    sink = _sink(mysql_db, proxy)
    try:
        armed = proxy.arm()  # undo transactions only: this sink has no counters
        assert await sink.apply([_insert(mysql_db.db, 1)])
        await asyncio.sleep(0.1)
        assert not armed.done() and proxy.cut == 0 and sink.retried == 0
        proxy.disarm()
        assert armed.cancelled()
        assert await _count(admin, mysql_db.db) == 1
    finally:
        await sink.close()
        await proxy.close()
        admin.close()


async def test_each_arm_cuts_its_own_undo_commit(mysql_db: Any) -> None:
    """Two faults armed before any undo COMMIT came cut two COMMITs, not one (the soak armed
    several ``commit-ack-lost`` ahead of the apply and counted all but the first as missed)."""
    admin, proxy = await _setup(mysql_db)
    sink = _sink(mysql_db, proxy, progress_db=mysql_db.db)
    try:
        assert await sink.committed(Step("ack-job", 0, 42, 2, "b1", 1)) == 0
        first, second = proxy.arm(), proxy.arm()
        assert first is not second
        for n in (1, 2, 3):
            await sink.apply([_insert(mysql_db.db, n)], Step("ack-job", 0, 42, 2, "b1", n))
        assert "undo transaction" in first.result() and "undo transaction" in second.result()
        assert proxy.cut == 2 and sink.skipped == 2
        assert await _count(admin, mysql_db.db) == 3  # each cut retry skipped, none twice
    finally:
        await sink.close()
        await proxy.close()
        admin.close()
