"""The undo window ``(T, E]`` and the PD GC safepoint that keeps it readable.

- ``T``: ``--to-ts``, else the ``secondary_ts`` of the newest row of TiCDC's syncpoint table
  in the downstream (facts/eventfeed.md §4), optionally of one changefeed / TiCDC cluster id;
  the row's ``primary_ts`` (upstream point recovered) goes into the report.
- ``E``: ``--end-ts``, else a PD TSO taken at start.
- GC: the old values of changes in ``(T, E]`` are versions at or above ``T``; a PD *service*
  GC safepoint at ``T`` stops GC from removing them while the job runs. It is renewed with a
  TTL (so a crashed job does not pin GC forever) and removed at the end. If the cluster's GC
  safepoint has already passed ``T``, the job refuses (:class:`UnsafeToUndoError`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import aiomysql

from core.errors import ConfigError, TransientError, UnsafeToUndoError
from core.urls import MySQLTarget
from ingest.config import IngestConfig
from ingest.pd import PDClient

__all__ = [
    "GcSafepointKeeper",
    "Syncpoint",
    "UndoWindow",
    "read_syncpoint",
    "syncpoint_query",
    "undo_window",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Syncpoint:
    """A ``syncpoint_v1`` row: upstream ``primary_ts`` matches downstream ``secondary_ts``."""

    changefeed: str
    primary_ts: int
    secondary_ts: int
    ticdc_cluster_id: str = ""


@dataclass(frozen=True, slots=True)
class UndoWindow:
    """``(target_ts, end_ts]``; ``primary_ts`` is 0 when T was given by the user."""

    target_ts: int
    end_ts: int
    primary_ts: int = 0
    changefeed: str = ""


def syncpoint_query(
    db: str, *, changefeed: str | None = None, ticdc_cluster_id: str | None = None
) -> tuple[str, tuple[str, ...]]:
    """SQL and parameters of the newest syncpoint row (by downstream ts).

    The ts columns are ``varchar(18)``; they are compared as numbers, not as text.
    """
    if not db.replace("_", "").isalnum():
        raise ConfigError(f"syncpoint schema name {db!r} is not a plain identifier")
    where: list[str] = []
    params: list[str] = []
    if changefeed is not None:
        where.append("changefeed = %s")
        params.append(changefeed)
    if ticdc_cluster_id is not None:
        where.append("ticdc_cluster_id = %s")
        params.append(ticdc_cluster_id)
    sql = (
        f"SELECT ticdc_cluster_id, changefeed, primary_ts, secondary_ts FROM `{db}`.syncpoint_v1"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY CAST(secondary_ts AS UNSIGNED) DESC LIMIT 1"
    )
    return sql, tuple(params)


async def read_syncpoint(
    target: MySQLTarget,
    *,
    db: str = "tidb_cdc",
    changefeed: str | None = None,
    ticdc_cluster_id: str | None = None,
    connect_timeout_s: float = 10.0,
) -> Syncpoint:
    """The newest syncpoint row, or :class:`UnsafeToUndoError` if there is none."""
    sql, params = syncpoint_query(db, changefeed=changefeed, ticdc_cluster_id=ticdc_cluster_id)
    try:
        conn = await aiomysql.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            db=target.db,
            connect_timeout=connect_timeout_s,
            autocommit=True,
        )
    except Exception as exc:  # PyMySQL raises OperationalError and plain OSErrors
        raise TransientError(f"cannot connect to the downstream {target}: {exc}") from exc
    try:
        async with conn.cursor() as cur:
            try:
                await cur.execute(sql, params)
            except Exception as exc:
                raise UnsafeToUndoError(
                    f"cannot read {db}.syncpoint_v1 from {target} ({exc}); is TiCDC's "
                    "syncpoint enabled (enable-sync-point)? Otherwise give --to-ts"
                ) from exc
            row = await cur.fetchone()
    finally:
        conn.close()
    if row is None:
        which = f" for changefeed {changefeed!r}" if changefeed is not None else ""
        raise UnsafeToUndoError(f"{db}.syncpoint_v1 in {target} has no row{which}; give --to-ts")
    cluster, feed, primary, secondary = row
    try:
        return Syncpoint(str(feed), int(primary), int(secondary), str(cluster or ""))
    except ValueError as exc:
        raise UnsafeToUndoError(f"syncpoint row {row!r} does not hold TSOs") from exc


async def undo_window(config: IngestConfig, pd: PDClient) -> UndoWindow:
    """T and E for the job, per the config (syncpoint table and PD TSO when not given)."""
    primary = 0
    changefeed = ""
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
        target, primary, changefeed = sp.secondary_ts, sp.primary_ts, sp.changefeed
    end = config.end_ts if config.end_ts is not None else await pd.tso()
    if end <= target:
        raise UnsafeToUndoError(
            f"end ts E={end} is not above target ts T={target}: nothing to undo"
        )
    return UndoWindow(target, end, primary, changefeed)


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

    async def stop(self) -> None:
        """Stop renewing and remove the safepoint (best effort: the TTL covers failures)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await self.pd.update_service_gc_safe_point(self.service_id, 0, self.safe_point)
            log.info("gc: removed service safepoint %s", self.service_id)
        except TransientError as exc:
            log.warning(
                "gc: removing %s failed (expires in %d s): %s", self.service_id, self.ttl_s, exc
            )
