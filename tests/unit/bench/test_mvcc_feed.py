"""The history written to the fake cluster decodes back to the same rows at T and at E."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.rto.config import WorkloadSize
from bench.rto.history import Row, RowChange, generate, rows_at_e
from bench.rto.mvcc_feed import LOAD_TXN_ROWS, mutation, seed_mvcc
from bench.rto.rowenc import RowEncoder
from bench.rto.schema import bench_tables
from core.codec.row import encode_row
from core.codec.tableinfo import TableInfo
from core.digest import row_digest
from simulator.catalog import Catalog
from simulator.checksum import mvcc_digest
from simulator.mvcc import MvccStore
from simulator.tso import Tso


def _digest(info: TableInfo, cols: list[str], rows: Iterable[Row]) -> str:
    dicts: list[Mapping[str, Any]] = [dict(zip(cols, r, strict=True)) for r in rows]
    return str(row_digest(info, dicts))


def test_rows_at_t_and_e_survive_the_codec() -> None:
    tables = bench_tables("bench")
    history = generate(tables, WorkloadSize("t", changes=1_500, rows=320), seed=11)
    store = MvccStore(Tso())
    window = seed_mvcc(store, Catalog(), tables, history.at_t, history.txns)
    assert window.txns == len(history.txns)
    assert window.t_ts < window.last_commit_ts
    at_e = rows_at_e(history)
    for i, (tdef, info) in enumerate(zip(tables, window.infos, strict=True)):
        cols = [c.name for c in tdef.columns]
        want_t = _digest(info, cols, history.at_t[i].values())
        want_e = _digest(info, cols, at_e[i].values())
        assert str(mvcc_digest(store, info, window.t_ts)) == want_t, tdef.name
        assert str(mvcc_digest(store, info, window.last_commit_ts)) == want_e, tdef.name
        assert want_t != want_e, f"{tdef.name} unchanged: the test would prove nothing"


def _reference_seed(
    store: MvccStore, catalog: Catalog, tables: list[Any], at_t: Any, txns: Any
) -> int:
    """What seeding did before the packed load: one ``write_txn`` per transaction."""
    infos = [catalog.add_table(t) for t in tables]
    for i, (tdef, info) in enumerate(zip(tables, infos, strict=True)):
        rows = list(at_t[i].items())
        for lo in range(0, len(rows), LOAD_TXN_ROWS):
            store.write_txn(
                [
                    mutation(tdef, info, RowChange(i, h, None, r))
                    for h, r in rows[lo : lo + LOAD_TXN_ROWS]
                ]
            )
    t_ts = store.tso.next()
    for txn in txns:
        store.write_txn([mutation(tables[c.table], infos[c.table], c) for c in txn.changes])
    return t_ts


def test_packed_seeding_leaves_the_store_write_txn_leaves() -> None:
    tables = list(bench_tables("bench"))
    history = generate(tables, WorkloadSize("t", changes=3_000, rows=2_400), seed=5)
    want = MvccStore(Tso(clock=lambda: 1000))
    t_ts = _reference_seed(want, Catalog(), tables, history.at_t, history.txns)
    got = MvccStore(Tso(clock=lambda: 1000))
    window = seed_mvcc(got, Catalog(), tables, history.at_t, history.txns)
    assert window.t_ts == t_ts and window.last_commit_ts == want.tso.last == got.tso.last
    keys = list(want.keys_in(b"", b""))
    assert list(got.keys_in(b"", b"")) == keys and len(keys) > 1_500
    assert not list(got.locks())
    for key in keys:
        assert list(got.versions(key)) == list(want.versions(key)), key.hex()


def test_row_encoder_gives_encode_rows_bytes() -> None:
    tables = bench_tables("bench")
    history = generate(tables, WorkloadSize("t", changes=2_000, rows=640), seed=3)
    catalog = Catalog()
    infos = [catalog.add_table(t) for t in tables]
    images = [(c.table, c.handle, c.new) for _, c in history.iter_changes() if c.new is not None]
    images += [(i, h, r) for i, rows in enumerate(history.at_t) for h, r in rows.items()]
    nulls = 0
    for i, handle, image in images:
        tdef, info = tables[i], infos[i]
        enc = RowEncoder(tdef, info)
        want = mutation(tdef, info, RowChange(i, handle, None, image))
        assert enc.key(handle, image) == want.key
        assert (
            enc.value(image)
            == want.value
            == encode_row(info, dict(zip([c.name for c in tdef.columns], image, strict=True)))
        )
        nulls += image.count(None)
    assert nulls > 100  # NULL columns were exercised
