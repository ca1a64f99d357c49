"""Resolved-ts frontier: the minimum resolved ts over a table's key span.

Same contract as TiCDC's span frontier (tiflow ``cdc/puller/frontier/frontier.go``;
facts/eventfeed.md §3.11): every part of the tracked span starts at ts 0 ("not reported");
an update sets the ts of a sub-span, overwriting whatever covered it before, so region splits
and merges need no bookkeeping (the new regions simply report their own spans); the frontier is
the minimum over the whole tracked span, hence 0 until every part has reported. The value the
caller publishes must never go backwards, so :meth:`SpanFrontier.advance` returns a new value
only when it is higher than the last one returned.

Layout: sorted segment boundaries (``bisect``) with one ts per segment, adjacent equal segments
merged, and a lazy min-heap of ``(ts, segment start)`` validated on read; an update costs
O(log n) plus a list splice, for thousands of regions.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping

from ingest.model import Span

__all__ = ["JobFrontier", "SpanFrontier"]

# Boundary keys: (0, key) for a real encoded key, (1, b"") for +infinity, so that tuples
# compare like the key space with PD's empty-end convention.
_Bound = tuple[int, bytes]
_INF: _Bound = (1, b"")


def _start(key: bytes) -> _Bound:
    return (0, key)


def _end(key: bytes) -> _Bound:
    return _INF if key == b"" else (0, key)


class SpanFrontier:
    """Minimum resolved ts over one or more disjoint encoded spans (one table's record span).

    Updates outside the tracked spans are clipped away; gaps between tracked spans do not
    count. ``frontier()`` is the current minimum (it can drop if a caller overwrites a part
    with a lower ts); ``resolved_ts`` is the highest value :meth:`advance` has returned.
    """

    __slots__ = ("_bounds", "_heap", "_vals", "resolved_ts")

    def __init__(self, spans: Span | Iterable[Span]) -> None:
        span_list = [spans] if isinstance(spans, Span) else list(spans)
        if not span_list:
            raise ValueError("a frontier needs at least one span")
        ordered = sorted(span_list, key=lambda s: (_start(s.start), _end(s.end)))
        # _vals[i] is the ts of [_bounds[i], _bounds[i+1]); None marks a gap, and the last
        # boundary (the end of the last span) always carries None.
        self._bounds: list[_Bound] = []
        self._vals: list[int | None] = []
        for span in ordered:
            start, end = _start(span.start), _end(span.end)
            if self._bounds and start < self._bounds[-1]:
                raise ValueError(f"overlapping spans: {span} starts before the previous end")
            if self._bounds and start == self._bounds[-1]:
                self._vals[-1] = 0
            else:
                self._bounds.append(start)
                self._vals.append(0)
            self._bounds.append(end)
            self._vals.append(None)
        self._coalesce_all()
        self._heap: list[tuple[int, _Bound]] = []
        self._rebuild_heap()
        self.resolved_ts = 0

    def __len__(self) -> int:
        """Number of segments with a distinct ts (after merging equal neighbours)."""
        return sum(v is not None for v in self._vals)

    def update(self, span: Span, ts: int) -> None:
        """Set the resolved ts of ``span`` (clipped to the tracked spans) to ``ts``."""
        bounds = self._bounds
        lo = max(_start(span.start), bounds[0])
        hi = min(_end(span.end), bounds[-1])
        if lo >= hi:
            return
        self._split_at(lo)
        self._split_at(hi)
        i = bisect_left(bounds, lo)
        j = bisect_left(bounds, hi)
        vals = self._vals
        new_vals = [None if v is None else ts for v in vals[i:j]]
        # Merge the new run with itself and with its neighbours where the ts is equal (the
        # last boundary, the end of the last span, always stays).
        first = i - 1 if i > 0 and vals[i - 1] == new_vals[0] else i
        last = j + 1 if j < len(bounds) - 1 and vals[j] == new_vals[-1] else j
        seg_bounds = bounds[first:last]
        seg_vals: list[int | None] = vals[first:i] + new_vals + vals[j:last]
        merged_b: list[_Bound] = []
        merged_v: list[int | None] = []
        for b, v in zip(seg_bounds, seg_vals, strict=True):
            if merged_v and merged_v[-1] == v:
                continue
            merged_b.append(b)
            merged_v.append(v)
        bounds[first:last] = merged_b
        vals[first:last] = merged_v
        heap = self._heap
        for b, v in zip(merged_b, merged_v, strict=True):
            if v is not None:
                heapq.heappush(heap, (v, b))
        if len(heap) > 4 * len(bounds) + 64:
            self._rebuild_heap()

    def frontier(self) -> int:
        """Current minimum ts over every tracked part (0 while any part has not reported)."""
        heap = self._heap
        bounds, vals = self._bounds, self._vals
        while heap:
            ts, b = heap[0]
            i = bisect_left(bounds, b)
            if i < len(bounds) and bounds[i] == b and vals[i] == ts:
                return ts
            heapq.heappop(heap)
        raise AssertionError("frontier heap lost its entries")  # pragma: no cover

    def advance(self) -> int | None:
        """The frontier if it rose above every value returned before, else ``None``."""
        current = self.frontier()
        if current > self.resolved_ts:
            self.resolved_ts = current
            return current
        return None

    def min_over(self, span: Span) -> int | None:
        """Minimum ts over the tracked parts of ``span``; ``None`` if it tracks none of it.

        The shell uses it as the ``checkpoint_ts`` of a range it re-registers.
        """
        bounds, vals = self._bounds, self._vals
        lo, hi = _start(span.start), _end(span.end)
        i = max(bisect_right(bounds, lo) - 1, 0)
        found: int | None = None
        while i < len(bounds) - 1 and bounds[i] < hi:
            v = vals[i]
            if v is not None and bounds[i + 1] > lo and (found is None or v < found):
                found = v
            i += 1
        return found

    def segments(self) -> list[tuple[Span, int]]:
        """Every tracked segment with its ts, in key order (for tests and debugging)."""
        out: list[tuple[Span, int]] = []
        for i, v in enumerate(self._vals):
            if v is not None:
                end = self._bounds[i + 1]
                out.append((Span(self._bounds[i][1], end[1]), v))
        return out

    def _split_at(self, b: _Bound) -> None:
        bounds = self._bounds
        i = bisect_left(bounds, b)
        if i < len(bounds) and bounds[i] == b:
            return
        # i > 0 because callers clip to [bounds[0], bounds[-1]].
        v = self._vals[i - 1]
        bounds.insert(i, b)
        self._vals.insert(i, v)
        if v is not None:
            heapq.heappush(self._heap, (v, b))

    def _coalesce_all(self) -> None:
        bounds: list[_Bound] = []
        vals: list[int | None] = []
        for i, (b, v) in enumerate(zip(self._bounds, self._vals, strict=True)):
            if vals and vals[-1] == v and i < len(self._bounds) - 1:
                continue
            bounds.append(b)
            vals.append(v)
        self._bounds, self._vals = bounds, vals

    def _rebuild_heap(self) -> None:
        self._heap = [
            (v, b) for b, v in zip(self._bounds, self._vals, strict=True) if v is not None
        ]
        heapq.heapify(self._heap)


class JobFrontier:
    """Frontier of the whole job: one :class:`SpanFrontier` per selected physical table.

    ``resolved_ts`` is the minimum of the tables' published values, so it never goes backwards;
    it starts at ``start_ts`` (``T``): a watermark at or below ``T`` carries no information.
    The job's data is complete when :meth:`passed` ``(E)``: every table's frontier ``>= E``,
    i.e. every change with ``commit_ts <= E`` has been received.
    """

    __slots__ = ("_tables", "resolved_ts", "start_ts")

    def __init__(self, start_ts: int, tables: Mapping[int, Span | Iterable[Span]]) -> None:
        if not tables:
            raise ValueError("a job frontier needs at least one table")
        self.start_ts = start_ts
        self._tables = {tid: SpanFrontier(spans) for tid, spans in tables.items()}
        self.resolved_ts = start_ts

    def table(self, table_id: int) -> SpanFrontier:
        """The frontier of one table (``KeyError`` for a table the job does not track)."""
        return self._tables[table_id]

    def update(self, table_id: int, span: Span, ts: int) -> None:
        """Record a region's resolved ts (span clipped to the table's span)."""
        table = self._tables[table_id]
        table.update(span, ts)
        table.advance()

    def advance(self) -> int | None:
        """The job's resolved ts if it rose above every value returned before, else ``None``."""
        current = min(t.resolved_ts for t in self._tables.values())
        if current > self.resolved_ts:
            self.resolved_ts = current
            return current
        return None

    def passed(self, end_ts: int) -> bool:
        """Whether every table's published frontier has reached ``end_ts``."""
        return all(t.resolved_ts >= end_ts for t in self._tables.values())

    def checkpoint_ts(self, table_id: int, span: Span) -> int:
        """``checkpoint_ts`` to (re-)register ``span`` with: its last resolved ts, at least ``T``.

        Regions start at ``T``; after an error the range resumes from the lowest resolved ts
        any part of it reached, so no change above it is missed.
        """
        found = self._tables[table_id].min_over(span)
        return self.start_ts if found is None else max(self.start_ts, found)
