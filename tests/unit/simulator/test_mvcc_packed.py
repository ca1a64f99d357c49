"""Bulk-loaded (packed) versions read, scan and take writes as ``write_txn``'s versions do."""

from __future__ import annotations

import pytest

from simulator.cdc_delegate import _scan_rows
from simulator.mvcc import (
    Change,
    Mutation,
    MvccError,
    MvccStore,
    Op,
    pack_version,
    unpack_versions,
)
from simulator.tso import Tso

K1 = b"t\x80\x00\x00\x00\x00\x00\x00\x05_r\x80\x00\x00\x00\x00\x00\x00\x01"
K2 = b"t\x80\x00\x00\x00\x00\x00\x00\x05_r\x80\x00\x00\x00\x00\x00\x00\x02"
K3 = b"t\x80\x00\x00\x00\x00\x00\x00\x05_r\x80\x00\x00\x00\x00\x00\x00\x03"


def _txns() -> list[list[Mutation]]:
    return [
        [Mutation(K1, Op.PUT, b"a1"), Mutation(K3, Op.PUT, b"c1")],
        [Mutation(K1, Op.PUT, b"a2" * 200)],
        [Mutation(K3, Op.DELETE), Mutation(K2, Op.PUT, b"b1")],
        [Mutation(K1, Op.DELETE)],
    ]


def _written() -> MvccStore:
    store = MvccStore(Tso(clock=lambda: 1000))
    for muts in _txns():
        store.write_txn(muts)
    return store


def _packed() -> MvccStore:
    store = MvccStore(Tso(clock=lambda: 1000))
    blobs: dict[bytes, bytes] = {}
    for muts in _txns():
        start_ts, commit_ts = store.tso.next(), store.tso.next()
        for m in muts:
            blobs[m.key] = blobs.get(m.key, b"") + pack_version(start_ts, commit_ts, m.op, m.value)
    store.tso = Tso(clock=lambda: 1000)  # the load must move the TSO past the versions itself
    assert store.load_packed(sorted(blobs.items(), reverse=True)) == 3
    return store


class _Sub:
    raw_start, raw_end, checkpoint_ts, filter_loop = b"", b"", 0, False


def test_packed_store_reads_and_scans_like_written_one() -> None:
    written, packed = _written(), _packed()
    assert list(packed.keys_in(b"", b"")) == list(written.keys_in(b"", b"")) == [K1, K2, K3]
    for key in (K1, K2, K3):
        assert list(packed.versions(key)) == list(written.versions(key))
        for ts in range(1 << 18, written.tso.last + 1, 1 << 16):
            assert packed.get(key, ts) == written.get(key, ts)
    assert packed.tso.last == written.tso.last
    rows_w = [(r.SerializeToString(), n) for r, n in _scan_rows(written, _Sub())]  # type: ignore[arg-type]
    rows_p = [(r.SerializeToString(), n) for r, n in _scan_rows(packed, _Sub())]  # type: ignore[arg-type]
    assert rows_p == rows_w and len(rows_w) == 6


def test_write_after_load_unpacks_the_key_and_reports_its_old_value() -> None:
    store = _packed()
    seen: list[Change] = []
    store.subscribe(lambda changes: seen.extend(changes))
    commit_ts = store.write_txn([Mutation(K2, Op.PUT, b"b2")], one_pc=True)
    assert seen[0].old_value == b"b1"
    assert [v.value for v in store.versions(K2)] == [b"b1", b"b2"]
    assert store.versions(K2)[-1].commit_ts == commit_ts


def test_load_refuses_existing_keys_and_bad_blobs() -> None:
    store = _written()
    with pytest.raises(MvccError, match="already has versions"):
        store.load_packed([(K1, pack_version(1, 2, Op.PUT, b"x"))])
    fresh = MvccStore(Tso())
    with pytest.raises(MvccError, match="not ascending"):
        fresh.load_packed(
            [(K1, pack_version(1, 5, Op.PUT, b"x") + pack_version(3, 4, Op.PUT, b""))]
        )
    for torn in (pack_version(1, 2, Op.PUT, b"xy")[:-1], pack_version(1, 2, Op.PUT, b"")[:-1], b""):
        with pytest.raises(MvccError, match="torn or empty"):
            MvccStore(Tso()).load_packed([(K1, torn)])


def test_unpack_is_the_inverse_of_pack() -> None:
    blob = pack_version(7, 9, Op.PUT, b"v", 3) + pack_version(11, 12, Op.DELETE, b"")
    got = unpack_versions(blob)
    assert [(v.start_ts, v.commit_ts, v.op, v.value, v.txn_source) for v in got] == [
        (7, 9, Op.PUT, b"v", 3),
        (11, 12, Op.DELETE, b"", 0),
    ]
    with pytest.raises(ValueError, match="torn header"):
        unpack_versions(blob[:-1])  # the DELETE's header cut short
    with pytest.raises(ValueError, match="torn value"):
        unpack_versions(blob[: len(pack_version(7, 9, Op.PUT, b"v", 3)) - 1])
