"""TxnCounter: distinct transactions of the accepted changes, with bounded memory."""

from __future__ import annotations

import pytest

from ingest.model import OpType, RowChange
from ingest.txncount import TxnCounter


def change(start_ts: int, commit_ts: int, key: bytes = b"k") -> RowChange:
    return RowChange(1, 10, key, start_ts, commit_ts, OpType.PUT, b"v", b"")


def test_changes_of_one_transaction_count_once() -> None:
    c = TxnCounter()
    c.add([change(5, 9, b"a"), change(5, 9, b"b"), change(6, 9, b"a")])
    c.add([change(5, 9, b"c")])
    assert c.count == 2


def test_a_redelivered_change_counts_once() -> None:
    c = TxnCounter()
    c.add([change(5, 9)])
    c.add([change(5, 9)])  # a re-registered region's scan sends it again
    assert c.count == 1


def test_settled_transactions_are_counted_but_not_kept() -> None:
    c = TxnCounter(prune_floor=2)
    c.add([change(1, 2), change(3, 4), change(5, 6)])
    c.settle(4)
    assert (c.count, c.pending) == (3, 1)
    c.add([change(5, 6), change(7, 8)])  # 5 is still pending: not counted twice
    assert c.count == 4


def test_no_pruning_below_the_floor() -> None:
    c = TxnCounter(prune_floor=10)
    c.add([change(i, i + 1) for i in range(0, 18, 2)])
    c.settle(100)
    assert (c.count, c.pending) == (9, 9)


def test_bad_floor_is_refused() -> None:
    with pytest.raises(ValueError, match="prune_floor"):
        TxnCounter(prune_floor=0)
