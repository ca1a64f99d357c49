"""The workload driver, against a recording fake of the MariaDB connection (no server).

What the MVCC store gets must be the codec's encoding of the model's rows, keyed like TiDB;
a seed must reproduce the same statements, keys and bytes. MariaDB itself is exercised in
tests/integration/test_workload_mariadb.py.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

from core.codec.keys import (
    IndexKey,
    RecordKey,
    decode_key,
    encode_common_handle,
    encode_record_key,
)
from core.codec.number import encode_int, to_signed64
from core.codec.row import decode_row, encode_row
from simulator.catalog import Catalog
from simulator.mvcc import MvccStore, Op
from simulator.syncpoint import CREATE_TABLE_SQL
from simulator.tso import Tso
from simulator.workload import Delete, Insert, Update, Workload, WorkloadConfig

MAX_TS = (1 << 63) - 1


class FakeCursor:
    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log
        self.last = ""

    async def __aenter__(self) -> FakeCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, query: str, args: Any = None) -> int:
        self.last = query
        self.log.append((query, tuple(args) if args is not None else None))
        return 1

    async def fetchone(self) -> Any:
        if "created_at" in self.last:
            return (dt.datetime(2026, 5, 4, 3, 2, 1),)  # noqa: DTZ001 - MariaDB hands naive UTC
        if self.last.startswith("CHECKSUM TABLE"):
            return ("t", 0)
        return None

    async def fetchall(self) -> Any:
        return []


class FakeConn:
    """Records every statement; begin/commit/rollback are logged as markers."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.log)

    async def begin(self) -> None:
        self.log.append(("BEGIN", None))

    async def commit(self) -> None:
        self.log.append(("COMMIT", None))

    async def rollback(self) -> None:
        self.log.append(("ROLLBACK", None))


async def _workload(seed: int = 7, txns: int = 60) -> tuple[Workload, FakeConn]:
    conn = FakeConn()
    clock = iter(range(1_700_000_000_000, 1_800_000_000_000))
    store = MvccStore(Tso(clock=lambda: next(clock)))
    upstream = Tso(clock=lambda: 1_700_000_000_000)
    w = Workload(conn, "shop", store, Catalog(), WorkloadConfig(seed=seed), upstream_tso=upstream)
    await w.setup()
    await w.load()
    await w.run(txns)
    return w, conn


def _live(store: MvccStore, ts: int = MAX_TS) -> dict[bytes, bytes]:
    return dict(store.scan(b"", b"", ts))


async def test_same_seed_same_statements_keys_and_bytes() -> None:
    a, ca = await _workload(seed=11)
    b, cb = await _workload(seed=11)
    c, cc = await _workload(seed=12)
    assert ca.log == cb.log
    assert _live(a.mvcc) == _live(b.mvcc)
    assert a.model_digests() == b.model_digests()
    assert ca.log != cc.log and a.model_digests() != c.model_digests()


async def test_mvcc_bytes_are_the_codec_encoding_of_the_model_rows() -> None:
    w, _ = await _workload()
    live = _live(w.mvcc)
    expected: dict[bytes, bytes] = {}
    for info in w.tables:
        tdef = w.catalog.table_def("shop", info.name)
        assert tdef is not None
        for ident, row in w.rows(info.name).items():
            pid = info.id
            if tdef.partition is not None:
                assert info.partition is not None
                at = tdef.partition.locate(row[tdef.partition.column])
                pid = info.partition.definitions[at].id
            if tdef.is_common_handle:
                key = encode_record_key(pid, encode_common_handle(row, info))
            else:
                key = encode_record_key(pid, to_signed64(ident))
            expected[key] = encode_row(info, row, dt.UTC)
    sp_id = w.catalog.table("tidb_cdc", "syncpoint_v1")
    assert sp_id is not None
    records = {
        k: v
        for k, v in live.items()
        if isinstance(decode_key(k), RecordKey) and decode_key(k).table_id != sp_id.id
    }
    assert records == expected
    assert w.mvcc_digests(MAX_TS) == w.model_digests()


async def test_unique_int_index_entries_follow_the_rows() -> None:
    w, _ = await _workload(txns=120)
    live = _live(w.mvcc)
    got = {k: v for k, v in live.items() if isinstance(decode_key(k), IndexKey)}
    expected: dict[bytes, bytes] = {}
    # (table, index id, column): ukeys.uk_code (INT, nullable) and rowid_uk.uk_ext (BIGINT)
    for name, col in (("ukeys", "code"), ("rowid_uk", "ext_id")):
        info = w.table_info(name)
        [idx] = [i for i in info.indices if info.columns[i.columns[0].offset].name == col]
        for ident, row in w.rows(name).items():
            if row[col] is None:
                continue
            # facts §2.4: t ‖ id ‖ _i ‖ index id ‖ 03 ‖ cmpInt64(value); value = BE u64 handle
            key = b"t" + encode_int(info.id) + b"_i" + encode_int(idx.id) + b"\x03"
            expected[key + encode_int(row[col])] = ident.to_bytes(8, "big")
    assert got == expected
    assert len(expected) > 20
    # a uk_email entry (VARCHAR) is never written: only int columns get index keys
    info = w.table_info("ukeys")
    email_idx = next(i for i in info.indices if i.name == "uk_email")
    index_keys = [decode_key(k) for k in got]
    assert not any(
        isinstance(k, IndexKey) and (k.table_id, k.index_id) == (info.id, email_idx.id)
        for k in index_keys
    )


async def test_every_table_kind_gets_rows() -> None:
    w, _ = await _workload()
    counts = {info.name: len(w.rows(info.name)) for info in w.tables}
    assert all(n > 0 for n in counts.values()), counts
    # partitioned rows live under their partitions' physical ids, never the logical id
    for name in ("parted_range", "parted_hash"):
        info = w.table_info(name)
        tids = {decode_key(k).table_id for k in _live(w.mvcc)}
        assert info.id not in tids
        assert tids & set(info.physical_ids())
    # big unsigned handles are stored reinterpreted as negative int64 handles
    info = w.table_info("unsigned_pk")
    big = [i for i in w.rows("unsigned_pk") if i >= 1 << 63]
    assert big, "seed 7 draws no BIGINT UNSIGNED handle >= 2^63"
    key = encode_record_key(info.id, to_signed64(big[0]))
    rk = decode_key(key)
    assert isinstance(rk, RecordKey) and isinstance(rk.handle, int) and rk.handle < 0
    assert w.mvcc.get(key, MAX_TS) is not None


async def test_operation_mix() -> None:
    w, _ = await _workload(txns=150)
    ops = [op for r in w.history for op in r.ops]
    kinds = Counter(type(op).__name__ for op in ops)
    assert kinds["Insert"] and kinds["Update"] and kinds["Delete"]
    assert any(isinstance(o, Update) and o.new_ident != o.ident for o in ops)  # PK changes
    assert any("~swap~" in str(o.new.values()) or None in o.new.values()
               for o in ops if isinstance(o, Update) and o.table == "ukeys")  # fmt: skip
    assert any(len({o.table for o in r.ops}) > 1 for r in w.history)  # multi-table txns
    ins = {(o.table, o.ident) for o in ops if isinstance(o, Insert)}
    assert any(isinstance(o, Delete) and (o.table, o.ident) in ins for o in ops)


async def test_one_commit_ts_per_transaction() -> None:
    w, _ = await _workload()
    by_ts: Counter[int] = Counter()
    for key in w.mvcc.keys_in(b"", b""):
        for v in w.mvcc.versions(key):
            by_ts[v.commit_ts] += 1
    for r in w.history:
        if r.keys:
            assert by_ts[r.commit_ts] == r.keys


async def test_mutations_last_image_per_key() -> None:
    w, _ = await _workload(txns=0)
    info = w.table_info("parted_range")
    row = {"id": 5, "v": "a", "n": 1}
    moved = {"id": 1500, "v": "a", "n": 1}
    ins, gone = Insert("parted_range", 5, row), Delete("parted_range", 5, row)
    assert w.mutations([ins, gone]) == []  # created and removed in one txn: nothing written
    muts = w.mutations([Update("parted_range", 5, 1500, row, moved)])
    assert info.partition is not None
    p0, p1 = (d.id for d in info.partition.definitions[:2])
    assert [(m.key, m.op) for m in muts] == [
        (encode_record_key(p0, 5), Op.DELETE),
        (encode_record_key(p1, 1500), Op.PUT),
    ]
    assert muts[1].value == encode_row(info, moved)
    muts = w.mutations([Update("parted_range", 5, 5, row, {**row, "n": 2}), gone])
    assert [(m.key, m.op) for m in muts] == [(encode_record_key(p0, 5), Op.DELETE)]


async def test_torn_transaction_applies_only_chosen_tables() -> None:
    w, conn = await _workload()
    before = w.model_digests()
    mvcc_before = w.mvcc_digests(MAX_TS)
    mark = len(conn.log)
    torn = await w.tear()
    assert torn.applied and torn.dropped
    assert torn.dropped_ops and all(op.table in torn.dropped for op in torn.dropped_ops)
    after = w.model_digests()
    for name in torn.dropped:
        assert after[name] == before[name]
        assert w.mvcc_digests(MAX_TS)[name] == mvcc_before[name]
        assert not any(f"`{name}`" in q for q, _ in conn.log[mark:])
    assert any(after[n] != before[n] for n in torn.applied)
    assert w.mvcc_digests(MAX_TS) == after
    chosen = await w.tear(applied=["ukeys"])
    assert set(chosen.applied) <= {"ukeys"}


async def test_syncpoint_row_and_point_in_time_digests() -> None:
    w, conn = await _workload()
    sp = await w.take_syncpoint(verify=False)
    assert sp.ts == sp.secondary_ts and sp.primary_ts > 0
    assert sp.model == w.model_digests() == w.mvcc_digests(sp.ts)
    assert (CREATE_TABLE_SQL, None) in conn.log
    inserts = [(q, a) for q, a in conn.log if q.startswith("insert ignore")]
    assert inserts == [
        (
            "insert ignore into tidb_cdc.syncpoint_v1 "
            "(ticdc_cluster_id, changefeed, primary_ts, secondary_ts) VALUES (%s,%s,%s,%s)",
            ("default", "tiundo-sim", str(sp.primary_ts), str(sp.secondary_ts)),
        )
    ]
    info = w.catalog.table("tidb_cdc", "syncpoint_v1")
    assert info is not None and info.is_common_handle
    [(key, value)] = w.mvcc.scan(*_span(info.id), MAX_TS)
    [version] = w.mvcc.versions(key)
    assert version.start_ts == sp.secondary_ts < version.commit_ts == sp.commit_ts
    rk = decode_key(key)
    assert isinstance(rk, RecordKey)
    row = decode_row(value, info, rk.handle, dt.UTC)
    assert row is not None
    assert (row["changefeed"], row["primary_ts"], row["secondary_ts"]) == (
        "tiundo-sim",
        str(sp.primary_ts),
        str(sp.secondary_ts),
    )
    assert str(row["created_at"]) == "2026-05-04 03:02:01"
    # later writes do not change the state at T
    await w.run(20)
    await w.tear()
    assert w.mvcc_digests(sp.ts) == dict(sp.mvcc)
    assert w.mvcc_digests(MAX_TS) != dict(sp.mvcc)


def _span(table_id: int) -> tuple[bytes, bytes]:
    start = encode_record_key(table_id, 0)[:11]
    return start, start[:-1] + b"s"


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_model_and_mvcc_agree_for_several_seeds(seed: int) -> None:
    w, _ = await _workload(seed=seed, txns=40)
    for _ in range(3):
        await w.tear()
    assert w.mvcc_digests(MAX_TS) == w.model_digests()


async def test_txn_source_is_stamped_on_every_version() -> None:
    conn = FakeConn()
    w = Workload(conn, "shop", MvccStore(Tso()), Catalog(), WorkloadConfig(seed=1, txn_source=9))
    await w.setup()
    await w.load(rows_per_table=2)
    await w.run(5)
    sources = {v.txn_source for k in w.mvcc.keys_in(b"", b"") for v in w.mvcc.versions(k)}
    assert sources == {9}
