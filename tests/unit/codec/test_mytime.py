"""Time codecs, anchored to upstream vectors in tests/data/codec/leaf/time.json."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.codec.errors import CorruptValueError
from core.codec.mytime import (
    MAX_TIME_NS,
    TYPE_DATE,
    TYPE_DATETIME,
    TYPE_TIMESTAMP,
    MyTime,
    core_time_to_mytime,
    duration_from_ns,
    duration_to_ns,
    format_duration,
    mytime_to_core_time,
    pack_time,
    timestamp_from_utc,
    timestamp_to_utc,
    unpack_time,
)

DATA = json.loads(
    (Path(__file__).parents[2] / "data" / "codec" / "leaf" / "time.json").read_text("utf-8")
)


def _packed(case: dict[str, Any]) -> int:
    if "packed" in case:
        return int(case["packed"])
    return int.from_bytes(bytes.fromhex(case["packed_le_hex"]), "little")


@pytest.mark.parametrize("case", DATA["packed"], ids=lambda c: c["text"])
def test_unpack_upstream_vectors(case: dict[str, Any]) -> None:
    t = unpack_time(_packed(case), case["tp"], case["fsp"])
    fields = [t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond]
    assert fields == case["fields"]
    assert (t.tp, t.fsp) == (case["tp"], case["fsp"])
    assert str(t) == case["text"]


@pytest.mark.parametrize("case", DATA["packed"], ids=lambda c: c["text"])
def test_pack_upstream_vectors(case: dict[str, Any]) -> None:
    t = MyTime(*case["fields"], tp=case["tp"], fsp=case["fsp"])
    assert pack_time(t) == _packed(case)


@pytest.mark.parametrize("case", DATA["duration"], ids=lambda c: c["text"])
def test_duration_vectors(case: dict[str, Any]) -> None:
    td = duration_from_ns(case["ns"])
    assert format_duration(td, case["fsp"]) == case["text"]
    assert duration_to_ns(td) == case["ns"]
    if "v2_le_hex" in case:
        assert int.from_bytes(bytes.fromhex(case["v2_le_hex"]), "little", signed=True) == case["ns"]


@pytest.mark.parametrize("case", DATA["render"], ids=lambda c: c["text"])
def test_render_vectors(case: dict[str, Any]) -> None:
    assert str(MyTime(*case["fields"], tp=case["tp"], fsp=case["fsp"])) == case["text"]


@pytest.mark.parametrize(
    ("fsp", "text"),
    [
        (0, "2020-02-29 23:59:58"),
        (1, "2020-02-29 23:59:58.1"),
        (2, "2020-02-29 23:59:58.12"),
        (3, "2020-02-29 23:59:58.123"),
        (4, "2020-02-29 23:59:58.1234"),
        (5, "2020-02-29 23:59:58.12345"),
        (6, "2020-02-29 23:59:58.123456"),
    ],
)
def test_fsp_rendering_truncates_stored_micros(fsp: int, text: str) -> None:
    t = MyTime(2020, 2, 29, 23, 59, 58, 123456, TYPE_DATETIME, fsp)
    assert str(t) == text
    assert unpack_time(pack_time(t), TYPE_DATETIME, fsp) == t


def test_zero_date_and_zero_in_date() -> None:
    zero = unpack_time(0, TYPE_DATE, 0)
    assert str(zero) == "0000-00-00" and zero.is_zero()
    with pytest.raises(ValueError):
        zero.to_python()
    partial = MyTime(2020, 0, 0, tp=TYPE_DATE)
    assert str(partial) == "2020-00-00" and not partial.is_zero()
    assert unpack_time(pack_time(partial), TYPE_DATE, 0) == partial
    with pytest.raises(ValueError):
        partial.to_python()
    assert str(unpack_time(0, TYPE_DATETIME, 3)) == "0000-00-00 00:00:00.000"


def test_to_python_and_from_python() -> None:
    t = MyTime(2011, 11, 10, 11, 11, 11, 999999, TYPE_DATETIME, 6)
    assert t.to_python() == dt.datetime(2011, 11, 10, 11, 11, 11, 999999)  # noqa: DTZ001
    assert MyTime.from_python(t.to_python()) == t
    d = MyTime.from_python(dt.date(2024, 2, 29))
    assert (d.tp, d.fsp, str(d)) == (TYPE_DATE, 0, "2024-02-29")
    assert d.to_python() == dt.date(2024, 2, 29)
    # Rounding to a smaller fsp carries into the seconds, like TiDB's RoundFrac (half up).
    r = MyTime.from_python(dt.datetime(1999, 12, 31, 23, 59, 59, 999500), fsp=3)  # noqa: DTZ001
    assert str(r) == "2000-01-01 00:00:00.000"
    with pytest.raises(ValueError):
        MyTime.from_python(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))


def test_timestamp_zone_conversion() -> None:
    stored = unpack_time(1840446893366133311, TYPE_TIMESTAMP, 6)
    shanghai = ZoneInfo("Asia/Shanghai")
    local = timestamp_from_utc(stored, shanghai)
    assert str(local) == "2011-11-10 19:11:11.999999"
    assert timestamp_to_utc(local, shanghai) == stored
    zero = unpack_time(0, TYPE_TIMESTAMP, 0)
    assert timestamp_from_utc(zero, shanghai) is zero
    assert timestamp_to_utc(zero, shanghai) is zero


def test_timestamp_dst_fall_back_takes_first_occurrence() -> None:
    ny = ZoneInfo("America/New_York")
    # 2021-11-07 01:30 happens twice in New York; TiDB takes the first one (EDT, UTC-4).
    wall = MyTime(2021, 11, 7, 1, 30, 0, 0, TYPE_TIMESTAMP, 0)
    assert str(timestamp_to_utc(wall, ny)) == "2021-11-07 05:30:00"


def test_timestamp_with_zero_in_date_is_rejected() -> None:
    with pytest.raises(CorruptValueError):
        timestamp_from_utc(MyTime(2020, 0, 1, tp=TYPE_TIMESTAMP), dt.UTC)


@pytest.mark.parametrize(
    "packed",
    [
        (24 << 36) | 1 << 41,  # hour 24
        (60 << 30) | 1 << 41,  # minute 60
        (60 << 24) | 1 << 41,  # second 60
        1_000_000 | 1 << 41,  # microsecond 1e6
        ((10000 * 13 + 1) << 46),  # year 10000
        1 << 63,  # top bit
        1 << 64,  # beyond u64
        -1,
    ],
)
def test_impossible_packed_time(packed: int) -> None:
    with pytest.raises(CorruptValueError):
        unpack_time(packed, TYPE_DATETIME, 0)


def test_negative_and_extreme_time() -> None:
    td = duration_from_ns(-MAX_TIME_NS)
    assert format_duration(td, 6) == "-838:59:59.000000"
    assert format_duration(td, 0) == "-838:59:59"
    assert format_duration(duration_from_ns(-1_500_000), 3) == "-00:00:00.001"
    assert duration_to_ns(duration_from_ns(-1_500_000)) == -1_500_000
    with pytest.raises(CorruptValueError):
        duration_from_ns(MAX_TIME_NS + 1000)
    with pytest.raises(CorruptValueError):
        duration_from_ns(-MAX_TIME_NS - 1000)


def test_core_time_layout() -> None:
    # Bit offsets from TiDB pkg/types/time.go: year@50, month@46, day@41, hour@36,
    # minute@30, second@24, microsecond@4 (low 4 bits = fspTt, masked off in JSON).
    t = MyTime(1998, 6, 13, 12, 13, 14, 15, TYPE_DATETIME, 6)
    u = mytime_to_core_time(t)
    expected = (1998 << 50) | (6 << 46) | (13 << 41) | (12 << 36) | (13 << 30) | (14 << 24)
    assert u == expected | (15 << 4)
    assert core_time_to_mytime(u, TYPE_DATETIME) == t
    assert core_time_to_mytime(u | 0b1110, TYPE_DATETIME) == t  # fspTt bits ignored
    d = core_time_to_mytime((2020 << 50) | (1 << 46) | (2 << 41), TYPE_DATE)
    assert (str(d), d.fsp) == ("2020-01-02", 0)
    with pytest.raises(CorruptValueError):
        core_time_to_mytime(13 << 46, TYPE_DATE)  # month 13


def test_pack_rejects_fields_that_would_spill() -> None:
    with pytest.raises(ValueError):
        pack_time(MyTime(2020, 1, 1, 24, 0, 0, 0))
    with pytest.raises(ValueError):
        mytime_to_core_time(MyTime(2020, 1, 1, 0, 0, 0, 1_000_000))
