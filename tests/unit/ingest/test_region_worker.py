"""RegionWorker: one :class:`MessageResult` per ChangeDataEvent, nothing left to poll.

The committed recording (``tests/data/ingest/small.rec``) holds EventFeed traffic, not Kafka
records: its ``M`` frames are the raw ``cdcpb.ChangeDataEvent`` bytes TiKV sent, so it is
replayed straight into :meth:`RegionWorker.on_message` with no broker, and the changes the
results carry are checked against ``small.expected.json``, the digest the Kafka replay test
(tests/integration/test_ingest_e2e.py) checks the topic against. The other tests build
messages by hand, one per result kind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ingest.batcher import ChangeBatch, End, Output, Watermark
from ingest.fold import versions_of
from ingest.keyspace import encode_bytes, encode_int, record_prefix, record_span
from ingest.model import Change, FoldedChange, OpType, RegionEpoch, RegionInfo, RowChange, Span
from ingest.partitioner import Partitioner
from ingest.recording import RecordingReader, Registration
from ingest.region_errors import Action, RegionFatalError
from ingest.region_worker import Failure, MessageResult, RegionWorker, Subscription
from proto import cdcpb_pb2

DATA = Path(__file__).resolve().parents[2] / "data" / "ingest"

T = 100
E = 200
TABLE = 5
PARTITIONS = 2
Row = cdcpb_pb2.Event.Row


def key(handle: int) -> bytes:
    return record_prefix(TABLE) + encode_int(handle)


def worker(partitions: int = PARTITIONS) -> RegionWorker:
    return RegionWorker(
        target_ts=T,
        end_ts=E,
        spans={TABLE: record_span(TABLE)},
        partitioner=Partitioner(partitions),
    )


def subscribe(
    core: RegionWorker, region_id: int = 1, span: Span | None = None, store_id: int = 1
) -> Subscription:
    span = span or record_span(TABLE)
    region = RegionInfo(region_id, span, RegionEpoch(1, 1), store_id, (store_id, store_id + 1))
    return core.add(
        Subscription(
            stream_id=1,
            request_id=region_id,
            table_id=TABLE,
            region=region,
            span=span,
            checkpoint_ts=T,
            store_id=store_id,
        )
    )


def entries(sub: Subscription, *rows: Row) -> cdcpb_pb2.Event:
    return cdcpb_pb2.Event(
        region_id=sub.region_id,
        request_id=sub.request_id,
        entries=cdcpb_pb2.Event.Entries(entries=list(rows)),
    )


def error(sub: Subscription, err: cdcpb_pb2.Error) -> cdcpb_pb2.Event:
    return cdcpb_pb2.Event(region_id=sub.region_id, request_id=sub.request_id, error=err)


def message(
    *events: cdcpb_pb2.Event, resolved: tuple[int, Sequence[Subscription]] | None = None
) -> bytes:
    msg = cdcpb_pb2.ChangeDataEvent(events=list(events))
    if resolved is not None:
        ts, subs = resolved
        # EventFeedV2: one ResolvedTs per request id
        (request_id,) = {s.request_id for s in subs}
        msg.resolved_ts.CopyFrom(
            cdcpb_pb2.ResolvedTs(regions=[s.region_id for s in subs], ts=ts, request_id=request_id)
        )
    return msg.SerializeToString()


def initialized() -> Row:
    return Row(type=cdcpb_pb2.Event.INITIALIZED)


def prewrite(handle: int, start: int, value: bytes, old: bytes = b"") -> Row:
    return Row(
        start_ts=start,
        type=cdcpb_pb2.Event.PREWRITE,
        op_type=Row.PUT,
        key=key(handle),
        value=value,
        old_value=old,
    )


def commit(handle: int, start: int, commit_ts: int) -> Row:
    return Row(
        start_ts=start,
        commit_ts=commit_ts,
        type=cdcpb_pb2.Event.COMMIT,
        op_type=Row.PUT,
        key=key(handle),
    )


def rollback(handle: int, start: int) -> Row:
    return Row(start_ts=start, type=cdcpb_pb2.Event.ROLLBACK, key=key(handle))


def committed(handle: int, start: int, commit_ts: int, value: bytes) -> Row:
    return Row(
        start_ts=start,
        commit_ts=commit_ts,
        type=cdcpb_pb2.Event.COMMITTED,
        op_type=Row.PUT,
        key=key(handle),
        value=value,
    )


def change(handle: int, start: int, commit_ts: int, value: bytes, old: bytes = b"") -> RowChange:
    return RowChange(1, TABLE, key(handle), start, commit_ts, OpType.PUT, value, old)


def watermarks(ts: int, partitions: int = PARTITIONS) -> list[Output]:
    return [Watermark(p, ts) for p in range(partitions)]


def ready(core: RegionWorker, sub: Subscription) -> None:
    """Finish the initial scan of ``sub`` (nothing scanned)."""
    assert core.on_message(1, message(entries(sub, initialized()))).initialized == (sub,)


# -- one result kind at a time ----------------------------------------------------------------


def test_initialized_is_reported_once() -> None:
    core = worker()
    sub = subscribe(core)
    first = core.on_message(1, message(entries(sub, committed(1, 110, 120, b"a"), initialized())))
    assert first == MessageResult(changes=(change(1, 110, 120, b"a"),), initialized=(sub,))
    assert core.on_message(1, message(entries(sub, committed(2, 130, 140, b"b")))).initialized == ()
    assert core.initialized == 1 and core.initialized_total == 1


def test_resolved_ts_before_initialized_is_no_advance() -> None:
    core = worker()
    sub = subscribe(core)
    assert core.on_message(1, message(resolved=(150, [sub]))) == MessageResult()


def test_resolved_ts_held_by_a_lock() -> None:
    """TiKV holds the region's resolved ts below an open lock; the change follows its commit."""
    core = worker()
    sub = subscribe(core)
    ready(core, sub)
    lock = core.on_message(1, message(entries(sub, prewrite(1, 150, b"new", b"old"))))
    assert lock == MessageResult()
    held = core.on_message(1, message(resolved=(149, [sub])))
    assert held == MessageResult(outputs=tuple(watermarks(149)), resolved_ts=149)
    done = core.on_message(1, message(entries(sub, commit(1, 150, 160))))
    # the change is accepted but its batch stays open until a watermark passes it
    assert done == MessageResult(changes=(change(1, 150, 160, b"new", b"old"),))
    passed = core.on_message(1, message(resolved=(170, [sub])))
    assert passed.resolved_ts == 170 and passed.changes == ()
    (batch, *marks) = passed.outputs
    assert isinstance(batch, ChangeBatch)
    assert batch.partition == Partitioner(PARTITIONS).for_table(TABLE)
    assert batch.changes == done.changes
    assert marks == watermarks(170)


def test_frontier_is_held_by_the_slowest_region() -> None:
    rec = record_span(TABLE)
    mid = encode_bytes(key(50))
    core = worker()
    left = subscribe(core, 1, Span(rec.start, mid))
    right = subscribe(core, 2, Span(mid, rec.end))
    ready(core, left)
    ready(core, right)
    assert core.on_message(1, message(resolved=(180, [left]))) == MessageResult()
    assert core.on_message(1, message(resolved=(150, [right]))).resolved_ts == 150
    assert core.on_message(1, message(resolved=(190, [right]))).resolved_ts == 180


def test_prewrite_commit_pair_in_one_message() -> None:
    core = worker()
    sub = subscribe(core)
    ready(core, sub)
    got = core.on_message(
        1,
        message(
            entries(sub, prewrite(7, 120, b"v", b"u"), commit(7, 120, 125)),
            resolved=(130, [sub]),
        ),
    )
    assert got.changes == (change(7, 120, 125, b"v", b"u"),)
    assert got.resolved_ts == 130 and not got.failures and not got.deregister
    batches = [o for o in got.outputs if isinstance(o, ChangeBatch)]
    assert [b.changes for b in batches] == [got.changes]
    assert got.outputs[len(batches) :] == tuple(watermarks(130))


def test_rollback_yields_no_change() -> None:
    core = worker()
    sub = subscribe(core)
    ready(core, sub)
    got = core.on_message(
        1,
        message(entries(sub, prewrite(3, 120, b"v"), rollback(3, 120)), resolved=(130, [sub])),
    )
    assert got == MessageResult(outputs=tuple(watermarks(130)), resolved_ts=130)
    assert sub.matcher.pending_prewrites == 0


def test_region_error_ends_the_subscription_with_a_decision() -> None:
    core = worker()
    sub = subscribe(core)
    got = core.on_message(1, message(error(sub, cdcpb_pb2.Error(epoch_not_match={}))))
    assert got.failures == (Failure(sub, got.failures[0].decision),)
    assert got.failures[0].decision.action is Action.RESPLIT_VIA_PD
    assert (got.outputs, got.changes, got.deregister) == ((), (), ())
    assert not core.has(1, sub.request_id, sub.region_id)
    assert core.region_errors == {"epoch_not_match": 1}
    # events of the ended subscription are stale from now on
    assert core.on_message(1, message(entries(sub, initialized()))) == MessageResult()
    assert core.stale_events == 1


def test_epoch_not_match_with_the_split_halves_registers_them_where_tikv_answered() -> None:
    """TiKV's ``current_regions`` (newer epochs) become the retry, on the answering store."""
    core = worker()
    span = record_span(TABLE)
    sub = subscribe(core, region_id=7, span=span, store_id=2)
    mid = encode_bytes(key(50))
    err = cdcpb_pb2.Error()
    for rid, start, end in ((9, span.start, mid), (7, mid, span.end)):
        r = err.epoch_not_match.current_regions.add(id=rid, start_key=start, end_key=end)
        r.region_epoch.conf_ver, r.region_epoch.version = 1, 2
        r.peers.add(id=rid * 10 + 1, store_id=2)
        r.peers.add(id=rid * 10 + 2, store_id=3)
    (failure,) = core.on_message(1, message(error(sub, err))).failures
    d = failure.decision
    assert (d.action, d.store_id) == (Action.REGISTER_CURRENT, 2)
    assert [(r.region_id, r.span, r.epoch, r.leader_store_id) for r in d.regions] == [
        (9, Span(span.start, mid), RegionEpoch(1, 2), 2),
        (7, Span(mid, span.end), RegionEpoch(1, 2), 2),
    ]


def test_epoch_not_match_naming_an_older_region_goes_to_pd() -> None:
    core = worker()
    sub = subscribe(core, region_id=7, store_id=2)
    err = cdcpb_pb2.Error()
    r = err.epoch_not_match.current_regions.add(id=7, start_key=sub.span.start)
    r.region_epoch.conf_ver, r.region_epoch.version = 1, 0  # behind ours (1, 1)
    r.peers.add(id=71, store_id=2)
    (failure,) = core.on_message(1, message(error(sub, err))).failures
    assert failure.decision.action is Action.RESPLIT_VIA_PD


def test_not_leader_names_the_new_store() -> None:
    core = worker()
    sub = subscribe(core)
    err = cdcpb_pb2.Error()
    err.not_leader.leader.store_id = 3
    (failure,) = core.on_message(1, message(error(sub, err))).failures
    assert failure.decision.action is Action.UPDATE_LEADER_AND_RETRY
    assert failure.decision.store_id == 3


def test_fatal_region_error_raises() -> None:
    core = worker()
    sub = subscribe(core)
    with pytest.raises(RegionFatalError, match="cluster_id_mismatch"):
        core.on_message(1, message(error(sub, cdcpb_pb2.Error(cluster_id_mismatch={}))))


def test_prewrite_mismatch_asks_for_a_deregister_then_a_retry() -> None:
    core = worker()
    sub = subscribe(core)
    ready(core, sub)
    got = core.on_message(1, message(entries(sub, commit(1, 120, 125))))
    assert got == MessageResult(deregister=(sub,))
    assert sub.zombie
    # the zombie's entries and resolved ts are ignored until TiKV answers the deregister
    ignored = core.on_message(1, message(entries(sub, committed(2, 130, 135, b"x"))))
    assert ignored == MessageResult()
    assert core.on_message(1, message(resolved=(140, [sub]))) == MessageResult()
    answer = core.on_message(1, message(error(sub, cdcpb_pb2.Error(region_not_found={}))))
    (failure,) = answer.failures
    assert failure.sub is sub and failure.decision.action is Action.RETRY_SAME
    assert "prewrite not match" in failure.decision.reason and answer.deregister == ()


def test_end_goes_out_once() -> None:
    core = worker()
    sub = subscribe(core)
    ready(core, sub)
    core.on_message(1, message(entries(sub, committed(1, 150, 180, b"in"))))
    got = core.on_message(
        1, message(entries(sub, committed(2, 205, 210, b"after E")), resolved=(220, [sub]))
    )
    assert got.ended and core.done and got.resolved_ts == 220
    assert got.changes == ()  # commit_ts 210 > E
    kinds = [type(o) for o in got.outputs]
    assert kinds == [ChangeBatch, *[Watermark] * PARTITIONS, *[End] * PARTITIONS]
    # one transaction in (T, E] (start 150): every END carries the job-wide count
    assert got.outputs[PARTITIONS + 1 :] == tuple(End(p, E, 1) for p in range(PARTITIONS))
    marks = got.outputs[1 : PARTITIONS + 1]
    assert marks == tuple(watermarks(E))  # capped at E
    later = core.on_message(1, message(resolved=(230, [sub])))
    assert later == MessageResult(resolved_ts=230)


def test_unknown_subscription_is_stale() -> None:
    core = worker()
    sub = subscribe(core)
    other = cdcpb_pb2.Event(region_id=9, request_id=9, entries=cdcpb_pb2.Event.Entries())
    assert core.on_message(1, message(other)) == MessageResult()
    assert core.on_message(2, message(entries(sub, initialized()))) == MessageResult()
    assert core.stale_events == 2 and core.messages == 2


# -- the committed recording ------------------------------------------------------------------


def change_tuple(c: RowChange) -> tuple[bytes, int, int, int, bytes, bytes]:
    """The fields the recording's digest covers, as the topic dump spells them."""
    return (c.key, c.start_ts, c.commit_ts, int(c.op_type), c.value, c.old_value)


def key_ends(changes: Iterable[Change]) -> dict[bytes, tuple[object, ...]]:
    """Per key what the undo keeps: the earliest change (old value) and the latest (value)."""
    ends: dict[bytes, tuple[object, ...]] = {}
    for c in changes:
        last = (
            (c.last_commit_ts, c.last_start_ts, int(c.last_op_type))
            if isinstance(c, FoldedChange)
            else (c.commit_ts, c.start_ts, int(c.op_type))
        )
        first = (c.commit_ts, c.start_ts, int(c.op_type), c.old_value)
        mine = (first, (*last, c.value))
        seen = ends.get(c.key)
        ends[c.key] = mine if seen is None else (min(seen[0], first), max(seen[1], mine[1]))
    return ends


def digest(changes: Iterable[RowChange]) -> str:
    """``small.expected.json``'s ``changes_digest`` (same recipe as test_ingest_e2e.digest)."""
    h = hashlib.sha256()
    for c in sorted({change_tuple(c) for c in changes}):
        h.update(repr(c).encode())
    return h.hexdigest()


def recording_worker(reader: RecordingReader) -> RegionWorker:
    h = reader.header
    return RegionWorker(
        target_ts=h.target_ts,
        end_ts=h.end_ts,
        spans={pid: record_span(pid) for pid in h.physical_ids()},
        partitioner=Partitioner(3),
    )


def subscription(reg: Registration) -> Subscription:
    return Subscription(
        reg.stream_id,
        reg.request_id,
        reg.table_id,
        reg.region,
        reg.span,
        reg.checkpoint_ts,
        reg.store_id,
    )


def replay(
    reader: RecordingReader, core: RegionWorker, only: Registration | None = None
) -> Iterator[MessageResult]:
    """Feed the frames to ``core``; with ``only``, that registration alone is subscribed."""
    for frame in reader:
        if frame.kind == "M":
            yield core.on_message(frame.stream_id, frame.data)
        elif frame.kind == "R":
            assert frame.obj is not None
            reg = Registration.from_json(frame.obj)
            if only is None or reg == only:
                core.add(subscription(reg))
        elif frame.kind == "B":
            assert frame.obj is not None
            core.bind_stream(frame.stream_id, int(frame.obj["request_id"]))
        else:
            core.drop_stream(frame.stream_id)


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return dict(json.loads((DATA / "small.expected.json").read_text()))


@pytest.fixture(scope="module")
def full_replay() -> list[MessageResult]:
    reader = RecordingReader(DATA / "small.rec")
    return list(replay(reader, recording_worker(reader)))


def registrations() -> list[Registration]:
    return [
        Registration.from_json(f.obj)
        for f in RecordingReader(DATA / "small.rec")
        if f.kind == "R" and f.obj is not None
    ]


def test_recording_replays_to_the_committed_window(
    expected: dict[str, Any], full_replay: list[MessageResult]
) -> None:
    header = RecordingReader(DATA / "small.rec").header
    assert (header.target_ts, header.end_ts) == (expected["target_ts"], expected["end_ts"])
    results = full_replay
    changes = [c for r in results for c in r.changes]
    assert len({change_tuple(c) for c in changes}) == expected["distinct_changes"]
    assert digest(changes) == expected["changes_digest"]
    assert all(expected["target_ts"] < c.commit_ts <= expected["end_ts"] for c in changes)
    # every accepted change went out in exactly one batch before END
    outputs = [o for r in results for o in r.outputs]
    batched = [c for o in outputs if isinstance(o, ChangeBatch) for c in o.changes]
    assert sum(map(versions_of, batched)) == len(changes)
    assert key_ends(batched) == key_ends(changes)
    assert any(isinstance(c, FoldedChange) for c in batched)  # the scan sends keys' versions
    assert [r.ended for r in results].count(True) == 1 and results[-1].ended
    txns = len({c.start_ts for c in changes})
    assert txns == 12
    assert outputs[-3:] == [End(p, expected["end_ts"], txns) for p in range(3)]
    advances = [r.resolved_ts for r in results if r.resolved_ts is not None]
    assert advances == sorted(set(advances)) and advances[-1] >= expected["end_ts"]
    assert len([s for r in results for s in r.initialized]) == len(registrations())
    assert not any(r.failures or r.deregister for r in results)


@pytest.mark.parametrize("reg", registrations(), ids=lambda r: f"q{r.request_id}")
def test_one_region_replays_alone(reg: Registration, full_replay: list[MessageResult]) -> None:
    """With one subscription, its changes are those of the full replay inside its span."""
    full = {change_tuple(c) for r in full_replay for c in r.changes}
    reader = RecordingReader(DATA / "small.rec")
    core = recording_worker(reader)
    results = list(replay(reader, core, only=reg))
    mine = [c for r in results for c in r.changes]
    assert all(c.region_id == reg.region.region_id and c.table_id == reg.table_id for c in mine)
    assert all(reg.span.contains(encode_bytes(c.key)) for c in mine)
    want = {t for t in full if reg.span.contains(encode_bytes(t[0]))}
    assert {change_tuple(c) for c in mine} == want
    assert [s.key for r in results for s in r.initialized] == [subscription(reg).key]
    # the other regions of the table never report: no advance, no END
    assert not core.done and all(r.resolved_ts is None for r in results)
