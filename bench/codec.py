"""Decode throughput of core.codec.row.decode_row, in rows/s (median of several runs).

Run: .venv/bin/python bench/codec.py [--runs 7] [--rows 20000]
Target: >= 100k rows/s for the 8-column row on one core.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC
from decimal import Decimal
from typing import Any

from core.codec import mysqldef as m
from core.codec.mytime import MyTime
from core.codec.row import decode_row, encode_row
from core.codec.tableinfo import ColumnInfo, FieldType, TableInfo


def _col(cid: int, ft: FieldType) -> ColumnInfo:
    return ColumnInfo(id=cid, name=f"c{cid}", offset=cid - 1, type=ft)


PK = FieldType(m.TYPE_LONGLONG, flag=m.NOT_NULL_FLAG | m.PRI_KEY_FLAG)
TYPES_8 = [
    PK,
    FieldType(m.TYPE_LONG),
    FieldType(m.TYPE_LONGLONG),
    FieldType(m.TYPE_VARCHAR, flen=64, charset="utf8mb4", collate="utf8mb4_bin"),
    FieldType(m.TYPE_DATETIME, decimal=0),
    FieldType(m.TYPE_NEWDECIMAL, flen=12, decimal=2),
    FieldType(m.TYPE_BLOB, charset="utf8mb4", collate="utf8mb4_bin"),  # nullable TEXT
    FieldType(m.TYPE_TINY),
]


def _value(ft: FieldType, i: int) -> Any:
    if ft.tp in m.INT_TYPES:
        return i % 100
    if ft.tp == m.TYPE_VARCHAR:
        return f"name-{i}-ü"
    if ft.tp == m.TYPE_DATETIME:
        return MyTime(2024, 5, 17, 12, 30, i % 60, 0, m.TYPE_DATETIME, 0)
    if ft.tp == m.TYPE_NEWDECIMAL:
        return Decimal("12345.67")
    if ft.tp == m.TYPE_BLOB:
        return None if i % 2 else "some text"
    raise AssertionError(ft)


def build(types: list[FieldType]) -> tuple[TableInfo, dict[str, Any]]:
    t = TableInfo(
        id=100,
        name="b",
        columns=tuple(_col(i + 1, ft) for i, ft in enumerate(types)),
        pk_is_handle=True,
    )
    row = {f"c{i + 1}": _value(ft, 2) for i, ft in enumerate(types)}
    row["c1"] = 12345
    # a TEXT with a non-NULL value so the column is decoded, not just filled
    return t, row


def bench(name: str, types: list[FieldType], rows: int, runs: int) -> float:
    t, row = build(types)
    value = encode_row(t, row)
    assert decode_row(value, t, 12345, UTC) == row
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(rows):
            decode_row(value, t, 12345, UTC)
        rates.append(rows / (time.perf_counter() - start))
    med = statistics.median(rates)
    print(f"{name:>14}: {med:>10,.0f} rows/s  (median of {runs}; {len(value)} bytes/row)")
    return med


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--rows", type=int, default=20000)
    a = ap.parse_args()
    bench("8 columns", TYPES_8, a.rows, a.runs)
    bench("40 columns", (TYPES_8 * 5)[:1] + (TYPES_8[1:] * 6)[:39], a.rows // 4, a.runs)


if __name__ == "__main__":
    main()
