"""Undo of one partition, run inside its End event: mount, plan, apply (or dry-run), report.

Order on partition ``p`` (DESIGN.md §2.5-2.7):

1. completeness: the distinct ChangeBatch seqs and their changes seen on ``p`` (progress table)
   against ``End.batches``/``End.total_changes``; a shortfall makes the job INCOMPLETE;
2. ``holds/<p>`` on the board: the ``_tidb_rowid`` tables ``p`` holds;
3. phase 0 of every table (PK tables: REPLACE/DELETE by key, order-free; ``_tidb_rowid``
   tables: delete the E images), then ``done/<p>/<table>/0``;
4. per ``_tidb_rowid`` table, once the board's barrier opens: phase 1 (insert the T images),
   then ``done/<p>/<table>/1``;
5. ``part/<p>``, and the job status once every partition reported.

Keys are read from the partition's RocksDB in key order, ``mount_chunk`` at a time; statements
are grouped into transactions of at most ``txn_statements × batch_rows`` rows (four full
multi-row statements, or thousands of one-row deletes, which the sink sends many per round
trip) and at most ``txn_max_bytes`` of data (wide rows; :class:`app.undo.sqlgen.TxnCutter`).
A row over ``txn_entry_max_bytes`` is dead-lettered like a value with no SQL form. The
sequence of transactions of a (table, phase) is a function of the partition's state and the
pinned batch settings, so a counter of committed transactions lets a restarted worker skip what
it already applied. The counter lives in the downstream (``TIUNDO_PROGRESS_DB``, advanced inside
each transaction: exactly once, see :mod:`app.sink.mysql`); the progress table's
``txn/<table>/<phase>/<settings>`` is the fallback when that is switched off. A phase whose
``done`` note is on the board is never run again. Notes and reports are those of this worker's
job start only (instance and attempt, :mod:`app.undo.owner`): a ``part/<p>`` of an earlier
instance never makes this one skip ``p``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.config import parse_tz
from app.jobrecord import counter_settings
from app.report import PartitionReport, TableReport, job_status, render
from app.sink.collation import read_new_collation
from app.sink.collation import resolve as resolve_collation
from app.sink.dryrun import PartWriter, assemble, comment_for
from app.sink.mysql import MySQLSink, Step
from app.stages.board import Board, get_board
from app.stages.failure import is_transient, reason
from app.stages.scan import chunks, iter_range, seq_totals, table_ids_in
from app.stages.schema import PhysicalTable, SchemaCache
from app.stages.settle import publish_settled
from app.stages.watch import beat
from app.topics import compact_table, config, progress_table
from app.undo import barrier
from app.undo.chain import Planned, plan_entries
from app.undo.merge import decode_state
from app.undo.model import Identity, TableSpec, table_spec
from app.undo.mount import handle_text
from app.undo.plan import Action, PlanCounts
from app.undo.sqlgen import (
    BatchLimits,
    Dialect,
    Statement,
    TxnCutter,
    session_statements,
    statements,
)
from core.codec.keys import record_key_range
from core.errors import DecodeError
from core.metrics import ROWS_APPLIED
from core.urls import parse_mysql_url
from proto import tiundo_pb2

__all__ = ["fail_partition", "failure_reason", "finish_job", "undo_partition"]

log = logging.getLogger(__name__)

_TZ = parse_tz(config.tz)
_DIALECT = Dialect(config.dialect)
_LIMITS = BatchLimits(max_rows=config.batch_rows, max_row_bytes=config.txn_entry_max_bytes)
_shared: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class _Table:
    tid: int
    phys: PhysicalTable | None
    spec: TableSpec | None
    error: str = ""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _schema() -> SchemaCache:
    if "schema" not in _shared:
        # the versions pinned in the job record: a schema changed since fails the partition
        _shared["schema"] = SchemaCache(
            config.status_api, pinned=config.pinned_schemas(), tls=config.status_tls
        )
    cache: SchemaCache = _shared["schema"]
    return cache


async def _sink() -> MySQLSink:
    if "sink" not in _shared:
        sink = MySQLSink(
            parse_mysql_url(config.downstream),
            dialect=_DIALECT,
            time_zone=config.tz,
            txn_source=config.txn_source,
            pool_size=config.partitions,
            retries=config.sink_retries,
            backoff_s=config.retry_backoff_s,
            progress_db="" if config.progress_db == "-" else config.progress_db,
            deadline_s=config.retry_deadline_s,
            connect_timeout_s=config.sink_connect_timeout_s,
            timeout_s=config.sink_timeout_s,
        )
        await sink.start()
        _shared["sink"] = sink
    out: MySQLSink = _shared["sink"]
    return out


async def _new_collation() -> bool:
    """The cluster's ``new_collation_enabled``: pinned by the job record, else read once."""
    if "new_collation" not in _shared:
        detected = None
        if config.new_collation == "auto":  # a worker without a record (or an older one's)
            detected = await read_new_collation(
                parse_mysql_url(config.downstream),
                config.dialect,
                connect_timeout_s=config.sink_connect_timeout_s,
            )
        _shared["new_collation"] = resolve_collation(config.new_collation, detected)
    return bool(_shared["new_collation"])


async def _resolve(tid: int) -> _Table:
    try:
        phys = await _schema().lookup(tid)
        return _Table(tid, phys, table_spec(phys.info, phys.db))
    except DecodeError as exc:
        return _Table(tid, None, None, f"{type(exc).__name__}: {exc}")


def _plan(entries: list[tuple[bytes, bytes]], t: _Table, counts: PlanCounts) -> Planned:
    """Mount and plan entries of ``t`` with its schema at ``T`` (or dead-letter them all)."""
    info = t.phys.info if t.phys is not None else None
    new_collation = bool(_shared["new_collation"])  # set by undo_partition before any plan
    return plan_entries(
        entries, info, t.spec, _TZ, counts=counts, schema_error=t.error, new_collation=new_collation
    )


def _letter(
    key: bytes, raw: bytes, tid: int, exc: Exception, stage: str = "mount"
) -> tiundo_pb2.DeadLetter:
    letter = tiundo_pb2.DeadLetter(
        job_id=config.job, stage=stage, error=f"{type(exc).__name__}: {exc}", key=key,
        table_id=tid,
    )  # fmt: skip
    try:
        st = decode_state(raw)
    except DecodeError:
        letter.value = raw
        return letter
    letter.value, letter.old_value = st.value, st.old_value
    letter.commit_ts, letter.start_ts = st.last_commit_ts, st.last_start_ts
    return letter


def _wanted(planned: Planned, phase: int | None) -> list[Action]:
    return [a for a in planned.actions if phase is None or a.phase == phase]


async def _writable(
    board: Board,
    t: _Table,
    chunk: list[tuple[bytes, bytes]],
    counts: PlanCounts,
    phase: int | None,
    exc: Exception,
) -> tuple[Planned, int]:
    """The chunk planned again without the rows whose values have no SQL form; dead-letter those.

    Called when the chunk's statements could not be generated (``TypeError``/``ValueError``
    from :func:`app.undo.sqlgen.to_param`: a VECTOR value, NaN…). Each entry is tried alone,
    so the offenders are found by row key; the rest plan as before (the same transactions for
    the same state, so the exactly-once counters still line up after a restart). Rows that do
    not mount stay in and fail in the plan as usual (their dead letters are the caller's).
    """
    log.warning("table %d: a value has no SQL form (%s); finding the rows", t.tid, exc)
    good: list[tuple[bytes, bytes]] = []
    dead = 0
    for key, raw in chunk:
        try:
            statements(_wanted(_plan([(key, raw)], t, PlanCounts()), phase), _LIMITS, _DIALECT)
        except (TypeError, ValueError) as bad:
            dead += 1
            await board.dead_letter(_letter(key, raw, t.tid, bad, stage="sink"))
            continue
        good.append((key, raw))
    return _plan(good, t, counts), dead


async def _run_phase(board: Board, p: int, cdb: Any, t: _Table, phase: int) -> TableReport:
    done_key = barrier.done_key(p, t.tid, phase)
    if done_key in board.notes:
        return barrier.done_report(board.notes[done_key])
    sink = await _sink() if t.spec is not None else None
    # transactions are cut by rows and bytes (see below); another cut, or another instance of
    # the job, gives another txn sequence
    settings = counter_settings(config)
    txn_key = f"txn/{t.tid}/{phase}/{settings}".encode()
    committed = int(progress_table.get(txn_key) or b"0")
    if sink is not None:  # the downstream's own counter is exact (same transaction as the rows)
        committed = await sink.committed(Step(config.job, p, t.tid, phase, settings, 0))
    if committed:
        log.info("partition %d table %d phase %d: resuming after %d committed transactions",
                 p, t.tid, phase, committed)  # fmt: skip
    n_txn = n_statements = 0
    counts = PlanCounts()
    dead = 0
    # A transaction holds txn_statements full statements' worth of rows (single-row statements,
    # phase-1 all-column deletes, share transactions by the thousand instead of by four) and
    # at most txn_max_bytes of data, below TiDB's txn-total-size-limit.
    cutter = TxnCutter(
        max_rows=config.txn_statements * config.batch_rows, max_bytes=config.txn_max_bytes
    )
    started = time.monotonic()
    sink_s = 0.0
    table_label = f"{t.spec.db}.{t.spec.name}" if t.spec else str(t.tid)

    async def flush(txn: list[Statement]) -> None:
        nonlocal n_txn, sink_s
        n_txn += 1
        await beat(p, f"applying table {t.tid} phase {phase}, transaction {n_txn}")
        if n_txn > committed:
            assert sink is not None
            t0 = time.monotonic()
            await sink.apply(txn, Step(config.job, p, t.tid, phase, settings, n_txn))
            sink_s += time.monotonic() - t0
            progress_table[txn_key] = str(n_txn).encode()
            for st in txn:  # committed: these rows are downstream now
                ROWS_APPLIED.labels(table=table_label, kind=st.kind).inc(st.rows)

    for chunk in chunks(iter_range(cdb, *record_key_range(t.tid)), config.mount_chunk):
        planned = _plan(chunk, t, counts)
        if phase == 0:  # phase 1 reads the same entries: they were dead-lettered in phase 0
            for bad in planned.failed:
                dead += 1
                await board.dead_letter(_letter(bad.key, bad.raw, t.tid, bad.error))
        try:
            sts = statements(_wanted(planned, phase), _LIMITS, _DIALECT)
        except (TypeError, ValueError) as exc:
            planned, unwritable = await _writable(board, t, chunk, counts, phase, exc)
            dead += unwritable
            sts = statements(_wanted(planned, phase), _LIMITS, _DIALECT)
        counts = planned.counts
        for st in sts:
            n_statements += 1
            for txn in cutter.add(st):
                await flush(txn)
        await asyncio.sleep(0)  # let heartbeats and other partitions' actors run
    for txn in cutter.finish():
        await flush(txn)
    db, name = (t.spec.db, t.spec.name) if t.spec else ("", "")
    rep = TableReport(t.tid, db, name, counts.restored, counts.deleted, counts.skipped, dead)
    await board.publish(done_key, barrier.done_value(rep, board.owner))
    took = time.monotonic() - started
    log.info(
        "partition %d table %d phase %d: %d statements in %d transactions, %.2f s "
        "(downstream %.2f s, mount/plan/SQL %.2f s)",
        p, t.tid, phase, n_statements, n_txn, took, sink_s, took - sink_s,
    )  # fmt: skip
    return rep


async def _dry_run(board: Board, p: int, cdb: Any, tables: list[_Table]) -> list[TableReport]:
    writer = PartWriter(config.dry_run, p)
    reports = []
    try:
        for t in tables:
            counts, dead = PlanCounts(), 0
            for chunk in chunks(iter_range(cdb, *record_key_range(t.tid)), config.mount_chunk):
                planned = _plan(chunk, t, counts)
                for bad in planned.failed:
                    dead += 1
                    await board.dead_letter(_letter(bad.key, bad.raw, t.tid, bad.error))
                try:
                    statements(list(planned.actions), _LIMITS, _DIALECT)
                except (TypeError, ValueError) as exc:
                    planned, unwritable = await _writable(board, t, chunk, counts, None, exc)
                    dead += unwritable
                counts = planned.counts
                for a in planned.actions:
                    [st] = statements([a], _LIMITS, _DIALECT)
                    writer.add(
                        a.phase,
                        comment_for(a.table.db, a.table.name, handle_text(a.handle), st),
                        st,
                    )
            db, name = (t.spec.db, t.spec.name) if t.spec else ("", "")
            reports.append(
                TableReport(t.tid, db, name, counts.restored, counts.deleted, counts.skipped, dead)
            )
            await beat(p, f"dry run: table {t.tid} written")
            await asyncio.sleep(0)
    finally:
        writer.close()
    return reports


async def finish_job(board: Board) -> tiundo_pb2.JobStatus:
    """Publish the job's status from every partition report seen so far (RUNNING if some miss).

    Published again while the reports read after it changed (:mod:`app.stages.settle`), so a
    worker that read fewer reports cannot leave its RUNNING after another's final status.
    """

    async def read_reports() -> dict[int, PartitionReport]:
        await board.refresh()
        return board.reports()

    def status_of(reports: Mapping[int, PartitionReport]) -> tiundo_pb2.JobStatus:
        status = job_status(config.job, config.partitions, reports, primary_ts=config.primary_ts)
        if config.dry_run and status.state != tiundo_pb2.JobStatus.RUNNING:
            txn_source = config.txn_source if _DIALECT is Dialect.TIDB else None
            session = session_statements(_DIALECT, txn_source=txn_source, time_zone=config.tz)
            path = assemble(config.dry_run, config.job, config.partitions, session)
            status.message += f" (SQL: {path})"
        return status

    def final(status: tiundo_pb2.JobStatus) -> bool:
        return status.state != tiundo_pb2.JobStatus.RUNNING

    status = await publish_settled(read_reports, status_of, board.publish_status, final)
    log.info("tiundo status\n%s", render(status))
    return status


def failure_reason(exc: BaseException) -> str:
    """:func:`app.stages.failure.reason` with the downstream password masked."""
    return reason(exc, secret=parse_mysql_url(config.downstream).password)


async def _phase_of(board: Board, p: int, cdb: Any, t: _Table, phase: int) -> TableReport:
    """:func:`_run_phase`, its errors noted with the table they happened in."""
    try:
        return await _run_phase(board, p, cdb, t, phase)
    except Exception as exc:
        name = f" ({t.spec.db}.{t.spec.name})" if t.spec else ""
        exc.add_note(f"table {t.tid}{name} phase {phase}")
        raise


async def fail_partition(partition: int, why: str) -> None:
    """Report ``partition`` FAILED with ``why`` (unless it reported already), then the job.

    For a failure outside the undo (compacting a record, or a transient error that outlasted
    the retry deadline): without the report the job would stay RUNNING.
    """
    board = await get_board()
    await board.refresh()
    if barrier.part_key(partition) not in board.notes:
        now = _now_ms()
        rep = PartitionReport(
            partition=partition, target_ts=0, end_ts=0,
            dead_letters=int(progress_table.get(b"dead") or b"0"), error=why,
            started_unix_ms=int(progress_table.get(b"started") or b"0") or now,
            finished_unix_ms=now, dry_run=bool(config.dry_run),
            instance=board.owner.instance, attempt=board.owner.attempt,
        )  # fmt: skip
        await board.publish(barrier.part_key(partition), rep.to_json())
    await finish_job(board)


async def undo_partition(partition: int, end: tiundo_pb2.End) -> None:
    """Run the undo of ``partition`` (call inside its End event: progress writes need it).

    Returns once the partition's report is on the board; an error a retry cannot fix
    (:func:`app.stages.failure.is_transient`: a refused statement, a sink that ran out of
    retries, another partition failed at the barrier, a bug) ends the partition as failed with
    its reason (reported), it is not raised. Transient errors (Kafka) are raised: the caller
    retries the whole End, which resumes from the progress records, until its deadline.
    """
    p = partition
    board = await get_board()
    await board.refresh()
    if barrier.part_key(p) in board.notes:  # this start's report only (Board ignores others')
        await finish_job(board)
        return
    started = int(progress_table.get(b"started") or b"0")
    if not started:
        started = _now_ms()
        progress_table[b"started"] = str(started).encode()
    cdb = compact_table.data._db_for_partition(p)
    pdb = progress_table.data._db_for_partition(p)
    seen_batches, seen_changes = seq_totals(pdb)
    tables = [await _resolve(tid) for tid in table_ids_in(cdb)]
    rowid = [t for t in tables if t.spec is not None and t.spec.identity is Identity.ROWID]
    reports: list[TableReport] = []
    error = ""
    missing_batches = max(0, end.batches - seen_batches)
    missing_changes = max(0, end.total_changes - seen_changes)
    try:
        await _new_collation()
        if missing_batches or missing_changes:
            # Changes announced by End never arrived (lost in Kafka): an undo planned from this
            # state would restore some rows and not others, and a resumed job planning from the
            # whole state would cut its transactions differently from what was committed.
            # Nothing is applied; the job fails and says why.
            error = (
                f"partition {p}: {missing_batches} batch(es) and {missing_changes} change(s) "
                "announced by END never arrived: nothing applied"
            )
            log.error(error)
        elif config.dry_run:
            reports = await _dry_run(board, p, cdb, tables)
        else:
            holds = barrier.holds_value([t.tid for t in rowid], board.owner)
            await board.publish(barrier.holds_key(p), holds)
            reports = [await _phase_of(board, p, cdb, t, 0) for t in tables]
            for t in rowid:
                # a global index spans the partitions: wait for every partition's deletes
                siblings = barrier.barrier_siblings(t.phys.info) if t.phys is not None else ()
                what = f"phase-1 barrier of table {t.tid}"
                await board.wait_until(
                    functools.partial(board.barrier_open, t.tid, siblings),
                    what,
                    on_poll=functools.partial(beat, p, f"waiting at the {what}"),
                )
                second = await _phase_of(board, p, cdb, t, 1)
                # the counts are phase 0's (the same rows); phase 1 adds its unwritable rows
                reports = [
                    r.plus(TableReport(r.table_id, dead_letters=second.dead_letters))
                    if r.table_id == t.tid
                    else r
                    for r in reports
                ]
    except Exception as exc:
        if is_transient(exc):
            raise  # the caller retries the whole End (it resumes) until the retry deadline
        error = failure_reason(exc)
        log.error("partition %d failed: %s", p, error)
    compact_dead = int(progress_table.get(b"dead") or b"0")
    rep = PartitionReport(
        partition=p,
        target_ts=end.target_ts,
        end_ts=end.end_ts,
        tables=tuple(sorted(reports, key=lambda r: r.table_id)),
        dead_letters=compact_dead + sum(r.dead_letters for r in reports),
        missing_batches=missing_batches,
        missing_changes=missing_changes,
        error=error,
        started_unix_ms=started,
        finished_unix_ms=_now_ms(),
        dry_run=bool(config.dry_run),
        instance=board.owner.instance,
        attempt=board.owner.attempt,
        changes=end.total_changes,
        transactions=end.transactions,
    )
    await board.publish(barrier.part_key(p), rep.to_json())
    await finish_job(board)
