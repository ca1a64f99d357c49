"""Put the benchmark history into a fake cluster's MVCC store, TiDB-encoded (for tiundo's runs).

tiundo reads the window from TiKV's change feed, so its end-to-end contender needs the same
history the baselines undo as TiKV versions: :func:`seed_mvcc` registers the tables in the fake
cluster's catalog, writes the rows at T in bulk transactions, takes T from the store's TSO and
then writes every transaction of ``(T, E]`` as one MVCC transaction (TiDB's record keys and
row format v2, index keys left out as the ingest drops them anyway). The MariaDB side needs
nothing: the harness already reset it to the torn state at E. Pure (simulator and codec only).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.undo.model import Handle
from bench.rto.history import Row, RowChange, Txn
from core.codec.keys import encode_common_handle, encode_record_key
from core.codec.row import encode_row
from core.codec.tableinfo import TableInfo
from simulator.catalog import Catalog
from simulator.mvcc import Mutation, MvccStore, Op
from simulator.tabledef import TableDef

__all__ = ["SeededWindow", "mutation", "seed_mvcc"]

LOAD_TXN_ROWS = 1000


@dataclass(frozen=True, slots=True)
class SeededWindow:
    """What :func:`seed_mvcc` wrote: T, the last commit ts (E may be any later TSO), infos."""

    t_ts: int
    last_commit_ts: int
    infos: tuple[TableInfo, ...]
    txns: int


def _key(tdef: TableDef, info: TableInfo, handle: Handle, image: Row) -> bytes:
    if tdef.is_common_handle:
        row = dict(zip((c.name for c in tdef.columns), image, strict=True))
        return encode_record_key(info.id, encode_common_handle(row, info))
    assert isinstance(handle, int)
    return encode_record_key(info.id, handle)


def mutation(tdef: TableDef, info: TableInfo, change: RowChange) -> Mutation:
    """The TiKV mutation of one change: PUT of the new image, or DELETE."""
    image = change.new if change.new is not None else change.old
    assert image is not None
    key = _key(tdef, info, change.handle, image)
    if change.new is None:
        return Mutation(key, Op.DELETE)
    row = dict(zip((c.name for c in tdef.columns), change.new, strict=True))
    return Mutation(key, Op.PUT, encode_row(info, row, _dt.UTC))


def seed_mvcc(
    store: MvccStore,
    catalog: Catalog,
    tables: Sequence[TableDef],
    rows_at_t: Sequence[dict[Handle, Row]],
    txns: Iterable[Txn],
) -> SeededWindow:
    """Register ``tables``, write ``rows_at_t``, take T, write ``txns`` in order.

    Call it before the fake TiKV serves feeds (or with no observer subscribed): every write
    is reported to observers. Commit ts come from the store's TSO, not from the history's own
    numbering; the order and grouping of transactions is kept.
    """
    infos = tuple(catalog.add_table(t) for t in tables)
    for i, (tdef, info) in enumerate(zip(tables, infos, strict=True)):
        batch: list[Mutation] = []
        for handle, row in rows_at_t[i].items():
            batch.append(mutation(tdef, info, RowChange(i, handle, None, row)))
            if len(batch) >= LOAD_TXN_ROWS:
                store.write_txn(batch)
                batch = []
        if batch:
            store.write_txn(batch)
    t_ts = store.tso.next()
    last = t_ts
    n = 0
    for txn in txns:
        muts = [mutation(tables[c.table], infos[c.table], c) for c in txn.changes]
        if muts:
            last = store.write_txn(muts)
            n += 1
    return SeededWindow(t_ts, last, infos, n)
