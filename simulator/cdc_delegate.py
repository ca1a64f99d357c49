"""What one EventFeed stream of the fake TiKV sends: registration, scan, live rows, resolved ts.

Pure: stdlib, the generated ``cdcpb``/``errorpb``/``metapb`` messages and the simulator's pure
modules. The gRPC servicer (:mod:`simulator.tikv_server`) is a thin shell that feeds requests,
MVCC changes, region changes and resolved-ts ticks into a :class:`Connection` and writes back
what it returns. Behaviour follows TiKV ``components/cdc`` as summarised in
facts/eventfeed.md §3:

* feature gates from the FIRST request's ``ticdc_version`` (§3.1);
* register checks in TiKV's order, one error event then silence (§3.2, :meth:`Connection.
  register`); injected errors (:class:`ErrorKind`) answer at check 3, TiKV's busy check;
* incremental scan: per key ascending, the lock as PREWRITE, then versions with
  ``commit_ts > checkpoint_ts`` newest first as COMMITTED with old values, Entries of
  ≤ 32 KiB of key+value+old_value, INITIALIZED appended to the last one (§3.3);
* live rows with §3.5's shapes: COMMIT without old value and without values > 255 bytes (§3.4);
* ``txn_source``: bits 8-63 always dropped, bits 0-7 dropped when ``filter_loop`` (§3.12);
* resolved ts only after INITIALIZED, never past an open lock in range, monotone, batched in
  min-heap groups of 8, 32, 128, … in their own ChangeDataEvent; per-region deprecated
  ``Event.resolved_ts`` for clients older than 4.0.8 (§3.7);
* deregister answers ``region_not_found`` (§3.8); half-close drops all silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from core.codec.bytescodec import decode_bytes
from core.codec.errors import CorruptValueError
from proto import cdcpb_pb2, errorpb_pb2
from simulator.mvcc import Change, ChangeKind, MvccStore, Op
from simulator.regions import Region, RegionChange, RegionChangeKind, RegionTable

__all__ = [
    "ENTRIES_MAX_BYTES",
    "MULTIPLEXING",
    "RESPONSE_MAX_BYTES",
    "SHORT_VALUE_MAX_LEN",
    "Connection",
    "ErrorKind",
    "FeatureGate",
    "Scan",
    "Subscription",
    "build_error",
    "parse_version",
    "txn_source_filtered",
]

SHORT_VALUE_MAX_LEN = 255  # tikv txn_types SHORT_VALUE_MAX_LEN: longer values live in default CF
ENTRIES_MAX_BYTES = 32 * 1024  # tikv cdc channel.rs: one Entries event
RESPONSE_MAX_BYTES = 6 * 1024 * 1024  # tikv cdc channel.rs: one ChangeDataEvent
ROW_OVERHEAD = 32  # rough per-row framing bytes, for packing only
MULTIPLEXING = "stream-multiplexing"
KNOWN_FEATURES = frozenset({MULTIPLEXING})

Row = cdcpb_pb2.Event.Row
LogType = cdcpb_pb2.Event


class ErrorKind(Enum):
    """Every ``cdcpb.Error`` field a fake TiKV can answer with."""

    NOT_LEADER = "not_leader"
    REGION_NOT_FOUND = "region_not_found"
    EPOCH_NOT_MATCH = "epoch_not_match"
    DUPLICATE_REQUEST = "duplicate_request"
    COMPATIBILITY = "compatibility"
    CLUSTER_ID_MISMATCH = "cluster_id_mismatch"
    SERVER_IS_BUSY = "server_is_busy"
    CONGESTED = "congested"


_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def parse_version(text: str) -> tuple[int, int, int, int]:
    """Semver as a sortable tuple; a pre-release sorts below its release; junk is 0.0.0.

    TiKV parses with Rust ``semver`` (no leading ``v``); TiCDC strips the ``v``, so it is
    accepted here too.
    """
    m = _SEMVER.match(text.strip())
    if m is None:
        return (0, 0, 0, 0)
    return (int(m[1]), int(m[2]), int(m[3]), 0 if m[4] else 1)


@dataclass(frozen=True, slots=True)
class FeatureGate:
    """Per-connection features (tikv ``service.rs`` ``FeatureGate``)."""

    batch_resolved_ts: bool
    validate_cluster_id: bool
    multiplexing: bool

    @classmethod
    def from_version(cls, ticdc_version: str, *, multiplexing: bool = False) -> FeatureGate:
        """Gates of a client announcing ``ticdc_version`` (≥ 4.0.8 batched ts, ≥ 5.3.0 id)."""
        v = parse_version(ticdc_version)
        return cls(v >= (4, 0, 8, 1), v >= (5, 3, 0, 1), multiplexing)


def txn_source_filtered(txn_source: int, filter_loop: bool) -> bool:
    """Whether TiKV drops a row of this source (tikv ``txn_source.rs``)."""
    if txn_source >> 8:
        return True  # lossy DDL reorg (8-15), Lightning (16), reserved bits
    return filter_loop and (txn_source & 0xFF) != 0


def build_error(
    kind: ErrorKind,
    region_id: int,
    request_id: int,
    *,
    regions: Sequence[Region] = (),
    leader: Region | None = None,
    cluster_id: int = 0,
    request_cluster_id: int = 0,
    reason: str = "",
) -> cdcpb_pb2.Event:
    """One error event, shaped as TiKV's ``errors.rs`` builds it."""
    err = cdcpb_pb2.Error()
    if kind is ErrorKind.NOT_LEADER:
        err.not_leader.region_id = region_id
        if leader is not None:
            err.not_leader.leader.CopyFrom(leader.leader_pb())
    elif kind is ErrorKind.REGION_NOT_FOUND:
        err.region_not_found.region_id = region_id
    elif kind is ErrorKind.EPOCH_NOT_MATCH:
        err.epoch_not_match.SetInParent()
        err.epoch_not_match.current_regions.extend(r.to_pb() for r in regions)
    elif kind is ErrorKind.DUPLICATE_REQUEST:
        err.duplicate_request.region_id = region_id
    elif kind is ErrorKind.COMPATIBILITY:
        err.compatibility.required_version = "6.2.0"
    elif kind is ErrorKind.CLUSTER_ID_MISMATCH:
        err.cluster_id_mismatch.current = cluster_id
        err.cluster_id_mismatch.request = request_cluster_id
    elif kind is ErrorKind.SERVER_IS_BUSY:
        err.server_is_busy.CopyFrom(
            errorpb_pb2.ServerIsBusy(reason=reason or "too many pending incremental scans")
        )
    else:
        err.congested.region_id = region_id
    return cdcpb_pb2.Event(region_id=region_id, request_id=request_id, error=err)


def _raw_bound(enc: bytes) -> bytes | None:
    """Raw form of an encoded request bound, ``None`` if it does not decode."""
    if not enc:
        return b""
    try:
        raw, end = decode_bytes(enc)
    except CorruptValueError:
        return None
    return raw if end == len(enc) else None


class Subscription:
    """One registered (request_id, region_id) on one connection.

    ``raw_start``/``raw_end`` are the RAW observed range: the request's range intersected with
    the region (b"" end = +∞). ``active`` goes False on error/deregister so a scan being sent
    stops; ``initialized`` goes True once the INITIALIZED row has been handed to the sender.
    """

    __slots__ = (
        "active",
        "checkpoint_ts",
        "filter_loop",
        "initialized",
        "raw_end",
        "raw_start",
        "region",
        "request_id",
        "resolved_ts",
    )

    def __init__(
        self,
        request_id: int,
        region: Region,
        raw_start: bytes,
        raw_end: bytes,
        checkpoint_ts: int,
        filter_loop: bool,
    ) -> None:
        self.request_id = request_id
        self.region = region
        self.raw_start = raw_start
        self.raw_end = raw_end
        self.checkpoint_ts = checkpoint_ts
        self.filter_loop = filter_loop
        self.active = True
        self.initialized = False
        self.resolved_ts = 0

    @property
    def region_id(self) -> int:
        """The subscribed region's id."""
        return self.region.id

    def contains(self, key: bytes) -> bool:
        """Whether the RAW key is in the observed range."""
        return self.raw_start <= key and (not self.raw_end or key < self.raw_end)


@dataclass(frozen=True, slots=True)
class Scan:
    """A subscription's incremental scan, ready to send; the last message holds INITIALIZED."""

    sub: Subscription
    messages: list[cdcpb_pb2.ChangeDataEvent]
    rows: int


class Connection:
    """State of one EventFeed/EventFeedV2 stream on one store; all methods return what to send.

    Not thread-safe; called from the loop thread that also runs the MVCC writes, so a
    registration's scan snapshot and the start of its live rows are one atomic step.
    """

    def __init__(
        self,
        store_id: int,
        cluster_id: int,
        mvcc: MvccStore,
        regions: RegionTable,
        *,
        multiplexing: bool = False,
        response_max_bytes: int = RESPONSE_MAX_BYTES,
    ) -> None:
        self.store_id = store_id
        self.cluster_id = cluster_id
        self.mvcc = mvcc
        self.regions = regions
        self.multiplexing = multiplexing
        self.response_max_bytes = response_max_bytes
        self.features: FeatureGate | None = None
        self.subs: dict[tuple[int, int], Subscription] = {}

    # -- requests -----------------------------------------------------------------------------

    def gate(self, request: cdcpb_pb2.ChangeDataRequest) -> FeatureGate:
        """Fix the feature gates from the first request (later headers do not change them)."""
        if self.features is None:
            self.features = FeatureGate.from_version(
                request.header.ticdc_version, multiplexing=self.multiplexing
            )
        return self.features

    def register(
        self,
        request: cdcpb_pb2.ChangeDataRequest,
        injected: ErrorKind | None = None,
    ) -> cdcpb_pb2.ChangeDataEvent | Scan:
        """Run TiKV's register checks in order; an error message, or the scan to send."""
        gate = self.gate(request)
        rid, region_id = request.request_id, request.region_id

        def fail(kind: ErrorKind, **kw: Any) -> cdcpb_pb2.ChangeDataEvent:
            event = build_error(kind, region_id, rid, **kw)
            return cdcpb_pb2.ChangeDataEvent(events=[event])

        if gate.validate_cluster_id and request.header.cluster_id != self.cluster_id:
            return fail(
                ErrorKind.CLUSTER_ID_MISMATCH,
                cluster_id=self.cluster_id,
                request_cluster_id=request.header.cluster_id,
            )
        if request.kv_api != cdcpb_pb2.ChangeDataRequest.TiDB:
            return fail(ErrorKind.COMPATIBILITY)
        region = self.regions.by_id(region_id)
        if injected is not None:
            return fail(
                injected,
                regions=[region] if region else [],
                leader=region,
                reason="injected server is busy",
            )
        if region is None or region.peer_on(self.store_id) is None:
            return fail(ErrorKind.REGION_NOT_FOUND)
        if (rid, region_id) in self.subs:
            return fail(ErrorKind.DUPLICATE_REQUEST)
        if request.region_epoch.version != region.version:
            return fail(ErrorKind.EPOCH_NOT_MATCH, regions=self._current_regions(region))
        if region.leader_store != self.store_id:
            return fail(ErrorKind.NOT_LEADER, leader=region)

        lo, hi = _raw_bound(request.start_key), _raw_bound(request.end_key)
        if lo is None or hi is None:
            lo, hi = region.raw_start, region.raw_end  # TiKV: undecodable → whole region
        else:
            lo = max(lo, region.raw_start)
            hi = _min_end(hi, region.raw_end)
        sub = Subscription(rid, region, lo, hi, request.checkpoint_ts, request.filter_loop)
        self.subs[(rid, region_id)] = sub
        return self.scan(sub)

    def _current_regions(self, region: Region) -> list[Region]:
        """``EpochNotMatch.current_regions`` of a refused registration, as raftstore fills it.

        TiKV's ``check_region_epoch`` names the region as the store has it now, and the peer
        adds its sibling (``find_sibling_region``: with ``right-derive-when-split`` the region
        that ends where this one starts, the left half of the last split) when this store holds
        a peer of it, so a client can register both halves without asking PD.
        """
        out = [region]
        left = self.regions.left_of(region)
        if left is not None and left.peer_on(self.store_id) is not None:
            out.append(left)
        return out

    def scan(self, sub: Subscription) -> Scan:
        """The incremental scan of ``sub`` (snapshot of now), INITIALIZED included."""
        events: list[cdcpb_pb2.Event] = []
        batch: list[cdcpb_pb2.Event.Row] = []
        size = 0
        total = 0
        for row, row_size in _scan_rows(self.mvcc, sub):
            if batch and size + row_size > ENTRIES_MAX_BYTES:
                events.append(_entries_event(sub, batch))
                batch, size = [], 0
            batch.append(row)
            size += row_size
            total += 1
        batch.append(Row(type=LogType.INITIALIZED))
        events.append(_entries_event(sub, batch))
        return Scan(sub, self._pack(events), total)

    def mark_initialized(self, sub: Subscription) -> None:
        """The sender queued the INITIALIZED row: resolved ts may flow from now on."""
        sub.initialized = True

    def deregister(self, request: cdcpb_pb2.ChangeDataRequest) -> list[cdcpb_pb2.ChangeDataEvent]:
        """Remove one subscription, or all of a request_id when region_id is 0 (§3.8)."""
        rid, region_id = request.request_id, request.region_id
        keys = [k for k in self.subs if k[0] == rid and (region_id == 0 or k[1] == region_id)]
        return self._end(keys, lambda sub: (ErrorKind.REGION_NOT_FOUND, {}))

    def close(self) -> None:
        """Client half-closed or the stream broke: drop every subscription silently."""
        for sub in self.subs.values():
            sub.active = False
        self.subs.clear()

    # -- live ---------------------------------------------------------------------------------

    def on_changes(self, changes: Sequence[Change]) -> list[cdcpb_pb2.ChangeDataEvent]:
        """Live rows of one write batch: one Event per subscription it touches (§3.4)."""
        if not self.subs:
            return []
        events: list[cdcpb_pb2.Event] = []
        for sub in self.subs.values():
            rows = [
                _live_row(c)
                for c in changes
                if sub.contains(c.key) and not _dropped(c, sub.filter_loop)
            ]
            if rows:
                events.append(_entries_event(sub, rows))
        return self._pack(events)

    def on_region_change(self, change: RegionChange) -> list[cdcpb_pb2.ChangeDataEvent]:
        """End subscriptions of a region that split or lost its leader here (§3.4)."""
        keys = [k for k, s in self.subs.items() if s.region_id == change.old.id]
        if change.kind is RegionChangeKind.SPLIT:
            return self._end(keys, lambda s: (ErrorKind.EPOCH_NOT_MATCH, {"regions": change.new}))
        new = change.new[0]
        if new.leader_store == self.store_id:
            return []
        return self._end(keys, lambda s: (ErrorKind.NOT_LEADER, {"leader": new}))

    def fail_region(
        self, region_id: int, kind: ErrorKind, *, reason: str = ""
    ) -> list[cdcpb_pb2.ChangeDataEvent]:
        """End every subscription of ``region_id`` with ``kind`` (fault injection)."""
        keys = [k for k, s in self.subs.items() if s.region_id == region_id]

        def describe(sub: Subscription) -> tuple[ErrorKind, dict[str, Any]]:
            current = self.regions.by_id(region_id)
            return kind, {
                "regions": [current] if current else [],
                "leader": current,
                "cluster_id": self.cluster_id,
                "reason": reason,
            }

        return self._end(keys, describe)

    # -- resolved ts --------------------------------------------------------------------------

    def resolved_ts(
        self, min_ts: int, frozen: Container[int] = ()
    ) -> list[cdcpb_pb2.ChangeDataEvent]:
        """One tick (§3.7): advance every initialized subscription to ``min(min_ts, locks)``.

        Regions in ``frozen`` keep their last ts (a stalled resolver); every ready subscription
        is reported even when its ts did not move.
        """
        ready = [s for s in self.subs.values() if s.initialized]
        if not ready:
            return []
        lock_keys = sorted((lk.key, lk.start_ts) for lk in self.mvcc.locks())
        for sub in ready:
            if sub.region_id in frozen:
                continue
            bound = min_ts
            for key, start_ts in lock_keys:
                if sub.contains(key) and start_ts < bound:
                    bound = start_ts
            sub.resolved_ts = max(sub.resolved_ts, bound)
        gate = self.features or FeatureGate(True, True, self.multiplexing)
        if not gate.batch_resolved_ts:
            events = [
                cdcpb_pb2.Event(region_id=s.region_id, request_id=s.request_id,
                                resolved_ts=s.resolved_ts)
                for s in ready
            ]  # fmt: skip
            return [cdcpb_pb2.ChangeDataEvent(events=events)]
        groups: dict[int, list[Subscription]] = {}
        for sub in ready:
            groups.setdefault(sub.request_id if gate.multiplexing else 0, []).append(sub)
        out: list[cdcpb_pb2.ChangeDataEvent] = []
        for request_id, subs in groups.items():
            subs.sort(key=lambda s: s.resolved_ts)
            for chunk in _heap_groups(subs):
                out.append(
                    cdcpb_pb2.ChangeDataEvent(
                        resolved_ts=cdcpb_pb2.ResolvedTs(
                            regions=[s.region_id for s in chunk],
                            ts=chunk[0].resolved_ts,
                            request_id=request_id,
                        )
                    )
                )
        return out

    # -- internals ----------------------------------------------------------------------------

    def _end(
        self,
        keys: Iterable[tuple[int, int]],
        describe: Callable[[Subscription], tuple[ErrorKind, dict[str, Any]]],
    ) -> list[cdcpb_pb2.ChangeDataEvent]:
        events: list[cdcpb_pb2.Event] = []
        for key in keys:
            sub = self.subs.pop(key)
            sub.active = False
            kind, kw = describe(sub)
            events.append(build_error(kind, sub.region_id, sub.request_id, **kw))
        return [cdcpb_pb2.ChangeDataEvent(events=events)] if events else []

    def _pack(self, events: list[cdcpb_pb2.Event]) -> list[cdcpb_pb2.ChangeDataEvent]:
        out: list[cdcpb_pb2.ChangeDataEvent] = []
        current: list[cdcpb_pb2.Event] = []
        size = 0
        for ev in events:
            n = ev.ByteSize()
            if current and size + n > self.response_max_bytes:
                out.append(cdcpb_pb2.ChangeDataEvent(events=current))
                current, size = [], 0
            current.append(ev)
            size += n
        if current:
            out.append(cdcpb_pb2.ChangeDataEvent(events=current))
        return out


def _min_end(a: bytes, b: bytes) -> bytes:
    if not a:
        return b
    if not b:
        return a
    return min(a, b)


def _heap_groups(subs: list[Subscription]) -> Iterator[list[Subscription]]:
    """TiKV's batching: the 8 slowest regions, then the next 32, 128, … (×4)."""
    i, n = 0, 8
    while i < len(subs):
        yield subs[i : i + n]
        i += n
        n *= 4


def _dropped(change: Change, filter_loop: bool) -> bool:
    if change.kind is ChangeKind.ROLLBACK:
        return False  # rollback records carry no source; TiCDC drops an unmatched one
    return txn_source_filtered(change.txn_source, filter_loop)


def _entries_event(sub: Subscription, rows: list[cdcpb_pb2.Event.Row]) -> cdcpb_pb2.Event:
    return cdcpb_pb2.Event(
        region_id=sub.region_id,
        request_id=sub.request_id,
        entries=cdcpb_pb2.Event.Entries(entries=rows),
    )


def _live_row(c: Change) -> cdcpb_pb2.Event.Row:
    op = int(c.op) if c.op is not None else 0
    if c.kind is ChangeKind.PREWRITE:
        return Row(
            start_ts=c.start_ts, type=LogType.PREWRITE, op_type=op, key=c.key,  # type: ignore[arg-type]
            value=c.value, old_value=c.old_value, txn_source=c.txn_source,
        )  # fmt: skip
    if c.kind is ChangeKind.COMMIT:
        value = c.value if len(c.value) <= SHORT_VALUE_MAX_LEN else b""
        return Row(
            start_ts=c.start_ts, commit_ts=c.commit_ts, type=LogType.COMMIT,
            op_type=op, key=c.key, value=value, txn_source=c.txn_source,  # type: ignore[arg-type]
        )  # fmt: skip
    if c.kind is ChangeKind.ROLLBACK:
        return Row(start_ts=c.start_ts, type=LogType.ROLLBACK, key=c.key)
    return Row(
        start_ts=c.start_ts, commit_ts=c.commit_ts, type=LogType.COMMITTED, op_type=op,  # type: ignore[arg-type]
        key=c.key, value=c.value, old_value=c.old_value, txn_source=c.txn_source,
    )  # fmt: skip


def _scan_rows(mvcc: MvccStore, sub: Subscription) -> Iterator[tuple[cdcpb_pb2.Event.Row, int]]:
    """Rows of the incremental scan with their packing size (§3.3)."""
    checkpoint, filter_loop = sub.checkpoint_ts, sub.filter_loop
    committed, put = LogType.COMMITTED, Op.PUT
    for key in mvcc.keys_in(sub.raw_start, sub.raw_end):
        lock = mvcc.lock(key)
        if lock is not None and not txn_source_filtered(lock.txn_source, filter_loop):
            yield (
                Row(
                    start_ts=lock.start_ts, type=LogType.PREWRITE, op_type=int(lock.op),  # type: ignore[arg-type]
                    key=key, value=lock.value, old_value=lock.old_value,
                    txn_source=lock.txn_source,
                ),
                len(key) + len(lock.value) + len(lock.old_value) + ROW_OVERHEAD,
            )  # fmt: skip
        versions = mvcc.versions(key)
        for i in range(len(versions) - 1, -1, -1):
            v = versions[i]
            if v.commit_ts <= checkpoint:
                break
            if txn_source_filtered(v.txn_source, filter_loop):
                continue
            prev = versions[i - 1] if i else None
            old = prev.value if prev is not None and prev.op is put else b""
            yield (
                Row(
                    start_ts=v.start_ts, commit_ts=v.commit_ts, type=committed,
                    op_type=int(v.op), key=key, value=v.value, old_value=old,  # type: ignore[arg-type]
                    txn_source=v.txn_source,
                ),
                len(key) + len(v.value) + len(old) + ROW_OVERHEAD,
            )  # fmt: skip
