"""The undo window ``(T, E]`` and the PD GC safepoint that keeps it readable.

- ``T``: ``--to-ts``, else the ``secondary_ts`` of the newest row of TiCDC's syncpoint table
  in the downstream (facts/eventfeed.md §4) of one (TiCDC cluster, changefeed): with rows of
  several and none named, the job refuses (:mod:`ingest.changefeeds`); the row's
  ``primary_ts`` (upstream point recovered) goes into the report.
- ``E``: ``--end-ts``, else a PD TSO taken at start.
- GC: the old values of changes in ``(T, E]`` are versions at or above ``T``; a PD *service*
  GC safepoint at ``T`` stops GC from removing them while the job runs. It is renewed with a
  TTL (so a crashed job does not pin GC forever) and removed at the end. If the cluster's GC
  safepoint has already passed ``T``, the job refuses (:class:`UnsafeToUndoError`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiomysql

from core.errors import ConfigError, TransientError, UnsafeToUndoError
from core.mysql_tls import check_tls, connect_args, tls_failure
from core.sqlident import quote_ident
from core.urls import MySQLTarget
from ingest.changefeeds import Syncpoint, choose_syncpoint, newest_per_changefeed
from ingest.config import IngestConfig
from ingest.pd import PDClient

__all__ = [
    "GcSafepointKeeper",
    "Syncpoint",
    "UndoWindow",
    "read_syncpoint",
    "read_syncpoints",
    "syncpoints_query",
    "undo_window",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UndoWindow:
    """``(target_ts, end_ts]``; ``primary_ts`` is 0 when T was given by the user.

    ``changefeed``/``ticdc_cluster_id`` name the syncpoint T came from (empty with ``--to-ts``).
    """

    target_ts: int
    end_ts: int
    primary_ts: int = 0
    changefeed: str = ""
    ticdc_cluster_id: str = ""

    @property
    def syncpoint(self) -> Syncpoint | None:
        """The syncpoint row T came from, or ``None`` when T was given."""
        if not self.primary_ts:
            return None
        return Syncpoint(self.changefeed, self.primary_ts, self.target_ts, self.ticdc_cluster_id)

    @property
    def feed(self) -> str:
        """``cluster/changefeed`` of T's syncpoint (empty when T was given)."""
        sp = self.syncpoint
        return sp.feed if sp is not None else ""


def syncpoints_query(db: str) -> str:
    """SQL of the newest row of each (TiCDC cluster, changefeed) in ``db``.syncpoint_v1.

    The ts columns are ``varchar(18)``, compared as numbers, not as text; ``ticdc_cluster_id``
    is nullable, hence ``<=>``. Executed without parameters.
    """
    try:
        table = f"{quote_ident(db, for_params=False)}.syncpoint_v1"
    except ValueError as exc:
        raise ConfigError(f"syncpoint schema name {db!r} is not an identifier") from exc
    return (
        "SELECT s.ticdc_cluster_id, s.changefeed, s.primary_ts, s.secondary_ts "
        f"FROM {table} AS s JOIN (SELECT ticdc_cluster_id, changefeed, "
        f"MAX(CAST(secondary_ts AS UNSIGNED)) AS newest FROM {table} "
        "GROUP BY ticdc_cluster_id, changefeed) AS n "
        "ON s.ticdc_cluster_id <=> n.ticdc_cluster_id AND s.changefeed = n.changefeed "
        "AND CAST(s.secondary_ts AS UNSIGNED) = n.newest"
    )


async def read_syncpoints(
    target: MySQLTarget, *, db: str = "tidb_cdc", connect_timeout_s: float = 10.0
) -> list[Syncpoint]:
    """The newest syncpoint of every changefeed, newest first (empty: the table has no row).

    :class:`UnsafeToUndoError` when the table cannot be read or a row holds no TSOs.
    """
    sql = syncpoints_query(db)
    try:
        conn = await aiomysql.connect(
            **connect_args(target),
            db=target.db,
            connect_timeout=connect_timeout_s,
            autocommit=True,
        )
    except Exception as exc:  # PyMySQL raises OperationalError and plain OSErrors
        tls = tls_failure(exc, target)
        if tls is not None:
            raise tls from exc
        raise TransientError(f"cannot connect to the downstream {target}: {exc}") from exc
    check_tls(conn, target)
    try:
        async with conn.cursor() as cur:
            try:
                await cur.execute(sql)
            except Exception as exc:
                raise UnsafeToUndoError(
                    f"cannot read {db}.syncpoint_v1 from {target} ({exc}); is TiCDC's "
                    "syncpoint enabled (enable-sync-point)? Otherwise give --to-ts"
                ) from exc
            rows = await cur.fetchall()
    finally:
        conn.close()
    out = []
    for row in rows:
        cluster, feed, primary, secondary = row
        try:
            out.append(Syncpoint(str(feed), int(primary), int(secondary), str(cluster or "")))
        except (TypeError, ValueError) as exc:
            raise UnsafeToUndoError(f"syncpoint row {row!r} does not hold TSOs") from exc
    return newest_per_changefeed(out)


async def read_syncpoint(
    target: MySQLTarget,
    *,
    db: str = "tidb_cdc",
    changefeed: str | None = None,
    ticdc_cluster_id: str | None = None,
    connect_timeout_s: float = 10.0,
) -> Syncpoint:
    """The newest syncpoint of the one changefeed the options leave (:func:`choose_syncpoint`).

    :class:`UnsafeToUndoError` when there is none, or when several changefeeds are left.
    """
    rows = await read_syncpoints(target, db=db, connect_timeout_s=connect_timeout_s)
    return choose_syncpoint(
        rows,
        changefeed=changefeed,
        ticdc_cluster_id=ticdc_cluster_id,
        where=f"{db}.syncpoint_v1 in {target}",
    )


async def undo_window(config: IngestConfig, pd: PDClient) -> UndoWindow:
    """T and E for the job, per the config (syncpoint table and PD TSO when not given)."""
    sp: Syncpoint | None = None
    if config.to_ts is not None:
        target = config.to_ts
    else:
        sp = await read_syncpoint(
            config.downstream_target,
            db=config.syncpoint_db,
            changefeed=config.changefeed,
            ticdc_cluster_id=config.ticdc_cluster_id,
            connect_timeout_s=config.request_timeout_s,
        )
        target = sp.secondary_ts
    end = config.end_ts if config.end_ts is not None else await pd.tso()
    if end <= target:
        raise UnsafeToUndoError(
            f"end ts E={end} is not above target ts T={target}: nothing to undo"
        )
    if sp is None:
        return UndoWindow(target, end)
    return UndoWindow(target, end, sp.primary_ts, sp.changefeed, sp.ticdc_cluster_id)


class GcSafepointKeeper:
    """Holds the PD service GC safepoint ``service_id`` at ``safe_point`` until :meth:`stop`.

    :meth:`start` refuses (:class:`UnsafeToUndoError`) when the cluster GC safepoint or PD's
    answer is above ``safe_point``; afterwards a task renews it every ``ttl_s / 3`` seconds.
    """

    def __init__(self, pd: PDClient, service_id: str, safe_point: int, ttl_s: int) -> None:
        self.pd = pd
        self.service_id = service_id
        self.safe_point = safe_point
        self.ttl_s = ttl_s
        self.renewals = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The renewal task (ends with :class:`UnsafeToUndoError` if PD refuses a renewal)."""
        return self._task

    async def _register(self) -> None:
        lowest = await self.pd.update_service_gc_safe_point(
            self.service_id, self.ttl_s, self.safe_point
        )
        if lowest > self.safe_point:
            raise UnsafeToUndoError(
                f"PD refused GC safepoint {self.safe_point} for {self.service_id}: the "
                f"cluster's GC has already reached {lowest}; changes after T may be gone"
            )

    async def start(self) -> None:
        """Check the cluster GC safepoint, register ours, start renewing."""
        cluster = await self.pd.get_gc_safe_point()
        if cluster > self.safe_point:
            raise UnsafeToUndoError(
                f"target ts T={self.safe_point} is below the cluster GC safepoint {cluster}: "
                "the versions the undo needs may already be garbage-collected"
            )
        await self._register()
        log.info(
            "gc: service safepoint %s at %d (ttl %d s)",
            self.service_id,
            self.safe_point,
            self.ttl_s,
        )
        self._task = asyncio.create_task(self._renew(), name=f"gc-keeper-{self.service_id}")

    async def _renew(self) -> None:
        interval = max(self.ttl_s / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._register()
                self.renewals += 1
            except TransientError as exc:
                log.warning("gc: renewing %s failed, will retry: %s", self.service_id, exc)

    async def detach(self) -> None:
        """Stop renewing but keep the safepoint: it holds T for ``ttl_s`` more seconds.

        For a job that did not end (interrupted, failed): ``tiundo run --resume`` within the TTL
        registers it again, and T is still readable.
        """
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # (a cancel of ours still ends it)
        log.info("gc: service safepoint %s kept at %d for %d s", self.service_id,
                 self.safe_point, self.ttl_s)  # fmt: skip

    async def stop(self) -> None:
        """Stop renewing and remove the safepoint (best effort: the TTL covers failures)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # (a cancel of ours still ends it)
        try:
            await self.pd.update_service_gc_safe_point(self.service_id, 0, self.safe_point)
            log.info("gc: removed service safepoint %s", self.service_id)
        except TransientError as exc:
            log.warning(
                "gc: removing %s failed (expires in %d s): %s", self.service_id, self.ttl_s, exc
            )
