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
    "Decision",
    "Resolution",
    "StallTracker",
    "TxnStatus",
    "decide",
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
class TxnStatus:
    """A transaction's status as ``CheckTxnStatusResponse`` states it."""

    ttl: int = 0
    commit_ts: int = 0
    action: int = kvrpcpb_pb2.NoAction

    @classmethod
    def from_response(cls, resp: kvrpcpb_pb2.CheckTxnStatusResponse) -> TxnStatus:
        """The status of a response without error (``lock_ttl`` wins, as in client-go)."""
        if resp.lock_ttl:
            return cls(ttl=resp.lock_ttl, action=resp.action)
        return cls(commit_ts=resp.commit_version, action=resp.action)


@dataclass(frozen=True, slots=True)
class Decision:
    """The resolution of one lock, with the commit ts (for COMMIT) and why, for the log."""

    resolution: Resolution
    commit_ts: int = 0
    reason: str = ""


def decide(status: TxnStatus) -> Decision:
    """What to do with a lock of a transaction in ``status`` (see the module docstring)."""
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
