"""Put the benchmark history into a fake cluster's MVCC store, TiDB-encoded (for tiundo's runs).

tiundo reads the window from TiKV's change feed, so its end-to-end contender needs the same
history the baselines undo as TiKV versions: :func:`seed_mvcc` registers the tables in the fake
cluster's catalog, writes the rows at T in bulk transactions, takes T from the store's TSO and
then writes every transaction of ``(T, E]`` as one MVCC transaction (TiDB's record keys and
row format v2, index keys left out as the ingest drops them anyway). The MariaDB side needs
nothing: the harness already reset it to the torn state at E. Pure (simulator and codec only).

The versions go in packed (:meth:`simulator.mvcc.MvccStore.load_packed`), encoded by
:class:`~bench.rto.rowenc.RowEncoder`: the store ends exactly as with one ``write_txn`` per
transaction (same timestamps from the same TSO calls, no locks left), which took 62 s per
million changes (peak 449 MiB); packed it takes 19 s (peak 358 MiB, at 1 M changes).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.undo.model import Handle
from bench.rto.history import Row, RowChange, Txn
from bench.rto.rowenc import RowEncoder
from core.codec.keys import encode_common_handle, encode_record_key
from core.codec.row import encode_row
from core.codec.tableinfo import TableInfo
from simulator.catalog import Catalog
from simulator.mvcc import Mutation, MvccStore, Op, pack_version
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

    Call it before the fake TiKV serves feeds: the bulk load reports nothing to observers.
    Commit ts come from the store's TSO, not from the history's own numbering, two per
    transaction as ``write_txn`` takes them (rows at T in transactions of
    :data:`LOAD_TXN_ROWS`); the order and grouping of transactions is kept.
    """
    infos = tuple(catalog.add_table(t) for t in tables)
    encoders = [RowEncoder(t, info) for t, info in zip(tables, infos, strict=True)]
    tso = store.tso
    acc: dict[bytes, bytearray] = {}
    put, delete = Op.PUT, Op.DELETE
    for enc, rows in zip(encoders, rows_at_t, strict=True):
        for n, (handle, row) in enumerate(rows.items()):
            if n % LOAD_TXN_ROWS == 0:
                start_ts, commit_ts = tso.next(), tso.next()
            acc[enc.key(handle, row)] = bytearray(
                pack_version(start_ts, commit_ts, put, enc.value(row))
            )
    t_ts = tso.next()
    last = t_ts
    n_txns = 0
    for txn in txns:
        if not txn.changes:
            continue
        start_ts, last = tso.next(), tso.next()
        n_txns += 1
        for c in txn.changes:
            enc = encoders[c.table]
            if c.new is None:
                assert c.old is not None
                packed = pack_version(start_ts, last, delete, b"")
                key = enc.key(c.handle, c.old)
            else:
                packed = pack_version(start_ts, last, put, enc.value(c.new))
                key = enc.key(c.handle, c.new)
            blob = acc.get(key)
            if blob is None:
                acc[key] = bytearray(packed)
            else:
                blob += packed
    store.load_packed((k, bytes(acc.pop(k))) for k in list(acc))
    return SeededWindow(t_ts, last, infos, n_txns)
