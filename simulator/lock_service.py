"""What one fake TiKV store answers to the lock-resolution RPCs of ``tikvpb.Tikv``.

Pure: the generated ``kvrpcpb``/``errorpb`` messages and the simulator's pure modules; the gRPC
servicer (:mod:`simulator.tikv_server`) only calls these methods. Behaviour follows TiKV:

* every request is checked against its ``context`` first, in raftstore's order: a region
  without a peer here → ``region_not_found``; a peer that does not lead → ``not_leader``
  (naming the leader); a stale ``region_epoch.version`` → ``epoch_not_match`` with the
  current region; a key outside the region → ``key_not_in_region``;
* ``KvScanLock``: locks with ``lock_version <= max_version`` in ``[start_key, end_key)`` ∩ the
  region, by key, at most ``limit`` (tikv ScanLock: ``lock.ts <= max_ts``);
* ``KvCheckTxnStatus``: :meth:`~simulator.mvcc.MvccStore.check_txn_status` on the primary,
  mapped to ``lock_ttl`` / ``commit_version`` / ``action`` as tikv ``TxnStatus`` is
  (``TtlExpire`` → ``TTLExpireRollback``, ``LockNotExist`` → ``LockNotExistRollback``);
  ``txn_not_found`` and ``primary_mismatch`` as key errors; an async-commit primary is
  answered with its lock (``lock_ttl``, ``lock_info`` with ``use_async_commit`` and the
  secondaries), never rolled back (unless ``force_sync_commit``);
* ``KvCheckSecondaryLocks``: :meth:`~simulator.mvcc.MvccStore.check_secondary_locks` on keys of
  the region, answered as tikv ``future_check_secondary_locks``: ``locks`` when every key is
  locked by the transaction, ``commit_ts`` when one was committed, neither when rolled back;
* ``KvResolveLock``: commit (``commit_version`` > 0) or roll back every lock of
  ``start_version`` (or of each ``txn_infos`` entry) in the region, or only on ``keys``.

The MVCC writes this causes reach the EventFeed as COMMIT / ROLLBACK rows, and the next
resolved-ts tick no longer sees the lock, so the region's resolved ts advances (as TiKV's
resolver drops a lock when its CF_LOCK delete is applied).
"""

from __future__ import annotations

from collections import Counter

from proto import errorpb_pb2, kvrpcpb_pb2
from simulator.mvcc import (
    CommitTsExpiredError,
    Lock,
    MvccError,
    MvccStore,
    Op,
    PrimaryMismatchError,
    TxnNotFoundError,
    TxnStatusKind,
)
from simulator.regions import Region, RegionTable

__all__ = ["LockService", "lock_info"]

_ACTIONS: dict[TxnStatusKind, kvrpcpb_pb2.Action] = {
    TxnStatusKind.TTL_EXPIRE_ROLLBACK: kvrpcpb_pb2.TTLExpireRollback,
    TxnStatusKind.LOCK_NOT_EXIST_ROLLBACK: kvrpcpb_pb2.LockNotExistRollback,
}


def lock_info(lock: Lock) -> kvrpcpb_pb2.LockInfo:
    """``kvrpcpb.LockInfo`` of a lock, as TiKV's ``Lock::into_lock_info`` fills it."""
    return kvrpcpb_pb2.LockInfo(
        primary_lock=lock.primary,
        lock_version=lock.start_ts,
        key=lock.key,
        lock_ttl=lock.ttl,
        txn_size=1,
        lock_type=kvrpcpb_pb2.Put if lock.op is Op.PUT else kvrpcpb_pb2.Del,
        min_commit_ts=lock.min_commit_ts,
        use_async_commit=lock.use_async_commit,
        secondaries=lock.secondaries,
    )


def _min_end(a: bytes, b: bytes) -> bytes:
    if not a:
        return b
    if not b:
        return a
    return min(a, b)


class LockService:
    """The four RPCs of one store over the cluster's MVCC store and region table."""

    def __init__(self, store_id: int, mvcc: MvccStore, regions: RegionTable) -> None:
        self.store_id = store_id
        self.mvcc = mvcc
        self.regions = regions
        #: RPCs served, by method name (tests read it)
        self.calls: Counter[str] = Counter()

    def _region(self, ctx: kvrpcpb_pb2.Context) -> Region | errorpb_pb2.Error:
        region = self.regions.by_id(ctx.region_id)
        if region is None or region.peer_on(self.store_id) is None:
            return errorpb_pb2.Error(
                message=f"region {ctx.region_id} not found on store {self.store_id}",
                region_not_found=errorpb_pb2.RegionNotFound(region_id=ctx.region_id),
            )
        if region.leader_store != self.store_id:
            return errorpb_pb2.Error(
                message=f"peer of region {region.id} is not leader",
                not_leader=errorpb_pb2.NotLeader(region_id=region.id, leader=region.leader_pb()),
            )
        if ctx.region_epoch.version != region.version:
            return errorpb_pb2.Error(
                message=f"region {region.id} epoch not match",
                epoch_not_match=errorpb_pb2.EpochNotMatch(current_regions=[region.to_pb()]),
            )
        return region

    @staticmethod
    def _not_in_region(key: bytes, region: Region) -> errorpb_pb2.Error:
        return errorpb_pb2.Error(
            message=f"key {key.hex()} is not in region {region.id}",
            key_not_in_region=errorpb_pb2.KeyNotInRegion(
                key=key, region_id=region.id, start_key=region.raw_start, end_key=region.raw_end
            ),
        )

    def scan_lock(self, req: kvrpcpb_pb2.ScanLockRequest) -> kvrpcpb_pb2.ScanLockResponse:
        """``KvScanLock`` (module docstring)."""
        self.calls["KvScanLock"] += 1
        region = self._region(req.context)
        if isinstance(region, errorpb_pb2.Error):
            return kvrpcpb_pb2.ScanLockResponse(region_error=region)
        lo = max(req.start_key, region.raw_start)
        hi = _min_end(req.end_key, region.raw_end)
        locks = self.mvcc.scan_locks(lo, hi, req.max_version, req.limit)
        return kvrpcpb_pb2.ScanLockResponse(locks=[lock_info(lk) for lk in locks])

    def check_txn_status(
        self, req: kvrpcpb_pb2.CheckTxnStatusRequest
    ) -> kvrpcpb_pb2.CheckTxnStatusResponse:
        """``KvCheckTxnStatus`` (module docstring)."""
        self.calls["KvCheckTxnStatus"] += 1
        resp = kvrpcpb_pb2.CheckTxnStatusResponse
        region = self._region(req.context)
        if isinstance(region, errorpb_pb2.Error):
            return resp(region_error=region)
        if not region.contains_raw(req.primary_key):
            return resp(region_error=self._not_in_region(req.primary_key, region))
        try:
            state = self.mvcc.check_txn_status(
                req.primary_key,
                req.lock_ts,
                req.current_ts,
                rollback_if_not_exist=req.rollback_if_not_exist,
                verify_is_primary=req.verify_is_primary,
                force_sync_commit=req.force_sync_commit,
            )
        except TxnNotFoundError:
            return resp(
                error=kvrpcpb_pb2.KeyError(
                    txn_not_found=kvrpcpb_pb2.TxnNotFound(
                        start_ts=req.lock_ts, primary_key=req.primary_key
                    )
                )
            )
        except PrimaryMismatchError as exc:
            return resp(
                error=kvrpcpb_pb2.KeyError(
                    primary_mismatch=kvrpcpb_pb2.PrimaryMismatch(lock_info=lock_info(exc.lock))
                )
            )
        out = resp(
            commit_version=state.commit_ts, action=_ACTIONS.get(state.kind, kvrpcpb_pb2.NoAction)
        )
        if state.kind is TxnStatusKind.LOCKED and state.lock is not None:
            out.lock_ttl = state.ttl
            out.lock_info.CopyFrom(lock_info(state.lock))
        return out

    def check_secondary_locks(
        self, req: kvrpcpb_pb2.CheckSecondaryLocksRequest
    ) -> kvrpcpb_pb2.CheckSecondaryLocksResponse:
        """``KvCheckSecondaryLocks`` (module docstring)."""
        self.calls["KvCheckSecondaryLocks"] += 1
        resp = kvrpcpb_pb2.CheckSecondaryLocksResponse
        region = self._region(req.context)
        if isinstance(region, errorpb_pb2.Error):
            return resp(region_error=region)
        for key in req.keys:
            if not region.contains_raw(key):
                return resp(region_error=self._not_in_region(key, region))
        found = self.mvcc.check_secondary_locks(list(req.keys), req.start_version)
        if found.commit_ts:
            return resp(commit_ts=found.commit_ts)
        if found.rolled_back:
            return resp()
        return resp(locks=[lock_info(lk) for lk in found.locks])

    def resolve_lock(self, req: kvrpcpb_pb2.ResolveLockRequest) -> kvrpcpb_pb2.ResolveLockResponse:
        """``KvResolveLock`` (module docstring)."""
        self.calls["KvResolveLock"] += 1
        resp = kvrpcpb_pb2.ResolveLockResponse
        region = self._region(req.context)
        if isinstance(region, errorpb_pb2.Error):
            return resp(region_error=region)
        for key in req.keys:
            if not region.contains_raw(key):
                return resp(region_error=self._not_in_region(key, region))
        txns = [(t.txn, t.status) for t in req.txn_infos] or [
            (req.start_version, req.commit_version)
        ]
        try:
            for start_ts, commit_ts in txns:
                self.mvcc.resolve_lock(
                    start_ts, commit_ts, region.raw_start, region.raw_end, list(req.keys)
                )
        except CommitTsExpiredError as exc:
            return resp(error=kvrpcpb_pb2.KeyError(abort=f"commit ts expired: {exc}"))
        except MvccError as exc:
            return resp(error=kvrpcpb_pb2.KeyError(abort=str(exc)))
        return resp()
