"""``tiundo plan``: find T and E, the tables, and how many rows each changed; write nothing.

:func:`prepare` is the part ``tiundo run`` shares: PD, the tables (status API), the window
(:func:`ingest.window.undo_window`: syncpoint table or flags, E from PD's TSO) and the
:mod:`app.cli.preflight` checks. The plan then reads ``(T, E]`` once through the EventFeed
(:mod:`app.cli.scan`) to count the changed row keys per table (``--no-count`` skips it).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import click

from app.cli.common import (
    CLI_ENV,
    DEFAULT_WRITER_CHECK_S,
    Settings,
    cluster_options,
    default_job,
    kafka_options,
    log_options,
    run_command,
    start_logging,
    tso_time,
    window_options,
)
from app.cli.output import document, emit, json_errors
from app.cli.preflight import WriterWatch, check_ddl, check_gc, check_writer
from app.cli.scan import ScanResult, scan_window
from app.rpo import Rpo, rpo, rpo_fields, rpo_line
from core.errors import ConfigError
from core.status_api import StatusApiClient
from ingest.config import IngestConfig
from ingest.discover import SelectedTable, select_tables
from ingest.grpc_tls import channel_credentials
from ingest.pd import PDClient
from ingest.window import UndoWindow, undo_window

__all__ = ["Prepared", "plan", "preflight_options", "prepare"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A job's window and tables after every preflight check passed."""

    config: IngestConfig
    window: UndoWindow
    tables: tuple[SelectedTable, ...]
    gc_safe_point: int
    #: what the writer check watched (``None``: skipped with --force, or no syncpoint table)
    writer: WriterWatch | None

    @property
    def writer_checked(self) -> bool:
        """The writer check ran (not forced, and there was a syncpoint table to watch)."""
        return self.writer is not None

    def pinned(self) -> IngestConfig:
        """The ingest config with T and E fixed (so the run uses exactly this window)."""
        return self.config.replace(to_ts=self.window.target_ts, end_ts=self.window.end_ts)


async def prepare(s: Settings, *, force: bool, writer_check_s: float) -> Prepared:
    """Resolve tables and the window, then run the preflight checks (refusing when unsafe)."""
    cfg = s.ingest_config()
    credentials = channel_credentials(cfg.cluster_tls)
    pd = PDClient(cfg.pd_endpoints, timeout=cfg.request_timeout_s, credentials=credentials)
    try:
        await pd.connect(election_s=cfg.pd_election_s)
        async with StatusApiClient(
            cfg.status_api_url, timeout=cfg.request_timeout_s, tls=cfg.status_tls
        ) as status:
            tables = await select_tables(status, cfg.tables)
        window = await undo_window(cfg, pd)
        safe_point = await check_gc(pd, window.target_ts)
    finally:
        await pd.close()
    await check_ddl(
        cfg.status_api_url,
        window.target_ts,
        tables,
        timeout_s=cfg.request_timeout_s,
        tls=cfg.status_tls,
    )
    writer = None
    if not force:
        writer = await check_writer(cfg, window.syncpoint, watch_s=writer_check_s)
    return Prepared(cfg, window, tuple(tables), safe_point, writer)


def preflight_options(f: Any) -> Any:
    """``--force`` and ``--writer-check``."""
    f = click.option(
        "--writer-check",
        "writer_check_s",
        envvar=CLI_ENV["writer_check_s"],
        show_envvar=True,
        type=click.FloatRange(0),
        default=DEFAULT_WRITER_CHECK_S,
        show_default=True,
        help="seconds to watch the syncpoint table for a changefeed still writing (0 = no wait)",
    )(f)
    return click.option(
        "--force",
        envvar=CLI_ENV["force"],
        show_envvar=True,
        is_flag=True,
        help="start even if a changefeed seems to be still writing",
    )(f)


@dataclass(frozen=True, slots=True)
class TablePlan:
    """One table's line of the plan."""

    table: str
    table_id: int
    changed_rows: int | None
    changes: int | None


def _table_lines(prep: Prepared, scan: ScanResult | None) -> list[TablePlan]:
    out = []
    for t in prep.tables:
        if scan is None:
            out.append(TablePlan(t.qualified, t.table_id, None, None))
            continue
        rows = sum(scan.keys_per_table.get(p, 0) for p in t.physical_ids)
        changes = sum(scan.changes_per_table.get(p, 0) for p in t.physical_ids)
        out.append(TablePlan(t.qualified, t.table_id, rows, changes))
    return out


def plan_rpo(prep: Prepared, scan: ScanResult | None, now_ms: int) -> Rpo:
    """The RPO a run started now would give (counts only when ``(T, E]`` was read)."""
    w = prep.window
    return rpo(
        started_unix_ms=now_ms,
        primary_ts=w.primary_ts,
        target_ts=w.target_ts,
        end_ts=w.end_ts,
        changes=scan.result.changes if scan else None,
        transactions=scan.result.transactions if scan else None,
    )


def render_plan(prep: Prepared, scan: ScanResult | None, *, force: bool, now_ms: int) -> str:
    """The plan as text (``now_ms``: the wall clock the RPO's point age is taken at)."""
    w = prep.window
    src = (
        f"newest syncpoint of changefeed {w.feed!r} (upstream primary_ts {w.primary_ts}, "
        f"{tso_time(w.primary_ts)} UTC)"
        if w.primary_ts
        else "given by --to-ts/--to-time"
    )
    writer = "skipped (--force)" if force else "no syncpoint table"
    if prep.writer is not None:
        writer = f"no new syncpoint of {prep.writer.watched} while watching"
        if prep.writer.others:
            others = ", ".join(prep.writer.others)
            writer += (
                f"; other changefeeds wrote syncpoints meanwhile ({others}): not this job's "
                "writer, their writes to the selected tables after E count as "
                "foreign writes"
            )
    lines = [
        "tiundo plan: nothing was written",
        f"  T (target_ts) = {w.target_ts}  {tso_time(w.target_ts)} UTC  from {src}",
        f"  E (end_ts)    = {w.end_ts}  {tso_time(w.end_ts)} UTC",
        f"  GC safepoint  = {prep.gc_safe_point} (at or below T: the window is readable)",
        "  DDL after T on the selected tables: none",
        f"  changefeed still writing: {writer}",
        f"  {'table':<40} {'id':>8} {'changed rows':>13} {'changes':>9}",
    ]
    total_rows = total_changes = 0
    for tp in _table_lines(prep, scan):
        rows = "-" if tp.changed_rows is None else str(tp.changed_rows)
        changes = "-" if tp.changes is None else str(tp.changes)
        total_rows += tp.changed_rows or 0
        total_changes += tp.changes or 0
        lines.append(f"  {tp.table:<40} {tp.table_id:>8} {rows:>13} {changes:>9}")
    if scan is not None:
        lines.append(f"  {'total':<40} {'':>8} {total_rows:>13} {total_changes:>9}")
        r = scan.result
        lines.append(
            f"  read (T, E] in {r.duration_s:.2f} s; writes after E by others: {r.foreign_writes}"
        )
    else:
        lines.append("  (row counts skipped: --no-count)")
    lines.append(rpo_line(plan_rpo(prep, scan, now_ms), when="now"))
    return "\n".join(lines)


def plan_json(prep: Prepared, scan: ScanResult | None, now_ms: int) -> dict[str, Any]:
    """The plan as a JSON-able dict (``--json``)."""
    w = prep.window
    return {
        "target_ts": w.target_ts,
        "end_ts": w.end_ts,
        "primary_ts": w.primary_ts,
        "changefeed": w.changefeed,
        "ticdc_cluster_id": w.ticdc_cluster_id,
        "other_changefeeds_writing": list(prep.writer.others) if prep.writer else [],
        "gc_safe_point": prep.gc_safe_point,
        "tables": [asdict(t) for t in _table_lines(prep, scan)],
        "foreign_writes": scan.result.foreign_writes if scan else None,
        "rpo": rpo_fields(plan_rpo(prep, scan, now_ms)),
    }


async def _plan(
    s: Settings, *, count: bool, force: bool, writer_check_s: float
) -> tuple[Prepared, ScanResult | None]:
    prep = await prepare(s, force=force, writer_check_s=writer_check_s)
    scan = await scan_window(prep.pinned().replace(gc_ttl_s=60)) if count else None
    return prep, scan


@click.command()
@cluster_options()
@kafka_options()
@window_options()
@preflight_options
@click.option(
    "--count/--no-count",
    default=True,
    show_default=True,
    help="read (T, E] to count the changed rows per table",
)
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON")
@log_options()
def plan(**params: Any) -> None:  # fmt: skip
    """Find T (syncpoint or flags), E, the tables and the rows each changed; write nothing."""
    params["job"] = params.get("job") or default_job().replace("undo-", "plan-")
    start_logging(params, job=params["job"], role="plan")
    if params["as_json"]:
        json_errors("plan", params["job"])
    s = Settings.from_params(params)
    if not s.tables:
        raise ConfigError("no tables selected (--tables db.t / db.*, or TIUNDO_TABLES)")
    prep, scan = run_command(
        _plan(
            s,
            count=params["count"],
            force=params["force"],
            writer_check_s=params["writer_check_s"],
        )
    )
    now_ms = int(time.time() * 1000)
    if params["as_json"]:
        emit(document("plan", s.job, 0, **plan_json(prep, scan, now_ms)))
    else:
        click.echo(render_plan(prep, scan, force=params["force"], now_ms=now_ms))
