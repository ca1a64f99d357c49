"""``tiundo run`` exits promptly once the job's status is final (issue 14, chaos soak).

The run used to wait for the ingest without bound after the last partition reported: an
ingest still waiting on a TiKV store (down, PD still naming it) or slow to close kept the
command alive in silence. Now it waits a bounded time, says why, stops the ingest, and the
job's final status decides the exit code — an ingest error after it does not.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from app.cli import run as run_mod
from app.cli.jobstate import JobSnapshot
from app.cli.progress import PhaseModel, make_display
from ingest.worker import IngestResult
from proto import tiundo_pb2

State = tiundo_pb2.JobStatus


class _Watcher:
    job = "j"
    partitions = 1
    bootstrap = "kafka:9092"

    def __init__(self, state: int) -> None:
        self.snap = JobSnapshot(tiundo_pb2.JobStatus(job_id="j", state=state))

    async def snapshot(self) -> JobSnapshot:
        return self.snap


class _Ingest:
    """An ingest that ends only ``after_stop_s`` after :meth:`stop` (None: never)."""

    def __init__(self, after_stop_s: float | None, *, fails: bool = False) -> None:
        self.after_stop_s = after_stop_s
        self.fails = fails
        self.stopped = asyncio.Event()

    def stop(self) -> None:
        self.stopped.set()

    async def run(self) -> IngestResult:
        await self.stopped.wait()
        if self.after_stop_s is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.after_stop_s or 0)
        if self.fails:
            raise RuntimeError("store 1 unreachable")
        return _result()

    def result_so_far(self) -> IngestResult:
        return _result(state="stopped")


def _result(state: str = "done") -> IngestResult:
    return IngestResult(
        job="j", topic="j.kv", state=state, target_ts=1, end_ts=2, primary_ts=1, tables=(),
        changes=7, records=3, changes_per_partition=(7,), batches_per_partition=(1,),
        foreign_writes=0, dropped={}, region_errors={}, stream_reconnects=0, duration_s=1.0,
    )  # fmt: skip


async def _follow_and_end(ingest: _Ingest, state: int, grace_s: float) -> tuple[Any, Any]:
    task = asyncio.create_task(ingest.run())
    fence = asyncio.Event()
    try:
        snap = await run_mod._follow(
            _Watcher(state),  # type: ignore[arg-type]
            PhaseModel(1),
            make_display("none"),
            [],
            task,
            fence,
            asyncio.get_running_loop().time() + 3600,
            120.0,
            60.0,
            ingest_grace_s=grace_s,
        )
        assert fence.is_set()
        result = await run_mod.end_ingest(ingest, task, grace_s)  # type: ignore[arg-type]
        return snap, result
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("state", [State.SUCCEEDED, State.FAILED])
async def test_a_final_job_ends_the_run_though_the_ingest_never_ends(
    state: int, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest = _Ingest(after_stop_s=None)  # ignores the fence, the stop, everything
    t0 = time.monotonic()
    snap, result = await asyncio.wait_for(_follow_and_end(ingest, state, 0.3), 10)
    assert time.monotonic() - t0 < 5
    assert snap.status.state == state
    assert ingest.stopped.is_set()
    assert result.state == "stopped" and result.changes == 7
    err = capsys.readouterr().err
    assert "the ingest did not end" in err and tiundo_pb2.JobStatus.State.Name(state) in err


async def test_an_ingest_error_after_the_final_status_does_not_decide_the_exit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ingest = _Ingest(after_stop_s=0.0, fails=True)
    snap, result = await asyncio.wait_for(_follow_and_end(ingest, State.SUCCEEDED, 0.3), 10)
    assert snap.status.state == State.SUCCEEDED
    assert result.state == "stopped"
    assert "store 1 unreachable" in capsys.readouterr().err


async def test_an_ingest_that_ends_in_time_gives_its_own_result() -> None:
    ingest = _Ingest(after_stop_s=0.0)
    ingest.stop()  # the fence ends it at once
    snap, result = await asyncio.wait_for(_follow_and_end(ingest, State.SUCCEEDED, 5.0), 10)
    assert snap.status.state == State.SUCCEEDED
    assert result.state == "done"
