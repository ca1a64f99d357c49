from __future__ import annotations

import bisect
from pathlib import Path

from app.stages.scan import chunks, iter_range, seq_totals, table_ids_in
from core.codec.keys import encode_record_key


class SortedStore:
    """The slice of rocksdict's API the scanner uses, over a sorted dict."""

    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data = dict(sorted(data.items()))
        self.seeks = 0

    def _keys_from(self, start: bytes) -> list[bytes]:
        self.seeks += 1
        keys = list(self.data)
        return keys[bisect.bisect_left(keys, start) :]

    def keys(self, from_key: bytes) -> list[bytes]:
        return self._keys_from(from_key)

    def items(self, from_key: bytes) -> list[tuple[bytes, bytes]]:
        return [(k, self.data[k]) for k in self._keys_from(from_key)]


def _store() -> SortedStore:
    data = {encode_record_key(t, h): b"v" for t in (5, 300, 301) for h in range(-3, 50)}
    data[b"__faust\x00offset__"] = b"7"
    return SortedStore(data)


def test_table_ids_one_seek_per_table() -> None:
    store = _store()
    assert table_ids_in(store) == [5, 300, 301]
    assert store.seeks == 4  # three tables and the seek past the last
    assert table_ids_in(SortedStore({b"__faust\x00offset__": b"1"})) == []


def test_iter_range_stays_inside_one_table() -> None:
    store = _store()
    got = [k for k, _ in iter_range(store, encode_record_key(300, -3), encode_record_key(301, -3))]
    assert got == [encode_record_key(300, h) for h in range(-3, 50)]


def test_chunks() -> None:
    items = [(bytes([i]), b"") for i in range(7)]
    assert [len(c) for c in chunks(items, 3)] == [3, 3, 1]
    assert [x for c in chunks(items, 3) for x in c] == items
    assert list(chunks([], 3)) == []


def test_seq_totals_counts_distinct_batches() -> None:
    store = SortedStore(
        {
            b"seq/%020d" % 1: b"10",
            b"seq/%020d" % 2: b"5",
            b"dead": b"3",
            b"wm": b"99",
            b"started": b"1",
        }
    )
    assert seq_totals(store) == (2, 15)


def test_on_a_real_rocksdb(tmp_path: Path) -> None:
    from rocksdict import Options, Rdict

    db = Rdict(str(tmp_path / "db"), options=Options(raw_mode=True))
    try:
        for k, v in _store().data.items():
            db[k] = v
        assert table_ids_in(db) == [5, 300, 301]
        assert len(list(iter_range(db, encode_record_key(5, -3), encode_record_key(6, 0)))) == 53
    finally:
        db.close()
