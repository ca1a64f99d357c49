"""Faust undo test kit: worker subprocesses (``faust -A app.main worker``), topic readers.

Every worker runs with its own datadir and no web server, like several workers on one machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from app.cli.jobstate import read_compacted
from proto import tiundo_pb2

ROOT = Path(__file__).resolve().parents[2]
FINAL = (
    tiundo_pb2.JobStatus.SUCCEEDED,
    tiundo_pb2.JobStatus.FAILED,
    tiundo_pb2.JobStatus.INCOMPLETE,
)


def undo_env(
    *, job: str, kafka: str, downstream: str, status_api: str, partitions: int, **extra: str
) -> dict[str, str]:
    """TIUNDO_* settings of a test job (MariaDB dialect, short group session timeout)."""
    env = {
        "TIUNDO_JOB": job,
        "TIUNDO_KAFKA": f"kafka://{kafka}",
        "TIUNDO_DOWNSTREAM": downstream,
        "TIUNDO_STATUS_API": status_api,
        "TIUNDO_PARTITIONS": str(partitions),
        "TIUNDO_DIALECT": "mysql",
        "TIUNDO_TZ": "+00:00",
        "TIUNDO_SESSION_TIMEOUT_S": "6",
        "TIUNDO_RETRY_BACKOFF_S": "0.05",
    }
    env.update(extra)
    return env


class Worker:
    """One worker process (``faust -A app.main worker`` or ``run_worker``), own datadir and log."""

    def __init__(
        self, settings: Mapping[str, str], datadir: Path, log: Path, *, entry: str = "faust"
    ) -> None:
        self.entry = entry
        self.settings = dict(settings)
        self.datadir = datadir
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file = None
        self.start()

    def start(self) -> None:
        env = {**os.environ, **self.settings, "TIUNDO_DATADIR": str(self.datadir)}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        self._log_file = self.log.open("ab")
        if self.entry == "faust":
            argv = ["-m", "faust", "-A", "app.main", "worker", "--without-web", "-l", "info"]
        else:  # the Python entry point the CLI's `tiundo worker` uses
            argv = [
                "-c",
                "from app.config import UndoConfig; from app.main import run_worker; "
                "run_worker(UndoConfig.from_env())",
            ]
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill9(self) -> None:
        """SIGKILL, no clean shutdown (a crash)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        if self._log_file:
            self._log_file.close()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return f"--- {self.log.name}\n" + "\n".join(text[-lines:])


async def undo_with_two_workers(
    bootstrap: str, job: str, settings: Mapping[str, str], tmp_path: Path, *, seconds: float = 150
) -> tiundo_pb2.JobStatus:
    """Start a worker and an attached one on ``settings``, wait for the final status, stop both.

    Asserts the job SUCCEEDED with no dead letters; the caller checks T, E and the rows.
    """
    workers = [
        Worker(settings, tmp_path / "w0", tmp_path / "w0.log"),
        Worker(settings, tmp_path / "w1", tmp_path / "w1.log", entry="run_worker"),
    ]
    try:
        status = await wait_status(bootstrap, job, workers, seconds)
        tails = "\n".join(w.tail() for w in workers)
        assert status.state == tiundo_pb2.JobStatus.SUCCEEDED, f"{status}\n{tails}"
        assert status.dead_letters == 0
        return status
    finally:
        for w in workers:
            w.stop()


async def wait_status(
    bootstrap: str, job: str, workers: list[Worker], seconds: float
) -> tiundo_pb2.JobStatus:
    """Poll ``<job>.status`` until the job is SUCCEEDED, FAILED or INCOMPLETE."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    last = None
    while loop.time() < deadline:
        notes = await read_compacted(bootstrap, f"{job}.status")
        if job.encode() in notes:
            last = tiundo_pb2.JobStatus.FromString(notes[job.encode()])
            if last.state in FINAL:
                return last
        dead = [w for w in workers if not w.alive()]
        if dead:
            pytest.fail("a worker exited\n" + "\n".join(w.tail() for w in dead))
        await asyncio.sleep(0.5)
    pytest.fail(
        f"no final status in {seconds}s (last: {last})\n" + "\n".join(w.tail() for w in workers)
    )


async def wait_note(bootstrap: str, job: str, prefix: str, seconds: float) -> None:
    """Wait until ``<job>.progress`` holds a note whose key starts with ``prefix``."""
    async with asyncio.timeout(seconds):
        while True:
            notes = await read_compacted(bootstrap, f"{job}.progress")
            if any(k.decode().startswith(prefix) for k in notes):
                return
            await asyncio.sleep(0.05)
