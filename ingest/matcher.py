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

One deliberate difference: cached COMMITs released at INITIALIZED also pass the
``commit_ts <= start_ts`` filter (as the new-architecture TiCDC does); old TiCDC emitted them and
left the filtering to later stages, which our :class:`ingest.keyspace.RowFilter` does anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.errors import TiundoError, TransientError
from ingest.keyspace import encode_bytes
from ingest.model import FeedRow, LogType, OpType, RowChange, Span

__all__ = ["FeedProtocolError", "Matcher", "PrewriteNotMatchError"]


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
      order they arrived). ``table_id`` of the returned changes is ``None``.
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
        "dropped_out_of_span",
        "dropped_stale",
        "dropped_unmatched",
        "initialized",
        "region_id",
        "resolved_ts",
        "span",
        "start_ts",
    )

    def __init__(
        self,
        region_id: int,
        *,
        start_ts: int,
        checkpoint_ts: int | None = None,
        span: Span | None = None,
    ) -> None:
        self.region_id = region_id
        self.start_ts = start_ts
        self.resolved_ts = start_ts if checkpoint_ts is None else checkpoint_ts
        self.span = span
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

    def feed(self, rows: Iterable[FeedRow]) -> list[RowChange]:
        """Process the rows of one Entries event; return the committed changes to emit."""
        out: list[RowChange] = []
        span = self.span
        for row in rows:
            log_type = row.log_type
            if log_type == LogType.INITIALIZED:
                self._on_initialized(out)
                continue
            if span is not None and not span.contains(encode_bytes(row.key)):
                self.dropped_out_of_span += 1
                continue
            if log_type == LogType.PREWRITE:
                self._put_prewrite(row)
            elif log_type == LogType.COMMIT:
                self._on_commit(row, out)
            elif log_type == LogType.COMMITTED:
                self._check_above_resolved(row)
                out.append(self._change(row, row.value, row.old_value, row.txn_source))
            elif log_type == LogType.ROLLBACK:
                if self.initialized:
                    self._prewrites.pop((row.start_ts, row.key), None)
                else:
                    self._cached_rollbacks.append(row)
            # UNKNOWN rows are ignored, as TiCDC does.
        return out

    def _put_prewrite(self, row: FeedRow) -> None:
        # A lock rewrite (txn heartbeat, min_commit_ts push) re-sends the prewrite without its
        # value; keeping the first one keeps the value the COMMIT needs.
        match_key = (row.start_ts, row.key)
        old = self._prewrites.get(match_key)
        if old is not None and (not row.value or row.generation < old.generation):
            return
        self._prewrites[match_key] = row

    def _take_prewrite(self, row: FeedRow) -> FeedRow | None:
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

    def _on_commit(self, row: FeedRow, out: list[RowChange]) -> None:
        prewrite = self._take_prewrite(row)
        if prewrite is None:
            if not self.initialized:
                self._cached_commits.append(row)
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

    def _check_above_resolved(self, row: FeedRow) -> None:
        if row.commit_ts <= self.resolved_ts:
            raise FeedProtocolError(
                f"{row.log_type.name} at or below resolved ts: region {self.region_id} "
                f"key {row.key.hex()} start_ts {row.start_ts} commit_ts {row.commit_ts} "
                f"resolved_ts {self.resolved_ts}"
            )

    def _joined(self, commit: FeedRow, prewrite: FeedRow) -> RowChange:
        # Live COMMIT rows carry no old value and only short values: both come from the
        # prewrite. The write source is on both; prefer the commit's when it is set.
        return self._change(
            commit, prewrite.value, prewrite.old_value, commit.txn_source or prewrite.txn_source
        )

    def _change(self, row: FeedRow, value: bytes, old_value: bytes, txn_source: int) -> RowChange:
        if row.op_type not in (OpType.PUT, OpType.DELETE):
            raise FeedProtocolError(
                f"unknown op type {int(row.op_type)} in {row.log_type.name}: region "
                f"{self.region_id} key {row.key.hex()} start_ts {row.start_ts} "
                f"commit_ts {row.commit_ts}"
            )
        return RowChange(
            region_id=self.region_id,
            table_id=None,
            key=row.key,
            start_ts=row.start_ts,
            commit_ts=row.commit_ts,
            op_type=OpType(row.op_type),
            value=value,
            old_value=old_value,
            txn_source=txn_source,
        )
