"""Transactions are cut by rows and by bytes: within both bounds, in order, nothing lost.

The cut decides the transaction sequence the exactly-once counters number, so it must also be
a function of the statements alone: fed one by one (as the undo streams chunks) or all at once,
it gives the same transactions.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from app.undo.model import Identity, TableSpec
from app.undo.plan import Replace
from app.undo.sqlgen import (
    BatchLimits,
    Dialect,
    Statement,
    TxnCutter,
    cut_transactions,
    statement_bytes,
    statements,
)

_statements = st.lists(
    st.builds(
        lambda rows, size: Statement("S%s", (b"x" * size,), "replace", rows, 1, 1),
        st.integers(1, 50),
        st.integers(0, 400),
    ),
    max_size=60,
)


@given(_statements, st.integers(1, 120), st.integers(1, 1200))
def test_every_transaction_is_within_both_bounds_unless_alone(
    sts: list[Statement], max_rows: int, max_bytes: int
) -> None:
    cut = cut_transactions(sts, max_rows=max_rows, max_bytes=max_bytes)
    assert [s for txn in cut for s in txn] == sts  # order kept, nothing lost or repeated
    assert all(txn for txn in cut)
    for txn in cut:
        if len(txn) > 1:
            assert sum(s.rows for s in txn) <= max_rows
            assert sum(statement_bytes(s) for s in txn) <= max_bytes
    # greedy: a transaction ends only where the next statement would not fit
    for txn, nxt in itertools.pairwise(cut):
        first = nxt[0]
        rows = sum(s.rows for s in txn) + first.rows
        size = sum(statement_bytes(s) for s in txn) + statement_bytes(first)
        assert rows > max_rows or size > max_bytes


@given(_statements, st.integers(1, 120), st.integers(1, 1200))
def test_streaming_cut_equals_the_whole_cut(
    sts: list[Statement], max_rows: int, max_bytes: int
) -> None:
    cutter = TxnCutter(max_rows=max_rows, max_bytes=max_bytes)
    streamed: list[list[Statement]] = []
    for s in sts:
        streamed += cutter.add(s)
    streamed += cutter.finish()
    assert streamed == cut_transactions(sts, max_rows=max_rows, max_bytes=max_bytes)
    assert cutter.finish() == []


T = TableSpec("db", "t", ("id", "b"), Identity.INT_HANDLE, ("id",))


@given(st.lists(st.integers(0, 3000), max_size=30), st.integers(200, 4000))
def test_statements_hold_several_rows_only_within_the_statement_bound(
    sizes: list[int], max_bytes: int
) -> None:
    acts = [Replace(T, i, 1, 1, (i, b"\x00" * n)) for i, n in enumerate(sizes)]
    out = statements(acts, BatchLimits(max_bytes=max_bytes), Dialect.MYSQL)
    assert sum(s.rows for s in out) == len(acts)
    assert [p for s in out for p in s.params] == [v for a in acts for v in a.values]
    for s in out:
        if s.rows > 1:  # the escaped estimate: bytes may double (\0 → \\0)
            assert len(s.sql) + sum(2 * len(p) for p in s.params if isinstance(p, bytes)) <= (
                max_bytes
            )
