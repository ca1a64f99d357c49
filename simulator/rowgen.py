"""Seeded random column values in the codec's Python types, safe for both MariaDB and TiDB.

Values are drawn so that MariaDB stores and returns exactly what TiDB would encode: FLOATs
with at most six significant digits and exact in float32 (MariaDB prints FLOAT with six),
BINARY(n) values of exactly n bytes (both pad), no trailing spaces (PAD SPACE collations and
CHAR trimming), fractional seconds already cut to the column's fsp, TIMESTAMPs inside
1970..2038 UTC, no zero dates. Pure.
"""

from __future__ import annotations

import datetime as _dt
import random
from decimal import Decimal
from typing import Any, Final

from core.codec import mysqldef as m
from core.codec.jsonbin import JSON_NULL, JsonUint, json_to_text
from core.codec.mytime import MyTime
from simulator.tabledef import ColumnDef, TableDef

__all__ = ["int_range", "random_row", "random_text", "random_value", "to_sql_param"]

_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 _-'\"\\%éßøΩж中文字😀🚀"
_INT_BITS: Final = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}
_TS_MIN: Final = _dt.datetime(1970, 1, 2, tzinfo=_dt.UTC)
_TS_SPAN_S: Final = int((_dt.datetime(2038, 1, 18, tzinfo=_dt.UTC) - _TS_MIN).total_seconds())
_MAX_TIME_S: Final = 838 * 3600 + 59 * 60 + 59
_TIME_TP: Final = {"date": m.TYPE_DATE, "datetime": m.TYPE_DATETIME, "timestamp": m.TYPE_TIMESTAMP}


def int_range(col: ColumnDef) -> tuple[int, int]:
    """Inclusive value range of an integer column."""
    bits = _INT_BITS[col.kind]
    if col.unsigned:
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def random_text(rng: random.Random, max_chars: int) -> str:
    """Text of 0..max_chars characters (utf8mb4 included), never ending in a space."""
    n = rng.randint(0, max_chars)
    s = "".join(rng.choice(_ALPHABET) for _ in range(n))
    return s.rstrip(" ")


def _int(rng: random.Random, col: ColumnDef) -> int:
    lo, hi = int_range(col)
    r = rng.random()
    if r < 0.1:
        return rng.choice((lo, hi, 0, 1, max(lo, -1)))
    if r < 0.5:
        return rng.randint(max(lo, -1000), min(hi, 1000))
    return rng.randint(lo, hi)


def _decimal(rng: random.Random, col: ColumnDef) -> Decimal:
    prec = col.length or 10
    scale = col.scale
    int_digits = prec - scale
    ip = rng.randint(0, 10 ** rng.randint(0, int_digits) - 1) if int_digits else 0
    fp = rng.randint(0, 10**scale - 1) if scale else 0
    sign = "-" if rng.random() < 0.4 else ""
    text = f"{sign}{ip}" + (f".{fp:0{scale}d}" if scale else "")
    return Decimal(text)


def _frac(rng: random.Random, fsp: int) -> int:
    if fsp <= 0:
        return 0
    unit: int = 10 ** (6 - fsp)
    return rng.randint(0, 10**fsp - 1) * unit


def _time(rng: random.Random, col: ColumnDef) -> MyTime:
    tp = _TIME_TP[col.kind]
    if col.kind == "timestamp":
        t = _TS_MIN + _dt.timedelta(seconds=rng.randint(0, _TS_SPAN_S))
        year, month, day = t.year, t.month, t.day
        hh, mi, ss = t.hour, t.minute, t.second
    else:
        d = _dt.date(1000, 1, 1) + _dt.timedelta(days=rng.randint(0, 3_280_000))
        year, month, day = d.year, d.month, d.day
        hh, mi, ss = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    if col.kind == "date":
        return MyTime(year, month, day, tp=tp, fsp=0)
    return MyTime(year, month, day, hh, mi, ss, _frac(rng, col.scale), tp=tp, fsp=col.scale)


def _duration(rng: random.Random, col: ColumnDef) -> _dt.timedelta:
    secs = rng.randint(-_MAX_TIME_S, _MAX_TIME_S)
    micros = _frac(rng, col.scale) if abs(secs) < _MAX_TIME_S else 0
    sign = -1 if secs < 0 else 1
    return sign * _dt.timedelta(seconds=abs(secs), microseconds=micros)


def _json(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth < 3 and r < 0.35:
        return {random_text(rng, 6) or "k": _json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 3 and r < 0.55:
        return [_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if r < 0.65:
        return rng.randint(-(1 << 63), (1 << 63) - 1)
    if r < 0.75:
        return rng.uniform(-1e9, 1e9)
    if r < 0.85:
        return random_text(rng, 12)
    if r < 0.9:
        return JsonUint(rng.choice((0, 1, rng.randint(0, (1 << 64) - 1))))
    if depth == 0:  # the JSON document null, which is not SQL NULL
        return rng.choice((True, False, JSON_NULL))
    return rng.choice((True, False, None))


def random_value(rng: random.Random, col: ColumnDef) -> Any:
    """A non-NULL value for ``col`` (see the module docstring for the constraints)."""
    k = col.kind
    if col.is_int:
        return _int(rng, col)
    if k == "float":
        return rng.randint(-40000, 40000) / 4
    if k == "double":
        return rng.choice(
            (rng.uniform(-1e6, 1e6), rng.uniform(-1, 1) * 10 ** rng.randint(-300, 300))
        )
    if k == "decimal":
        return _decimal(rng, col)
    if k in ("char", "varchar"):
        return random_text(rng, min(col.length or 1, 24))
    if k == "text":
        return random_text(rng, rng.choice((16, 80, 400)))
    if k == "binary":
        return rng.randbytes(col.length or 1)
    if k == "varbinary":
        return rng.randbytes(rng.randint(0, min(col.length or 1, 32)))
    if k == "blob":
        return rng.randbytes(rng.choice((0, 8, 64, 300)))
    if k in _TIME_TP:
        return _time(rng, col)
    if k == "time":
        return _duration(rng, col)
    if k == "year":
        return rng.randint(1901, 2155)
    if k == "enum":
        return rng.choice(col.elems)
    if k == "set":
        return ",".join(e for e in col.elems if rng.random() < 0.5)
    if k == "bit":
        return rng.randint(0, (1 << (col.length or 1)) - 1)
    if k == "json":
        return _json(rng)
    raise ValueError(f"no generator for {k}")


def random_row(rng: random.Random, tdef: TableDef, null_ratio: float = 0.15) -> dict[str, Any]:
    """A full row; nullable non-key columns are NULL with probability ``null_ratio``."""
    keys = {c.lower() for key in tdef.unique_keys() for c in key}
    row: dict[str, Any] = {}
    for col in tdef.columns:
        if col.nullable and col.name.lower() not in keys and rng.random() < null_ratio:
            row[col.name] = None
        else:
            row[col.name] = random_value(rng, col)
    return row


def to_sql_param(col: ColumnDef, value: Any) -> Any:
    """The PyMySQL parameter that makes MariaDB store ``value`` (a codec-typed value)."""
    if value is None:
        return None
    if isinstance(value, MyTime):
        return str(value) if col.kind != "date" else str(value)[:10]
    if isinstance(value, _dt.timedelta):
        total = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
        sign = "-" if total < 0 else ""
        secs, micros = divmod(abs(total), 1_000_000)
        hh, rest = divmod(secs, 3600)
        mi, ss = divmod(rest, 60)
        return f"{sign}{hh:02d}:{mi:02d}:{ss:02d}.{micros:06d}"
    if col.kind == "json":
        # TiDB's own rendering: what TiDB shows for the stored value, so MariaDB (standing in
        # for TiDB) holds the text the undo's exact JSON match compares with
        return json_to_text(value)
    return value
