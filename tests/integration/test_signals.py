"""``tiundo run`` stopped by a signal: SIGTERM/SIGHUP act as Ctrl-C, and no worker outlives it.

systemd and ``docker stop`` send SIGTERM, a closed SSH session SIGHUP, an impatient operator
``kill -9``. Each scenario starts ``tiundo run`` as a process on the demo's fake cluster with E a
few minutes ahead (``--end-ts``), so the ingest is still following the feed, holding its PD
service GC safepoint, when the signal arrives; its two workers are its direct children running
``app.cli worker`` (found through ``/proc``, as ``bench/rto/tiundo_e2e.py`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from app.cli.jobstate import delete_job_topics
from simulator.tso import compose

from .cli_harness import ROOT, demo_cluster, holds_gc_safe_point

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

__all__ = ["demo_cluster"]  # the fixture, used by name

Cluster = tuple[dict[str, str], Path, str]

WORKERS = 2


@pytest.fixture
def job(kafka_bootstrap: str) -> Iterator[str]:
    name = f"sig-{uuid.uuid4().hex[:8]}"
    yield name
    asyncio.run(delete_job_topics(kafka_bootstrap, name))


# ---- processes ----------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's ``/proc/<pid>/task/<tid>/children``)."""
    found: set[int] = set()
    for f in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.update(int(p) for p in f.read_text().split())
    return sorted(found)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/<pid>/stat`` (tells a reused pid apart); ``None`` if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _workers_of(pid: int) -> dict[int, str]:
    """The run's worker children: pid → start time."""
    out: dict[int, str] = {}
    for child in _children(pid):
        started = _start_time(child)
        if "app.cli worker" in _cmdline(child) and started is not None:
            out[child] = started
    return out


def _alive(workers: dict[int, str]) -> list[int]:
    return [pid for pid, started in workers.items() if _start_time(pid) == started]


def _wait(what: str, check: object, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert proc.poll() is None, f"tiundo run exited {proc.returncode} before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


# ---- the PD service safe point ------------------------------------------------------------


# ---- the run ------------------------------------------------------------------------------


class _Run:
    """``tiundo run`` as a background process whose ingest never reaches E on its own."""

    def __init__(self, env: dict[str, str], job: str, tmp_path: Path) -> None:
        self.env, self.job = env, job
        self.job_dir = tmp_path / "jobs" / job
        self.err_path = tmp_path / "run.err"
        end_ts = compose(time.time_ns() // 1_000_000 + 600_000, 0)  # E ten minutes ahead
        self._out: IO[bytes] = (tmp_path / "run.out").open("wb")
        self._err: IO[bytes] = self.err_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run", "--job", job, "--workers", str(WORKERS),
             "--job-dir", str(self.job_dir), "--end-ts", str(end_ts), "--progress", "none"],
            env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
        )  # fmt: skip
        self.workers: dict[int, str] = {}

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def target_ts(self) -> int:
        """T from the run's first line (``job J: T=… (…) E=…``)."""
        for line in self.stderr().splitlines():
            if line.startswith(f"job {self.job}: T="):
                return int(line.split("T=", 1)[1].split()[0])
        raise AssertionError(f"no T line in {self.stderr()!r}")

    def wait_running(self) -> int:
        """Wait for both workers in Faust and the ingest's safe point at T; return T."""

        def workers_in_faust() -> bool:
            self.workers = _workers_of(self.proc.pid)
            logs = [self.job_dir / f"worker{i}.log" for i in range(WORKERS)]
            return len(self.workers) == WORKERS and all(
                p.exists() and "tiundo worker:" in p.read_text(errors="replace") for p in logs
            )

        _wait("the workers", workers_in_faust, 90, self.proc)
        _wait("the T line", lambda: f"job {self.job}: T=" in self.stderr(), 30, self.proc)
        target = self.target_ts()
        _wait(
            "the GC safe point at T",
            lambda: holds_gc_safe_point(self.env["TIUNDO_PD"], target),
            30,
            self.proc,
        )
        return target

    def close(self) -> None:
        """Whatever the test's outcome: nothing it started keeps running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in _alive(self.workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._out.close()
        self._err.close()


@pytest.fixture
def started(demo_cluster: Cluster, job: str, tmp_path: Path) -> Iterator[_Run]:
    env, _expect, _db = demo_cluster
    run = _Run(env, job, tmp_path)
    try:
        yield run
    finally:
        run.close()


def _wait_gone(workers: dict[int, str], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (alive := _alive(workers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name
)
def test_a_stop_signal_stops_everything_run_started_and_keeps_t_readable_for_resume(
    started: _Run, sig: signal.Signals
) -> None:
    """SIGTERM (systemd, docker stop) and SIGHUP (a closed SSH session) end as Ctrl-C does.

    The job did not end, so the GC safe point at T stays (until its TTL): ``--resume`` needs T.
    """
    target = started.wait_running()
    workers = dict(started.workers)

    started.proc.send_signal(sig)
    try:
        code = started.proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tiundo run still running 30 s after {sig.name}: {started.stderr()[-2000:]}")
    err = started.stderr()
    assert code == 130, (sig.name, code, err[-2000:])
    errors = [line for line in err.splitlines() if line.startswith("tiundo: error:")]
    assert errors == ["tiundo: error: interrupted"], err[-2000:]
    assert err.rstrip().endswith("tiundo: error: interrupted") and "Traceback" not in err
    assert _wait_gone(workers, 15) == [], f"workers still running after {sig.name}"
    assert holds_gc_safe_point(started.env["TIUNDO_PD"], target), (
        "the GC safe point at T was released"
    )


def test_kill_9_of_run_takes_its_workers_with_it(started: _Run) -> None:
    """No handler runs on SIGKILL: the workers notice their parent is gone by themselves.

    (The GC safe point cannot be released by a killed process; it expires after its TTL.)
    """
    started.wait_running()
    workers = dict(started.workers)

    started.proc.kill()
    started.proc.wait(10)
    assert _wait_gone(workers, 15) == [], "workers outlived a kill -9 of tiundo run"


@pytest.mark.parametrize("lifeline", [False, True], ids=["by-hand", "exit-on-stdin-eof"])
def test_only_a_worker_asked_to_watches_its_stdin(
    kafka_bootstrap: str, mysql_url: str, job: str, tmp_path: Path, lifeline: bool
) -> None:
    """A worker started by hand (compose, systemd: stdin at EOF from the start) runs on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIUNDO_")}
    env.update(
        TIUNDO_KAFKA=kafka_bootstrap, TIUNDO_DOWNSTREAM=mysql_url, TIUNDO_JOB=job,
        TIUNDO_DATADIR=str(tmp_path / "w"), PYTHONPATH=str(ROOT),
    )  # fmt: skip
    flag = ["--exit-on-stdin-eof"] if lifeline else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", *flag],
        env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        assert not lifeline, "a worker with --exit-on-stdin-eof ran on with stdin at EOF"
        return  # by hand: still waiting for its job's record, as it should
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=30)
    assert lifeline, f"a worker started by hand exited {proc.returncode}: {err[-1000:]}"
    # stopped by its own SIGTERM: the clean path (130) once its handlers are in, else the default
    assert proc.returncode in (130, -signal.SIGTERM), (proc.returncode, err[-1000:])
    assert "parent process gone" in err and "Traceback" not in err, err[-1000:]
