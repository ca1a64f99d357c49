"""TxnCounter against a plain set, for any feed that keeps the watermark's promise."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.model import OpType, RowChange
from ingest.txncount import TxnCounter

# ("add", [(txn index, commit offset above the watermark)]) or ("wm", rise)
_op = st.one_of(
    st.tuples(
        st.just("add"),
        st.lists(st.tuples(st.integers(0, 40), st.integers(1, 20)), max_size=12),
    ),
    st.tuples(st.just("wm"), st.integers(0, 15)),
)


@given(st.lists(_op, max_size=60), st.integers(1, 8))
def test_count_equals_distinct_start_ts(ops: list[tuple[str, object]], floor: int) -> None:
    counter = TxnCounter(prune_floor=floor)
    seen: set[int] = set()
    commits: dict[int, int] = {}  # start_ts → its commit_ts (one per transaction)
    watermark = 0
    most_in_flight = 0  # the most transactions above the watermark at any settle
    for kind, arg in ops:
        if kind == "wm":
            assert isinstance(arg, int)
            watermark += arg
            counter.settle(watermark)
            in_flight = sum(1 for s in seen if commits[s] > watermark)
            most_in_flight = max(most_in_flight, in_flight)
            # memory follows the transactions in flight, not the history
            assert counter.pending < max(floor, 2 * most_in_flight)
        else:
            assert isinstance(arg, list)
            batch = []
            for txn, offset in arg:
                start = 1000 * txn + 1
                commit = commits.setdefault(start, watermark + offset)
                if commit <= watermark:
                    continue  # the batcher refuses a change at or below the watermark
                batch.append(RowChange(1, 10, b"k", start, commit, OpType.PUT, b"", b""))
            counter.add(batch)
            seen.update(c.start_ts for c in batch)
        assert counter.count == len(seen)
