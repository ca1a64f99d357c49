"""Peak RSS comes from the process's own address space, not from the one it was forked from."""

from __future__ import annotations

import subprocess
import sys

from bench.rto.procs import RssWatcher, proc_kib, self_peak_kib

MIB = 1024


def _child(alloc_mib: int) -> subprocess.Popen[bytes]:
    code = f"b = bytearray({alloc_mib} << 20); b[::4096] = b'x' * len(b[::4096]); " + (
        "import time; time.sleep(0.4)"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def test_watcher_sees_a_child_allocate() -> None:
    ballast = bytearray(120 << 20)  # make this process clearly bigger than the children
    ballast[::4096] = b"y" * len(ballast[::4096])
    watcher = RssWatcher(interval_s=0.02)
    big, small = _child(80), _child(0)
    watcher.add("big", big.pid)
    watcher.add("small", small.pid)
    assert big.wait() == 0 and small.wait() == 0
    peaks = watcher.stop()
    assert peaks["big"] >= 80 * MIB
    # the small child is a bare interpreter: it does not inherit this process's high-water mark
    assert peaks["small"] < 60 * MIB < self_peak_kib()
    assert len(ballast) == 120 << 20


def test_proc_fields() -> None:
    now = proc_kib("self")
    assert now is not None and 0 < now <= self_peak_kib()
    assert proc_kib(2**22 + 12345) is None
    assert proc_kib("self", "NoSuchField") is None
