"""Stop signals and the workers' lifeline, each in a fresh interpreter (no services).

A signal sent to the test process itself would end pytest when the code under test gets it
wrong, so every scenario is a small script run with ``python -c``; it prints what happened.
The end-to-end versions (``tiundo run`` on the fake cluster) are in
tests/integration/test_signals.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _python(code: str, *, timeout: float = 30, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TIUNDO_DEBUG", None)
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, **kw,
    )  # fmt: skip


_COMMAND = """
    import asyncio, os, signal, sys
    from app.cli.common import run_command

    async def command() -> None:
        try:
            os.kill(os.getpid(), signal.{sig})
            await asyncio.sleep({wait})
            print("not interrupted", flush=True)
        finally:
            await asyncio.sleep(0.05)  # an await in the clean-up still runs
            print("cleaned up", flush=True)

    {prelude}
    run_command(command())
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stop_signal_ends_a_command_as_ctrl_c_does(sig: str) -> None:
    """The command's clean-up runs, then one line ``interrupted`` and exit 130."""
    r = _python(_COMMAND.format(sig=sig, prelude="", wait=20))
    assert r.returncode == 130, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "cleaned up\n"
    assert r.stderr == "tiundo: error: interrupted\n"


def test_an_ignored_sighup_stays_ignored() -> None:
    """``nohup tiundo run`` survives the closed terminal it was started from."""
    ignore = "signal.signal(signal.SIGHUP, signal.SIG_IGN)"
    r = _python(_COMMAND.format(sig="SIGHUP", prelude=ignore, wait=0.5))
    assert (r.returncode, r.stdout, r.stderr) == (0, "not interrupted\ncleaned up\n", "")


def test_the_signal_handlers_are_gone_after_the_command() -> None:
    r = _python("""
        import asyncio, signal
        from app.cli.common import run_command

        async def command() -> None:
            await asyncio.sleep(0)

        run_command(command())
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL,
              signal.getsignal(signal.SIGHUP) is signal.SIG_DFL)
    """)
    assert (r.returncode, r.stdout, r.stderr) == (0, "True True\n", "")


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_tiundo_ingest_stops_cleanly_on_every_stop_signal(sig: str) -> None:
    """``IngestWorker.run_until_signalled``: the signal asks for the clean stop (flush, GC)."""
    r = _python(f"""
        import asyncio, os, signal
        from ingest.config import IngestConfig
        from ingest.worker import IngestWorker

        class Probe(IngestWorker):
            async def run(self):  # the job: runs until stop() is asked for
                os.kill(os.getpid(), signal.{sig})
                await asyncio.wait_for(self._stop.wait(), 10)
                return "stopped cleanly"

        print(asyncio.run(Probe(IngestConfig(job="j")).run_until_signalled()))
    """)
    assert (r.returncode, r.stdout) == (0, "stopped cleanly\n"), r.stderr


_WORKER = """
    import signal, sys, time
    from app.cli.lifeline import watch_stdin

    signal.signal(signal.SIGTERM, lambda *_: print("SIGTERM", flush=True))
    watch_stdin({grace})
    print("ready", flush=True)
    time.sleep(30)
"""


def _start_worker(grace: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_WORKER.format(grace=grace))],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_the_lifeline_asks_for_a_clean_stop_then_ends_the_process_after_the_grace() -> None:
    """Stdin's EOF (the parent died): SIGTERM to itself; still running after the grace: exit."""
    proc = _start_worker(grace=1.0)
    try:
        time.sleep(0.3)
        assert proc.poll() is None, "stopped before its stdin closed"
        assert proc.stdin is not None
        started = time.monotonic()
        proc.stdin.close()
        proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert out == "SIGTERM\n"  # the handler ran; the process ignored it, so the grace ended it
    assert 1.0 <= time.monotonic() - started < 10
    assert err == "tiundo worker: parent process gone (stdin closed); stopping\n"


def test_the_lifeline_ignores_what_the_parent_writes() -> None:
    proc = _start_worker(grace=0.2)
    try:
        assert proc.stdin is not None
        proc.stdin.write("anything\n")
        proc.stdin.flush()
        time.sleep(0.5)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.communicate()


def test_run_gives_its_workers_the_lifeline(tmp_path: Path) -> None:
    """The flag is on ``run``'s command line only: a hand-started worker never watches stdin."""
    from app.cli.run import WorkerProcess
    from app.config import UndoConfig

    cfg = UndoConfig(job="j", downstream="mysql://root@127.0.0.1:1/")
    proc = WorkerProcess(cfg, tmp_path / "w", tmp_path / "w.log")
    try:
        assert proc.proc.args[-1] == "--exit-on-stdin-eof"  # type: ignore[index]
        assert proc.proc.stdin is not None
    finally:
        proc.proc.send_signal(signal.SIGKILL)
        proc.stop()
