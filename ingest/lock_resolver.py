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
3. an expired async-commit primary (TiKV only reports it): ``KvCheckSecondaryLocks`` on its
   secondaries, grouped by region, decides it (:func:`ingest.locks.decide_async_commit`,
   client-go ``resolveAsyncCommitLock``); then ``KvResolveLock`` on every key of the
   transaction, by region, as client-go's ``resolveAsyncResolveData`` does; a secondary
   lock without async commit sends ``KvCheckTxnStatus`` again with ``force_sync_commit``;
4. otherwise ``KvResolveLock`` on the lock's key with the outcome
   (:func:`ingest.locks.decide`): commit at the primary's commit_ts, or roll back; a live
   transaction is left alone and the caller checks again later.

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
from ingest.locks import (
    AsyncCommitError,
    Decision,
    NotAsyncCommitError,
    Resolution,
    SecondaryCheck,
    TxnStatus,
    decide,
    decide_async_commit,
    lock_expired,
)
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
        whole: set[int] = set()  # start_ts whose every key was resolved (async commit)
        for region in await self.pd.scan_regions(span):
            bounds = raw_bounds(region.span)
            start, end = (b"", b"") if bounds is None else (bounds[0], bounds[1] or b"")
            while True:
                locks = await self._scan(region, start, end, max_ts)
                for lock in locks:
                    decision = decisions.get(lock.lock_version)
                    if decision is None:
                        decision, keys = await self._decide(lock, current_ts)
                        decisions[lock.lock_version] = decision
                        if keys and decision.resolution is not Resolution.WAIT:
                            await self._resolve_keys(lock, keys, decision, table)
                            whole.add(lock.lock_version)
                    if lock.lock_version not in whole:
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

    async def _decide(
        self, lock: kvrpcpb_pb2.LockInfo, current_ts: int
    ) -> tuple[Decision, list[bytes]]:
        """The decision for the lock's transaction; for an async-commit one, all its keys."""
        status = await self._status(lock, current_ts)
        pending = status.async_commit
        if pending is None:
            return decide(status), []
        try:
            checks = await self._check_secondaries(lock.lock_version, pending.secondaries)
            decision = decide_async_commit(lock.lock_version, pending, checks)
        except NotAsyncCommitError:
            status = await self._status(lock, current_ts, force_sync_commit=True)
            return decide(status), []
        except AsyncCommitError as exc:
            raise LockResolveError(str(exc)) from exc
        return decision, [lock.primary_lock, *pending.secondaries]

    async def _by_region(self, keys: list[bytes]) -> list[tuple[RegionInfo, list[bytes]]]:
        """``keys`` grouped by the region holding them (PD asked once per region met)."""
        groups: list[tuple[RegionInfo, list[bytes]]] = []
        for key in sorted(set(keys)):
            if not groups or not groups[-1][0].span.contains(encode_bytes(key)):
                groups.append((await self._locate(key), []))
            groups[-1][1].append(key)
        return groups

    async def _check_secondaries(
        self, start_ts: int, keys: tuple[bytes, ...]
    ) -> list[SecondaryCheck]:
        checks: list[SecondaryCheck] = []
        for region, group in await self._by_region(list(keys)):
            req = kvrpcpb_pb2.CheckSecondaryLocksRequest(
                context=self._context(region), keys=group, start_version=start_ts
            )

            def send(stub: Any, r: kvrpcpb_pb2.CheckSecondaryLocksRequest = req) -> Awaitable[Any]:
                return stub.KvCheckSecondaryLocks(r, timeout=self.timeout)  # type: ignore[no-any-return]

            resp = await self._call("KvCheckSecondaryLocks", region, send)
            assert isinstance(resp, kvrpcpb_pb2.CheckSecondaryLocksResponse)
            if resp.HasField("error"):
                raise LockResolveError(
                    f"KvCheckSecondaryLocks of start_ts {start_ts}: {resp.error}"
                )
            checks.append(SecondaryCheck(len(group), tuple(resp.locks), resp.commit_ts))
        return checks

    async def _status(
        self, lock: kvrpcpb_pb2.LockInfo, current_ts: int, *, force_sync_commit: bool = False
    ) -> TxnStatus:
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
                force_sync_commit=force_sync_commit,
                verify_is_primary=True,
            )

            def send(stub: Any, r: kvrpcpb_pb2.CheckTxnStatusRequest = req) -> Awaitable[Any]:
                return stub.KvCheckTxnStatus(r, timeout=self.timeout)  # type: ignore[no-any-return]

            resp = await self._call("KvCheckTxnStatus", region, send)
            assert isinstance(resp, kvrpcpb_pb2.CheckTxnStatusResponse)
            if not resp.HasField("error"):
                return TxnStatus.from_response(
                    resp,
                    lock_ts=lock.lock_version,
                    current_ts=current_ts,
                    force_sync_commit=force_sync_commit,
                )
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

    async def _resolve(
        self, region: RegionInfo, start_ts: int, keys: list[bytes], decision: Decision, where: str
    ) -> None:
        req = kvrpcpb_pb2.ResolveLockRequest(
            context=self._context(region),
            start_version=start_ts,
            commit_version=decision.commit_ts,
            keys=keys,
        )
        resp = await self._call(
            "KvResolveLock", region, lambda s: s.KvResolveLock(req, timeout=self.timeout)
        )
        assert isinstance(resp, kvrpcpb_pb2.ResolveLockResponse)
        if resp.HasField("error"):
            raise LockResolveError(f"KvResolveLock {where}: {resp.error}")

    @staticmethod
    def _action(decision: Decision) -> str:
        if decision.resolution is Resolution.COMMIT:
            return f"commit at {decision.commit_ts}"
        return "rollback"

    async def _apply(
        self, region: RegionInfo, lock: kvrpcpb_pb2.LockInfo, decision: Decision, table: str
    ) -> None:
        where = f"table {table} region {region.region_id} start_ts {lock.lock_version}"
        if decision.resolution is Resolution.WAIT:
            log.info("locks: %s key %s: waiting (%s)", where, lock.key.hex(), decision.reason)
            return
        await self._resolve(region, lock.lock_version, [lock.key], decision, where)
        log.warning(
            "locks: %s key %s: orphan lock resolved: %s (%s)",
            where,
            lock.key.hex(),
            self._action(decision),
            decision.reason,
        )

    async def _resolve_keys(
        self, lock: kvrpcpb_pb2.LockInfo, keys: list[bytes], decision: Decision, table: str
    ) -> None:
        """Resolve every key of an async-commit transaction, one request per region."""
        for region, group in await self._by_region(keys):
            where = f"table {table} region {region.region_id} start_ts {lock.lock_version}"
            await self._resolve(region, lock.lock_version, group, decision, where)
        log.warning(
            "locks: table %s start_ts %s: orphan async-commit transaction resolved on its %d "
            "key(s): %s (%s)",
            table,
            lock.lock_version,
            len(set(keys)),
            self._action(decision),
            decision.reason,
        )
