"""Fake PD: the ``pdpb.PD`` gRPC service over the simulator's TSO and region table.

A thin shell: every answer is read from :class:`~simulator.regions.RegionTable` and
:class:`~simulator.tso.Tso` (facts/eventfeed.md §2). As the real PD leader it checks the
request header's cluster id (gRPC ``FAILED_PRECONDITION`` "mismatch cluster id, need X but got
Y", tikv/pd ``ValidateRequest``) on every RPC but ``GetMembers``, which is how a client learns
the id. Unknown stores answer header error ``UNKNOWN``; ``Tso`` with ``count == 0`` fails the
stream (gRPC ``UNKNOWN`` "tso count should be positive").
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc

from proto import pdpb_pb2, pdpb_pb2_grpc
from simulator.regions import Region, RegionTable
from simulator.tls import ServerTls
from simulator.tso import Tso, logical, physical

__all__ = ["PdServer", "PdServicer", "ServiceSafePoint"]

PD_VERSION = "8.5.0"
MAX_MESSAGE = 256 * 1024 * 1024
Context = Any  # grpc.aio.ServicerContext (grpc ships no type hints)
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
]


@dataclass(frozen=True, slots=True)
class ServiceSafePoint:
    """A service GC safe point: keep versions a read at ``safe_point`` needs until ``expire_at``."""

    service_id: bytes
    safe_point: int
    expire_at: float  # time.monotonic() seconds


class PdServicer:
    """The ``pdpb.PD`` RPCs tiundo and TiCDC use."""

    def __init__(self, cluster_id: int, tso: Tso, regions: RegionTable) -> None:
        self.cluster_id = cluster_id
        self.tso = tso
        self.regions = regions
        self.address = ""
        #: ``https`` when serving TLS: the scheme of the member URLs it advertises
        self.scheme = "http"
        self.gc_safe_point = 0
        self.service_safe_points: dict[bytes, ServiceSafePoint] = {}

    # -- helpers ------------------------------------------------------------------------------

    def _header(self, error: pdpb_pb2.Error | None = None) -> pdpb_pb2.ResponseHeader:
        h = pdpb_pb2.ResponseHeader(cluster_id=self.cluster_id)
        if error is not None:
            h.error.CopyFrom(error)
        return h

    async def _validate(self, header: pdpb_pb2.RequestHeader, context: Context) -> None:
        if header.cluster_id != self.cluster_id:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"mismatch cluster id, need {self.cluster_id} but got {header.cluster_id}",
            )

    def _member(self) -> pdpb_pb2.Member:
        url = f"{self.scheme}://{self.address}"
        return pdpb_pb2.Member(
            name="pd-0",
            member_id=self.cluster_id ^ 0x5044,
            peer_urls=[url],
            client_urls=[url],
            binary_version=PD_VERSION,
            git_hash="0" * 40,
        )

    @staticmethod
    def _pd_region(region: Region) -> pdpb_pb2.Region:
        return pdpb_pb2.Region(region=region.to_pb(), leader=region.leader_pb())

    # -- RPCs ---------------------------------------------------------------------------------

    async def GetMembers(
        self, request: pdpb_pb2.GetMembersRequest, context: Context
    ) -> pdpb_pb2.GetMembersResponse:
        """Members and leader; the header carries the cluster id (no id check here)."""
        m = self._member()
        return pdpb_pb2.GetMembersResponse(
            header=self._header(), members=[m], leader=m, etcd_leader=m
        )

    async def Tso(
        self, request_iterator: AsyncIterator[pdpb_pb2.TsoRequest], context: Context
    ) -> AsyncIterator[pdpb_pb2.TsoResponse]:
        """One response per request, in order; the timestamp is the LAST of the batch."""
        async for request in request_iterator:
            await self._validate(request.header, context)
            if request.count == 0:
                await context.abort(grpc.StatusCode.UNKNOWN, "tso count should be positive")
            last = self.tso.batch(request.count)
            yield pdpb_pb2.TsoResponse(
                header=self._header(),
                count=request.count,
                timestamp=pdpb_pb2.Timestamp(physical=physical(last), logical=logical(last)),
            )

    async def GetRegion(
        self, request: pdpb_pb2.GetRegionRequest, context: Context
    ) -> pdpb_pb2.GetRegionResponse:
        """The region holding an ENCODED key, with its leader."""
        await self._validate(request.header, context)
        r = self.regions.locate(request.region_key)
        return pdpb_pb2.GetRegionResponse(
            header=self._header(), region=r.to_pb(), leader=r.leader_pb()
        )

    async def GetRegionByID(
        self, request: pdpb_pb2.GetRegionByIDRequest, context: Context
    ) -> pdpb_pb2.GetRegionResponse:
        """The region by id; an unknown id answers an OK header and no region, as PD does."""
        await self._validate(request.header, context)
        r = self.regions.by_id(request.region_id)
        if r is None:
            return pdpb_pb2.GetRegionResponse(header=self._header())
        return pdpb_pb2.GetRegionResponse(
            header=self._header(), region=r.to_pb(), leader=r.leader_pb()
        )

    async def ScanRegions(
        self, request: pdpb_pb2.ScanRegionsRequest, context: Context
    ) -> pdpb_pb2.ScanRegionsResponse:
        """Regions over ENCODED ``[start_key, end_key)``; legacy pair and ``regions`` both set."""
        await self._validate(request.header, context)
        found = self.regions.scan(request.start_key, request.end_key, request.limit)
        return pdpb_pb2.ScanRegionsResponse(
            header=self._header(),
            region_metas=[r.to_pb() for r in found],
            leaders=[r.leader_pb() for r in found],
            regions=[self._pd_region(r) for r in found],
        )

    async def BatchScanRegions(
        self, request: pdpb_pb2.BatchScanRegionsRequest, context: Context
    ) -> pdpb_pb2.BatchScanRegionsResponse:
        """Regions over several sorted ranges, deduplicated, at most ``limit`` (≤ 0 = all)."""
        await self._validate(request.header, context)
        seen: set[int] = set()
        out: list[pdpb_pb2.Region] = []
        for rng in request.ranges:
            for r in self.regions.scan(rng.start_key, rng.end_key):
                if r.id not in seen:
                    seen.add(r.id)
                    out.append(self._pd_region(r))
        if request.limit > 0:
            out = out[: request.limit]
        return pdpb_pb2.BatchScanRegionsResponse(header=self._header(), regions=out)

    async def GetStore(
        self, request: pdpb_pb2.GetStoreRequest, context: Context
    ) -> pdpb_pb2.GetStoreResponse:
        """One store; unknown id → header error UNKNOWN (tikv/pd GetStore)."""
        await self._validate(request.header, context)
        store = self.regions.stores.get(request.store_id)
        if store is None:
            err = pdpb_pb2.Error(
                type=pdpb_pb2.UNKNOWN, message=f"invalid store ID {request.store_id}, not found"
            )
            return pdpb_pb2.GetStoreResponse(header=self._header(err))
        return pdpb_pb2.GetStoreResponse(header=self._header(), store=store.to_pb())

    async def GetAllStores(
        self, request: pdpb_pb2.GetAllStoresRequest, context: Context
    ) -> pdpb_pb2.GetAllStoresResponse:
        """Every store (none is ever a tombstone here)."""
        await self._validate(request.header, context)
        stores = [s.to_pb() for _, s in sorted(self.regions.stores.items())]
        return pdpb_pb2.GetAllStoresResponse(header=self._header(), stores=stores)

    async def GetGCSafePoint(
        self, request: pdpb_pb2.GetGCSafePointRequest, context: Context
    ) -> pdpb_pb2.GetGCSafePointResponse:
        """The cluster GC safe point (the simulator never garbage-collects: stays put)."""
        await self._validate(request.header, context)
        return pdpb_pb2.GetGCSafePointResponse(header=self._header(), safe_point=self.gc_safe_point)

    async def UpdateServiceGCSafePoint(
        self, request: pdpb_pb2.UpdateServiceGCSafePointRequest, context: Context
    ) -> pdpb_pb2.UpdateServiceGCSafePointResponse:
        """Set/refresh (TTL > 0) or remove (TTL ≤ 0) a service safe point; answer the minimum.

        A safe point below the GC safe point is refused: the answer's ``safe_point`` is then
        greater than the one asked for, which is how PD tells the caller.
        """
        await self._validate(request.header, context)
        now = time.monotonic()
        self.service_safe_points = {
            k: v for k, v in self.service_safe_points.items() if v.expire_at > now
        }
        sid = bytes(request.service_id)
        if request.TTL <= 0:
            self.service_safe_points.pop(sid, None)
        elif request.safe_point >= self.gc_safe_point:
            self.service_safe_points[sid] = ServiceSafePoint(
                sid, request.safe_point, now + request.TTL
            )
        gc_worker = ServiceSafePoint(b"gc_worker", self.gc_safe_point, float("inf"))
        live = list(self.service_safe_points.values())
        refused = request.TTL > 0 and request.safe_point < self.gc_safe_point
        low = gc_worker if refused or not live else min(live, key=lambda e: e.safe_point)
        ttl = 2**63 - 1 if low is gc_worker else max(0, int(low.expire_at - now))
        return pdpb_pb2.UpdateServiceGCSafePointResponse(
            header=self._header(), service_id=low.service_id, TTL=ttl, min_safe_point=low.safe_point
        )

    def min_service_safe_point(self) -> int | None:
        """Lowest live service safe point (what the simulator's GC would respect)."""
        now = time.monotonic()
        live = [e.safe_point for e in self.service_safe_points.values() if e.expire_at > now]
        return min(live) if live else None


class PdServer:
    """The PD gRPC server on ``host:port`` (0 = any free port)."""

    def __init__(
        self, cluster_id: int, tso: Tso, regions: RegionTable, *, tls: ServerTls | None = None
    ) -> None:
        self.servicer = PdServicer(cluster_id, tso, regions)
        self.servicer.scheme = "https" if tls is not None else "http"
        self._server: grpc.aio.Server | None = None
        self._tls = tls
        self.port = 0

    @property
    def address(self) -> str:
        """``127.0.0.1:port`` once started."""
        return self.servicer.address

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen and serve; returns the port."""
        server = grpc.aio.server(options=GRPC_OPTIONS)
        pdpb_pb2_grpc.add_PDServicer_to_server(self.servicer, server)
        where = f"{host}:{port}"
        if self._tls is None:
            self.port = server.add_insecure_port(where)
        else:
            self.port = server.add_secure_port(where, self._tls.credentials())
        self.servicer.address = f"{host}:{self.port}"
        await server.start()
        self._server = server
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving; open streams are cancelled."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
