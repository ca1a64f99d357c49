"""Property: any interleaving of transactions' rows yields exactly the committed changes, once.

Each (transaction, key) is a chain of rows in protocol order (PREWRITE [fake PREWRITE]
COMMIT | ROLLBACK, a lone PREWRITE still pending, or one self-contained COMMITTED row); chains
are interleaved at random and INITIALIZED is dropped in anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ingest.keyspace import encode_bytes, encode_int, record_prefix
from ingest.matcher import Matcher
from ingest.model import FeedRow, LogType, OpType, RowChange, Span
from proto import cdcpb_pb2

T = 1000
KEYS = [record_prefix(9) + encode_int(h) for h in range(4)]
INIT = FeedRow(0, 0, LogType.INITIALIZED)


@dataclass(frozen=True)
class Chain:
    rows: tuple[FeedRow, ...]
    expected: RowChange | None


@st.composite
def chains(draw: st.DrawFn) -> list[Chain]:
    n_txn = draw(st.integers(1, 6))
    start_list = draw(
        st.lists(st.integers(T - 30, T + 60), min_size=n_txn, max_size=n_txn, unique=True)
    )
    out: list[Chain] = []
    for start in start_list:
        keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))
        fate = draw(st.sampled_from(["commit", "rollback", "pending", "one_pc"]))
        commit_ts = start + draw(st.integers(1, 40))
        if fate == "one_pc":
            commit_ts = max(commit_ts, T + 1)  # COMMITTED rows are above the checkpoint
        for key in keys:
            op = draw(st.sampled_from([OpType.PUT, OpType.DELETE]))
            value = draw(st.binary(min_size=1, max_size=4)) if op is OpType.PUT else b""
            old = draw(st.binary(max_size=4))
            src = draw(st.sampled_from([0, 1]))
            if fate == "one_pc":
                row = FeedRow(start, commit_ts, LogType.COMMITTED, op, key, value, old, src)
                exp = RowChange(3, None, key, start, commit_ts, op, value, old, src)
                out.append(Chain((row,), exp))
                continue
            rows = [FeedRow(start, 0, LogType.PREWRITE, op, key, value, old, src)]
            if draw(st.booleans()):  # lock rewrite: value-less duplicate prewrite
                rows.append(FeedRow(start, 0, LogType.PREWRITE, op, key, b"", b"zz", src))
            exp = None
            if fate == "commit":
                short = value if len(value) < 3 else b""
                rows.append(FeedRow(start, commit_ts, LogType.COMMIT, op, key, short, b"", src))
                if commit_ts > T:
                    exp = RowChange(3, None, key, start, commit_ts, op, value, old, src)
            elif fate == "rollback":
                rows.append(FeedRow(start, 0, LogType.ROLLBACK, OpType.UNKNOWN, key))
            out.append(Chain(tuple(rows), exp))
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_interleavings_yield_each_committed_change_once(data: st.DataObject) -> None:
    chain_list = data.draw(chains())
    slots = [i for i, c in enumerate(chain_list) for _ in c.rows]
    order = data.draw(st.permutations(slots))
    cursor = [0] * len(chain_list)
    stream: list[FeedRow] = []
    for i in order:
        stream.append(chain_list[i].rows[cursor[i]])
        cursor[i] += 1
    stream.insert(data.draw(st.integers(0, len(stream))), INIT)
    # deliver in Entries events of random sizes
    m = Matcher(3, start_ts=T)
    got: list[RowChange] = []
    pos = 0
    while pos < len(stream):
        size = data.draw(st.integers(1, 4))
        got.extend(m.feed(stream[pos : pos + size]))
        pos += size
    expected = [c.expected for c in chain_list if c.expected is not None]

    def key(c: RowChange) -> tuple[bytes, int]:
        return (c.key, c.start_ts)

    assert sorted(got, key=key) == sorted(expected, key=key)
    assert m.cached_commits == 0 and m.initialized


def _proto_row(row: FeedRow) -> cdcpb_pb2.Event.Row:
    return cdcpb_pb2.Event.Row(
        start_ts=row.start_ts,
        commit_ts=row.commit_ts,
        type=int(row.log_type),
        op_type=int(row.op_type),
        key=row.key,
        value=row.value,
        old_value=row.old_value,
        txn_source=row.txn_source,
        generation=row.generation,
    )


# span bounds: exact encodings of keys around KEYS (raw comparison) and truncated or arbitrary
# bytes (no raw equivalent: each key is encoded), plus the open ends
bounds = st.one_of(
    st.just(b""),
    st.builds(lambda k: encode_bytes(k), st.sampled_from([*KEYS, KEYS[1][:-1], KEYS[2] + b"\0"])),
    st.builds(lambda k, n: encode_bytes(k)[:n], st.sampled_from(KEYS), st.integers(1, 20)),
    st.binary(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), lo=bounds, hi=bounds, as_proto=st.booleans())
def test_span_and_row_kind_do_not_change_the_outcome(
    data: st.DataObject, lo: bytes, hi: bytes, as_proto: bool
) -> None:
    """A span drops exactly the rows whose ENCODED key is outside it; proto rows = FeedRows."""
    assume(hi == b"" or lo < hi)
    span = Span(lo, hi)
    chain_list = data.draw(chains())
    stream = [row for c in chain_list for row in c.rows]
    stream.insert(data.draw(st.integers(0, len(stream))), INIT)
    inside = [
        r for r in stream if r.log_type is LogType.INITIALIZED or span.contains(encode_bytes(r.key))
    ]
    m = Matcher(3, start_ts=T, span=span, table_id=9)
    ref = Matcher(3, start_ts=T, table_id=9)
    fed = [_proto_row(r) for r in stream] if as_proto else stream
    got = m.feed(fed)
    assert got == ref.feed(inside)
    assert all(c.table_id == 9 and type(c.op_type) is OpType for c in got)
    assert m.dropped_out_of_span == len(stream) - len(inside)
    assert (m.pending_prewrites, m.dropped_stale) == (ref.pending_prewrites, ref.dropped_stale)
