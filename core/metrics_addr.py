"""Where ``/metrics`` is served: ``--metrics-addr host:port`` and the ports of spawned workers.

Off unless given: ``tiundo run`` starts several processes on one machine (itself and N workers,
each needing a port), and several jobs or test runs may share it; a fixed default port would make
the second one fail to start over a monitoring endpoint nobody asked for. Given ``host:port``,
``run`` serves on it and its i-th worker on port + 1 + i. Pure: stdlib only.
"""

from __future__ import annotations

from typing import Final

from core.errors import ConfigError

__all__ = ["ADDR_ENV", "parse_addr", "worker_addr"]

#: the environment variable of ``--metrics-addr`` (declared on the worker's config)
ADDR_ENV: Final = "TIUNDO_METRICS_ADDR"


def parse_addr(addr: str) -> tuple[str, int]:
    """``host:port`` of ``--metrics-addr``; a one-line :class:`ConfigError` naming it if bad."""
    host, sep, port = addr.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"--metrics-addr / {ADDR_ENV} must be host:port (port 1..65535), got {addr!r}"
        )
    return host.strip("[]"), int(port)


def worker_addr(addr: str, index: int) -> str:
    """The address of the ``index``-th worker ``tiundo run`` starts: ``addr``'s port + 1 + i."""
    host, port = parse_addr(addr)
    if port + 1 + index > 65535:
        raise ConfigError(f"--metrics-addr {addr}: no port left for worker {index}")
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port + 1 + index}"
