"""The one home of tiundo's Prometheus metrics: every name is defined here, once.

``tiundo run``, ``tiundo ingest`` and each ``tiundo worker`` serve ``/metrics`` on
``--metrics-addr host:port`` (:func:`serve`; off unless given, see :mod:`core.metrics_addr`).
The stages update the metrics where the facts are: the ingest from its progress snapshot, the
compact agent per record, the sink per committed transaction, the board per dead letter and
status, :mod:`core.retry` per retry, ``run`` from the job's status. Names follow Prometheus'
conventions: ``tiundo_`` prefix, ``_total`` on counters (prometheus_client appends it), the
unit in the name; labels are few and bounded (state, partition, table, statement kind, error
class). Faust's own sensor adds ``tiundo_faust_*`` on workers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from prometheus_client import REGISTRY, Counter, Gauge, start_http_server

from core.errors import ConfigError
from core.metrics_addr import parse_addr

__all__ = [
    "CHANGES",
    "DEAD_LETTERS",
    "FOREIGN_WRITES",
    "FRONTIER_LAG",
    "INGEST_STATE",
    "INGEST_STATES",
    "JOB_INFO",
    "JOB_STATE",
    "JOB_STATES",
    "RECORDS_COMPACTED",
    "REGIONS",
    "REGIONS_INITIALIZED",
    "RETRIES",
    "ROWS_APPLIED",
    "MetricsServer",
    "TotalCounter",
    "serve",
    "set_state",
]

JOB_INFO = Gauge(
    "tiundo_job_info",
    "Always 1; the job this process works for, its start (instance, attempt) and its role.",
    ["tiundo_job", "instance", "attempt", "role"],
)
JOB_STATE = Gauge(
    "tiundo_job_state",
    "1 for the job's current state (WAITING, RUNNING, SUCCEEDED, FAILED, INCOMPLETE), 0 others.",
    ["state"],
)
INGEST_STATE = Gauge(
    "tiundo_ingest_state",
    "1 for the ingest's current state (starting, ingesting, fencing, flushing, done, stopped, "
    "failed).",
    ["state"],
)
REGIONS = Gauge("tiundo_regions", "Regions of the selected tables the ingest follows.")
REGIONS_INITIALIZED = Gauge(
    "tiundo_regions_initialized", "Regions whose initial scan from T has finished."
)
FRONTIER_LAG = Gauge(
    "tiundo_frontier_lag_seconds",
    "How far the resolved-ts frontier of all regions is behind E (0 once passed).",
)
CHANGES = Counter(
    "tiundo_changes",
    "Row changes of the selected tables in (T, E] the ingest produced (rate = changes/s).",
)
FOREIGN_WRITES = Counter(
    "tiundo_foreign_writes",
    "Writes by others to the selected tables committed after E, seen by the fence.",
)
RECORDS_COMPACTED = Counter(
    "tiundo_records_compacted",
    "Records of <job>.kv compacted into the RocksDB table, per partition.",
    ["partition"],
)
ROWS_APPLIED = Counter(
    "tiundo_rows_applied",
    "Rows written downstream in committed undo transactions, per table and statement kind "
    "(replace, insert, delete, delete_row).",
    ["table", "kind"],
)
DEAD_LETTERS = Counter(
    "tiundo_dead_letters", "Events or rows dead-lettered to <job>.dead (the job is INCOMPLETE)."
)
RETRIES = Counter(
    "tiundo_transient_retries",
    "Retries of a call that failed with a transient error (core.retry), per error class.",
    ["error"],
)

#: the states :data:`JOB_STATE` knows (``WAITING``: no status yet)
JOB_STATES: Final = ("WAITING", "RUNNING", "SUCCEEDED", "FAILED", "INCOMPLETE")
#: the states :data:`INGEST_STATE` knows
INGEST_STATES: Final = (
    "starting",
    "ingesting",
    "fencing",
    "flushing",
    "done",
    "stopped",
    "failed",
)


def set_state(gauge: Gauge, states: Iterable[str], current: str) -> None:
    """``current`` 1 and every other known state 0 (an unknown one is added)."""
    for state in {*states, current}:
        gauge.labels(state=state).set(1 if state == current else 0)


class TotalCounter:
    """A counter fed with a running total (a progress snapshot's), not with increments.

    The snapshot's totals restart from 0 in a new ingest of the same process; the counter
    never goes down, it takes the new total's growth.
    """

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._last = 0
        self._lock = threading.Lock()

    def observe(self, total: int) -> None:
        """Add what ``total`` grew by since the last observation."""
        with self._lock:
            grown = total - self._last if total >= self._last else total
            self._last = total
        if grown > 0:
            self._counter.inc(grown)


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """A running ``/metrics`` endpoint (a daemon thread); :meth:`close` stops it."""

    host: str
    port: int
    _server: object

    def close(self) -> None:
        """Stop serving (the port is free afterwards)."""
        shutdown = getattr(self._server, "shutdown", None)
        if shutdown is not None:
            shutdown()
        close = getattr(self._server, "server_close", None)
        if close is not None:
            close()


def serve(addr: str) -> MetricsServer | None:
    """Serve the process's metrics on ``addr`` (``host:port``); ``None`` when ``addr`` is empty.

    A port already taken is a one-line :class:`ConfigError` naming it.
    """
    if not addr:
        return None
    host, port = parse_addr(addr)
    try:
        server, _ = start_http_server(port, addr=host, registry=REGISTRY)
    except OSError as exc:
        raise ConfigError(f"--metrics-addr {addr}: cannot listen there ({exc.strerror})") from None
    return MetricsServer(host, port, server)
