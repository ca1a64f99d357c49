"""The fake TiKV's lock-resolution RPCs: TiKV's semantics on the MVCC store."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from proto import kvrpcpb_pb2, metapb_pb2
from simulator.cluster import FakeCluster
from simulator.lock_service import LockService
from simulator.mvcc import Change, ChangeKind, Mutation, MvccStore, Op, WriteConflictError
from simulator.regions import RegionTable, record_key
from simulator.tso import Tso, compose, physical

A, B, C = record_key(5, 1), record_key(5, 2), record_key(6, 1)


World = tuple[MvccStore, RegionTable, list[Change]]


@pytest.fixture
def world() -> World:
    mvcc = MvccStore(Tso())
    regions = RegionTable([1, 2, 3], replicas=3)
    regions.split_at([record_key(5, 0), record_key(6, 0)])
    seen: list[Change] = []

    def observe(changes: Sequence[Change]) -> None:
        seen.extend(changes)

    mvcc.subscribe(observe)
    return mvcc, regions, seen


def ctx(regions: RegionTable, key: bytes) -> kvrpcpb_pb2.Context:
    r = regions.locate_raw(key)
    return kvrpcpb_pb2.Context(
        region_id=r.id,
        region_epoch=metapb_pb2.RegionEpoch(conf_ver=r.conf_ver, version=r.version),
        peer=r.leader_pb(),
    )


def leader_service(mvcc: MvccStore, regions: RegionTable, key: bytes) -> LockService:
    return LockService(regions.locate_raw(key).leader_store, mvcc, regions)


def test_scan_lock_takes_locks_up_to_max_version_in_the_region(world: World) -> None:
    mvcc, regions, _ = world
    mvcc.prewrite([Mutation(A, Op.PUT, b"a"), Mutation(C, Op.PUT, b"c")], 10, A, ttl_ms=5)
    mvcc.prewrite([Mutation(B, Op.DELETE)], 20, B)
    svc = leader_service(mvcc, regions, A)
    resp = svc.scan_lock(kvrpcpb_pb2.ScanLockRequest(context=ctx(regions, A), max_version=10))
    assert [(lk.key, lk.lock_version, lk.primary_lock, lk.lock_ttl) for lk in resp.locks] == [
        (A, 10, A, 5)
    ]  # C is in another region, B's lock is above max_version
    resp = svc.scan_lock(kvrpcpb_pb2.ScanLockRequest(context=ctx(regions, A), max_version=20))
    assert [(lk.key, lk.lock_type) for lk in resp.locks] == [
        (A, kvrpcpb_pb2.Put),
        (B, kvrpcpb_pb2.Del),
    ]
    resp = svc.scan_lock(
        kvrpcpb_pb2.ScanLockRequest(context=ctx(regions, A), max_version=20, limit=1)
    )
    assert len(resp.locks) == 1


def test_requests_to_a_follower_or_with_a_stale_epoch_get_region_errors(world: World) -> None:
    mvcc, regions, _ = world
    region = regions.locate_raw(A)
    follower = next(p.store_id for p in region.peers if p.store_id != region.leader_store)
    resp = LockService(follower, mvcc, regions).scan_lock(
        kvrpcpb_pb2.ScanLockRequest(context=ctx(regions, A), max_version=1)
    )
    assert resp.region_error.not_leader.leader.store_id == region.leader_store
    stale = ctx(regions, A)
    regions.split(region.id, B)
    resp = leader_service(mvcc, regions, A).scan_lock(
        kvrpcpb_pb2.ScanLockRequest(context=stale, max_version=1)
    )
    assert resp.region_error.HasField("epoch_not_match") or resp.region_error.HasField(
        "region_not_found"
    )


def test_check_txn_status_rolls_back_an_expired_primary_only(world: World) -> None:
    mvcc, regions, seen = world
    start = mvcc.tso.next()
    mvcc.prewrite([Mutation(A, Op.PUT, b"a"), Mutation(B, Op.PUT, b"b")], start, A, ttl_ms=100)
    svc = leader_service(mvcc, regions, A)

    def check(now_ms: int) -> kvrpcpb_pb2.CheckTxnStatusResponse:
        return svc.check_txn_status(
            kvrpcpb_pb2.CheckTxnStatusRequest(
                context=ctx(regions, A),
                primary_key=A,
                lock_ts=start,
                current_ts=compose(now_ms, 0),
                verify_is_primary=True,
            )
        )

    live = check(physical(start) + 100)  # start + ttl is not < now: alive
    assert live.lock_ttl == 100 and live.lock_info.key == A
    assert mvcc.lock(A) is not None
    expired = check(physical(start) + 101)
    assert (expired.lock_ttl, expired.commit_version) == (0, 0)
    assert expired.action == kvrpcpb_pb2.TTLExpireRollback
    assert mvcc.lock(A) is None and mvcc.lock(B) is not None
    assert seen[-1].kind is ChangeKind.ROLLBACK and seen[-1].key == A
    again = check(physical(start) + 500)  # the rollback record answers now
    assert (again.lock_ttl, again.commit_version, again.action) == (0, 0, kvrpcpb_pb2.NoAction)
    with pytest.raises(WriteConflictError):
        mvcc.prewrite([Mutation(A, Op.PUT, b"a")], start, A)  # a late prewrite is refused


def test_check_txn_status_reports_a_committed_primary_and_a_missing_one(world: World) -> None:
    mvcc, regions, _ = world
    start = mvcc.tso.next()
    mvcc.prewrite([Mutation(A, Op.PUT, b"a"), Mutation(B, Op.PUT, b"b")], start, A)
    commit = mvcc.tso.next()
    mvcc.commit(start, commit, [A])
    svc = leader_service(mvcc, regions, A)
    req = kvrpcpb_pb2.CheckTxnStatusRequest(
        context=ctx(regions, A), primary_key=A, lock_ts=start, current_ts=mvcc.tso.next()
    )
    assert svc.check_txn_status(req).commit_version == commit
    # secondary asked as if primary: mismatch
    req_b = kvrpcpb_pb2.CheckTxnStatusRequest(
        context=ctx(regions, B), primary_key=B, lock_ts=start, current_ts=mvcc.tso.next(),
        verify_is_primary=True,
    )  # fmt: skip
    assert svc.check_txn_status(req_b).error.primary_mismatch.lock_info.primary_lock == A
    # never prewritten: TxnNotFound, or a rollback record on request
    req.lock_ts = start - 1
    assert svc.check_txn_status(req).error.txn_not_found.start_ts == start - 1
    req.rollback_if_not_exist = True
    assert svc.check_txn_status(req).action == kvrpcpb_pb2.LockNotExistRollback
    # a primary outside the addressed region
    req_c = kvrpcpb_pb2.CheckTxnStatusRequest(context=ctx(regions, A), primary_key=C, lock_ts=1)
    assert svc.check_txn_status(req_c).region_error.key_not_in_region.key == C


def test_resolve_lock_commits_or_rolls_back_in_the_region(world: World) -> None:
    mvcc, regions, seen = world
    s1 = mvcc.tso.next()
    mvcc.prewrite([Mutation(A, Op.PUT, b"a"), Mutation(B, Op.PUT, b"b")], s1, A)
    c1 = mvcc.tso.next()
    mvcc.commit(s1, c1, [A])
    s2 = mvcc.tso.next()
    mvcc.prewrite([Mutation(C, Op.PUT, b"c")], s2, C)
    svc = leader_service(mvcc, regions, B)
    resp = svc.resolve_lock(
        kvrpcpb_pb2.ResolveLockRequest(context=ctx(regions, B), start_version=s1, commit_version=c1)
    )
    assert not resp.HasField("error") and not resp.HasField("region_error")
    assert mvcc.lock(B) is None and mvcc.get(B, c1) == b"b"
    assert seen[-1].kind is ChangeKind.COMMIT and seen[-1].commit_ts == c1
    svc_c = leader_service(mvcc, regions, C)
    svc_c.resolve_lock(
        kvrpcpb_pb2.ResolveLockRequest(context=ctx(regions, C), start_version=s2, keys=[C])
    )
    assert mvcc.lock(C) is None and mvcc.get(C, mvcc.tso.next()) is None
    assert seen[-1].kind is ChangeKind.ROLLBACK and seen[-1].key == C
    # keys outside the region are refused
    bad = svc.resolve_lock(
        kvrpcpb_pb2.ResolveLockRequest(context=ctx(regions, B), start_version=s2, keys=[C])
    )
    assert bad.region_error.HasField("key_not_in_region")
    assert svc.calls["KvResolveLock"] == 2


def _async_prewrite(mvcc: MvccStore, keys: Sequence[bytes], primary: bytes, ttl_ms: int) -> int:
    """An async-commit prewrite of ``keys``; the primary names every other key of ``A, B, C``."""
    start = mvcc.tso.next()
    secondaries = [k for k in (A, B, C) if k != primary]
    muts = [Mutation(k, Op.PUT, k[-1:]) for k in keys]
    mvcc.prewrite(muts, start, primary, ttl_ms=ttl_ms, secondaries=secondaries)
    return start


def test_check_txn_status_never_rolls_back_an_async_commit_primary(world: World) -> None:
    mvcc, regions, _ = world
    start = _async_prewrite(mvcc, [A, B, C], A, ttl_ms=1)
    svc = leader_service(mvcc, regions, A)
    req = kvrpcpb_pb2.CheckTxnStatusRequest(
        context=ctx(regions, A), primary_key=A, lock_ts=start,
        current_ts=compose(physical(start) + 60_000, 0), verify_is_primary=True,
    )  # fmt: skip
    resp = svc.check_txn_status(req)  # a minute past its TTL: still only reported
    assert resp.lock_ttl == 1 and resp.action == kvrpcpb_pb2.NoAction
    info = resp.lock_info
    assert info.use_async_commit and list(info.secondaries) == [B, C] and info.min_commit_ts > start
    assert mvcc.lock(A) is not None
    # a secondary's own lock lists nothing, but says async commit
    assert mvcc.lock(B) is not None and mvcc.lock(B).use_async_commit  # type: ignore[union-attr]
    assert mvcc.lock(B).secondaries == ()  # type: ignore[union-attr]
    req.force_sync_commit = True  # the fallback client-go takes for a non-async secondary
    assert svc.check_txn_status(req).action == kvrpcpb_pb2.TTLExpireRollback
    assert mvcc.lock(A) is None


def _check(
    mvcc: MvccStore, regions: RegionTable, keys: Sequence[bytes], start: int
) -> kvrpcpb_pb2.CheckSecondaryLocksResponse:
    svc = leader_service(mvcc, regions, keys[0])
    return svc.check_secondary_locks(
        kvrpcpb_pb2.CheckSecondaryLocksRequest(
            context=ctx(regions, keys[0]), keys=list(keys), start_version=start
        )
    )


def test_check_secondary_locks_returns_the_locks_when_all_are_there(world: World) -> None:
    mvcc, regions, seen = world
    start = _async_prewrite(mvcc, [A, B, C], A, ttl_ms=1)
    n = len(seen)
    resp = _check(mvcc, regions, [B], start)
    assert [(lk.key, lk.lock_version, lk.use_async_commit) for lk in resp.locks] == [
        (B, start, True)
    ]
    assert resp.commit_ts == 0 and len(seen) == n  # nothing written
    assert _check(mvcc, regions, [C], start).locks[0].min_commit_ts > start


def test_check_secondary_locks_rolls_back_a_never_prewritten_key(world: World) -> None:
    """A secondary with neither lock nor record gets a rollback record: the txn can't commit."""
    mvcc, regions, seen = world
    start = _async_prewrite(mvcc, [A, C], A, ttl_ms=1)  # B's prewrite never arrived
    resp = _check(mvcc, regions, [B], start)
    assert list(resp.locks) == [] and resp.commit_ts == 0
    assert seen[-1].kind is ChangeKind.ROLLBACK and seen[-1].key == B
    with pytest.raises(WriteConflictError):
        mvcc.prewrite([Mutation(B, Op.PUT, b"b")], start, A, secondaries=[B, C])
    # asked again: the rollback record answers, nothing more is written
    n = len(seen)
    assert list(_check(mvcc, regions, [B], start).locks) == [] and len(seen) == n
    # the locks are rolled back by ResolveLock (commit_version 0), as a resolver then does
    leader_service(mvcc, regions, A).resolve_lock(
        kvrpcpb_pb2.ResolveLockRequest(context=ctx(regions, A), start_version=start, keys=[A])
    )
    assert mvcc.lock(A) is None and mvcc.lock(C) is not None


def test_check_secondary_locks_reports_a_commit_and_stops_at_the_first_unlocked_key(
    world: World,
) -> None:
    mvcc, regions, _ = world
    start = _async_prewrite(mvcc, [A, B, C], A, ttl_ms=1)
    commit = max(lk.min_commit_ts for lk in mvcc.locks())
    mvcc.commit(start, commit, [B])  # a resolver got half-way
    resp = _check(mvcc, regions, [A, B], start)
    assert resp.commit_ts == commit and list(resp.locks) == []  # A's lock is not returned
    # a key outside the region is refused
    bad = _check(mvcc, regions, [A, C], start)
    assert bad.region_error.HasField("key_not_in_region")


def test_orphan_async_commit_fault_leaves_a_complete_or_torn_transaction() -> None:
    """The fault the ingest tests use: every key prewritten (commit at the largest
    min_commit_ts), or the last secondary missing (roll back)."""
    cluster = FakeCluster(stores=3, regions_per_table=1)
    muts = [Mutation(k, Op.PUT, b"v") for k in (A, B, C)]
    done = cluster.faults.orphan_async_commit(muts)
    locks = [cluster.mvcc.lock(k) for k in (A, B, C)]
    assert all(lk is not None and lk.use_async_commit for lk in locks)
    assert done.commit_ts == max(lk.min_commit_ts for lk in locks if lk is not None)
    assert done.async_commit and done.keys == (A, B, C) and done.missing == b""
    torn = cluster.faults.orphan_async_commit(
        [Mutation(k, Op.PUT, b"w") for k in (record_key(7, 1), record_key(7, 2))],
        missing_secondary=True,
    )
    assert torn.commit_ts == 0 and torn.missing == record_key(7, 2)
    assert cluster.mvcc.lock(record_key(7, 2)) is None
    primary = cluster.mvcc.lock(record_key(7, 1))
    assert primary is not None and primary.secondaries == (record_key(7, 2),)
