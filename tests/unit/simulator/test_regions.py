from __future__ import annotations

import pytest

from core.codec.bytescodec import encode_bytes
from core.codec.keys import table_prefix
from simulator.regions import (
    RegionChange,
    RegionChangeKind,
    RegionError,
    RegionTable,
    record_key,
)


def test_one_region_covers_everything_with_peers_on_three_stores() -> None:
    table = RegionTable([1, 2, 3, 4])
    [r] = table.all()
    assert (r.start_key, r.end_key) == (b"", b"")
    assert sorted(p.store_id for p in r.peers) == [1, 2, 3]
    assert r.leader.store_id == r.leader_store
    assert table.locate(b"anything") is r


def test_split_right_derives_and_bumps_version() -> None:
    table = RegionTable([1, 2, 3])
    seen: list[RegionChange] = []
    table.subscribe(seen.append)
    [old] = table.all()
    key = record_key(5, 100)
    left, right = table.split(old.id, key)
    assert right.id == old.id and left.id != old.id
    assert left.version == right.version == old.version + 1
    assert left.end_key == right.start_key == encode_bytes(key)
    assert right.raw_start == key and left.raw_end == key
    assert {p.store_id for p in left.peers} == {p.store_id for p in old.peers}
    assert not {p.id for p in left.peers} & {p.id for p in old.peers}
    assert seen == [RegionChange(RegionChangeKind.SPLIT, old, (left, right))]
    assert table.locate_raw(record_key(5, 99)) == left
    assert table.locate_raw(key) == right


def test_split_outside_or_on_boundary_is_refused() -> None:
    table = RegionTable([1])
    [r] = table.all()
    table.split(r.id, b"m")
    with pytest.raises(RegionError):
        table.split(r.id, b"m")
    with pytest.raises(RegionError):
        table.split(r.id, b"a")


def test_scan_and_limit_use_encoded_keys() -> None:
    table = RegionTable([1, 2, 3])
    table.split_at([table_prefix(5), table_prefix(6), record_key(5, 10)])
    assert len(table) == 4
    start = encode_bytes(table_prefix(5) + b"_r")
    end = encode_bytes(table_prefix(5) + b"_s")
    got = table.scan(start, end)
    assert [r.raw_start for r in got] == [table_prefix(5), record_key(5, 10)]
    assert len(table.scan(b"", b"", limit=2)) == 2
    table.split_at([table_prefix(5)])  # idempotent
    assert len(table) == 4


def test_transfer_leader_keeps_epoch_and_notifies() -> None:
    table = RegionTable([1, 2, 3])
    [r] = table.all()
    seen: list[RegionChange] = []
    table.subscribe(seen.append)
    target = next(p.store_id for p in r.peers if p.store_id != r.leader_store)
    new = table.transfer_leader(r.id, target)
    assert new.leader_store == target and new.version == r.version
    assert seen[0].kind is RegionChangeKind.LEADER_MOVED
    with pytest.raises(RegionError):
        RegionTable([1, 2, 3, 4], replicas=1).transfer_leader(r.id + 0, 99)


def test_move_leaders_off_a_store() -> None:
    table = RegionTable([1, 2, 3])
    table.split_at([b"b", b"c", b"d"])
    table.move_leaders_off(1)
    assert all(r.leader_store != 1 for r in table.all())


def test_store_pb_has_plausible_version() -> None:
    table = RegionTable([1])
    pb = table.stores[1].to_pb()
    assert pb.version == "8.5.0" and pb.id == 1
