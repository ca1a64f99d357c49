"""A worker's lifeline to ``tiundo run``: a pipe on its stdin whose EOF means run is gone.

``tiundo run`` starts its workers in their own session (Ctrl-C must reach only run, which
stops them in order), so nothing would stop them if run died without its ``finally`` blocks:
``kill -9``, the OOM killer, a crash. The pipe is the robust way to notice: the kernel closes
run's write end however it dies, and the worker's read of stdin returns EOF. It needs no
``preexec_fn`` (``prctl(PR_SET_PDEATHSIG)`` would: unsafe once run has threads, gRPC's and the
executor's; tied to the *thread* that forked rather than the process; racy if run dies before
the call; Linux only). Run holds the only write end: pipes are created non-inheritable and
``Popen`` closes other descriptors, so a second worker does not keep the first one's pipe open.

Only ``tiundo run`` asks for it (``tiundo worker --exit-on-stdin-eof``): a worker started by
hand, by ``docker compose`` or systemd often has stdin at EOF from the start and must run on.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Final

from app.cli.common import EXIT_INTERRUPTED

__all__ = ["GRACE_S", "watch_stdin"]

#: after EOF, how long the worker may take to stop cleanly (SIGTERM) before it is ended hard;
#: safe: the sink applies each downstream transaction exactly once (progress counter)
GRACE_S: Final = 10.0


def _until_eof(fd: int) -> None:
    """Read ``fd`` until EOF (the parent writes nothing; anything read is ignored)."""
    while True:
        try:
            if not os.read(fd, 4096):
                return
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
            continue
        except OSError:
            return  # a closed or broken descriptor: the parent is gone just the same


def _watch(fd: int, grace_s: float, exit_code: int) -> None:
    _until_eof(fd)
    print(
        "tiundo worker: parent process gone (stdin closed); stopping", file=sys.stderr, flush=True
    )
    os.kill(os.getpid(), signal.SIGTERM)  # the worker's own clean stop (faust, or run_command)
    time.sleep(grace_s)
    os._exit(exit_code)  # the clean stop hung: end hard rather than linger as an orphan


def watch_stdin(
    grace_s: float = GRACE_S, *, fd: int = 0, exit_code: int = EXIT_INTERRUPTED
) -> threading.Thread:
    """A daemon thread: on EOF of ``fd``, SIGTERM this process, then exit after ``grace_s``."""
    thread = threading.Thread(
        target=_watch, args=(fd, grace_s, exit_code), name="tiundo-lifeline", daemon=True
    )
    thread.start()
    return thread
