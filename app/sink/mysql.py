"""The downstream sink: undo statements in transactions over an aiomysql pool, with retries.

One call to :meth:`MySQLSink.apply` is one transaction: all of its statements commit together
or not at all. Transient failures (connection lost, deadlock, lock wait timeout, TiDB write
conflicts and region/TiKV timeouts) roll back and retry the whole transaction with exponential
backoff — safe because statements of one phase are idempotent (DESIGN.md §2.6). Anything else
is :class:`SinkError` (not retriable): the caller fails the partition with a clear message.

Every connection first runs :func:`app.undo.sqlgen.session_statements`: ``foreign_key_checks=0``,
the decode time zone, a permissive ``sql_mode`` and, on TiDB, ``tidb_cdc_write_source`` so
TiCDC and our foreign-write check recognise tiundo's own writes. Statements carry bound
parameters only; identifiers are quoted by the SQL generator.

Pool size: the undo of one partition uses one connection at a time, so ``pool_size`` = the
number of partitions this worker may apply at once (at most the job's partition count);
connections are opened lazily, so a worker owning two partitions opens at most two.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import aiomysql
import pymysql

from app.config import DownstreamUrl
from app.errors import TiundoError, TransientError
from app.undo.sqlgen import Dialect, Statement, session_statements

__all__ = ["TRANSIENT_MYSQL_CODES", "MySQLSink", "SinkError", "is_transient"]

log = logging.getLogger(__name__)

TRANSIENT_MYSQL_CODES = frozenset(
    {
        1040,  # too many connections
        1205,  # lock wait timeout exceeded
        1213,  # deadlock found
        2003,  # can't connect
        2006,  # server has gone away
        2013,  # lost connection during query
        8022,  # TiDB: txn retry / write conflict (optimistic)
        8027,  # TiDB: schema out of date
        8028,  # TiDB: information schema changed
        9001,  # TiDB: PD server timeout
        9002,  # TiDB: TiKV server timeout
        9003,  # TiDB: TiKV server is busy
        9005,  # TiDB: region unavailable
        9006,  # TiDB: GC too early (retry won't help, but it is reported the same)
        9007,  # TiDB: write conflict
    }
)


class SinkError(TiundoError):
    """The downstream refused undo statements for a reason a retry cannot fix."""


def is_transient(exc: BaseException) -> bool:
    """Whether a retry of the same transaction may succeed (pure: looks only at ``exc``)."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, pymysql.err.MySQLError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code is not None and code != 9006:
            return code in TRANSIENT_MYSQL_CODES
        return isinstance(exc, pymysql.err.OperationalError) and code is None
    return isinstance(exc, ConnectionError | TimeoutError | OSError)


class MySQLSink:
    """Applies transactions of undo statements to one downstream."""

    def __init__(
        self,
        url: DownstreamUrl,
        *,
        dialect: Dialect,
        time_zone: str = "+00:00",
        txn_source: int | None = None,
        pool_size: int = 1,
        retries: int = 10,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._url = url
        self._session = session_statements(
            dialect,
            txn_source=txn_source if dialect is Dialect.TIDB else None,
            time_zone=time_zone,
        )
        self._pool_size = max(1, pool_size)
        self._retries = max(1, retries)
        self._backoff = backoff_s
        self._max_backoff = max_backoff_s
        self._pool: Any = None
        self._ready: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = asyncio.Lock()
        self.transactions = 0
        self.retried = 0

    async def start(self) -> None:
        """Create the pool (connections open lazily)."""
        async with self._lock:
            if self._pool is None:
                self._pool = await aiomysql.create_pool(
                    minsize=0,
                    maxsize=self._pool_size,
                    host=self._url.host,
                    port=self._url.port,
                    user=self._url.user,
                    password=self._url.password,
                    db=self._url.db or None,
                    charset="utf8mb4",
                    autocommit=False,
                    pool_recycle=3600,
                )

    async def close(self) -> None:
        """Close every connection (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()

    async def _prepare(self, conn: Any) -> None:
        if conn in self._ready:
            return
        async with conn.cursor() as cur:
            for sql in self._session:
                await cur.execute(sql)
        await conn.commit()
        self._ready.add(conn)

    async def _attempt(self, statements: Sequence[Statement]) -> None:
        async with self._pool.acquire() as conn:
            try:
                await self._prepare(conn)
                await conn.begin()
                async with conn.cursor() as cur:
                    for st in statements:
                        await cur.execute(st.sql, st.params)
                await conn.commit()
            except BaseException:
                with suppress(Exception):
                    await conn.rollback()
                conn.close()  # a broken or half-done connection never goes back to the pool
                raise

    async def apply(self, statements: Sequence[Statement]) -> None:
        """Run ``statements`` as one transaction; retry transient failures with backoff.

        Raises :class:`SinkError` on a non-retriable error or after ``retries`` attempts.
        """
        if not statements:
            return
        if self._pool is None:
            await self.start()
        delay = self._backoff
        for attempt in range(1, self._retries + 1):
            try:
                await self._attempt(statements)
                self.transactions += 1
                return
            except Exception as exc:
                first = statements[0]
                what = f"{len(statements)} statement(s), first: {first.kind} {first.sql[:120]!r}"
                if not is_transient(exc):
                    raise SinkError(f"downstream refused {what}: {exc!r}") from exc
                if attempt == self._retries:
                    raise SinkError(
                        f"downstream still failing after {attempt} attempts on {what}: {exc!r}"
                    ) from exc
                self.retried += 1
                log.warning("transient downstream error (attempt %d): %r; retrying", attempt, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
