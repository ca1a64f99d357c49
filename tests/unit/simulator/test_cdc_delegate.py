"""The pure EventFeed logic, checked against facts/eventfeed.md §3 without gRPC."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from core.codec.bytescodec import encode_bytes
from core.codec.keys import table_prefix
from proto import cdcpb_pb2, metapb_pb2
from simulator.cdc_delegate import (
    ENTRIES_MAX_BYTES,
    Connection,
    ErrorKind,
    FeatureGate,
    Scan,
    parse_version,
    txn_source_filtered,
)
from simulator.mvcc import Mutation, MvccStore, Op
from simulator.regions import Region, RegionTable, record_key
from simulator.tso import Tso

CLUSTER = 7
E = cdcpb_pb2.Event
T = 5


def k(h: int) -> bytes:
    return record_key(T, h)


def setup(stores: Iterable[int] = (1, 2, 3)) -> tuple[MvccStore, RegionTable, Region]:
    mvcc = MvccStore(Tso(clock=lambda: 1000))
    regions = RegionTable(list(stores))
    regions.split_at([table_prefix(T), table_prefix(T + 1)])
    return mvcc, regions, regions.locate_raw(k(0))


def req(region: Region, **kw: object) -> cdcpb_pb2.ChangeDataRequest:
    base: dict[str, object] = {
        "header": cdcpb_pb2.Header(cluster_id=CLUSTER, ticdc_version="8.5.0"),
        "region_id": region.id,
        "region_epoch": metapb_pb2.RegionEpoch(conf_ver=region.conf_ver, version=region.version),
        "checkpoint_ts": 0,
        "start_key": encode_bytes(table_prefix(T) + b"_r"),
        "end_key": encode_bytes(table_prefix(T) + b"_s"),
        "request_id": 1,
    }
    base.update(kw)
    return cdcpb_pb2.ChangeDataRequest(**base)  # type: ignore[arg-type]


def conn_for(mvcc: MvccStore, regions: RegionTable, region: Region, **kw: object) -> Connection:
    return Connection(region.leader_store, CLUSTER, mvcc, regions, **kw)  # type: ignore[arg-type]


def rows(msgs: Iterable[cdcpb_pb2.ChangeDataEvent]) -> list[cdcpb_pb2.Event.Row]:
    return [
        r for m in msgs for ev in m.events if ev.HasField("entries") for r in ev.entries.entries
    ]


def errors(msgs: Iterable[cdcpb_pb2.ChangeDataEvent]) -> list[tuple[str | None, int]]:
    return [
        (_err_name(ev.error), ev.region_id) for m in msgs for ev in m.events if ev.HasField("error")
    ]


def _err_name(err: cdcpb_pb2.Error) -> str | None:
    names = [f.name for f, _ in err.ListFields()]
    assert len(names) == 1, names  # TiKV sets exactly one field
    return names[0]


def register_ok(conn: Connection, request: cdcpb_pb2.ChangeDataRequest) -> Scan:
    out = conn.register(request)
    assert isinstance(out, Scan), out
    return out


# -- versions and gates ------------------------------------------------------------------------


def test_parse_version_semver_order() -> None:
    assert parse_version("8.5.0") > parse_version("8.5.0-alpha")
    assert parse_version("v4.0.8") == parse_version("4.0.8")
    assert parse_version("") == (0, 0, 0, 0)
    assert parse_version("garbage") == (0, 0, 0, 0)
    assert not FeatureGate.from_version("4.0.8-alpha").batch_resolved_ts
    assert FeatureGate.from_version("4.0.8").batch_resolved_ts
    assert not FeatureGate.from_version("5.2.9").validate_cluster_id
    assert FeatureGate.from_version("5.3.0").validate_cluster_id


@pytest.mark.parametrize(
    ("source", "filter_loop", "dropped"),
    [(0, True, False), (1, False, False), (1, True, True), (1 << 8, False, True),
     (1 << 16, False, True), (255, True, True)],
)  # fmt: skip
def test_txn_source_filter(source: int, filter_loop: bool, dropped: bool) -> None:
    assert txn_source_filtered(source, filter_loop) is dropped


# -- incremental scan --------------------------------------------------------------------------


def test_scan_locks_versions_newest_first_with_old_values_then_initialized() -> None:
    mvcc, regions, region = setup()
    c1 = mvcc.write_txn([Mutation(k(1), Op.PUT, b"a1"), Mutation(k(2), Op.PUT, b"b1")])
    c2 = mvcc.write_txn([Mutation(k(1), Op.PUT, b"a2")])
    c3 = mvcc.write_txn([Mutation(k(1), Op.DELETE)])
    lock_ts = mvcc.tso.next()
    mvcc.prewrite([Mutation(k(2), Op.PUT, b"b2")], lock_ts, k(2))
    mvcc.write_txn([Mutation(table_prefix(T) + b"_i\x01", Op.PUT, b"idx")])  # outside _r span
    conn = conn_for(mvcc, regions, region)
    scan = register_ok(conn, req(region, checkpoint_ts=c1))
    got = [(r.type, r.key, r.start_ts, r.commit_ts, r.op_type, r.value, r.old_value)
           for r in rows(scan.messages)]  # fmt: skip
    assert got == [
        (E.COMMITTED, k(1), c3 - 1, c3, E.Row.DELETE, b"", b"a2"),
        (E.COMMITTED, k(1), c2 - 1, c2, E.Row.PUT, b"a2", b"a1"),
        (E.PREWRITE, k(2), lock_ts, 0, E.Row.PUT, b"b2", b"b1"),
        (E.INITIALIZED, b"", 0, 0, 0, b"", b""),
    ]
    assert scan.rows == 3
    assert all(ev.request_id == 1 and ev.region_id == region.id
               for m in scan.messages for ev in m.events)  # fmt: skip


def test_scan_entries_are_at_most_32k_and_initialized_is_last() -> None:
    mvcc, regions, region = setup()
    for h in range(40):
        mvcc.write_txn([Mutation(k(h), Op.PUT, bytes(2000))], one_pc=True)
    scan = register_ok(conn_for(mvcc, regions, region), req(region))
    entries = [ev.entries for m in scan.messages for ev in m.events]
    assert len(entries) > 1
    for e in entries:
        payload = sum(len(r.key) + len(r.value) + len(r.old_value) for r in e.entries)
        assert payload <= ENTRIES_MAX_BYTES
    assert [r.type for r in entries[-1].entries][-1] == E.INITIALIZED
    assert sum(1 for r in rows(scan.messages) if r.type == E.INITIALIZED) == 1
    assert [r.key for r in rows(scan.messages)][:-1] == [k(h) for h in range(40)]


def test_scan_range_is_request_intersect_region() -> None:
    mvcc, regions, region = setup()
    for h in range(10):
        mvcc.write_txn([Mutation(k(h), Op.PUT, b"v")])
    regions.split(region.id, k(5))
    left = regions.locate_raw(k(0))
    right = regions.locate_raw(k(5))
    scan = register_ok(conn_for(mvcc, regions, left), req(left, start_key=encode_bytes(k(2))))
    assert [r.key for r in rows(scan.messages)][:-1] == [k(h) for h in range(2, 5)]
    scan = register_ok(conn_for(mvcc, regions, right), req(right))
    assert [r.key for r in rows(scan.messages)][:-1] == [k(h) for h in range(5, 10)]
    # undecodable bounds: TiKV falls back to the whole region
    scan = register_ok(conn_for(mvcc, regions, right), req(right, start_key=b"\x01\x02"))
    assert len(rows(scan.messages)) == 6


def test_scan_and_live_filter_txn_source() -> None:
    mvcc, regions, region = setup()
    mvcc.write_txn([Mutation(k(1), Op.PUT, b"mine")], txn_source=1)
    mvcc.write_txn([Mutation(k(2), Op.PUT, b"lossy")], txn_source=1 << 8)
    mvcc.write_txn([Mutation(k(3), Op.PUT, b"user")])
    loop_conn = conn_for(mvcc, regions, region)
    scan = register_ok(loop_conn, req(region, filter_loop=True))
    assert [r.key for r in rows(scan.messages)][:-1] == [k(3)]
    plain = conn_for(mvcc, regions, region)
    scan = register_ok(plain, req(region))
    got = {r.key: r.txn_source for r in rows(scan.messages)[:-1]}
    assert got == {k(1): 1, k(3): 0}
    mvcc.subscribe(lambda ch: seen.extend(loop_conn.on_changes(ch)))
    seen: list[cdcpb_pb2.ChangeDataEvent] = []
    mvcc.write_txn([Mutation(k(4), Op.PUT, b"x")], txn_source=2)
    mvcc.write_txn([Mutation(k(5), Op.PUT, b"y")], txn_source=0)
    assert {r.key for r in rows(seen)} == {k(5)}


# -- live rows ---------------------------------------------------------------------------------


def test_live_row_shapes() -> None:
    mvcc, regions, region = setup()
    mvcc.write_txn([Mutation(k(1), Op.PUT, b"old")])
    conn = conn_for(mvcc, regions, region)
    register_ok(conn, req(region))
    out: list[cdcpb_pb2.ChangeDataEvent] = []
    mvcc.subscribe(lambda ch: out.extend(conn.on_changes(ch)))
    big = b"x" * 256
    s = mvcc.tso.next()
    mvcc.prewrite([Mutation(k(1), Op.PUT, big), Mutation(k(2), Op.PUT, b"short")], s, k(1))
    c = mvcc.tso.next()
    mvcc.commit(s, c, [k(1), k(2)])
    s2 = mvcc.tso.next()
    mvcc.prewrite([Mutation(k(3), Op.DELETE)], s2, k(3))
    mvcc.rollback(s2, [k(3)])
    c3 = mvcc.write_txn([Mutation(k(2), Op.DELETE)], one_pc=True)
    got = [(r.type, r.key, r.start_ts, r.commit_ts, r.op_type, r.value, r.old_value)
           for r in rows(out)]  # fmt: skip
    assert got == [
        (E.PREWRITE, k(1), s, 0, E.Row.PUT, big, b"old"),
        (E.PREWRITE, k(2), s, 0, E.Row.PUT, b"short", b""),
        (E.COMMIT, k(1), s, c, E.Row.PUT, b"", b""),  # large value absent on COMMIT
        (E.COMMIT, k(2), s, c, E.Row.PUT, b"short", b""),
        (E.PREWRITE, k(3), s2, 0, E.Row.DELETE, b"", b""),
        (E.ROLLBACK, k(3), s2, 0, E.Row.UNKNOWN, b"", b""),
        (E.COMMITTED, k(2), c3 - 1, c3, E.Row.DELETE, b"", b"short"),
    ]
    # one Event per write batch per subscription
    assert [len(m.events) for m in out] == [1, 1, 1, 1, 1]


def test_live_rows_outside_range_are_dropped() -> None:
    mvcc, regions, region = setup()
    conn = conn_for(mvcc, regions, region)
    register_ok(conn, req(region, end_key=encode_bytes(k(10))))
    out: list[cdcpb_pb2.ChangeDataEvent] = []
    mvcc.subscribe(lambda ch: out.extend(conn.on_changes(ch)))
    mvcc.write_txn([Mutation(k(1), Op.PUT, b"in"), Mutation(k(10), Op.PUT, b"out")], one_pc=True)
    assert [r.key for r in rows(out)] == [k(1)]


# -- register checks ---------------------------------------------------------------------------


def test_register_checks_in_tikv_order() -> None:
    mvcc, regions, region = setup()
    conn = conn_for(mvcc, regions, region)
    bad_everything = req(
        region,
        header=cdcpb_pb2.Header(cluster_id=99, ticdc_version="8.5.0"),
        kv_api=cdcpb_pb2.ChangeDataRequest.TxnKV,
        region_id=424242,
    )
    out = conn.register(bad_everything)
    assert not isinstance(out, Scan)
    assert errors([out]) == [("cluster_id_mismatch", 424242)]
    assert out.events[0].error.cluster_id_mismatch.current == CLUSTER
    assert out.events[0].error.cluster_id_mismatch.request == 99
    out = conn.register(req(region, kv_api=cdcpb_pb2.ChangeDataRequest.TxnKV, region_id=424242))
    assert errors([out]) == [("compatibility", 424242)]  # type: ignore[list-item]
    assert out.events[0].error.compatibility.required_version == "6.2.0"  # type: ignore[union-attr]
    out = conn.register(req(region, region_id=424242), injected=ErrorKind.SERVER_IS_BUSY)
    assert errors([out]) == [("server_is_busy", 424242)]  # type: ignore[list-item]
    out = conn.register(req(region, region_id=424242))
    assert errors([out]) == [("region_not_found", 424242)]  # type: ignore[list-item]
    register_ok(conn, req(region))
    out = conn.register(req(region, region_epoch=metapb_pb2.RegionEpoch(version=1)))
    assert errors([out]) == [("duplicate_request", region.id)]  # type: ignore[list-item]
    out = conn.register(req(region, request_id=2, region_epoch=metapb_pb2.RegionEpoch(version=1)))
    assert errors([out]) == [("epoch_not_match", region.id)]  # type: ignore[list-item]
    current = out.events[0].error.epoch_not_match.current_regions  # type: ignore[union-attr]
    # raftstore names the region and its left sibling (find_sibling_region, right-derive)
    sibling = regions.left_of(region)
    assert sibling is not None and sibling.peer_on(region.leader_store) is not None
    assert [r.id for r in current] == [region.id, sibling.id]
    assert current[1].end_key == region.start_key
    follower = next(p.store_id for p in region.peers if p.store_id != region.leader_store)
    fconn = Connection(follower, CLUSTER, mvcc, regions)
    out = fconn.register(req(region))
    assert errors([out]) == [("not_leader", region.id)]  # type: ignore[list-item]
    assert out.events[0].error.not_leader.leader.store_id == region.leader_store  # type: ignore[union-attr]


def test_old_client_skips_cluster_id_check() -> None:
    mvcc, regions, region = setup()
    conn = conn_for(mvcc, regions, region)
    register_ok(conn, req(region, header=cdcpb_pb2.Header(cluster_id=0, ticdc_version="5.2.0")))


def test_region_not_on_store() -> None:
    mvcc, regions, region = setup(stores=(1, 2, 3, 4))
    outsider = next(s for s in (1, 2, 3, 4) if region.peer_on(s) is None)
    out = Connection(outsider, CLUSTER, mvcc, regions).register(req(region))
    assert errors([out]) == [("region_not_found", region.id)]  # type: ignore[list-item]


# -- resolved ts -------------------------------------------------------------------------------


def test_resolved_ts_only_after_initialized_and_held_by_locks() -> None:
    mvcc, regions, region = setup()
    conn = conn_for(mvcc, regions, region)
    scan = register_ok(conn, req(region))
    assert conn.resolved_ts(mvcc.tso.next()) == []
    conn.mark_initialized(scan.sub)
    t1 = mvcc.tso.next()
    [msg] = conn.resolved_ts(t1)
    assert not msg.events and list(msg.resolved_ts.regions) == [region.id]
    assert msg.resolved_ts.ts == t1 and msg.resolved_ts.request_id == 0
    lock_ts = mvcc.tso.next()
    mvcc.prewrite([Mutation(k(1), Op.PUT, b"v")], lock_ts, k(1))
    [msg] = conn.resolved_ts(mvcc.tso.next())
    assert msg.resolved_ts.ts == max(t1, lock_ts)  # held at the lock, never below what was sent
    assert msg.resolved_ts.ts <= lock_ts
    mvcc.commit(lock_ts, mvcc.tso.next(), [k(1)])
    t3 = mvcc.tso.next()
    [msg] = conn.resolved_ts(t3)
    assert msg.resolved_ts.ts == t3
    [msg] = conn.resolved_ts(t3, frozen={region.id})
    assert msg.resolved_ts.ts == t3  # stalled: resent unchanged
    [msg] = conn.resolved_ts(t1)
    assert msg.resolved_ts.ts == t3  # monotone


def test_lock_outside_subscription_does_not_hold_it_back() -> None:
    mvcc, regions, region = setup()
    conn = conn_for(mvcc, regions, region)
    conn.mark_initialized(register_ok(conn, req(region)).sub)
    mvcc.prewrite([Mutation(record_key(T + 3, 1), Op.PUT, b"v")], mvcc.tso.next(), b"p")
    now = mvcc.tso.next()
    [msg] = conn.resolved_ts(now)
    assert msg.resolved_ts.ts == now


def test_resolved_ts_batches_slowest_first_in_growing_groups() -> None:
    mvcc, regions, _ = setup()
    regions.split_at([k(h) for h in range(1, 50)])
    conn = Connection(1, CLUSTER, mvcc, regions)
    span = regions.scan(encode_bytes(table_prefix(T)), encode_bytes(table_prefix(T + 1)))
    ours = [r for r in span if r.leader_store == 1]
    for r in ours:
        conn.mark_initialized(register_ok(conn, req(r)).sub)
    # a lock in the first region makes it the slowest
    lock_ts = mvcc.tso.next()
    lock_key = max(ours[0].raw_start, k(0))  # inside the first region's observed range
    mvcc.prewrite([Mutation(lock_key, Op.PUT, b"v")], lock_ts, lock_key)
    msgs = conn.resolved_ts(mvcc.tso.next())
    sizes = [len(m.resolved_ts.regions) for m in msgs]
    assert sizes[0] == min(8, len(ours)) and sum(sizes) == len(ours)
    if len(sizes) > 1:
        assert sizes[1] == min(32, len(ours) - 8)
    assert msgs[0].resolved_ts.ts == lock_ts and ours[0].id in msgs[0].resolved_ts.regions


def test_old_client_gets_per_region_resolved_events() -> None:
    mvcc, regions, region = setup()
    conn = conn_for(mvcc, regions, region)
    scan = register_ok(conn, req(region, header=cdcpb_pb2.Header(ticdc_version="4.0.7")))
    conn.mark_initialized(scan.sub)
    now = mvcc.tso.next()
    [msg] = conn.resolved_ts(now)
    assert not msg.HasField("resolved_ts")
    assert [(e.region_id, e.request_id, e.resolved_ts) for e in msg.events] == [(region.id, 1, now)]


def test_multiplexing_groups_by_request_id() -> None:
    mvcc, regions, region = setup()
    conn = conn_for(mvcc, regions, region, multiplexing=True)
    conn.mark_initialized(register_ok(conn, req(region, request_id=3)).sub)
    conn.mark_initialized(register_ok(conn, req(region, request_id=4)).sub)
    msgs = conn.resolved_ts(mvcc.tso.next())
    assert sorted(m.resolved_ts.request_id for m in msgs) == [3, 4]


# -- ending subscriptions ----------------------------------------------------------------------


def test_deregister_one_and_all() -> None:
    mvcc, regions, region = setup()
    regions.split(region.id, k(100))
    a, b = regions.locate_raw(k(1)), regions.locate_raw(k(100))
    conn = Connection(a.leader_store, CLUSTER, mvcc, regions)
    for r in (a, b):
        if r.leader_store == a.leader_store:
            register_ok(conn, req(r, request_id=9))
    register_ok(conn, req(a, request_id=10))
    out = conn.deregister(cdcpb_pb2.ChangeDataRequest(request_id=10, region_id=a.id))
    assert errors(out) == [("region_not_found", a.id)]
    n = len(conn.subs)
    out = conn.deregister(cdcpb_pb2.ChangeDataRequest(request_id=9, region_id=0))
    assert len(errors(out)) == n and not conn.subs


def test_split_ends_subscription_with_epoch_not_match_and_stops_scan() -> None:
    mvcc, regions, region = setup()
    conn = conn_for(mvcc, regions, region)
    sub = register_ok(conn, req(region)).sub
    out: list[cdcpb_pb2.ChangeDataEvent] = []
    regions.subscribe(lambda ch: out.extend(conn.on_region_change(ch)))
    left, right = regions.split(region.id, k(50))
    assert errors(out) == [("epoch_not_match", region.id)]
    cur = out[0].events[0].error.epoch_not_match.current_regions
    assert [(r.id, r.region_epoch.version) for r in cur] == [
        (left.id, left.version),
        (right.id, right.version),
    ]
    assert not sub.active and not conn.subs
    out.clear()
    mvcc.write_txn([Mutation(k(1), Op.PUT, b"x")])
    assert conn.on_changes([]) == [] and out == []


def test_leader_move_ends_with_not_leader_naming_new_leader() -> None:
    mvcc, regions, region = setup()
    conn = conn_for(mvcc, regions, region)
    register_ok(conn, req(region))
    out: list[cdcpb_pb2.ChangeDataEvent] = []
    regions.subscribe(lambda ch: out.extend(conn.on_region_change(ch)))
    target = next(p.store_id for p in region.peers if p.store_id != region.leader_store)
    regions.transfer_leader(region.id, target)
    assert errors(out) == [("not_leader", region.id)]
    assert out[0].events[0].error.not_leader.leader.store_id == target


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_fail_region_with_each_error_type(kind: ErrorKind) -> None:
    mvcc, regions, region = setup()
    conn = conn_for(mvcc, regions, region)
    register_ok(conn, req(region))
    out = conn.fail_region(region.id, kind)
    assert errors(out) == [(kind.value, region.id)]
    assert not conn.subs
