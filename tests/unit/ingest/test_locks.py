"""Pure lock-resolution decisions: which regions are stuck, and what to do with a lock."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.locks import (
    AsyncCommit,
    AsyncCommitError,
    Decision,
    NotAsyncCommitError,
    Resolution,
    SecondaryCheck,
    StallTracker,
    TxnStatus,
    decide,
    decide_async_commit,
    lock_expired,
)
from proto import kvrpcpb_pb2


def ts(ms: int, logical: int = 0) -> int:
    return (ms << 18) | logical


def test_a_live_primary_is_waited_for() -> None:
    d = decide(TxnStatus(ttl=3000))
    assert d.resolution is Resolution.WAIT and "3000" in d.reason


def test_a_committed_primary_commits_the_lock_at_its_commit_ts() -> None:
    assert decide(TxnStatus(commit_ts=42)) == Decision(
        Resolution.COMMIT, 42, "primary committed at 42"
    )


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (kvrpcpb_pb2.TTLExpireRollback, "TTL expired"),
        (kvrpcpb_pb2.LockNotExistRollback, "never written"),
        (kvrpcpb_pb2.NoAction, "rolled back"),
    ],
)
def test_a_rolled_back_primary_rolls_the_lock_back(action: int, reason: str) -> None:
    d = decide(TxnStatus(action=action))
    assert d.resolution is Resolution.ROLLBACK and d.commit_ts == 0 and reason in d.reason


def status(resp: kvrpcpb_pb2.CheckTxnStatusResponse, now_ms: int = 2000) -> TxnStatus:
    """The status of ``resp`` for a lock taken at 1000 ms, asked at ``now_ms``."""
    return TxnStatus.from_response(resp, lock_ts=ts(1000), current_ts=ts(now_ms))


def test_status_from_response_follows_client_go() -> None:
    r = kvrpcpb_pb2.CheckTxnStatusResponse
    assert status(r(lock_ttl=20)) == TxnStatus(ttl=20)
    assert status(r(commit_version=9)) == TxnStatus(commit_ts=9)
    expired = status(r(action=kvrpcpb_pb2.TTLExpireRollback))
    assert decide(expired).resolution is Resolution.ROLLBACK
    # lock_ttl wins: a live lock is never committed or rolled back
    assert decide(status(r(lock_ttl=1, commit_version=9))).resolution is Resolution.WAIT


def test_lock_expiry_is_tikvs_strict_rule_on_physical_ms() -> None:
    assert not lock_expired(ts(1000, 5), 3000, ts(4000, 7))  # 1000 + 3000 < 4000 is false
    assert lock_expired(ts(1000, 5), 3000, ts(4001))
    assert not lock_expired(ts(1000), 0, ts(1000, 99))


def test_stalled_region_below_end_is_due_after_stall_s_then_rate_limited() -> None:
    t: StallTracker[str] = StallTracker(2.0, end_ts=100)
    t.observe("a", 50, now=0.0)
    t.observe("b", 150, now=0.0)  # past E: never checked
    assert t.due(1.9) == []
    t.observe("a", 50, now=1.9)  # same ts again: still stalled since 0
    assert t.due(2.0) == ["a"]
    t.attempted("a", 2.0)
    assert t.due(3.0) == []  # checked 1 s ago
    assert t.due(4.0) == ["a"]


def test_an_advancing_region_is_never_due() -> None:
    t: StallTracker[str] = StallTracker(1.0, end_ts=100)
    for i in range(10):
        t.observe("a", 10 + i, now=i * 0.5)
        assert t.due(i * 0.5) == []
    t.observe("a", 100, now=10.0)
    assert t.due(20.0) == []  # reached E


def test_retain_forgets_ended_subscriptions() -> None:
    t: StallTracker[str] = StallTracker(1.0, end_ts=100)
    t.observe("a", 1, now=0.0)
    t.observe("b", 1, now=0.0)
    t.attempted("a", 0.0)
    t.retain(["b"])
    assert t.due(5.0) == ["b"]
    t.observe("a", 1, now=5.0)  # re-registered: a fresh stall clock
    assert t.due(5.5) == ["b"]


def test_stall_must_be_positive() -> None:
    with pytest.raises(ValueError, match="stall_s"):
        StallTracker(0, 1)


def async_primary(ttl: int = 3000, min_commit_ts: int = 50) -> kvrpcpb_pb2.CheckTxnStatusResponse:
    """What TiKV answers for an async-commit primary, expired or not: the lock, never a rollback."""
    info = kvrpcpb_pb2.LockInfo(
        primary_lock=b"p", lock_version=ts(1000), key=b"p", lock_ttl=ttl,
        use_async_commit=True, min_commit_ts=min_commit_ts, secondaries=[b"s1", b"s2"],
    )  # fmt: skip
    return kvrpcpb_pb2.CheckTxnStatusResponse(lock_ttl=ttl, lock_info=info)


def test_an_expired_async_commit_primary_is_not_waited_for_ever() -> None:
    """The hang: TiKV reports lock_ttl > 0 for an async-commit primary however old, so reading
    it as "alive" waited for ever; client-go waits only while the lock's own TTL runs."""
    alive = status(async_primary(ttl=3000), now_ms=3999)  # 1000 + 3000 < 3999 is false
    assert decide(alive).resolution is Resolution.WAIT
    expired = status(async_primary(ttl=3000), now_ms=4001)
    assert expired.ttl == 0 and expired.async_commit == AsyncCommit(50, (b"s1", b"s2"))
    with pytest.raises(ValueError, match="secondaries"):
        decide(expired)  # its secondaries decide, not the primary
    # force_sync_commit (the 2PC fallback): read as any lock again
    forced = TxnStatus.from_response(
        async_primary(), lock_ts=ts(1000), current_ts=ts(9000), force_sync_commit=True
    )
    assert forced == TxnStatus(ttl=3000)


def lock(key: bytes, min_commit_ts: int, *, start: int = 7, async_: bool = True) -> Any:
    return kvrpcpb_pb2.LockInfo(
        key=key, lock_version=start, use_async_commit=async_, min_commit_ts=min_commit_ts
    )


PRIMARY = AsyncCommit(min_commit_ts=40, secondaries=(b"s1", b"s2", b"s3"))


def test_every_secondary_locked_commits_at_the_largest_min_commit_ts() -> None:
    d = decide_async_commit(
        7,
        PRIMARY,
        [
            SecondaryCheck(2, (lock(b"s1", 45), lock(b"s2", 52))),
            SecondaryCheck(1, (lock(b"s3", 41),)),
        ],
    )
    assert (d.resolution, d.commit_ts) == (Resolution.COMMIT, 52) and "52" in d.reason
    # the primary's own min_commit_ts counts too; no secondary at all: the primary's
    assert decide_async_commit(7, PRIMARY, [SecondaryCheck(1, (lock(b"s1", 30),))]).commit_ts == 40
    assert decide_async_commit(7, AsyncCommit(40, ()), []).commit_ts == 40


def test_a_committed_secondary_gives_the_commit_ts() -> None:
    checks = [SecondaryCheck(2, (lock(b"s1", 45), lock(b"s2", 52))), SecondaryCheck(1, (), 60)]
    assert decide_async_commit(7, PRIMARY, checks) == Decision(
        Resolution.COMMIT, 60, "async commit: a secondary committed at 60"
    )


def test_a_rolled_back_or_never_prewritten_secondary_rolls_it_back() -> None:
    # TiKV answers neither locks nor commit_ts (and writes the missing key's rollback record)
    checks = [SecondaryCheck(2, (lock(b"s1", 45), lock(b"s2", 52))), SecondaryCheck(1)]
    d = decide_async_commit(7, PRIMARY, checks)
    assert (d.resolution, d.commit_ts) == (Resolution.ROLLBACK, 0)
    assert "never prewritten" in d.reason


def test_contradicting_secondaries_are_refused() -> None:
    with pytest.raises(AsyncCommitError, match="disagree"):
        decide_async_commit(7, PRIMARY, [SecondaryCheck(1, (), 60), SecondaryCheck(2)])
    with pytest.raises(AsyncCommitError, match="start_ts 8"):
        decide_async_commit(7, PRIMARY, [SecondaryCheck(1, (lock(b"s1", 45, start=8),))])


def test_a_secondary_without_async_commit_asks_for_the_2pc_fallback() -> None:
    with pytest.raises(NotAsyncCommitError):
        decide_async_commit(7, PRIMARY, [SecondaryCheck(1, (lock(b"s1", 45, async_=False),))])
    # a missing key still decides: the transaction can no longer commit
    d = decide_async_commit(
        7, PRIMARY, [SecondaryCheck(1, (lock(b"s1", 45, async_=False),)), SecondaryCheck(1)]
    )
    assert d.resolution is Resolution.ROLLBACK
