"""The bulk history is a real history: chained images, one change per key per txn, torn tail."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.rto.config import SIZES, WorkloadSize
from bench.rto.history import (
    FIRST_COMMIT_TS,
    History,
    RowChange,
    generate,
    net_rows,
    rows_at_e,
)
from bench.rto.schema import TABLE_COUNT, bench_tables

SIZE = WorkloadSize("test", changes=20_000, rows=2_000)


@pytest.fixture(scope="module")
def history() -> History:
    return generate(bench_tables("db"), SIZE, seed=3)


def test_schema_kinds() -> None:
    tables = bench_tables("db")
    assert len(tables) == TABLE_COUNT
    assert sum(t.pk_is_handle for t in tables) == 12
    assert [t.name for t in tables if t.is_common_handle] == ["c12", "c13"]
    assert [t.name for t in tables if t.uses_rowid] == ["r14", "r15"]
    assert all(t.db == "db" for t in tables)


def test_seed_decides_everything(history: History) -> None:
    again = generate(bench_tables("db"), SIZE, seed=3)
    assert again.txns == history.txns
    assert again.at_t == history.at_t
    other = generate(bench_tables("db"), SIZE, seed=4)
    assert other.txns != history.txns


def test_counts_and_mix(history: History) -> None:
    assert history.changes == SIZE.changes
    ops = history.op_counts()
    assert sum(ops.values()) == SIZE.changes
    assert ops["update"] / SIZE.changes == pytest.approx(0.70, abs=0.02)
    assert ops["insert"] / SIZE.changes == pytest.approx(0.15, abs=0.02)
    assert ops["delete"] / SIZE.changes == pytest.approx(0.15, abs=0.02)
    assert sum(len(r) for r in history.at_t) == pytest.approx(0.75 * SIZE.rows, abs=16)


def test_transactions(history: History) -> None:
    assert history.txns[0].commit_ts == FIRST_COMMIT_TS
    stamps = [t.commit_ts for t in history.txns]
    assert stamps == sorted(set(stamps))
    for txn in history.txns:
        assert 1 <= len(txn.changes) <= SIZE.txn_changes
        keys = [(c.table, c.handle) for c in txn.changes]
        assert len(keys) == len(set(keys)), "a key changed twice in one transaction"
        assert len({c.table for c in txn.changes}) <= 3


def test_images_chain_per_key(history: History) -> None:
    """Every change's old image is the key's image just before it (at T for the first)."""
    state = [dict(rows) for rows in history.at_t]
    for _, ch in history.iter_changes():
        assert state[ch.table].get(ch.handle) == ch.old
        assert ch.old is not None or ch.new is not None
        assert ch.old != ch.new
        if ch.new is None:
            del state[ch.table][ch.handle]
        else:
            state[ch.table][ch.handle] = ch.new
    assert tuple(state) == rows_at_e(history)


def test_unique_keys_hold_at_e(history: History) -> None:
    tables = history.tables
    for i, rows in enumerate(rows_at_e(history)):
        for key in tables[i].unique_keys():
            idx = [next(n for n, c in enumerate(tables[i].columns) if c.name == k) for k in key]
            values = [tuple(r[j] for j in idx) for r in rows.values()]
            assert len(values) == len(set(values)), f"{tables[i].name} {key}"


def test_handles_follow_the_key(history: History) -> None:
    tables = history.tables
    seen_rowids: dict[int, list[int]] = {}
    for _, ch in history.iter_changes():
        t = tables[ch.table]
        image = ch.new if ch.new is not None else ch.old
        assert image is not None
        assert len(image) == len(t.columns)
        if t.pk_is_handle:
            assert ch.handle == image[0]
        elif t.is_common_handle:
            assert ch.handle == tuple(image[: len(t.primary_key)])
        elif ch.old is None:
            seen_rowids.setdefault(ch.table, []).append(int(str(ch.handle)))
    for rowids in seen_rowids.values():
        assert rowids == sorted(rowids) and len(set(rowids)) == len(rowids)


def test_torn_tail(history: History) -> None:
    torn = history.torn
    assert torn.commit_ts == history.txns[-1].commit_ts
    assert torn.applied and torn.dropped
    assert not set(torn.applied) & set(torn.dropped)
    touched = {history.tables[c.table].name for c in history.txns[-1].changes}
    assert touched <= set(torn.applied)


def test_net_rows_are_the_two_ends(history: History) -> None:
    at_e = rows_at_e(history)
    changed: Counter[tuple[int, object]] = Counter(
        (c.table, c.handle) for _, c in history.iter_changes()
    )
    net = net_rows(history)
    assert sum(len(r) for r in net) == len(changed)
    for i, rows in enumerate(net):
        for r in rows:
            assert r.t_image == history.at_t[i].get(r.handle)
            assert r.e_image == at_e[i].get(r.handle)
            assert r.first_commit_ts <= r.last_commit_ts


def test_hot_keeps_the_keys() -> None:
    """10x the changes touch about the same keys (only _tidb_rowid inserts add keys)."""
    tables = bench_tables("db")
    five_to_one = WorkloadSize("t", changes=10_000, rows=2_000)  # the ratio of small and full
    base = generate(tables, five_to_one, seed=5)
    hot = generate(tables, five_to_one.scaled(10), seed=5)
    assert hot.changes == 10 * base.changes
    keys_base = sum(len(r) for r in net_rows(base))
    keys_hot = sum(len(r) for r in net_rows(hot))
    assert keys_base <= keys_hot <= 1.12 * keys_base


def test_single_change_records_are_values() -> None:
    a = RowChange(0, 1, None, (1, 2, "x", None, None))
    assert a == RowChange(0, 1, None, (1, 2, "x", None, None))
    with pytest.raises(AttributeError):
        a.table = 2  # type: ignore[misc]


def test_sizes_validate() -> None:
    for size in SIZES.values():
        size.validate()
    with pytest.raises(ValueError, match="rows"):
        WorkloadSize("bad", changes=10, rows=3).validate()
    with pytest.raises(ValueError, match="ratio"):
        WorkloadSize("bad", changes=10, rows=100, update_ratio=0.9, insert_ratio=0.2).validate()
