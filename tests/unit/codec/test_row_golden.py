"""Rows written by upstream encoders decode to the expected values, and we re-encode the bytes.

The vectors and their sources are in tests/data/codec/golden_rows.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.codec import mytime
from core.codec.jsonbin import json_to_text
from core.codec.row import decode_row, encode_row
from core.codec.tableinfo import ColumnInfo, FieldType, TableInfo

GOLDEN = json.loads((Path(__file__).parents[2] / "data/codec/golden_rows.json").read_text())


def _table(case: dict[str, Any]) -> TableInfo:
    cols = []
    defaults = case.get("null_default", {})
    for off, (cid, name, tp, flag, flen, dec) in enumerate(case["columns"]):
        text = tp in (15, 254, 252)
        ft = FieldType(
            tp=tp,
            flag=flag,
            flen=flen,
            decimal=dec,
            charset="utf8mb4" if text else "binary",
            collate="utf8mb4_bin" if text else "binary",
        )
        cols.append(ColumnInfo(id=cid, name=name, offset=off, type=ft, default=defaults.get(name)))
    return TableInfo(id=1, name="t", columns=tuple(cols))


def _render(v: Any) -> Any:
    if isinstance(v, mytime.MyTime):
        return str(v)
    if isinstance(v, dict):
        return json_to_text(v)
    if hasattr(v, "total_seconds"):
        return str(v)
    if type(v).__name__ == "Decimal":
        return str(v)
    return v


@pytest.mark.parametrize("case", GOLDEN["rows"], ids=lambda c: c["source"].rsplit(" ", 1)[-1])
def test_golden_row_decodes(case: dict[str, Any]) -> None:
    t = _table(case)
    row = decode_row(bytes.fromhex(case["hex"]), t, 1)
    assert row is not None
    assert {k: _render(v) for k, v in row.items()} == case["expect"]


@pytest.mark.parametrize("case", GOLDEN["rows"], ids=lambda c: c["source"].rsplit(" ", 1)[-1])
def test_golden_row_reencodes_byte_exact(case: dict[str, Any]) -> None:
    t = _table(case)
    raw = bytes.fromhex(case["hex"])
    row = decode_row(raw, t, 1)
    assert row is not None
    assert encode_row(t, row).hex() == case["hex"]


@pytest.mark.parametrize("case", GOLDEN["packed_times"], ids=lambda c: c["text"])
def test_golden_packed_time(case: dict[str, Any]) -> None:
    t = mytime.unpack_time(case["packed"], case["tp"], case["fsp"])
    assert str(t) == case["text"]
    assert mytime.pack_time(t) == case["packed"]
