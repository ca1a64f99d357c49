"""Job report: per-partition results → one :class:`JobStatus`, and its printable form.

Each partition, when its undo finishes, publishes a :class:`PartitionReport` (JSON) to the
compacted ``<job>.progress`` topic; whoever sees all partitions' reports folds them with
:func:`job_status`. The job is SUCCEEDED only if every partition reported, none failed, no
change was dead-lettered and every partition saw all the changes its End record announced;
otherwise FAILED (an error stopped a partition) or INCOMPLETE — never "success". Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from app.rpo import Rpo, rpo_line
from proto import tiundo_pb2

__all__ = [
    "PartitionReport",
    "TableReport",
    "job_status",
    "render",
    "with_foreign_writes",
]

State = tiundo_pb2.JobStatus.State


@dataclass(frozen=True, slots=True)
class TableReport:
    """Undo counters of one physical table on one partition."""

    table_id: int
    db: str = ""
    name: str = ""
    restored: int = 0
    deleted: int = 0
    skipped: int = 0
    dead_letters: int = 0

    def plus(self, other: TableReport) -> TableReport:
        """Sum of two reports of the same table (from two partitions)."""
        return TableReport(
            self.table_id,
            self.db or other.db,
            self.name or other.name,
            self.restored + other.restored,
            self.deleted + other.deleted,
            self.skipped + other.skipped,
            self.dead_letters + other.dead_letters,
        )


@dataclass(frozen=True, slots=True)
class PartitionReport:
    """What one partition of ``<job>.kv`` did.

    ``missing_batches``/``missing_changes``: End announced more ChangeBatch records / changes
    than the partition saw (distinct seq values); > 0 means changes were lost on the way.
    ``dead_letters`` counts every dead letter of the partition (also those with no table).
    ``error`` is set when the partition gave up (non-retriable sink error, say).
    ``instance``/``attempt`` name the job start whose worker wrote it (:mod:`app.undo.owner`);
    empty/0 in reports of an older tiundo.
    """

    partition: int
    target_ts: int
    end_ts: int
    tables: tuple[TableReport, ...] = ()
    dead_letters: int = 0
    missing_batches: int = 0
    missing_changes: int = 0
    error: str = ""
    started_unix_ms: int = 0
    finished_unix_ms: int = 0
    dry_run: bool = False
    instance: str = ""
    attempt: int = 0
    #: End's total_changes (this partition's changes) and transactions (the whole job's)
    changes: int = 0
    transactions: int = 0

    def to_json(self) -> bytes:
        """Serialise for the progress topic."""
        obj = {
            "partition": self.partition,
            "target_ts": self.target_ts,
            "end_ts": self.end_ts,
            "tables": [
                [t.table_id, t.db, t.name, t.restored, t.deleted, t.skipped, t.dead_letters]
                for t in self.tables
            ],
            "dead_letters": self.dead_letters,
            "missing_batches": self.missing_batches,
            "missing_changes": self.missing_changes,
            "error": self.error,
            "started_unix_ms": self.started_unix_ms,
            "finished_unix_ms": self.finished_unix_ms,
            "dry_run": self.dry_run,
            "instance": self.instance,
            "attempt": self.attempt,
            "changes": self.changes,
            "transactions": self.transactions,
        }
        return json.dumps(obj, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> PartitionReport:
        """Parse :meth:`to_json` output."""
        obj = json.loads(raw)
        return cls(
            partition=int(obj["partition"]),
            target_ts=int(obj["target_ts"]),
            end_ts=int(obj["end_ts"]),
            tables=tuple(
                TableReport(int(t[0]), str(t[1]), str(t[2]), *(int(x) for x in t[3:7]))
                for t in obj["tables"]
            ),
            dead_letters=int(obj["dead_letters"]),
            missing_batches=int(obj["missing_batches"]),
            missing_changes=int(obj["missing_changes"]),
            error=str(obj["error"]),
            started_unix_ms=int(obj["started_unix_ms"]),
            finished_unix_ms=int(obj["finished_unix_ms"]),
            dry_run=bool(obj.get("dry_run", False)),
            instance=str(obj.get("instance", "")),
            attempt=int(obj.get("attempt", 0)),
            changes=int(obj.get("changes", 0)),
            transactions=int(obj.get("transactions", 0)),
        )


def job_status(
    job_id: str,
    partitions: int,
    reports: Mapping[int, PartitionReport],
    *,
    primary_ts: int = 0,
    foreign_writes: int = 0,
) -> tiundo_pb2.JobStatus:
    """Fold the partitions' reports into one status (RUNNING until all ``partitions`` report)."""
    tables: dict[int, TableReport] = {}
    for rep in reports.values():
        for t in rep.tables:
            tables[t.table_id] = tables[t.table_id].plus(t) if t.table_id in tables else t
    done = [reports[p] for p in range(partitions) if p in reports]
    dead = sum(r.dead_letters for r in done)
    missing = sum(r.missing_batches + r.missing_changes for r in done)
    errors = [f"partition {r.partition}: {r.error}" for r in done if r.error]
    status = tiundo_pb2.JobStatus(
        job_id=job_id,
        target_ts=max((r.target_ts for r in done), default=0),
        end_ts=max((r.end_ts for r in done), default=0),
        primary_ts=primary_ts,
        dead_letters=dead,
        foreign_writes=foreign_writes,
        started_unix_ms=min((r.started_unix_ms for r in done), default=0),
    )
    for tid in sorted(tables):
        t = tables[tid]
        status.tables.add(
            table_id=t.table_id,
            db_name=t.db,
            table_name=t.name,
            restored=t.restored,
            deleted=t.deleted,
            skipped=t.skipped,
            dead_letters=t.dead_letters,
        )
    dry = any(r.dry_run for r in done)
    if errors:
        status.state = State.FAILED
        status.message = "; ".join(errors)
    elif len(done) < partitions:
        status.state = State.RUNNING
        status.message = f"{len(done)} of {partitions} partitions finished"
        return status
    elif dead or missing:
        status.state = State.INCOMPLETE
        status.message = (
            f"{dead} change(s) dead-lettered, {missing} batch(es)/change(s) announced but "
            "never received: those rows were not restored"
        )
    else:
        status.state = State.SUCCEEDED
        status.message = (
            "dry run: undo SQL written, nothing applied" if dry else "every table is back at T"
        )
    if len(done) == partitions:  # the RPO figures (End.transactions is job-wide)
        status.changes_undone = sum(r.changes for r in done)
        status.transactions_undone = max(r.transactions for r in done)
    status.finished_unix_ms = max(r.finished_unix_ms for r in done)
    return status


def with_foreign_writes(
    status: tiundo_pb2.JobStatus,
    by_table: Mapping[int, int],
    names: Mapping[int, tuple[str, str]] | None = None,
) -> tiundo_pb2.JobStatus:
    """``status`` with the writes by others after E that the feed saw, per physical table.

    Those rows may differ from T whatever the undo did, so the message no longer says that
    every table is back at T (``tiundo run`` and ``tiundo report`` exit 5). ``names`` gives
    (db, table) of ids the undo itself never touched.
    """
    out = tiundo_pb2.JobStatus()
    out.CopyFrom(status)
    total = sum(by_table.values())
    if not total:
        return out
    rows = {t.table_id: t for t in out.tables}
    for tid in sorted(by_table):
        if tid not in rows:
            db, name = (names or {}).get(tid, ("", ""))
            rows[tid] = out.tables.add(table_id=tid, db_name=db, table_name=name)
        rows[tid].foreign_writes = by_table[tid]
    out.foreign_writes = total
    if out.state == State.SUCCEEDED:
        out.message = (
            f"the undo of (T, E] succeeded, but {total} write(s) by others after E changed "
            "selected tables: those rows may not be at T"
        )
    return out


def render(status: tiundo_pb2.JobStatus, *, changefeed: str = "", rpo: Rpo | None = None) -> str:
    """A plain-text report for a terminal or a log.

    ``changefeed`` (``cluster/changefeed`` of T's syncpoint, from the job record; the status
    does not carry it) is named when known: T is that changefeed's point, not another's.
    ``rpo``: what the undo gave up (:mod:`app.rpo`; the point's age needs the record's start).
    """
    state = State.Name(status.state)
    lines = [
        f"job {status.job_id}: {state} - {status.message}",
        f"  T (target_ts) = {status.target_ts}   E (end_ts) = {status.end_ts}   "
        f"upstream primary_ts = {status.primary_ts or 'unknown'}",
    ]
    if changefeed:
        lines.append(f"  changefeed = {changefeed} (T is its newest syncpoint)")
    if rpo is not None:
        lines.append(rpo_line(rpo))
    if status.finished_unix_ms and status.started_unix_ms:
        secs = (status.finished_unix_ms - status.started_unix_ms) / 1000
        lines.append(f"  duration (undo after END) = {secs:.3f} s")
    lines.append(
        f"  dead letters = {status.dead_letters}   foreign writes = {status.foreign_writes}"
    )
    foreign = status.foreign_writes > 0
    header = f"  {'table':<40} {'id':>8} {'restored':>9} {'deleted':>9} {'skipped':>9} {'dead':>6}"
    lines.append(header + (f" {'foreign':>8}" if foreign else ""))
    # one line per logical table: a partitioned table's physical ids are summed
    groups: dict[tuple[str, str, int], list[tiundo_pb2.TableCounters]] = {}
    for t in status.tables:
        key = (t.db_name, t.table_name, 0 if t.table_name else t.table_id)
        groups.setdefault(key, []).append(t)
    for (db, table, _), parts in groups.items():
        name = f"{db}.{table}" if db else "?"
        ident = str(parts[0].table_id) if len(parts) == 1 else f"{len(parts)} parts"
        lines.append(
            f"  {name:<40} {ident:>8} {sum(p.restored for p in parts):>9} "
            f"{sum(p.deleted for p in parts):>9} {sum(p.skipped for p in parts):>9} "
            f"{sum(p.dead_letters for p in parts):>6}"
            + (f" {sum(p.foreign_writes for p in parts):>8}" if foreign else "")
        )
    return "\n".join(lines)
