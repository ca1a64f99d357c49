"""EventFeed streams to TiKV stores: the gRPC half of the kv client.

One :class:`StoreStream` is one bidi ``ChangeData/EventFeed`` (or ``EventFeedV2`` with stream
multiplexing) call on a store's channel (facts/eventfeed.md §1.6, §3.1):

- requests carry ``header.cluster_id`` and a plain-semver ``ticdc_version`` (TiKV gates
  batched resolved ts and the cluster-id check on it);
- the channel's receive limit is raised above TiKV's ~6 MiB batches;
- responses are taken as raw bytes (no deserializer) so the recorder can keep them exactly as
  TiKV sent them; the caller parses them;
- writes go through a queue and one writer task (gRPC allows one pending write per call);
  one reader task hands each message to ``on_message`` and awaits it, so a slow consumer slows
  the reading (HTTP/2 flow control then slows TiKV) without a per-row await;
- the end of the call for any reason other than :meth:`close` is reported once to
  ``on_broken``; the stream is then dead and the caller opens a new one.

:func:`probe_multiplexing` is TiCDC's probe (``sharedconn/conn_and_client.go``): open
``EventFeedV2`` with the features header, half-close, read once; end-of-stream means the store
supports multiplexing, ``UNIMPLEMENTED`` means plain ``EventFeed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from core.errors import TransientError
from ingest.grpc_tls import open_channel
from proto import cdcpb_pb2

__all__ = [
    "EVENT_FEED",
    "EVENT_FEED_V2",
    "FEATURES",
    "StoreChannels",
    "StoreStream",
    "StoreUnreachableError",
    "StreamBrokenError",
    "probe_multiplexing",
]

log = logging.getLogger(__name__)

EVENT_FEED = "/cdcpb.ChangeData/EventFeed"
EVENT_FEED_V2 = "/cdcpb.ChangeData/EventFeedV2"
FEATURES = (("features", "stream-multiplexing"),)
_PROBE_TIMEOUT_S = 5.0


class StreamBrokenError(TransientError):
    """A store stream ended or failed; every region on it must be registered again."""


class StoreUnreachableError(TransientError):
    """A store refused every stream for longer than the job waits, and PD kept naming it."""


def channel_options(max_receive_bytes: int) -> list[tuple[str, Any]]:
    """Options of a store channel: big receive limit, TiCDC's keepalive (10 s / 3 s)."""
    return [
        ("grpc.max_receive_message_length", max_receive_bytes),
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 3_000),
        ("grpc.initial_reconnect_backoff_ms", 1_000),
        ("grpc.max_reconnect_backoff_ms", 3_000),
    ]


def _serialize(req: cdcpb_pb2.ChangeDataRequest) -> bytes:
    return req.SerializeToString()


async def probe_multiplexing(channel: grpc.aio.Channel) -> bool:
    """Whether the store serves ``EventFeedV2`` with ``stream-multiplexing``."""
    call = channel.stream_stream(EVENT_FEED_V2, request_serializer=_serialize)(
        metadata=FEATURES, timeout=_PROBE_TIMEOUT_S
    )
    try:
        with contextlib.suppress(Exception):  # a failed call: its status below says why
            await call.done_writing()
        msg = await call.read()
        if msg is not grpc.aio.EOF:
            call.cancel()
            return True
        code = await call.code()
    except grpc.aio.AioRpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.UNKNOWN and exc.details() == "EOF":
            return True
    if code in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED):
        return True
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return False
    raise StreamBrokenError(f"EventFeedV2 probe failed: {code.name}")


class StoreChannels:
    """One gRPC channel per store address, and whether each store multiplexes (probed once)."""

    def __init__(
        self,
        *,
        max_receive_bytes: int,
        multiplexing: bool,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self._options = channel_options(max_receive_bytes)
        self._credentials = credentials
        self._want_multiplexing = multiplexing
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._multiplexing: dict[str, bool] = {}

    def channel(self, address: str) -> grpc.aio.Channel:
        """The (lazily connecting) channel to ``address``."""
        ch = self._channels.get(address)
        if ch is None:
            ch = open_channel(address, self._options, self._credentials)
            self._channels[address] = ch
        return ch

    async def multiplexing(self, address: str) -> bool:
        """Probe result for ``address`` (False without asking when multiplexing is off)."""
        if not self._want_multiplexing:
            return False
        known = self._multiplexing.get(address)
        if known is None:
            try:
                known = await probe_multiplexing(self.channel(address))
            except StreamBrokenError:
                return False  # not cached: the store may be down; ask again next time
            self._multiplexing[address] = known
            log.info("feed: store %s multiplexing=%s", address, known)
        return known

    def forget(self, address: str) -> None:
        """Drop the cached probe (the store restarted and may run another version)."""
        self._multiplexing.pop(address, None)

    async def close(self) -> None:
        """Close every channel."""
        channels, self._channels = self._channels, {}
        for ch in channels.values():
            await ch.close()


OnMessage = Callable[["StoreStream", bytes], Awaitable[None]]
OnBroken = Callable[["StoreStream", BaseException | None], None]


class StoreStream:
    """One EventFeed call to one store (see the module docstring)."""

    def __init__(
        self,
        stream_id: int,
        store_id: int,
        address: str,
        channel: grpc.aio.Channel,
        *,
        multiplexing: bool,
        on_message: OnMessage,
        on_broken: OnBroken,
    ) -> None:
        self.stream_id = stream_id
        self.store_id = store_id
        self.address = address
        self.multiplexing = multiplexing
        self.messages = 0
        self.closed = False
        self._channel = channel
        self._on_message = on_message
        self._on_broken = on_broken
        self._queue: asyncio.Queue[cdcpb_pb2.ChangeDataRequest | None] = asyncio.Queue()
        self._call: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._broken_reported = False

    def __repr__(self) -> str:
        mode = "v2" if self.multiplexing else "v1"
        return f"<StoreStream #{self.stream_id} store {self.store_id} {self.address} {mode}>"

    def start(self) -> None:
        """Open the call and start the reader and writer tasks."""
        method = EVENT_FEED_V2 if self.multiplexing else EVENT_FEED
        self._call = self._channel.stream_stream(method, request_serializer=_serialize)(
            metadata=FEATURES if self.multiplexing else None
        )
        name = f"feed-{self.stream_id}-store-{self.store_id}"
        self._tasks = [
            asyncio.create_task(self._write_loop(), name=name + "-writer"),
            asyncio.create_task(self._read_loop(), name=name + "-reader"),
        ]

    def send(self, request: cdcpb_pb2.ChangeDataRequest) -> None:
        """Queue a request (register / deregister); sent in order by the writer task."""
        if self.closed:
            raise StreamBrokenError(f"{self!r} is closed")
        self._queue.put_nowait(request)

    async def _write_loop(self) -> None:
        try:
            while True:
                req = await self._queue.get()
                if req is None:
                    await self._call.done_writing()
                    return
                await self._call.write(req)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any write failure (RPC ended, batch error) breaks the stream
            self._report_broken(StreamBrokenError(f"{self!r}: write failed: {exc!r}"))

    async def _read_loop(self) -> None:
        try:
            while True:
                msg = await self._call.read()
                if msg is grpc.aio.EOF:
                    code = await self._call.code()
                    self._report_broken(
                        None if self.closed else StreamBrokenError(f"{self!r} ended: {code.name}")
                    )
                    return
                self.messages += 1
                await self._on_message(self, msg)
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as exc:
            self._report_broken(
                StreamBrokenError(f"{self!r} failed: {exc.code().name} {exc.details()}")
            )
        except Exception as exc:
            self._report_broken(exc)

    def _report_broken(self, exc: BaseException | None) -> None:
        if self._broken_reported or self.closed:
            return
        self._broken_reported = True
        self.closed = True
        if self._call is not None:
            self._call.cancel()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._on_broken(self, exc)

    async def close(self) -> None:
        """Half-close, cancel the call and wait for both tasks (no ``on_broken`` call)."""
        self.closed = True
        if self._call is not None:
            self._call.cancel()
        for task in self._tasks:
            task.cancel()
        # gather, not ``suppress(CancelledError)``: a cancellation of close() itself (a
        # shutdown deadline) must still end it
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
