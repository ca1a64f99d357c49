"""A reference EventFeed/PD consumer for the fake cluster's tests, built only on generated stubs.

It does what a TiCDC-like client does on the wire (facts/eventfeed.md §2.5, §3) and nothing
more, so the tests check the fake servers, not tiundo's own ingest code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc

from proto import cdcpb_pb2, cdcpb_pb2_grpc, kvrpcpb_pb2, metapb_pb2, pdpb_pb2, pdpb_pb2_grpc

OPTIONS = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]
Event = cdcpb_pb2.Event


class Pd:
    def __init__(self, address: str) -> None:
        self.channel = grpc.aio.insecure_channel(address, options=OPTIONS)
        self.stub = pdpb_pb2_grpc.PDStub(self.channel)
        self.cluster_id = 0

    def header(self) -> pdpb_pb2.RequestHeader:
        return pdpb_pb2.RequestHeader(cluster_id=self.cluster_id)

    async def connect(self) -> int:
        resp = await self.stub.GetMembers(pdpb_pb2.GetMembersRequest())
        self.cluster_id = resp.header.cluster_id
        return self.cluster_id

    async def scan(self, start: bytes, end: bytes) -> list[pdpb_pb2.Region]:
        out: list[pdpb_pb2.Region] = []
        key = start
        while True:
            resp = await self.stub.ScanRegions(
                pdpb_pb2.ScanRegionsRequest(
                    header=self.header(), start_key=key, end_key=end, limit=2
                )
            )
            out += list(resp.regions)
            last = resp.regions[-1].region.end_key if resp.regions else b""
            if not last or (end and last >= end):
                return out
            key = last

    async def store_address(self, store_id: int) -> str:
        resp = await self.stub.GetStore(
            pdpb_pb2.GetStoreRequest(header=self.header(), store_id=store_id)
        )
        return resp.store.address

    async def close(self) -> None:
        await self.channel.close()


@dataclass
class Feed:
    """One EventFeed stream; everything received is kept in order in ``messages``."""

    address: str
    cluster_id: int
    version: str = "8.5.0"
    v2_features: str | None = None
    messages: list[cdcpb_pb2.ChangeDataEvent] = field(default_factory=list)

    async def open(self) -> None:
        self.channel = grpc.aio.insecure_channel(self.address, options=OPTIONS)
        stub = cdcpb_pb2_grpc.ChangeDataStub(self.channel)
        if self.v2_features is None:
            self.call = stub.EventFeed()
        else:
            self.call = stub.EventFeedV2(metadata=(("features", self.v2_features),))
        self.arrived = asyncio.Event()
        self.status: grpc.StatusCode | None = None
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                msg = await self.call.read()
                if msg is grpc.aio.EOF:
                    self.status = grpc.StatusCode.OK
                    return
                self.messages.append(msg)
                self.arrived.set()
        except grpc.aio.AioRpcError as exc:
            self.status = exc.code()
        finally:
            self.arrived.set()

    async def register(
        self,
        region: pdpb_pb2.Region | metapb_pb2.Region,
        *,
        checkpoint_ts: int = 0,
        request_id: int = 1,
        start_key: bytes | None = None,
        end_key: bytes | None = None,
        filter_loop: bool = False,
        cluster_id: int | None = None,
    ) -> None:
        meta = region.region if isinstance(region, pdpb_pb2.Region) else region
        await self.call.write(
            cdcpb_pb2.ChangeDataRequest(
                header=cdcpb_pb2.Header(
                    cluster_id=self.cluster_id if cluster_id is None else cluster_id,
                    ticdc_version=self.version,
                ),
                region_id=meta.id,
                region_epoch=meta.region_epoch,
                checkpoint_ts=checkpoint_ts,
                start_key=meta.start_key if start_key is None else start_key,
                end_key=meta.end_key if end_key is None else end_key,
                request_id=request_id,
                extra_op=kvrpcpb_pb2.ReadOldValue,
                filter_loop=filter_loop,
            )
        )

    async def deregister(self, request_id: int, region_id: int = 0) -> None:
        await self.call.write(
            cdcpb_pb2.ChangeDataRequest(
                header=cdcpb_pb2.Header(cluster_id=self.cluster_id, ticdc_version=self.version),
                request_id=request_id,
                region_id=region_id,
                deregister=cdcpb_pb2.ChangeDataRequest.Deregister(),
            )
        )

    async def wait_for(
        self, pred: Callable[[Sequence[cdcpb_pb2.ChangeDataEvent]], bool], within: float = 5.0
    ) -> None:
        async with asyncio.timeout(within):
            while not pred(self.messages):
                if self.status is not None:
                    raise AssertionError(f"stream ended with {self.status} before condition")
                self.arrived.clear()
                await self.arrived.wait()

    async def wait_end(self, within: float = 5.0) -> grpc.StatusCode:
        async with asyncio.timeout(within):
            await asyncio.shield(self.reader)
        assert self.status is not None
        return self.status

    async def close(self) -> None:
        self.call.cancel()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)
        await self.channel.close()


# -- views over received messages -------------------------------------------------------------


def rows(
    msgs: Sequence[cdcpb_pb2.ChangeDataEvent], region_id: int | None = None
) -> list[Event.Row]:
    return [
        r
        for m in msgs
        for e in m.events
        if e.HasField("entries") and (region_id is None or e.region_id == region_id)
        for r in e.entries.entries
    ]


def errors(msgs: Sequence[cdcpb_pb2.ChangeDataEvent]) -> list[tuple[str, int, int]]:
    out = []
    for m in msgs:
        for e in m.events:
            if e.HasField("error"):
                [(fd, _)] = e.error.ListFields()
                out.append((fd.name, e.region_id, e.request_id))
    return out


def resolved(msgs: Sequence[cdcpb_pb2.ChangeDataEvent]) -> list[cdcpb_pb2.ResolvedTs]:
    return [m.resolved_ts for m in msgs if m.HasField("resolved_ts")]


def initialized(msgs: Sequence[cdcpb_pb2.ChangeDataEvent], region_id: int) -> bool:
    return any(r.type == Event.INITIALIZED for r in rows(msgs, region_id))
