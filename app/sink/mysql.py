"""The downstream sink: undo statements in transactions over an aiomysql pool, with retries.

One call to :meth:`MySQLSink.apply` is one transaction: all of its statements commit together
or not at all. Transient failures (connection lost, deadlock, lock wait timeout, TiDB write
conflicts and region/TiKV timeouts) roll back and retry the whole transaction with exponential
backoff — safe because statements of one phase are idempotent (DESIGN.md §2.6). Anything else
is :class:`SinkError` (not retriable): the caller fails the partition with a clear message.
So is a statement that changes another number of rows than its ``expect_rows`` (phase-1
deletes of ``_tidb_rowid`` tables): the transaction rolls back instead of leaving a table
that is not at T behind a successful report.

Round trips: consecutive statements of a transaction travel together as one multi-statement
request (up to ``request_bytes`` of SQL; aiomysql always offers CLIENT_MULTI_STATEMENTS, which
TiDB honours whatever ``tidb_multi_statement_mode`` says). Each statement keeps its own result,
so ``expect_rows`` is still checked statement by statement.

Every connection first runs :func:`app.undo.sqlgen.session_statements`: ``foreign_key_checks=0``,
the decode time zone, a permissive ``sql_mode`` and, on TiDB, ``tidb_cdc_write_source`` so
TiCDC and our foreign-write check recognise tiundo's own writes. Statements carry bound
parameters only; identifiers are quoted by the SQL generator.

Exactly-once transactions: with a ``progress_db``, every transaction first advances its own
counter row in ``<progress_db>.undo_progress`` (key: job, partition, table, phase, batch
settings) from ``n - 1`` to ``n`` and commits it together with the statements. A transaction
that finds the counter already at ``n`` (a previous life of this worker, or a worker that
still held the partition during a rebalance, applied it) rolls back and is skipped. This
matters because some statements are not idempotent: a phase-2 INSERT of a ``_tidb_rowid``
table re-applied duplicates a row (or fails on a unique key), a phase-1 all-column
``DELETE … LIMIT 1`` re-applied removes an unchanged duplicate. The row lock on the counter
serialises two appliers of the same partition.

Timeouts: opening a connection (TCP, greeting, login, session settings) is bounded by
``connect_timeout_s``, waiting for the answer to one request (statements, commit, the counter)
by ``timeout_s``. aiomysql only bounds the TCP connect itself (``connect_timeout``) and has no
read timeout, so both are also ``asyncio.timeout`` around the awaits: a downstream that accepts
and never answers is a ``TimeoutError``, transient, retried until ``deadline_s`` (or
``retries``) runs out. A timed-out connection is closed, never rolled back (it would wait
again) nor returned to the pool; the server rolls its transaction back when it sees it gone.

Pool size: the undo of one partition uses one connection at a time, so ``pool_size`` = the
number of partitions this worker may apply at once (at most the job's partition count);
connections are opened lazily, so a worker owning two partitions opens at most two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import aiomysql
import pymysql

from app.undo.sqlgen import Dialect, Statement, session_statements
from core.errors import TiundoError, TransientError
from core.mysql_tls import check_tls, connect_args, tls_failure
from core.retry import Backoff, retry_async
from core.sqlident import quote_ident
from core.urls import MySQLTarget

__all__ = ["TRANSIENT_MYSQL_CODES", "MySQLSink", "SinkError", "Step", "is_transient"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_REQUEST_BYTES = 512 * 1024
"""Upper bound of the SQL text of one multi-statement request (well under the 4 MiB
``max_allowed_packet`` of MySQL 5.7; TiDB allows 64 MiB)."""
_MAX_REQUEST_STATEMENTS = 500

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


@dataclass(frozen=True, slots=True)
class Step:
    """Transaction ``n`` (from 1) of one (job, partition, table, phase, batch settings)."""

    job: str
    partition: int
    table_id: int
    phase: int
    settings: str
    n: int

    def key(self) -> tuple[str, int, int, int, str]:
        """The counter row's primary key."""
        return (self.job, self.partition, self.table_id, self.phase, self.settings)


def _requests(statements: Sequence[Statement], max_bytes: int) -> list[list[Statement]]:
    """Consecutive statements grouped into requests of at most ``max_bytes`` of SQL text.

    A phase-1 ``_tidb_rowid`` delete names one row per statement; sending them one round trip
    each made that table the slowest of the undo. Grouping keeps the order and the per-statement
    results. The size is estimated from the text and parameters before escaping (x2 for bytes
    and strings, which the driver may escape); a statement larger than the cap travels alone.
    """
    out: list[list[Statement]] = []
    size = 0
    for st in statements:
        n = len(st.sql) + sum(
            2 * len(p) + 8 if isinstance(p, bytes | str) else 24 for p in st.params
        )
        if out and size + n <= max_bytes and len(out[-1]) < _MAX_REQUEST_STATEMENTS:
            out[-1].append(st)
            size += n
        else:
            out.append([st])
            size = n
    return out


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


_ER_DB_CREATE_EXISTS = 1007
_ER_TABLE_EXISTS = 1050


async def _unless_exists(cur: Any, ddl: str, exists_code: int) -> None:
    """Run a CREATE; the error saying the object exists already is no error."""
    try:
        await cur.execute(ddl)
    except pymysql.err.MySQLError as exc:
        if not exc.args or exc.args[0] != exists_code:
            raise


class MySQLSink:
    """Applies transactions of undo statements to one downstream."""

    def __init__(
        self,
        url: MySQLTarget,
        *,
        dialect: Dialect,
        time_zone: str = "+00:00",
        txn_source: int | None = None,
        pool_size: int = 1,
        retries: int = 10,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        progress_db: str = "",
        request_bytes: int = DEFAULT_REQUEST_BYTES,
        deadline_s: float | None = None,
        connect_timeout_s: float = 10.0,
        timeout_s: float = 120.0,
    ) -> None:
        self._url = url
        self._progress = (
            f"{quote_ident(progress_db)}.{quote_ident('undo_progress')}" if progress_db else ""
        )
        self._progress_db = progress_db
        self._session = session_statements(
            dialect,
            txn_source=txn_source if dialect is Dialect.TIDB else None,
            time_zone=time_zone,
        )
        self._pool_size = max(1, pool_size)
        self._retries = max(1, retries)
        # Doubling from ``backoff_s`` up to ``max_backoff_s``, no jitter (one writer per partition).
        self._backoff = Backoff(backoff_s, 2.0, cap=max(backoff_s, max_backoff_s))
        self._deadline_s = deadline_s
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._pool: Any = None
        self._request_bytes = max(1, request_bytes)
        self._ready: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = asyncio.Lock()
        self.transactions = 0
        self.skipped = 0
        self.retried = 0

    async def start(self) -> None:
        """Create the pool (connections open lazily) and the counter table if needed.

        Raises :class:`SinkError` when the counter table cannot be made (see :meth:`_call`).
        """
        async with self._lock:
            if self._pool is None:
                self._pool = await aiomysql.create_pool(
                    minsize=0,
                    maxsize=self._pool_size,
                    **connect_args(self._url),
                    db=self._url.db or None,
                    charset="utf8mb4",
                    autocommit=False,
                    pool_recycle=3600,
                    connect_timeout=self._connect_timeout_s,
                )
                if self._progress:
                    try:
                        await self._call(self._create_progress_table, f"creating {self._progress}")
                    except BaseException:
                        pool, self._pool = self._pool, None
                        pool.close()
                        raise

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection with the session set; after any error closed, never pooled.

        A timeout (or a cancel) skips the rollback: it would wait on the same silent server.
        """
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                conn = await self._pool.acquire()
        except Exception as exc:
            tls = tls_failure(exc, self._url)  # a bad certificate: no retry fixes it
            if tls is not None:
                raise tls from exc
            raise
        try:
            check_tls(conn, self._url)
            async with asyncio.timeout(self._connect_timeout_s):
                await self._prepare(conn)
            yield conn
        except BaseException as exc:
            if not isinstance(exc, TimeoutError | asyncio.CancelledError):
                with suppress(Exception):
                    async with asyncio.timeout(self._timeout_s):
                        await conn.rollback()
            conn.close()  # a broken or half-done connection never goes back to the pool
            raise
        finally:
            await self._pool.release(conn)

    async def _create_progress_table(self) -> None:
        async with self._connection() as conn, asyncio.timeout(self._timeout_s):
            cur = await conn.cursor()
            # "IF NOT EXISTS" on an existing object makes the server send a Note that PyMySQL
            # turns into a Python warning: look first. Sinks of parallel partitions look at
            # once on a fresh downstream, so "exists" from a CREATE means another sink won the
            # race: fine. No parameters in the DDL, so the identifiers must not carry the
            # driver's %% escaping.
            await cur.execute(
                "SELECT COUNT(*) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'undo_progress'",
                (self._progress_db,),
            )
            if (await cur.fetchone())[0]:
                await conn.commit()
                return
            await cur.execute(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                (self._progress_db,),
            )
            if not (await cur.fetchone())[0]:
                await _unless_exists(
                    cur,
                    f"CREATE DATABASE {quote_ident(self._progress_db, for_params=False)}",
                    _ER_DB_CREATE_EXISTS,
                )
            await _unless_exists(
                cur,
                f"CREATE TABLE {self._progress.replace('%%', '%')} ("
                "job VARCHAR(64) NOT NULL, part INT NOT NULL, tbl BIGINT NOT NULL, "
                "phase TINYINT NOT NULL, settings VARCHAR(64) NOT NULL, "
                "txn BIGINT NOT NULL, PRIMARY KEY (job, part, tbl, phase, settings))",
                _ER_TABLE_EXISTS,
            )
            await conn.commit()

    _WHERE = "job = %s AND part = %s AND tbl = %s AND phase = %s AND settings = %s"

    async def committed(self, step: Step) -> int:
        """Transactions of ``step``'s phase committed downstream so far (0 without progress_db).

        Also creates the counter row, so every later transaction can advance it. Raises
        :class:`SinkError` like :meth:`apply` (a counter table of another shape, say).
        """
        if not self._progress:
            return 0
        if self._pool is None:
            await self.start()

        async def read() -> int:
            async with self._connection() as conn, asyncio.timeout(self._timeout_s):
                cur = await conn.cursor()
                await cur.execute(
                    f"INSERT INTO {self._progress} (job, part, tbl, phase, settings, txn) "
                    "VALUES (%s, %s, %s, %s, %s, 0) ON DUPLICATE KEY UPDATE txn = txn",
                    step.key(),
                )
                await cur.execute(
                    f"SELECT txn FROM {self._progress} WHERE {self._WHERE}", step.key()
                )
                row = await cur.fetchone()
                await conn.commit()
            return int(row[0])

        return await self._call(read, f"the counter of {self._progress}")

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

    async def _attempt(self, statements: Sequence[Statement], step: Step | None) -> bool:
        async with self._connection() as conn:
            async with asyncio.timeout(self._timeout_s):
                await conn.begin()
            async with conn.cursor() as cur:
                if step is not None and self._progress:
                    sql = f"UPDATE {self._progress} SET txn = %s WHERE {self._WHERE} AND txn = %s"
                    async with asyncio.timeout(self._timeout_s):
                        await cur.execute(sql, (step.n, *step.key(), step.n - 1))
                    if cur.rowcount != 1:  # applied already, or the counter is out of step
                        async with asyncio.timeout(self._timeout_s):
                            await cur.execute(
                                f"SELECT txn FROM {self._progress} WHERE {self._WHERE}",
                                step.key(),
                            )
                            row = await cur.fetchone()
                            await conn.rollback()
                        if row is not None and int(row[0]) >= step.n:
                            return False  # committed before (a restart, a resume): skip it
                        raise SinkError(
                            f"exactly-once counter {step.key()} is at "
                            f"{'no row' if row is None else int(row[0])}, transaction {step.n} "
                            "expects it at "
                            f"{step.n - 1}: the transactions are out of step with the ones "
                            "committed before (another worker, or a job replaced meanwhile)"
                        )
                for group in _requests(statements, self._request_bytes):
                    async with asyncio.timeout(self._timeout_s):
                        await self._run_request(cur, group)
            async with asyncio.timeout(self._timeout_s):
                await conn.commit()
            return True

    async def _run_request(self, cur: Any, group: Sequence[Statement]) -> None:
        """Run ``group`` in one round trip (a multi-statement request when it has several).

        Every statement still has its own result, read in order, so ``expect_rows`` is checked
        per statement; the server stops at the first failing statement and the error is raised
        when its result is read (the transaction is then rolled back by the caller).
        """
        if len(group) == 1:
            await cur.execute(group[0].sql, group[0].params)
        else:
            await cur.execute(";\n".join(cur.mogrify(st.sql, st.params) for st in group))
        for i, st in enumerate(group):
            if i and not await cur.nextset():
                raise SinkError(f"multi-statement request ended after {i} of {len(group)} results")
            if st.expect_rows is not None and cur.rowcount != st.expect_rows:
                raise SinkError(
                    f"{st.kind} changed {cur.rowcount} row(s), expected "
                    f"{st.expect_rows}: the downstream is not at E "
                    f"(commit_ts {st.first_commit_ts}..{st.last_commit_ts}): "
                    f"{st.sql[:200]!r}"
                )
        while await cur.nextset():  # never expected: keep the connection's protocol in step
            raise SinkError("multi-statement request returned more results than statements")

    async def _call(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """``call()`` with transient errors retried (``retries`` attempts, ``deadline_s``).

        Raises :class:`SinkError` naming ``what`` and the last error: at once for an error a
        retry cannot fix, after the last attempt for a transient one.
        """

        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            self.retried += 1
            log.warning("transient downstream error (attempt %d): %r; retrying", attempt, exc)

        started = time.monotonic()
        attempts = 1

        def count(attempt: int, exc: BaseException, delay: float) -> None:
            nonlocal attempts
            attempts = attempt + 1
            on_retry(attempt, exc, delay)

        try:
            return await retry_async(
                call,
                backoff=self._backoff,
                what="downstream transaction",
                retriable=is_transient,
                attempts=self._retries,
                failing_s=self._deadline_s,
                on_retry=count,
            )
        except SinkError:
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise SinkError(f"downstream refused {what}: {exc!r}") from exc
            # Only running out of attempts (or time) lets a transient error through.
            took = time.monotonic() - started
            raise SinkError(
                f"downstream still failing after {attempts} attempts on {what} "
                f"({took:.0f} s): {exc!r}"
            ) from exc

    async def apply(self, statements: Sequence[Statement], step: Step | None = None) -> bool:
        """Run ``statements`` as one transaction; retry transient failures with backoff.

        With ``step`` (and a ``progress_db``) the transaction is applied at most once: returns
        False when the counter shows it was applied already. Raises :class:`SinkError` on a
        non-retriable error or after ``retries`` attempts or ``deadline_s`` of failures.
        """
        if not statements:
            return False
        if self._pool is None:
            await self.start()
        first = statements[0]
        what = f"{len(statements)} statement(s), first: {first.kind} {first.sql[:120]!r}"
        applied = await self._call(lambda: self._attempt(statements, step), what)
        self.transactions += applied
        self.skipped += not applied
        return applied
