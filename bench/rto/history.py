"""The benchmark's history, generated in bulk in memory: rows at T, changes in (T, E], torn tail.

``simulator.workload.Workload`` drives MariaDB and the MVCC store statement by statement, which
is right for tests and far too slow for a million changes (one round trip per row). This module
draws the same kind of history without touching any server — 70 % updates, 15 % inserts, 15 %
deletes, ``txn_changes`` changes per transaction over 1..3 tables, a last transaction torn (only
some of its tables applied) — and keeps every change with its old and new image, which is what
TiKV's change feed with old values gives tiundo's compaction and what a row binlog gives
binlog2sql. MariaDB is then loaded straight with the rows at T (the reference) and at E (the
torn state every run starts from); :mod:`bench.rto.db` does that in bulk.

Like TiDB, a transaction writes one change per row key: a key is never touched twice in one
transaction (so the per-event replay and the per-key feed see the same changes). Primary keys
are never updated in place (a PK change is a delete plus an insert of two keys anyway).
``_tidb_rowid`` tables allocate a fresh row id per insert, increasing, as TiDB does.

Images are tuples in table column order (cheap to keep a million of); values are in the
codec's Python types (int, str, Decimal, :class:`~core.codec.mytime.MyTime`), so the same
images can be TiDB-encoded for the fake cluster or bound as SQL parameters. Seeded: the same
size and seed give the same history. Pure (stdlib, the codec's types, table definitions).
"""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from app.undo.model import Handle
from bench.rto.config import WorkloadSize
from core.codec.mysqldef import TYPE_DATETIME
from core.codec.mytime import MyTime
from simulator.tabledef import TableDef

__all__ = [
    "FIRST_COMMIT_TS",
    "History",
    "NetRow",
    "Row",
    "RowChange",
    "TornTail",
    "Txn",
    "generate",
    "net_rows",
    "no_gc",
    "rows_at_e",
]

Row = tuple[object, ...]
"""One row image: values in table column order."""

T_TS: Final = 1 << 40
"""T of the generated history; commit ts of transaction ``i`` is ``T_TS + 2 * (i + 1)``."""
FIRST_COMMIT_TS: Final = T_TS + 2

_NULL_RATIO: Final = 0.10
ROWID_CHURN: Final = 0.1
"""Inserts and deletes on ``_tidb_rowid`` tables, relative to the others. Every insert there
allocates a new row id, i.e. a new key: at the full mix the ``hot`` workload (10x the changes
on the same rows) would nearly double its distinct keys. The other tables take the difference,
so the overall mix stays at the size's ratios."""


@dataclass(frozen=True, slots=True)
class RowChange:
    """One change of one row key: ``old`` is None for an insert, ``new`` None for a delete."""

    table: int
    """Index into :attr:`History.tables`."""
    handle: Handle
    old: Row | None
    new: Row | None

    def __reduce__(self) -> tuple[type[RowChange], tuple[object, ...]]:
        # a slots dataclass pickles through Python-level ``__getstate__`` (~5x slower)
        return RowChange, (self.table, self.handle, self.old, self.new)


@dataclass(frozen=True, slots=True)
class Txn:
    """One committed transaction; its ``start_ts`` is ``commit_ts - 1``."""

    commit_ts: int
    changes: tuple[RowChange, ...]

    def __reduce__(self) -> tuple[type[Txn], tuple[object, ...]]:
        return Txn, (self.commit_ts, self.changes)


@dataclass(frozen=True, slots=True)
class TornTail:
    """The last transaction: only ``applied`` tables' changes reached the downstream."""

    commit_ts: int
    applied: tuple[str, ...]
    dropped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NetRow:
    """A changed row key folded to its two ends, as tiundo's compaction keeps it."""

    handle: Handle
    t_image: Row | None
    e_image: Row | None
    first_commit_ts: int
    last_commit_ts: int

    def __reduce__(self) -> tuple[type[NetRow], tuple[object, ...]]:
        return NetRow, (
            self.handle,
            self.t_image,
            self.e_image,
            self.first_commit_ts,
            self.last_commit_ts,
        )


@dataclass(frozen=True, slots=True)
class History:
    """Rows at T per table (handle → image) and the transactions of ``(T, E]``, oldest first."""

    tables: tuple[TableDef, ...]
    size: WorkloadSize
    seed: int
    t_ts: int
    at_t: tuple[dict[Handle, Row], ...]
    txns: tuple[Txn, ...]
    torn: TornTail

    @property
    def changes(self) -> int:
        """Changes in the window (the torn tail's applied part included)."""
        return sum(len(t.changes) for t in self.txns)

    @property
    def e_ts(self) -> int:
        """Commit ts of the last transaction (E can be taken any time after it)."""
        return self.txns[-1].commit_ts if self.txns else self.t_ts

    def op_counts(self) -> dict[str, int]:
        """Inserts, updates and deletes in the window."""
        n = {"insert": 0, "update": 0, "delete": 0}
        for _, ch in self.iter_changes():
            n["insert" if ch.old is None else "delete" if ch.new is None else "update"] += 1
        return n

    def iter_changes(self) -> Iterator[tuple[int, RowChange]]:
        """``(commit_ts, change)`` oldest first."""
        for txn in self.txns:
            for ch in txn.changes:
                yield txn.commit_ts, ch


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC: millions of young tuples otherwise trigger it over and over
    (it doubles the generation time) while none of them can form a cycle."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# ---- values ---------------------------------------------------------------------------------
class _Values:
    """Fast seeded values for the payload columns ``a INT, b VARCHAR(64), c DECIMAL(12,2),
    d DATETIME``; a NOT NULL ``a`` for the table that indexes it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def a(self, nullable: bool = True) -> int | None:
        rng = self.rng
        if nullable and rng.random() < _NULL_RATIO:
            return None
        return rng.randrange(-(1 << 31), 1 << 31)

    def b(self) -> str | None:
        rng = self.rng
        if rng.random() < _NULL_RATIO:
            return None
        n = rng.randrange(4, 48)
        return f"{rng.getrandbits(4 * n):0{n}x}"

    def c(self) -> Decimal | None:
        rng = self.rng
        if rng.random() < _NULL_RATIO:
            return None
        return Decimal(rng.randrange(-(10**11), 10**11)).scaleb(-2)

    def d(self) -> MyTime | None:
        rng = self.rng
        if rng.random() < _NULL_RATIO:
            return None
        s = rng.getrandbits(32)
        return MyTime(
            2000 + s % 30,
            1 + (s >> 5) % 12,
            1 + (s >> 9) % 28,
            (s >> 14) % 24,
            (s >> 19) % 60,
            (s >> 25) % 60,
            0,
            TYPE_DATETIME,
            0,
        )


# ---- per-table state ------------------------------------------------------------------------
class _Table:
    """Slots of one table: which hold a row, the row, and how a slot maps to a handle."""

    def __init__(self, index: int, tdef: TableDef, slots: int) -> None:
        self.index = index
        self.tdef = tdef
        self.kind = tdef.name[0]  # t: int PK, c: clustered, r: _tidb_rowid
        self.key_width = len(tdef.columns) - 4
        self.rows: list[Row | None] = [None] * slots
        self.rowid: list[int] = [0] * slots
        self.next_rowid = 1
        self.present: list[int] = []
        self.absent: list[int] = list(range(slots))
        self.pos: list[int] = list(range(slots))  # index in present or absent
        self.is_present: list[bool] = [False] * slots

    def key_values(self, slot: int) -> tuple[object, ...]:
        name = self.tdef.name
        if self.kind == "t":
            return (slot + 1,)
        if name == "c12":
            return (f"k{slot * 7919 % 1_000_003:07d}-{slot}",)
        if name == "c13":
            return (f"g{slot // 8:06d}", slot % 8)
        if name == "r14":
            return (slot + 1,)
        return ()

    def handle(self, slot: int) -> Handle:
        if self.kind == "t":
            return slot + 1
        if self.kind == "c":
            return self.key_values(slot)
        return self.rowid[slot]

    def _move(self, slot: int, src: list[int], dst: list[int]) -> None:
        i = self.pos[slot]
        last = src.pop()
        if last != slot:
            src[i] = last
            self.pos[last] = i
        self.pos[slot] = len(dst)
        dst.append(slot)

    def set_present(self, slot: int) -> None:
        self._move(slot, self.absent, self.present)
        self.is_present[slot] = True

    def set_absent(self, slot: int) -> None:
        self._move(slot, self.present, self.absent)
        self.is_present[slot] = False


def _new_row(t: _Table, slot: int, v: _Values) -> Row:
    keys = t.key_values(slot)
    if t.tdef.name == "r15":
        return (v.a(nullable=False), v.b(), v.c(), v.d())
    return (*keys, v.a(), v.b(), v.c(), v.d())


def _updated(t: _Table, old: Row, v: _Values, rng: random.Random) -> Row:
    new = list(old)
    w = t.key_width
    for col in rng.sample(range(4), rng.choice((1, 1, 2))):
        if col == 0:
            new[w] = v.a(nullable=t.tdef.name != "r15")
        elif col == 1:
            new[w + 1] = v.b()
        elif col == 2:
            new[w + 2] = v.c()
        else:
            new[w + 3] = v.d()
    out = tuple(new)
    while out == old:  # every redrawn value came out the same (NULL → NULL): change ``b``
        new[w + 1] = f"x{rng.getrandbits(32):08x}"
        out = tuple(new)
    return out


class _Generator:
    def __init__(self, tables: Sequence[TableDef], size: WorkloadSize, seed: int) -> None:
        self.rng = random.Random(seed)
        self.v = _Values(self.rng)
        self.size = size
        n = len(tables)
        per = [size.rows // n + (1 if i < size.rows % n else 0) for i in range(n)]
        self.tables = [_Table(i, td, per[i]) for i, td in enumerate(tables)]
        # (update, insert) ratios for other tables [False] and _tidb_rowid tables [True]
        rowid = sum(t.kind == "r" for t in self.tables) / n
        churn = 1 - size.update_ratio
        low = churn * ROWID_CHURN
        high = min(1.0, (churn - rowid * low) / (1 - rowid)) if rowid < 1 else churn
        split = size.insert_ratio / churn if churn else 0.5
        self.mix = {False: (1 - high, high * split), True: (1 - low, low * split)}

    def load(self) -> tuple[dict[Handle, Row], ...]:
        rng = self.rng
        for t in self.tables:
            slots = len(t.rows)
            for slot in rng.sample(range(slots), round(slots * self.size.occupancy)):
                self._insert(t, slot)
        return tuple(
            {t.handle(s): row for s, row in enumerate(t.rows) if row is not None}
            for t in self.tables
        )

    def _insert(self, t: _Table, slot: int) -> RowChange:
        row = _new_row(t, slot, self.v)
        if t.kind == "r":
            t.rowid[slot] = t.next_rowid
            t.next_rowid += 1
        t.rows[slot] = row
        t.set_present(slot)
        return RowChange(t.index, t.handle(slot), None, row)

    def _one(self, t: _Table, touched: set[tuple[int, int]]) -> RowChange | None:
        rng = self.rng
        r = rng.random()
        upd, ins = self.mix[t.kind == "r"]
        want_insert = upd <= r < upd + ins
        if not t.present:
            want_insert = True
        elif not t.absent:
            want_insert = False
        pool = t.absent if want_insert else t.present
        for _ in range(4):
            slot = pool[rng.randrange(len(pool))]
            if (t.index, slot) not in touched:
                break
        else:
            return None
        touched.add((t.index, slot))
        if want_insert:
            return self._insert(t, slot)
        old = t.rows[slot]
        assert old is not None
        handle = t.handle(slot)
        if r < upd:
            new = _updated(t, old, self.v, rng)
            t.rows[slot] = new
            return RowChange(t.index, handle, old, new)
        t.rows[slot] = None
        t.set_absent(slot)
        return RowChange(t.index, handle, old, None)

    def txn_tables(self, least: int = 1) -> list[_Table]:
        rng = self.rng
        k = max(least, rng.choice((1, 1, 2, 3)))
        return rng.sample(self.tables, k)

    def txn(self, tables: Sequence[_Table], n: int) -> list[RowChange]:
        touched: set[tuple[int, int]] = set()
        out: list[RowChange] = []
        for i in range(n):
            # every chosen table gets at least one change, the rest at random
            t = tables[i] if i < len(tables) else tables[self.rng.randrange(len(tables))]
            ch = self._one(t, touched)
            if ch is not None:
                out.append(ch)
        return out


def generate(tables: Sequence[TableDef], size: WorkloadSize, seed: int) -> History:
    """Draw a history over ``tables`` (see the module docstring); deterministic in ``seed``."""
    size.validate()
    if size.txn_changes < 2:
        raise ValueError("txn_changes must be >= 2 for a torn tail over two tables")
    with no_gc():
        return _generate(tables, size, seed)


def _generate(tables: Sequence[TableDef], size: WorkloadSize, seed: int) -> History:
    gen = _Generator(tables, size, seed)
    at_t = gen.load()
    txns: list[Txn] = []
    left = size.changes
    ts = FIRST_COMMIT_TS
    while left > size.txn_changes:
        changes = gen.txn(gen.txn_tables(), size.txn_changes)
        if changes:
            txns.append(Txn(ts, tuple(changes)))
            ts += 2
            left -= len(changes)
    # the torn tail: a transaction over two or more tables of which only some tables landed
    chosen = gen.txn_tables(least=2)
    keep = chosen[: gen.rng.randrange(1, len(chosen))]
    changes = gen.txn(keep, max(left, len(keep)))
    txns.append(Txn(ts, tuple(changes)))
    torn = TornTail(
        ts,
        tuple(sorted(t.tdef.name for t in keep)),
        tuple(sorted(t.tdef.name for t in chosen if t not in keep)),
    )
    return History(tuple(tables), size, seed, T_TS, at_t, tuple(txns), torn)


def rows_at_e(history: History) -> tuple[dict[Handle, Row], ...]:
    """Rows at E per table: the rows at T with every change applied (the torn state)."""
    state = tuple(dict(rows) for rows in history.at_t)
    for _, ch in history.iter_changes():
        rows = state[ch.table]
        if ch.new is None:
            del rows[ch.handle]
        else:
            rows[ch.handle] = ch.new
    return state


def net_rows(history: History) -> tuple[list[NetRow], ...]:
    """Per table, every changed key folded to (image at T, image at E), in first-change order.

    The same fold as :func:`app.undo.merge.combine` on already-decoded images: the earliest
    change's old image and the latest change's new image.
    """
    with no_gc():
        return _net_rows(history)


def _net_rows(history: History) -> tuple[list[NetRow], ...]:
    first: list[dict[Handle, tuple[Row | None, int]]] = [{} for _ in history.tables]
    last: list[dict[Handle, tuple[Row | None, int]]] = [{} for _ in history.tables]
    for ts, ch in history.iter_changes():
        f = first[ch.table]
        if ch.handle not in f:
            f[ch.handle] = (ch.old, ts)
        last[ch.table][ch.handle] = (ch.new, ts)
    out: tuple[list[NetRow], ...] = tuple([] for _ in history.tables)
    for i, f in enumerate(first):
        lt = last[i]
        for handle, (old, first_ts) in f.items():
            new, last_ts = lt[handle]
            out[i].append(NetRow(handle, old, new, first_ts, last_ts))
    return out
