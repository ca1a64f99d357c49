"""Lock resolution, the I/O part: scan a stuck region's locks, check each primary, resolve.

What TiCDC does for a region whose resolved ts stalls (tiflow ``pkg/txnutil/lock_resolver.go``
``Resolve``, with client-go's ``txnkv/txnlock`` ``LockResolver``), on TiKV's ``tikvpb.Tikv``
service at the leader's address (the same channel as the EventFeed):

1. ``KvScanLock`` over the whole region (TiKV holds a region's resolved ts for a lock anywhere
   in it, index keys included), ``max_version`` = E, 1024 locks a page;
2. per transaction, ``KvCheckTxnStatus`` on its primary key's region (located through PD),
   ``caller_start_ts`` 0 and ``current_ts`` a fresh PD TSO, so TiKV rolls back a primary
   whose TTL expired; ``TxnNotFound`` is retried with ``rollback_if_not_exist`` once the
   lock's own TTL has expired (client-go ``getTxnStatusFromLock``);
3. ``KvResolveLock`` on the lock's key with the outcome (:func:`ingest.locks.decide`):
   commit at the primary's commit_ts, or roll back; a live transaction is left alone and the
   caller checks again later.

A region error (the region moved or split since PD answered) fails the round with a
:class:`LockResolveError`; the caller logs it and tries again after its stall interval.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from core.codec.bytescodec import encode_bytes
from core.errors import TransientError
from ingest.feed import StoreChannels
from ingest.keyspace import raw_bounds
from ingest.locks import Decision, Resolution, TxnStatus, decide, lock_expired
from ingest.model import RegionInfo, Span
from ingest.pd import PDClient
from proto import kvrpcpb_pb2, metapb_pb2, tikvpb_pb2_grpc

__all__ = ["SCAN_LOCK_LIMIT", "LockResolveError", "LockResolver"]

log = logging.getLogger(__name__)

#: locks per KvScanLock page (tiflow pkg/txnutil/lock_resolver.go ``scanLockLimit``)
SCAN_LOCK_LIMIT = 1024
_REQUEST_SOURCE = "external_tiundo_lock_resolver"

StoreAddress = Callable[[int], Awaitable[str]]


class LockResolveError(TransientError):
    """A lock-resolution RPC failed (region error, key error, store unreachable)."""


class LockResolver:
    """Resolves the locks that hold regions of a span below a ts (see the module docstring).

    ``store_address`` maps a store id to its gRPC address (the ingest's PD store cache).
    ``stats`` counts locks by outcome: ``commit``, ``rollback``, ``wait``.
    """

    def __init__(
        self,
        pd: PDClient,
        channels: StoreChannels,
        store_address: StoreAddress,
        *,
        timeout: float,
        scan_limit: int = SCAN_LOCK_LIMIT,
    ) -> None:
        self.pd = pd
        self.channels = channels
        self.store_address = store_address
        self.timeout = timeout
        self.scan_limit = scan_limit
        self.stats: Counter[str] = Counter()

    async def resolve_span(self, span: Span, max_ts: int, *, table: str) -> Counter[str]:
        """Resolve every lock with start_ts <= ``max_ts`` in the regions of ``span``.

        Returns this round's counts by outcome. Raises :class:`LockResolveError` (or a PD
        error) when a step fails; what was resolved before stays resolved.
        """
        outcome: Counter[str] = Counter()
        current_ts = await self.pd.tso()
        decisions: dict[int, Decision] = {}  # start_ts → decision, once per round
        for region in await self.pd.scan_regions(span):
            bounds = raw_bounds(region.span)
            start, end = (b"", b"") if bounds is None else (bounds[0], bounds[1] or b"")
            while True:
                locks = await self._scan(region, start, end, max_ts)
                for lock in locks:
                    decision = decisions.get(lock.lock_version)
                    if decision is None:
                        status = await self._status(lock, current_ts)
                        decision = decisions[lock.lock_version] = decide(status)
                    await self._apply(region, lock, decision, table)
                    outcome[decision.resolution.value] += 1
                if len(locks) < self.scan_limit:
                    break
                start = locks[-1].key + b"\x00"  # the next key after the page's last
        self.stats.update(outcome)
        return outcome

    # -- RPCs -----------------------------------------------------------------------------------

    async def _stub(self, store_id: int) -> Any:
        address = await self.store_address(store_id)
        return tikvpb_pb2_grpc.TikvStub(self.channels.channel(address))

    @staticmethod
    def _context(region: RegionInfo) -> kvrpcpb_pb2.Context:
        epoch = region.epoch
        return kvrpcpb_pb2.Context(
            region_id=region.region_id,
            region_epoch=metapb_pb2.RegionEpoch(conf_ver=epoch.conf_ver, version=epoch.version),
            peer=metapb_pb2.Peer(id=region.leader_peer_id, store_id=region.leader_store_id),
            request_source=_REQUEST_SOURCE,
        )

    @staticmethod
    def _check(what: str, region: RegionInfo, resp: object) -> None:
        region_error = getattr(resp, "region_error", None)
        if region_error is not None and region_error.ListFields():
            detail = region_error.message or region_error.ListFields()[0][0].name
            raise LockResolveError(f"{what} in region {region.region_id}: {detail}")

    async def _call(
        self, what: str, region: RegionInfo, send: Callable[[Any], Awaitable[Any]]
    ) -> object:
        if not region.leader_store_id:
            raise LockResolveError(f"{what}: region {region.region_id} has no known leader")
        stub = await self._stub(region.leader_store_id)
        try:
            resp = await send(stub)
        except grpc.aio.AioRpcError as exc:
            raise LockResolveError(
                f"{what} on store {region.leader_store_id}: {exc.code().name} {exc.details()}"
            ) from exc
        self._check(what, region, resp)
        return resp

    async def _scan(
        self, region: RegionInfo, start: bytes, end: bytes, max_ts: int
    ) -> list[kvrpcpb_pb2.LockInfo]:
        req = kvrpcpb_pb2.ScanLockRequest(
            context=self._context(region),
            max_version=max_ts,
            start_key=start,
            end_key=end,
            limit=self.scan_limit,
        )
        resp = await self._call(
            "KvScanLock", region, lambda s: s.KvScanLock(req, timeout=self.timeout)
        )
        assert isinstance(resp, kvrpcpb_pb2.ScanLockResponse)
        if resp.HasField("error"):
            raise LockResolveError(f"KvScanLock in region {region.region_id}: {resp.error}")
        return list(resp.locks)

    async def _locate(self, key: bytes) -> RegionInfo:
        enc = encode_bytes(key)
        regions = await self.pd.scan_regions(Span(enc, enc + b"\x00"), limit=1)
        return regions[0]

    async def _status(self, lock: kvrpcpb_pb2.LockInfo, current_ts: int) -> TxnStatus:
        region = await self._locate(lock.primary_lock)
        rollback_if_not_exist = False
        while True:
            req = kvrpcpb_pb2.CheckTxnStatusRequest(
                context=self._context(region),
                primary_key=lock.primary_lock,
                lock_ts=lock.lock_version,
                caller_start_ts=0,
                current_ts=current_ts,
                rollback_if_not_exist=rollback_if_not_exist,
                verify_is_primary=True,
            )

            def send(stub: Any, r: kvrpcpb_pb2.CheckTxnStatusRequest = req) -> Awaitable[Any]:
                return stub.KvCheckTxnStatus(r, timeout=self.timeout)  # type: ignore[no-any-return]

            resp = await self._call("KvCheckTxnStatus", region, send)
            assert isinstance(resp, kvrpcpb_pb2.CheckTxnStatusResponse)
            if not resp.HasField("error"):
                return TxnStatus.from_response(resp)
            if not resp.error.HasField("txn_not_found"):
                raise LockResolveError(
                    f"KvCheckTxnStatus of start_ts {lock.lock_version}: {resp.error}"
                )
            if rollback_if_not_exist or not lock_expired(
                lock.lock_version, lock.lock_ttl, current_ts
            ):
                # the primary's prewrite may still be on its way: wait for the lock's TTL
                return TxnStatus(ttl=max(lock.lock_ttl, 1))
            rollback_if_not_exist = True

    async def _apply(
        self, region: RegionInfo, lock: kvrpcpb_pb2.LockInfo, decision: Decision, table: str
    ) -> None:
        where = f"table {table} region {region.region_id} start_ts {lock.lock_version}"
        if decision.resolution is Resolution.WAIT:
            log.info("locks: %s key %s: waiting (%s)", where, lock.key.hex(), decision.reason)
            return
        req = kvrpcpb_pb2.ResolveLockRequest(
            context=self._context(region),
            start_version=lock.lock_version,
            commit_version=decision.commit_ts,
            keys=[lock.key],
        )
        resp = await self._call(
            "KvResolveLock", region, lambda s: s.KvResolveLock(req, timeout=self.timeout)
        )
        assert isinstance(resp, kvrpcpb_pb2.ResolveLockResponse)
        if resp.HasField("error"):
            raise LockResolveError(f"KvResolveLock {where}: {resp.error}")
        action = (
            f"commit at {decision.commit_ts}"
            if decision.resolution is Resolution.COMMIT
            else "rollback"
        )
        log.warning(
            "locks: %s key %s: orphan lock resolved: %s (%s)",
            where,
            lock.key.hex(),
            action,
            decision.reason,
        )
