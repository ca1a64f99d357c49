"""tiundo's contender: what it reads from ``tiundo run`` and /proc, its variants, its cluster file.

The report and progress lines are produced by the real renderers (``app.cli.run.render_outcome``,
``app.cli.progress.LineDisplay``), so a change of their format fails here, not in a 20-minute run.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

from app.cli.jobstate import JobSnapshot
from app.cli.progress import LineDisplay, PhaseModel
from app.cli.run import RunOutcome, render_outcome
from app.report import PartitionReport
from bench.rto.contenders import CONTENDER_MODULES, all_contenders
from bench.rto.procs import RssWatcher
from bench.rto.tiundo_cluster import ClusterInfo, read_info
from bench.rto.tiundo_e2e import (
    CONTENDERS,
    MAX_CHANGES,
    _Tree,
    children_of,
    e2e,
    parse_children,
    partition_phases,
    progress_marks,
    report_figures,
    rpo_figures,
    tuning,
)
from ingest.worker import IngestResult
from ingest.worker import Progress as IngestProgress
from proto import tiundo_pb2

T_TS = 1000 << 18
E_TS = 5000 << 18


def _ingest(changes: int, duration_s: float) -> IngestResult:
    return IngestResult(
        job="j", topic="j.kv", state="done", target_ts=T_TS, end_ts=E_TS, primary_ts=0,
        tables=("db.t",), changes=changes, records=3, changes_per_partition=(changes,),
        batches_per_partition=(3,), foreign_writes=0, dropped={}, region_errors={},
        stream_reconnects=0, duration_s=duration_s,
    )  # fmt: skip


def test_report_figures_from_the_real_report() -> None:
    status = tiundo_pb2.JobStatus(job_id="j", state=tiundo_pb2.JobStatus.SUCCEEDED)
    status.tables.add(table_id=1, restored=70, deleted=30)
    text = render_outcome(RunOutcome(status, _ingest(2000, 1.26), 12.34))
    got = report_figures(text)
    assert got == {"reported_s": 12.3, "rows": 100, "changes_read": 2000, "ingest_s": 1.3}
    assert report_figures("tiundo: error: no syncpoint") == {}


def test_rpo_figures_from_the_real_report() -> None:
    status = tiundo_pb2.JobStatus(job_id="j", state=tiundo_pb2.JobStatus.SUCCEEDED)
    ingest = dataclasses.replace(_ingest(2000, 1.0), primary_ts=T_TS, transactions=200)
    # the job pinned 61.5 s after the syncpoint (1,000 ms): T stands in for primary_ts
    text = render_outcome(RunOutcome(status, ingest, 3.0, started_unix_ms=62_500))
    assert rpo_figures(text) == {
        "point_age_ms": 61_500, "window_ms": 4_000, "changes_undone": 2000,
        "transactions_undone": 200,
    }  # fmt: skip
    flagged = render_outcome(RunOutcome(status, _ingest(5, 1.0), 3.0))  # T by flag
    assert rpo_figures(flagged)["point_age_ms"] is None
    assert rpo_figures("tiundo: error: no syncpoint") == {}


def _line(model: PhaseModel) -> str:
    return LineDisplay().line(model)


def test_progress_marks_from_the_real_progress_lines() -> None:
    model = PhaseModel(partitions=2)
    lines = [(0.5, "job j: T=1 E=2, 16 table(s)"), (0.8, _line(model))]
    p = IngestProgress(state="ingesting", target_ts=T_TS, end_ts=E_TS, regions=4)
    model.ingest, model.ingest_state = p, "ingesting"
    p = IngestProgress("ingesting", T_TS, E_TS, frontier_ts=T_TS, regions=4, regions_initialized=4)
    model.ingest = p
    lines.append((2.0, _line(model)))
    model.ingest_state = "done"
    model.job = JobSnapshot(None, kv_end=10, kv_consumed=4)
    lines.append((4.0, _line(model)))
    model.job = JobSnapshot(None, kv_end=10, kv_consumed=10)
    lines.append((6.0, _line(model)))
    report = PartitionReport(0, T_TS, E_TS)
    model.job = JobSnapshot(None, reports={0: report}, kv_end=10, kv_consumed=10)
    lines.append((7.0, _line(model)))
    model.job = JobSnapshot(None, reports={0: report, 1: report}, kv_end=10, kv_consumed=10)
    lines.append((8.5, _line(model)))
    assert progress_marks(lines) == {
        "first_progress_s": 0.8,
        "regions_initialized_s": 2.0,
        "end_sent_s": 4.0,
        "records_compacted_s": 6.0,
        "first_partition_undone_s": 7.0,
        "partitions_undone_s": 8.5,
    }


def test_partition_phases_relative_to_the_start() -> None:
    t0 = 1_700_000_000_000
    reports = {
        1: PartitionReport(1, T_TS, E_TS, started_unix_ms=t0 + 4_000, finished_unix_ms=t0 + 9_500),
        0: PartitionReport(0, T_TS, E_TS, started_unix_ms=t0 + 3_000, finished_unix_ms=t0 + 5_000),
    }
    got = partition_phases(reports, t0)
    assert got == {
        "undo_first_start_s": 3.0,
        "undo_last_start_s": 4.0,
        "undo_end_s": 9.5,
        "undo_partition_max_s": 5.5,
        "undo_partitions": {0: [3.0, 5.0], 1: [4.0, 9.5]},
    }
    assert partition_phases({}, t0) == {}


def test_parse_children_and_a_real_child() -> None:
    assert parse_children(["12 7 ", "", "7 30\n"]) == [7, 12, 30]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in children_of(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert child.pid not in children_of(os.getpid())


def test_only_worker_children_are_named() -> None:
    sleep = "import time; time.sleep(5)"
    worker = subprocess.Popen([sys.executable, "-c", sleep, "-m", "app.cli", "worker"])
    helper = subprocess.Popen([sys.executable, "-c", sleep])
    watcher = RssWatcher(interval_s=0.02)
    try:
        tree = _Tree(os.getpid(), watcher)
        # wait until both have exec'd (a fresh fork still shows this process's command)
        for _ in range(100):
            tree.scan()
            if {worker.pid, helper.pid} <= tree.seen:
                break
            time.sleep(0.05)
        assert {worker.pid, helper.pid} <= tree.seen
    finally:
        for p in (worker, helper):
            p.kill()
            p.wait()
        peaks = watcher.stop()
    assert set(peaks) == {"ingest", "worker0"}
    assert peaks["worker0"] > 0


def test_six_variants_registered() -> None:
    assert "bench.rto.tiundo_e2e" in CONTENDER_MODULES
    got = {(c.params["workers"], c.params["partitions"]) for c in CONTENDERS}
    assert got == {(w, p) for w in (1, 2, 4) for p in (1, 4, 8, 16)}
    assert all(c.fn is e2e and c.series == "tiundo" for c in CONTENDERS)
    assert all(c.max_changes == MAX_CHANGES for c in CONTENDERS)
    names = {c.name for c in all_contenders()}
    assert {c.name for c in CONTENDERS} <= names
    assert "raw_apply" in names


def test_cluster_info_file(tmp_path: Path) -> None:
    info = ClusterInfo(
        pid=42, workdir="w", pd="pd://127.0.0.1:1", status_api="http://127.0.0.1:2",
        sp_db="x_cdc", t_ts=T_TS, last_commit_ts=E_TS, txns=3, seed_s=0.5, rss_kib=100,
    )  # fmt: skip
    path = tmp_path / "c.json"
    assert read_info(path) is None
    path.write_text(info.to_json())
    assert read_info(path) == info
    path.write_text(info.to_json()[:20])  # half written
    assert read_info(path) is None


def test_only_tuning_settings_of_the_bench_environment_reach_the_runs() -> None:
    environ = {
        "TIUNDO_COMPACT_MAX_DELAY_S": "4",
        "TIUNDO_STATE_WRITE_BUFFER_MB": "16",
        "TIUNDO_KAFKA": "elsewhere:9092",  # the bench names its own broker
        "TIUNDO_DOWNSTREAM": "mysql://u:secret@h/db",
        "PATH": "/bin",
    }
    assert tuning(environ) == {
        "TIUNDO_COMPACT_MAX_DELAY_S": "4",
        "TIUNDO_STATE_WRITE_BUFFER_MB": "16",
    }
