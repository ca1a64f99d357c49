"""Peak memory of processes, read from ``/proc`` (Linux).

``getrusage``'s ``ru_maxrss`` is no use here: a process made by fork + exec (``subprocess``,
multiprocessing's ``spawn``) keeps the high-water mark of the process it was forked from, so a
small child of a big harness reports the harness's size. ``VmHWM`` in ``/proc/<pid>/status``
belongs to the address space the exec created, so it is the process's own peak. A process's
``VmHWM`` can only be read while it lives: :class:`RssWatcher` samples it until the process
exits (the last sample is the peak up to at most one sampling interval before the end).
"""

from __future__ import annotations

import threading
from pathlib import Path

__all__ = ["RssWatcher", "proc_kib", "self_peak_kib"]


def proc_kib(pid: int | str, field: str = "VmRSS") -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS`` now, ``VmHWM`` peak); None if gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def self_peak_kib() -> int:
    """This process's own peak RSS in KiB (0 when /proc does not tell)."""
    return proc_kib("self", "VmHWM") or 0


class RssWatcher:
    """Samples the peak RSS of named processes in a background thread.

    ``add(name, pid)`` any time (a name seen twice keeps the larger peak); ``stop()`` returns
    ``{name: peak KiB}``. Usable from sync and async code alike (it never blocks the caller).
    """

    def __init__(self, interval_s: float = 0.05) -> None:
        self._interval = interval_s
        self._pids: dict[int, str] = {}
        self._peak: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-watcher", daemon=True)
        self._thread.start()

    def add(self, name: str, pid: int) -> None:
        """Watch ``pid`` under ``name``."""
        with self._lock:
            self._pids[pid] = name
        self._sample()

    def _sample(self) -> None:
        with self._lock:
            for pid, name in list(self._pids.items()):
                kib = proc_kib(pid, "VmHWM")
                if kib is None:
                    del self._pids[pid]
                else:
                    self._peak[name] = max(self._peak.get(name, 0), kib)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def stop(self) -> dict[str, int]:
        """Stop sampling; the peaks seen, by name."""
        self._sample()
        self._stop.set()
        self._thread.join()
        with self._lock:
            return dict(self._peak)
