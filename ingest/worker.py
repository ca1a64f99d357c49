"""The ingest worker: discovery, GC safety, EventFeed streams, scheduling, producing, progress.

:func:`run_ingest` is the entry point the CLI calls. The flow (DESIGN.md §2.1-2.3):

1. PD ``GetMembers`` (cluster id, leader); tables from the status API; ``T``/``E``
   (:mod:`ingest.window`); a service GC safepoint at ``T`` (refused if GC already passed it).
2. Topic ``<job>.kv`` created/checked; the ordered idempotent producer started.
3. Each table's record span is split into regions via PD ``ScanRegions``; each region is
   registered on its leader store's stream with ``checkpoint_ts`` = its range's last resolved
   ts (``T`` at first). Streams: one per store with EventFeedV2 multiplexing (a fresh request
   id per registration, so resolved ts are exact per registration), else TiCDC's "table
   exclusive" plain EventFeed streams, one per (store, table) with the table's request id.
4. Raw messages go through :class:`~ingest.region_worker.RegionWorker` (matcher, filter,
   frontier, batcher); outputs go to the producer in order. Region errors are handled as TiCDC
   does (facts/eventfeed.md §3.10): leader update, re-split via PD, retry with backoff; fatal
   ones fail the job with the region/store/table named. A broken stream drops its regions,
   which are re-resolved via PD after the store's reconnect backoff.
5. Locks left by a crashed TiDB hold a region's resolved ts below ``E`` for ever: a region
   stuck below ``E`` for ``lock_stall_s`` gets its locks resolved as TiCDC does
   (:mod:`ingest.locks` decides, :mod:`ingest.lock_resolver` talks to TiKV).
6. When every table's frontier passes ``E``: END records, flush; with a fence (``tiundo run``),
   the streams stay open until the last partition reported, counting writes by others; then
   close the streams, release the GC safepoint. SIGTERM, SIGINT or SIGHUP
   (:meth:`IngestWorker.stop`) flushes and releases the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import count

from core import metrics
from core.errors import TiundoError, TransientError
from core.retry import Backoff, is_retriable, ride_out
from core.status_api import StatusApiClient
from ingest.config import IngestConfig
from ingest.discover import SelectedTable, physical_spans, select_tables, table_names
from ingest.feed import StoreChannels, StoreStream, StoreUnreachableError, StreamBrokenError
from ingest.grpc_tls import channel_credentials
from ingest.lock_resolver import LockResolver
from ingest.locks import StallTracker
from ingest.model import RegionInfo, Span
from ingest.partitioner import Partitioner
from ingest.patterns import parse_pattern
from ingest.pd import PDClient, PDError, StoreInfo
from ingest.producer import OutputSink, RecordEncoder, kafka_sink
from ingest.recording import RecordingHeader, RecordingWriter, Registration
from ingest.region_errors import Action, cover
from ingest.region_worker import Failure, RegionWorker, Subscription
from ingest.window import GcSafepointKeeper, UndoWindow, undo_window
from proto import cdcpb_pb2, kvrpcpb_pb2, metapb_pb2

__all__ = [
    "IngestResult",
    "IngestWorker",
    "Progress",
    "ProgressCallback",
    "build_region_worker",
    "run_ingest",
    "spread_table_ids",
]

log = logging.getLogger(__name__)

#: what stops :meth:`IngestWorker.run_until_signalled` cleanly: Ctrl-C, systemd/``docker stop``,
#: a closed terminal
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: the longest one step of the ingest's shutdown may take (closing streams, channels, the
#: producer, the GC safepoint's release, PD); past it the step is left behind with a warning
CLOSE_S = 15.0


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of the job for the CLI to render (all counters since start)."""

    state: str  # starting | ingesting | fencing | flushing | done | stopped | failed
    target_ts: int = 0
    end_ts: int = 0
    frontier_ts: int = 0
    #: physical milliseconds from the frontier to E (0 once passed)
    lag_ms: int = 0
    regions: int = 0
    regions_initialized: int = 0
    events: int = 0
    rows: int = 0
    changes: int = 0
    events_per_s: float = 0.0
    records_sent: int = 0
    bytes_sent: int = 0
    stream_reconnects: int = 0
    resplits: int = 0
    region_errors: Mapping[str, int] = field(default_factory=dict)
    tables: Mapping[str, int] = field(default_factory=dict)  # table → its frontier ts
    elapsed_s: float = 0.0
    #: writes by others to selected tables after E, seen by the fence so far
    foreign_writes: int = 0


_CHANGES = metrics.TotalCounter(metrics.CHANGES)
_FOREIGN = metrics.TotalCounter(metrics.FOREIGN_WRITES)


def export_metrics(p: Progress) -> None:
    """The ingest's Prometheus metrics (:mod:`core.metrics`) from a progress snapshot."""
    metrics.set_state(metrics.INGEST_STATE, metrics.INGEST_STATES, p.state)
    metrics.REGIONS.set(p.regions)
    metrics.REGIONS_INITIALIZED.set(p.regions_initialized)
    if p.end_ts:
        metrics.FRONTIER_LAG.set(p.lag_ms / 1000)
    _CHANGES.observe(p.changes)
    _FOREIGN.observe(p.foreign_writes)


ProgressCallback = Callable[[Progress], None]
#: builds the output sink once the window is known (Kafka in production, a counter for `plan`)
SinkFactory = Callable[[IngestConfig, RecordEncoder], Awaitable[OutputSink]]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What the job produced (the CLI's report of the ingest stage)."""

    job: str
    topic: str
    state: str  # done | stopped
    target_ts: int
    end_ts: int
    primary_ts: int
    tables: tuple[str, ...]
    changes: int
    records: int
    changes_per_partition: tuple[int, ...]
    batches_per_partition: tuple[int, ...]
    foreign_writes: int
    dropped: Mapping[str, int]
    region_errors: Mapping[str, int]
    stream_reconnects: int
    duration_s: float
    recording: str | None = None
    #: foreign writes by physical table id (see ``foreign_writes``)
    foreign_by_table: Mapping[int, int] = dataclasses.field(default_factory=dict)
    #: seconds from the first registration to the last record delivered
    feed_duration_s: float = 0.0
    #: distinct transactions (start_ts) among ``changes``: the transactions the undo reverts
    transactions: int = 0


def spread_table_ids(tables: Iterable[SelectedTable], patterns: Iterable[str]) -> set[int]:
    """Physical ids of the selected tables matching a spread pattern (``db.t``, ``db.*``)."""
    pats = [parse_pattern(p) for p in patterns]
    return {
        pid
        for t in tables
        if any(p.db.lower() == t.db.lower() and p.matches(t.name) for p in pats)
        for pid in t.physical_ids
    }


def build_region_worker(
    config: IngestConfig,
    tables: list[SelectedTable],
    target_ts: int,
    end_ts: int,
) -> RegionWorker:
    """The job's :class:`RegionWorker` (same construction for the live run and the replay)."""
    return RegionWorker(
        target_ts=target_ts,
        end_ts=end_ts,
        spans=physical_spans(tables),
        partitioner=Partitioner(config.partitions, spread_table_ids(tables, config.spread_tables)),
        batch_max_changes=config.batch_max_changes,
        batch_max_bytes=config.batch_max_bytes,
        own_source=config.own_source,
        table_names=table_names(tables),
    )


def make_result(
    config: IngestConfig,
    core: RegionWorker,
    encoder: RecordEncoder,
    window: UndoWindow,
    tables: list[SelectedTable],
    *,
    state: str,
    started: float,
    stream_reconnects: int = 0,
    recording: str | None = None,
    feed_started: float | None = None,
) -> IngestResult:
    """:class:`IngestResult` from the job's counters."""
    f = core.row_filter
    return IngestResult(
        job=config.job,
        topic=config.topic,
        state=state,
        target_ts=window.target_ts,
        end_ts=window.end_ts,
        primary_ts=window.primary_ts,
        tables=tuple(t.qualified for t in tables),
        changes=sum(encoder.changes),
        records=encoder.records,
        changes_per_partition=tuple(encoder.changes),
        batches_per_partition=tuple(encoder.batches),
        foreign_writes=f.foreign_after_end,
        foreign_by_table=dict(f.foreign_by_table),
        dropped={
            "not_record": f.dropped_not_record,
            "other_table": f.dropped_other_table,
            "before_start": f.dropped_before_start,
            "after_end": f.dropped_after_end,
        },
        region_errors=dict(core.region_errors),
        stream_reconnects=stream_reconnects,
        duration_s=time.monotonic() - started,
        recording=recording,
        feed_duration_s=time.monotonic() - (started if feed_started is None else feed_started),
        transactions=core.txns.count,
    )


@dataclass(frozen=True, slots=True)
class _Resplit:
    table_id: int
    span: Span
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class _Register:
    table_id: int
    region: RegionInfo
    span: Span
    store_id: int
    attempt: int = 0


_Task = _Resplit | _Register


def register_request(
    cluster_id: int, ticdc_version: str, sub: Subscription
) -> cdcpb_pb2.ChangeDataRequest:
    """The ``ChangeDataRequest`` registering ``sub`` (TiCDC's shape, old values on)."""
    epoch = sub.region.epoch
    return cdcpb_pb2.ChangeDataRequest(
        header=cdcpb_pb2.Header(cluster_id=cluster_id, ticdc_version=ticdc_version),
        region_id=sub.region_id,
        region_epoch=metapb_pb2.RegionEpoch(conf_ver=epoch.conf_ver, version=epoch.version),
        checkpoint_ts=sub.checkpoint_ts,
        start_key=sub.span.start,
        end_key=sub.span.end,
        request_id=sub.request_id,
        extra_op=kvrpcpb_pb2.ReadOldValue,
    )


class IngestWorker:
    """One ingest job (see the module docstring); :meth:`run` once."""

    def __init__(
        self,
        config: IngestConfig,
        progress_cb: ProgressCallback | None = None,
        *,
        sink_factory: SinkFactory = kafka_sink,
    ) -> None:
        self.config = config
        self._sink_factory = sink_factory
        self.progress_cb = progress_cb
        self.state = "starting"
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        #: set by the caller to hold the feed open after END (see :meth:`run`)
        self.fence: asyncio.Event | None = None
        self._winding_down = False
        self._failure: BaseException | None = None
        self._started = time.monotonic()
        self._rng = random.Random()
        self._request_ids = count(1)
        self._stream_ids = count(1)
        self.core: RegionWorker | None = None
        self.producer: OutputSink | None = None
        self.window: UndoWindow | None = None
        self.tables: list[SelectedTable] = []
        self.pd: PDClient | None = None
        self.channels: StoreChannels | None = None
        self.recorder: RecordingWriter | None = None
        self.stores: dict[int, StoreInfo] = {}
        self.streams: dict[tuple[int, int, int], StoreStream] = {}
        self.table_request_ids: dict[int, int] = {}
        self._store_backoff: dict[int, Backoff] = {}
        #: store id → (when its streams started failing before any message, the last such
        #: failure): one outage of an unreachable store
        self._store_down_since: dict[int, tuple[float, float]] = {}
        # Re-registering a region / re-scanning PD: ×2 from the configured base, jitter 0.1;
        # each region counts its own attempts, so only the curve is shared.
        self._region_backoff = Backoff(
            config.region_retry_base_s, 2.0, 0.1, config.region_retry_cap_s, rng=self._rng
        )
        self._region_attempts: dict[int, int] = {}
        self._queue: asyncio.Queue[_Task] = asyncio.Queue()
        self._timers: set[asyncio.TimerHandle] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.stream_reconnects = 0
        self.resplits = 0
        #: locks resolved so far, by outcome (commit, rollback, wait)
        self.lock_stats: Counter[str] = Counter()
        self._last_rate = (self._started, 0)
        self._rate = 0.0

    # -- control ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the job to stop cleanly (SIGTERM): flush what was produced, release GC."""
        self._stop.set()

    def _resumable(self) -> bool:
        """Whether the job stopped in a way a resume may continue (keep T readable)."""
        if self.state == "stopped":
            return True
        exc = self._failure
        return isinstance(exc, asyncio.CancelledError | KeyboardInterrupt) or (
            exc is not None and is_retriable(exc)
        )

    def result_so_far(self) -> IngestResult:
        """The counters as they stand, state ``stopped``.

        For a caller that could not wait for :meth:`run` to end (the job was over and the
        ingest did not stop in time, or failed after it).
        """
        config = self.config
        core, window, producer = self.core, self.window, self.producer
        if core is None or window is None or producer is None:
            return IngestResult(
                job=config.job, topic=config.topic, state="stopped", target_ts=0, end_ts=0,
                primary_ts=0, tables=(), changes=0, records=0, changes_per_partition=(),
                batches_per_partition=(), foreign_writes=0, dropped={}, region_errors={},
                stream_reconnects=self.stream_reconnects,
                duration_s=time.monotonic() - self._started,
            )  # fmt: skip
        return make_result(
            config, core, producer.encoder, window, self.tables, state="stopped",
            started=self._started, stream_reconnects=self.stream_reconnects,
        )  # fmt: skip

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._winding_down = True
        self._done.set()

    def progress(self) -> Progress:
        """The current :class:`Progress` snapshot."""
        core, window = self.core, self.window
        now = time.monotonic()
        if core is None or window is None:
            return Progress(state=self.state, elapsed_s=now - self._started)
        t_prev, ev_prev = self._last_rate
        if now - t_prev >= 0.5:
            self._rate = (core.rows - ev_prev) / (now - t_prev)
            self._last_rate = (now, core.rows)
        frontier = core.frontier.resolved_ts
        lag = max(0, (window.end_ts >> 18) - (frontier >> 18))
        names = core.table_names
        return Progress(
            state=self.state,
            target_ts=window.target_ts,
            end_ts=window.end_ts,
            frontier_ts=frontier,
            lag_ms=lag,
            regions=core.regions,
            regions_initialized=core.initialized,
            events=core.events,
            rows=core.rows,
            changes=core.changes,
            events_per_s=self._rate,
            records_sent=self.producer.encoder.records if self.producer else 0,
            bytes_sent=self.producer.bytes_sent if self.producer else 0,
            stream_reconnects=self.stream_reconnects,
            resplits=self.resplits,
            region_errors=dict(core.region_errors),
            tables={names.get(t, str(t)): ts for t, ts in core.table_resolved_ts().items()},
            elapsed_s=now - self._started,
            foreign_writes=core.row_filter.foreign_after_end,
        )

    # -- the job ----------------------------------------------------------------------------

    async def run_until_signalled(self) -> IngestResult:
        """:meth:`run`, with SIGTERM/SIGINT/SIGHUP asking for a clean stop (flush, GC released).

        SIGHUP is a closed SSH session; an ignored signal (``nohup``) stays ignored.
        """
        loop = asyncio.get_running_loop()
        stops = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
        for sig in stops:
            loop.add_signal_handler(sig, self.stop)
        try:
            return await self.run()
        finally:
            for sig in stops:
                loop.remove_signal_handler(sig)

    async def run(self) -> IngestResult:
        """Run the job to its end (or to :meth:`stop`); raise on a fatal error."""
        config = self.config.validate()
        credentials = channel_credentials(config.cluster_tls)
        self.pd = pd = PDClient(
            config.pd_endpoints, timeout=config.request_timeout_s, credentials=credentials
        )
        gc: GcSafepointKeeper | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            await pd.connect(election_s=config.pd_election_s)
            async with StatusApiClient(
                config.status_api_url, timeout=config.request_timeout_s, tls=config.status_tls
            ) as status:
                self.tables = await select_tables(status, config.tables)
            self.window = window = await undo_window(config, pd)
            log.info(
                "job %s: tables %s, window (%d, %d]",
                config.job,
                ", ".join(t.qualified for t in self.tables),
                window.target_ts,
                window.end_ts,
            )
            gc = GcSafepointKeeper(pd, config.gc_service_id, window.target_ts, config.gc_ttl_s)
            await gc.start()
            encoder = RecordEncoder(
                config.job,
                config.partitions,
                target_ts=window.target_ts,
                end_ts=window.end_ts,
                instance_id=config.instance,
                attempt=config.attempt,
            )
            self.producer = await self._start_sink(encoder)
            self.core = core = build_region_worker(
                config, self.tables, window.target_ts, window.end_ts
            )
            if config.record is not None:
                self.recorder = RecordingWriter(config.record, self._header(pd.cluster_id))
            self.channels = StoreChannels(
                max_receive_bytes=config.max_receive_bytes,
                multiplexing=config.multiplexing,
                credentials=credentials,
            )
            self.stores = await pd.get_all_stores()
            self.state = "ingesting"
            feed_started = time.monotonic()
            for t in self.tables:
                for pid in t.physical_ids:
                    self.table_request_ids[pid] = next(self._request_ids)
                    self._queue.put_nowait(_Resplit(pid, core.spans[pid]))
            tasks = [
                asyncio.create_task(self._scheduler(), name="ingest-scheduler"),
                asyncio.create_task(self._report_progress(), name="ingest-progress"),
                asyncio.create_task(self._watch_locks(), name="ingest-locks"),
            ]
            gc_task = gc.task
            # the fence opening before E means the job's status is final (a partition failed):
            # nothing the feed still waits for (a store down, a lock) matters any more
            ends = [self._done, self._stop] + ([self.fence] if self.fence is not None else [])
            waiters = [asyncio.create_task(e.wait()) for e in ends]
            wait_on: set[asyncio.Future[object]] = set(waiters)  # type: ignore[arg-type]
            if gc_task is not None:
                wait_on.add(gc_task)  # type: ignore[arg-type]
            try:
                await asyncio.wait(wait_on, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            if gc_task is not None and gc_task.done() and not gc_task.cancelled():
                exc = gc_task.exception()
                if exc is not None:
                    self._fail(exc)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    self._fail(task.exception())  # type: ignore[arg-type]
            if self._failure is not None:
                self.state = "failed"
                raise self._failure
            if self.fence is not None and core.done and not self._stop.is_set():
                await self._hold_fence(gc_task)
            elif self.fence is not None and self.fence.is_set() and not core.done:
                log.info("job %s: its status is final before the feed reached E; closing "
                         "the feed", config.job)  # fmt: skip
            self._winding_down = True
            self.state = "flushing"
            await _bounded(self._close_streams(), "closing the EventFeed streams")
            await self.producer.flush()
            self.state = "done" if core.done else "stopped"
            self._emit_progress()
            return make_result(
                config,
                core,
                encoder,
                window,
                self.tables,
                state=self.state,
                started=self._started,
                stream_reconnects=self.stream_reconnects,
                recording=str(config.record) if config.record else None,
                feed_started=feed_started,
            )
        except BaseException as exc:
            if self.state != "failed":
                self.state = "failed"
            if self._failure is None:
                self._failure = exc
            raise
        finally:
            # every step is bounded (CLOSE_S): a store, PD or broker that does not answer
            # while the job closes must not keep the command alive (issue 14)
            self._winding_down = True
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            for task in tasks:
                task.cancel()
            if tasks:
                await _bounded(
                    asyncio.gather(*tasks, return_exceptions=True), "stopping the feed's tasks"
                )
            await _bounded(self._close_streams(), "closing the EventFeed streams")
            if self.channels is not None:
                await _bounded(self.channels.close(), "closing the TiKV channels")
            if self.producer is not None:
                await _bounded(self.producer.stop(), "stopping the Kafka producer")
            if self.recorder is not None:
                self.recorder.close()
            if gc is not None:
                # released when the ingest ended or failed for good; kept (its TTL) when it was
                # interrupted or gave up on something passing (Kafka, PD), so that
                # `tiundo run --resume` finds T still readable
                keep = self._resumable()
                await _bounded(
                    gc.detach() if keep else gc.stop(), "releasing the GC service safepoint"
                )
            await _bounded(pd.close(), "closing the PD channel")

    def _header(self, cluster_id: int) -> RecordingHeader:
        assert self.window is not None
        return RecordingHeader(
            job=self.config.job,
            cluster_id=cluster_id,
            target_ts=self.window.target_ts,
            end_ts=self.window.end_ts,
            primary_ts=self.window.primary_ts,
            tables=tuple(
                {
                    "db": t.db,
                    "name": t.name,
                    "table_id": t.table_id,
                    "physical_ids": list(t.physical_ids),
                }
                for t in self.tables
            ),
            schema={str(t.table_id): dict(t.info) for t in self.tables},
        )

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(self.config.progress_interval_s)
            self._emit_progress()

    def _emit_progress(self) -> None:
        try:
            p = self.progress()
            export_metrics(p)
            if self.progress_cb is not None:
                self.progress_cb(p)
        except Exception:  # a rendering bug must not kill the job
            log.exception("progress callback failed")

    async def _close_streams(self) -> None:
        streams, self.streams = list(self.streams.values()), {}
        for stream in streams:
            await stream.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # -- lock resolution ----------------------------------------------------------------------

    async def _store_address(self, store_id: int) -> str:
        return (await self._store(store_id)).address

    async def _watch_locks(self) -> None:
        """Resolve the locks of regions whose resolved ts is stuck below E (``lock_stall_s``).

        A failed round is logged and tried again after ``lock_stall_s``; only an unexpected
        error (a bug) fails the job, so it cannot die unnoticed.
        """
        core, window, pd, channels = self.core, self.window, self.pd, self.channels
        assert core is not None and window is not None and pd is not None and channels is not None
        stall_s = self.config.lock_stall_s
        tracker: StallTracker[tuple[int, int, int]] = StallTracker(stall_s, window.end_ts)
        resolver = LockResolver(
            pd, channels, self._store_address, timeout=self.config.request_timeout_s
        )
        resolver.stats = self.lock_stats
        try:
            while not core.done:
                await asyncio.sleep(min(1.0, stall_s / 2))
                now = time.monotonic()
                subs = {
                    s.key: s for s in core.subscriptions() if not s.zombie and s.matcher.initialized
                }
                tracker.retain(subs)
                for key, sub in subs.items():
                    tracker.observe(key, sub.matcher.resolved_ts, now)
                checked: set[int] = set()
                for key in tracker.due(now):
                    sub = subs[key]
                    tracker.attempted(key, now)
                    if sub.region_id in checked:
                        continue
                    checked.add(sub.region_id)
                    table = core.table_names.get(sub.table_id, str(sub.table_id))
                    log.info(
                        "locks: region %d (table %s) resolved ts %d below E=%d for %g s; "
                        "checking its locks",
                        sub.region_id,
                        table,
                        sub.matcher.resolved_ts,
                        window.end_ts,
                        stall_s,
                    )
                    try:
                        await resolver.resolve_span(sub.span, window.end_ts, table=table)
                    except TiundoError as exc:
                        log.warning(
                            "locks: region %d (table %s): %s; trying again in %g s",
                            sub.region_id,
                            table,
                            exc,
                            stall_s,
                        )
        except Exception as exc:
            self._fail(exc)

    # -- scheduling ---------------------------------------------------------------------------

    def _later(self, task: _Task, delay: float) -> None:
        if delay <= 0:
            self._queue.put_nowait(task)
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            self._queue.put_nowait(task)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    async def _start_sink(self, encoder: RecordEncoder) -> OutputSink:
        """The Kafka sink, started; a broker that is down is waited for up to the outage bound."""
        config = self.config

        async def attempt() -> OutputSink:
            sink = await self._sink_factory(config, encoder)
            await sink.start()
            return sink

        return await ride_out(
            attempt,
            what=f"job {config.job}: Kafka at {config.kafka_bootstrap}",
            outage_s=config.kafka_outage_s,
        )

    async def _hold_fence(self, gc_task: asyncio.Task[None] | None) -> None:
        """After END: deliver it, then keep every stream open until :attr:`fence` is set.

        The workers apply the undo after END; a write by someone else in that time would leave
        its rows off T without anyone noticing. Kept open, the feed shows such writes (commit_ts
        after E, not our write source) and the row filter counts them per table. Region errors
        are still handled, so a split during the apply does not blind the fence.
        """
        assert self.producer is not None and self.fence is not None
        await self.producer.flush()
        self.state = "fencing"
        self._emit_progress()
        waiters = [
            asyncio.create_task(self.fence.wait()),
            asyncio.create_task(self._stop.wait()),
        ]
        wait_on: set[asyncio.Future[object]] = set(waiters)  # type: ignore[arg-type]
        if gc_task is not None:
            wait_on.add(gc_task)  # type: ignore[arg-type]
        try:
            await asyncio.wait(wait_on, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        if gc_task is not None and gc_task.done() and not gc_task.cancelled():
            exc = gc_task.exception()
            if exc is not None:
                self._fail(exc)
        if self._failure is not None:
            self.state = "failed"
            raise self._failure

    async def _scheduler(self) -> None:
        while True:
            task = await self._queue.get()
            if self._winding_down or self._stop.is_set():
                return
            try:
                if isinstance(task, _Resplit):
                    await self._resplit(task)
                else:
                    await self._register(task)
            except TiundoError as exc:
                if not exc.retriable:
                    self._fail(exc)
                    return
                log.warning("scheduler: %s; retrying", exc)
                # A failed registration is re-resolved from PD like a failed scan.
                nxt = _Resplit(task.table_id, task.span, task.attempt + 1)
                self._later(nxt, self._region_backoff.delay(task.attempt))
            except Exception as exc:
                self._fail(exc)
                return

    async def _resplit(self, task: _Resplit) -> None:
        assert self.pd is not None
        self.resplits += 1
        try:
            regions = await self.pd.scan_regions(task.span, limit=self.config.scan_limit)
        except PDError as exc:
            log.warning("table %d span %s: %s; retrying", task.table_id, task.span, exc)
            self._later(
                _Resplit(task.table_id, task.span, task.attempt + 1),
                self._region_backoff.delay(task.attempt),
            )
            return
        for region in regions:
            part = region.span.intersect(task.span)
            if part is None:
                continue
            if not region.leader_store_id:
                log.info("region %d has no known leader; asking PD again", region.region_id)
                self._later(
                    _Resplit(task.table_id, part, task.attempt + 1),
                    self._region_backoff.delay(task.attempt),
                )
                continue
            await self._register(
                _Register(task.table_id, region, part, region.leader_store_id, task.attempt)
            )

    async def _store(self, store_id: int) -> StoreInfo:
        store = self.stores.get(store_id)
        if store is None:
            assert self.pd is not None
            self.stores = await self.pd.get_all_stores()
            store = self.stores.get(store_id)
            if store is None:
                raise PDError(f"store {store_id} is not known to PD")
        return store

    async def _register(self, task: _Register) -> None:
        core, recorder = self.core, self.recorder
        assert core is not None and self.pd is not None
        store = await self._store(task.store_id)
        stream, request_id = await self._stream_for(store, task.table_id, task.region.region_id)
        sub = Subscription(
            stream_id=stream.stream_id,
            request_id=request_id,
            table_id=task.table_id,
            region=task.region,
            span=task.span,
            checkpoint_ts=core.checkpoint_ts(task.table_id, task.span),
            store_id=store.store_id,
        )
        if recorder is not None:
            recorder.register(
                Registration(
                    sub.stream_id,
                    sub.request_id,
                    sub.table_id,
                    sub.region,
                    sub.span,
                    sub.checkpoint_ts,
                    sub.store_id,
                )
            )
        core.add(sub)
        stream.send(register_request(self.pd.cluster_id, self.config.ticdc_version, sub))
        log.debug("registered %s", sub.describe(core.table_names.get(sub.table_id, "")))

    async def _stream_for(
        self, store: StoreInfo, table_id: int, region_id: int
    ) -> tuple[StoreStream, int]:
        """The stream to register ``region_id`` of ``table_id`` on, and the request id."""
        assert self.channels is not None and self.core is not None
        mux = await self.channels.multiplexing(store.address)
        if mux:
            key = (store.store_id, 0, 0)
            request_id = next(self._request_ids)
        else:
            request_id = self.table_request_ids[table_id]
            lane = 0
            # One plain stream cannot carry a region twice for one table (resolved ts are by
            # region id): a second registration of the same region takes another lane.
            while True:
                key = (store.store_id, table_id, lane)
                s = self.streams.get(key)
                if s is None or not self.core.has(s.stream_id, request_id, region_id):
                    break
                lane += 1
        stream = self.streams.get(key)
        if stream is None or stream.closed:
            stream = StoreStream(
                next(self._stream_ids),
                store.store_id,
                store.address,
                self.channels.channel(store.address),
                multiplexing=mux,
                on_message=self._on_message,
                on_broken=self._on_broken,
            )
            self.streams[key] = stream
            if not mux:
                self.core.bind_stream(stream.stream_id, request_id)
                if self.recorder is not None:
                    self.recorder.bind(stream.stream_id, request_id)
            stream.start()
            log.info("feed: opened %r", stream)
        return stream, request_id

    # -- stream callbacks -----------------------------------------------------------------------

    async def _on_message(self, stream: StoreStream, data: bytes) -> None:
        core, producer = self.core, self.producer
        assert core is not None and producer is not None
        if self.recorder is not None:
            self.recorder.message(stream.stream_id, data)
        if stream.messages == 1:
            self._store_backoff.pop(stream.store_id, None)
            self._store_down_since.pop(stream.store_id, None)
        result = core.on_message(stream.stream_id, data)
        for failure in result.failures:
            self._handle_failure(failure)
        if result.deregister:
            self._deregister(result.deregister)
        for sub in result.initialized:
            log.debug("initialized %s", sub.describe(core.table_names.get(sub.table_id, "")))
        if result.outputs:
            producer.submit(result.outputs)
        if result.ended:
            self._done.set()
        await producer.wait_capacity()

    def _deregister(self, subs: Iterable[Subscription]) -> None:
        assert self.pd is not None
        by_id = {s.stream_id: s for s in self.streams.values()}
        for sub in subs:
            stream = by_id.get(sub.stream_id)
            if stream is None or stream.closed:
                continue
            req = cdcpb_pb2.ChangeDataRequest(
                header=cdcpb_pb2.Header(
                    cluster_id=self.pd.cluster_id, ticdc_version=self.config.ticdc_version
                ),
                region_id=sub.region_id,
                request_id=sub.request_id,
                deregister=cdcpb_pb2.ChangeDataRequest.Deregister(),
            )
            stream.send(req)

    def _handle_failure(self, failure: Failure) -> None:
        sub, decision = failure.sub, failure.decision
        attempt = self._region_attempts.get(sub.region_id, 0)
        self._region_attempts[sub.region_id] = attempt + 1
        log.info("%s: %s", sub.describe(), decision.reason)
        if decision.action is Action.REGISTER_CURRENT:
            # TiKV named the regions now holding the span (a split): register them where it
            # answered, at once, instead of asking a PD that may not have heard of them yet.
            parts, gaps = cover(sub.span, decision.regions)
            delay = 0 if attempt == 0 else self._region_backoff.delay(attempt)
            for region, part in parts:
                self._later(
                    _Register(sub.table_id, region, part, decision.store_id, attempt), delay
                )
            for gap in gaps:
                self._later(
                    _Resplit(sub.table_id, gap, attempt), self._region_backoff.delay(attempt)
                )
        elif decision.action is Action.RESPLIT_VIA_PD:
            self._later(
                _Resplit(sub.table_id, sub.span, attempt), self._region_backoff.delay(attempt)
            )
        elif decision.action is Action.UPDATE_LEADER_AND_RETRY:
            self._later(
                _Register(sub.table_id, sub.region, sub.span, decision.store_id, attempt),
                0 if attempt == 0 else self._region_backoff.delay(attempt),
            )
        else:
            delay = max(decision.backoff_ms / 1000, self._region_backoff.delay(attempt))
            self._later(_Register(sub.table_id, sub.region, sub.span, sub.store_id, attempt), delay)

    def _on_broken(self, stream: StoreStream, exc: BaseException | None) -> None:
        core = self.core
        assert core is not None and self.channels is not None
        if isinstance(exc, TiundoError) and not exc.retriable:
            self._fail(exc)
            return
        if exc is not None and not isinstance(exc, (StreamBrokenError, TransientError)):
            self._fail(exc)
            return
        for key, s in list(self.streams.items()):
            if s is stream:
                del self.streams[key]
        closing = asyncio.get_running_loop().create_task(stream.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        if self._winding_down or self._stop.is_set():
            return
        if self.recorder is not None:
            self.recorder.broken(stream.stream_id)
        subs = core.drop_stream(stream.stream_id)
        if self._store_gone_too_long(stream, subs):
            return
        self.stream_reconnects += 1
        self.channels.forget(stream.address)
        backoff = self._store_backoff.get(stream.store_id)
        if backoff is None:
            backoff = self._store_backoff[stream.store_id] = Backoff(
                self.config.reconnect_base_s, 1.1, 0.1, self.config.reconnect_cap_s, rng=self._rng
            )
        delay = backoff.next_delay()
        log.warning(
            "feed: %r broke (%s); %d regions re-resolved via PD in %.2f s",
            stream,
            exc,
            len(subs),
            delay,
        )
        for sub in subs:
            self._later(_Resplit(sub.table_id, sub.span), delay)

    def _outage_gap_s(self) -> float:
        """The longest quiet time between two refusals of one outage of a store.

        Regions of a broken stream go back to PD after the reconnect backoff (at most
        ``reconnect_cap_s``, +10 % jitter), then to the store PD names; the next stream fails
        within a PD request and a gRPC connect attempt (keepalive 10 + 3 s). Longer than that
        without a refusal, no region waited on the store.
        """
        config = self.config
        return config.reconnect_cap_s * 1.1 + 2 * config.request_timeout_s + 13.0

    def _store_gone_too_long(self, stream: StoreStream, subs: list[Subscription]) -> bool:
        """Fail the job once a store refused every stream for ``store_outage_s``.

        Only streams that broke before their first message count (a store that answers and
        then breaks is restarting, not gone), and only while they keep coming (a refusal after
        :meth:`_outage_gap_s` of quiet starts a new outage). While PD keeps naming the store
        leader, the regions are re-resolved and sent back to it; the job would wait for ever
        without a word, so after the deadline it stops with one line naming the store and its
        tables.
        """
        if stream.messages:
            self._store_down_since.pop(stream.store_id, None)
            return False
        now = time.monotonic()
        since, last = self._store_down_since.get(stream.store_id, (now, now))
        if now - last > self._outage_gap_s():
            # nothing was retried on it for longer than retries of a refusing store take
            # (PD had moved its leaders away): this refusal starts a new outage
            since = now
        self._store_down_since[stream.store_id] = (since, now)
        limit = self.config.store_outage_s
        if now - since < limit:
            return False
        assert self.core is not None
        names = sorted({self.core.table_names.get(s.table_id, str(s.table_id)) for s in subs})
        regions = sorted({s.region_id for s in subs})
        self._fail(
            StoreUnreachableError(
                f"TiKV store {stream.store_id} at {stream.address} refused every stream for "
                f"{now - since:.0f} s (TIUNDO_STORE_OUTAGE_S={limit:g}) while PD still names it "
                f"leader of region(s) {', '.join(map(str, regions)) or '-'} of "
                f"{', '.join(names) or 'the job'}; bring the store back or let PD move its "
                "leaders, then tiundo run --resume"
            )
        )
        return True


async def _bounded(step: Awaitable[object], what: str, limit_s: float | None = None) -> None:
    """Await one shutdown step for at most ``limit_s`` (:data:`CLOSE_S`).

    Past it, say so and go on: what the step held is released with the process.
    """
    limit = CLOSE_S if limit_s is None else limit_s
    try:
        async with asyncio.timeout(limit):
            await step
    except TimeoutError:
        log.warning("shutdown: %s took longer than %g s; going on without it", what, limit)


async def run_ingest(
    config: IngestConfig,
    progress_cb: ProgressCallback | None = None,
    *,
    sink_factory: SinkFactory = kafka_sink,
) -> IngestResult:
    """Run one ingest job (see :class:`IngestWorker`); ``sink_factory`` replaces Kafka."""
    return await IngestWorker(config, progress_cb, sink_factory=sink_factory).run()
