"""The synchronous heart of the kv client: ChangeDataEvents in, one :class:`MessageResult` out.

:class:`RegionWorker` owns every live subscription (one per registered region request) and the
job-wide pure stages: a :class:`~ingest.matcher.Matcher` per subscription, the
:class:`~ingest.keyspace.RowFilter`, the :class:`~ingest.frontier.JobFrontier` and the
:class:`~ingest.batcher.Batcher`, which receives each Entries event's kept changes with a key's
consecutive versions folded into one record (:mod:`ingest.fold`). It does no I/O: the live
worker and the replayer feed it the same raw messages in the same order and get the same
outputs, which is what makes a recording replayable.

Contract for the shell (``ingest.worker``):

- :meth:`RegionWorker.add` before the register request is sent; one subscription per
  ``(stream_id, request_id, region_id)`` (TiKV's dedup key is (request_id, region_id) per
  stream). With plain EventFeed a stream carries one table (``ResolvedTs.request_id`` is 0 and
  cannot tell tables apart), so ``bind_stream`` names that table's request id.
- :meth:`RegionWorker.on_message` parses one raw ``ChangeDataEvent`` and returns a
  :class:`MessageResult`: the outputs to produce (in order), the committed changes accepted,
  the job frontier's advance, the :class:`Failure` of each subscription that ended (region
  error, or a PREWRITE mismatch whose deregistration has been answered), the zombies to
  deregister, the subscriptions whose initial scan finished, and whether END went out. The
  worker keeps no per-message state for the shell to poll. Fatal conditions (duplicate
  request, cluster id mismatch, protocol violations, a change below a published watermark)
  raise.
- :meth:`RegionWorker.drop_stream` when a stream broke: its subscriptions are returned for
  re-registration. A re-registration takes ``checkpoint_ts`` from :meth:`checkpoint_ts`, the
  range's last resolved ts, so nothing is missed.
- The result with ``ended`` carries the END records; from then on :attr:`RegionWorker.done`
  holds and the feed can stop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from google.protobuf import text_format

from ingest.batcher import Batcher, LateChangeError, Output
from ingest.fold import fold_versions
from ingest.frontier import JobFrontier
from ingest.keyspace import RowFilter
from ingest.matcher import FeedProtocolError, Matcher, PrewriteNotMatchError
from ingest.model import RegionEpoch, RegionInfo, RowChange, Span
from ingest.partitioner import Partitioner
from ingest.region_errors import (
    Action,
    Decision,
    ErrorKind,
    RegionError,
    RegionFatalError,
    classify,
)
from ingest.txncount import TxnCounter
from proto import cdcpb_pb2, metapb_pb2

__all__ = ["Failure", "MessageResult", "RegionWorker", "Subscription", "region_error"]

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class Subscription:
    """One registered region request and its feed state."""

    stream_id: int
    request_id: int
    table_id: int
    region: RegionInfo
    span: Span  # requested range: the region's span ∩ the table's record span (encoded)
    checkpoint_ts: int
    store_id: int
    matcher: Matcher = field(init=False)
    #: a deregister was sent (after a PREWRITE mismatch); waiting for TiKV's answer
    zombie: bool = False
    #: decision to apply once the zombie's end is confirmed
    pending: Decision | None = None

    @property
    def region_id(self) -> int:
        """The region's id."""
        return self.region.region_id

    @property
    def key(self) -> tuple[int, int, int]:
        """``(stream_id, request_id, region_id)``: unique among live subscriptions."""
        return (self.stream_id, self.request_id, self.region.region_id)

    def describe(self, table_name: str = "") -> str:
        """Region, store, table and range, for logs and errors."""
        table = table_name or str(self.table_id)
        return (
            f"region {self.region_id} (store {self.store_id}, table {table}, "
            f"span {self.span}, checkpoint {self.checkpoint_ts})"
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """A subscription that ended and what to do about it."""

    sub: Subscription
    decision: Decision


@dataclass(frozen=True, slots=True)
class MessageResult:
    """Everything one ``ChangeDataEvent`` asks of the shell, so it polls nothing afterwards.

    One record rather than a union: a single message may carry entries, errors and resolved
    ts of many regions at once. The live shell handles failures, then deregistrations, then
    outputs; the replay only produces the outputs (the re-registrations are recorded).
    """

    #: records to produce, in this order (batches, watermarks, END)
    outputs: tuple[Output, ...] = ()
    #: committed changes in (T, E] accepted from this message, in feed order; each is in
    #: ``outputs`` here or in a later result's (batches fill across messages)
    changes: tuple[RowChange, ...] = ()
    #: the job frontier's new resolved ts, when this message raised it
    resolved_ts: int | None = None
    #: subscriptions that ended, with the decision to act on (re-register, re-split, back off)
    failures: tuple[Failure, ...] = ()
    #: zombies (PREWRITE mismatch) whose deregister request the shell must send
    deregister: tuple[Subscription, ...] = ()
    #: subscriptions whose initial scan finished (INITIALIZED) with this message
    initialized: tuple[Subscription, ...] = ()
    #: END went out with this message: every table's frontier passed E, the feed can stop
    ended: bool = False


class _Collect:
    """What one message produces, gathered while its events are processed."""

    __slots__ = ("changes", "deregister", "failures", "initialized", "outputs")

    def __init__(self) -> None:
        self.outputs: list[Output] = []
        self.changes: list[RowChange] = []
        self.failures: list[Failure] = []
        self.deregister: list[Subscription] = []
        self.initialized: list[Subscription] = []


def region_error(ev: cdcpb_pb2.Event) -> RegionError:
    """Reduce an ``Event.error`` to :class:`RegionError` (the one field TiKV set)."""
    err = ev.error
    fields = err.ListFields()
    name = fields[0][0].name if fields else ""
    current = err.epoch_not_match.current_regions if name == "epoch_not_match" else ()
    return RegionError(
        kind=ErrorKind.from_field(name),
        region_id=ev.region_id,
        leader_store_id=err.not_leader.leader.store_id if name == "not_leader" else 0,
        backoff_ms=err.server_is_busy.backoff_ms if name == "server_is_busy" else 0,
        detail=text_format.MessageToString(err, as_one_line=True)[:300],
        current_regions=tuple(info for r in current if (info := _region_info(r)) is not None),
    )


def _region_info(region: metapb_pb2.Region) -> RegionInfo | None:
    """A ``metapb.Region`` named in an error, leader unknown (``None`` if it spans nothing)."""
    start, end = bytes(region.start_key), bytes(region.end_key)
    if end and end <= start:
        return None
    epoch = region.region_epoch
    return RegionInfo(
        region_id=region.id,
        span=Span(start, end),
        epoch=RegionEpoch(conf_ver=epoch.conf_ver, version=epoch.version),
        peer_store_ids=tuple(p.store_id for p in region.peers),
    )


class RegionWorker:
    """Subscriptions, matchers, filter, frontier and batcher of one job (see module doc)."""

    def __init__(
        self,
        *,
        target_ts: int,
        end_ts: int,
        spans: Mapping[int, Span],
        partitioner: Partitioner,
        batch_max_changes: int = 1024,
        batch_max_bytes: int = 512 * 1024,
        own_source: int | None = None,
        table_names: Mapping[int, str] | None = None,
    ) -> None:
        self.target_ts = target_ts
        self.end_ts = end_ts
        self.spans = dict(spans)
        self.table_names = dict(table_names or {})
        self.frontier = JobFrontier(target_ts, self.spans)
        self.row_filter = RowFilter(self.spans, target_ts, end_ts, own_source=own_source)
        self.batcher = Batcher(
            partitioner, max_changes=batch_max_changes, max_bytes=batch_max_bytes
        )
        #: END has gone out (every table's frontier passed E); nothing more is produced
        self.done = False
        #: changes in (T, E] seen again after END (kept off the topic; see ``_entries``)
        self.repeated_after_end = 0
        self._subs: dict[tuple[int, int, int], Subscription] = {}
        self._stream_request: dict[int, int] = {}
        # counters (progress and metrics)
        self.messages = 0
        self.events = 0
        self.rows = 0
        self.changes = 0
        #: distinct transactions of the accepted changes (the RPO's "transactions undone")
        self.txns = TxnCounter()
        self.resolved_events = 0
        self.stale_events = 0
        self.initialized_total = 0
        self.region_errors: dict[str, int] = {}

    # -- subscriptions --------------------------------------------------------------------------

    def bind_stream(self, stream_id: int, request_id: int) -> None:
        """Plain-EventFeed stream: resolved ts with request id 0 belong to ``request_id``."""
        self._stream_request[stream_id] = request_id

    def add(self, sub: Subscription) -> Subscription:
        """Track a subscription about to be registered; its matcher starts fresh."""
        key = sub.key
        if key in self._subs:
            raise RegionFatalError(
                sub.region_id,
                f"{sub.describe(self._name(sub.table_id))}: registered twice on one stream",
            )
        sub.matcher = Matcher(
            sub.region_id,
            start_ts=self.target_ts,
            checkpoint_ts=sub.checkpoint_ts,
            span=sub.span,
            table_id=sub.table_id,
        )
        self._subs[key] = sub
        return sub

    def has(self, stream_id: int, request_id: int, region_id: int) -> bool:
        """Whether that ``(stream, request, region)`` is subscribed."""
        return (stream_id, request_id, region_id) in self._subs

    def subscriptions(self) -> list[Subscription]:
        """Live subscriptions (zombies included)."""
        return list(self._subs.values())

    def drop_stream(self, stream_id: int) -> list[Subscription]:
        """Forget every subscription of a broken stream and return them."""
        dropped = [s for k, s in self._subs.items() if k[0] == stream_id]
        for sub in dropped:
            del self._subs[sub.key]
        self._stream_request.pop(stream_id, None)
        return dropped

    def checkpoint_ts(self, table_id: int, span: Span) -> int:
        """``checkpoint_ts`` for (re-)registering ``span`` of ``table_id``."""
        return self.frontier.checkpoint_ts(table_id, span)

    @property
    def regions(self) -> int:
        """Live subscriptions."""
        return len(self._subs)

    @property
    def initialized(self) -> int:
        """Live subscriptions whose initial scan is done."""
        return sum(1 for s in self._subs.values() if s.matcher.initialized)

    def table_resolved_ts(self) -> dict[int, int]:
        """Published frontier of each physical table."""
        return {tid: self.frontier.table(tid).resolved_ts for tid in self.spans}

    def _name(self, table_id: int) -> str:
        return self.table_names.get(table_id, str(table_id))

    # -- messages -------------------------------------------------------------------------------

    def on_message(self, stream_id: int, data: bytes) -> MessageResult:
        """Process one raw ``ChangeDataEvent`` from stream ``stream_id``; say what it asks for."""
        msg = cdcpb_pb2.ChangeDataEvent.FromString(data)
        self.messages += 1
        got = _Collect()
        subs = self._subs
        advanced = False
        for ev in msg.events:
            self.events += 1
            sub = subs.get((stream_id, ev.request_id, ev.region_id))
            if sub is None:
                self.stale_events += 1
                continue
            which = ev.WhichOneof("event")
            if which == "entries":
                if not sub.zombie:
                    self._entries(sub, ev.entries.entries, got)
            elif which == "error":
                self._error(sub, ev, got)
            elif which == "resolved_ts":  # clients older than 4.0.8 only
                advanced |= self._resolve(sub, ev.resolved_ts)
        if msg.HasField("resolved_ts"):
            rts = msg.resolved_ts
            self.resolved_events += 1
            request_id = rts.request_id or self._stream_request.get(stream_id, 0)
            ts = rts.ts
            for region_id in rts.regions:
                sub = subs.get((stream_id, request_id, region_id))
                if sub is not None:
                    advanced |= self._resolve(sub, ts)
        resolved_ts: int | None = None
        ended = False
        if advanced:
            resolved_ts, ended = self._advance(got.outputs)
        return MessageResult(
            outputs=tuple(got.outputs),
            changes=tuple(got.changes),
            resolved_ts=resolved_ts,
            failures=tuple(got.failures),
            deregister=tuple(got.deregister),
            initialized=tuple(got.initialized),
            ended=ended,
        )

    def _entries(
        self,
        sub: Subscription,
        rows: Sequence[cdcpb_pb2.Event.Row],
        got: _Collect,
    ) -> None:
        # One pass per Entries event: the parsed rows go to the matcher as they are (no
        # per-row copy), the kept changes to the batcher in one call.
        matcher = sub.matcher
        was_initialized = matcher.initialized
        self.rows += len(rows)
        try:
            changes = matcher.feed(rows)
        except PrewriteNotMatchError as exc:
            # TiCDC restarts the changefeed; we restart this region from its last resolved ts.
            log.warning("%s: %s; re-registering", sub.describe(self._name(sub.table_id)), exc)
            sub.zombie = True
            sub.pending = Decision(Action.RETRY_SAME, sub.region_id, str(exc))
            got.deregister.append(sub)
            return
        except FeedProtocolError as exc:
            raise FeedProtocolError(f"{exc} ({sub.describe(self._name(sub.table_id))})") from exc
        if not was_initialized and matcher.initialized:
            self.initialized_total += 1
            got.initialized.append(sub)
        if not changes:
            return
        kept = self.row_filter.select(changes)
        if self.done and kept:
            # After END every span's resolved ts is past E, so a change in (T, E] now is one
            # already delivered (a re-registration's scan, a duplicate): END stays the last record.
            self.repeated_after_end += len(kept)
            return
        self.changes += len(kept)
        try:
            # versions of one key arrive together from the scan: one record for each run
            full = self.batcher.add_many(fold_versions(kept))
        except LateChangeError as exc:
            raise LateChangeError(f"{exc} ({sub.describe(self._name(sub.table_id))})") from exc
        self.txns.add(kept)
        got.changes.extend(kept)
        if full:
            got.outputs.extend(full)

    def _error(self, sub: Subscription, ev: cdcpb_pb2.Event, got: _Collect) -> None:
        del self._subs[sub.key]
        err = region_error(ev)
        kind = err.kind.value or "unknown"
        self.region_errors[kind] = self.region_errors.get(kind, 0) + 1
        if sub.zombie and sub.pending is not None:
            # The answer to our deregister (region_not_found) or any end: retry as decided.
            got.failures.append(Failure(sub, sub.pending))
            return
        decision = classify(err, region=sub.region, current_store_id=sub.store_id)
        if decision.action is Action.FATAL:
            raise RegionFatalError(
                sub.region_id, f"{decision.reason} [{sub.describe(self._name(sub.table_id))}]"
            )
        got.failures.append(Failure(sub, decision))

    def _resolve(self, sub: Subscription, ts: int) -> bool:
        if sub.zombie or not sub.matcher.resolve(ts):
            return False
        self.frontier.update(sub.table_id, sub.span, ts)
        return True

    def _advance(self, outputs: list[Output]) -> tuple[int | None, bool]:
        """Publish the frontier: watermarks (and END once past E) go to ``outputs``.

        Returns the job's new resolved ts (``None`` if it did not rise) and whether END went out.
        """
        ts = self.frontier.advance()
        if ts is not None and not self.done:
            outputs.extend(self.batcher.watermark(min(ts, self.end_ts)))
            self.txns.settle(self.batcher.watermark_ts)
        if not self.done and self.frontier.passed(self.end_ts):
            # every change <= E has been counted: the count is final
            outputs.extend(self.batcher.end(self.end_ts, self.txns.count))
            self.done = True
            log.info("feed: every table's frontier passed E=%d", self.end_ts)
            return ts, True
        return ts, False
