"""Pure lock-resolution decisions: which regions are stuck, and what to do with a lock."""

from __future__ import annotations

import pytest

from ingest.locks import Decision, Resolution, StallTracker, TxnStatus, decide, lock_expired
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


def test_status_from_response_follows_client_go() -> None:
    r = kvrpcpb_pb2.CheckTxnStatusResponse
    assert TxnStatus.from_response(r(lock_ttl=20)) == TxnStatus(ttl=20)
    assert TxnStatus.from_response(r(commit_version=9)) == TxnStatus(commit_ts=9)
    expired = TxnStatus.from_response(r(action=kvrpcpb_pb2.TTLExpireRollback))
    assert decide(expired).resolution is Resolution.ROLLBACK
    # lock_ttl wins: a live lock is never committed or rolled back
    assert decide(TxnStatus.from_response(r(lock_ttl=1, commit_version=9))).resolution is (
        Resolution.WAIT
    )


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
