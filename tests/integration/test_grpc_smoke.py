"""Loopback gRPC smoke test: the generated ChangeData and PD code works end to end over grpc.aio.

No external service: a real grpc.aio server on 127.0.0.1:0 per test, a real channel, and both are
closed before the test ends (warnings are errors, and a leftover task fails the test).
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from proto import cdcpb_pb2, cdcpb_pb2_grpc, kvrpcpb_pb2, metapb_pb2, pdpb_pb2, pdpb_pb2_grpc

CLUSTER_ID = 6_918_000_000_000_000_001
TIMEOUT_S = 10.0

Event = cdcpb_pb2.Event


class OneAnswerChangeData(cdcpb_pb2_grpc.ChangeDataServicer):
    """Answers every request with one Entries event; ends OK when the client half-closes."""

    def __init__(self) -> None:
        self.requests: list[cdcpb_pb2.ChangeDataRequest] = []
        self.features: list[str] = []

    def _answer(self, request: cdcpb_pb2.ChangeDataRequest) -> cdcpb_pb2.ChangeDataEvent:
        row = Event.Row(
            start_ts=request.checkpoint_ts + 1,
            commit_ts=request.checkpoint_ts + 2,
            type=Event.COMMITTED,
            op_type=Event.Row.PUT,
            key=b"t\x80\x00\x00\x00\x00\x00\x00\x2a_r\x80\x00\x00\x00\x00\x00\x00\x01",
            value=b"new",
            old_value=b"old",
        )
        return cdcpb_pb2.ChangeDataEvent(
            events=[
                Event(
                    region_id=request.region_id,
                    request_id=request.request_id,
                    entries=Event.Entries(entries=[row, Event.Row(type=Event.INITIALIZED)]),
                )
            ]
        )

    async def EventFeed(
        self, request_iterator: AsyncIterator[cdcpb_pb2.ChangeDataRequest], context: Any
    ) -> AsyncIterator[cdcpb_pb2.ChangeDataEvent]:
        async for request in request_iterator:
            self.requests.append(request)
            yield self._answer(request)

    async def EventFeedV2(
        self, request_iterator: AsyncIterator[cdcpb_pb2.ChangeDataRequest], context: Any
    ) -> AsyncIterator[cdcpb_pb2.ChangeDataEvent]:
        metadata = dict(context.invocation_metadata())
        self.features = [f for f in metadata.get("features", "").split(",") if f]
        unknown = [f for f in self.features if f != "stream-multiplexing"]
        if unknown:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, ",".join(unknown))
        async for request in request_iterator:
            self.requests.append(request)
            yield cdcpb_pb2.ChangeDataEvent(
                resolved_ts=cdcpb_pb2.ResolvedTs(
                    regions=[request.region_id],
                    ts=request.checkpoint_ts,
                    request_id=request.request_id,
                )
            )


class CountingPD(pdpb_pb2_grpc.PDServicer):
    """TSO as PD serves it: one answer per request, carrying the last logical of the batch."""

    def __init__(self, physical_ms: int) -> None:
        self.physical_ms = physical_ms
        self.logical = 0

    async def Tso(
        self, request_iterator: AsyncIterator[pdpb_pb2.TsoRequest], context: Any
    ) -> AsyncIterator[pdpb_pb2.TsoResponse]:
        async for request in request_iterator:
            if request.header.cluster_id != CLUSTER_ID:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "cluster id mismatch")
            self.logical += request.count
            yield pdpb_pb2.TsoResponse(
                header=pdpb_pb2.ResponseHeader(cluster_id=CLUSTER_ID),
                count=request.count,
                timestamp=pdpb_pb2.Timestamp(physical=self.physical_ms, logical=self.logical),
            )


async def start_server(register: Any, servicer: Any) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    register(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    assert port > 0
    await server.start()
    return server, f"127.0.0.1:{port}"


def assert_no_leftover_tasks() -> None:
    current = asyncio.current_task()
    leftover = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert leftover == []


def region_request(**extra: Any) -> cdcpb_pb2.ChangeDataRequest:
    return cdcpb_pb2.ChangeDataRequest(
        header=cdcpb_pb2.Header(cluster_id=CLUSTER_ID, ticdc_version="8.5.0"),
        region_id=11,
        region_epoch=metapb_pb2.RegionEpoch(conf_ver=1, version=5),
        checkpoint_ts=450_000_000_000_000_000,
        start_key=b"t\x80\x00\x00\x00\x00\x00\x00\xff\x2a_r\x00\x00\x00\x00\x00\xfa",
        end_key=b"t\x80\x00\x00\x00\x00\x00\x00\xff\x2a_s\x00\x00\x00\x00\x00\xfa",
        request_id=3,
        extra_op=kvrpcpb_pb2.ReadOldValue,
        **extra,
    )


async def test_event_feed_one_request_one_event() -> None:
    servicer = OneAnswerChangeData()
    server, address = await start_server(cdcpb_pb2_grpc.add_ChangeDataServicer_to_server, servicer)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = cdcpb_pb2_grpc.ChangeDataStub(channel)
            call = stub.EventFeed()
            async with asyncio.timeout(TIMEOUT_S):
                await call.write(region_request(register=cdcpb_pb2.ChangeDataRequest.Register()))
                message = await call.read()
                await call.done_writing()
                assert await call.read() is grpc.aio.EOF
                assert await call.code() == grpc.StatusCode.OK
    finally:
        await server.stop(grace=None)

    assert isinstance(message, cdcpb_pb2.ChangeDataEvent)
    assert not message.HasField("resolved_ts")
    [event] = message.events
    assert (event.region_id, event.request_id) == (11, 3)
    assert event.WhichOneof("event") == "entries"
    row, initialized = event.entries.entries
    assert row.type == Event.COMMITTED
    assert row.op_type == Event.Row.PUT
    assert (row.start_ts, row.commit_ts) == (450_000_000_000_000_001, 450_000_000_000_000_002)
    assert (row.value, row.old_value) == (b"new", b"old")
    assert row.key.startswith(b"t\x80")
    assert initialized.type == Event.INITIALIZED

    [seen] = servicer.requests
    assert seen.header.ticdc_version == "8.5.0"
    assert seen.header.cluster_id == CLUSTER_ID
    assert seen.region_epoch.version == 5
    assert seen.WhichOneof("request") == "register"
    assert seen.extra_op == kvrpcpb_pb2.ReadOldValue
    assert_no_leftover_tasks()


async def test_event_feed_v2_features_metadata() -> None:
    servicer = OneAnswerChangeData()
    server, address = await start_server(cdcpb_pb2_grpc.add_ChangeDataServicer_to_server, servicer)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = cdcpb_pb2_grpc.ChangeDataStub(channel)
            async with asyncio.timeout(TIMEOUT_S):
                call = stub.EventFeedV2(metadata=(("features", "stream-multiplexing"),))
                await call.write(region_request())
                message = await call.read()
                await call.done_writing()
                assert await call.read() is grpc.aio.EOF
                assert await call.code() == grpc.StatusCode.OK

                refused = stub.EventFeedV2(metadata=(("features", "time-travel"),))
                await refused.done_writing()
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await refused.read()
                assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
                assert info.value.details() == "time-travel"
    finally:
        await server.stop(grace=None)

    assert message.resolved_ts.request_id == 3
    assert list(message.resolved_ts.regions) == [11]
    assert message.resolved_ts.ts == 450_000_000_000_000_000
    assert servicer.features == ["time-travel"]
    assert_no_leftover_tasks()


async def test_pd_tso_bidi() -> None:
    servicer = CountingPD(physical_ms=1_700_000_000_000)
    server, address = await start_server(pdpb_pb2_grpc.add_PDServicer_to_server, servicer)
    header = pdpb_pb2.RequestHeader(cluster_id=CLUSTER_ID)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = pdpb_pb2_grpc.PDStub(channel)
            call = stub.Tso()
            async with asyncio.timeout(TIMEOUT_S):
                await call.write(pdpb_pb2.TsoRequest(header=header, count=1))
                first = await call.read()
                await call.write(pdpb_pb2.TsoRequest(header=header, count=10))
                second = await call.read()
                await call.done_writing()
                assert await call.read() is grpc.aio.EOF
                assert await call.code() == grpc.StatusCode.OK
    finally:
        await server.stop(grace=None)

    assert first.header.cluster_id == CLUSTER_ID
    assert (first.count, first.timestamp.physical, first.timestamp.logical) == (
        1,
        1_700_000_000_000,
        1,
    )
    # a batch answers with its LAST logical: the client hands out logical - count + 1 .. logical
    assert (second.count, second.timestamp.logical) == (10, 11)
    ts = second.timestamp.physical << 18 | (second.timestamp.logical - second.count + 1)
    assert ts == (1_700_000_000_000 << 18) + 2
    assert_no_leftover_tasks()


async def test_pd_unimplemented_unary_call() -> None:
    # methods a servicer does not override answer UNIMPLEMENTED, as a real PD does for unknown ones
    server, address = await start_server(pdpb_pb2_grpc.add_PDServicer_to_server, CountingPD(1))
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = pdpb_pb2_grpc.PDStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.GetMembers(pdpb_pb2.GetMembersRequest(), timeout=TIMEOUT_S)
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(grace=None)
    assert_no_leftover_tasks()
