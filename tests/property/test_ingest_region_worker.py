"""Property: a region's results carry exactly its committed changes in (T, E], before their marks.

A random single-region history as TiKV would send it: transactions take start and commit ts
from one clock, locks may overlap, and a resolved ts is the clock held below the oldest open
lock; hypothesis also cuts the events into messages at random. Whatever the cut, the
concatenated :attr:`MessageResult.changes` are the commits in (T, E] in commit order, each
goes out in exactly one batch, every watermark comes after every change at or below it, and END
goes out exactly once, last.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.batcher import ChangeBatch, End, Watermark
from ingest.keyspace import encode_int, record_prefix, record_span
from ingest.model import OpType, RegionEpoch, RegionInfo, RowChange
from ingest.partitioner import Partitioner
from ingest.region_worker import MessageResult, RegionWorker, Subscription
from proto import cdcpb_pb2

T = 1000
TABLE = 7
Ev = cdcpb_pb2.Event
Row = cdcpb_pb2.Event.Row

# one step of the history: (kind, n, flag, cut) with kind "begin" (n = handle, flag = delete),
# "finish" (n picks an open txn, flag = commit, else roll back), "one_pc" (n = handle) or
# "resolve"; cut says whether a new message starts before the step
Step = tuple[str, int, bool, bool]
steps = st.lists(
    st.tuples(
        st.sampled_from(["begin", "begin", "finish", "finish", "one_pc", "resolve"]),
        st.integers(0, 4),
        st.booleans(),
        st.booleans(),
    ),
    max_size=60,
)


def key(handle: int) -> bytes:
    return record_prefix(TABLE) + encode_int(handle)


@dataclass
class History:
    """Builds the messages and the changes the region worker must yield."""

    end_ts: int
    clock: int = T
    open: list[Row] = field(default_factory=list)  # prewrites not yet committed/rolled back
    messages: list[cdcpb_pb2.ChangeDataEvent] = field(default_factory=list)
    want: list[RowChange] = field(default_factory=list)

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def rows(self, *rows: Row) -> None:
        self.messages[-1].events.append(
            Ev(region_id=1, request_id=1, entries=Ev.Entries(entries=list(rows)))
        )

    def resolve(self) -> None:
        held = min((r.start_ts - 1 for r in self.open), default=self.clock)
        ts = min(self.clock, held)
        self.messages[-1].resolved_ts.CopyFrom(
            cdcpb_pb2.ResolvedTs(regions=[1], ts=ts, request_id=1)
        )
        self.messages.append(cdcpb_pb2.ChangeDataEvent())

    def committed(self, row: Row, commit_ts: int) -> None:
        if T < commit_ts <= self.end_ts:
            op = OpType.DELETE if row.op_type == Row.DELETE else OpType.PUT
            self.want.append(
                RowChange(1, TABLE, row.key, row.start_ts, commit_ts, op, row.value, row.old_value)
            )


@settings(max_examples=300, deadline=None)
@given(run=steps, window=st.integers(1, 80), partitions=st.integers(1, 3))
def test_results_carry_the_window_in_order(run: list[Step], window: int, partitions: int) -> None:
    h = History(end_ts=T + window)
    h.messages.append(cdcpb_pb2.ChangeDataEvent())
    h.rows(Row(type=Ev.INITIALIZED))
    for kind, n, flag, cut in run:
        if cut and h.messages[-1].ByteSize():
            h.messages.append(cdcpb_pb2.ChangeDataEvent())
        if kind == "begin":
            start = h.tick()
            row = Row(
                start_ts=start,
                type=Ev.PREWRITE,
                op_type=Row.DELETE if flag else Row.PUT,
                key=key(n),
                value=b"" if flag else f"v{start}".encode(),
                old_value=f"o{start}".encode(),
            )
            h.open.append(row)
            h.rows(row)
        elif kind == "finish" and h.open:
            row = h.open.pop(n % len(h.open))
            if flag:
                commit_ts = h.tick()
                h.rows(
                    Row(
                        start_ts=row.start_ts,
                        commit_ts=commit_ts,
                        type=Ev.COMMIT,
                        op_type=row.op_type,
                        key=row.key,
                    )
                )
                h.committed(row, commit_ts)
            else:
                h.rows(Row(start_ts=row.start_ts, type=Ev.ROLLBACK, key=row.key))
        elif kind == "one_pc":
            start = h.tick()
            row = Row(
                start_ts=start,
                commit_ts=h.tick(),
                type=Ev.COMMITTED,
                op_type=Row.PUT,
                key=key(n),
                value=f"w{start}".encode(),
            )
            h.rows(row)
            h.committed(row, row.commit_ts)
        elif kind == "resolve":
            h.resolve()
    # the locks still open are rolled back, the clock passes E: the feed ends
    for row in h.open:
        h.rows(Row(start_ts=row.start_ts, type=Ev.ROLLBACK, key=row.key))
    h.open.clear()
    h.clock = max(h.clock, h.end_ts)
    h.resolve()
    h.messages.pop()  # the fresh message after the last resolved ts stays empty

    core = RegionWorker(
        target_ts=T,
        end_ts=h.end_ts,
        spans={TABLE: record_span(TABLE)},
        partitioner=Partitioner(partitions),
    )
    span = record_span(TABLE)
    core.add(Subscription(1, 1, TABLE, RegionInfo(1, span, RegionEpoch(1, 1), 1), span, T, 1))
    results: list[MessageResult] = [core.on_message(1, m.SerializeToString()) for m in h.messages]

    assert [c for r in results for c in r.changes] == h.want
    yielded: set[RowChange] = set()
    batched: list[RowChange] = []
    last_ts = T
    for i, r in enumerate(results):
        assert not (r.failures or r.deregister)
        assert r.initialized == (() if i else tuple(core.subscriptions()))
        if r.resolved_ts is not None:
            assert r.resolved_ts > last_ts
            last_ts = r.resolved_ts
        yielded.update(r.changes)
        for o in r.outputs:
            if isinstance(o, ChangeBatch):
                batched.extend(o.changes)
            elif isinstance(o, Watermark):
                assert o.resolved_ts <= h.end_ts
                # the frontier never passes a change that has not been yielded and batched
                below = {c for c in h.want if c.commit_ts <= o.resolved_ts}
                assert below <= yielded and below <= set(batched)
    assert Counter(batched) == Counter(h.want)
    # END once (as soon as the clock passed E with no lock open), nothing produced after it
    (last,) = [i for i, r in enumerate(results) if r.ended]
    txns = len({c.start_ts for c in h.want})  # every END carries the distinct transactions
    ends = tuple(End(p, h.end_ts, txns) for p in range(partitions))
    assert results[last].outputs[-partitions:] == ends
    assert not any(r.outputs or r.changes for r in results[last + 1 :])
