"""``tiundo status`` names partitions nobody moves and the worker holding them (issue 14)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from click.testing import CliRunner

from app.cli import jobs, main
from app.cli import run as run_mod
from app.cli.common import JobFailedError
from app.cli.jobstate import JobSnapshot
from app.cli.progress import PhaseModel, make_display
from app.config import UndoConfig
from app.report import PartitionReport
from app.undo.activity import Activity
from proto import tiundo_pb2


def _running() -> tiundo_pb2.JobStatus:
    return tiundo_pb2.JobStatus(
        job_id="j", state=tiundo_pb2.JobStatus.RUNNING, message="5 of 8 partitions finished"
    )


def _snapshot(silent_s: float) -> JobSnapshot:
    now = int(time.time() * 1000)
    beats = {
        p: Activity(p, "w1-host:77 (/data/w1)", "assigned to this worker, nothing handled yet",
                    now - int(silent_s * 1000))
        for p in (1, 3, 5, 7)
    }  # fmt: skip
    beats[0] = Activity(0, "w0-host:12 (/data/w0)", "applying table 101 phase 0", now)
    reports = {p: PartitionReport(partition=p, target_ts=1, end_ts=2) for p in (2, 4, 6)}
    return JobSnapshot(_running(), reports, beats=beats)


def test_a_snapshot_names_only_the_silent_unfinished_partitions() -> None:
    stalled = _snapshot(200).stalled(8, 120)
    assert [(s.partition, s.worker) for s in stalled] == [
        (p, "w1-host:77 (/data/w1)") for p in (1, 3, 5, 7)
    ]
    assert _snapshot(60).stalled(8, 120) == []  # not long enough


def test_a_final_job_has_no_stall() -> None:
    done = tiundo_pb2.JobStatus(job_id="j", state=tiundo_pb2.JobStatus.SUCCEEDED)
    snap = dataclasses.replace(_snapshot(200), status=done)
    assert snap.stalled(8, 120) == []


def test_status_prints_one_line_per_stalled_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    async def read(s: Any) -> tuple[JobSnapshot, int]:
        return _snapshot(200), 8

    monkeypatch.setattr(jobs, "_read_with_partitions", read)
    r = CliRunner().invoke(main, ["status", "--job", "j", "--stall-s", "120"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("job j: RUNNING - 5 of 8 partitions finished")
    assert lines[1:] == [
        "stalled: partition(s) 1, 3, 5, 7: no progress for 200 s, held by worker "
        "w1-host:77 (/data/w1) (last: assigned to this worker, nothing handled yet); see that "
        "worker's log"
    ]


class _Watcher:
    """A job watcher whose every snapshot shows partitions 1, 3, 5, 7 silent for 200 s."""

    job = "j"
    partitions = 8
    bootstrap = "127.0.0.1:1"

    def __init__(self, noted: bool = True) -> None:
        self.noted = noted

    async def snapshot(self) -> JobSnapshot:
        snap = _snapshot(200)
        if self.noted:
            return snap
        return dataclasses.replace(snap, beats={0: snap.beats[0]})  # 1, 3, 5, 7: nobody took them


async def test_run_gives_up_on_a_partition_still_stalled_after_the_limit() -> None:
    """A job whose partitions nobody ever moves again fails ``run`` with one line (issue 14)."""
    ingest = asyncio.create_task(asyncio.Event().wait())
    try:
        with pytest.raises(JobFailedError) as err:
            await asyncio.wait_for(
                run_mod._follow(
                    _Watcher(), PhaseModel(8), make_display("none"), [], ingest,  # type: ignore[arg-type]
                    asyncio.Event(), deadline=10**9, outage_s=60, stall_s=120, give_up_s=1.0,
                ),
                timeout=30,
            )  # fmt: skip
    finally:
        ingest.cancel()
        await asyncio.gather(ingest, return_exceptions=True)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("giving up: partition(s) 1, 3, 5, 7: no progress for 200 s, held by ")
    assert msg.endswith("still stalled 1 s after it was named; the job keeps its progress: "
                        "tiundo run --resume j")  # fmt: skip


def test_run_waits_out_the_retry_deadline_before_giving_up() -> None:
    cfg = UndoConfig(job="j", stall_s=120, retry_deadline_s=300)
    assert run_mod.stall_give_up_s(cfg) == 300
    assert run_mod.stall_give_up_s(dataclasses.replace(cfg, retry_deadline_s=30)) == 120


async def test_attached_run_keeps_waiting_for_partitions_no_worker_ever_took() -> None:
    """--attach: the operator starts the workers; ``run`` says so and does not give up."""
    ingest = asyncio.create_task(asyncio.Event().wait())
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                run_mod._follow(
                    _Watcher(noted=False), PhaseModel(8), make_display("none"), [], ingest,  # type: ignore[arg-type]
                    asyncio.Event(), deadline=10**9, outage_s=60, stall_s=1, give_up_s=0.5,
                ),
                timeout=3,
            )  # fmt: skip
    finally:
        ingest.cancel()
        await asyncio.gather(ingest, return_exceptions=True)
