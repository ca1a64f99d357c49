from __future__ import annotations

from collections.abc import Sequence

import pytest

from simulator.mvcc import (
    Change,
    ChangeKind,
    CommitTsExpiredError,
    KeyLockedError,
    Mutation,
    MvccStore,
    Op,
    TxnNotFoundError,
    WriteConflictError,
)
from simulator.tso import Tso

K1 = b"t\x80\x00\x00\x00\x00\x00\x00\x05_r\x80\x00\x00\x00\x00\x00\x00\x01"
K2 = b"t\x80\x00\x00\x00\x00\x00\x00\x05_r\x80\x00\x00\x00\x00\x00\x00\x02"
K3 = b"t\x80\x00\x00\x00\x00\x00\x00\x05_r\x80\x00\x00\x00\x00\x00\x00\x03"


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[Change]] = []

    def __call__(self, changes: Sequence[Change]) -> None:
        self.batches.append(list(changes))


@pytest.fixture
def store() -> MvccStore:
    return MvccStore(Tso(clock=lambda: 1000))


def test_op_numbers_match_cdcpb() -> None:
    from proto import cdcpb_pb2

    assert Op.PUT == cdcpb_pb2.Event.Row.PUT
    assert Op.DELETE == cdcpb_pb2.Event.Row.DELETE
    assert ChangeKind.COMMITTED == cdcpb_pb2.Event.COMMITTED
    assert ChangeKind.ROLLBACK == cdcpb_pb2.Event.ROLLBACK


def test_write_txn_versions_and_get(store: MvccStore) -> None:
    c1 = store.write_txn([Mutation(K1, Op.PUT, b"a")])
    c2 = store.write_txn([Mutation(K1, Op.PUT, b"b")], one_pc=True)
    c3 = store.write_txn([Mutation(K1, Op.DELETE)])
    assert c1 < c2 < c3
    assert store.get(K1, c1 - 1) is None
    assert store.get(K1, c1) == b"a"
    assert store.get(K1, c2) == b"b"
    assert store.get(K1, c3 - 1) == b"b"
    assert store.get(K1, c3) is None
    assert [v.commit_ts for v in store.versions(K1)] == [c1, c2, c3]


def test_scan_bounds_and_deletes(store: MvccStore) -> None:
    store.write_txn([Mutation(K1, Op.PUT, b"1"), Mutation(K2, Op.PUT, b"2")])
    ts = store.write_txn([Mutation(K3, Op.PUT, b"3"), Mutation(K2, Op.DELETE)])
    assert store.scan(K1, b"", ts) == [(K1, b"1"), (K3, b"3")]
    assert store.scan(K1, K3, ts) == [(K1, b"1")]
    assert store.scan(K2, b"", ts - 1) == [(K2, b"2")]


def test_2pc_events_and_old_values(store: MvccStore) -> None:
    rec = Recorder()
    store.subscribe(rec)
    c1 = store.write_txn([Mutation(K1, Op.PUT, b"old")])
    start = store.tso.next()
    store.prewrite([Mutation(K1, Op.PUT, b"new"), Mutation(K2, Op.DELETE)], start, K1, 3)
    commit = store.tso.next()
    store.commit(start, commit, [K1, K2])
    assert len(rec.batches) == 4
    prewrite, commit_batch = rec.batches[2], rec.batches[3]
    assert prewrite == [
        Change(ChangeKind.PREWRITE, K1, start, 0, Op.PUT, b"new", b"old", 3),
        Change(ChangeKind.PREWRITE, K2, start, 0, Op.DELETE, b"", b"", 3),
    ]
    assert commit_batch == [
        Change(ChangeKind.COMMIT, K1, start, commit, Op.PUT, b"new", b"", 3),
        Change(ChangeKind.COMMIT, K2, start, commit, Op.DELETE, b"", b"", 3),
    ]
    assert rec.batches[1][0].commit_ts == c1


def test_1pc_reports_committed_with_old_value(store: MvccStore) -> None:
    rec = Recorder()
    store.write_txn([Mutation(K1, Op.PUT, b"v1")])
    store.subscribe(rec)
    ts = store.write_txn([Mutation(K1, Op.DELETE)], one_pc=True, txn_source=7)
    [[change]] = rec.batches
    assert change.kind is ChangeKind.COMMITTED
    assert (change.commit_ts, change.op, change.value, change.old_value) == (
        ts, Op.DELETE, b"", b"v1",
    )  # fmt: skip
    assert change.txn_source == 7


def test_rollback_removes_lock_and_reports(store: MvccStore) -> None:
    rec = Recorder()
    store.subscribe(rec)
    start = store.tso.next()
    store.prewrite([Mutation(K1, Op.PUT, b"x")], start, K1)
    assert store.lock(K1) is not None
    store.rollback(start, [K1])
    assert store.lock(K1) is None
    assert store.get(K1, store.tso.next()) is None
    assert rec.batches[-1] == [Change(ChangeKind.ROLLBACK, K1, start, 0, None, b"", b"", 0)]


def test_lock_conflicts(store: MvccStore) -> None:
    s1 = store.tso.next()
    store.prewrite([Mutation(K1, Op.PUT, b"x")], s1, K1)
    with pytest.raises(KeyLockedError):
        store.prewrite([Mutation(K1, Op.PUT, b"y"), Mutation(K2, Op.PUT)], store.tso.next(), K1)
    assert store.lock(K2) is None  # all-or-nothing
    with pytest.raises(KeyLockedError):
        store.write_txn([Mutation(K1, Op.PUT, b"z")], one_pc=True)


def test_write_conflict_on_stale_start_ts(store: MvccStore) -> None:
    stale = store.tso.next()
    store.write_txn([Mutation(K1, Op.PUT, b"x")])
    with pytest.raises(WriteConflictError):
        store.prewrite([Mutation(K1, Op.PUT, b"y")], stale, K1)


def test_commit_without_lock_fails_and_commit_is_idempotent(store: MvccStore) -> None:
    with pytest.raises(TxnNotFoundError):
        store.commit(5, 6, [K1])
    s = store.tso.next()
    store.prewrite([Mutation(K1, Op.PUT, b"x")], s, K1)
    c = store.tso.next()
    store.commit(s, c, [K1])
    store.commit(s, c, [K1])  # retry of the same commit
    assert len(store.versions(K1)) == 1


def test_commit_at_or_below_published_resolved_ts_is_refused(store: MvccStore) -> None:
    s = store.tso.next()
    resolved = store.tso.next()
    store.push_max_ts(resolved)
    store.prewrite([Mutation(K1, Op.PUT, b"x")], s, K1)
    with pytest.raises(CommitTsExpiredError):
        store.commit(s, resolved, [K1])
    store.commit(s, resolved + 1, [K1])
    with pytest.raises(CommitTsExpiredError):
        store.commit_1pc([Mutation(K2, Op.PUT, b"y")], s, resolved)


def test_keys_in_includes_lock_only_keys(store: MvccStore) -> None:
    store.write_txn([Mutation(K3, Op.PUT, b"3")])
    store.prewrite([Mutation(K1, Op.PUT, b"1")], store.tso.next(), K1)
    assert list(store.keys_in(b"", b"")) == [K1, K3]
    assert list(store.keys_in(K2, b"")) == [K3]


def test_unsubscribe_stops_events(store: MvccStore) -> None:
    rec = Recorder()
    unsubscribe = store.subscribe(rec)
    store.write_txn([Mutation(K1, Op.PUT, b"1")])
    unsubscribe()
    store.write_txn([Mutation(K1, Op.PUT, b"2")])
    assert len(rec.batches) == 2  # prewrite + commit of the first txn only
