"""PD client: cluster id and leader, TSO, regions of a span, stores, GC safepoints.

Follows the Go PD client / TiCDC flow (facts/eventfeed.md §2.5): ``GetMembers`` on any
configured endpoint gives the cluster id (its header), the leader's client URL and every
member's; every later call goes to the leader with ``RequestHeader.cluster_id`` set. A gRPC
failure — a PD that is no longer leader answers gRPC ``UNAVAILABLE`` "not leader", a dead one
refuses the connection — makes the client ask ``GetMembers`` again and retry once on the new
leader. Like the Go client (``updateURLs``), it remembers the members' URLs, so it still finds
the leader after the member it was configured with died; what still fails is a
:class:`PDError` (retriable), so callers retry with their own backoff. While PD elects a new
leader (a dead leader's lease runs out: seconds), members answer GetMembers with no leader
(:class:`NoLeaderError`); a job's first ``connect(election_s=…)`` waits that out instead of
failing the job at its start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc

from core.errors import TransientError
from core.retry import Backoff, retry_async
from ingest.grpc_tls import open_channel
from ingest.model import RegionEpoch, RegionInfo, Span
from proto import metapb_pb2, pdpb_pb2, pdpb_pb2_grpc

__all__ = ["NoLeaderError", "PDClient", "PDError", "RegionHoleError", "StoreInfo", "region_info"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_GRPC_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]


class PDError(TransientError):
    """PD did not answer, or answered with a header error; retriable."""


class NoLeaderError(PDError):
    """PD answered, but no member leads yet (an election after the leader died)."""


class RegionHoleError(PDError):
    """``ScanRegions`` left part of a span uncovered (a split in flight); retry shortly."""


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """What ingest needs of a ``metapb.Store``: where its ChangeData service listens."""

    store_id: int
    address: str
    version: str = ""
    up: bool = True


def region_info(region: metapb_pb2.Region, leader: metapb_pb2.Peer | None) -> RegionInfo:
    """:class:`RegionInfo` from PD's region and leader (an empty Peer = leader unknown)."""
    epoch = region.region_epoch
    return RegionInfo(
        region_id=region.id,
        span=Span(bytes(region.start_key), bytes(region.end_key)),
        epoch=RegionEpoch(conf_ver=epoch.conf_ver, version=epoch.version),
        leader_store_id=leader.store_id if leader is not None else 0,
        peer_store_ids=tuple(p.store_id for p in region.peers),
        leader_peer_id=leader.id if leader is not None else 0,
    )


def _strip_url(url: str) -> str:
    for prefix in ("http://", "https://"):
        if url.startswith(prefix):
            return url[len(prefix) :].rstrip("/")
    return url.rstrip("/")


class PDClient:
    """One PD cluster, reached through its leader. Create and use it inside the running loop."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 10.0,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("PD client needs at least one endpoint")
        self.endpoints = tuple(endpoints)
        self.timeout = timeout
        #: TLS for every PD member (:mod:`ingest.grpc_tls`); ``None`` = plaintext
        self.credentials = credentials
        self.cluster_id = 0
        self.leader = ""
        #: client addresses of every member, from the last GetMembers answer
        self.members: tuple[str, ...] = ()
        self._channel: grpc.aio.Channel | None = None
        self._stub: pdpb_pb2_grpc.PDStub | None = None
        self._lock = asyncio.Lock()
        #: channels a re-discovery replaced, closing once the calls still on them are done
        self._retired: dict[grpc.aio.Channel, asyncio.Task[None]] = {}

    async def __aenter__(self) -> PDClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, *, election_s: float = 0.0) -> None:
        """Find the cluster id and leader via ``GetMembers`` on each endpoint in turn.

        With ``election_s``, a PD that answers without a leader is asked again for up to that
        long (a leader election); unreachable endpoints still fail at once.
        """
        if election_s <= 0:
            await self._connect_once()
            return
        await retry_async(
            self._connect_once,
            backoff=Backoff(0.2, 2.0, cap=2.0),
            what="PD leader election",
            retriable=lambda exc: isinstance(exc, NoLeaderError),
            failing_s=election_s,
        )

    async def _connect_once(self) -> None:
        async with self._lock:
            leaderless = False
            errors: list[str] = []
            known = ([self.leader] if self.leader else []) + [*self.members, *self.endpoints]
            candidates = list(dict.fromkeys(known))
            for endpoint in candidates:
                channel = open_channel(endpoint, _GRPC_OPTIONS, self.credentials)
                try:
                    resp = await pdpb_pb2_grpc.PDStub(channel).GetMembers(
                        pdpb_pb2.GetMembersRequest(header=pdpb_pb2.RequestHeader()),
                        timeout=self.timeout,
                    )
                except grpc.aio.AioRpcError as exc:
                    errors.append(f"{endpoint}: {exc.code().name} {exc.details()}")
                    await channel.close()
                    continue
                leader_urls = list(resp.leader.client_urls)
                if resp.header.error.type != pdpb_pb2.OK or not leader_urls:
                    leaderless = True
                    errors.append(f"{endpoint}: no leader ({resp.header.error.message})")
                    await channel.close()
                    continue
                if leader_urls[0].startswith("https://") and self.credentials is None:
                    # never dial a TLS leader in plaintext; say how to turn TLS on
                    errors.append(
                        f"{endpoint}: the PD leader is {leader_urls[0]} (TLS), but no TLS is "
                        "configured (give --ca, or an https:// PD URL)"
                    )
                    await channel.close()
                    continue
                leader = _strip_url(leader_urls[0])
                if leader != endpoint:
                    await channel.close()
                    channel = open_channel(leader, _GRPC_OPTIONS, self.credentials)
                old = self._channel
                self._channel, self._stub = channel, pdpb_pb2_grpc.PDStub(channel)
                self.cluster_id, self.leader = resp.header.cluster_id, leader
                self.members = tuple(
                    _strip_url(m.client_urls[0]) for m in resp.members if m.client_urls
                )
                if old is not None and old is not channel:
                    self._retire(old)
                log.info("pd: cluster %d, leader %s", self.cluster_id, leader)
                return
            error = NoLeaderError if leaderless else PDError
            raise error(f"no PD endpoint answered GetMembers: {'; '.join(errors)}")

    def _retire(self, channel: grpc.aio.Channel) -> None:
        """Close a replaced channel after its calls, ``timeout`` at most.

        Closing it at once cancelled the calls other tasks still had on it, and those tasks got
        a bare CancelledError (the GC keeper or the region scheduler ended in silence).
        """
        task = asyncio.create_task(channel.close(grace=self.timeout), name="pd-channel-retire")
        self._retired[channel] = task
        task.add_done_callback(lambda _: self._retired.pop(channel, None))

    async def close(self) -> None:
        """Close the channel to the leader, and any replaced one still winding down."""
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()
        for old, task in list(self._retired.items()):
            await old.close()  # no more grace: the client is done
            await asyncio.gather(task, return_exceptions=True)

    def _header(self) -> pdpb_pb2.RequestHeader:
        return pdpb_pb2.RequestHeader(cluster_id=self.cluster_id)

    async def _call(self, name: str, fn: Callable[[pdpb_pb2_grpc.PDStub], Awaitable[_T]]) -> _T:
        """Run one RPC on the leader; on a gRPC error re-discover the leader and retry once."""
        for attempt in (0, 1):
            if self._stub is None:
                await self.connect()
            stub = self._stub
            assert stub is not None
            try:
                return await fn(stub)
            except (grpc.aio.AioRpcError, grpc.aio.InternalError) as exc:
                # InternalError: grpc's own layer failed the call (e.g. it had already ended
                # when written to): as retriable as an RPC error
                why = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
                if attempt == 1:
                    details = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else ""
                    raise PDError(f"PD {name} at {self.leader}: {why} {details}".rstrip()) from exc
                log.warning("pd: %s failed (%s); re-discovering the leader", name, why)
                if self._stub is stub:  # not already replaced by another task's re-discovery
                    self._stub = None
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _check(name: str, header: pdpb_pb2.ResponseHeader) -> None:
        if header.error.type != pdpb_pb2.OK:
            err = pdpb_pb2.ErrorType.Name(header.error.type)
            raise PDError(f"PD {name}: {err} {header.error.message}")

    # -- TSO ----------------------------------------------------------------------------------

    async def tso(self) -> int:
        """One fresh timestamp from the leader's ``Tso`` stream."""

        async def call(stub: pdpb_pb2_grpc.PDStub) -> pdpb_pb2.TsoResponse:
            stream = stub.Tso(timeout=self.timeout)
            try:
                await stream.write(pdpb_pb2.TsoRequest(header=self._header(), count=1))
                resp = await stream.read()
            finally:
                # no half-close once answered: the call may have ended meanwhile (deadline,
                # channel closed by a re-discovery), and grpc then fails the close itself
                stream.cancel()
            if resp is grpc.aio.EOF:
                raise PDError("PD Tso stream ended without an answer")
            return resp  # type: ignore[no-any-return]

        resp = await self._call("Tso", call)
        self._check("Tso", resp.header)
        if resp.count != 1:
            raise PDError(f"PD Tso answered count {resp.count} for 1")
        # The answer carries the LAST logical of the batch; with count 1 that is ours.
        return (resp.timestamp.physical << 18) | resp.timestamp.logical

    # -- regions and stores -------------------------------------------------------------------

    async def scan_regions(self, span: Span, *, limit: int = 1024) -> list[RegionInfo]:
        """Every region overlapping ``span`` (encoded keys), in key order, without holes.

        Pages through ``ScanRegions`` as client-go's ``BatchLoadRegionsWithKeyRange`` does
        (start = last region's end). Raises :class:`RegionHoleError` if PD's answer leaves a
        gap (TiCDC retries such scans after 100 ms).
        """
        out: list[RegionInfo] = []
        start = span.start
        while True:
            req = pdpb_pb2.ScanRegionsRequest(
                header=self._header(), start_key=start, end_key=span.end, limit=limit
            )

            def call(
                stub: pdpb_pb2_grpc.PDStub, r: pdpb_pb2.ScanRegionsRequest = req
            ) -> Awaitable[pdpb_pb2.ScanRegionsResponse]:
                return stub.ScanRegions(r, timeout=self.timeout)  # type: ignore[no-any-return]

            resp = await self._call("ScanRegions", call)
            self._check("ScanRegions", resp.header)
            if resp.regions:
                page = [region_info(r.region, r.leader) for r in resp.regions]
            else:
                leaders = list(resp.leaders)
                page = [
                    region_info(r, leaders[i] if i < len(leaders) else None)
                    for i, r in enumerate(resp.region_metas)
                ]
            if not page:
                raise RegionHoleError(f"PD has no region for {Span(start, span.end)}")
            for region in page:
                if region.span.start > start:
                    raise RegionHoleError(
                        f"hole in PD regions: {start.hex()}..{region.span.start.hex()} "
                        f"before region {region.region_id}"
                    )
                out.append(region)
                start = region.span.end
                if start == b"" or (span.end != b"" and start >= span.end):
                    return out

    async def get_all_stores(self) -> dict[int, StoreInfo]:
        """Every store that is not a tombstone, by id."""
        resp = await self._call(
            "GetAllStores",
            lambda stub: stub.GetAllStores(
                pdpb_pb2.GetAllStoresRequest(header=self._header(), exclude_tombstone_stores=True),
                timeout=self.timeout,
            ),
        )
        self._check("GetAllStores", resp.header)
        return {
            s.id: StoreInfo(s.id, s.address, s.version, s.state == metapb_pb2.Up)
            for s in resp.stores
        }

    async def get_store(self, store_id: int) -> StoreInfo:
        """One store by id (``PDError`` if PD does not know it)."""
        resp = await self._call(
            "GetStore",
            lambda stub: stub.GetStore(
                pdpb_pb2.GetStoreRequest(header=self._header(), store_id=store_id),
                timeout=self.timeout,
            ),
        )
        self._check(f"GetStore({store_id})", resp.header)
        s = resp.store
        return StoreInfo(s.id, s.address, s.version, s.state == metapb_pb2.Up)

    # -- GC -----------------------------------------------------------------------------------

    async def get_gc_safe_point(self) -> int:
        """The cluster's GC safe point: versions needed by reads below it may be gone."""
        resp = await self._call(
            "GetGCSafePoint",
            lambda stub: stub.GetGCSafePoint(
                pdpb_pb2.GetGCSafePointRequest(header=self._header()), timeout=self.timeout
            ),
        )
        self._check("GetGCSafePoint", resp.header)
        return int(resp.safe_point)

    async def update_service_gc_safe_point(
        self, service_id: str, ttl_s: int, safe_point: int
    ) -> int:
        """Set (``ttl_s > 0``) or remove (``ttl_s <= 0``) a service safe point.

        Returns PD's ``min_safe_point``: above ``safe_point`` means PD refused (GC passed it).
        """
        req = pdpb_pb2.UpdateServiceGCSafePointRequest(
            header=self._header(),
            service_id=service_id.encode(),
            TTL=ttl_s,
            safe_point=safe_point,
        )
        resp = await self._call(
            "UpdateServiceGCSafePoint",
            lambda stub: stub.UpdateServiceGCSafePoint(req, timeout=self.timeout),
        )
        self._check("UpdateServiceGCSafePoint", resp.header)
        return int(resp.min_safe_point)
