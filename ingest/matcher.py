"""Per-region matcher: pairs PREWRITE and COMMIT rows into committed changes.

Reproduces TiCDC's kv client (tiflow ``cdc/kv/matcher.go`` and ``handleEventEntry`` in
``cdc/kv/shared_region_worker.go``; facts/eventfeed.md §3.9) for ONE region subscription:

============  ==========================================  =====================================
row           before INITIALIZED                          after INITIALIZED
============  ==========================================  =====================================
PREWRITE      store by (start_ts, key); if one is stored, a new row with an empty value
              ("fake prewrite" from a lock rewrite) is ignored, and a lower ``generation``
              (pipelined DML) never replaces a higher one
COMMIT        match; a stored prewrite with empty value   match (take value and old value from
              or generation > 0 does not match yet;       the prewrite, forget it); no match →
              unmatched → cached                          :class:`PrewriteNotMatchError`
COMMITTED     emitted as is (scan rows, 1PC)              same
ROLLBACK      cached                                      forget the prewrite
INITIALIZED   mark initialized; retry the cached COMMITs: matched ones are emitted, unmatched
              ones are dropped (the scan already sent a COMMITTED row for them); then apply the
              cached ROLLBACKs
============  ==========================================  =====================================

Also as TiCDC: a matched COMMIT with ``commit_ts <= start_ts`` (the job's ``T``) is dropped
after matching (matching frees the prewrite); a COMMIT/COMMITTED at or below the region's last
resolved ts, or with op type UNKNOWN, is a protocol violation (:class:`FeedProtocolError`,
TiCDC panics); resolved ts is ignored before INITIALIZED and when it goes backwards; rows whose
key lies outside the region's span are dropped (TiKV < 7.0 may send them). Prewrites that are
never committed or rolled back stay stored (TiKV resolves or rolls back every lock eventually).

Hot path (the initial scan is almost all COMMITTED rows): rows are read through
:class:`~ingest.model.EventRow`, so the shell hands over the parsed ``cdcpb`` rows without a
per-row copy (only rows the matcher keeps are copied into a :class:`FeedRow`); the span check
compares raw keys with raw bounds decoded once (:func:`ingest.keyspace.raw_bounds`); each change
is built once, already carrying the subscription's ``table_id``.

One deliberate difference: cached COMMITs released at INITIALIZED also pass the
``commit_ts <= start_ts`` filter (as the new-architecture TiCDC does); old TiCDC emitted them and
left the filtering to later stages, which our :class:`ingest.keyspace.RowFilter` does anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import TiundoError, TransientError
from ingest.keyspace import encode_bytes, raw_bounds
from ingest.model import EventRow, FeedRow, LogType, OpType, RowChange, Span

__all__ = ["FeedProtocolError", "Matcher", "PrewriteNotMatchError"]

# wire numbers, as plain ints: compared once or twice per row
_PREWRITE = int(LogType.PREWRITE)
_COMMIT = int(LogType.COMMIT)
_ROLLBACK = int(LogType.ROLLBACK)
_COMMITTED = int(LogType.COMMITTED)
_INITIALIZED = int(LogType.INITIALIZED)
#: wire op type → OpType for a change; None where a change may not have it (UNKNOWN)
_CHANGE_OPS: dict[int, OpType] = {int(OpType.PUT): OpType.PUT, int(OpType.DELETE): OpType.DELETE}
_make_change = RowChange._make


def _log_type(value: int) -> LogType:
    return LogType(value) if 0 <= value <= _INITIALIZED else LogType.UNKNOWN


def _own(row: EventRow) -> FeedRow:
    """A FeedRow copy of a row the matcher keeps (a parsed proto row would pin its message)."""
    if isinstance(row, FeedRow):
        return row
    op = row.op_type
    return FeedRow(
        row.start_ts,
        row.commit_ts,
        _log_type(row.type),
        OpType(op) if 0 <= op <= int(OpType.DELETE) else OpType.UNKNOWN,
        row.key,
        row.value,
        row.old_value,
        row.txn_source,
        row.generation,
    )


class PrewriteNotMatchError(TransientError):
    """A live COMMIT after INITIALIZED with no stored PREWRITE (TiCDC ``ErrPrewriteNotMatch``).

    TiCDC does not treat it as a region error: it fails the changefeed, which the owner then
    restarts from its checkpoint. The equivalent here is retriable: the shell discards this
    region's :class:`Matcher` and re-registers its span from the range's last resolved ts
    (a fresh scan re-sends every change above it, and the downstream compaction is idempotent).
    """

    def __init__(self, region_id: int, key: bytes, start_ts: int, commit_ts: int) -> None:
        self.region_id = region_id
        self.key = key
        self.start_ts = start_ts
        self.commit_ts = commit_ts
        super().__init__(
            f"prewrite not match: region {region_id} key {key.hex()} "
            f"start_ts {start_ts} commit_ts {commit_ts}"
        )


class FeedProtocolError(TiundoError):
    """TiKV sent something its protocol rules out; not retriable (TiCDC panics).

    Raised for a COMMIT/COMMITTED row whose ``commit_ts`` is not above the region's last
    resolved ts (a change would be missed by the frontier) and for a committed row with op type
    UNKNOWN. The message names the region, key and timestamps.
    """

    retriable = False


class Matcher:
    """Matcher and feed state of one region subscription.

    Contract for the shell:

    - Create one per (region, registration) with ``checkpoint_ts`` = the value sent in the
      ``ChangeDataRequest``; after any error of the subscription drop it and create a new one
      for the new registration (state is never carried over: the new scan re-sends it).
    - :meth:`feed` takes the rows of each Entries event in stream order and returns the
      committed changes to emit, in that order (cached COMMITs come out at INITIALIZED, in the
      order they arrived). ``table_id`` of the returned changes is the one given at
      construction (``None`` by default): a hint the key filter checks and corrects.
    - :meth:`resolve` takes each resolved ts addressed to the region; only when it returns
      True may the shell forward the ts to the table's frontier.
    - If :meth:`feed` raises, changes computed earlier in that call are not returned: the
      subscription is then re-registered from the range's last resolved ts, which re-delivers
      every change above it.
    """

    __slots__ = (
        "_cached_commits",
        "_cached_rollbacks",
        "_prewrites",
        "_raw_span",
        "dropped_out_of_span",
        "dropped_stale",
        "dropped_unmatched",
        "initialized",
        "region_id",
        "resolved_ts",
        "span",
        "start_ts",
        "table_id",
    )

    def __init__(
        self,
        region_id: int,
        *,
        start_ts: int,
        checkpoint_ts: int | None = None,
        span: Span | None = None,
        table_id: int | None = None,
    ) -> None:
        self.region_id = region_id
        self.table_id = table_id
        self.start_ts = start_ts
        self.resolved_ts = start_ts if checkpoint_ts is None else checkpoint_ts
        self.span = span
        # the span in raw key space, when its bounds allow (else each key is encoded)
        self._raw_span = raw_bounds(span) if span is not None else None
        self.initialized = False
        self._prewrites: dict[tuple[int, bytes], FeedRow] = {}
        self._cached_commits: list[FeedRow] = []
        self._cached_rollbacks: list[FeedRow] = []
        self.dropped_out_of_span = 0
        self.dropped_stale = 0
        self.dropped_unmatched = 0

    @property
    def pending_prewrites(self) -> int:
        """Prewrites stored and not yet committed or rolled back."""
        return len(self._prewrites)

    @property
    def cached_commits(self) -> int:
        """COMMIT rows waiting for INITIALIZED."""
        return len(self._cached_commits)

    def resolve(self, ts: int) -> bool:
        """Apply a resolved ts; False when ignored (before INITIALIZED, or lower than before)."""
        if not self.initialized or ts < self.resolved_ts:
            return False
        self.resolved_ts = ts
        return True

    def feed(self, rows: Iterable[EventRow]) -> list[RowChange]:
        """Process the rows of one Entries event; return the committed changes to emit."""
        out: list[RowChange] = []
        span, raw_span = self.span, self._raw_span
        lo, hi = raw_span if raw_span is not None else (b"", None)
        region_id, table_id = self.region_id, self.table_id
        ops = _CHANGE_OPS
        make = _make_change
        for row in rows:
            log_type = row.type
            if log_type == _INITIALIZED:
                self._on_initialized(out)
                continue
            key = row.key
            if raw_span is not None:
                if key < lo or (hi is not None and key >= hi):
                    self.dropped_out_of_span += 1
                    continue
            elif span is not None and not span.contains(encode_bytes(key)):
                self.dropped_out_of_span += 1
                continue
            if log_type == _COMMITTED:
                commit_ts = row.commit_ts
                op = ops.get(row.op_type)
                if op is None or commit_ts <= self.resolved_ts:
                    self._check_above_resolved(row)
                    op = self._check_op(row)
                out.append(
                    make(
                        (
                            region_id,
                            table_id,
                            key,
                            row.start_ts,
                            commit_ts,
                            op,
                            row.value,
                            row.old_value,
                            row.txn_source,
                        )
                    )
                )
            elif log_type == _PREWRITE:
                self._put_prewrite(row)
            elif log_type == _COMMIT:
                self._on_commit(row, out)
            elif log_type == _ROLLBACK:
                if self.initialized:
                    self._prewrites.pop((row.start_ts, key), None)
                else:
                    self._cached_rollbacks.append(_own(row))
            # UNKNOWN rows are ignored, as TiCDC does.
        return out

    def _put_prewrite(self, row: EventRow) -> None:
        # A lock rewrite (txn heartbeat, min_commit_ts push) re-sends the prewrite without its
        # value; keeping the first one keeps the value the COMMIT needs.
        match_key = (row.start_ts, row.key)
        old = self._prewrites.get(match_key)
        if old is not None and (not row.value or row.generation < old.generation):
            return
        self._prewrites[match_key] = _own(row)

    def _take_prewrite(self, row: EventRow) -> FeedRow | None:
        match_key = (row.start_ts, row.key)
        prewrite = self._prewrites.get(match_key)
        if prewrite is None:
            return None
        # Before INITIALIZED rows may arrive out of order: an empty prewrite could be a fake
        # one standing in for a real one still to come, and pipelined-DML prewrites may not be
        # complete yet; so neither may match until the scan is done.
        if not self.initialized and (not prewrite.value or prewrite.generation > 0):
            return None
        del self._prewrites[match_key]
        return prewrite

    def _on_commit(self, row: EventRow, out: list[RowChange]) -> None:
        prewrite = self._take_prewrite(row)
        if prewrite is None:
            if not self.initialized:
                self._cached_commits.append(_own(row))
                return
            raise PrewriteNotMatchError(self.region_id, row.key, row.start_ts, row.commit_ts)
        if row.commit_ts <= self.start_ts:
            self.dropped_stale += 1
            return
        self._check_above_resolved(row)
        out.append(self._joined(row, prewrite))

    def _on_initialized(self, out: list[RowChange]) -> None:
        self.initialized = True
        cached, self._cached_commits = self._cached_commits, []
        for row in cached:
            prewrite = self._take_prewrite(row)
            if prewrite is None:
                # The scan has sent a COMMITTED row for this key and start_ts.
                self.dropped_unmatched += 1
            elif row.commit_ts <= self.start_ts:
                self.dropped_stale += 1
            else:
                out.append(self._joined(row, prewrite))
        rollbacks, self._cached_rollbacks = self._cached_rollbacks, []
        for row in rollbacks:
            self._prewrites.pop((row.start_ts, row.key), None)

    def _check_above_resolved(self, row: EventRow) -> None:
        if row.commit_ts <= self.resolved_ts:
            raise FeedProtocolError(
                f"{_log_type(row.type).name} at or below resolved ts: region {self.region_id} "
                f"key {row.key.hex()} start_ts {row.start_ts} commit_ts {row.commit_ts} "
                f"resolved_ts {self.resolved_ts}"
            )

    def _check_op(self, row: EventRow) -> OpType:
        op = _CHANGE_OPS.get(row.op_type)
        if op is None:
            raise FeedProtocolError(
                f"unknown op type {int(row.op_type)} in {_log_type(row.type).name}: region "
                f"{self.region_id} key {row.key.hex()} start_ts {row.start_ts} "
                f"commit_ts {row.commit_ts}"
            )
        return op

    def _joined(self, commit: EventRow, prewrite: FeedRow) -> RowChange:
        # Live COMMIT rows carry no old value and only short values: both come from the
        # prewrite. The write source is on both; prefer the commit's when it is set.
        return RowChange(
            self.region_id,
            self.table_id,
            commit.key,
            commit.start_ts,
            commit.commit_ts,
            self._check_op(commit),
            prewrite.value,
            prewrite.old_value,
            commit.txn_source or prewrite.txn_source,
        )
