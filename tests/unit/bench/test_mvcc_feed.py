"""The history written to the fake cluster decodes back to the same rows at T and at E."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.rto.config import WorkloadSize
from bench.rto.history import Row, generate, rows_at_e
from bench.rto.mvcc_feed import seed_mvcc
from bench.rto.schema import bench_tables
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
