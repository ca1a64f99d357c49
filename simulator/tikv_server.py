"""Fake TiKV store: the ``cdcpb.ChangeData`` gRPC service on its own 127.0.0.1 port.

The same server answers the lock-resolution subset of ``tikvpb.Tikv`` (``KvScanLock``,
``KvCheckTxnStatus``, ``KvCheckSecondaryLocks``, ``KvResolveLock``), as TiKV serves both on one
address; the logic is in :class:`simulator.lock_service.LockService`.

A thin shell around :class:`simulator.cdc_delegate.Connection` (all protocol logic is there).
Per stream: one reader task turns requests into register/deregister calls, one scan task per
registration sends the prepared scan messages (so live rows may overtake INITIALIZED, as on
TiKV), and an outbox queue feeds the response generator in order. The store's ticker sends
resolved ts to every stream each ``resolved_ts_interval`` seconds.

``EventFeedV2`` multiplexes: with metadata ``features: stream-multiplexing`` the resolved ts
are grouped per request id; an unknown feature name fails the call with ``UNIMPLEMENTED``, as
TiKV does (facts/eventfeed.md §1.6). On client half-close the call ends with OK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc

from proto import cdcpb_pb2, cdcpb_pb2_grpc, kvrpcpb_pb2, tikvpb_pb2_grpc
from simulator.cdc_delegate import KNOWN_FEATURES, MULTIPLEXING, Connection, ErrorKind, Scan
from simulator.faults import FaultState
from simulator.lock_service import LockService
from simulator.mvcc import Change, MvccStore
from simulator.pd_server import GRPC_OPTIONS
from simulator.regions import RegionChange, RegionTable
from simulator.tls import ServerTls

__all__ = ["TikvServer"]

log = logging.getLogger(__name__)

Context = Any  # grpc.aio.ServicerContext
Message = cdcpb_pb2.ChangeDataEvent
_END = object()
OUTBOX_HIGH_WATER = 8  # scan messages wait while this many are queued


class _Stream:
    """One open EventFeed call."""

    def __init__(self, server: TikvServer, multiplexing: bool) -> None:
        self.server = server
        self.conn = Connection(
            server.store_id,
            server.cluster_id,
            server.mvcc,
            server.regions,
            multiplexing=multiplexing,
            response_max_bytes=server.response_max_bytes,
        )
        self.outbox: asyncio.Queue[object] = asyncio.Queue()
        self.drained = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, messages: list[Message], *, entries: bool = True) -> None:
        dup = entries and self.server.faults.duplicate
        for m in messages:
            self.outbox.put_nowait(m)
            if dup:
                self.outbox.put_nowait(m)

    async def read(self, requests: AsyncIterator[cdcpb_pb2.ChangeDataRequest]) -> None:
        try:
            async for req in requests:
                self.handle(req)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            raise
        except Exception:  # a broken stream ends the call, it must not kill the server
            log.exception("store %s: reading EventFeed failed", self.server.store_id)
        finally:
            self.outbox.put_nowait(_END)

    def handle(self, req: cdcpb_pb2.ChangeDataRequest) -> None:
        kind = req.WhichOneof("request")
        if kind == "deregister":
            self.conn.gate(req)
            self.send(self.conn.deregister(req), entries=False)
            return
        if kind == "notify_txn_status":
            return  # TiKV panics on it; the fake ignores it
        injected = self.server.faults.take_register_error(req.region_id)
        out = self.conn.register(req, injected)
        if isinstance(out, Scan):
            task = asyncio.get_running_loop().create_task(self.send_scan(out))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        else:
            self.send([out], entries=False)

    async def send_scan(self, scan: Scan) -> None:
        faults = self.server.faults
        split = next((s for s in faults.scan_splits if s.region_id == scan.sub.region_id), None)
        if split is not None:
            faults.scan_splits.remove(split)
        for i, msg in enumerate(scan.messages):
            if not scan.sub.active:
                return
            while self.outbox.qsize() > OUTBOX_HIGH_WATER:
                self.drained.clear()
                await self.drained.wait()
            if not scan.sub.active:
                return
            last = i == len(scan.messages) - 1
            self.send([msg])
            if last:
                self.conn.mark_initialized(scan.sub)
            if split is not None and i + 1 >= split.after_messages and not last:
                self.server.regions.split(split.region_id, split.raw_key)
                split = None
            if faults.scan_delay:
                await asyncio.sleep(faults.scan_delay)

    async def close(self) -> None:
        self.conn.close()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Servicer:
    """``cdcpb.ChangeData``: EventFeed and EventFeedV2."""

    def __init__(self, server: TikvServer) -> None:
        self.server = server

    async def EventFeed(
        self, requests: AsyncIterator[cdcpb_pb2.ChangeDataRequest], context: Context
    ) -> AsyncIterator[Message]:
        """The original bidi stream: one resolved-ts group per connection."""
        async for msg in self.server.serve(requests, context, multiplexing=False):
            yield msg

    async def EventFeedV2(
        self, requests: AsyncIterator[cdcpb_pb2.ChangeDataRequest], context: Context
    ) -> AsyncIterator[Message]:
        """Like EventFeed; ``features: stream-multiplexing`` groups resolved ts by request id."""
        wanted: set[str] = set()
        for key, value in context.invocation_metadata() or ():
            if key == "features":
                wanted |= {f.strip() for f in str(value).split(",") if f.strip()}
        unknown = sorted(wanted - KNOWN_FEATURES)
        if unknown:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, ",".join(unknown))
        async for msg in self.server.serve(requests, context, multiplexing=MULTIPLEXING in wanted):
            yield msg


class _TikvServicer:
    """``tikvpb.Tikv`` (lock-resolution subset): unary calls handed to :class:`LockService`."""

    def __init__(self, service: LockService) -> None:
        self.service = service

    async def KvScanLock(
        self, request: kvrpcpb_pb2.ScanLockRequest, context: Context
    ) -> kvrpcpb_pb2.ScanLockResponse:
        """Locks of one region below a ts."""
        return self.service.scan_lock(request)

    async def KvCheckTxnStatus(
        self, request: kvrpcpb_pb2.CheckTxnStatusRequest, context: Context
    ) -> kvrpcpb_pb2.CheckTxnStatusResponse:
        """A transaction's status on its primary key (an expired one is rolled back)."""
        return self.service.check_txn_status(request)

    async def KvCheckSecondaryLocks(
        self, request: kvrpcpb_pb2.CheckSecondaryLocksRequest, context: Context
    ) -> kvrpcpb_pb2.CheckSecondaryLocksResponse:
        """The secondaries of an async-commit transaction in one region."""
        return self.service.check_secondary_locks(request)

    async def KvResolveLock(
        self, request: kvrpcpb_pb2.ResolveLockRequest, context: Context
    ) -> kvrpcpb_pb2.ResolveLockResponse:
        """Commit or roll back a transaction's locks in one region."""
        return self.service.resolve_lock(request)


class TikvServer:
    """One fake TiKV store: a gRPC server, its streams and its resolved-ts ticker."""

    def __init__(
        self,
        store_id: int,
        cluster_id: int,
        mvcc: MvccStore,
        regions: RegionTable,
        faults: FaultState,
        *,
        resolved_ts_interval: float = 1.0,
        response_max_bytes: int = 6 * 1024 * 1024,
        on_address: Callable[[int, str], None] | None = None,
        tls: ServerTls | None = None,
    ) -> None:
        self.store_id = store_id
        self._tls = tls
        self.cluster_id = cluster_id
        self.mvcc = mvcc
        self.regions = regions
        self.faults = faults
        self.locks = LockService(store_id, mvcc, regions)
        self.resolved_ts_interval = resolved_ts_interval
        self.response_max_bytes = response_max_bytes
        self.port = 0
        self.host = "127.0.0.1"
        self._streams: set[_Stream] = set()
        self._server: grpc.aio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def address(self) -> str:
        """``host:port`` (kept across restarts)."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the gRPC server is serving."""
        return self._server is not None

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Listen (first start: any free port unless given; restart: the same port)."""
        if self._server is not None:
            return self.port
        self.host = host or self.host
        want = self.port if port is None else port
        server = grpc.aio.server(options=GRPC_OPTIONS)
        cdcpb_pb2_grpc.add_ChangeDataServicer_to_server(_Servicer(self), server)
        tikvpb_pb2_grpc.add_TikvServicer_to_server(_TikvServicer(self.locks), server)
        where = f"{self.host}:{want}"
        if self._tls is None:
            self.port = server.add_insecure_port(where)
        else:
            self.port = server.add_secure_port(where, self._tls.credentials())
        if self.port == 0:
            raise OSError(f"store {self.store_id}: cannot listen on {self.host}:{want}")
        await server.start()
        self._server = server
        self.regions.stores[self.store_id].address = self.address
        self.regions.stores[self.store_id].start_timestamp = int(time.time())
        self._unsubscribe = [
            self.mvcc.subscribe(self._on_changes),
            self.regions.subscribe(self._on_region_change),
        ]
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())
        return self.port

    async def stop(self) -> None:
        """Stop serving: every open stream breaks, as when a TiKV process dies."""
        server, self._server = self._server, None
        if server is None:
            return
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for stream in list(self._streams):
            stream.conn.close()
        await server.stop(None)

    # -- serving ------------------------------------------------------------------------------

    async def serve(
        self,
        requests: AsyncIterator[cdcpb_pb2.ChangeDataRequest],
        context: Context,
        *,
        multiplexing: bool,
    ) -> AsyncIterator[Message]:
        """Run one stream until the client half-closes (OK) or the call is cancelled."""
        stream = _Stream(self, multiplexing)
        self._streams.add(stream)
        reader = asyncio.get_running_loop().create_task(stream.read(requests))
        try:
            while True:
                item = await stream.outbox.get()
                if stream.outbox.qsize() <= OUTBOX_HIGH_WATER:
                    stream.drained.set()
                if item is _END:
                    return
                delay = self.faults.stream_delay.get(self.store_id, 0.0)
                if delay:
                    await asyncio.sleep(delay)
                yield item  # type: ignore[misc]
        finally:
            self._streams.discard(stream)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await reader
            await stream.close()

    # -- fan-out ------------------------------------------------------------------------------

    def _on_changes(self, changes: Sequence[Change]) -> None:
        for stream in tuple(self._streams):
            stream.send(stream.conn.on_changes(changes))

    def _on_region_change(self, change: RegionChange) -> None:
        for stream in tuple(self._streams):
            stream.send(stream.conn.on_region_change(change), entries=False)

    def fail_region(self, region_id: int, kind: ErrorKind, *, reason: str = "") -> int:
        """End this store's subscriptions of ``region_id`` with ``kind``; returns the count."""
        n = 0
        for stream in tuple(self._streams):
            out = stream.conn.fail_region(region_id, kind, reason=reason)
            n += sum(len(m.events) for m in out)
            stream.send(out, entries=False)
        return n

    def subscriptions(self) -> int:
        """How many subscriptions are live on this store."""
        return sum(len(s.conn.subs) for s in self._streams)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resolved_ts_interval + self.faults.resolved_ts_delay)
            self.tick()

    def tick(self) -> None:
        """One resolved-ts round now (the ticker calls it; tests may too)."""
        if not self._streams:
            return
        min_ts = self.mvcc.tso.next()
        self.mvcc.push_max_ts(min_ts)
        frozen = self.faults.frozen()
        for stream in tuple(self._streams):
            stream.send(stream.conn.resolved_ts(min_ts, frozen), entries=False)
