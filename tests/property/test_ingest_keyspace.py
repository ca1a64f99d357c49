"""Property: comparing RAW keys with :func:`raw_bounds` is comparing encoded keys with the span."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ingest.keyspace import encode_bytes, raw_bounds
from ingest.model import Span

raw = st.binary(max_size=20)
# exact encodings (the usual region bounds) and arbitrary bytes (usually not one)
bound = st.one_of(st.just(b""), raw.map(encode_bytes), st.binary(max_size=20))


@settings(max_examples=500, deadline=None)
@given(lo=bound, hi=bound, keys=st.lists(raw, max_size=20))
def test_raw_bounds_keep_span_membership(lo: bytes, hi: bytes, keys: list[bytes]) -> None:
    assume(hi == b"" or lo < hi)
    span = Span(lo, hi)
    bounds = raw_bounds(span)
    if bounds is None:
        # only when a bound is not the encoding of any key (the caller then encodes keys)
        assert not all(_is_encoding(b) for b in (lo, hi))
        return
    start, end = bounds
    if start:
        keys = [*keys, start, start[:-1], start + b"\0"]
    if end is not None:
        keys = [*keys, end, end[:-1], end + b"\0"]
    for k in keys:
        assert (start <= k and (end is None or k < end)) == span.contains(encode_bytes(k)), k


def _is_encoding(b: bytes) -> bool:
    """Whether ``b`` is the encoding of some raw key (brute force over its decoded prefix)."""
    if b == b"":
        return True
    groups = [b[i : i + 9] for i in range(0, len(b), 9)]
    data = b"".join(g[:8] for g in groups)
    return any(encode_bytes(data[:n]) == b for n in range(len(data) + 1))


@given(k=raw)
def test_exact_bounds_round_trip(k: bytes) -> None:
    assert raw_bounds(Span(encode_bytes(k), b"")) == (k, None)
