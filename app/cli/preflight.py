"""Checks before an undo starts: each failure is an :class:`UnsafeToUndoError` a DBA can act on.

1. **T is readable**: the cluster's GC safepoint must not be above ``T`` (else the versions
   the undo needs may be gone). The ingest worker checks again when it registers its own
   service safepoint; checking here lets ``plan`` say so without holding anything.
2. **No DDL after T** on a selected table: the undo decodes rows with the schema the status
   API serves now, which is the schema at ``T`` only if no DDL ran since. TiDB's status API
   ``GET /ddl/history`` lists finished DDL jobs (``model.Job`` JSON, TiDB
   ``pkg/server/handler/tikvhandler`` ``DDLHistoryJobHandler``; fields ``id``, ``type``,
   ``schema_id``, ``table_id``, ``schema_name``, ``table_name``, ``state``, ``start_ts``,
   ``query``, ``binlog.FinishedTS`` — ``HistoryInfo`` has no json tags). A job counts when it
   finished (or, lacking ``FinishedTS``, started) after ``T``, was not cancelled or rolled
   back, and names a selected table (by id, partition id or name) or a whole selected database.
3. **No changefeed still writing**: TiCDC writes a syncpoint row every ``sync-point-interval``;
   if a newer row than the one ``T`` came from appears while we watch, that changefeed is alive
   and would overwrite the undo. Only T's (cluster, changefeed) is watched; other changefeeds
   are named, not refused (:func:`check_writer` says why). ``--force`` skips this check (not
   the other two).

:func:`ddl_jobs_after` is pure; the rest does I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from core.errors import UnsafeToUndoError
from core.status_api import StatusApiClient
from core.tls import TlsFiles
from ingest.changefeeds import Syncpoint, advanced
from ingest.config import IngestConfig
from ingest.discover import SelectedTable
from ingest.patterns import quote_pattern
from ingest.pd import PDClient
from ingest.window import read_syncpoints

__all__ = [
    "DdlJob",
    "WriterWatch",
    "check_ddl",
    "check_gc",
    "check_writer",
    "ddl_jobs_after",
    "fetch_ddl_history",
]

#: model.JobState values of jobs that changed nothing (rollback done, cancelled)
_NO_EFFECT_STATES: Final = frozenset({3, 5})


@dataclass(frozen=True, slots=True)
class DdlJob:
    """The parts of a TiDB DDL job the check reports."""

    job_id: int
    schema_name: str
    table_name: str
    table_id: int
    finished_ts: int
    query: str

    def describe(self) -> str:
        """One line naming the job (for the refusal message)."""
        db, table = self.schema_name, self.table_name
        what = quote_pattern(db, table) if table else db
        query = " ".join(self.query.split())
        if len(query) > 120:
            query = query[:117] + "..."
        return f"DDL job {self.job_id} on {what} at ts {self.finished_ts}: {query!r}"


def _job(obj: Mapping[str, Any]) -> DdlJob:
    binlog = obj.get("binlog") or {}
    finished = int(binlog.get("FinishedTS") or 0) if isinstance(binlog, Mapping) else 0
    return DdlJob(
        job_id=int(obj.get("id") or 0),
        schema_name=str(obj.get("schema_name") or ""),
        table_name=str(obj.get("table_name") or ""),
        table_id=int(obj.get("table_id") or 0),
        finished_ts=finished or int(obj.get("start_ts") or 0),
        query=str(obj.get("query") or ""),
    )


def ddl_jobs_after(
    jobs: Iterable[Mapping[str, Any]], target_ts: int, tables: Sequence[SelectedTable]
) -> list[DdlJob]:
    """DDL jobs after ``target_ts`` touching one of ``tables`` (by id or name), by job id."""
    ids = {t.table_id for t in tables} | {p for t in tables for p in t.physical_ids}
    names = {(t.db.lower(), t.name.lower()) for t in tables}
    dbs = {t.db.lower() for t in tables}
    out = []
    for obj in jobs:
        if int(obj.get("state") or 0) in _NO_EFFECT_STATES:
            continue
        job = _job(obj)
        if job.finished_ts <= target_ts:
            continue
        db, name = job.schema_name.lower(), job.table_name.lower()
        # selected names are names, not patterns: a table called t*1 is not its look-alike tx1
        hit = job.table_id in ids or (db, name) in names or (not name and db in dbs)
        if hit:
            out.append(job)
    return sorted(out, key=lambda j: j.job_id)


async def fetch_ddl_history(
    status_api: str, *, timeout_s: float = 10.0, tls: TlsFiles | None = None
) -> list[dict[str, Any]]:
    """``GET /ddl/history`` of a TiDB status API (the DDL jobs, as JSON objects)."""
    async with StatusApiClient(status_api, timeout=timeout_s, tls=tls) as client:
        return await client.ddl_history()


async def check_gc(pd: PDClient, target_ts: int) -> int:
    """The cluster GC safepoint; :class:`UnsafeToUndoError` if it passed ``target_ts``."""
    safe_point = await pd.get_gc_safe_point()
    if safe_point > target_ts:
        raise UnsafeToUndoError(
            f"T={target_ts} is below the cluster's GC safepoint {safe_point}: the versions the "
            "undo needs may be gone; pick a later T (--to-ts) or restore from a backup"
        )
    return safe_point


async def check_ddl(
    status_api: str,
    target_ts: int,
    tables: Sequence[SelectedTable],
    *,
    timeout_s: float = 10.0,
    tls: TlsFiles | None = None,
) -> None:
    """Refuse (naming the first job) when a DDL job ran after T on a selected table."""
    jobs = ddl_jobs_after(
        await fetch_ddl_history(status_api, timeout_s=timeout_s, tls=tls), target_ts, tables
    )
    if jobs:
        more = f" (and {len(jobs) - 1} more)" if len(jobs) > 1 else ""
        raise UnsafeToUndoError(
            f"{jobs[0].describe()}{more} ran after T={target_ts}: the undo cannot decode rows "
            "across a schema change; leave that table out (--tables) or pick T after the DDL"
        )


@dataclass(frozen=True, slots=True)
class WriterWatch:
    """What the writer check watched, for the plan to say.

    ``watched`` names the changefeeds it would refuse for; ``others`` are changefeeds not
    watched that wrote a syncpoint meanwhile (still running, replicating other tables).
    """

    watched: str
    others: tuple[str, ...] = ()


def _matches(sp: Syncpoint, config: IngestConfig, first: Syncpoint | None) -> bool:
    """Whether a new syncpoint of ``sp``'s changefeed means this job's writer is alive."""
    if first is not None:
        return sp.key == first.key
    return (config.changefeed is None or sp.changefeed == config.changefeed) and (
        config.ticdc_cluster_id is None or sp.ticdc_cluster_id == config.ticdc_cluster_id
    )


async def check_writer(
    config: IngestConfig, first: Syncpoint | None, *, watch_s: float
) -> WriterWatch | None:
    """Refuse when the job's changefeed writes a syncpoint newer than ``first`` within ``watch_s``.

    ``first`` is the row T came from: only its (cluster, changefeed) is watched. Another
    changefeed writing into the same downstream replicates other tables (the operator chose
    the selected tables' changefeed); refusing for it would leave ``--force`` as the only way
    out, which also switches this check off for the job's own changefeed. Its writes to
    selected tables after E still show as foreign writes (exit 5). With T given (``first``
    ``None``) no syncpoint names the writer, so every changefeed that ``--changefeed`` /
    ``--ticdc-cluster`` leave is watched (all when none is given). Returns ``None`` when there
    is no downstream or no syncpoint table/row to watch.
    """
    if not config.downstream:
        return None
    target = config.downstream_target

    async def feeds() -> list[Syncpoint]:
        try:
            return await read_syncpoints(
                target, db=config.syncpoint_db, connect_timeout_s=config.request_timeout_s
            )
        except UnsafeToUndoError:  # no syncpoint table: nothing advances
            return []

    before = await feeds()
    if first is not None:  # T's row: a syncpoint written since T was read counts too
        before = [f for f in before if f.key != first.key] + [first]
    if watch_s > 0:
        await asyncio.sleep(watch_s)
    after = await feeds()
    if not before and not after:
        return None
    moved = advanced(before, after)
    mine = [m for m in moved if _matches(m, config, first)]
    if mine:
        was = {f.key: f.secondary_ts for f in before}.get(mine[0].key)
        since = f"after {was}" if was is not None else "where there was none"
        raise UnsafeToUndoError(
            f"changefeed {mine[0].feed!r} is still writing: a new syncpoint "
            f"(secondary_ts {mine[0].secondary_ts}) appeared {since}; pause or remove the "
            "changefeed first (cdc cli changefeed pause), or pass --force"
        )
    if first is not None:
        watched = f"changefeed {first.feed}"
    elif config.changefeed is not None or config.ticdc_cluster_id is not None:
        watched = f"changefeed {config.ticdc_cluster_id or '*'}/{config.changefeed or '*'}"
    else:
        watched = "every changefeed"
    return WriterWatch(watched, tuple(m.feed for m in moved if not _matches(m, config, first)))
