"""Fake PD: the ``pdpb.PD`` gRPC service over the simulator's TSO and region table.

A thin shell: every answer is read from :class:`~simulator.regions.RegionTable` and
:class:`~simulator.tso.Tso` (facts/eventfeed.md §2). As tikv/pd's ``validateRequest`` does,
every RPC but ``GetMembers`` first checks that this member is the leader (a follower, or a
member with no leader elected, fails the call with gRPC ``UNAVAILABLE`` "not leader", PD's
``ErrNotLeader``: PD answers a misdirected request with a gRPC status, not a header error),
then the request header's cluster id (``FAILED_PRECONDITION`` "mismatch cluster id, need X but
got Y"). ``GetMembers`` is served by any member, leader or not: it lists every member of the
(etcd) membership, stopped ones included, and names the current leader, which is how a client
learns the cluster id and finds the leader after a change. Unknown stores answer header error
``UNKNOWN``; ``Tso`` with ``count == 0`` fails the stream (gRPC ``UNKNOWN`` "tso count should
be positive").

Several :class:`PdServer` members share one :class:`PdShared` (what PD keeps in etcd: the
leader, the GC safe points) and one TSO, so timestamps stay monotone across a leader change.
``PdShared.heartbeat_lag_s`` models PD learning region changes only from the region leaders'
heartbeats: for that long after a split or leader move, region RPCs still answer the old
metadata, while TiKV already refuses it (``epoch_not_match`` carrying the new regions).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from proto import pdpb_pb2, pdpb_pb2_grpc
from simulator.regions import Region, RegionTable, RegionView
from simulator.tls import ServerTls
from simulator.tso import Tso, logical, physical

__all__ = ["PdServer", "PdServicer", "PdShared", "ServiceSafePoint"]

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


@dataclass(slots=True)
class PdShared:
    """What every PD member sees alike: the membership, the leader, GC state, region lag.

    ``addresses[i]`` is member ``i``'s ``host:port`` once it listened (kept while it is down,
    as etcd keeps a stopped member); ``running[i]`` whether it serves; ``leader`` the leading
    member's index, ``None`` while no leader is elected.
    """

    cluster_id: int
    addresses: list[str] = field(default_factory=list)
    running: list[bool] = field(default_factory=list)
    leader: int | None = 0
    gc_safe_point: int = 0
    service_safe_points: dict[bytes, ServiceSafePoint] = field(default_factory=dict)
    heartbeat_lag_s: float = 0.0
    #: (when, regions after a change), oldest first; kept only while a lag is set
    history: list[tuple[float, RegionView]] = field(default_factory=list)
    #: ``https`` when the members serve TLS: the scheme of the URLs they advertise
    scheme: str = "http"

    def member_pb(self, index: int) -> pdpb_pb2.Member:
        """Member ``index`` as ``pdpb.Member`` (ids derived from the cluster id, stable)."""
        url = f"{self.scheme}://{self.addresses[index]}"
        return pdpb_pb2.Member(
            name=f"pd-{index}",
            member_id=(self.cluster_id ^ 0x5044) + index,
            peer_urls=[url],
            client_urls=[url],
            binary_version=PD_VERSION,
            git_hash="0" * 40,
        )

    def elect(self, exclude: int | None = None) -> int | None:
        """Make the first running member after ``exclude`` the leader (``None``: none runs)."""
        n = len(self.addresses)
        start = 0 if exclude is None else exclude + 1
        for k in range(n):
            i = (start + k) % n
            if i != exclude and self.running[i]:
                self.leader = i
                return i
        self.leader = None
        return None

    def set_lag(self, seconds: float, regions: RegionTable) -> None:
        """From now on, region RPCs answer what the regions were ``seconds`` earlier."""
        self.heartbeat_lag_s = seconds
        self.history = [(float("-inf"), regions.snapshot())] if seconds > 0 else []

    def on_region_change(self, regions: RegionTable) -> None:
        """Note the regions after a change (the heartbeat PD will get ``lag`` seconds later)."""
        if self.heartbeat_lag_s > 0:
            now = time.monotonic()
            self.history.append((now, regions.snapshot()))
            cut = now - self.heartbeat_lag_s
            while len(self.history) > 1 and self.history[1][0] <= cut:
                self.history.pop(0)

    def view(self, regions: RegionTable) -> RegionTable | RegionView:
        """The regions as PD knows them now."""
        if self.heartbeat_lag_s <= 0 or not self.history:
            return regions
        cut = time.monotonic() - self.heartbeat_lag_s
        known = self.history[0][1]
        for when, snap in self.history:
            if when > cut:
                break
            known = snap
        return known


class PdServicer:
    """The ``pdpb.PD`` RPCs tiundo and TiCDC use, as member ``index`` of ``shared``."""

    def __init__(
        self,
        cluster_id: int,
        tso: Tso,
        regions: RegionTable,
        shared: PdShared | None = None,
        index: int = 0,
    ) -> None:
        self.cluster_id = cluster_id
        self.tso = tso
        self.regions = regions
        if shared is None:
            shared = PdShared(cluster_id, [""], [False])
        self.shared = shared
        self.index = index

    @property
    def address(self) -> str:
        """The member's ``host:port`` (empty before its first start)."""
        return self.shared.addresses[self.index]

    @address.setter
    def address(self, value: str) -> None:
        self.shared.addresses[self.index] = value

    @property
    def gc_safe_point(self) -> int:
        """The cluster GC safe point (shared by every member)."""
        return self.shared.gc_safe_point

    @gc_safe_point.setter
    def gc_safe_point(self, value: int) -> None:
        self.shared.gc_safe_point = value

    @property
    def service_safe_points(self) -> dict[bytes, ServiceSafePoint]:
        """Service GC safe points by service id (shared by every member)."""
        return self.shared.service_safe_points

    @service_safe_points.setter
    def service_safe_points(self, value: dict[bytes, ServiceSafePoint]) -> None:
        self.shared.service_safe_points = value

    @property
    def is_leader(self) -> bool:
        """Whether this member leads (only the leader serves anything but GetMembers)."""
        return self.shared.leader == self.index

    def _view(self) -> RegionTable | RegionView:
        return self.shared.view(self.regions)

    # -- helpers ------------------------------------------------------------------------------

    def _header(self, error: pdpb_pb2.Error | None = None) -> pdpb_pb2.ResponseHeader:
        h = pdpb_pb2.ResponseHeader(cluster_id=self.cluster_id)
        if error is not None:
            h.error.CopyFrom(error)
        return h

    async def _validate(self, header: pdpb_pb2.RequestHeader, context: Context) -> None:
        if not self.is_leader:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not leader")
        if header.cluster_id != self.cluster_id:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"mismatch cluster id, need {self.cluster_id} but got {header.cluster_id}",
            )

    @staticmethod
    def _pd_region(region: Region) -> pdpb_pb2.Region:
        return pdpb_pb2.Region(region=region.to_pb(), leader=region.leader_pb())

    # -- RPCs ---------------------------------------------------------------------------------

    async def GetMembers(
        self, request: pdpb_pb2.GetMembersRequest, context: Context
    ) -> pdpb_pb2.GetMembersResponse:
        """Members and leader, from any member; the header carries the cluster id (no checks).

        With no leader elected the answer has no ``leader`` (a client must ask again).
        """
        shared = self.shared
        members = [shared.member_pb(i) for i in range(len(shared.addresses))]
        resp = pdpb_pb2.GetMembersResponse(header=self._header(), members=members)
        if shared.leader is not None:
            resp.leader.CopyFrom(members[shared.leader])
            resp.etcd_leader.CopyFrom(members[shared.leader])
        return resp

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
        r = self._view().locate(request.region_key)
        return pdpb_pb2.GetRegionResponse(
            header=self._header(), region=r.to_pb(), leader=r.leader_pb()
        )

    async def GetRegionByID(
        self, request: pdpb_pb2.GetRegionByIDRequest, context: Context
    ) -> pdpb_pb2.GetRegionResponse:
        """The region by id; an unknown id answers an OK header and no region, as PD does."""
        await self._validate(request.header, context)
        r = self._view().by_id(request.region_id)
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
        found = self._view().scan(request.start_key, request.end_key, request.limit)
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
        view = self._view()
        for rng in request.ranges:
            for r in view.scan(rng.start_key, rng.end_key):
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
    """One PD member's gRPC server on ``host:port`` (0 = any free port)."""

    def __init__(
        self,
        cluster_id: int,
        tso: Tso,
        regions: RegionTable,
        shared: PdShared | None = None,
        index: int = 0,
        *,
        tls: ServerTls | None = None,
    ) -> None:
        self.servicer = PdServicer(cluster_id, tso, regions, shared, index)
        self._server: grpc.aio.Server | None = None
        self.host = "127.0.0.1"
        #: ``https`` when serving TLS: the scheme of the member URLs every member advertises
        self.servicer.shared.scheme = "https" if tls is not None else "http"
        self._tls = tls
        self.port = 0

    @property
    def address(self) -> str:
        """``127.0.0.1:port`` once started."""
        return self.servicer.address

    @property
    def running(self) -> bool:
        """Whether this member serves."""
        return self._server is not None

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Listen and serve (a restart reuses the port); returns the port."""
        if self._server is not None:
            return self.port
        self.host = host or self.host
        want = self.port if port is None else port
        server = grpc.aio.server(options=GRPC_OPTIONS)
        pdpb_pb2_grpc.add_PDServicer_to_server(self.servicer, server)
        where = f"{self.host}:{want}"
        if self._tls is None:
            self.port = server.add_insecure_port(where)
        else:
            self.port = server.add_secure_port(where, self._tls.credentials())
        if self.port == 0:
            raise OSError(f"PD member {self.servicer.index}: cannot listen on {self.host}:{want}")
        self.servicer.address = f"{self.host}:{self.port}"
        await server.start()
        self._server = server
        shared = self.servicer.shared
        shared.running[self.servicer.index] = True
        if shared.leader is None:
            shared.elect()
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving; open streams are cancelled. The leadership stays until re-elected."""
        shared = self.servicer.shared
        shared.running[self.servicer.index] = False
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
