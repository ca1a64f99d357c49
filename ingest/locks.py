"""Lock resolution, the pure part: when a region's resolved ts is stuck, and what to do with a lock.

Why: TiKV never advances a region's resolved ts past the start_ts of a lock it holds. A
transaction whose TiDB died between prewrite and commit (common in a disaster) leaves its locks
for ever, so the ingest's frontier would never pass E and END would never come. TiCDC resolves
such locks itself, and so does the ingest (the I/O is in :mod:`ingest.lock_resolver`):

- **When** (:class:`StallTracker`): a region whose initialized subscription has not seen its
  resolved ts move for ``stall_s`` while it is below E is checked; the same region again only
  after another ``stall_s``. TiCDC (tiflow ``cdc/puller/multiplexing_puller.go``) checks every
  2 s, asks to resolve a table whose resolved ts has not moved for 4 s (``resolveLockFence``),
  and ``cdc/kv/shared_client.go`` ``handleResolveLockTasks`` resolves one region at most every
  10 s (``resolveLockMinInterval``; older releases waited 20 s in ``region_worker.go``). The
  ingest uses one setting for both, ``TIUNDO_LOCK_STALL_S`` (10 s).
- **What** (:func:`decide`): the lock's transaction status comes from ``KvCheckTxnStatus`` on
  its primary key, with client-go's meaning (``txnkv/txnlock/lock_resolver.go``
  ``getTxnStatus``): ``lock_ttl > 0`` = the primary lock is alive → wait and check again;
  ``commit_version > 0`` = committed → commit the lock at that ts; both 0 = rolled back (TiKV
  has just rolled back an expired primary, ``TTLExpireRollback``, or found a rollback record)
  → roll the lock back. ``TxnNotFound`` (the primary was never prewritten) is decided by
  :func:`lock_expired` on the lock's own TTL: expired → ask again with
  ``rollback_if_not_exist`` (which rolls it back), else wait (``getTxnStatusFromLock``).
- **Async commit** (TiDB's default since 5.0, and what a crashed TiDB usually leaves): TiKV
  never rolls back an async-commit primary in ``CheckTxnStatus`` (tikv
  ``check_txn_status_lock_exists``: "Rollback of async-commit locks are done in
  ResolveLock"); it answers with the lock, ``use_async_commit`` and its ``secondaries``. As
  client-go's ``getTxnStatus``, such a lock is waited for only while its own TTL runs
  (:meth:`TxnStatus.from_response`); then its secondaries decide (``resolveAsyncCommitLock``,
  ``checkAllSecondaries``, ``addKeys``; :func:`decide_async_commit`): ``CheckSecondaryLocks``
  per region; every secondary still locked by the transaction → it is committed at the
  largest ``min_commit_ts`` (the primary's included); a secondary committed → at its
  commit_ts; one rolled back or never prewritten (TiKV then writes its rollback record, so
  it never can be) → rolled back. A secondary lock without ``use_async_commit`` means the
  transaction fell back to 2PC: ``CheckTxnStatus`` again with ``force_sync_commit``.

Neither outcome can make the undo wrong: a rolled-back write never happened, a committed one
comes through the feed as a COMMIT row at the primary's commit_ts, like any other commit.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from proto import kvrpcpb_pb2

__all__ = [
    "AsyncCommit",
    "AsyncCommitError",
    "Decision",
    "NotAsyncCommitError",
    "Resolution",
    "SecondaryCheck",
    "StallTracker",
    "TxnStatus",
    "decide",
    "decide_async_commit",
    "lock_expired",
]

_LOGICAL_BITS = 18
K = TypeVar("K", bound=Hashable)


class Resolution(Enum):
    """What to do with one lock."""

    COMMIT = "commit"
    ROLLBACK = "rollback"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class AsyncCommit:
    """An expired async-commit primary lock: what deciding its transaction needs."""

    min_commit_ts: int
    secondaries: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class TxnStatus:
    """A transaction's status as ``CheckTxnStatusResponse`` states it.

    ``async_commit`` is set for an expired async-commit primary: neither committed nor rolled
    back yet, its secondaries decide (:func:`decide_async_commit`).
    """

    ttl: int = 0
    commit_ts: int = 0
    action: int = kvrpcpb_pb2.NoAction
    async_commit: AsyncCommit | None = None

    @classmethod
    def from_response(
        cls,
        resp: kvrpcpb_pb2.CheckTxnStatusResponse,
        *,
        lock_ts: int,
        current_ts: int,
        force_sync_commit: bool = False,
    ) -> TxnStatus:
        """The status of a response without error, as client-go's ``getTxnStatus`` reads it.

        An async-commit primary (unless ``force_sync_commit``) is alive while its TTL runs
        (from ``lock_ts``, judged at ``current_ts``), then expired; otherwise ``lock_ttl``
        wins over ``commit_version``.
        """
        info = resp.lock_info if resp.HasField("lock_info") else None
        if info is not None and info.use_async_commit and not force_sync_commit:
            if not lock_expired(lock_ts, resp.lock_ttl, current_ts):
                return cls(ttl=max(resp.lock_ttl, 1), action=resp.action)
            pending = AsyncCommit(info.min_commit_ts, tuple(info.secondaries))
            return cls(action=resp.action, async_commit=pending)
        if resp.lock_ttl:
            return cls(ttl=resp.lock_ttl, action=resp.action)
        return cls(commit_ts=resp.commit_version, action=resp.action)


@dataclass(frozen=True, slots=True)
class SecondaryCheck:
    """One ``CheckSecondaryLocksResponse``: ``asked`` keys, the ``locks`` and ``commit_ts``."""

    asked: int
    locks: tuple[kvrpcpb_pb2.LockInfo, ...] = ()
    commit_ts: int = 0


class AsyncCommitError(ValueError):
    """The secondaries of an async-commit transaction contradict each other."""


class NotAsyncCommitError(AsyncCommitError):
    """A secondary lock without async commit: the transaction fell back to 2PC.

    Its status must be asked again with ``force_sync_commit`` (client-go ``nonAsyncCommitLock``).
    """


@dataclass(frozen=True, slots=True)
class Decision:
    """The resolution of one lock, with the commit ts (for COMMIT) and why, for the log."""

    resolution: Resolution
    commit_ts: int = 0
    reason: str = ""


def decide(status: TxnStatus) -> Decision:
    """What to do with a lock of a transaction in ``status`` (see the module docstring).

    An expired async-commit primary is not decided here: see :func:`decide_async_commit`.
    """
    if status.async_commit is not None:
        raise ValueError("an async-commit transaction is decided by its secondaries")
    if status.ttl > 0:
        return Decision(Resolution.WAIT, reason=f"transaction alive, lock TTL {status.ttl} ms")
    if status.commit_ts > 0:
        return Decision(
            Resolution.COMMIT, status.commit_ts, f"primary committed at {status.commit_ts}"
        )
    if status.action == kvrpcpb_pb2.TTLExpireRollback:
        reason = "primary lock TTL expired, rolled back"
    elif status.action == kvrpcpb_pb2.LockNotExistRollback:
        reason = "primary never written, rolled back"
    else:
        reason = "primary rolled back"
    return Decision(Resolution.ROLLBACK, reason=reason)


def decide_async_commit(
    start_ts: int, primary: AsyncCommit, checks: Iterable[SecondaryCheck]
) -> Decision:
    """The outcome of async-commit transaction ``start_ts`` from its secondaries' checks.

    ``checks`` must cover every secondary of ``primary`` (one per region asked). Raises
    :class:`NotAsyncCommitError` for a 2PC fallback and :class:`AsyncCommitError` when the
    answers contradict each other (two commit ts, a lock of another transaction).
    """
    commit_ts = primary.min_commit_ts
    outcomes: set[int] = set()  # commit ts (0 = rolled back) of checks that found a key unlocked
    fallback = False
    for check in checks:
        if len(check.locks) < check.asked:
            outcomes.add(check.commit_ts)
            continue
        for lock in check.locks:
            if lock.lock_version != start_ts:
                raise AsyncCommitError(
                    f"CheckSecondaryLocks of start_ts {start_ts} answered a lock of "
                    f"start_ts {lock.lock_version} on key {lock.key.hex()}"
                )
            fallback = fallback or not lock.use_async_commit
            commit_ts = max(commit_ts, lock.min_commit_ts)
    if len(outcomes) > 1:
        raise AsyncCommitError(f"start_ts {start_ts}: secondaries disagree: {sorted(outcomes)}")
    if outcomes:
        (done,) = outcomes
        if not done:
            return Decision(
                Resolution.ROLLBACK,
                reason="async commit: a secondary rolled back or never prewritten",
            )
        return Decision(Resolution.COMMIT, done, f"async commit: a secondary committed at {done}")
    if fallback:
        raise NotAsyncCommitError(f"start_ts {start_ts}: a secondary lock is not async commit")
    return Decision(
        Resolution.COMMIT,
        commit_ts,
        f"async commit: every secondary prewritten, committed at min_commit_ts {commit_ts}",
    )


def lock_expired(lock_ts: int, ttl_ms: int, current_ts: int) -> bool:
    """TiKV's expiry rule: ``physical(lock_ts) + ttl < physical(current_ts)`` (milliseconds)."""
    return (lock_ts >> _LOGICAL_BITS) + ttl_ms < (current_ts >> _LOGICAL_BITS)


class StallTracker(Generic[K]):
    """Which regions' resolved ts has been stuck below ``end_ts`` long enough to check locks.

    The shell calls :meth:`observe` with every live, initialized subscription's resolved ts
    (any hashable key per subscription) and asks :meth:`due`; it calls :meth:`attempted` when it
    starts a check, and :meth:`retain` to forget subscriptions that ended. ``now`` is a
    monotonic clock in seconds.
    """

    __slots__ = ("_attempts", "_seen", "end_ts", "stall_s")

    def __init__(self, stall_s: float, end_ts: int) -> None:
        if stall_s <= 0:
            raise ValueError("stall_s must be > 0")
        self.stall_s = stall_s
        self.end_ts = end_ts
        self._seen: dict[K, tuple[int, float]] = {}  # key → (resolved ts, since)
        self._attempts: dict[K, float] = {}

    def observe(self, key: K, resolved_ts: int, now: float) -> None:
        """The subscription ``key`` is at ``resolved_ts`` now."""
        seen = self._seen.get(key)
        if seen is None or seen[0] != resolved_ts:
            self._seen[key] = (resolved_ts, now)

    def due(self, now: float) -> list[K]:
        """Subscriptions below ``end_ts`` unmoved for ``stall_s``, not checked in ``stall_s``."""
        out: list[K] = []
        for key, (ts, since) in self._seen.items():
            if ts >= self.end_ts or now - since < self.stall_s:
                continue
            last = self._attempts.get(key)
            if last is not None and now - last < self.stall_s:
                continue
            out.append(key)
        return out

    def attempted(self, key: K, now: float) -> None:
        """A lock check of ``key`` starts now (the next one waits ``stall_s``)."""
        self._attempts[key] = now

    def retain(self, live: Iterable[K]) -> None:
        """Forget every subscription not in ``live``."""
        keep = set(live)
        for d in (self._seen, self._attempts):
            for key in [k for k in d if k not in keep]:
                del d[key]
